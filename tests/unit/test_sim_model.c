/*
 * test_sim_model — the simulated meter and district: registers never go
 * backwards, tariffs advance only in their periods and sum to the total,
 * power matches the energy advance, the district meter equals its customers
 * plus the configured technical loss, and each meter fault shows the way
 * the real fault would.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sim_fleet.h"
#include "sim_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EPOCH 1741881600LL /* 2025-03-14T00:00:00Z = 08:00 in UTC+8 */
#define TZ    (8 * 3600)

static struct sim_fleet *fleet(uint32_t nconc, uint32_t per, int32_t loss)
{
    struct sim_fleet *f = malloc(sizeof *f);
    struct sim_fleet_opts o = {.seed = 42,
                               .nconc = nconc,
                               .per = per,
                               .tz_s = TZ,
                               .history_days = 10,
                               .epoch_s = EPOCH,
                               .loss_ppm = loss};
    assert_int_equal(sim_fleet_init(f, &o), 0);
    return f;
}

static void drop(struct sim_fleet *f)
{
    sim_fleet_free(f);
    free(f);
}

static int64_t imp(const struct sim_regs *r)
{
    return sim_regs_total(r, SIM_IMP);
}

static void healthy_registers_never_decrease(void **state)
{
    (void)state;
    struct sim_fleet *f = fleet(2, 40, -1);
    for (uint32_t j = 0; j < f->per; j++) {
        struct sim_regs prev, r;
        sim_fleet_regs(f, 0, j, EPOCH - 86400, &prev, NULL);
        for (int64_t t = EPOCH - 86400 + 420; t < EPOCH + 3 * 86400; t += 420) {
            sim_fleet_regs(f, 0, j, t, &r, NULL);
            for (int d = 0; d < 2; d++)
                for (int k = 0; k < SIM_TARIFFS; k++)
                    assert_true(r.e[d][k] >= prev.e[d][k]);
            for (int q = 0; q < 4; q++)
                assert_true(r.q[q] >= prev.q[q]);
            prev = r;
        }
    }
    drop(f);
}

static void tariffs_advance_only_in_their_period(void **state)
{
    (void)state;
    struct sim_fleet *f = fleet(1, 30, -1);
    int active = 0;
    for (uint32_t j = 0; j < f->per; j++) {
        const struct sim_meter *m = sim_fleet_meter(f, 0, j);
        int32_t day = sim_local_day(EPOCH, TZ) + 1;
        struct sim_day d;
        sim_model_day(m, day, &d);
        for (int i = 0; i < SIM_IPD; i++)
            for (int k = 0; k < SIM_TARIFFS; k++) {
                int64_t adv = d.c[SIM_IMP][k][i + 1] - d.c[SIM_IMP][k][i];
                assert_true(adv >= 0);
                if (sim_tariff_of(i) != k)
                    assert_int_equal(adv, 0);
                else if (adv > 0)
                    active++;
            }
        /* T1..T4 of the day add up to the day's total advance, exactly */
        struct sim_regs a, b;
        sim_model_at(m, (int64_t)day * 86400 - TZ, TZ, &a);
        sim_model_at(m, (int64_t)(day + 1) * 86400 - TZ, TZ, &b);
        int64_t sum = 0;
        for (int k = 0; k < SIM_TARIFFS; k++)
            sum += d.c[SIM_IMP][k][SIM_IPD] - d.c[SIM_IMP][k][0];
        assert_int_equal(sum, imp(&b) - imp(&a));
    }
    assert_true(active > 100);
    drop(f);
}

