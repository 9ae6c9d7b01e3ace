/*
 * test_vee — meter rules of reference/vee.md on hand-built read series,
 * including every "false positive to avoid", and the state codec.
 *
 * Meters: a household 1P2W 5(60) A 220 V, a commercial 3P4W 10(100) A, a
 * 3P3W 1.5(6) A 100 V on CT 40; 15-minute intervals, UTC+8. Registers in
 * 0.01 kWh, currents in mA, voltages in 0.1 V.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ah_err.h"
#include "vee.h"

#define T0  1741910400LL /* 2025-03-14T00:00:00Z = 08:00 local */
#define IV  900
#define DAY 86400
/* local midnight 2025-03-15 00:00 +08 */
#define MIDNIGHT (T0 + 16 * 3600)

static struct vee_meter_info household(void)
{
    return (struct vee_meter_info){.wiring = VEE_1P2W,
                                   .ct = 1,
                                   .pt = 1,
                                   .ib_ma = 5000,
                                   .imax_ma = 60000,
                                   .un_dv = 2200,
                                   .interval_s = IV,
                                   .tz_offset_s = 8 * 3600};
}

static struct vee_meter_info commercial(void)
{
    struct vee_meter_info m = household();
    m.wiring = VEE_3P4W;
    m.ib_ma = 10000;
    m.imax_ma = 100000;
    return m;
}

static struct vee_meter_info ct_3p3w(void)
{
    struct vee_meter_info m = household();
    m.wiring = VEE_3P3W;
    m.ct = 40;
    m.ib_ma = 1500;
    m.imax_ma = 6000;
    m.un_dv = 1000;
    return m;
}

/* A live read with the forward register and phase A drawing ma. */
static struct ah_read rd(int64_t end, int64_t fwd, int32_t ma)
{
    struct ah_read r = {.end = (uint64_t)end, .imp_total = fwd};
    r.present = AH_READ_HAS_IMP_TOTAL | AH_READ_HAS_VOLTAGE(0) | AH_READ_HAS_CURRENT(0) |
                AH_READ_HAS_P(AH_READ_TOTAL);
    r.voltage[0] = 2200;
    r.current[0] = ma;
    r.p[AH_READ_TOTAL] = 2200 * ma / 1000;
    return r;
}

/* A 3-phase read: currents per phase, voltages at Un. */
static struct ah_read rd3(int64_t end, int64_t fwd, int32_t ia, int32_t ib, int32_t ic)
{
    struct ah_read r = rd(end, fwd, ia);
    r.present |= AH_READ_HAS_VOLTAGE(1) | AH_READ_HAS_VOLTAGE(2) |
                 AH_READ_HAS_CURRENT(1) | AH_READ_HAS_CURRENT(2);
    r.voltage[1] = r.voltage[2] = 2200;
    r.current[1] = ib;
    r.current[2] = ic;
    r.p[AH_READ_TOTAL] = 2200 * (ia + ib + ic) / 1000;
    return r;
}

struct run {
    struct vee_meter_info m;
    struct vee_thresholds t;
    struct vee_state st;
    struct vee_result res;
    unsigned started[VEE_NRULES], cleared[VEE_NRULES];
};

static void run_init(struct run *r, struct vee_meter_info m)
{
    memset(r, 0, sizeof *r);
    r->m = m;
    r->t = vee_thresholds_default();
    vee_state_init(&r->st);
}

/* Evaluate (head-end clock = the interval end + 60 s) and count episodes. */
static uint32_t feed(struct run *r, const struct ah_read *in)
{
    assert_int_equal(
        vee_eval(&r->m, &r->t, &r->st, in, false, (int64_t)in->end + 60, &r->res), AH_OK);
    for (unsigned i = 0; i < r->res.ntrans; i++) {
        const struct vee_transition *tr = &r->res.trans[i];
        if (tr->started)
            r->started[tr->bit]++;
        else
            r->cleared[tr->bit]++;
    }
    return r->res.flags;
}

/* Series of n reads from end0 every interval, register advancing by adv,
 * phase A at ma; returns the flags OR-ed over the series. */
static uint32_t series(struct run *r, int64_t end0, int n, int64_t *fwd, int64_t adv,
                       int32_t ma)
{
    uint32_t all = 0;
    for (int i = 0; i < n; i++) {
        *fwd += adv;
        struct ah_read in = rd(end0 + (int64_t)i * IV, *fwd, ma);
        all |= feed(r, &in);
    }
    return all;
}

/* ---- STOPPED / CREEPING ---- */

