/*
 * fuzz_time_parse — the time parser behind every --from / --to / --epoch /
 * --until (ah_time_parse_zone) on arbitrary text. Whatever it accepts as a
 * zoned time must print back (ah_time_format) to a time that parses to the
 * same instant, and a local time must move by exactly the offset given.
 */
#include "ah_clock.h"
#include "ah_err.h"
#include "fuzz_util.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char s[64];
    if (!fuzz_cstr(data, size, s, sizeof s))
        return 0;
    int64_t a, b;
    bool za, zb;
    if (ah_time_parse_zone(s, 0, &a, &za) != AH_OK)
        return 0;
    if (ah_time_parse_zone(s, 8 * 3600, &b, &zb) != AH_OK || za != zb)
        abort(); /* the zone given must not change what parses */
    if (za ? a != b : a - b != 8 * 3600 * 1000LL)
        abort();
    if (a >= 0 && a < 253402300800000LL) { /* printable: before year 10000 */
        char out[32];
        ah_time_format(a, out, sizeof out);
        int64_t c;
        bool zc;
        if (ah_time_parse_zone(out, 3600, &c, &zc) != AH_OK || !zc ||
            c != a / 1000 * 1000)
            abort();
    }
    return 0;
}