static void power_matches_energy_advance(void **state)
{
    (void)state;
    struct sim_fleet *f = fleet(1, 20, -1);
    for (uint32_t j = 0; j < f->per; j++) {
        int64_t t0 = EPOCH + 5 * 900;
        struct sim_regs a, b;
        struct sim_view v;
        sim_fleet_regs(f, 0, j, t0, &a, NULL);
        sim_fleet_regs(f, 0, j, t0 + 900, &b, NULL);
        sim_fleet_view(f, 0, j, t0 + 450, &v);
        int64_t adv = (imp(&b) - imp(&a)) -
                      (sim_regs_total(&b, SIM_EXP) - sim_regs_total(&a, SIM_EXP));
        /* 0.01 kWh per 15 min = 40 W */
        assert_true(llabs((int64_t)v.p_w[0] - adv * 40) <= 3);
        const struct sim_meter *m = sim_fleet_meter(f, 0, j);
        if (m->wiring == SIM_1P2W) {
            assert_int_equal(v.volt_dv[1], 0);
            assert_int_equal(v.curr_ma[1], 0);
        }
        /* 220 V ± 3 % */
        assert_true(v.volt_dv[0] >= 2130 && v.volt_dv[0] <= 2270);
        /* P = U × I × PF within rounding */
        double s =
            (double)v.volt_dv[0] / 10.0 * v.curr_ma[0] / 1000.0 * v.pf_milli[0] / 1000.0;
        assert_true(s - v.p_w[1] < 3.0 + 0.002 * fabs((double)v.p_w[1]) &&
                    v.p_w[1] - s < 3.0 + 0.002 * fabs((double)v.p_w[1]));
    }
    drop(f);
}

static void district_equals_customers_plus_loss(void **state)
{
    (void)state;
    struct sim_fleet *f = fleet(1, 64, 40000); /* 4 % technical loss */
    const struct sim_meter *d = sim_fleet_meter(f, 0, SIM_DISTRICT_IDX);
    int64_t t0 = EPOCH, t1 = EPOCH + 86400;
    struct sim_regs a, b;
    sim_fleet_regs(f, 0, SIM_DISTRICT_IDX, t0, &a, NULL);
    sim_fleet_regs(f, 0, SIM_DISTRICT_IDX, t1, &b, NULL);
    double dist = (double)(imp(&b) - imp(&a)) * d->ct * d->pt;
    double cust = 0;
    for (uint32_t j = 0; j < f->per; j++) {
        const struct sim_meter *m = sim_fleet_meter(f, 0, j);
        sim_fleet_regs(f, 0, j, t0, &a, NULL);
        sim_fleet_regs(f, 0, j, t1, &b, NULL);
        cust += (double)(imp(&b) - imp(&a)) * m->ct * m->pt;
    }
    double loss = (dist - cust) / dist;
    assert_true(dist > 0);
    /* one district-register step (ct × 0.01 kWh) of rounding per tariff */
    assert_true(loss > 0.04 - 8.0 * d->ct / dist && loss < 0.04 + 8.0 * d->ct / dist);
    drop(f);
}

static uint32_t busy_meter(const struct sim_fleet *f, uint32_t conc, int want3p)
{
    for (uint32_t j = 0; j < f->per; j++) {
        const struct sim_meter *m = sim_fleet_meter(f, conc, j);
        if (m->fault >= 0 || m->pv || (want3p && m->wiring != SIM_3P4W))
            continue;
        if (m->mean[SIM_IMP][0] + m->mean[SIM_IMP][1] + m->mean[SIM_IMP][2] +
                m->mean[SIM_IMP][3] >
            300)
            return j;
    }
    fail_msg("no busy meter");
    return 0;
}

static uint32_t with_fault(struct sim_fleet *f, int type, int64_t from, int64_t to,
                           double p, int32_t arg, int want3p)
{
    uint32_t j = busy_meter(f, 0, want3p);
    struct sim_fault ft = {.type = (uint8_t)type,
                           .conc = 0,
                           .meter = j,
                           .from = from,
                           .to = to,
                           .p = p,
                           .arg = arg};
    assert_int_equal(sim_fleet_add_fault(f, &ft), 0);
    return j;
}

/* Advance over the interval ending at t, shown and true. */
static void adv(const struct sim_fleet *f, uint32_t j, int64_t t, int64_t *shown,
                int64_t *truth)
{
    struct sim_regs a, b, ta, tb;
    sim_fleet_regs(f, 0, j, t - 900, &a, &ta);
    sim_fleet_regs(f, 0, j, t, &b, &tb);
    *shown = imp(&b) - imp(&a);
    *truth = imp(&tb) - imp(&ta);
}

