/*
 * test_date — ah_date (civil dates written once, src/core) against the C
 * library's own calendar (gmtime_r / timegm) over four centuries either side
 * of the epoch, plus the fixed points the scheduler, the wire and the CLI
 * lean on; ah_tz against the zone files installed on the box.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ah_date.h"
#include "ah_tz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void check_against_libc(int64_t s)
{
    time_t t = (time_t)s;
    struct tm tm;
    assert_non_null(gmtime_r(&t, &tm));
    struct ah_date d;
    ah_date_from_s(s, &d);
    assert_int_equal(d.year, tm.tm_year + 1900);
    assert_int_equal(d.mon, tm.tm_mon + 1);
    assert_int_equal(d.day, tm.tm_mday);
    assert_int_equal(d.hour, tm.tm_hour);
    assert_int_equal(d.min, tm.tm_min);
    assert_int_equal(d.sec, tm.tm_sec);
    assert_int_equal(d.wday, tm.tm_wday);
    assert_int_equal(ah_date_to_s(&d), (int64_t)timegm(&tm));
}

static void test_round_trip(void **state)
{
    (void)state;
    /* every 7 h 13 min 17 s from 1600 to 2400: all hours, weekdays, leap
     * days and century rules (1700, 1800, 1900, 2100 no leap; 2000 leap) */
    const int64_t lo = -11676096000LL, hi = 13569465600LL, step = 7 * 3600 + 13 * 60 + 17;
    for (int64_t s = lo; s < hi; s += step)
        check_against_libc(s);
    int64_t edges[] = {-86401,      -86400, -1,    0,
                       1,           86399,  86400, 951782400 /* 2000-02-29 */,
                       4107542399LL /* 2100-02-28T23:59:59 */};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
        check_against_libc(edges[i]);
}

static void test_fixed_points(void **state)
{
    (void)state;
    assert_int_equal(ah_date_days(1970, 1, 1), 0);
    assert_int_equal(ah_date_days(2000, 3, 1), 11017);
    assert_int_equal(ah_date_days(1969, 12, 31), -1);
    struct ah_date d = {.year = 2025, .mon = 3, .day = 14, .hour = 8};
    assert_int_equal(ah_date_to_s(&d), 1741939200LL);
    d.sec = 60; /* a leap second rolls into the next minute */
    assert_int_equal(ah_date_to_s(&d), 1741939260LL);
}

static void test_floor(void **state)
{
    (void)state;
    assert_int_equal(ah_date_floor(1741939200LL + 899, 900), 1741939200LL);
    assert_int_equal(ah_date_floor(1741939200LL + 900, 900), 1741939200LL + 900);
    assert_int_equal(ah_date_floor(-1, 900), -900);
    assert_int_equal(ah_date_floor(-900, 900), -900);
    assert_int_equal(ah_date_floor(0, 86400), 0);
}

static void test_tz(void **state)
{
    (void)state;
    char err[200];
    int32_t off = 0;
    if (!ah_tz_exists("Asia/Shanghai") || !ah_tz_exists("Europe/Berlin")) {
        skip(); /* no zoneinfo database on this box */
        return;
    }
    assert_int_equal(ah_tz_zone_offset("Asia/Shanghai", &off, err, sizeof err), 0);
    assert_int_equal(off, 8 * 3600);
    assert_int_equal(ah_tz_zone_offset("Etc/GMT+5", &off, err, sizeof err), 0);
    assert_int_equal(off, -5 * 3600);
    assert_int_equal(ah_tz_zone_offset("Europe/Berlin", &off, err, sizeof err), -1);
    assert_non_null(strstr(err, "daylight saving"));
    assert_int_equal(ah_tz_zone_offset("No/Such_Zone", &off, err, sizeof err), -1);
    assert_false(ah_tz_exists("No/Such_Zone"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_fixed_points),
        cmocka_unit_test(test_floor),
        cmocka_unit_test(test_tz),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