static void stopped_meter_under_load_fires_at_the_fourth_interval(void **state)
{
    (void)state;
    struct run r;
    run_init(&r, household());
    int64_t fwd = 1234567;
    series(&r, T0, 4, &fwd, 10, 2000);
    /* 2 A flowing (440 W) but the register stands still */
    for (int i = 0; i < 3; i++) {
        struct ah_read in = rd(T0 + (4 + i) * IV, fwd, 2000);
        assert_int_equal(feed(&r, &in) & VEE_F_STOPPED, 0);
    }
    struct ah_read in4 = rd(T0 + 7 * IV, fwd, 2000);
    assert_true(feed(&r, &in4) & VEE_F_STOPPED);
    assert_int_equal(r.started[VEE_BIT_STOPPED], 1);
    assert_int_equal(r.res.trans[0].since, T0 + 4 * IV);
    assert_int_equal(r.res.trans[0].threshold, 4);
    /* still stopped: flagged, no second event */
    assert_true(series(&r, T0 + 8 * IV, 6, &fwd, 0, 2000) & VEE_F_STOPPED);
    assert_int_equal(r.started[VEE_BIT_STOPPED], 1);
    /* repaired: clears after four good intervals, once */
    series(&r, T0 + 14 * IV, 8, &fwd, 12, 2000);
    assert_int_equal(r.cleared[VEE_BIT_STOPPED], 1);
    assert_false(r.st.active & VEE_F_STOPPED);
}

static void vacant_home_is_not_stopped(void **state)
{
    (void)state;
    struct run r;
    run_init(&r, household());
    int64_t fwd = 500000;
    /* ΔE = 0 and 3 mA (below Is = 20 mA) all day */
    assert_int_equal(series(&r, T0, 96, &fwd, 0, 3), 0);
}

static void creeping_with_no_current(void **state)
{
    (void)state;
    struct run r;
    run_init(&r, household());
    int64_t fwd = 500000;
    series(&r, T0, 2, &fwd, 0, 0);
    uint32_t f = series(&r, T0 + 2 * IV, 3, &fwd, 1, 0);
    assert_int_equal(f & VEE_F_CREEPING, 0);
    f = series(&r, T0 + 5 * IV, 1, &fwd, 1, 0);
    assert_true(f & VEE_F_CREEPING);
    assert_false(f & VEE_F_STOPPED);
    assert_int_equal(r.started[VEE_BIT_CREEPING], 1);
}

/* ---- REVERSED ---- */

static void forward_register_going_backwards_is_reversed(void **state)
{
    (void)state;
    struct run r;
    run_init(&r, household());
    int64_t fwd = 800000;
    series(&r, T0, 2, &fwd, 10, 2000);
    uint32_t f = series(&r, T0 + 2 * IV, 3, &fwd, -10, -2000);
    assert_true(f & VEE_F_REVERSED);
    assert_int_equal(r.started[VEE_BIT_REVERSED], 1);
    assert_int_equal(r.res.value[VEE_BIT_REVERSED], -10);
    assert_false(f & VEE_F_JUMPING);
}

static void reversed_ct_reverse_register_and_negative_current(void **state)
{
    (void)state;
    struct run r;
    run_init(&r, household());
    int64_t fwd = 800000, rev = 100;
    uint32_t all = 0;
    for (int i = 0; i < 8; i++) {
        struct ah_read in = rd(T0 + i * IV, fwd, i < 2 ? 2000 : -2000);
        in.present |= AH_READ_HAS_EXP_TOTAL;
        if (i >= 2)
            rev += 11; /* 0.11 kWh an interval into the reverse register */
        in.exp_total = rev;
        if (i < 2)
            fwd += 11;
        all |= feed(&r, &in);
    }
    assert_true(all & VEE_F_REVERSED);
    /* the energy went to the reverse register: not a stopped meter */
    assert_false(all & VEE_F_STOPPED);
    assert_int_equal(r.started[VEE_BIT_REVERSED], 1);
}

static void pv_prosumer_export_is_not_reversed(void **state)
{
    (void)state;
    struct run r;
    struct vee_meter_info m = household();
    m.bidirectional = true;
    run_init(&r, m);
    int64_t fwd = 300000, rev = 5000;
    uint32_t all = 0;
    for (int i = 0; i < 16; i++) {
        /* noon: exporting 3 A, import register still, SW1 D4, SW2 D0, SW4 D6 */
        struct ah_read in = rd(T0 + i * IV, fwd, -3000);
        in.present |= AH_READ_HAS_EXP_TOTAL | AH_READ_HAS_STATUS;
        rev += 16;
        in.exp_total = rev;
        in.status[0] = 1u << 4;
        in.status[1] = 1u << 0;
        in.status[3] = 1u << 6;
        all |= feed(&r, &in);
    }
    assert_int_equal(all, 0);
}

/* ---- JUMPING, rollover, exchange, backfill ---- */

static void jump_beyond_emax_once(void **state)
{
    (void)state;
    struct run r;
    run_init(&r, household());
    /* Emax = 220 V × 60 A × 0.25 h = 3.30 kWh */
    assert_int_equal(vee_emax(&r.m), 330);
    int64_t fwd = 100000;
    series(&r, T0, 3, &fwd, 20, 2000);
    uint32_t f = series(&r, T0 + 3 * IV, 1, &fwd, 5 * 330, 2000);
    assert_true(f & VEE_F_JUMPING);
    assert_int_equal(r.res.value[VEE_BIT_JUMPING], 1650);
    assert_int_equal(r.res.threshold[VEE_BIT_JUMPING], 396);
    f = series(&r, T0 + 4 * IV, 4, &fwd, 20, 2000);
    assert_int_equal(f & VEE_F_JUMPING, 0);
    assert_int_equal(r.started[VEE_BIT_JUMPING], 1);
    assert_int_equal(r.cleared[VEE_BIT_JUMPING], 1);
}