#define F0 (EPOCH + 2 * 3600)
#define F1 (EPOCH + 8 * 3600)

static void fault_stopped_register_frozen_while_current_flows(void **state)
{
    (void)state;
    struct sim_fleet *f = fleet(1, 60, -1);
    uint32_t j = with_fault(f, SIM_F_STOPPED, F0, F1, 0, 0, 0);
    int64_t s, t;
    for (int64_t b = F0 + 900; b <= F1; b += 900) {
        adv(f, j, b, &s, &t);
        assert_int_equal(s, 0);
        assert_true(t >= 0);
        struct sim_view v;
        sim_fleet_view(f, 0, j, b - 450, &v);
        assert_true(v.curr_ma[0] != 0 || v.curr_ma[1] != 0);
    }
    adv(f, j, F1 + 3600, &s, &t);
    assert_int_equal(s, t); /* runs again afterwards */
    drop(f);
}

static void fault_reversed_negative_current_and_reverse_register(void **state)
{
    (void)state;
    struct sim_fleet *f = fleet(1, 60, -1);
    uint32_t j = with_fault(f, SIM_F_REVERSED, F0, F1, 0, 0, 0);
    struct sim_regs a, b;
    sim_fleet_regs(f, 0, j, F0, &a, NULL);
    sim_fleet_regs(f, 0, j, F1, &b, NULL);
    assert_int_equal(imp(&b), imp(&a));
    assert_true(sim_regs_total(&b, SIM_EXP) > sim_regs_total(&a, SIM_EXP) + 50);
    struct sim_view v;
    sim_fleet_view(f, 0, j, F0 + 3600, &v);
    assert_true(v.curr_ma[0] < 0);
    assert_true(v.p_w[0] < 0);
    assert_true(v.status[0] & (1u << 4)); /* SW1 D4 reverse active power */
    assert_true(v.status[1] & 1u);        /* SW2 D0 phase A reverse */
    drop(f);
}

static void fault_backwards_forward_register_decreases(void **state)
{
    (void)state;
    struct sim_fleet *f = fleet(1, 60, -1);
    uint32_t j = with_fault(f, SIM_F_BACKWARDS, F0, F1, 0, 0, 0);
    struct sim_regs a, b;
    sim_fleet_regs(f, 0, j, F0, &a, NULL);
    sim_fleet_regs(f, 0, j, F1, &b, NULL);
    assert_true(imp(&b) < imp(&a));
    drop(f);
}

static void fault_jumping_exceeds_emax(void **state)
{
    (void)state;
    struct sim_fleet *f = fleet(1, 60, -1);
    uint32_t j0 = busy_meter(f, 0, 0);
    const struct sim_meter *m = sim_fleet_meter(f, 0, j0);
    double kwh = (double)(5 * sim_meter_emax(m)) / 100.0;
    uint32_t j = with_fault(f, SIM_F_JUMPING, F0 + 100, INT64_MAX / 4, kwh, 0, 0);
    assert_int_equal(j, j0);
    int64_t s, t;
    adv(f, j, F0 + 900, &s, &t);
    assert_true((double)s > 1.2 * (double)sim_meter_emax(m));
    adv(f, j, F0 + 1800, &s, &t);
    assert_int_equal(s, t); /* one jump, then a normal advance */
    drop(f);
}

static void fault_creeping_advances_without_current(void **state)
{
    (void)state;
    struct sim_fleet *f = fleet(1, 60, -1);
    uint32_t j = with_fault(f, SIM_F_CREEPING, F0, F1, 0, 0, 0);
    for (int64_t b = F0 + 900; b <= F1; b += 900) {
        int64_t s, t;
        adv(f, j, b, &s, &t);
        assert_int_equal(s, 1); /* 0.01 kWh every interval */
        assert_int_equal(t, 0);
        struct sim_view v;
        sim_fleet_view(f, 0, j, b - 300, &v);
        for (int ph = 0; ph < 3; ph++)
            assert_int_equal(v.curr_ma[ph], 0);
        assert_int_equal(v.p_w[0], 0);
    }
    drop(f);
}

