/*
 * sim_model — seeded meter model (see sim_model.h for the scheme).
 *
 * Must not do I/O, allocate, log or read a clock: everything is a function
 * of the parameters and the time passed in. The per-thread memo of day
 * tables below only saves recomputation; it never changes an answer.
 */
#include "sim_model.h"

#include <math.h>
#include <string.h>

/* Day 0 of every register: 2020-01-01 local. Before it registers hold E0. */
#define SIM_BASE_DAY 18262

uint64_t sim_hash(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

uint64_t sim_hash3(uint64_t a, uint64_t b, uint64_t c)
{
    return sim_hash(sim_hash(sim_hash(a) ^ b) ^ c);
}

/* uniform in [0, 1) */
static double unit(uint64_t h)
{
    return (double)(h >> 11) * (1.0 / 9007199254740992.0);
}

int32_t sim_local_day(int64_t t_utc, int32_t tz_s)
{
    int64_t l = t_utc + tz_s;
    int64_t d = l / 86400;
    if (l % 86400 < 0)
        d--;
    return (int32_t)d;
}

/* SGCC-style four-period table, T1 尖 sharp, T2 峰 peak, T3 平 flat,
 * T4 谷 valley; one entry per local hour. */
static const uint8_t tariff_hour[24] = {
    3, 3, 3, 3, 3, 3, 3, 3, /* 00-08 valley */
    1, 1,                   /* 08-10 peak */
    0,                      /* 10-11 sharp */
    1,                      /* 11-12 peak */
    2, 2, 2, 2, 2,          /* 12-17 flat */
    1, 1,                   /* 17-19 peak */
    0, 0,                   /* 19-21 sharp */
    1,                      /* 21-22 peak */
    2,                      /* 22-23 flat */
    3,                      /* 23-24 valley */
};

int sim_tariff_of(int interval)
{
    return tariff_hour[(interval / 4) % 24];
}

/* Hourly load shapes, per mille of the day's peak hour. */
static const uint16_t shape_res_h[24] = {
    300, 250, 220, 210, 220, 300, 520, 700,  600, 450, 400, 420,
    480, 420, 380, 400, 480, 650, 900, 1000, 950, 800, 600, 420,
};
static const uint16_t shape_com_h[24] = {
    150, 140, 140,  140, 150, 180, 250, 450, 800, 950, 1000, 1000,
    900, 950, 1000, 980, 950, 850, 650, 500, 400, 300, 220,  180,
};
/* Clear-sky PV bell, 07:00–18:00. */
static const uint16_t shape_pv_h[24] = {
    0,    0,   0,   0,   0,   0,   0, 40, 200, 450, 700, 900,
    1000, 950, 800, 600, 350, 120, 0, 0,  0,   0,   0,   0,
};
/* Weekly factors (Sunday first), each set sums to 7. */
static const double week_res[7] = {1.125, 0.95, 0.95, 0.95, 0.95, 0.95, 1.125};
static const double week_com[7] = {0.55, 1.15, 1.15, 1.15, 1.15, 1.15, 0.70};

static uint16_t shape96(const uint16_t *h24, int i)
{
    /* linear between hour centres keeps the quarter-hour profile smooth */
    int h = i / 4, q = i % 4;
    int nx = (h + 1) % 24;
    int v = (h24[h] * (4 - q) + h24[nx] * q) / 4;
    return (uint16_t)v;
}

static const uint16_t *shape_of(const struct sim_meter *m, int dir)
{
    if (dir == SIM_EXP)
        return shape_pv_h;
    return m->kind == SIM_COMMERCIAL ? shape_com_h : shape_res_h;
}

static const double *week_of(const struct sim_meter *m)
{
    return m->kind == SIM_COMMERCIAL ? week_com : week_res;
}

static int wday_of(int32_t day)
{
    int w = (int)((day + 4) % 7); /* 1970-01-01 was a Thursday */
    return w < 0 ? w + 7 : w;
}

/* Σ weekly factors over days [BASE, day). */
static double week_cum(const double *f, int32_t day)
{
    if (day <= SIM_BASE_DAY)
        return 0;
    int64_t n = day - SIM_BASE_DAY;
    double s = (double)(n / 7) * 7.0;
    int w0 = wday_of(SIM_BASE_DAY);
    for (int64_t j = 0; j < n % 7; j++)
        s += f[(w0 + j) % 7];
    return s;
}

/* Register (one tariff, one direction) at local midnight starting `day`. */
static int64_t midnight_reg(const struct sim_meter *m, int dir, int k, int32_t day)
{
    double mean = m->mean[dir][k];
    int64_t r = m->e0[dir][k];
    if (day <= SIM_BASE_DAY || mean <= 0)
        return r;
    const double *f = week_of(m);
    double fmin = 10;
    for (int i = 0; i < 7; i++)
        fmin = f[i] < fmin ? f[i] : fmin;
    /* Noise bound H ≤ mean·fmin/2 keeps every day's advance ≥ 0. */
    int64_t hmax = (int64_t)floor(0.5 * mean * fmin);
    int64_t h = 0;
    if (hmax > 0)
        h = (int64_t)(sim_hash3(m->seed, (uint64_t)(dir * 8 + k), (uint64_t)day) %
                      (uint64_t)(hmax + 1));
    return r + (int64_t)floor(mean * week_cum(f, day)) + h;
}

/* Integer weight of interval i of `day`: shape × noise (0.6..1.4). A PV
 * prosumer imports little while the sun shines. */
static uint32_t weight(const struct sim_meter *m, int dir, int32_t day, int i)
{
    uint32_t s = shape96(shape_of(m, dir), i);
    if (s == 0)
        return 0;
    uint64_t h =
        sim_hash3(m->seed ^ 0x5157ULL, (uint64_t)(dir * 1000 + i), (uint64_t)day);
    uint32_t noise = 600u + (uint32_t)(h % 801u);
    if (dir == SIM_EXP) {
        /* a cloudy day scales the whole bell; per-interval clouds on top */
        uint64_t hd = sim_hash3(m->seed ^ 0xC10DULL, 0, (uint64_t)day);
        noise = noise * (300u + (uint32_t)(hd % 701u)) / 1000u;
    } else if (m->pv && shape_pv_h[i / 4] >= 450) {
        noise /= 5;
    }
    return s * noise / 100u + 1u;
}

void sim_model_day(const struct sim_meter *m, int32_t day, struct sim_day *out)
{
    uint32_t w[2][SIM_IPD];
    uint64_t wt[2][SIM_TARIFFS];
    memset(wt, 0, sizeof wt);
    out->day = day;
    for (int dir = 0; dir < 2; dir++) {
        bool on = dir == SIM_IMP || m->pv;
        for (int i = 0; i < SIM_IPD; i++) {
            w[dir][i] = on ? weight(m, dir, day, i) : 0;
            wt[dir][sim_tariff_of(i)] += w[dir][i];
        }
    }
    for (int dir = 0; dir < 2; dir++) {
        for (int k = 0; k < SIM_TARIFFS; k++) {
            int64_t a = midnight_reg(m, dir, k, day);
            int64_t b = midnight_reg(m, dir, k, day + 1);
            int64_t adv = b - a;
            uint64_t acc = 0;
            out->c[dir][k][0] = a;
            for (int i = 0; i < SIM_IPD; i++) {
                if (sim_tariff_of(i) == k)
                    acc += w[dir][i];
                int64_t part = 0;
                if (wt[dir][k] > 0)
                    part = (int64_t)((uint64_t)adv * acc / wt[dir][k]);
                out->c[dir][k][i + 1] = a + part;
            }
            /* the split is exact: the last boundary is the next midnight */
            out->c[dir][k][SIM_IPD] = b;
        }
    }
}

/* A caller walking one meter's intervals asks for the same local day ~200
 * times (registers at t, instantaneous values at t − 1). A few day tables per
 * thread, keyed by every parameter sim_model_day reads, make that one
 * computation per day; a hit returns exactly what a recomputation would.
 * Thread-local, so the Modbus thread and the event loop never share one. */
#define DAY_MEMO 4
struct day_memo {
    bool valid;
    uint8_t kind;
    bool pv;
    uint64_t seed;
    float mean[2][SIM_TARIFFS];
    uint32_t e0[2][SIM_TARIFFS];
    struct sim_day d;
};
static _Thread_local struct day_memo memo[DAY_MEMO];
static _Thread_local unsigned memo_next;

static const struct sim_day *day_table(const struct sim_meter *m, int32_t day)
{
    for (unsigned i = 0; i < DAY_MEMO; i++) {
        const struct day_memo *e = &memo[i];
        if (e->valid && e->d.day == day && e->seed == m->seed && e->kind == m->kind &&
            e->pv == m->pv && !memcmp(e->mean, m->mean, sizeof e->mean) &&
            !memcmp(e->e0, m->e0, sizeof e->e0))
            return &e->d;
    }
    struct day_memo *e = &memo[memo_next];
    memo_next = (memo_next + 1) % DAY_MEMO;
    e->valid = true;
    e->kind = m->kind;
    e->pv = m->pv;
    e->seed = m->seed;
    memcpy(e->mean, m->mean, sizeof e->mean);
    memcpy(e->e0, m->e0, sizeof e->e0);
    sim_model_day(m, day, &e->d);
    return &e->d;
}

void sim_regs_fill_q(const struct sim_meter *m, struct sim_regs *r)
{
    int64_t imp = sim_regs_total(r, SIM_IMP), exp = sim_regs_total(r, SIM_EXP);
    if (imp < 0)
        imp = 0;
    if (exp < 0)
        exp = 0;
    r->q[0] = imp * m->tanphi_milli / 1000;
    r->q[1] = 0;
    r->q[2] = 0;
    /* PV inverters run slightly capacitive while exporting */
    r->q[3] = exp * 150 / 1000;
}

void sim_model_at_day(const struct sim_meter *m, const struct sim_day *d, int64_t t_utc,
                      int32_t tz_s, struct sim_regs *out)
{
    int64_t l = t_utc + tz_s - (int64_t)d->day * 86400;
    if (l < 0)
        l = 0;
    if (l > 86400)
        l = 86400;
    int i = (int)(l / SIM_IVL_S);
    int64_t frac = l % SIM_IVL_S;
    for (int dir = 0; dir < 2; dir++)
        for (int k = 0; k < SIM_TARIFFS; k++) {
            int64_t a = d->c[dir][k][i];
            int64_t v = a;
            if (i < SIM_IPD)
                v += (d->c[dir][k][i + 1] - a) * frac / SIM_IVL_S;
            out->e[dir][k] = v;
        }
    sim_regs_fill_q(m, out);
}

void sim_model_at(const struct sim_meter *m, int64_t t_utc, int32_t tz_s,
                  struct sim_regs *out)
{
    sim_model_at_day(m, day_table(m, sim_local_day(t_utc, tz_s)), t_utc, tz_s, out);
}

int64_t sim_model_power_w(const struct sim_meter *m, int64_t t_utc, int32_t tz_s)
{
    int32_t day = sim_local_day(t_utc, tz_s);
    const struct sim_day *d = day_table(m, day);
    int i = (int)((t_utc + tz_s - (int64_t)day * 86400) / SIM_IVL_S);
    int64_t e = 0;
    for (int k = 0; k < SIM_TARIFFS; k++)
        e += (d->c[SIM_IMP][k][i + 1] - d->c[SIM_IMP][k][i]) -
             (d->c[SIM_EXP][k][i + 1] - d->c[SIM_EXP][k][i]);
    /* 0.01 kWh in 0.25 h = 40 W */
    return e * 40;
}

int64_t sim_meter_emax(const struct sim_meter *m)
{
    /* V[0.1] × I[0.1] → 0.01 W; × 0.25 h → 0.0025 Wh; in 0.01 kWh (10 Wh) */
    int64_t p_cw = (int64_t)m->un_dv * m->imax_da * (m->wiring == SIM_3P4W ? 3 : 1);
    return p_cw / 4000;
}

/* Mean daily advance per direction and tariff from the daily import
 * (secondary 0.01 kWh); a prosumer exports pv_factor × that. */
static void fill_means(struct sim_meter *m, double daily, double pv_factor)
{
    uint64_t s = m->seed;
    for (int dir = 0; dir < 2; dir++) {
        const uint16_t *h24 = dir == SIM_EXP              ? shape_pv_h
                              : m->kind == SIM_COMMERCIAL ? shape_com_h
                                                          : shape_res_h;
        double tot = 0, part[SIM_TARIFFS] = {0, 0, 0, 0};
        for (int i = 0; i < SIM_IPD; i++) {
            double w = shape96(h24, i);
            if (dir == SIM_IMP && m->pv && shape_pv_h[i / 4] >= 450)
                w /= 5;
            tot += w;
            part[sim_tariff_of(i)] += w;
        }
        double d = dir == SIM_IMP ? daily : (m->pv ? daily * pv_factor : 0);
        for (int k = 0; k < SIM_TARIFFS; k++) {
            m->mean[dir][k] = (float)(tot > 0 ? d * part[k] / tot : 0);
            m->e0[dir][k] =
                dir == SIM_IMP ? (uint32_t)(sim_hash3(s, 10, (uint64_t)k) % 50000u) : 0;
        }
    }
}

void sim_meter_init_customer(struct sim_meter *m, uint64_t fleet_seed, uint32_t conc,
                             uint32_t index)
{
    memset(m, 0, sizeof *m);
    uint64_t s = sim_hash3(fleet_seed, conc, index);
    m->seed = s;
    m->conc = conc;
    m->index = index;
    m->proto = 2007;
    m->fault = -1;
    double u = unit(sim_hash(s ^ 1));
    double daily_kwh; /* primary */
    m->pt = 1;
    m->un_dv = 2200;
    m->tanphi_milli = (uint16_t)(200 + sim_hash(s ^ 2) % 300);
    if (u < 0.80) {
        m->kind = SIM_RESIDENTIAL;
        m->ct = 1;
        bool three = unit(sim_hash(s ^ 3)) < 0.10;
        m->wiring = three ? SIM_3P4W : SIM_1P2W;
        m->ib_da = three ? 100 : 50; /* 10(100) A / 5(60) A */
        m->imax_da = three ? 1000 : 600;
        double v = unit(sim_hash(s ^ 4));
        daily_kwh = v < 0.04 ? 0.0 : 3.0 + 14.0 * v; /* 4 % vacant homes */
        if (three)
            daily_kwh *= 2.5;
        m->pv = unit(sim_hash(s ^ 5)) < 0.08 && daily_kwh > 0;
    } else {
        m->kind = SIM_COMMERCIAL;
        m->wiring = SIM_3P4W;
        double v = unit(sim_hash(s ^ 4));
        if (v < 0.5) { /* small shop, direct connected 10(100) A */
            m->ct = 1;
            m->ib_da = 100;
            m->imax_da = 1000;
            daily_kwh = 20.0 + 60.0 * v;
        } else { /* CT-connected 1.5(6) A, CT 50/5..300/5 */
            static const uint16_t cts[4] = {10, 20, 40, 60};
            m->ct = cts[sim_hash(s ^ 6) % 4];
            m->ib_da = 15;
            m->imax_da = 60;
            daily_kwh = 30.0 * m->ct * (0.3 + 0.7 * unit(sim_hash(s ^ 7)));
            if (v > 0.96) { /* a 10 kV customer behind a 10000/100 V PT */
                m->pt = 100;
                m->un_dv = 577;
                daily_kwh *= 2.0;
            }
        }
    }
    m->phase = (uint8_t)(index % 3);
    if (m->wiring == SIM_3P4W) {
        /* A healthy three-phase installation is wired with its circuits
         * spread over the phases: every share within 31..35 % keeps the
         * current imbalance (Imax − Imin) / Imax at 3–11 % (≤ 13 % with the
         * per-phase voltage spread), the typical 5–15 % of residential
         * three-phase supplies and clear of the supply offices' 20 % fault
         * limit (docs/amisim.md). */
        int a = 31 + (int)(sim_hash(s ^ 8) % 5);
        int blo = 65 - a > 31 ? 65 - a : 31, bhi = 69 - a < 35 ? 69 - a : 35;
        int b = blo + (int)(sim_hash(s ^ 9) % (uint64_t)(bhi - blo + 1));
        m->pw[0] = (uint8_t)a;
        m->pw[1] = (uint8_t)b;
        m->pw[2] = (uint8_t)(100 - a - b);
    } else {
        m->pw[0] = 100;
    }
    /* secondary 0.01 kWh per day, split by the share of the shape per tariff */
    fill_means(m, daily_kwh * 100.0 / ((double)m->ct * m->pt), 0.6);
}

void sim_meter_set_pv(struct sim_meter *m, double factor)
{
    double daily = 0;
    for (int k = 0; k < SIM_TARIFFS; k++)
        daily += m->mean[SIM_IMP][k];
    m->pv = daily > 0;
    fill_means(m, daily, factor);
}