static void rollover_at_999999_99_is_clean(void **state)
{
    (void)state;
    struct run r;
    run_init(&r, household());
    int64_t fwd = 99999980;
    series(&r, T0, 2, &fwd, 5, 2000);              /* 999999.85, 999999.90 */
    struct ah_read in = rd(T0 + 2 * IV, 15, 2000); /* 999999.90 -> 0.15 */
    uint32_t f = feed(&r, &in);
    assert_int_equal(f, VEE_F_ROLLOVER);
    assert_true(vee_is_clean(f));
    assert_int_equal(r.res.advance, 25);
}

/* Issue 13 defect 1: a step back of 213 kWh mid-range, and one near the top
 * that lands near zero but farther than the meter can register over the
 * span, are decreases (REVERSED, no advance), never rollovers. */
static void decrease_is_no_rollover(void **state)
{
    (void)state;
    struct run r;
    run_init(&r, household());
    int64_t fwd = 51234500;
    series(&r, T0, 2, &fwd, 5, 2000);
    struct ah_read in = rd(T0 + 2 * IV, fwd - 21300, 2000);
    uint32_t f = feed(&r, &in);
    assert_true(f & VEE_F_REVERSED);
    assert_false(f & (VEE_F_ROLLOVER | VEE_F_JUMPING));
    assert_int_equal(r.res.advance, -1);

    /* 995000.00 -> 0.15: top 10 % to bottom 10 %, but 5000 kWh in 15 min */
    run_init(&r, household());
    fwd = 99500000;
    series(&r, T0, 2, &fwd, 5, 2000);
    in = rd(T0 + 2 * IV, 15, 2000);
    f = feed(&r, &in);
    assert_true(f & VEE_F_REVERSED);
    assert_false(f & VEE_F_ROLLOVER);
    assert_int_equal(r.res.advance, -1);

    /* the bound grows with the span and stops at a tenth of the modulus */
    struct vee_meter_info m = household();
    struct vee_thresholds t = vee_thresholds_default();
    int64_t emax = vee_emax(&m);
    assert_int_equal(vee_wrap_advance(&m, &t, 100, 250, 1), 150);
    assert_int_equal(vee_wrap_advance(&m, &t, 99999990, 10, 1), 20);
    assert_int_equal(vee_wrap_advance(&m, &t, 100000000 - emax, 0, 1), emax);
    assert_int_equal(vee_wrap_advance(&m, &t, 100000000 - 2 * emax, 0, 1), -1);
    assert_int_equal(vee_wrap_advance(&m, &t, 100000000 - 2 * emax, 0, 96), 2 * emax);
    assert_int_equal(vee_wrap_advance(&m, &t, 50000000, 40000000, 1000000), -1);
    assert_int_equal(vee_wrap_advance(&m, &t, 95000000, 4000000, 1000000), 9000000);
}

static void meter_exchange_by_serial_is_not_reversed_or_jumping(void **state)
{
    (void)state;
    struct run r;
    run_init(&r, household());
    int64_t fwd = 4567800;
    uint32_t all = 0;
    for (int i = 0; i < 6; i++) {
        struct ah_read in = rd(T0 + i * IV, fwd, 0);
        in.present |= AH_READ_HAS_SERIAL;
        in.serial = 100000000001ull;
        all |= feed(&r, &in); /* old meter stopped under no load: fine */
    }
    struct ah_read in = rd(T0 + 6 * IV, 3, 2000);
    in.present |= AH_READ_HAS_SERIAL;
    in.serial = 100000000002ull;
    uint32_t f = feed(&r, &in);
    assert_int_equal(f, VEE_F_METER_EXCHANGED);
    /* the new meter starts from zero as a new baseline */
    int64_t nf = 3;
    f = series(&r, T0 + 7 * IV, 4, &nf, 11, 2000);
    assert_int_equal(f & VEE_FAULT_MASK, 0);
    (void)all;
}

static void meter_clear_event_with_restart_near_zero_is_exchange(void **state)
{
    (void)state;
    struct run r;
    run_init(&r, household());
    struct ah_read a = rd(T0, 3456700, 2000);
    a.present |= AH_READ_HAS_CLEAR_COUNT;
    a.clear_count = 0;
    feed(&r, &a);
    /* an episode on the old meter ends with it */
    struct ah_read b = rd(T0 + IV, 3456700 + 5000, 2000);
    b.present |= AH_READ_HAS_CLEAR_COUNT;
    assert_true(feed(&r, &b) & VEE_F_JUMPING);
    struct ah_read c = rd(T0 + 2 * IV, 8, 2000);
    c.present |= AH_READ_HAS_CLEAR_COUNT;
    c.clear_count = 1;
    assert_int_equal(feed(&r, &c), VEE_F_METER_EXCHANGED);
    assert_int_equal(r.cleared[VEE_BIT_JUMPING], 1);
    /* without the clear event the same drop would be REVERSED */
    struct run r2;
    run_init(&r2, household());
    struct ah_read a2 = rd(T0, 3456700, 2000);
    feed(&r2, &a2);
    struct ah_read c2 = rd(T0 + IV, 8, 2000);
    assert_true(feed(&r2, &c2) & VEE_F_REVERSED);
}

