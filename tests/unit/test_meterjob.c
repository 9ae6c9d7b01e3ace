/*
 * test_meterjob — the live job as data (issue 15 item 3): the order of the
 * DIs, what an ERR means at each step, how the read plan skips whole
 * groups, and a load record from the reference's bytes into the store's
 * record with its FF-filled items absent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "dlt645_di.h"
#include "meterjob.h"

/* Walk the job from `from` with the answers in ok[] (true = data, false =
 * ERR); the DIs asked go to out. Returns how many. */
static size_t walk(enum mjob_step from, unsigned due, const bool *ok, size_t n,
                   uint32_t *out)
{
    size_t k = 0;
    enum mjob_step st = mjob_skip(from, due);
    while (st < MJOB_LIVE && k < n) {
        out[k] = mjob_def(st)->di;
        st = mjob_skip(mjob_next(st, ok[k]), due);
        k++;
    }
    assert_int_equal(st, MJOB_LIVE);
    return k;
}

static void full_job_in_order(void **state)
{
    (void)state;
    const bool ok[16] = {true, true, true, true, true, true, true, true, true, true};
    uint32_t di[16];
    unsigned all = (1u << RP_NGROUPS) - 1;
    size_t n = walk(MJOB_DT, all, ok, 16, di);
    const uint32_t want[] = {0x0400010C, 0x0201FF00, 0x0202FF00, 0x040005FF, 0x03300D00,
                             0x03300E00, 0x03300100, 0x05060001, 0x05060101, 0x04000402};
    assert_int_equal(n, sizeof want / sizeof want[0]);
    assert_memory_equal(di, want, sizeof want);
    assert_int_equal(mjob_def(MJOB_LIVE)->di, 0x06000001u);
    assert_int_equal(mjob_next(MJOB_LIVE, true), MJOB_DONE);
    assert_null(mjob_def(MJOB_DONE));
}

static void errors_per_step(void **state)
{
    (void)state;
    /* no 0400010C: time, date, time */
    assert_int_equal(mjob_next(MJOB_DT, false), MJOB_T1);
    assert_int_equal(mjob_next(MJOB_T1, true), MJOB_DATE);
    assert_int_equal(mjob_next(MJOB_DATE, true), MJOB_T2);
    assert_int_equal(mjob_next(MJOB_T2, true), MJOB_V);
    /* a clock read that fails midway leaves the clock unread */
    assert_int_equal(mjob_next(MJOB_T1, false), MJOB_V);
    assert_int_equal(mjob_next(MJOB_DATE, false), MJOB_V);
    /* no first cover count: the pair is skipped, the clear count read */
    assert_int_equal(mjob_next(MJOB_COVER, false), MJOB_CLEARED);
    assert_int_equal(mjob_next(MJOB_TERMINAL, false), MJOB_CLEARED);
    /* no freeze time: its energy is not asked, the meter number is */
    assert_int_equal(mjob_next(MJOB_FRZ_T, false), MJOB_NUMBER);
    assert_int_equal(mjob_next(MJOB_FRZ_E, false), MJOB_NUMBER);
    /* a meter that lacks V still gets I asked */
    assert_int_equal(mjob_next(MJOB_V, false), MJOB_I);
}

static void plan_skips_groups(void **state)
{
    (void)state;
    const bool ok[16] = {true, true, true, true, true, true, true, true, true, true};
    uint32_t di[16];
    /* a cycle of the default plan's usual kind: the load record alone */
    assert_int_equal(mjob_skip(MJOB_DT, 0), MJOB_LIVE);
    assert_int_equal(mjob_skip(MJOB_T1, 0), MJOB_LIVE);
    /* hourly slot: clock and V, I */
    size_t n = walk(MJOB_DT, 1u << RP_CLOCK | 1u << RP_INSTANT, ok, 16, di);
    assert_int_equal(n, 3);
    assert_int_equal(di[0], 0x0400010Cu);
    assert_int_equal(di[2], 0x0202FF00u);
    /* status and events pulled forward, no clock: starts at 040005FF */
    n = walk(MJOB_DT, 1u << RP_STATUS | 1u << RP_EVENTS, ok, 16, di);
    assert_int_equal(n, 4);
    assert_int_equal(di[0], 0x040005FFu);
    assert_int_equal(di[3], 0x03300100u);
    /* a meter without 0400010C in a clock cycle: time, date, time */
    n = walk(MJOB_T1, 1u << RP_CLOCK, ok, 16, di);
    assert_int_equal(n, 3);
    assert_int_equal(di[0], 0x04000102u);
    assert_int_equal(di[1], 0x04000101u);
    assert_int_equal(di[2], 0x04000102u);
    /* LIVE and LR are no group's: never skipped */
    assert_int_equal(mjob_skip(MJOB_LR, 0), MJOB_LR);
    assert_int_equal(mjob_skip(MJOB_LIVE, 0), MJOB_LIVE);
}

/* One load record block as protocols.md §2.9 lays it out: a single-phase
 * meter, classes 1 and 4 enabled, phases B and C FF-filled. */
