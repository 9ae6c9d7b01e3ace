/*
 * sim_dlt_values — the values a simulated meter answers for a DI.
 *
 * Part of sim_dlt (sim_dlt_int.h): energy registers, instantaneous
 * variables, events, parameters and freezes of DL/T 645-2007, and the
 * DL/T 645-1997 reads, each built as struct dlt645_value arrays from the
 * fleet at the simulated time and encoded by the DI table, so the
 * simulator never has its own idea of a format. No I/O, no clock.
 */
#include "sim_dlt_int.h"

#include "ah_err.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define MAX_VALUES 16

void sim_dlt_tm(int64_t local_s, struct dlt645_tm *tm)
{
    time_t t = (time_t)local_s;
    struct tm b;
    gmtime_r(&t, &b);
    tm->year = (uint8_t)(b.tm_year % 100);
    tm->mon = (uint8_t)(b.tm_mon + 1);
    tm->day = (uint8_t)b.tm_mday;
    tm->hour = (uint8_t)b.tm_hour;
    tm->min = (uint8_t)b.tm_min;
    tm->sec = (uint8_t)b.tm_sec;
    tm->wday = (uint8_t)b.tm_wday;
}

/* Energy quantity TT (§2.3) of a register set. */
static int energy_of(const struct sim_regs *r, unsigned tt, int tariff, int64_t *out)
{
    int64_t v;
    switch (tt) {
    case 0x00: /* combined active = |fwd| + |rev| (combination word 05H) */
        v = tariff ? r->e[SIM_IMP][tariff - 1] + r->e[SIM_EXP][tariff - 1]
                   : sim_regs_total(r, SIM_IMP) + sim_regs_total(r, SIM_EXP);
        v %= SIM_REG_WRAP;
        break;
    case 0x01:
        v = tariff ? r->e[SIM_IMP][tariff - 1]
                   : sim_regs_total(r, SIM_IMP) % SIM_REG_WRAP;
        break;
    case 0x02:
        v = tariff ? r->e[SIM_EXP][tariff - 1]
                   : sim_regs_total(r, SIM_EXP) % SIM_REG_WRAP;
        break;
    case 0x03: /* combined reactive 1 = Q1 + Q2, only totals are kept per tariff */
        if (tariff)
            return AH_ENOTSUP;
        v = r->q[0] + r->q[1];
        break;
    case 0x04:
        if (tariff)
            return AH_ENOTSUP;
        v = r->q[2] + r->q[3];
        break;
    case 0x05:
    case 0x06:
    case 0x07:
    case 0x08:
        if (tariff)
            return AH_ENOTSUP;
        v = r->q[tt - 5];
        break;
    default:
        return AH_ENOTSUP;
    }
    *out = v;
    return AH_OK;
}

/* Values of an energy block/item (total + T1..T4, or one) at one instant. */
static int energy_values(const struct sim_regs *r, unsigned tt, unsigned rr,
                         struct dlt645_value *v, size_t *n)
{
    int64_t x;
    int rc;
    if (rr == 0xFF) {
        size_t k = (tt <= 2) ? SIM_TARIFFS : 0;
        for (size_t i = 0; i <= k; i++) {
            if ((rc = energy_of(r, tt, (int)i, &x)) < 0)
                return rc;
            sim_dlt_vnum(&v[i], x, 2);
        }
        *n = k + 1;
        return AH_OK;
    }
    if (rr > SIM_TARIFFS)
        return AH_ENOTSUP;
    if ((rc = energy_of(r, tt, (int)rr, &x)) < 0)
        return rc;
    sim_dlt_vnum(&v[0], x, 2);
    *n = 1;
    return AH_OK;
}

/* Local midnight starting the day of local time l. */
static int64_t local_midnight(int64_t l)
{
    int64_t d = l / 86400;
    if (l % 86400 < 0)
        d--;
    return d * 86400;
}

