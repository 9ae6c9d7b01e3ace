/*
 * fuzz_report_days — the day range of `amihead report --day` and of
 * GET /report?day= (any HTTP client's bytes). What it accepts is a range
 * of 1..REPORT_MAX_DAYS days whose ends print back to the same text (no
 * impossible date rolled over into another).
 */
#include "ah_clock.h"
#include "ah_err.h"
#include "fuzz_util.h"
#include "report.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char s[64];
    if (!fuzz_cstr(data, size, s, sizeof s))
        return 0;
    int64_t a, b;
    if (report_parse_days(s, &a, &b) != AH_OK)
        return 0;
    if (b < a || b - a + 1 > REPORT_MAX_DAYS)
        abort();
    char fa[40], fb[40], again[96];
    ah_time_format(a * 86400000, fa, sizeof fa);
    ah_time_format(b * 86400000, fb, sizeof fb);
    if (strchr(s, '.'))
        snprintf(again, sizeof again, "%.10s..%.10s", fa, fb);
    else
        snprintf(again, sizeof again, "%.10s", fa);
    if (strcmp(again, s) != 0)
        abort();
    return 0;
}