static void backfilled_interval_after_outage_is_not_a_jump(void **state)
{
    (void)state;
    struct run r;
    run_init(&r, household());
    int64_t fwd = 200000;
    series(&r, T0, 4, &fwd, 150, 3000);
    /* outage: 8 intervals lost; the read after it is backfilled from memory
     * and advances by 8 intervals' worth (12.00 kWh > 1.2 × Emax) */
    fwd += 8 * 150;
    struct ah_read in = rd(T0 + 11 * IV, fwd, 3000);
    in.source = AH_READ_BACKFILL;
    uint32_t f = feed(&r, &in);
    assert_int_equal(f, VEE_F_BACKFILLED);
    assert_true(vee_is_clean(f));
    assert_int_equal(r.res.span, 8);
    assert_int_equal(r.res.advance, 1200);
    /* more than 1.2 × 8 × Emax across that gap is a jump */
    struct run r2;
    run_init(&r2, household());
    int64_t f2 = 200000;
    series(&r2, T0, 4, &f2, 150, 3000);
    struct ah_read j = rd(T0 + 11 * IV, f2 + 8 * 396 + 1, 3000);
    assert_true(feed(&r2, &j) & VEE_F_JUMPING);
}

/* ---- phases ---- */

static void phase_imbalance_75_18_7_on_3p4w(void **state)
{
    (void)state;
    struct run r;
    run_init(&r, commercial());
    uint32_t f = 0;
    for (int i = 0; i < 4; i++) {
        struct ah_read in = rd3(T0 + i * IV, 1000000 + i * 100, 15000, 3600, 1400);
        f = feed(&r, &in);
        assert_int_equal(!!(f & VEE_F_PHASE_IMBALANCE), i == 3);
    }
    /* (15.0 - 1.4) / 15.0 = 90.7 % > 20 % */
    assert_int_equal(r.res.value[VEE_BIT_PHASE_IMBALANCE], 906);
    assert_int_equal(r.started[VEE_BIT_PHASE_IMBALANCE], 1);
}

static void light_load_is_never_imbalanced(void **state)
{
    (void)state;
    struct run r;
    run_init(&r, commercial());
    /* 0.9 A on the heaviest phase < 0.1 × Ib = 1 A */
    for (int i = 0; i < 10; i++) {
        struct ah_read in = rd3(T0 + i * IV, 1000000 + i, 900, 100, 0);
        assert_int_equal(feed(&r, &in) & VEE_F_PHASE_IMBALANCE, 0);
    }
}

static void single_phase_and_3p3w_never_imbalanced(void **state)
{
    (void)state;
    struct run r;
    run_init(&r, ct_3p3w());
    /* 3P3W: "A" = Uab/Ia, B = 0 by design, "C" = Ucb/Ic */
    for (int i = 0; i < 10; i++) {
        struct ah_read in = rd3(T0 + i * IV, 50000 + i * 10, 3000, 0, 2900);
        in.voltage[0] = 1000;
        in.voltage[1] = 0;
        in.voltage[2] = 1010;
        assert_int_equal(feed(&r, &in) & VEE_FAULT_MASK, 0);
    }
    struct run r1;
    run_init(&r1, household());
    for (int i = 0; i < 10; i++) {
        struct ah_read in = rd3(T0 + i * IV, 50000 + i * 10, 8000, 0, 0);
        assert_int_equal(feed(&r1, &in) & VEE_FAULT_MASK, 0);
    }
}

static void voltage_unbalance_four_intervals(void **state)
{
    (void)state;
    struct run r;
    run_init(&r, commercial());
    uint32_t f = 0;
    for (int i = 0; i < 4; i++) {
        struct ah_read in = rd3(T0 + i * IV, 1000000 + i * 100, 5000, 5000, 5000);
        in.voltage[2] = 2010; /* mean 213.3 V, C deviates 5.8 % */
        f = feed(&r, &in);
    }
    assert_true(f & VEE_F_VOLTAGE_UNBALANCE);
    assert_false(f & VEE_F_PHASE_LOSS);
}

static void phase_loss_c_under_load(void **state)
{
    (void)state;
    struct run r;
    run_init(&r, commercial());
    struct ah_read in = rd3(T0, 1000000, 5000, 5000, 5000);
    feed(&r, &in);
    in = rd3(T0 + IV, 1000100, 5000, 5000, 5000);
    in.voltage[2] = 44; /* 2 % Un left on phase C */
    uint32_t f = feed(&r, &in);
    assert_true(f & VEE_F_PHASE_LOSS);
    assert_false(f & VEE_F_VOLTAGE_UNBALANCE);
    assert_int_equal(r.res.trans[0].aux[0], 3);
    assert_int_equal(r.res.threshold[VEE_BIT_PHASE_LOSS], 1716);
}