static void load_record_to_rec(void **state)
{
    (void)state;
    struct dlt645_load_record in, out;
    memset(&in, 0, sizeof in);
    in.t = (struct dlt645_tm){.year = 25, .mon = 3, .day = 14, .hour = 0, .min = 15};
    in.classes = 0x09; /* classes 1 and 4 */
    in.volt[0] = 2301;
    in.curr[0] = 5123;
    in.freq = 5002;
    in.e_fwd = 1234567;
    in.e_rev = 0;
    in.na = 1ull << DLT645_LR_UB | 1ull << DLT645_LR_UC | 1ull << DLT645_LR_IB |
            1ull << DLT645_LR_IC;
    uint8_t buf[128];
    int len = dlt645_lr_encode(&in, buf, sizeof buf);
    assert_true(len > 0);
    assert_int_equal(buf[0], 0xA0);
    assert_int_equal(buf[len - 1], 0xE5);
    size_t used = 0;
    assert_int_equal(dlt645_lr_decode(buf, (size_t)len, &out, &used), 0);
    assert_int_equal(used, (size_t)len);
    struct ah_read r;
    memset(&r, 0, sizeof r);
    mjob_lr_to_rec(&out, &r);
    assert_true(r.present & AH_READ_HAS_VOLTAGE(0));
    assert_false(r.present & AH_READ_HAS_VOLTAGE(1));
    assert_false(r.present & AH_READ_HAS_CURRENT(2));
    assert_int_equal(r.voltage[0], 2301);
    assert_int_equal(r.current[0], 5123);
    assert_true(r.present & AH_READ_HAS_IMP_TOTAL);
    assert_int_equal(r.imp_total, 1234567);
    /* class 2 disabled: no power items at all */
    assert_false(r.present & AH_READ_HAS_P(0));
    assert_int_equal(mjob_rescale(2301, 1, 3), 230100);
    assert_int_equal(mjob_rescale(1234567, 3, 2), 123456);
}

/* 2025-03-14T00:00:00Z */
#define T0 1741910400LL

static void test_meter_local_time(void **state)
{
    (void)state;
    /* the interval ending 2025-03-14T00:00Z is 08:00 on a UTC+8 meter */
    struct dlt645_tm tm;
    mjob_s_to_tm(T0 + 8 * 3600, &tm);
    assert_int_equal(tm.year, 25);
    assert_int_equal(tm.mon, 3);
    assert_int_equal(tm.day, 14);
    assert_int_equal(tm.hour, 8);
    assert_int_equal(tm.min, 0);
    assert_int_equal(tm.wday, 5); /* a Friday */
    assert_int_equal(mjob_tm_to_s(&tm), T0 + 8 * 3600);
    /* 2024-02-29 23:45 and the step over the leap day */
    struct dlt645_tm leap = {24, 2, 29, 23, 45, 0, 0};
    int64_t s = mjob_tm_to_s(&leap);
    mjob_s_to_tm(s + 900, &tm);
    assert_int_equal(tm.mon, 3);
    assert_int_equal(tm.day, 1);
    assert_int_equal(tm.hour, 0);
    /* every 15 minutes over 2000..2099 round-trips */
    for (int64_t t = 946684800; t < 4102444800; t += 900 * 97 + 60) {
        mjob_s_to_tm(t, &tm);
        assert_int_equal(mjob_tm_to_s(&tm), t);
    }
}

static struct dlt645_tm tm_of(int y, int mo, int d, int h, int mi, int sec)
{
    struct dlt645_tm t;
    memset(&t, 0, sizeof t);
    t.year = (uint8_t)(y - 2000);
    t.mon = (uint8_t)mo;
    t.day = (uint8_t)d;
    t.hour = (uint8_t)h;
    t.min = (uint8_t)mi;
    t.sec = (uint8_t)sec;
    return t;
}

/* Issue 13 defect 3: time, date, time read around local midnight. The
 * date of 2025-03-15 read between 23:59:50 and 00:00:20 may be either
 * day's: refused (the old read, date then time, gave a clock one day
 * off). A triple clear of midnight gives the date of its second time. */
static void test_clock_consistent(void **state)
{
    (void)state;
    int64_t local = 0;
    struct dlt645_tm t1 = tm_of(2025, 3, 14, 23, 59, 50);
    struct dlt645_tm date = tm_of(2025, 3, 15, 0, 0, 0);
    struct dlt645_tm t2 = tm_of(2025, 3, 15, 0, 0, 20);
    assert_false(mjob_clock_consistent(&t1, &date, &t2, &local));
    /* the date read just before midnight, the times straddling it */
    struct dlt645_tm d14 = tm_of(2025, 3, 14, 0, 0, 0);
    assert_false(mjob_clock_consistent(&t1, &d14, &t2, &local));
    /* clear of midnight: 00:00:20, date, 00:00:50 */
    struct dlt645_tm t3 = tm_of(2025, 3, 15, 0, 0, 50);
    assert_true(mjob_clock_consistent(&t2, &date, &t3, &local));
    assert_int_equal(local, T0 + 86400 + 50); /* local seconds of 03-15 00:00:50 */
    /* the same second twice is one moment */
    assert_true(mjob_clock_consistent(&t3, &date, &t3, &local));
    /* an hour apart is no read of one moment; a bad date is refused */
    struct dlt645_tm t4 = tm_of(2025, 3, 15, 1, 0, 50);
    assert_false(mjob_clock_consistent(&t3, &date, &t4, &local));
    struct dlt645_tm bad = tm_of(2025, 13, 15, 0, 0, 0);
    assert_false(mjob_clock_consistent(&t2, &bad, &t3, &local));
}

