/*
 * test_sched — the pure decisions of the scheduler: interval alignment, the
 * backfill window and which of its intervals a cycle asks for (through the
 * pipeline's writer on a real store), meter backoff, reconnect delays and
 * the meter-local time conversion used for 06000001 requests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ah_err.h"
#include "pipeline.h"
#include "scheduler.h"
#include "store.h"

/* 2025-03-14T00:00:00Z */
#define T0 1741910400LL

static void test_interval_floor(void **state)
{
    (void)state;
    assert_int_equal(sched_interval_floor(T0, 900), T0);
    assert_int_equal(sched_interval_floor(T0 + 1, 900), T0);
    assert_int_equal(sched_interval_floor(T0 + 899, 900), T0);
    assert_int_equal(sched_interval_floor(T0 + 900, 900), T0 + 900);
    assert_int_equal(sched_interval_floor(T0 + 3599, 3600), T0);
    assert_int_equal(sched_interval_floor(-1, 900), -900);
}

static void test_window(void **state)
{
    (void)state;
    int64_t from, to;
    /* a cycle at 00:07 holds the interval ending 00:00 and three days back */
    sched_window(T0 + 420, 900, 3, &from, &to);
    assert_int_equal(to, T0 + 900);
    assert_int_equal(from, T0 - 3 * 86400 + 900);
    assert_int_equal((to - from) / 900, 3 * 96);
    /* backfill_days 0: only the newest interval */
    sched_window(T0 + 420, 900, 0, &from, &to);
    assert_int_equal(from, T0);
    assert_int_equal(to, T0 + 900);
    /* 1-minute intervals */
    sched_window(T0 + 61, 60, 1, &from, &to);
    assert_int_equal(to - from, 86400);
    assert_int_equal(to, T0 + 120);
}

static void test_backoff(void **state)
{
    (void)state;
    /* below backoff_after (3) a meter is always tried */
    assert_false(sched_backoff_skip(0, 1, 3, 8));
    assert_false(sched_backoff_skip(2, 1, 3, 8));
    /* 3 failures: sits out 1 cycle, tried on the 2nd */
    assert_true(sched_backoff_skip(3, 1, 3, 8));
    assert_false(sched_backoff_skip(3, 2, 3, 8));
    /* 4 failures: sits out 2 */
    assert_true(sched_backoff_skip(4, 2, 3, 8));
    assert_false(sched_backoff_skip(4, 3, 3, 8));
    /* capped at backoff_max_cycles, even after many failures */
    assert_true(sched_backoff_skip(50, 8, 3, 8));
    assert_false(sched_backoff_skip(50, 9, 3, 8));
    assert_true(sched_backoff_skip(1000, 1000, 3, 1000));
}

static void test_reconnect_delay(void **state)
{
    (void)state;
    assert_int_equal(sched_reconnect_delay_ms(1), 1000);
    assert_int_equal(sched_reconnect_delay_ms(2), 2000);
    assert_int_equal(sched_reconnect_delay_ms(3), 4000);
    assert_int_equal(sched_reconnect_delay_ms(7), 60000);
    assert_int_equal(sched_reconnect_delay_ms(1000), 60000);
}

static void test_meter_local_time(void **state)
{
    (void)state;
    /* the interval ending 2025-03-14T00:00Z is 08:00 on a UTC+8 meter */
    struct dlt645_tm tm;
    sched_s_to_tm(T0 + 8 * 3600, &tm);
    assert_int_equal(tm.year, 25);
    assert_int_equal(tm.mon, 3);
    assert_int_equal(tm.day, 14);
    assert_int_equal(tm.hour, 8);
    assert_int_equal(tm.min, 0);
    assert_int_equal(tm.wday, 5); /* a Friday */
    assert_int_equal(sched_tm_to_s(&tm), T0 + 8 * 3600);
    /* 2024-02-29 23:45 and the step over the leap day */
    struct dlt645_tm leap = {24, 2, 29, 23, 45, 0, 0};
    int64_t s = sched_tm_to_s(&leap);
    sched_s_to_tm(s + 900, &tm);
    assert_int_equal(tm.mon, 3);
    assert_int_equal(tm.day, 1);
    assert_int_equal(tm.hour, 0);
    /* every 15 minutes over 2000..2099 round-trips */
    for (int64_t t = 946684800; t < 4102444800; t += 900 * 97 + 60) {
        sched_s_to_tm(t, &tm);
        assert_int_equal(sched_tm_to_s(&tm), t);
    }
}

/* A cycle asks only for the intervals of its window the store lacks, and a
 * read pushed through the pipeline is no longer asked for once written. */
static void test_backfill_asks_only_gaps(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_sched.XXXXXX";
    assert_non_null(mkdtemp(dir));
    store_t *st = NULL;
    assert_int_equal(store_open(dir, NULL, &st), AH_OK);
    uint32_t m;
    assert_int_equal(store_meter_index(st, "000001000001", true, &m), AH_OK);
    pipe_t *p = NULL;
    assert_int_equal(pipe_start(st, false, &p), AH_OK);

    int64_t from, to;
    sched_window(T0 + 420, 900, 1, &from, &to);
    uint64_t gaps[SCHED_BACKFILL_PER_CYCLE];
    size_t n = 0;
    assert_int_equal(pipe_missing_intervals(p, m, (uint64_t)from, (uint64_t)to, 900, gaps,
                                            SCHED_BACKFILL_PER_CYCLE, &n),
                     AH_OK);
    assert_int_equal(n, 96);
    assert_int_equal(gaps[0], (uint64_t)(T0 - 86400 + 900));
    assert_int_equal(gaps[95], (uint64_t)T0);

    /* every interval but 23:00 and 23:15 of the previous day arrives */
    for (size_t i = 0; i < 96; i++) {
        if (gaps[i] == (uint64_t)(T0 - 3600) || gaps[i] == (uint64_t)(T0 - 2700))
            continue;
        struct pipe_read r;
        memset(&r, 0, sizeof r);
        r.meter = m;
        r.end = gaps[i];
        r.rec.source = STORE_REC_BACKFILL;
        r.rec.ct = r.rec.pt = 1;
        r.rec.present = STORE_REC_HAS_IMP_TOTAL;
        r.rec.imp_total = 5737040 + (int64_t)i;
        assert_int_equal(pipe_push(p, &r), AH_OK);
    }
    assert_int_equal(pipe_stop(&p), AH_OK); /* drains the queue */
    assert_null(p);
    assert_int_equal(pipe_start(st, false, &p), AH_OK);
    assert_int_equal(pipe_missing_intervals(p, m, (uint64_t)from, (uint64_t)to, 900, gaps,
                                            SCHED_BACKFILL_PER_CYCLE, &n),
                     AH_OK);
    assert_int_equal(n, 2);
    assert_int_equal(gaps[0], (uint64_t)(T0 - 3600));
    assert_int_equal(gaps[1], (uint64_t)(T0 - 2700));
    struct pipe_stats ps;
    pipe_get_stats(p, &ps);
    assert_int_equal(ps.pushed, 0);
    assert_int_equal(pipe_stop(&p), AH_OK);
    struct store_rec got;
    assert_int_equal(store_get_read(st, m, (uint64_t)T0, &got), AH_OK);
    assert_int_equal(got.imp_total, 5737040 + 95);
    store_close(&st);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_interval_floor),
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_reconnect_delay),
        cmocka_unit_test(test_meter_local_time),
        cmocka_unit_test(test_backfill_asks_only_gaps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
