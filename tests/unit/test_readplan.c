/*
 * test_readplan — read plans (issue 16 item 1): spec parsing, layers,
 * interval checks, which cycle reads which group, requests per cycle and
 * the live-record alarm that pulls status and events forward.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "readplan.h"
#include "store_rec.h"

static void parse_layers_and_errors(void **state)
{
    (void)state;
    char err[200];
    struct readplan rp, over, out;
    assert_int_equal(readplan_parse("", &rp, err, sizeof err), 0);
    for (int g = 0; g < RP_NGROUPS; g++)
        assert_int_equal(rp.min[g], READPLAN_UNSET);
    assert_int_equal(
        readplan_parse("clock=every,status=2h,events=off", &over, err, sizeof err), 0);
    readplan_defaults(&rp);
    readplan_apply(&out, &rp, &over);
    assert_int_equal(readplan_check(&out, 15, err, sizeof err), 0);
    assert_int_equal(out.min[RP_INSTANT], 60);
    assert_int_equal(out.min[RP_STATUS], 120);
    assert_int_equal(out.min[RP_EVENTS], READPLAN_OFF);
    assert_int_equal(out.min[RP_FREEZE], 1440);

    assert_int_equal(readplan_parse("clock=weekly", &rp, err, sizeof err), -1);
    assert_non_null(strstr(err, "cadence"));
    assert_int_equal(readplan_parse("volts=hourly", &rp, err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown group 'volts'"));
    assert_int_equal(readplan_parse("clock=hourly,clock=daily", &rp, err, sizeof err),
                     -1);
    assert_int_equal(readplan_parse("clock", &rp, err, sizeof err), -1);
    assert_int_equal(readplan_parse("clock=25h", &rp, err, sizeof err), -1);
    assert_int_equal(readplan_parse("clock=0m", &rp, err, sizeof err), -1);

    /* 20 minutes on a 15-minute interval; 7 hours do not divide a day */
    assert_int_equal(readplan_parse("instant=20m", &rp, err, sizeof err), 0);
    assert_int_equal(readplan_check(&rp, 15, err, sizeof err), -1);
    assert_int_equal(readplan_parse("instant=7h", &rp, err, sizeof err), 0);
    assert_int_equal(readplan_check(&rp, 15, err, sizeof err), -1);
    assert_int_equal(readplan_parse("freeze=hourly", &rp, err, sizeof err), 0);
    assert_int_equal(readplan_check(&rp, 15, err, sizeof err), -1);
    assert_int_equal(readplan_parse("freeze=off", &rp, err, sizeof err), 0);
    assert_int_equal(readplan_check(&rp, 15, err, sizeof err), 0);
}

static void due_slots_spread_and_made_up(void **state)
{
    (void)state;
    struct readplan rp;
    readplan_defaults(&rp);
    /* hourly on 15 minutes: each meter once in four cycles, a quarter of
     * 256 meters per cycle */
    for (int64_t cycle = 1000; cycle < 1004; cycle++) {
        unsigned n = 0;
        for (uint32_t m = 0; m < 256; m++)
            n += readplan_due(&rp, RP_INSTANT, 15, cycle, m, 0);
        assert_int_equal(n, 64);
    }
    /* daily: 256 meters over 96 cycles, never more than 3 in one */
    unsigned total = 0;
    for (int64_t cycle = 0; cycle < 96; cycle++) {
        unsigned n = 0;
        for (uint32_t m = 0; m < 256; m++)
            n += readplan_due(&rp, RP_STATUS, 15, cycle, m, 0);
        assert_true(n <= 3);
        total += n;
    }
    assert_int_equal(total, 256);
    /* a missed slot (meter read at 996, its slot 1000 missed): 1001 */
    uint32_t slot = 0;
    while (!readplan_due(&rp, RP_CLOCK, 15, 1000, slot, 0))
        slot++;
    assert_false(readplan_due(&rp, RP_CLOCK, 15, 1001, slot, 1000));
    assert_true(readplan_due(&rp, RP_CLOCK, 15, 1001, slot, 996));
    /* every and off */
    char err[64];
    assert_int_equal(readplan_parse("every", &rp, err, sizeof err), 0);
    assert_true(readplan_due(&rp, RP_EVENTS, 15, 7, 3, 6));
    assert_int_equal(readplan_parse("clock=off", &rp, err, sizeof err), 0);
    assert_false(readplan_due(&rp, RP_CLOCK, 15, 0, 0, 0));
}

static void requests_per_cycle(void **state)
{
    (void)state;
    struct readplan rp;
    readplan_defaults(&rp);
    /* 1 load record + (1 clock + 2 V, I) / 4 + (1 status + 3 events + 3
     * freeze) / 96 */
    double want = 1.0 + 3.0 / 4.0 + 7.0 / 96.0;
    assert_true(readplan_requests_per_cycle(&rp, 15, false) - want < 1e-9);
    assert_true(want - readplan_requests_per_cycle(&rp, 15, false) < 1e-9);
    /* 256 meters at 0.5 s: 233 s of a 900 s cycle, against 1,280 s before */
    assert_true(256 * 0.5 * readplan_requests_per_cycle(&rp, 15, false) < 0.26 * 900);
    char err[64];
    struct readplan every, all;
    assert_int_equal(readplan_parse("every", &every, err, sizeof err), 0);
    readplan_resolve(&all, (const struct readplan *const[]){&every, NULL}, 2);
    /* the cycle before read plans: 8 requests + 3 freeze a day */
    double old = 1.0 + 1 + 2 + 1 + 3 + 3.0 / 96.0;
    assert_true(readplan_requests_per_cycle(&all, 15, false) - old < 1e-9);
}

static void live_record_alarm(void **state)
{
    (void)state;
    struct ah_read r;
    memset(&r, 0, sizeof r);
    r.present = AH_READ_HAS_VOLTAGE(0) | AH_READ_HAS_CURRENT(0) | AH_READ_HAS_VOLTAGE(1) |
                AH_READ_HAS_CURRENT(1);
    r.voltage[0] = r.voltage[1] = 2301;
    r.current[0] = r.current[1] = 5000;
    double low = 2200 * 0.78;
    assert_false(readplan_record_alarm(&r, low, false));
    r.voltage[1] = 120; /* a lost phase */
    assert_true(readplan_record_alarm(&r, low, false));
    r.voltage[1] = 2301;
    r.current[0] = -4000; /* backwards: reversed CT, or a prosumer */
    assert_true(readplan_record_alarm(&r, low, false));
    assert_false(readplan_record_alarm(&r, low, true));
    /* phases the meter does not measure (FF-filled) say nothing */
    r.present = AH_READ_HAS_VOLTAGE(0);
    r.voltage[2] = 0;
    assert_false(readplan_record_alarm(&r, low, false));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_layers_and_errors),
        cmocka_unit_test(due_slots_spread_and_made_up),
        cmocka_unit_test(requests_per_cycle),
        cmocka_unit_test(live_record_alarm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