/* The n-th most recent settlement (1st of month, 00:00 local). */
static int64_t settlement(int64_t local_now, unsigned n)
{
    time_t t = (time_t)local_now;
    struct tm b;
    gmtime_r(&t, &b);
    b.tm_mday = 1;
    b.tm_hour = b.tm_min = b.tm_sec = 0;
    b.tm_mon -= (int)n - 1;
    return (int64_t)timegm(&b);
}

/* The single items 0280xx00 (§2.5): neutral current, frequency, demand,
 * temperature, battery voltages. */
static int variables_single(const struct sim_dlt_ctx *c, uint32_t di,
                            const struct sim_view *w, struct dlt645_value *v, size_t *n)
{
    bool three = sim_dlt_three_phase(c);
    switch (di & 0xFF) {
    case 0x01: /* neutral current: the vector sum, ~ the imbalance */
        sim_dlt_vnum(&v[0], three ? 0 : w->curr_ma[0], 3);
        if (three) {
            int64_t a = w->curr_ma[0], b = w->curr_ma[1], cc = w->curr_ma[2];
            int64_t mx = a > b ? (a > cc ? a : cc) : (b > cc ? b : cc);
            int64_t mn = a < b ? (a < cc ? a : cc) : (b < cc ? b : cc);
            sim_dlt_vnum(&v[0], mx - mn, 3);
        }
        break;
    case 0x02:
        sim_dlt_vnum(&v[0], w->freq_chz, 2);
        break;
    case 0x03:
    case 0x04:
        sim_dlt_vnum(&v[0], (int64_t)w->p_w[0] * 10, 4);
        break;
    case 0x05:
        sim_dlt_vnum(&v[0], (int64_t)w->q_var[0] * 10, 4);
        break;
    case 0x07:
        sim_dlt_vnum(&v[0], 250 + (int64_t)(c->m->seed % 80), 1);
        break;
    case 0x08:
    case 0x09:
        sim_dlt_vnum(&v[0], 360, 2);
        break;
    default:
        return AH_ENOTSUP;
    }
    *n = 1;
    return AH_OK;
}

/* One phase's (p 1..3) or the total's (p 0) value of quantity TT. */
static int phase_value(unsigned tt, unsigned p, const struct sim_view *w,
                       struct dlt645_value *v)
{
    switch (tt) {
    case 0x01:
        sim_dlt_vnum(v, w->volt_dv[p - 1], 1);
        break;
    case 0x02:
        sim_dlt_vnum(v, w->curr_ma[p - 1], 3);
        break;
    case 0x03:
        sim_dlt_vnum(v, (int64_t)w->p_w[p] * 10, 4);
        break;
    case 0x04:
        sim_dlt_vnum(v, (int64_t)w->q_var[p] * 10, 4);
        break;
    case 0x05: {
        double s = (double)w->p_w[p] * w->p_w[p] + (double)w->q_var[p] * w->q_var[p];
        int64_t va = llround(sqrt(s));
        sim_dlt_vnum(v, va * 10, 4);
        break;
    }
    case 0x06:
        sim_dlt_vnum(v, w->pf_milli[p], 3);
        break;
    default:
        return AH_ENOTSUP;
    }
    return AH_OK;
}

/* Instantaneous family 02TTxx00 (§2.5): voltage, current, P, Q, S, power
 * factor per phase (xx 01..03), total (00, power quantities only) or the
 * block (FF); 80 holds the single items. */