static void fault_phase_imbalance_shows_in_currents(void **state)
{
    (void)state;
    struct sim_fleet *f = fleet(1, 80, -1);
    uint32_t j = with_fault(f, SIM_F_IMBALANCE, F0, F1, 0, 1, 1);
    struct sim_view v;
    sim_fleet_view(f, 0, j, F0 + 3600, &v);
    double mx = 0, mn = 1e18;
    for (int ph = 0; ph < 3; ph++) {
        double a = fabs((double)v.curr_ma[ph]);
        mx = a > mx ? a : mx;
        mn = a < mn ? a : mn;
    }
    assert_true((mx - mn) / mx > 0.2);
    assert_true(llabs(v.curr_ma[1]) == (long long)mx);
    sim_fleet_view(f, 0, j, F0 - 3600, &v);
    mx = 0, mn = 1e18;
    for (int ph = 0; ph < 3; ph++) {
        double a = fabs((double)v.curr_ma[ph]);
        mx = a > mx ? a : mx;
        mn = a < mn ? a : mn;
    }
    assert_true((mx - mn) / mx < 0.2);
    drop(f);
}

static void fault_phase_loss_voltage_near_zero_under_load(void **state)
{
    (void)state;
    struct sim_fleet *f = fleet(1, 80, -1);
    uint32_t j = with_fault(f, SIM_F_PHASE_LOSS, F0, F1, 0, 2, 1);
    struct sim_view v;
    sim_fleet_view(f, 0, j, F0 + 3600, &v);
    assert_true(v.volt_dv[2] < 0.1 * 2200);
    assert_true(v.curr_ma[2] > 0);
    assert_true(v.volt_dv[0] > 2100);
    assert_true(v.status[5] & 1u); /* SW6 D0 loss of voltage, phase C */
    int64_t s, t;
    adv(f, j, F0 + 3600, &s, &t);
    assert_true(s < t); /* the lost phase is not registered */
    drop(f);
}

static void fault_clock_drift_moves_meter_clock(void **state)
{
    (void)state;
    struct sim_fleet *f = fleet(1, 20, -1);
    uint32_t j = with_fault(f, SIM_F_CLOCK_DRIFT, F0, INT64_MAX / 4, 60, 480, 0);
    struct sim_view v;
    sim_fleet_view(f, 0, j, F0 + 86400, &v);
    assert_int_equal(v.clock_s - (F0 + 86400 + TZ), 480 + 60);
    sim_fleet_view(f, 0, j, F0 - 1, &v);
    assert_int_equal(v.clock_s, F0 - 1 + TZ);
    drop(f);
}

