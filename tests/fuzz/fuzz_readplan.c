/*
 * fuzz_readplan — the read-plan spec parser (readplan_parse, the config's
 * schedule.read_plan* and links[].read_plan values) on arbitrary text.
 * Whatever it accepts names each group at most once with a cadence of a
 * day or less; the interval check and the request estimate never fail on
 * it, and an accepted layer over the defaults stays within a day.
 */
#include "fuzz_util.h"
#include "readplan.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char s[128], err[200];
    if (!fuzz_cstr(data, size, s, sizeof s))
        return 0;
    struct readplan rp, all;
    if (readplan_parse(s, &rp, err, sizeof err) != 0)
        return 0;
    for (int g = 0; g < RP_NGROUPS; g++)
        if (rp.min[g] > 1440 || rp.min[g] < -2)
            abort();
    readplan_resolve(&all, (const struct readplan *const[]){&rp}, 1);
    if (readplan_check(&all, 15, err, sizeof err) == 0) {
        double n = readplan_requests_per_cycle(&all, 15, true);
        if (!(n >= 1.0 && n <= 13.0))
            abort();
        for (int g = 0; g < RP_FREEZE; g++)
            (void)readplan_due(&all, (enum readplan_group)g, 15, 1940000, 77, 1939990);
    }
    return 0;
}