static int variables(const struct sim_dlt_ctx *c, uint32_t di, struct dlt645_value *v,
                     size_t *n)
{
    unsigned tt = (di >> 16) & 0xFF, ph = (di >> 8) & 0xFF;
    struct sim_view w;
    sim_dlt_view_at(c, c->now, &w);
    if (tt == 0x80)
        return variables_single(c, di, &w, v, n);
    bool three = sim_dlt_three_phase(c);
    bool tot_ok = tt >= 0x03 && tt <= 0x06;
    unsigned first, last;
    if (ph == 0xFF) {
        first = tot_ok ? 0 : 1;
        last = 3;
    } else {
        if (ph > 3 || (ph == 0 && !tot_ok))
            return AH_ENOTSUP;
        if (!three && ph > 1)
            return AH_ENOTSUP; /* a single-phase meter has no phase B/C */
        first = last = ph;
    }
    size_t k = 0;
    for (unsigned p = first; p <= last; p++, k++) {
        if (!three && p > 1) {
            sim_dlt_vna(&v[k]);
            continue;
        }
        int rc = phase_value(tt, p, &w, &v[k]);
        if (rc < 0)
            return rc;
    }
    *n = k;
    return AH_OK;
}

static int freeze_payload(const struct sim_dlt_ctx *c, uint32_t di,
                          struct dlt645_value *v, size_t *n)
{
    unsigned type = (di >> 16) & 0xFF, cc = (di >> 8) & 0xFF, nn = di & 0xFF;
    int64_t at;         /* local freeze time */
    if (type == 0x06) { /* daily freeze at 00:00 (§2.8) */
        if (nn < 1 || nn > 0x3E || nn > c->f->history_days)
            return AH_ENOTSUP;
        at = local_midnight(c->local_now) - (int64_t)(nn - 1) * 86400;
    } else if (type == 0x04) { /* hourly freeze */
        if (nn < 1 || nn > 0xFE || (cc != 0 && cc != 1 && cc != 2))
            return AH_ENOTSUP;
        at = c->local_now - c->local_now % 3600 - (int64_t)(nn - 1) * 3600;
    } else {
        return AH_ENOTSUP;
    }
    int64_t t = sim_dlt_utc_of(c, at);
    if (cc == 0x00) {
        sim_dlt_vtime(&v[0], at, DLT645_TM_DATE | DLT645_TM_HM);
        *n = 1;
        return AH_OK;
    }
    struct sim_regs r;
    sim_fleet_regs(c->f, c->conc, c->idx, t, &r, NULL);
    if (type == 0x04) {
        sim_dlt_vnum(&v[0],
                     sim_regs_total(&r, cc == 1 ? SIM_IMP : SIM_EXP) % SIM_REG_WRAP, 2);
        *n = 1;
        return AH_OK;
    }
    if (cc >= 0x01 && cc <= 0x08)
        return energy_values(&r, cc, cc <= 2 ? 0xFF : 0, v, n);
    if (cc == 0x10) {
        struct sim_view w;
        sim_dlt_view_at(c, t, &w);
        for (int i = 0; i < 4; i++) {
            bool na = !sim_dlt_three_phase(c) && i > 1;
            na ? sim_dlt_vna(&v[i]) : sim_dlt_vnum(&v[i], (int64_t)w.p_w[i] * 10, 4);
            na ? sim_dlt_vna(&v[4 + i])
               : sim_dlt_vnum(&v[4 + i], (int64_t)w.q_var[i] * 10, 4);
        }
        *n = 8;
        return AH_OK;
    }
    return AH_ENOTSUP;
}

/* An event record opens with its start and end time (YYMMDDhhmmss, meter
 * local time); an event still going on has no end yet (§2.6). */
static void event_times(const struct sim_dlt_ctx *c, const struct sim_event *e,
                        struct dlt645_value *v)
{
    sim_dlt_vtime(&v[0], e->start + c->f->tz_s,
                  DLT645_TM_DATE | DLT645_TM_HM | DLT645_TM_SEC);
    if (e->end)
        sim_dlt_vtime(&v[1], e->end + c->f->tz_s,
                      DLT645_TM_DATE | DLT645_TM_HM | DLT645_TM_SEC);
    else
        sim_dlt_vna(&v[1]);
}

/* An event DI ending in 00 is the count (*e = NULL, one value written);
 * 01..0A is the n-th most recent record, whose times are written and which
 * is returned in *e (§2.6). ev holds the records (10). */