static void fault_theft_under_registers_and_loss_rises(void **state)
{
    (void)state;
    struct sim_fleet *f = fleet(1, 40, 30000);
    uint32_t j = with_fault(f, SIM_F_THEFT, F0, INT64_MAX / 4, 0.4, 0, 0);
    int64_t s, t;
    adv(f, j, F0 + 3 * 3600, &s, &t);
    assert_true(s < t);
    assert_true(s >= (int64_t)(0.4 * (double)t) - 1 &&
                s <= (int64_t)(0.4 * (double)t) + 1);
    /* the district still sees the true energy: same district advance as a
     * clean twin fleet, customers' sum short by exactly the stolen energy */
    struct sim_fleet *clean = fleet(1, 40, 30000);
    struct sim_regs a, b, ca, cb, ta, tb;
    sim_fleet_regs(f, 0, SIM_DISTRICT_IDX, F0, &a, NULL);
    sim_fleet_regs(f, 0, SIM_DISTRICT_IDX, F0 + 86400, &b, NULL);
    sim_fleet_regs(clean, 0, SIM_DISTRICT_IDX, F0, &ca, NULL);
    sim_fleet_regs(clean, 0, SIM_DISTRICT_IDX, F0 + 86400, &cb, NULL);
    assert_int_equal(imp(&b) - imp(&a), imp(&cb) - imp(&ca));
    int64_t cust = 0, cust_clean = 0;
    for (uint32_t k = 0; k < f->per; k++) {
        const struct sim_meter *m = sim_fleet_meter(f, 0, k);
        sim_fleet_regs(f, 0, k, F0, &a, NULL);
        sim_fleet_regs(f, 0, k, F0 + 86400, &b, NULL);
        cust += (imp(&b) - imp(&a)) * m->ct * m->pt;
        sim_fleet_regs(clean, 0, k, F0, &a, NULL);
        sim_fleet_regs(clean, 0, k, F0 + 86400, &b, NULL);
        cust_clean += (imp(&b) - imp(&a)) * m->ct * m->pt;
    }
    sim_fleet_regs(f, 0, j, F0, &a, &ta);
    sim_fleet_regs(f, 0, j, F0 + 86400, &b, &tb);
    int64_t stolen = (imp(&tb) - imp(&ta)) - (imp(&b) - imp(&a));
    assert_true(stolen > 0);
    assert_int_equal(cust_clean - cust, stolen * sim_fleet_meter(f, 0, j)->ct);
    drop(clean);
    struct sim_event ev[2];
    assert_int_equal(sim_fleet_events(f, sim_fleet_meter(f, 0, j), SIM_EV_COVER_OPEN, -1,
                                      F0 + 3600, ev, 2),
                     1);
    assert_int_equal(ev[0].start, F0);
    drop(f);
}

static void fault_missing_records_and_power_down(void **state)
{
    (void)state;
    struct sim_fleet *f = fleet(1, 20, -1);
    uint32_t j = with_fault(f, SIM_F_MISSING, F0, F0 + 7200, 0, 0, 0);
    const struct sim_meter *m = sim_fleet_meter(f, 0, j);
    int64_t now = F0 + 86400;
    assert_true(sim_fleet_has_record(f, m, F0 - 900, now));
    assert_false(sim_fleet_has_record(f, m, F0, now));
    assert_false(sim_fleet_has_record(f, m, F0 + 3600, now));
    assert_true(sim_fleet_has_record(f, m, F0 + 7200, now));
    struct sim_view v;
    sim_fleet_view(f, 0, j, F0 + 60, &v);
    assert_false(v.powered);
    struct sim_event ev[4];
    unsigned n = sim_fleet_events(f, m, SIM_EV_POWER_DOWN, -1, now, ev, 4);
    assert_true(n >= 1);
    assert_int_equal(ev[0].start, F0);
    assert_int_equal(ev[0].end, F0 + 7200);
    drop(f);
}

/* A PV district (issue 13): 40 % prosumers whose export matters. The
 * district balances with the loss an exact share of the supply: supply =
 * district forward + Σ export, sales = Σ import + district reverse; its
 * forward register never runs backwards, interval by interval. */