/* ---- clock, cover, status, time ---- */

static void clock_drift_and_suspect_timestamps(void **state)
{
    (void)state;
    struct run r;
    run_init(&r, household());
    struct ah_read in = rd(T0, 100000, 1000);
    in.present |= AH_READ_HAS_METER_CLOCK;
    in.headend_clock_ms = (T0 + 30) * 1000;
    in.meter_clock_ms = in.headend_clock_ms + 480000; /* 8 min fast */
    uint32_t f = feed(&r, &in);
    assert_true(f & VEE_F_CLOCK_DRIFT);
    assert_false(f & VEE_F_TIME_INVALID);
    assert_int_equal(r.res.value[VEE_BIT_CLOCK_DRIFT], 480);
    /* reads between clock reads keep the last verdict */
    in = rd(T0 + IV, 100010, 1000);
    assert_true(feed(&r, &in) & VEE_F_CLOCK_DRIFT);
    in.end += IV;
    in.present |= AH_READ_HAS_METER_CLOCK;
    in.headend_clock_ms = ((int64_t)in.end + 30) * 1000;
    in.meter_clock_ms = in.headend_clock_ms - 2 * 3600000; /* 2 h slow */
    f = feed(&r, &in);
    assert_true(f & VEE_F_TIME_INVALID);
    assert_int_equal(r.started[VEE_BIT_CLOCK_DRIFT], 1);
    in.end += IV;
    in.meter_clock_ms = in.headend_clock_ms = ((int64_t)in.end + 30) * 1000;
    f = feed(&r, &in);
    assert_int_equal(f & VEE_FAULT_MASK, 0);
    assert_int_equal(r.cleared[VEE_BIT_CLOCK_DRIFT], 1);
}

static void cover_opened_since_last_read(void **state)
{
    (void)state;
    struct run r;
    run_init(&r, household());
    struct ah_read in = rd(T0, 100000, 1000);
    in.present |= AH_READ_HAS_COVER;
    in.cover_count = 2;
    assert_int_equal(feed(&r, &in) & VEE_F_COVER_OPEN, 0);
    in.end += IV;
    in.cover_count = 3;
    assert_true(feed(&r, &in) & VEE_F_COVER_OPEN);
    in.end += IV;
    assert_int_equal(feed(&r, &in) & VEE_F_COVER_OPEN, 0);
    assert_int_equal(r.started[VEE_BIT_COVER_OPEN], 1);
    assert_int_equal(r.cleared[VEE_BIT_COVER_OPEN], 1);
}

static void status_words_loss_of_voltage_and_battery(void **state)
{
    (void)state;
    struct run r;
    run_init(&r, commercial());
    struct ah_read in = rd3(T0, 100000, 1000, 1000, 1000);
    in.present |= AH_READ_HAS_STATUS;
    in.status[4] = 1u << 0; /* SW5 D0: phase B 失压 */
    uint32_t f = feed(&r, &in);
    assert_true(f & VEE_F_STATUS_FAULT);
    assert_int_equal(r.res.value[VEE_BIT_STATUS_FAULT], 5);
    struct run r1;
    run_init(&r1, household());
    in = rd(T0, 100000, 1000);
    in.present |= AH_READ_HAS_STATUS;
    in.status[0] = 1u << 2; /* SW1 D2 clock battery low */
    assert_true(feed(&r1, &in) & VEE_F_STATUS_FAULT);
}

static void impossible_timestamps(void **state)
{
    (void)state;
    struct run r;
    struct vee_meter_info m = household();
    m.install_time = T0;
    run_init(&r, m);
    struct vee_result res;
    struct ah_read in = rd(T0, 100000, 1000); /* ends at installation */
    assert_int_equal(vee_eval(&r.m, &r.t, &r.st, &in, false, T0 + 60, &res), AH_OK);
    assert_true(res.flags & VEE_F_TIME_INVALID);
    in = rd(T0 + IV, 100000, 1000);
    assert_int_equal(vee_eval(&r.m, &r.t, &r.st, &in, false, T0 + IV, &res), AH_OK);
    assert_int_equal(res.flags, 0);
    in = rd(T0 + 3 * IV, 100020, 1000); /* 30 min in the future */
    assert_int_equal(vee_eval(&r.m, &r.t, &r.st, &in, false, T0 + IV + 60, &res), AH_OK);
    assert_true(res.flags & VEE_F_TIME_INVALID);
    in = rd(T0 + 2 * IV + 7, 100010, 1000); /* off the 15-min grid */
    assert_int_equal(vee_eval(&r.m, &r.t, &r.st, &in, false, T0 + 3 * IV, &res), AH_OK);
    assert_true(res.flags & VEE_F_TIME_INVALID);
    /* neither bad read moved the baseline */
    in = rd(T0 + 2 * IV, 100010, 1000);
    assert_int_equal(vee_eval(&r.m, &r.t, &r.st, &in, false, T0 + 3 * IV, &res), AH_OK);
    assert_int_equal(res.advance, 10);
    assert_int_equal(res.flags, 0);
    /* a duplicate is refused, state untouched */
    assert_int_equal(vee_eval(&r.m, &r.t, &r.st, &in, false, T0 + 3 * IV, &res),
                     AH_ERANGE);
}