static int event_record(const struct sim_dlt_ctx *c, int kind, uint32_t di,
                        struct sim_event *ev, struct dlt645_value *v, size_t *n,
                        const struct sim_event **e)
{
    unsigned nn = di & 0xFF;
    unsigned cnt = sim_fleet_events(c->f, c->m, kind, -1, c->now, ev, 10);
    *e = NULL;
    if (nn == 0) {
        sim_dlt_vnum(&v[0], cnt, 0);
        *n = 1;
        return AH_OK;
    }
    if (nn > cnt || nn > 10)
        return AH_ENODATA;
    *e = &ev[nn - 1];
    event_times(c, *e, v);
    return AH_OK;
}

static int events_payload(const struct sim_dlt_ctx *c, uint32_t di,
                          struct dlt645_value *v, size_t *n)
{
    struct sim_event ev[10];
    const struct sim_event *e;
    int rc;
    if ((di & 0xFFFFFF00u) == 0x03110000u) { /* power down (§2.6) */
        if ((rc = event_record(c, SIM_EV_POWER_DOWN, di, ev, v, n, &e)) != AH_OK || !e)
            return rc;
        *n = 2;
        return AH_OK;
    }
    if ((di & 0xFFFFFF00u) == 0x03300D00u) { /* cover opened (§2.6) */
        if ((rc = event_record(c, SIM_EV_COVER_OPEN, di, ev, v, n, &e)) != AH_OK || !e)
            return rc;
        const struct sim_regs *rr[2] = {&e->before, &e->after};
        for (int p = 0; p < 2; p++) {
            const struct sim_regs *r = rr[p];
            sim_dlt_vnum(&v[2 + p * 6], sim_regs_total(r, SIM_IMP) % SIM_REG_WRAP, 2);
            sim_dlt_vnum(&v[3 + p * 6], sim_regs_total(r, SIM_EXP) % SIM_REG_WRAP, 2);
            for (int q = 0; q < 4; q++)
                sim_dlt_vnum(&v[4 + p * 6 + q], r->q[q], 2);
        }
        *n = 14;
        return AH_OK;
    }
    if ((di & 0xFFFF00FFu) == 0x03300000u) { /* other event counters: none happened */
        sim_dlt_vnum(&v[0], 0, 0);
        *n = 1;
        return AH_OK;
    }
    unsigned fam = di >> 24, pp = (di >> 16) & 0xFF, tail = di & 0xFFFF;
    if (fam == 0x10 || fam == 0x13) { /* loss of voltage / phase failure [EXT] */
        int phase = pp ? (int)pp - 1 : -1;
        unsigned cnt = fam == 0x10 ? sim_fleet_events(c->f, c->m, SIM_EV_PHASE_LOSS,
                                                      phase, c->now, ev, 1)
                                   : 0;
        if (tail == 0x0001) {
            sim_dlt_vnum(&v[0], cnt, 0);
        } else if (tail == 0x0002) {
            int64_t mins = 0;
            if (cnt)
                mins = ((ev[0].end ? ev[0].end : c->now) - ev[0].start) / 60;
            sim_dlt_vnum(&v[0], mins, 0);
        } else if (tail == 0x0101 || tail == 0x2501) {
            if (!cnt)
                return AH_ENODATA;
            int64_t t = tail == 0x0101 ? ev[0].start : ev[0].end;
            if (!t)
                sim_dlt_vna(&v[0]);
            else
                sim_dlt_vtime(&v[0], t + c->f->tz_s,
                              DLT645_TM_DATE | DLT645_TM_HM | DLT645_TM_SEC);
        } else {
            return AH_ENOTSUP;
        }
        *n = 1;
        return AH_OK;
    }
    return AH_ENOTSUP;
}