static void pv_district_balances_with_export(void **state)
{
    (void)state;
    struct sim_fleet *f = malloc(sizeof *f);
    struct sim_fleet_opts o = {.seed = 42,
                               .nconc = 1,
                               .per = 40,
                               .tz_s = TZ,
                               .history_days = 10,
                               .epoch_s = EPOCH,
                               .loss_ppm = 40000,
                               .pv_every = 1};
    assert_int_equal(sim_fleet_init(f, &o), 0);
    const struct sim_meter *d = sim_fleet_meter(f, 0, SIM_DISTRICT_IDX);
    assert_true(d->pv);
    assert_true(f->conc[0].pv_local > 0.05f);
    int64_t t0 = EPOCH - 8 * 3600, t1 = t0 + 86400; /* a local day */
    struct sim_regs a, b;
    sim_fleet_regs(f, 0, SIM_DISTRICT_IDX, t0, &a, NULL);
    sim_fleet_regs(f, 0, SIM_DISTRICT_IDX, t1, &b, NULL);
    double dfwd = (double)(imp(&b) - imp(&a)) * d->ct;
    double drev =
        (double)(sim_regs_total(&b, SIM_EXP) - sim_regs_total(&a, SIM_EXP)) * d->ct;
    double ci = 0, cx = 0;
    for (uint32_t j = 0; j < f->per; j++) {
        const struct sim_meter *m = sim_fleet_meter(f, 0, j);
        sim_fleet_regs(f, 0, j, t0, &a, NULL);
        sim_fleet_regs(f, 0, j, t1, &b, NULL);
        ci += (double)(imp(&b) - imp(&a)) * m->ct * m->pt;
        cx += (double)(sim_regs_total(&b, SIM_EXP) - sim_regs_total(&a, SIM_EXP)) *
              m->ct * m->pt;
    }
    double supply = dfwd + cx, sales = ci + drev;
    double loss = (supply - sales) / supply;
    assert_true(fabs(loss - 0.04) < 8.0 * d->ct / supply);
    /* the export matters: leaving it out moves the loss by points */
    double naive = (dfwd - ci) / dfwd;
    printf("  pv district: import %.0f export %.0f phi %.3f loss %.3f %% naive %.3f %%\n",
           ci, cx, (double)f->conc[0].pv_local, loss * 100, naive * 100);
    assert_true(cx > 0.05 * ci);
    assert_true(fabs(naive - 0.04) > 0.02);
    int64_t prev = -1;
    for (int64_t t = t0; t <= t1; t += SIM_IVL_S) {
        sim_fleet_regs(f, 0, SIM_DISTRICT_IDX, t, &a, NULL);
        assert_true(imp(&a) >= prev);
        prev = imp(&a);
    }
    drop(f);
}

/* The register faults of issue 13: a step back mid-range, a real wrap at
 * 999999.99, and memory holes with the meter otherwise healthy. */
static void fault_decrease_rollover_holes(void **state)
{
    (void)state;
    struct sim_fleet *f = fleet(1, 20, 40000);
    uint32_t j = busy_meter(f, 0, 0);
    const int64_t TF = EPOCH + 3 * 3600;
    struct sim_fault ft = {.type = SIM_F_DECREASE,
                           .conc = 0,
                           .meter = j,
                           .from = TF,
                           .to = TF + 86400 * 30,
                           .p = 213.0};
    assert_int_equal(sim_fleet_add_fault(f, &ft), 0);
    struct sim_regs a, b, tr;
    sim_fleet_regs(f, 0, j, TF, &a, NULL);
    sim_fleet_regs(f, 0, j, TF + 1, &b, &tr);
    assert_true(imp(&a) - imp(&b) > 21200 && imp(&a) - imp(&b) <= 21300);
    assert_true(imp(&tr) >= imp(&a)); /* the energy consumed did not go back */

    uint32_t k = busy_meter(f, 0, 0);
    ft = (struct sim_fault){
        .type = SIM_F_ROLLOVER, .conc = 0, .meter = k, .from = TF, .to = TF + 86400 * 30};
    assert_int_equal(sim_fleet_add_fault(f, &ft), 0);
    sim_fleet_regs(f, 0, k, TF, &a, NULL);
    assert_int_equal(imp(&a) % SIM_REG_WRAP, SIM_REG_WRAP - 1);
    sim_fleet_regs(f, 0, k, TF + 3600, &b, NULL);
    assert_true(imp(&b) % SIM_REG_WRAP < 100000); /* wrapped to a small value */
    sim_fleet_regs(f, 0, k, TF - 3600, &b, NULL);
    assert_true(imp(&b) % SIM_REG_WRAP > SIM_REG_WRAP - 100000);

    uint32_t h = busy_meter(f, 0, 0);
    ft = (struct sim_fault){.type = SIM_F_HOLES,
                            .conc = 0,
                            .meter = h,
                            .from = TF,
                            .to = TF + 86400,
                            .p = 0.3};
    assert_int_equal(sim_fleet_add_fault(f, &ft), 0);
    const struct sim_meter *m = sim_fleet_meter(f, 0, h);
    int lost = 0, lost_out = 0;
    for (int64_t t = TF - 86400; t < TF + 2 * 86400; t += SIM_IVL_S) {
        bool has = sim_fleet_has_record(f, m, t, TF + 3 * 86400);
        if (t >= TF && t < TF + 86400)
            lost += !has;
        else
            lost_out += !has;
    }
    assert_true(lost >= 15 && lost <= 45); /* about 30 % of 96 */
    assert_int_equal(lost_out, 0);
    struct sim_view v;
    sim_fleet_view(f, 0, h, TF + 1000, &v);
    assert_true(v.powered);
    ft.p = 0; /* holes need a share of records lost */
    ft.meter = busy_meter(f, 0, 0);
    assert_true(sim_fleet_add_fault(f, &ft) < 0);
    drop(f);
}

