/*
 * test_time_parse — the times the CLI accepts (issue 14): Z, +08:00 style
 * offsets, plain local times (in the zone the caller gives, headend.timezone
 * for the commands), a date alone, epoch seconds; and what it refuses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ah_clock.h"
#include "ah_err.h"

#define T0 1741939200LL /* 2025-03-14T08:00:00Z */
#define CN (8 * 3600)

static int64_t parse(const char *s, int32_t off, bool *zone)
{
    int64_t ms = -1;
    assert_int_equal(ah_time_parse_zone(s, off, &ms, zone), AH_OK);
    return ms / 1000;
}

static void test_zones(void **state)
{
    (void)state;
    bool z;
    assert_int_equal(parse("2025-03-14T08:00:00Z", CN, &z), T0);
    assert_true(z);
    assert_int_equal(parse("2025-03-14T16:00:00+08:00", 0, &z), T0);
    assert_true(z);
    assert_int_equal(parse("2025-03-14T16:00+0800", 0, &z), T0);
    assert_int_equal(parse("2025-03-14 03:00-05", CN, &z), T0);
    assert_int_equal(parse("2025-03-14T02:30:00-05:30", CN, &z), T0);
    assert_int_equal(parse("1741939200", CN, &z), T0);
    assert_true(z);
}

static void test_local(void **state)
{
    (void)state;
    bool z = true;
    /* no zone: local time at the given offset */
    assert_int_equal(parse("2025-03-14 16:00", CN, &z), T0);
    assert_false(z);
    assert_int_equal(parse("2025-03-14T16:00:00", CN, &z), T0);
    assert_int_equal(parse("2025-03-15", CN, &z), T0 + 8 * 3600);
    /* ah_time_parse keeps its meaning: no zone is UTC */
    int64_t ms;
    assert_int_equal(ah_time_parse("2025-03-14 08:00", &ms), AH_OK);
    assert_int_equal(ms / 1000, T0);
}

static void test_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "2025-13-01",
        "2025-03-14T25:00",
        "2025-03-14T08",
        "2025-03-14 8:00",
        "2025-03-14T08:00:00+8",
        "2025-03-14T08:00:00+15:00",
        "2025-03-14T08:00:00UTC",
        "yesterday",
        "-5",
        "12abc",
        "2025-03-14T08:00:00Zx",
        "99999999999999999" /* seconds beyond year 9999: ms would overflow */};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms;
        bool z;
        assert_int_equal(ah_time_parse_zone(bad[i], 0, &ms, &z), AH_EINVAL);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zones),
        cmocka_unit_test(test_local),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