/* ---- daily rules ---- */

/* One local day (96 intervals ending 00:15 .. 24:00) of `per` 0.01 kWh. */
static uint32_t day(struct run *r, int d, int64_t *fwd, int64_t per, int32_t ma)
{
    int64_t start = MIDNIGHT + (int64_t)(d - 1) * DAY + IV;
    return series(r, start, 96, fwd, per, ma);
}

static void drop_daily_below_a_fifth_of_the_14_day_mean(void **state)
{
    (void)state;
    struct run r;
    run_init(&r, household());
    int64_t fwd = 1000000;
    struct ah_read first = rd(MIDNIGHT - DAY, fwd, 1000);
    feed(&r, &first);
    uint32_t all = 0;
    for (int d = 0; d < 8; d++)
        all |= day(&r, d, &fwd, 12, 1000); /* 11.52 kWh/day */
    assert_int_equal(all & VEE_FAULT_MASK, 0);
    /* then 0.96 kWh while current still flows */
    uint32_t f = day(&r, 8, &fwd, 1, 1000);
    assert_true(f & VEE_F_DROP);
    assert_true(r.res.flags & VEE_F_DROP); /* on the read closing the day */
    assert_int_equal(r.res.value[VEE_BIT_DROP], 96);
    assert_int_equal(r.started[VEE_BIT_DROP], 1);
}

static void spike_against_same_time_of_day_median(void **state)
{
    (void)state;
    struct run r;
    run_init(&r, household());
    int64_t fwd = 1000000;
    struct ah_read first = rd(MIDNIGHT - DAY, fwd, 1000);
    feed(&r, &first);
    for (int d = 0; d < 8; d++)
        assert_int_equal(day(&r, d, &fwd, 10, 1000) & VEE_FAULT_MASK, 0);
    /* 3.00 kWh in one quarter hour: 30 × the median, under 1.2 × Emax */
    int64_t start = MIDNIGHT + 7 * DAY + IV;
    assert_int_equal(series(&r, start, 40, &fwd, 10, 1000) & VEE_FAULT_MASK, 0);
    uint32_t f = series(&r, start + 40 * IV, 1, &fwd, 300, 1000);
    assert_true(f & VEE_F_SPIKE);
    assert_false(f & VEE_F_JUMPING);
    assert_int_equal(r.res.threshold[VEE_BIT_SPIKE], 100);
}

static void sum_mismatch_against_daily_freeze(void **state)
{
    (void)state;
    struct run r;
    run_init(&r, household());
    int64_t fwd = 1000000;
    struct ah_read first = rd(MIDNIGHT - DAY, fwd, 1000);
    first.present |= AH_READ_HAS_FREEZE;
    first.freeze_at = MIDNIGHT - DAY;
    first.freeze_fwd = fwd;
    feed(&r, &first);
    day(&r, 0, &fwd, 10, 1000); /* 9.60 kWh by the intervals */
    /* freeze read at 00:15: agrees with the intervals */
    int64_t f0 = fwd;
    struct ah_read in = rd(MIDNIGHT + IV, fwd + 10, 1000);
    fwd += 10;
    in.present |= AH_READ_HAS_FREEZE;
    in.freeze_at = MIDNIGHT;
    in.freeze_fwd = f0;
    assert_int_equal(feed(&r, &in) & VEE_FAULT_MASK, 0);
    /* next day: the freeze says 3 kWh more than the intervals (tol 1.92+0.06) */
    series(&r, MIDNIGHT + 2 * IV, 95, &fwd, 10, 1000);
    in = rd(MIDNIGHT + DAY + IV, fwd + 10, 1000);
    in.present |= AH_READ_HAS_FREEZE;
    in.freeze_at = MIDNIGHT + DAY;
    in.freeze_fwd = fwd + 300;
    uint32_t f = feed(&r, &in);
    assert_true(f & VEE_F_SUM_MISMATCH);
    assert_int_equal(r.res.value[VEE_BIT_SUM_MISMATCH], 960);
}

/* ---- persistence ---- */

/* A day with a stop, a jump, a rollover, an outage and clock drift. */
static struct ah_read mixed(int i)
{
    int64_t end = MIDNIGHT - DAY + (int64_t)i * IV;
    int64_t fwd = 99995000 + (int64_t)i * 40;
    if (i >= 20 && i < 30)
        fwd = 99995000 + 20 * 40; /* stopped */
    else if (i >= 30)
        fwd = 99995000 + (int64_t)(i - 10) * 40 + (i >= 50 ? 2000 : 0);
    fwd %= VEE_REG_MODULUS_DEFAULT;
    struct ah_read in = rd(end, fwd, 2500);
    if (i % 7 == 0) {
        in.present |= AH_READ_HAS_METER_CLOCK;
        in.headend_clock_ms = end * 1000;
        in.meter_clock_ms = end * 1000 + (i > 60 ? 400000 : 0);
    }
    return in;
}

