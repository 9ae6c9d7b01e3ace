/*
 * sim_fleet — the fleet: parameters, district sums, fault effects.
 *
 * Every answer is computed from the seed at the time asked; nothing is
 * stored per interval. Must not do I/O (spec files are read in sim_faults).
 */
#include "sim_fleet.h"

#include "ah_err.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const fault_names[SIM_F_NTYPES] = {
    "stopped",         "reversed",   "backwards",    "jumping",   "creeping",
    "phase_imbalance", "phase_loss", "clock_drift",  "theft",     "missing",
    "memory_holes",    "decrease",   "rollover",     "lr_single", "lr_truncate",
    "no_reply",        "late_reply", "bad_checksum", "junk",      "truncated",
    "disconnect",      "offline",    "latency",
};

const char *sim_fault_name(int type)
{
    return type >= 0 && type < SIM_F_NTYPES ? fault_names[type] : "?";
}

int sim_fault_parse_type(const char *s)
{
    for (int i = 0; i < SIM_F_NTYPES; i++)
        if (!strcmp(s, fault_names[i]))
            return i;
    return AH_EINVAL;
}

/* 12 decimal digits of v mod 10^12 (a DL/T 645 address, §1.3). */
static void digits12(uint64_t v, char out[13])
{
    for (int i = 11; i >= 0; i--) {
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
    out[12] = '\0';
}

void sim_fleet_meter_addr(uint32_t conc, uint32_t idx, char out[13])
{
    if (conc == SIM_MODBUS_CONC) {
        digits12(900000000000ULL + idx, out);
        return;
    }
    uint64_t v = ((uint64_t)conc + 1) * 1000000ULL;
    if (idx != SIM_DISTRICT_IDX)
        v += (uint64_t)idx + 1;
    digits12(v, out);
}

void sim_fleet_conc_addr(uint32_t conc, char out[13])
{
    digits12((uint64_t)conc + 1, out);
}

int sim_fleet_find(const struct sim_fleet *f, const char digits[13], uint32_t *conc,
                   uint32_t *idx)
{
    uint64_t v = 0;
    for (int i = 0; i < 12; i++) {
        if (digits[i] < '0' || digits[i] > '9')
            return AH_ENOENT;
        v = v * 10 + (uint64_t)(digits[i] - '0');
    }
    uint64_t c = v / 1000000ULL, j = v % 1000000ULL;
    if (c == 0 || c > f->nconc)
        return AH_ENOENT;
    *conc = (uint32_t)(c - 1);
    if (j == 0) {
        *idx = SIM_DISTRICT_IDX;
        return AH_OK;
    }
    if (j > f->per)
        return AH_ENOENT;
    *idx = (uint32_t)(j - 1);
    return AH_OK;
}

const struct sim_meter *sim_fleet_meter(const struct sim_fleet *f, uint32_t conc,
                                        uint32_t idx)
{
    if (conc == SIM_MODBUS_CONC)
        return idx < f->nmb ? &f->mb[idx] : NULL;
    if (conc >= f->nconc)
        return NULL;
    if (idx == SIM_DISTRICT_IDX)
        return &f->conc[conc].district;
    if (idx >= f->per)
        return NULL;
    return &f->meters[(size_t)conc * f->per + idx];
}

static float pv_local_share(const struct sim_fleet *f, uint32_t k, uint32_t loss_ppm);

/* The Modbus meters: a small workshop on a DIN-rail meter, direct 10(100)
 * A, drawn from the customer model until one fits. */
static void modbus_meters_init(struct sim_fleet *f, uint64_t seed)
{
    for (uint32_t i = 0; i < f->nmb; i++) {
        struct sim_meter *m = &f->mb[i];
        uint32_t j = 0;
        do
            sim_meter_init_customer(m, seed ^ 0x4D42ULL, SIM_MODBUS_CONC, i + j++ * 1000);
        while (m->kind != SIM_COMMERCIAL || m->ct != 1);
        m->index = i;
        m->pv = false;
    }
}

/* District k's customer meters; returns their mean primary power, W. */
static double customers_init(struct sim_fleet *f, const struct sim_fleet_opts *o,
                             uint32_t k)
{
    double sum_w = 0;
    for (uint32_t j = 0; j < o->per; j++) {
        struct sim_meter *m = &f->meters[(size_t)k * o->per + j];
        sim_meter_init_customer(m, o->seed, k, j);
        if (o->dlt1997_every && (j + 1) % o->dlt1997_every == 0)
            m->proto = 1997;
        /* a PV district: 40 % of the homes are prosumers exporting
         * 1.5 × what they import, enough to matter in the balance */
        if (o->pv_every && k % o->pv_every == o->pv_every - 1 &&
            m->kind == SIM_RESIDENTIAL &&
            sim_hash3(o->seed, k, (uint64_t)j ^ 0x5056) % 100 < 40)
            sim_meter_set_pv(m, 1.5);
        double day = 0;
        for (int t = 0; t < SIM_TARIFFS; t++)
            day += m->mean[SIM_IMP][t];
        sum_w += day * 10.0 / 24.0 * m->ct * m->pt; /* 0.01 kWh/day → W */
    }
    return sum_w;
}

/* District k's transformer meter, after its customers: three-phase, its
 * CT sized for their mean power sum_w (W). */
static void district_init(struct sim_fleet *f, const struct sim_fleet_opts *o, uint32_t k,
                          double sum_w)
{
    struct sim_meter *d = &f->conc[k].district;
    memset(d, 0, sizeof *d);
    d->seed = sim_hash3(o->seed, k, 0xD15D);
    d->conc = k;
    d->index = SIM_DISTRICT_IDX;
    d->kind = SIM_DISTRICT;
    d->wiring = SIM_3P4W;
    d->proto = 2007;
    d->fault = -1;
    d->pt = 1;
    d->un_dv = 2200;
    d->ib_da = 15;
    d->imax_da = 60;
    d->tanphi_milli = 330;
    d->pw[0] = 34;
    d->pw[1] = 33;
    d->pw[2] = 33;
    /* CT sized so the peak (~3 × mean) stays under half of Imax */
    static const uint16_t cts[] = {20, 40, 60, 100, 160, 200, 300, 400, 600, 800, 1000};
    d->ct = cts[sizeof cts / sizeof cts[0] - 1];
    for (size_t i = 0; i < sizeof cts / sizeof cts[0]; i++)
        if (sum_w * 3.0 < 0.5 * 220.0 * 6.0 * 3.0 * cts[i]) {
            d->ct = cts[i];
            break;
        }
    for (int t = 0; t < SIM_TARIFFS; t++)
        d->e0[SIM_IMP][t] = (uint32_t)(sim_hash3(d->seed, 11, (uint64_t)t) % 100000u);
    /* PV export of the district's prosumers flows back through the
     * transformer: its meter registers reverse energy by design and is
     * bidirectional in the inventory (docs/amisim.md) */
    for (uint32_t j = 0; j < o->per && !d->pv; j++)
        d->pv = f->meters[(size_t)k * o->per + j].pv;
}

int sim_fleet_init(struct sim_fleet *f, const struct sim_fleet_opts *o)
{
    memset(f, 0, sizeof *f);
    if (o->nconc == 0 || o->nconc > 99999 || o->per > 999998)
        return AH_EINVAL;
    f->seed = o->seed;
    f->tz_s = o->tz_s;
    f->nconc = o->nconc;
    f->per = o->per;
    f->history_days = o->history_days ? o->history_days : 10;
    f->dlt1997_every = o->dlt1997_every;
    f->no_dt_every = o->no_dt_every;
    f->pv_every = o->pv_every;
    f->epoch_s = o->epoch_s;
    f->meters = calloc((size_t)o->nconc * (o->per ? o->per : 1), sizeof *f->meters);
    f->conc = calloc(o->nconc, sizeof *f->conc);
    if (o->modbus_count)
        f->mb = calloc(o->modbus_count, sizeof *f->mb);
    if (!f->meters || !f->conc || (o->modbus_count && !f->mb)) {
        sim_fleet_free(f);
        return AH_ENOMEM;
    }
    f->nmb = o->modbus_count;
    modbus_meters_init(f, o->seed);
    for (uint32_t k = 0; k < o->nconc; k++) {
        struct sim_conc *c = &f->conc[k];
        district_init(f, o, k, customers_init(f, o, k));
        c->loss_ppm = o->loss_ppm >= 0
                          ? (uint32_t)o->loss_ppm
                          : 20000u + (uint32_t)(sim_hash3(o->seed, k, 0x1055) % 40001u);
        /* neighbours use a share of the export only in PV districts: in
         * the others it all flows up through the transformer */
        c->pv_local = o->pv_every && k % o->pv_every == o->pv_every - 1 && c->district.pv
                          ? pv_local_share(f, k, c->loss_ppm)
                          : 0.0f;
        for (int i = 0; i < 8; i++)
            c->link_faults[i] = -1;
    }
    return AH_OK;
}

void sim_fleet_free(struct sim_fleet *f)
{
    free(f->meters);
    free(f->conc);
    free(f->faults);
    free(f->mb);
    f->mb = NULL;
    f->nmb = 0;
    f->meters = NULL;
    f->conc = NULL;
    f->faults = NULL;
    f->nfaults = f->capfaults = 0;
}

int sim_fleet_add_fault(struct sim_fleet *f, const struct sim_fault *ft)
{
    if (ft->type >= SIM_F_NTYPES || ft->conc >= f->nconc || ft->to <= ft->from)
        return AH_EINVAL;
    struct sim_meter *m = NULL;
    if (ft->type < SIM_F_FIRST_LINK) {
        m = (struct sim_meter *)sim_fleet_meter(f, ft->conc, ft->meter);
        if (!m || m->fault >= 0)
            return AH_EINVAL; /* unknown meter, or one fault per meter */
        if (ft->type == SIM_F_IMBALANCE && m->wiring != SIM_3P4W)
            return AH_EINVAL;
        if ((ft->type == SIM_F_PHASE_LOSS || ft->type == SIM_F_IMBALANCE) &&
            (ft->arg < 0 || ft->arg > 2 || (m->wiring == SIM_1P2W && ft->arg != 0)))
            return AH_EINVAL;
        if (ft->type == SIM_F_THEFT && (ft->p < 0 || ft->p >= 1))
            return AH_EINVAL;
        if (ft->type == SIM_F_HOLES && (ft->p <= 0 || ft->p > 1))
            return AH_EINVAL;
        if (ft->type == SIM_F_DECREASE && !(ft->p > 0 && ft->p < 100000))
            return AH_EINVAL;
        if (ft->type == SIM_F_LR_TRUNCATE && (ft->arg < 1 || ft->arg > 255))
            return AH_EINVAL;
        if ((ft->type == SIM_F_DECREASE || ft->type == SIM_F_ROLLOVER) &&
            m->kind == SIM_DISTRICT)
            return AH_EINVAL;
    } else {
        if (ft->p < 0 || ft->p > 1)
            return AH_EINVAL;
        if (ft->type == SIM_F_LATENCY && (ft->arg < 0 || ft->arg2 < ft->arg))
            return AH_EINVAL;
        int n = 0;
        while (n < 7 && f->conc[ft->conc].link_faults[n] >= 0)
            n++;
        if (n >= 7)
            return AH_EINVAL;
    }
    if (f->nfaults == f->capfaults) {
        size_t cap = f->capfaults ? f->capfaults * 2 : 64;
        struct sim_fault *p = realloc(f->faults, cap * sizeof *p);
        if (!p)
            return AH_ENOMEM;
        f->faults = p;
        f->capfaults = cap;
    }
    f->faults[f->nfaults] = *ft;
    if (m) {
        m->fault = (int32_t)f->nfaults;
    } else {
        int n = 0;
        while (f->conc[ft->conc].link_faults[n] >= 0)
            n++;
        f->conc[ft->conc].link_faults[n] = (int32_t)f->nfaults;
    }
    f->nfaults++;
    return AH_OK;
}

const struct sim_fault *sim_fleet_meter_fault(const struct sim_fleet *f,
                                              const struct sim_meter *m)
{
    return m->fault >= 0 ? &f->faults[m->fault] : NULL;
}

const struct sim_fault *sim_fleet_link_fault(const struct sim_fleet *f, uint32_t conc,
                                             int type, int64_t t)
{
    const int32_t *lf = f->conc[conc].link_faults;
    for (int i = 0; i < 8 && lf[i] >= 0; i++) {
        const struct sim_fault *ft = &f->faults[lf[i]];
        if (ft->type == type && t >= ft->from && t < ft->to)
            return ft;
    }
    return NULL;
}

/* ---- registers --------------------------------------------------------- */

/* The share of the prosumers' export that neighbours use inside a PV
 * district (never reaching the transformer), as large as keeps the
 * district meter's forward register from ever running backwards: half the
 * smallest ratio of the district's import (grossed up by the loss) to its
 * export over any quarter hour and tariff of the days around the epoch,
 * at most 0.8. */
static float pv_local_share(const struct sim_fleet *f, uint32_t k, uint32_t loss_ppm)
{
    double g = 1e6 / (1e6 - (double)loss_ppm), best = 1e18;
    int32_t d0 = sim_local_day(f->epoch_s, f->tz_s);
    static struct sim_day day; /* 6 KB: not on the stack */
    for (int32_t d = d0 - 4; d <= d0 + 10; d++) {
        double di[SIM_TARIFFS][SIM_IPD], dx[SIM_TARIFFS][SIM_IPD];
        memset(di, 0, sizeof di);
        memset(dx, 0, sizeof dx);
        for (uint32_t j = 0; j < f->per; j++) {
            const struct sim_meter *m = &f->meters[(size_t)k * f->per + j];
            sim_model_day(m, d, &day);
            double mul = (double)m->ct * m->pt;
            for (int t = 0; t < SIM_TARIFFS; t++)
                for (int i = 0; i < SIM_IPD; i++) {
                    di[t][i] +=
                        (double)(day.c[SIM_IMP][t][i + 1] - day.c[SIM_IMP][t][i]) * mul;
                    dx[t][i] +=
                        (double)(day.c[SIM_EXP][t][i + 1] - day.c[SIM_EXP][t][i]) * mul;
                }
        }
        for (int t = 0; t < SIM_TARIFFS; t++)
            for (int i = 0; i < SIM_IPD; i++)
                if (dx[t][i] > 0 && g * di[t][i] / dx[t][i] < best)
                    best = g * di[t][i] / dx[t][i];
    }
    double phi = best / 2;
    return (float)(phi > 0.8 ? 0.8 : phi);
}

static void customer_truth(const struct sim_fleet *f, const struct sim_meter *m,
                           int64_t t, struct sim_regs *shown, struct sim_regs *truth);

/* The district meter's healthy reading, from Σ customers' true primary
 * energy since the base day, on its own CT, so that the district balances
 * with a loss of exactly loss_ppm of its supply (docs/amisim.md): with I
 * the customers' import, X their PV export, λ the loss and φ the share of
 * X used by neighbours inside the district,
 *   forward = I / (1 − λ) − φ X,   reverse = (1 − λ)(1 − φ) X,
 * so supply = forward + X, sales = I + reverse, supply − sales = λ supply. */
static void district_model(const struct sim_fleet *f, uint32_t k, int64_t t,
                           struct sim_regs *out)
{
    const struct sim_conc *c = &f->conc[k];
    const struct sim_meter *d = &c->district;
    double sum[2][SIM_TARIFFS];
    memset(sum, 0, sizeof sum);
    for (uint32_t j = 0; j < f->per; j++) {
        const struct sim_meter *m = &f->meters[(size_t)k * f->per + j];
        struct sim_regs tr;
        customer_truth(f, m, t, NULL, &tr);
        double mul = (double)m->ct * m->pt;
        for (int dir = 0; dir < 2; dir++)
            for (int i = 0; i < SIM_TARIFFS; i++)
                sum[dir][i] += (double)(tr.e[dir][i] - m->e0[dir][i]) * mul;
    }
    double lam = (double)c->loss_ppm / 1e6, phi = c->pv_local;
    for (int i = 0; i < SIM_TARIFFS; i++) {
        out->e[SIM_IMP][i] =
            d->e0[SIM_IMP][i] +
            (int64_t)floor((sum[SIM_IMP][i] / (1.0 - lam) - phi * sum[SIM_EXP][i]) /
                           d->ct);
        out->e[SIM_EXP][i] =
            d->e0[SIM_EXP][i] +
            (int64_t)floor((1.0 - lam) * (1.0 - phi) * sum[SIM_EXP][i] / d->ct);
    }
    sim_regs_fill_q(d, out);
}

static void model_regs(const struct sim_fleet *f, const struct sim_meter *m, int64_t t,
                       struct sim_regs *out)
{
    if (m->kind == SIM_DISTRICT)
        district_model(f, m->conc, t, out);
    else
        sim_model_at(m, t, f->tz_s, out);
}

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Creep: 0.01 kWh per elapsed interval of the window, in that interval's
 * tariff, so a creeping meter advances with no current at all. */
static void add_creep(const struct sim_fleet *f, const struct sim_fault *ft, int64_t t,
                      struct sim_regs *r)
{
    int64_t end = clamp64(t, ft->from, ft->to);
    int64_t first = (ft->from + SIM_IVL_S - 1) / SIM_IVL_S * SIM_IVL_S;
    for (int64_t b = first + SIM_IVL_S; b <= end; b += SIM_IVL_S) {
        int32_t day = sim_local_day(b - 1, f->tz_s);
        int i = (int)((b - 1 + f->tz_s - (int64_t)day * 86400) / SIM_IVL_S);
        r->e[SIM_IMP][sim_tariff_of(i)] += 1;
    }
}

/* Rollover: a healthy meter whose import total stands so high that it
 * passes 999999.99 at `from`: offset in the first tariff register. */
static void rollover_offset(const struct sim_fleet *f, const struct sim_meter *m,
                            const struct sim_fault *ft, struct sim_regs *shown)
{
    struct sim_regs a;
    model_regs(f, m, ft->from, &a);
    shown->e[SIM_IMP][0] += SIM_REG_WRAP - 1 - sim_regs_total(&a, SIM_IMP);
    shown->e[SIM_IMP][0] =
        (shown->e[SIM_IMP][0] % SIM_REG_WRAP + SIM_REG_WRAP) % SIM_REG_WRAP;
    sim_regs_fill_q(m, shown);
}

/* Decrease: the import total steps back by p kWh at `from` and stays there
 * (a register fault, 示度下降), taken from the tariffs in order. */
static void step_back(const struct sim_meter *m, const struct sim_fault *ft,
                      struct sim_regs *shown)
{
    int64_t back = (int64_t)llround(ft->p * 100.0);
    for (int k = 0; k < SIM_TARIFFS && back > 0; k++) {
        int64_t x = shown->e[SIM_IMP][k] < back ? shown->e[SIM_IMP][k] : back;
        shown->e[SIM_IMP][k] -= x;
        back -= x;
    }
    sim_regs_fill_q(m, shown);
}

/* Jumping: p kWh more from `from` on, in the tariff of that interval. */
static void jump(const struct sim_fleet *f, const struct sim_meter *m,
                 const struct sim_fault *ft, struct sim_regs *shown)
{
    int32_t day = sim_local_day(ft->from, f->tz_s);
    int i = (int)((ft->from + f->tz_s - (int64_t)day * 86400) / SIM_IVL_S);
    shown->e[SIM_IMP][sim_tariff_of(i)] += (int64_t)llround(ft->p * 100.0);
    sim_regs_fill_q(m, shown);
}

/* The faults that lose energy inside [from, to): of the energy w the
 * healthy meter registered in the window up to t, the shown registers (and
 * for supply faults the true ones) lose what each fault does not count. */
static void window_loss(const struct sim_fleet *f, const struct sim_meter *m,
                        const struct sim_fault *ft, int64_t t, const struct sim_regs *R,
                        struct sim_regs *shown, struct sim_regs *truth)
{
    struct sim_regs a, b;
    model_regs(f, m, ft->from, &a);
    if (t >= ft->to)
        model_regs(f, m, ft->to, &b);
    else
        b = *R;
    for (int dir = 0; dir < 2; dir++)
        for (int k = 0; k < SIM_TARIFFS; k++) {
            int64_t x = b.e[dir][k] - a.e[dir][k];
            switch (ft->type) {
            case SIM_F_STOPPED:
                shown->e[dir][k] -= x;
                break;
            case SIM_F_CREEPING:
            case SIM_F_MISSING: /* nothing consumed while the supply is off */
                shown->e[dir][k] -= x;
                truth->e[dir][k] -= x;
                break;
            case SIM_F_THEFT:
                shown->e[dir][k] -= (int64_t)floor((1.0 - ft->p) * (double)x);
                break;
            case SIM_F_PHASE_LOSS:
                shown->e[dir][k] -= x * m->pw[ft->arg] / 100;
                break;
            case SIM_F_REVERSED:
                if (dir == SIM_IMP) {
                    shown->e[SIM_IMP][k] -= x;
                    shown->e[SIM_EXP][k] += x;
                }
                break;
            case SIM_F_BACKWARDS:
                if (dir == SIM_IMP) {
                    shown->e[SIM_IMP][k] -= 2 * x;
                    if (shown->e[SIM_IMP][k] < 0)
                        shown->e[SIM_IMP][k] = 0;
                }
                break;
            default:
                break;
            }
        }
    if (ft->type == SIM_F_CREEPING)
        add_creep(f, ft, t, shown);
    sim_regs_fill_q(m, shown);
    sim_regs_fill_q(m, truth);
}

/* The registers a meter with fault ft shows at t (and the true ones), from
 * its healthy registers R. */
static void apply_fault(const struct sim_fleet *f, const struct sim_meter *m,
                        const struct sim_fault *ft, int64_t t, const struct sim_regs *R,
                        struct sim_regs *shown, struct sim_regs *truth)
{
    *shown = *R;
    *truth = *R;
    if (ft && ft->type == SIM_F_ROLLOVER) {
        rollover_offset(f, m, ft, shown);
        return;
    }
    if (!ft || t <= ft->from)
        return;
    switch (ft->type) {
    case SIM_F_DECREASE:
        step_back(m, ft, shown);
        break;
    case SIM_F_JUMPING:
        jump(f, m, ft, shown);
        break;
    case SIM_F_HOLES:
    case SIM_F_IMBALANCE:
    case SIM_F_CLOCK_DRIFT:
        break; /* memory, phase shares and clock: the registers are right */
    default:
        window_loss(f, m, ft, t, R, shown, truth);
        break;
    }
}

static void wrap_regs(struct sim_regs *r)
{
    for (int dir = 0; dir < 2; dir++)
        for (int k = 0; k < SIM_TARIFFS; k++)
            r->e[dir][k] %= SIM_REG_WRAP;
    for (int i = 0; i < 4; i++)
        r->q[i] %= SIM_REG_WRAP;
}

static void customer_truth(const struct sim_fleet *f, const struct sim_meter *m,
                           int64_t t, struct sim_regs *shown, struct sim_regs *truth)
{
    struct sim_regs R, s;
    sim_model_at(m, t, f->tz_s, &R);
    apply_fault(f, m, sim_fleet_meter_fault(f, m), t, &R, shown ? shown : &s, truth);
}

void sim_fleet_regs(const struct sim_fleet *f, uint32_t conc, uint32_t idx, int64_t t,
                    struct sim_regs *shown, struct sim_regs *truth)
{
    const struct sim_meter *m = sim_fleet_meter(f, conc, idx);
    struct sim_regs R, s, tr;
    model_regs(f, m, t, &R);
    apply_fault(f, m, sim_fleet_meter_fault(f, m), t, &R, &s, &tr);
    wrap_regs(&s);
    if (shown)
        *shown = s;
    if (truth)
        *truth = tr;
}

/* ---- instantaneous values ---------------------------------------------- */

static bool in_window(const struct sim_fault *ft, int64_t t)
{
    return ft && t >= ft->from && t < ft->to;
}

/* True average power (W, secondary, import − export) of the interval
 * holding t, with the customer's own load faults applied. */
static int64_t customer_power_w(const struct sim_fleet *f, const struct sim_meter *m,
                                int64_t t)
{
    const struct sim_fault *ft = sim_fleet_meter_fault(f, m);
    if (ft && (ft->type == SIM_F_CREEPING || ft->type == SIM_F_MISSING) &&
        in_window(ft, t))
        return 0;
    return sim_model_power_w(m, t, f->tz_s);
}

int64_t sim_fleet_clock_offset(const struct sim_fleet *f, const struct sim_meter *m,
                               int64_t t)
{
    const struct sim_fault *ft = sim_fleet_meter_fault(f, m);
    if (!ft || ft->type != SIM_F_CLOCK_DRIFT || !in_window(ft, t))
        return 0;
    return ft->arg + (int64_t)floor(ft->p * (double)(t - ft->from) / 86400.0);
}

/* True power (W secondary) per phase of the interval holding t: a
 * district's is its customers' (primary, through its own CT, grossed up by
 * the loss); a customer's is split by its phase shares, which a phase
 * imbalance fault skews. */
static void phase_powers(const struct sim_fleet *f, uint32_t conc,
                         const struct sim_meter *m, const struct sim_fault *ft, int64_t t,
                         double pp[3])
{
    if (m->kind == SIM_DISTRICT) {
        const struct sim_conc *c = &f->conc[conc];
        double g = 1e6 / (1e6 - (double)c->loss_ppm) / m->ct;
        for (uint32_t j = 0; j < f->per; j++) {
            const struct sim_meter *cm = &f->meters[(size_t)conc * f->per + j];
            double p = (double)customer_power_w(f, cm, t) * cm->ct * cm->pt * g;
            if (cm->wiring == SIM_1P2W)
                pp[cm->phase] += p;
            else
                for (int ph = 0; ph < 3; ph++)
                    pp[ph] += p * cm->pw[ph] / 100.0;
        }
        return;
    }
    double p = (double)customer_power_w(f, m, t);
    uint8_t pw[3] = {m->pw[0], m->pw[1], m->pw[2]};
    if (ft && ft->type == SIM_F_IMBALANCE && in_window(ft, t)) {
        pw[ft->arg] = 75;
        pw[(ft->arg + 1) % 3] = 18;
        pw[(ft->arg + 2) % 3] = 7;
    }
    for (int ph = 0; ph < (m->wiring == SIM_3P4W ? 3 : 1); ph++)
        pp[ph] = p * pw[ph] / 100.0;
}

/* The measured side: what a faulty meter sees of the true power. */
struct measured {
    double sign, frac; /* reversed flow, share the meter sees (theft) */
    int lost;          /* phase without voltage, -1: none */
};

static struct measured measured_of(const struct sim_fault *ft, int64_t t)
{
    struct measured ms = {1, 1, -1};
    if (ft && in_window(ft, t)) {
        if (ft->type == SIM_F_REVERSED || ft->type == SIM_F_BACKWARDS)
            ms.sign = -1;
        if (ft->type == SIM_F_THEFT)
            ms.frac = ft->p;
        if (ft->type == SIM_F_PHASE_LOSS)
            ms.lost = ft->arg;
    }
    return ms;
}

static double power_factor(const struct sim_meter *m)
{
    double tan = m->tanphi_milli / 1000.0;
    return 1.0 / sqrt(1.0 + tan * tan);
}

/* Phase ph's voltage, current, P, Q, power factor and status bits from its
 * true power p_true; *p and *q are the measured P and Q for the totals. */
static void view_phase(const struct sim_meter *m, int ph, double p_true,
                       const struct measured *ms, uint64_t minute, struct sim_view *v,
                       double *p_out, double *q_out)
{
    double tan = m->tanphi_milli / 1000.0, pf = power_factor(m);
    double un = m->un_dv / 10.0;
    /* the supply voltage moves the three phases together (±2 %); each
     * phase differs by its own load's drop (±1 %), so a healthy supply
     * stays within GB/T 15543's 2 % unbalance */
    double dv =
        ((double)(sim_hash3(m->seed, minute, 3) % 401) - 200.0) / 10000.0 +
        ((double)(sim_hash3(m->seed, minute, (uint64_t)ph) % 201) - 100.0) / 10000.0;
    double volt = un * (1.0 + dv);
    double cur = p_true / (volt * pf) * ms->frac * ms->sign;
    double p = p_true * ms->frac * ms->sign;
    if (ph == ms->lost) {
        volt = un * 0.02; /* 失压: a few volts left on the phase */
        p = 0;
    }
    double q = fabs(p) * tan * (p < 0 ? -1 : 1);
    v->volt_dv[ph] = (int32_t)lround(volt * 10.0);
    v->curr_ma[ph] = (int32_t)lround(cur * 1000.0);
    v->p_w[1 + ph] = (int32_t)lround(p);
    v->q_var[1 + ph] = (int32_t)lround(q);
    v->pf_milli[1 + ph] = (int32_t)lround(pf * 1000.0) * (p < 0 ? -1 : 1);
    if (p < 0) {
        v->status[1] |= (uint16_t)(1u << ph); /* SW2 D0..D2 */
        if (!m->pv)
            v->status[3 + ph] |= (uint16_t)(1u << 6); /* SW4..6 D6 reverse flow */
    }
    if (q < 0)
        v->status[1] |= (uint16_t)(1u << (4 + ph));
    if (ph == ms->lost && fabs(cur) > 0.001)
        v->status[3 + ph] |= 1u; /* D0 loss of voltage under current */
    *p_out = p;
    *q_out = q;
}

/* SW7 D3: the currents of a loaded three-phase meter differ by over 30 %. */
static bool current_imbalance(const struct sim_meter *m, const struct sim_view *v)
{
    double imax = 0, imin = 1e18;
    for (int ph = 0; ph < 3; ph++) {
        double a = fabs((double)v->curr_ma[ph]);
        imax = a > imax ? a : imax;
        imin = a < imin ? a : imin;
    }
    return imax >= m->ib_da * 10.0 && (imax - imin) / imax > 0.3;
}

void sim_fleet_view(const struct sim_fleet *f, uint32_t conc, uint32_t idx, int64_t t,
                    struct sim_view *v)
{
    const struct sim_meter *m = sim_fleet_meter(f, conc, idx);
    const struct sim_fault *ft = sim_fleet_meter_fault(f, m);
    memset(v, 0, sizeof *v);
    v->powered = !(ft && ft->type == SIM_F_MISSING && in_window(ft, t));
    sim_fleet_regs(f, conc, idx, t, &v->regs, NULL);
    v->clock_s = t + f->tz_s + sim_fleet_clock_offset(f, m, t);
    double pp[3] = {0, 0, 0};
    phase_powers(f, conc, m, ft, t, pp);
    if (!v->powered)
        return;
    struct measured ms = measured_of(ft, t);
    int nph = m->wiring == SIM_3P4W ? 3 : 1;
    /* reversed CT, and anything later than t, must not move a register
     * backwards: minute-level voltage noise only */
    uint64_t minute = (uint64_t)(t / 60);
    double ptot = 0, qtot = 0;
    for (int ph = 0; ph < nph; ph++) {
        double p, q;
        view_phase(m, ph, pp[ph], &ms, minute, v, &p, &q);
        ptot += p;
        qtot += q;
    }
    v->p_w[0] = (int32_t)lround(ptot);
    v->q_var[0] = (int32_t)lround(qtot);
    v->pf_milli[0] = (int32_t)lround(power_factor(m) * 1000.0) * (ptot < 0 ? -1 : 1);
    if (ptot < 0)
        v->status[0] |= 1u << 4;
    if (qtot < 0)
        v->status[0] |= 1u << 5;
    if (nph == 3 && current_imbalance(m, v))
        v->status[6] |= 1u << 3; /* SW7 D3 current imbalance */
    v->freq_chz = 5000 + (int32_t)(sim_hash3(m->seed ^ 0xF, minute, 0) % 11) - 5;
}

/* ---- memory ------------------------------------------------------------ */

bool sim_fleet_has_record(const struct sim_fleet *f, const struct sim_meter *m, int64_t t,
                          int64_t now)
{
    if (t % SIM_IVL_S != 0 || t > now || t <= now - (int64_t)f->history_days * 86400)
        return false;
    const struct sim_fault *ft = sim_fleet_meter_fault(f, m);
    if (ft && ft->type == SIM_F_MISSING && in_window(ft, t))
        return false;
    /* memory holes: a share p of the records of [from, to) lost, chosen
     * per interval by the meter's seed (the daily freeze is kept) */
    if (ft && ft->type == SIM_F_HOLES && in_window(ft, t) &&
        (double)(sim_hash3(m->seed, (uint64_t)t, 0x401E) % 10000) < ft->p * 10000.0)
        return false;
    return true;
}

unsigned sim_fleet_events(const struct sim_fleet *f, const struct sim_meter *m, int kind,
                          int phase, int64_t now, struct sim_event *out, unsigned max)
{
    struct sim_event ev[4];
    unsigned n = 0;
    const struct sim_fault *ft = sim_fleet_meter_fault(f, m);
    if (kind == SIM_EV_POWER_DOWN) {
        /* a few outages before the epoch, so counters are not all zero */
        unsigned hist = (unsigned)(sim_hash(m->seed ^ 0xE1) % 3);
        for (unsigned i = 0; i < hist; i++) {
            int64_t s = f->epoch_s - (int64_t)(i + 1) * 86400 *
                                         (int64_t)(9 + sim_hash3(m->seed, 0xE2, i) % 20);
            s -= s % 60;
            ev[n].start = s;
            ev[n].end = s + 60 * (int64_t)(20 + sim_hash3(m->seed, 0xE3, i) % 180);
            n++;
        }
        if (ft && ft->type == SIM_F_MISSING && ft->from <= now) {
            /* newest first */
            memmove(&ev[1], &ev[0], n * sizeof ev[0]);
            ev[0].start = ft->from;
            ev[0].end = ft->to <= now ? ft->to : 0;
            n++;
        }
    } else if (kind == SIM_EV_COVER_OPEN) {
        if (ft && ft->type == SIM_F_THEFT && ft->from <= now) {
            ev[0].start = ft->from;
            ev[0].end = ft->from + 600 <= now ? ft->from + 600 : 0;
            n = 1;
        }
    } else if (kind == SIM_EV_PHASE_LOSS) {
        if (ft && ft->type == SIM_F_PHASE_LOSS && ft->from <= now &&
            (phase < 0 || phase == ft->arg)) {
            ev[0].start = ft->from;
            ev[0].end = ft->to <= now ? ft->to : 0;
            n = 1;
        }
    }
    for (unsigned i = 0; i < n && i < max; i++) {
        out[i] = ev[i];
        sim_fleet_regs(f, m->conc, m->index, ev[i].start, &out[i].before, NULL);
        sim_fleet_regs(f, m->conc, m->index, ev[i].end ? ev[i].end : now, &out[i].after,
                       NULL);
    }
    return n;
}