static int params_payload(const struct sim_dlt_ctx *c, uint32_t di,
                          struct dlt645_value *v, size_t *n)
{
    char addr[13];
    struct sim_view w;
    *n = 1;
    switch (di) {
    case 0x04000101u:
        sim_dlt_vtime(&v[0], c->local_now, DLT645_TM_DATE | DLT645_TM_WDAY);
        return AH_OK;
    case 0x04000102u:
        sim_dlt_vtime(&v[0], c->local_now, DLT645_TM_HM | DLT645_TM_SEC);
        return AH_OK;
    case 0x0400010Cu:
        /* an extension item: meters of other programmes lack it (ERR 02) */
        if (c->f->no_dt_every && c->idx != SIM_DISTRICT_IDX &&
            (c->idx + 1) % c->f->no_dt_every == 0)
            return AH_ENOTSUP;
        sim_dlt_vtime(&v[0], c->local_now,
                      DLT645_TM_DATE | DLT645_TM_WDAY | DLT645_TM_HM | DLT645_TM_SEC);
        return AH_OK;
    case 0x04000401u:
    case 0x04000402u:
        sim_fleet_meter_addr(c->conc, c->idx, addr);
        sim_dlt_vtext(&v[0], addr);
        return AH_OK;
    case 0x04000409u: /* imp/kWh: direct meters 1200, CT meters 6400 */
        sim_dlt_vnum(&v[0], c->m->ct > 1 ? 6400 : 1200, 0);
        return AH_OK;
    case 0x04000601u:
        sim_dlt_vbits(&v[0], 0x05); /* combined active = fwd + rev */
        return AH_OK;
    case 0x04000901u:
        sim_dlt_vbits(&v[0], 0x3F); /* all six load-record classes */
        return AH_OK;
    case 0x04000902u:
        sim_dlt_vbits(&v[0], 0x83);
        return AH_OK;
    default:
        break;
    }
    if (di >= 0x04000A02u && di <= 0x04000A07u) {
        sim_dlt_vnum(&v[0], SIM_IVL_S / 60, 0);
        return AH_OK;
    }
    if ((di & 0xFFFFFF00u) == 0x04000500u) {
        unsigned k = di & 0xFF;
        sim_dlt_view_at(c, c->now, &w);
        if (k == 0xFF) {
            for (int i = 0; i < 7; i++)
                sim_dlt_vbits(&v[i], w.status[i]);
            *n = 7;
            return AH_OK;
        }
        if (k < 1 || k > 7)
            return AH_ENOTSUP;
        sim_dlt_vbits(&v[0], w.status[k - 1]);
        return AH_OK;
    }
    return AH_ENOTSUP;
}

void sim_dlt_ctx_init(struct sim_dlt_ctx *c, const struct sim_fleet *f, uint32_t conc,
                      uint32_t idx, int64_t now)
{
    c->f = f;
    c->m = sim_fleet_meter(f, conc, idx);
    c->conc = conc;
    c->idx = idx;
    c->now = now;
    c->off = c->m ? sim_fleet_clock_offset(f, c->m, now) : 0;
    c->local_now = now + f->tz_s + c->off;
}

int64_t sim_dlt_utc_of(const struct sim_dlt_ctx *c, int64_t local)
{
    int64_t t = local - c->f->tz_s;
    return t - sim_fleet_clock_offset(c->f, c->m, t);
}

/* Energy 00TTRRSS (§2.3): quantity TT, tariff RR (FF: total + T1..T4), now
 * (SS 00), at the SS-th last settlement (01..0C) or now and all twelve
 * (FF, one tariff). */