static int in_outage(int i)
{
    return i >= 70 && i < 75; /* an outage */
}

static void state_round_trip_resumes_identically(void **state)
{
    (void)state;
    struct run a, b;
    run_init(&a, household());
    run_init(&b, household());
    uint8_t buf[VEE_STATE_LEN];
    uint32_t union_flags = 0;
    for (int i = 0; i < 130; i++) {
        if (in_outage(i))
            continue;
        struct ah_read in = mixed(i);
        uint32_t fa = feed(&a, &in);
        /* b persists and reloads its state before every read */
        assert_int_equal(vee_state_encode(&b.st, buf, sizeof buf), VEE_STATE_LEN);
        struct vee_state back;
        assert_int_equal(vee_state_decode(buf, sizeof buf, &back), AH_OK);
        assert_memory_equal(&back, &b.st, sizeof back);
        b.st = back;
        uint32_t fb = feed(&b, &in);
        assert_int_equal(fa, fb);
        assert_int_equal(a.res.ntrans, b.res.ntrans);
        assert_memory_equal(a.res.trans, b.res.trans,
                            a.res.ntrans * sizeof a.res.trans[0]);
        union_flags |= fa;
    }
    assert_true(union_flags & VEE_F_STOPPED);
    assert_true(union_flags & VEE_F_JUMPING);
    assert_true(union_flags & VEE_F_ROLLOVER);
    assert_true(union_flags & VEE_F_CLOCK_DRIFT);
    assert_memory_equal(a.started, b.started, sizeof a.started);
    assert_memory_equal(a.cleared, b.cleared, sizeof a.cleared);
}

/* ---- one reading type ---- */

/* What an absent field holds, as nothing a producer would write. */
static void garble_absent(struct ah_read *r)
{
    uint64_t has = r->present;
    if (!(has & AH_READ_HAS_IMP_TOTAL))
        r->imp_total = -77;
    if (!(has & AH_READ_HAS_EXP_TOTAL))
        r->exp_total = INT64_MAX;
    for (int ph = 0; ph < 3; ph++) {
        if (!(has & AH_READ_HAS_VOLTAGE(ph)))
            r->voltage[ph] = 9999 + ph;
        if (!(has & AH_READ_HAS_CURRENT(ph)))
            r->current[ph] = -90000;
    }
    for (int i = 0; i < 4; i++)
        if (!(has & AH_READ_HAS_P(i)))
            r->p[i] = -1234567;
    if (!(has & AH_READ_HAS_STATUS))
        memset(r->status, 0xFF, sizeof r->status);
    if (!(has & AH_READ_HAS_METER_CLOCK))
        r->meter_clock_ms = INT64_MAX;
    if (!(has & AH_READ_HAS_COVER))
        r->cover_count = r->terminal_count = 1000;
    if (!(has & AH_READ_HAS_CLEAR_COUNT))
        r->clear_count = 7;
    if (!(has & AH_READ_HAS_SERIAL))
        r->serial = 99;
    if (!(has & AH_READ_HAS_FREEZE)) {
        r->freeze_at = INT64_MIN;
        r->freeze_fwd = -1;
    }
    r->quality = 0xFFFFFFFFu; /* the validator's output, never its input */
}

static void same_verdicts(struct vee_meter_info m, struct ah_read (*make)(int), int n)
{
    struct run a, b;
    run_init(&a, m);
    run_init(&b, m);
    uint8_t sa[VEE_STATE_LEN], sb[VEE_STATE_LEN];
    for (int i = 0; i < n; i++) {
        if (in_outage(i))
            continue;
        struct ah_read clean = make(i), odd = clean;
        garble_absent(&odd);
        uint32_t fa = feed(&a, &clean), fb = feed(&b, &odd);
        assert_int_equal(fa, fb);
        assert_memory_equal(&a.res, &b.res, sizeof a.res);
        assert_int_equal(vee_state_encode(&a.st, sa, sizeof sa), VEE_STATE_LEN);
        assert_int_equal(vee_state_encode(&b.st, sb, sizeof sb), VEE_STATE_LEN);
        assert_memory_equal(sa, sb, sizeof sa);
    }
}

/* Phases A and C of a 3P3W meter (no B), unbalanced for a while. */
static struct ah_read three_wire(int i)
{
    struct ah_read in = mixed(i);
    in.present &=
        ~(AH_READ_HAS_VOLTAGE(1) | AH_READ_HAS_CURRENT(1) | AH_READ_HAS_P(AH_READ_TOTAL));
    in.present |=
        AH_READ_HAS_VOLTAGE(0) | AH_READ_HAS_VOLTAGE(2) | AH_READ_HAS_CURRENT(2);
    in.voltage[0] = 1000;
    in.voltage[2] = (i >= 40 && i < 50) ? 900 : 1000; /* VOLTAGE_UNBALANCE */
    in.current[2] = 1400;
    in.current[0] = 1400;
    in.voltage[1] = in.current[1] = 0;
    if (i % 11 == 0) {
        in.present |= AH_READ_HAS_STATUS | AH_READ_HAS_COVER | AH_READ_HAS_SERIAL;
        in.cover_count = (uint32_t)(i / 33);
        in.serial = 100000000001ull;
    }
    return in;
}