/* Issue 13 defect 4: the live record of a meter job is the meter's newest
 * on its own clock, and the status words and V, I read beside it are filed
 * with it only when they were read in its successor interval on that
 * clock. Head-end clock T0 + 600 (10 min into an interval). */
static void test_live_end(void **state)
{
    (void)state;
    bool attach = false;
    const int64_t he = T0 + 600;
    /* no meter clock: the head-end's interval */
    assert_int_equal(mjob_live_end(he, false, 0, 900, 300, 3600, &attach), T0);
    assert_true(attach);
    /* a healthy clock (20 s slow) */
    assert_int_equal(mjob_live_end(he, true, he - 20, 900, 300, 3600, &attach), T0);
    assert_true(attach);
    /* 20 min slow: its newest record is the one before, on its own grid */
    assert_int_equal(mjob_live_end(he, true, he - 1200, 900, 300, 3600, &attach),
                     T0 - 900);
    assert_true(attach);
    /* 4 min fast, read at T0 + 600 (meter: T0 + 840): still T0 */
    assert_int_equal(mjob_live_end(he, true, he + 240, 900, 300, 3600, &attach), T0);
    assert_true(attach);
    /* 25 min fast: its newest record would be in the head-end's future;
     * the head-end's interval, and what was read live is not filed with
     * it (it was read two intervals later on the meter's clock) */
    assert_int_equal(mjob_live_end(he, true, he + 1500, 900, 300, 3600, &attach), T0);
    assert_false(attach);
    /* 2 h slow: a broken clock, not a slow one */
    assert_int_equal(mjob_live_end(he, true, he - 7200, 900, 300, 3600, &attach), T0);
    assert_false(attach);
    /* a late cycle: the head-end is 40 min past the cycle's boundary; the
     * live record is the interval of the read, not the cycle's */
    assert_int_equal(mjob_live_end(T0 + 2400, true, T0 + 2400, 900, 300, 3600, &attach),
                     T0 + 1800);
    assert_true(attach);
}

/* Batched catch-up (issue 16 item 2): runs of consecutive gaps, and what
 * a short answer says about the meter. */
static void test_lr_run_and_learn(void **state)
{
    (void)state;
    const int64_t st = 900;
    uint64_t g[12];
    for (int i = 0; i < 12; i++)
        g[i] = 1000 * 900 + (uint64_t)(i < 5 ? i : i + 3) * 900; /* a hole after 5 */
    assert_int_equal(mjob_lr_run(g, 12, 0, st, 9), 5);
    assert_int_equal(mjob_lr_run(g, 12, 2, st, 9), 3);
    assert_int_equal(mjob_lr_run(g, 12, 5, st, 9), 7);
    assert_int_equal(mjob_lr_run(g, 12, 5, st, 4), 4);
    assert_int_equal(mjob_lr_run(g, 12, 11, st, 9), 1);
    assert_int_equal(mjob_lr_run(g, 12, 12, st, 9), 0);

    int64_t t = 1000 * 900, run_end = t + 8 * 900, newest = t + 96 * 900;
    /* all nine: nothing learned */
    assert_int_equal(mjob_lr_learn(9, 9, 9, run_end, run_end, newest), 9);
    /* two of nine, ending inside the run, newer records exist: truncates */
    assert_int_equal(mjob_lr_learn(9, 9, 2, t + 900, run_end, newest), 2);
    /* fewer because the meter's memory ends there: no limit */
    assert_int_equal(mjob_lr_learn(9, 9, 2, t + 900, run_end, run_end), 9);
    /* fewer, but the last one lies past the run (holes skipped): fine */
    assert_int_equal(mjob_lr_learn(9, 9, 3, run_end + 900, run_end, newest), 9);
    /* never raised by an answer */
    assert_int_equal(mjob_lr_learn(2, 9, 5, t + 4 * 900, run_end, newest), 2);
    assert_int_equal(mjob_lr_learn(9, 9, 0, t, run_end, newest), 9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_job_in_order),     cmocka_unit_test(errors_per_step),
        cmocka_unit_test(plan_skips_groups),     cmocka_unit_test(load_record_to_rec),
        cmocka_unit_test(test_meter_local_time), cmocka_unit_test(test_clock_consistent),
        cmocka_unit_test(test_live_end),         cmocka_unit_test(test_lr_run_and_learn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