static int energy_payload(const struct sim_dlt_ctx *c, uint32_t di,
                          struct dlt645_value *v, size_t *n)
{
    unsigned tt = (di >> 16) & 0xFF, rr = (di >> 8) & 0xFF, ss = di & 0xFF;
    struct sim_regs r;
    if (ss == 0) {
        sim_fleet_regs(c->f, c->conc, c->idx, c->now, &r, NULL);
        return energy_values(&r, tt, rr, v, n);
    }
    if (ss <= 0x0C) {
        sim_fleet_regs(c->f, c->conc, c->idx,
                       sim_dlt_utc_of(c, settlement(c->local_now, ss)), &r, NULL);
        return energy_values(&r, tt, rr, v, n);
    }
    if (ss != 0xFF || rr == 0xFF)
        return AH_ENOTSUP;
    int rc = AH_OK;
    for (unsigned s = 0; s <= 12 && rc == AH_OK; s++) {
        size_t one;
        int64_t t = s ? sim_dlt_utc_of(c, settlement(c->local_now, s)) : c->now;
        sim_fleet_regs(c->f, c->conc, c->idx, t, &r, NULL);
        rc = energy_values(&r, tt, rr, &v[*n], &one);
        *n += one;
    }
    return rc;
}

int sim_dlt_payload(const struct sim_fleet *f, uint32_t conc, uint32_t idx, int64_t now,
                    uint32_t di, const uint8_t *param, size_t plen, uint8_t *out,
                    size_t cap)
{
    struct sim_dlt_ctx c;
    struct dlt645_value v[MAX_VALUES];
    size_t n = 0;
    int rc;
    sim_dlt_ctx_init(&c, f, conc, idx, now);
    if (!c.m)
        return AH_ENOENT;
    unsigned d3 = di >> 24;
    if (d3 == 0x00) {
        rc = energy_payload(&c, di, v, &n);
    } else if (d3 == 0x02) {
        rc = variables(&c, di, v, &n);
    } else if (d3 == 0x03 || (d3 >= 0x10 && d3 <= 0x21)) {
        rc = events_payload(&c, di, v, &n);
    } else if (d3 == 0x04) {
        rc = params_payload(&c, di, v, &n);
    } else if (d3 == 0x05) {
        rc = freeze_payload(&c, di, v, &n);
    } else if ((di & 0xFFFFFFFCu) == 0x06000000u && (di & 3) != 3) {
        return sim_dlt_load_records(&c, di, param, plen, out, cap);
    } else if ((di & 0xFFFF0000u) == 0x06100000u) {
        return sim_dlt_curve(&c, di, param, plen, out, cap);
    } else {
        rc = AH_ENOTSUP;
    }
    if (rc < 0)
        return rc;
    return dlt645_encode_values(di, DLT645_2007, v, n, out, cap);
}

/* 1997 energy (§2.10): 9QZ0 now and 94QZ last settlement, Q 1 import,
 * 2 export, Z 0 total, 1..4 tariff, F all five; 91Q0 reactive. */
static int energy_1997(const struct sim_dlt_ctx *c, unsigned hi, unsigned q, unsigned z,
                       struct dlt645_value *v, size_t *n)
{
    struct sim_regs r;
    if (hi == 0x91) {
        sim_fleet_regs(c->f, c->conc, c->idx, c->now, &r, NULL);
        if (z != 0)
            return AH_ENOTSUP;
        static const int map[7] = {-1, 0, 1, 0, 3, 1, 2}; /* 9110 … 9160 */
        if (q < 1 || q > 6)
            return AH_ENOTSUP;
        int64_t x = q == 1 ? r.q[0] + r.q[1] : q == 2 ? r.q[2] + r.q[3] : r.q[map[q]];
        sim_dlt_vnum(&v[0], x, 2);
        return AH_OK;
    }
    int64_t t = hi == 0x90 ? c->now : sim_dlt_utc_of(c, settlement(c->local_now, 1));
    sim_fleet_regs(c->f, c->conc, c->idx, t, &r, NULL);
    if (q != 1 && q != 2)
        return AH_ENOTSUP;
    int dir = q == 1 ? SIM_IMP : SIM_EXP;
    if (z == 0xF) {
        sim_dlt_vnum(&v[0], sim_regs_total(&r, dir) % SIM_REG_WRAP, 2);
        for (int k = 0; k < SIM_TARIFFS; k++)
            sim_dlt_vnum(&v[1 + k], r.e[dir][k], 2);
        *n = 5;
    } else if (z <= 4) {
        sim_dlt_vnum(&v[0], z ? r.e[dir][z - 1] : sim_regs_total(&r, dir) % SIM_REG_WRAP,
                     2);
    } else {
        return AH_ENOTSUP;
    }
    return AH_OK;
}