/* The validator reads a field only when its presence bit says the meter
 * supplied it: whatever an absent field holds, the verdicts, evidence and
 * state are those of the same read with it zero. */
static void absent_fields_are_not_read(void **state)
{
    (void)state;
    same_verdicts(household(), mixed, 130);
    same_verdicts(ct_3p3w(), three_wire, 130);
}

static void state_decode_is_strict(void **state)
{
    (void)state;
    struct vee_state s, d;
    vee_state_init(&s);
    uint8_t buf[VEE_STATE_LEN + 1];
    assert_int_equal(vee_state_encode(&s, buf, VEE_STATE_LEN - 1), AH_EOVERFLOW);
    assert_int_equal(vee_state_encode(&s, buf, sizeof buf), VEE_STATE_LEN);
    assert_int_equal(vee_state_decode(buf, VEE_STATE_LEN, &d), AH_OK);
    assert_int_equal(vee_state_decode(buf, VEE_STATE_LEN - 1, &d), AH_EFRAME);
    assert_int_equal(vee_state_decode(buf, VEE_STATE_LEN + 1, &d), AH_EFRAME);
    buf[0] = 2;
    assert_int_equal(vee_state_decode(buf, VEE_STATE_LEN, &d), AH_ENOTSUP);
    buf[0] = VEE_STATE_VERSION;
    buf[2] = 1; /* last_end without the "sequenced" bit */
    assert_int_equal(vee_state_decode(buf, VEE_STATE_LEN, &d), AH_EFRAME);
    assert_true(sizeof(struct vee_state) <= 512);
}

static void names_and_cleanliness(void **state)
{
    (void)state;
    assert_string_equal(vee_flag_name(VEE_BIT_STOPPED), "STOPPED");
    assert_string_equal(vee_flag_name(VEE_BIT_TIME_INVALID), "TIME_INVALID");
    assert_string_equal(vee_flag_name(VEE_BIT_RELEASED), "RELEASED");
    assert_null(vee_flag_name(20));
    assert_null(vee_flag_name(40));
    assert_true(vee_is_clean(VEE_INFO_MASK));
    assert_false(vee_is_clean(VEE_F_SPIKE | VEE_F_BACKFILLED));
    assert_true(vee_is_billable(VEE_F_SPIKE | VEE_F_RELEASED));
    struct vee_thresholds t = vee_thresholds_default();
    assert_int_equal(vee_thresholds_check(&t), AH_OK);
    t.clock_suspect_s = t.clock_drift_s;
    assert_int_equal(vee_thresholds_check(&t), AH_EINVAL);
    struct vee_meter_info m = household();
    m.interval_s = 7 * 60; /* does not divide a day */
    assert_int_equal(vee_meter_info_check(&m), AH_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stopped_meter_under_load_fires_at_the_fourth_interval),
        cmocka_unit_test(vacant_home_is_not_stopped),
        cmocka_unit_test(creeping_with_no_current),
        cmocka_unit_test(forward_register_going_backwards_is_reversed),
        cmocka_unit_test(reversed_ct_reverse_register_and_negative_current),
        cmocka_unit_test(pv_prosumer_export_is_not_reversed),
        cmocka_unit_test(jump_beyond_emax_once),
        cmocka_unit_test(rollover_at_999999_99_is_clean),
        cmocka_unit_test(decrease_is_no_rollover),
        cmocka_unit_test(meter_exchange_by_serial_is_not_reversed_or_jumping),
        cmocka_unit_test(meter_clear_event_with_restart_near_zero_is_exchange),
        cmocka_unit_test(backfilled_interval_after_outage_is_not_a_jump),
        cmocka_unit_test(phase_imbalance_75_18_7_on_3p4w),
        cmocka_unit_test(light_load_is_never_imbalanced),
        cmocka_unit_test(single_phase_and_3p3w_never_imbalanced),
        cmocka_unit_test(voltage_unbalance_four_intervals),
        cmocka_unit_test(phase_loss_c_under_load),
        cmocka_unit_test(clock_drift_and_suspect_timestamps),
        cmocka_unit_test(cover_opened_since_last_read),
        cmocka_unit_test(status_words_loss_of_voltage_and_battery),
        cmocka_unit_test(impossible_timestamps),
        cmocka_unit_test(drop_daily_below_a_fifth_of_the_14_day_mean),
        cmocka_unit_test(spike_against_same_time_of_day_median),
        cmocka_unit_test(sum_mismatch_against_daily_freeze),
        cmocka_unit_test(state_round_trip_resumes_identically),
        cmocka_unit_test(absent_fields_are_not_read),
        cmocka_unit_test(state_decode_is_strict),
        cmocka_unit_test(names_and_cleanliness),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
