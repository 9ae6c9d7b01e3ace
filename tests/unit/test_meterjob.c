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
    struct store_rec r;
    memset(&r, 0, sizeof r);
    mjob_lr_to_rec(&out, &r);
    assert_true(r.present & STORE_REC_HAS_VOLTAGE(0));
    assert_false(r.present & STORE_REC_HAS_VOLTAGE(1));
    assert_false(r.present & STORE_REC_HAS_CURRENT(2));
    assert_int_equal(r.voltage[0], 2301);
    assert_int_equal(r.current[0], 5123);
    assert_true(r.present & STORE_REC_HAS_IMP_TOTAL);
    assert_int_equal(r.imp_total, 1234567);
    /* class 2 disabled: no power items at all */
    assert_false(r.present & STORE_REC_HAS_P(0));
    assert_int_equal(mjob_rescale(2301, 1, 3), 230100);
    assert_int_equal(mjob_rescale(1234567, 3, 2), 123456);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_job_in_order),
        cmocka_unit_test(errors_per_step),
        cmocka_unit_test(plan_skips_groups),
        cmocka_unit_test(load_record_to_rec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