static void default_mix_and_determinism(void **state)
{
    (void)state;
    struct sim_fleet *a = fleet(8, 50, -1), *b = fleet(8, 50, -1);
    assert_int_equal(sim_fleet_default_faults(a), 0);
    assert_int_equal(sim_fleet_default_faults(b), 0);
    assert_int_equal(a->nfaults, b->nfaults);
    int seen[SIM_F_NTYPES] = {0};
    for (size_t i = 0; i < a->nfaults; i++)
        seen[a->faults[i].type]++;
    /* every type but the field behaviours a fault file asks for (holes,
     * decreases, rollovers: docs/amisim.md) */
    for (int t = 0; t < SIM_F_NTYPES; t++)
        assert_true(seen[t] > 0 || t == SIM_F_HOLES || t == SIM_F_DECREASE ||
                    t == SIM_F_ROLLOVER || t == SIM_F_LATENCY || /* fault files only */
                    t == SIM_F_LR_SINGLE || t == SIM_F_LR_TRUNCATE);
    struct sim_regs ra, rb;
    sim_fleet_regs(a, 4, 7, EPOCH + 12345, &ra, NULL);
    sim_fleet_regs(b, 4, 7, EPOCH + 12345, &rb, NULL);
    assert_memory_equal(&ra, &rb, sizeof ra);
    char addr[13];
    uint32_t c, j;
    sim_fleet_meter_addr(4, 7, addr);
    assert_string_equal(addr, "000005000008");
    assert_int_equal(sim_fleet_find(a, addr, &c, &j), 0);
    assert_int_equal(c, 4);
    assert_int_equal(j, 7);
    sim_fleet_meter_addr(0, SIM_DISTRICT_IDX, addr);
    assert_string_equal(addr, "000001000000");
    assert_true(sizeof(struct sim_meter) <= 128);
    drop(a);
    drop(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(healthy_registers_never_decrease),
        cmocka_unit_test(tariffs_advance_only_in_their_period),
        cmocka_unit_test(power_matches_energy_advance),
        cmocka_unit_test(district_equals_customers_plus_loss),
        cmocka_unit_test(fault_stopped_register_frozen_while_current_flows),
        cmocka_unit_test(fault_reversed_negative_current_and_reverse_register),
        cmocka_unit_test(fault_backwards_forward_register_decreases),
        cmocka_unit_test(fault_jumping_exceeds_emax),
        cmocka_unit_test(fault_creeping_advances_without_current),
        cmocka_unit_test(fault_phase_imbalance_shows_in_currents),
        cmocka_unit_test(fault_phase_loss_voltage_near_zero_under_load),
        cmocka_unit_test(fault_clock_drift_moves_meter_clock),
        cmocka_unit_test(fault_theft_under_registers_and_loss_rises),
        cmocka_unit_test(fault_missing_records_and_power_down),
        cmocka_unit_test(default_mix_and_determinism),
        cmocka_unit_test(pv_district_balances_with_export),
        cmocka_unit_test(fault_decrease_rollover_holes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