/* 1997 instantaneous B6QZ: Q 1 voltage, 2 current (phase Z 1..3), 3 P,
 * 4 Q, 5 power factor (Z 0 total, 1..3 phase), in the older, coarser
 * formats. */
static int variables_1997(const struct sim_dlt_ctx *c, unsigned q, unsigned z,
                          struct dlt645_value *v)
{
    struct sim_view w;
    sim_dlt_view_at(c, c->now, &w);
    bool three = sim_dlt_three_phase(c);
    if (q == 1 || q == 2) {
        if (z < 1 || z > 3 || (!three && z > 1))
            return AH_ENOTSUP;
        if (q == 1)
            sim_dlt_vnum(v, sim_dlt_div_round(w.volt_dv[z - 1], 10), 0);
        else
            sim_dlt_vnum(v, sim_dlt_div_round(w.curr_ma[z - 1], 10), 2);
    } else if (q == 3 || q == 4 || q == 5) {
        if (z > 3 || (!three && z > 1))
            return AH_ENOTSUP;
        if (q == 3)
            sim_dlt_vnum(v, (int64_t)w.p_w[z] * 10, 4);
        else if (q == 4)
            sim_dlt_vnum(v, sim_dlt_div_round(w.q_var[z], 10), 2);
        else
            sim_dlt_vnum(v, w.pf_milli[z], 3);
    } else {
        return AH_ENOTSUP;
    }
    return AH_OK;
}

/* 1997 parameters C0xx: date, time, status word, meter constant, address. */
static int params_1997(const struct sim_dlt_ctx *c, uint16_t di, struct dlt645_value *v)
{
    struct sim_view w;
    char a[13];
    switch (di) {
    case 0xC010:
        sim_dlt_vtime(v, c->local_now, DLT645_TM_DATE | DLT645_TM_WDAY);
        return AH_OK;
    case 0xC011:
        sim_dlt_vtime(v, c->local_now, DLT645_TM_HM | DLT645_TM_SEC);
        return AH_OK;
    case 0xC020:
        sim_dlt_view_at(c, c->now, &w);
        sim_dlt_vbits(v, (w.status[0] >> 4) & 1u ? 0x10 : 0);
        return AH_OK;
    case 0xC030:
        sim_dlt_vnum(v, c->m->ct > 1 ? 6400 : 1200, 0);
        return AH_OK;
    case 0xC032:
    case 0xC033:
        sim_fleet_meter_addr(c->conc, c->idx, a);
        sim_dlt_vtext(v, a);
        return AH_OK;
    default:
        return AH_ENOTSUP;
    }
}

/* DL/T 645-1997 reads (§2.10): 2-byte DI, older formats. */
int sim_dlt_payload_1997(const struct sim_fleet *f, uint32_t conc, uint32_t idx,
                         int64_t now, uint16_t di, uint8_t *out, size_t cap)
{
    struct sim_dlt_ctx c;
    struct dlt645_value v[MAX_VALUES];
    size_t n = 1;
    int rc;
    sim_dlt_ctx_init(&c, f, conc, idx, now);
    unsigned hi = di >> 8, q = (di >> 4) & 0xF, z = di & 0xF;
    if (hi == 0x90 || hi == 0x94 || hi == 0x91)
        rc = energy_1997(&c, hi, q, z, v, &n);
    else if (hi == 0xB6)
        rc = variables_1997(&c, q, z, v);
    else
        rc = params_1997(&c, di, v);
    if (rc < 0)
        return rc;
    return dlt645_encode_values(di, DLT645_1997, v, n, out, cap);
}
