/*
 * test_cadence — the polling engine's time arithmetic: interval alignment,
 * the backfill window, meter backoff and reconnect delays (cadence.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cadence.h"

/* 2025-03-14T00:00:00Z */
#define T0 1741910400LL

static void test_interval_floor(void **state)
{
    (void)state;
    assert_int_equal(cadence_interval_floor(T0, 900), T0);
    assert_int_equal(cadence_interval_floor(T0 + 1, 900), T0);
    assert_int_equal(cadence_interval_floor(T0 + 899, 900), T0);
    assert_int_equal(cadence_interval_floor(T0 + 900, 900), T0 + 900);
    assert_int_equal(cadence_interval_floor(T0 + 3599, 3600), T0);
    assert_int_equal(cadence_interval_floor(-1, 900), -900);
}

static void test_window(void **state)
{
    (void)state;
    int64_t from, to;
    /* a cycle at 00:07 holds the interval ending 00:00 and three days back,
     * the 00:00 boundary three days back included: it starts the first
     * full day of the window */
    cadence_window(T0 + 420, 900, 3, &from, &to);
    assert_int_equal(to, T0 + 900);
    assert_int_equal(from, T0 - 3 * 86400);
    assert_int_equal((to - from) / 900, 3 * 96 + 1);
    /* backfill_days 0: only the newest interval */
    cadence_window(T0 + 420, 900, 0, &from, &to);
    assert_int_equal(from, T0);
    assert_int_equal(to, T0 + 900);
    /* 1-minute intervals */
    cadence_window(T0 + 61, 60, 1, &from, &to);
    assert_int_equal(to - from, 86400 + 60);
    assert_int_equal(to, T0 + 120);
}

static void test_backoff(void **state)
{
    (void)state;
    /* below backoff_after (3) a meter is always tried */
    assert_false(cadence_backoff_skip(0, 1, 3, 8));
    assert_false(cadence_backoff_skip(2, 1, 3, 8));
    /* 3 failures: sits out 1 cycle, tried on the 2nd */
    assert_true(cadence_backoff_skip(3, 1, 3, 8));
    assert_false(cadence_backoff_skip(3, 2, 3, 8));
    /* 4 failures: sits out 2 */
    assert_true(cadence_backoff_skip(4, 2, 3, 8));
    assert_false(cadence_backoff_skip(4, 3, 3, 8));
    /* capped at backoff_max_cycles, even after many failures */
    assert_true(cadence_backoff_skip(50, 8, 3, 8));
    assert_false(cadence_backoff_skip(50, 9, 3, 8));
    assert_true(cadence_backoff_skip(1000, 1000, 3, 1000));
}

static void test_reconnect_delay(void **state)
{
    (void)state;
    assert_int_equal(cadence_reconnect_delay_ms(1), 1000);
    assert_int_equal(cadence_reconnect_delay_ms(2), 2000);
    assert_int_equal(cadence_reconnect_delay_ms(3), 4000);
    assert_int_equal(cadence_reconnect_delay_ms(7), 60000);
    assert_int_equal(cadence_reconnect_delay_ms(1000), 60000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_interval_floor),
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_reconnect_delay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
