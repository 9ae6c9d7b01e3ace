/*
 * sim_dlt — DL/T 645 slave side of a simulated concentrator and its meters.
 *
 * Request in, reply bytes out; no I/O, no clock (time is an argument).
 * Every value goes through the DI table's encoder (dlt645_di.h), so the
 * simulator never has its own idea of a format.
 */
#include "sim_dlt.h"

#include "ah_err.h"
#include "dlt645_di.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Reply data: DI (4) + payload ≤ 200 (protocols.md §1.2); a follow-up
 * reply also carries SEQ (§1.6). */
#define FIRST_CHUNK (DLT645_MAX_DATA - 4)
#define NEXT_CHUNK  (DLT645_MAX_DATA - 5)
#define MAX_VALUES  16

void sim_dlt_session_init(struct sim_dlt_session *s)
{
    memset(s, 0, sizeof *s);
}

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

/* Local seconds of a wire time (mm hh DD MM YY); -1 if impossible. */
static int64_t tm_local(const struct dlt645_tm *tm)
{
    struct tm b;
    memset(&b, 0, sizeof b);
    b.tm_year = 100 + tm->year;
    b.tm_mon = tm->mon - 1;
    b.tm_mday = tm->day;
    b.tm_hour = tm->hour;
    b.tm_min = tm->min;
    b.tm_sec = tm->sec;
    if (tm->mon < 1 || tm->mon > 12 || tm->day < 1 || tm->day > 31 || tm->hour > 23 ||
        tm->min > 59)
        return -1;
    return (int64_t)timegm(&b);
}

static struct dlt645_value *vnum(struct dlt645_value *v, int64_t raw, uint8_t dec)
{
    memset(v, 0, sizeof *v);
    v->kind = DLT645_V_NUM;
    v->raw = raw;
    v->decimals = dec;
    return v;
}

static struct dlt645_value *vna(struct dlt645_value *v)
{
    memset(v, 0, sizeof *v);
    v->kind = DLT645_V_NA;
    return v;
}

static struct dlt645_value *vtime(struct dlt645_value *v, int64_t local_s, uint8_t fields)
{
    memset(v, 0, sizeof *v);
    v->kind = DLT645_V_TIME;
    sim_dlt_tm(local_s, &v->tm);
    v->tm_fields = fields;
    return v;
}

static struct dlt645_value *vbits(struct dlt645_value *v, uint32_t bits)
{
    memset(v, 0, sizeof *v);
    v->kind = DLT645_V_BITS;
    v->bits = bits;
    return v;
}

static struct dlt645_value *vtext(struct dlt645_value *v, const char *s)
{
    memset(v, 0, sizeof *v);
    v->kind = DLT645_V_TEXT;
    snprintf(v->text, sizeof v->text, "%s", s);
    return v;
}

static int64_t div_round(int64_t a, int64_t b)
{
    return a >= 0 ? (a + b / 2) / b : -((-a + b / 2) / b);
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
            vnum(&v[i], x, 2);
        }
        *n = k + 1;
        return AH_OK;
    }
    if (rr > SIM_TARIFFS)
        return AH_ENOTSUP;
    if ((rc = energy_of(r, tt, (int)rr, &x)) < 0)
        return rc;
    vnum(&v[0], x, 2);
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

struct mctx {
    const struct sim_fleet *f;
    const struct sim_meter *m;
    uint32_t conc, idx;
    int64_t now;       /* UTC */
    int64_t off;       /* meter clock offset at now */
    int64_t local_now; /* meter's wall clock */
};

/* UTC instant the meter's wall clock shows `local`. */
static int64_t utc_of(const struct mctx *c, int64_t local)
{
    int64_t t = local - c->f->tz_s;
    return t - sim_fleet_clock_offset(c->f, c->m, t);
}

static void view_at(const struct mctx *c, int64_t t, struct sim_view *v)
{
    sim_fleet_view(c->f, c->conc, c->idx, t, v);
}

static bool three_phase(const struct mctx *c)
{
    return c->m->wiring == SIM_3P4W;
}

/* Instantaneous family 02TTxx00 (§2.5). */
static int variables(const struct mctx *c, uint32_t di, struct dlt645_value *v, size_t *n)
{
    unsigned tt = (di >> 16) & 0xFF, ph = (di >> 8) & 0xFF;
    struct sim_view w;
    view_at(c, c->now, &w);
    bool three = three_phase(c);
    if (tt == 0x80) {
        switch (di & 0xFF) {
        case 0x01: /* neutral current: the vector sum, ~ the imbalance */
            vnum(&v[0], three ? 0 : w.curr_ma[0], 3);
            if (three) {
                int64_t a = w.curr_ma[0], b = w.curr_ma[1], cc = w.curr_ma[2];
                int64_t mx = a > b ? (a > cc ? a : cc) : (b > cc ? b : cc);
                int64_t mn = a < b ? (a < cc ? a : cc) : (b < cc ? b : cc);
                vnum(&v[0], mx - mn, 3);
            }
            break;
        case 0x02:
            vnum(&v[0], w.freq_chz, 2);
            break;
        case 0x03:
        case 0x04:
            vnum(&v[0], (int64_t)w.p_w[0] * 10, 4);
            break;
        case 0x05:
            vnum(&v[0], (int64_t)w.q_var[0] * 10, 4);
            break;
        case 0x07:
            vnum(&v[0], 250 + (int64_t)(c->m->seed % 80), 1);
            break;
        case 0x08:
        case 0x09:
            vnum(&v[0], 360, 2);
            break;
        default:
            return AH_ENOTSUP;
        }
        *n = 1;
        return AH_OK;
    }
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
            vna(&v[k]);
            continue;
        }
        switch (tt) {
        case 0x01:
            vnum(&v[k], w.volt_dv[p - 1], 1);
            break;
        case 0x02:
            vnum(&v[k], w.curr_ma[p - 1], 3);
            break;
        case 0x03:
            vnum(&v[k], (int64_t)w.p_w[p] * 10, 4);
            break;
        case 0x04:
            vnum(&v[k], (int64_t)w.q_var[p] * 10, 4);
            break;
        case 0x05: {
            double s = (double)w.p_w[p] * w.p_w[p] + (double)w.q_var[p] * w.q_var[p];
            int64_t va = llround(sqrt(s));
            vnum(&v[k], va * 10, 4);
            break;
        }
        case 0x06:
            vnum(&v[k], w.pf_milli[p], 3);
            break;
        default:
            return AH_ENOTSUP;
        }
    }
    *n = k;
    return AH_OK;
}

static int freeze_payload(const struct mctx *c, uint32_t di, struct dlt645_value *v,
                          size_t *n)
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
    int64_t t = utc_of(c, at);
    if (cc == 0x00) {
        vtime(&v[0], at, DLT645_TM_DATE | DLT645_TM_HM);
        *n = 1;
        return AH_OK;
    }
    struct sim_regs r;
    sim_fleet_regs(c->f, c->conc, c->idx, t, &r, NULL);
    if (type == 0x04) {
        vnum(&v[0], sim_regs_total(&r, cc == 1 ? SIM_IMP : SIM_EXP) % SIM_REG_WRAP, 2);
        *n = 1;
        return AH_OK;
    }
    if (cc >= 0x01 && cc <= 0x08)
        return energy_values(&r, cc, cc <= 2 ? 0xFF : 0, v, n);
    if (cc == 0x10) {
        struct sim_view w;
        view_at(c, t, &w);
        for (int i = 0; i < 4; i++) {
            bool na = !three_phase(c) && i > 1;
            na ? vna(&v[i]) : vnum(&v[i], (int64_t)w.p_w[i] * 10, 4);
            na ? vna(&v[4 + i]) : vnum(&v[4 + i], (int64_t)w.q_var[i] * 10, 4);
        }
        *n = 8;
        return AH_OK;
    }
    return AH_ENOTSUP;
}

/* An event record opens with its start and end time (YYMMDDhhmmss, meter
 * local time); an event still going on has no end yet (§2.6). */
static void event_times(const struct mctx *c, const struct sim_event *e,
                        struct dlt645_value *v)
{
    vtime(&v[0], e->start + c->f->tz_s, DLT645_TM_DATE | DLT645_TM_HM | DLT645_TM_SEC);
    if (e->end)
        vtime(&v[1], e->end + c->f->tz_s, DLT645_TM_DATE | DLT645_TM_HM | DLT645_TM_SEC);
    else
        vna(&v[1]);
}

/* An event DI ending in 00 is the count (*e = NULL, one value written);
 * 01..0A is the n-th most recent record, whose times are written and which
 * is returned in *e (§2.6). ev holds the records (10). */
static int event_record(const struct mctx *c, int kind, uint32_t di, struct sim_event *ev,
                        struct dlt645_value *v, size_t *n, const struct sim_event **e)
{
    unsigned nn = di & 0xFF;
    unsigned cnt = sim_fleet_events(c->f, c->m, kind, -1, c->now, ev, 10);
    *e = NULL;
    if (nn == 0) {
        vnum(&v[0], cnt, 0);
        *n = 1;
        return AH_OK;
    }
    if (nn > cnt || nn > 10)
        return AH_ENODATA;
    *e = &ev[nn - 1];
    event_times(c, *e, v);
    return AH_OK;
}

static int events_payload(const struct mctx *c, uint32_t di, struct dlt645_value *v,
                          size_t *n)
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
            vnum(&v[2 + p * 6], sim_regs_total(r, SIM_IMP) % SIM_REG_WRAP, 2);
            vnum(&v[3 + p * 6], sim_regs_total(r, SIM_EXP) % SIM_REG_WRAP, 2);
            for (int q = 0; q < 4; q++)
                vnum(&v[4 + p * 6 + q], r->q[q], 2);
        }
        *n = 14;
        return AH_OK;
    }
    if ((di & 0xFFFF00FFu) == 0x03300000u) { /* other event counters: none happened */
        vnum(&v[0], 0, 0);
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
            vnum(&v[0], cnt, 0);
        } else if (tail == 0x0002) {
            int64_t mins = 0;
            if (cnt)
                mins = ((ev[0].end ? ev[0].end : c->now) - ev[0].start) / 60;
            vnum(&v[0], mins, 0);
        } else if (tail == 0x0101 || tail == 0x2501) {
            if (!cnt)
                return AH_ENODATA;
            int64_t t = tail == 0x0101 ? ev[0].start : ev[0].end;
            if (!t)
                vna(&v[0]);
            else
                vtime(&v[0], t + c->f->tz_s,
                      DLT645_TM_DATE | DLT645_TM_HM | DLT645_TM_SEC);
        } else {
            return AH_ENOTSUP;
        }
        *n = 1;
        return AH_OK;
    }
    return AH_ENOTSUP;
}

static int params_payload(const struct mctx *c, uint32_t di, struct dlt645_value *v,
                          size_t *n)
{
    char addr[13];
    struct sim_view w;
    *n = 1;
    switch (di) {
    case 0x04000101u:
        vtime(&v[0], c->local_now, DLT645_TM_DATE | DLT645_TM_WDAY);
        return AH_OK;
    case 0x04000102u:
        vtime(&v[0], c->local_now, DLT645_TM_HM | DLT645_TM_SEC);
        return AH_OK;
    case 0x0400010Cu:
        /* an extension item: meters of other programmes lack it (ERR 02) */
        if (c->f->no_dt_every && c->idx != SIM_DISTRICT_IDX &&
            (c->idx + 1) % c->f->no_dt_every == 0)
            return AH_ENOTSUP;
        vtime(&v[0], c->local_now,
              DLT645_TM_DATE | DLT645_TM_WDAY | DLT645_TM_HM | DLT645_TM_SEC);
        return AH_OK;
    case 0x04000401u:
    case 0x04000402u:
        sim_fleet_meter_addr(c->conc, c->idx, addr);
        vtext(&v[0], addr);
        return AH_OK;
    case 0x04000409u: /* imp/kWh: direct meters 1200, CT meters 6400 */
        vnum(&v[0], c->m->ct > 1 ? 6400 : 1200, 0);
        return AH_OK;
    case 0x04000601u:
        vbits(&v[0], 0x05); /* combined active = fwd + rev */
        return AH_OK;
    case 0x04000901u:
        vbits(&v[0], 0x3F); /* all six load-record classes */
        return AH_OK;
    case 0x04000902u:
        vbits(&v[0], 0x83);
        return AH_OK;
    default:
        break;
    }
    if (di >= 0x04000A02u && di <= 0x04000A07u) {
        vnum(&v[0], SIM_IVL_S / 60, 0);
        return AH_OK;
    }
    if ((di & 0xFFFFFF00u) == 0x04000500u) {
        unsigned k = di & 0xFF;
        view_at(c, c->now, &w);
        if (k == 0xFF) {
            for (int i = 0; i < 7; i++)
                vbits(&v[i], w.status[i]);
            *n = 7;
            return AH_OK;
        }
        if (k < 1 || k > 7)
            return AH_ENOTSUP;
        vbits(&v[0], w.status[k - 1]);
        return AH_OK;
    }
    return AH_ENOTSUP;
}

/* ---- load records and curves (§2.9) ------------------------------------ */

static bool record_exists(const struct mctx *c, int64_t local)
{
    return local <= c->local_now && sim_fleet_has_record(c->f, c->m, local - c->f->tz_s,
                                                         c->local_now - c->f->tz_s);
}

static void fill_record(const struct mctx *c, int64_t local, struct dlt645_load_record *r)
{
    int64_t t = utc_of(c, local);
    struct sim_view w;
    struct sim_regs g;
    view_at(c, t - 1, &w); /* the interval that just ended */
    sim_fleet_regs(c->f, c->conc, c->idx, t, &g, NULL);
    memset(r, 0, sizeof *r);
    sim_dlt_tm(local, &r->t);
    r->classes = 0x3F;
    for (int p = 0; p < 3; p++) {
        r->volt[p] = w.volt_dv[p];
        r->curr[p] = w.curr_ma[p];
    }
    r->freq = w.freq_chz;
    for (int i = 0; i < 4; i++) {
        r->p[i] = w.p_w[i] * 10;
        r->q[i] = w.q_var[i] * 10;
        r->pf[i] = w.pf_milli[i];
    }
    r->e_fwd = sim_regs_total(&g, SIM_IMP) % SIM_REG_WRAP;
    r->e_rev = sim_regs_total(&g, SIM_EXP) % SIM_REG_WRAP;
    r->e_cr1 = g.q[0] + g.q[1];
    r->e_cr2 = g.q[2] + g.q[3];
    for (int i = 0; i < 4; i++)
        r->e_q[i] = g.q[i];
    r->dem_p = w.p_w[0] * 10;
    r->dem_q = w.q_var[0] * 10;
    if (!three_phase(c)) {
        /* a single-phase meter FF-fills what it does not measure (§2.9) */
        r->na |= 1ull << DLT645_LR_UB | 1ull << DLT645_LR_UC | 1ull << DLT645_LR_IB |
                 1ull << DLT645_LR_IC | 1ull << DLT645_LR_PB | 1ull << DLT645_LR_PC |
                 1ull << DLT645_LR_QB | 1ull << DLT645_LR_QC | 1ull << DLT645_LR_PFB |
                 1ull << DLT645_LR_PFC;
    }
}

/* How many of `want` load-record blocks this meter's firmware answers
 * (issue 16 item 2): most send every block asked for (longer replies go by
 * 12H follow-ups, §1.6); some refuse N > 1 with ERR 02 (0 here), some send
 * fewer than asked although more exist. */
static unsigned lr_firmware_blocks(const struct mctx *c, unsigned want)
{
    const struct sim_fault *ft = sim_fleet_meter_fault(c->f, c->m);
    if (!ft || c->now < ft->from || c->now >= ft->to)
        return want;
    if (ft->type == SIM_F_LR_SINGLE)
        return want > 1 ? 0 : want;
    if (ft->type == SIM_F_LR_TRUNCATE && want > (unsigned)ft->arg)
        return (unsigned)ft->arg;
    return want;
}

static int load_records(const struct mctx *c, uint32_t di, const uint8_t *param,
                        size_t plen, uint8_t *out, size_t cap)
{
    if (plen < 1)
        return AH_EFRAME;
    unsigned want = lr_firmware_blocks(c, param[0]);
    if (want == 0)
        return AH_ENODATA;
    int64_t oldest = c->local_now - (int64_t)c->f->history_days * 86400;
    int64_t newest = c->local_now - c->local_now % SIM_IVL_S;
    int64_t from;
    if (di == 0x06000001u) {
        struct dlt645_tm tm;
        if (plen < 6 || dlt645_tm_decode_ymdhm(param + 1, &tm) < 0)
            return AH_EFRAME;
        int64_t l = tm_local(&tm);
        if (l < 0)
            return AH_EFRAME;
        from = (l + SIM_IVL_S - 1) / SIM_IVL_S * SIM_IVL_S;
    } else if (di == 0x06000000u) {
        from = (oldest / SIM_IVL_S + 1) * SIM_IVL_S;
    } else { /* 06000002: the most recent block(s) */
        from = newest;
        unsigned k = 0;
        while (from > oldest) {
            if (record_exists(c, from) && ++k == want)
                break;
            from -= SIM_IVL_S;
        }
    }
    if (from <= oldest)
        from = (oldest / SIM_IVL_S + 1) * SIM_IVL_S;
    size_t len = 0;
    unsigned got = 0;
    for (int64_t l = from; l <= newest && got < want; l += SIM_IVL_S) {
        if (!record_exists(c, l))
            continue;
        struct dlt645_load_record r;
        fill_record(c, l, &r);
        int rc = dlt645_lr_encode(&r, out + len, cap - len);
        if (rc == AH_EOVERFLOW)
            break;
        if (rc < 0)
            return rc;
        len += (size_t)rc;
        got++;
    }
    return got ? (int)len : AH_ENODATA;
}

static int curve(const struct mctx *c, uint32_t di, const uint8_t *param, size_t plen,
                 uint8_t *out, size_t cap)
{
    uint8_t size, dec;
    bool sign;
    const char *unit;
    if (!dlt645_curve_item(di, &size, &dec, &sign, &unit))
        return AH_ENOTSUP;
    struct dlt645_tm tm;
    if (plen < 6 || dlt645_tm_decode_ymdhm(param + 1, &tm) < 0)
        return AH_EFRAME;
    int64_t start = tm_local(&tm);
    if (start < 0)
        return AH_EFRAME;
    start = (start + SIM_IVL_S - 1) / SIM_IVL_S * SIM_IVL_S;
    unsigned n = param[0];
    if (n == 0)
        return AH_ENODATA;
    if (n > 96)
        n = 96;
    unsigned ii = (di >> 8) & 0xFF, pp = di & 0xFF;
    struct dlt645_value v[96];
    for (unsigned k = 0; k < n; k++) {
        int64_t l = start + (int64_t)k * SIM_IVL_S;
        if (!record_exists(c, l) || (!three_phase(c) && pp > 1 && ii <= 5)) {
            vna(&v[k]);
            continue;
        }
        struct dlt645_load_record r;
        fill_record(c, l, &r);
        int64_t x;
        uint8_t d;
        switch (ii) {
        case 0x01:
            x = r.volt[pp - 1], d = 1;
            break;
        case 0x02:
            x = r.curr[pp - 1], d = 3;
            break;
        case 0x03:
            x = r.p[pp], d = 4;
            break;
        case 0x04:
            x = r.q[pp], d = 4;
            break;
        case 0x05:
            x = r.pf[pp], d = 3;
            break;
        case 0x06:
            x = pp == 1   ? r.e_fwd
                : pp == 2 ? r.e_rev
                : pp == 3 ? r.e_cr1
                          : r.e_cr2,
            d = 2;
            break;
        case 0x07:
            x = r.e_q[(pp - 1) & 3], d = 2;
            break;
        case 0x08:
            x = pp == 1 ? r.dem_p : r.dem_q, d = 4;
            break;
        default:
            return AH_ENOTSUP;
        }
        /* round to the item's decimals so the encoder's rescale is exact */
        while (d > dec) {
            x = div_round(x, 10);
            d--;
        }
        vnum(&v[k], x, d);
    }
    struct dlt645_tm st;
    sim_dlt_tm(start, &st);
    return dlt645_curve_encode(di, &st, v, n, out, cap);
}

static void ctx_init(struct mctx *c, const struct sim_fleet *f, uint32_t conc,
                     uint32_t idx, int64_t now)
{
    c->f = f;
    c->m = sim_fleet_meter(f, conc, idx);
    c->conc = conc;
    c->idx = idx;
    c->now = now;
    c->off = sim_fleet_clock_offset(f, c->m, now);
    c->local_now = now + f->tz_s + c->off;
}

int sim_dlt_payload(const struct sim_fleet *f, uint32_t conc, uint32_t idx, int64_t now,
                    uint32_t di, const uint8_t *param, size_t plen, uint8_t *out,
                    size_t cap)
{
    struct mctx c;
    struct dlt645_value v[MAX_VALUES];
    size_t n = 0;
    int rc;
    ctx_init(&c, f, conc, idx, now);
    if (!c.m)
        return AH_ENOENT;
    unsigned d3 = di >> 24;
    if (d3 == 0x00) {
        unsigned tt = (di >> 16) & 0xFF, rr = (di >> 8) & 0xFF, ss = di & 0xFF;
        struct sim_regs r;
        if (ss == 0) {
            sim_fleet_regs(f, conc, idx, now, &r, NULL);
            rc = energy_values(&r, tt, rr, v, &n);
        } else if (ss <= 0x0C) {
            sim_fleet_regs(f, conc, idx, utc_of(&c, settlement(c.local_now, ss)), &r,
                           NULL);
            rc = energy_values(&r, tt, rr, v, &n);
        } else if (ss == 0xFF && rr != 0xFF) {
            rc = AH_OK;
            for (unsigned s = 0; s <= 12 && rc == AH_OK; s++) {
                size_t one;
                int64_t t = s ? utc_of(&c, settlement(c.local_now, s)) : now;
                sim_fleet_regs(f, conc, idx, t, &r, NULL);
                rc = energy_values(&r, tt, rr, &v[n], &one);
                n += one;
            }
        } else {
            rc = AH_ENOTSUP;
        }
    } else if (d3 == 0x02) {
        rc = variables(&c, di, v, &n);
    } else if (d3 == 0x03 || (d3 >= 0x10 && d3 <= 0x21)) {
        rc = events_payload(&c, di, v, &n);
    } else if (d3 == 0x04) {
        rc = params_payload(&c, di, v, &n);
    } else if (d3 == 0x05) {
        rc = freeze_payload(&c, di, v, &n);
    } else if ((di & 0xFFFFFFFCu) == 0x06000000u && (di & 3) != 3) {
        return load_records(&c, di, param, plen, out, cap);
    } else if ((di & 0xFFFF0000u) == 0x06100000u) {
        return curve(&c, di, param, plen, out, cap);
    } else {
        rc = AH_ENOTSUP;
    }
    if (rc < 0)
        return rc;
    return dlt645_encode_values(di, DLT645_2007, v, n, out, cap);
}

/* DL/T 645-1997 reads (§2.10): 2-byte DI, older formats. */
static int payload_1997(const struct sim_fleet *f, uint32_t conc, uint32_t idx,
                        int64_t now, uint16_t di, uint8_t *out, size_t cap)
{
    struct mctx c;
    struct dlt645_value v[MAX_VALUES];
    size_t n = 1;
    struct sim_view w;
    struct sim_regs r;
    ctx_init(&c, f, conc, idx, now);
    unsigned hi = di >> 8, q = (di >> 4) & 0xF, z = di & 0xF;
    if (hi == 0x90 || hi == 0x94) {
        int64_t t = hi == 0x90 ? now : utc_of(&c, settlement(c.local_now, 1));
        sim_fleet_regs(f, conc, idx, t, &r, NULL);
        if (q != 1 && q != 2)
            return AH_ENOTSUP;
        int dir = q == 1 ? SIM_IMP : SIM_EXP;
        if (z == 0xF) {
            vnum(&v[0], sim_regs_total(&r, dir) % SIM_REG_WRAP, 2);
            for (int k = 0; k < SIM_TARIFFS; k++)
                vnum(&v[1 + k], r.e[dir][k], 2);
            n = 5;
        } else if (z <= 4) {
            vnum(&v[0], z ? r.e[dir][z - 1] : sim_regs_total(&r, dir) % SIM_REG_WRAP, 2);
        } else {
            return AH_ENOTSUP;
        }
    } else if (hi == 0x91) {
        sim_fleet_regs(f, conc, idx, now, &r, NULL);
        if (z != 0)
            return AH_ENOTSUP;
        static const int map[7] = {-1, 0, 1, 0, 3, 1, 2}; /* 9110 … 9160 */
        if (q < 1 || q > 6)
            return AH_ENOTSUP;
        int64_t x = q == 1 ? r.q[0] + r.q[1] : q == 2 ? r.q[2] + r.q[3] : r.q[map[q]];
        vnum(&v[0], x, 2);
    } else if (hi == 0xB6) {
        view_at(&c, now, &w);
        bool three = three_phase(&c);
        if (q == 1 || q == 2) {
            if (z < 1 || z > 3 || (!three && z > 1))
                return AH_ENOTSUP;
            if (q == 1)
                vnum(&v[0], div_round(w.volt_dv[z - 1], 10), 0);
            else
                vnum(&v[0], div_round(w.curr_ma[z - 1], 10), 2);
        } else if (q == 3 || q == 4 || q == 5) {
            if (z > 3 || (!three && z > 1))
                return AH_ENOTSUP;
            if (q == 3)
                vnum(&v[0], (int64_t)w.p_w[z] * 10, 4);
            else if (q == 4)
                vnum(&v[0], div_round(w.q_var[z], 10), 2);
            else
                vnum(&v[0], w.pf_milli[z], 3);
        } else {
            return AH_ENOTSUP;
        }
    } else if (di == 0xC010) {
        vtime(&v[0], c.local_now, DLT645_TM_DATE | DLT645_TM_WDAY);
    } else if (di == 0xC011) {
        vtime(&v[0], c.local_now, DLT645_TM_HM | DLT645_TM_SEC);
    } else if (di == 0xC020) {
        view_at(&c, now, &w);
        vbits(&v[0], (w.status[0] >> 4) & 1u ? 0x10 : 0);
    } else if (di == 0xC030) {
        vnum(&v[0], c.m->ct > 1 ? 6400 : 1200, 0);
    } else if (di == 0xC032 || di == 0xC033) {
        char a[13];
        sim_fleet_meter_addr(conc, idx, a);
        vtext(&v[0], a);
    } else {
        return AH_ENOTSUP;
    }
    return dlt645_encode_values(di, DLT645_1997, v, n, out, cap);
}

static int reply_payload(uint8_t *out, size_t cap, const struct dlt645_addr *a,
                         uint8_t ctrl, uint32_t di, unsigned dilen, const uint8_t *p,
                         size_t n, const uint8_t *seq)
{
    uint8_t data[DLT645_MAX_DATA];
    size_t len = 0;
    for (unsigned i = 0; i < dilen; i++)
        data[len++] = (uint8_t)(di >> (8 * i));
    memcpy(data + len, p, n);
    len += n;
    if (seq)
        data[len++] = *seq;
    return dlt645_encode(out, cap, 0, a, ctrl, data, len);
}

/* Where follow-up SEQ starts in the pending reply (§1.6: SEQ 1 is the
 * chunk after the first frame). The chunk a SEQ names is sent again when
 * the master asks that SEQ again — its reply was lost or corrupted on the
 * way — as a meter keeps the reply until the next request. */
static bool next_chunk_at(const struct sim_dlt_session *s, uint8_t seq, size_t *off)
{
    if (seq == 0)
        return false;
    *off = FIRST_CHUNK + (size_t)(seq - 1) * NEXT_CHUNK;
    return *off < s->len;
}

int sim_dlt_handle(const struct sim_fleet *f, uint32_t conc, int64_t now,
                   const struct dlt645_frame *req, struct sim_dlt_session *s,
                   uint8_t *out, size_t cap)
{
    uint8_t func = dlt645_func(req);
    if (dlt645_is_reply(req) || dlt645_addr_is_broadcast(&req->addr))
        return 0; /* slaves never answer broadcasts (§1.3) */
    if (func == DLT645_F_READ_ADDR) {
        /* 13H: only AA×6 (point to point), answered with our own address */
        if (!dlt645_addr_eq(&req->addr, &dlt645_addr_wildcard))
            return 0;
        char digits[13];
        struct dlt645_addr a;
        sim_fleet_conc_addr(conc, digits);
        dlt645_addr_parse(digits, &a);
        return dlt645_encode(out, cap, 0, &a, DLT645_C_DIR | DLT645_F_READ_ADDR, a.b, 6);
    }
    char digits[13];
    uint32_t c, idx;
    dlt645_addr_format(&req->addr, digits);
    if (sim_fleet_find(f, digits, &c, &idx) < 0 || c != conc)
        return 0; /* not on this concentrator: silence */
    const struct sim_meter *m = sim_fleet_meter(f, c, idx);
    struct sim_view w;
    const struct sim_fault *ft = sim_fleet_meter_fault(f, m);
    if (ft && ft->type == SIM_F_MISSING && now >= ft->from && now < ft->to) {
        sim_fleet_view(f, c, idx, now, &w);
        if (!w.powered)
            return 0; /* no supply, no answer */
    }
    uint8_t payload[SIM_DLT_PENDING_MAX];
    int rc;
    if (m->proto == 1997) {
        if (func != DLT645_97_READ || req->len < 2)
            return 0; /* a 1997 meter does not understand 2007 frames */
        uint16_t di = (uint16_t)(req->data[0] | req->data[1] << 8);
        rc = payload_1997(f, c, idx, now, di, payload, sizeof payload);
        if (rc < 0)
            return dlt645_encode(out, cap, 0, &req->addr, 0xC1, (const uint8_t[]){0x02},
                                 1); /* ERR: wrong DI (§1.7) */
        if (rc > DLT645_MAX_DATA - 2)
            return AH_EOVERFLOW;
        return reply_payload(out, cap, &req->addr, 0x81, di, 2, payload, (size_t)rc,
                             NULL);
    }
    if (func == DLT645_F_READ_NEXT) {
        uint32_t di;
        if (req->len < 5 || dlt645_frame_di(req, &di) < 0)
            return 0;
        uint8_t seq = req->data[4];
        size_t off;
        if (!s->len || di != s->di || !dlt645_addr_eq(&req->addr, &s->addr) ||
            !next_chunk_at(s, seq, &off))
            return dlt645_reply_error(out, cap, 0, &req->addr, DLT645_F_READ_NEXT,
                                      DLT645_ERR_NO_DATA);
        size_t n = s->len - off;
        if (n > NEXT_CHUNK)
            n = NEXT_CHUNK;
        bool more = off + n < s->len;
        uint8_t ctrl = DLT645_C_DIR | DLT645_F_READ_NEXT | (more ? DLT645_C_MORE : 0);
        rc = reply_payload(out, cap, &req->addr, ctrl, di, 4, s->pending + off, n, &seq);
        s->off = off + n;
        s->seq = seq;
        return rc;
    }
    if (func != DLT645_F_READ)
        return dlt645_reply_error(out, cap, 0, &req->addr, func, DLT645_ERR_OTHER);
    uint32_t di;
    if (dlt645_frame_di(req, &di) < 0)
        return 0;
    rc = sim_dlt_payload(f, c, idx, now, di, req->data + 4, (size_t)req->len - 4, payload,
                         sizeof payload);
    if (rc < 0)
        return dlt645_reply_error(out, cap, 0, &req->addr, DLT645_F_READ,
                                  DLT645_ERR_NO_DATA);
    size_t n = (size_t)rc;
    if (n <= FIRST_CHUNK) {
        s->len = 0;
        return dlt645_reply_read(out, cap, 0, &req->addr, di, false, payload, n);
    }
    /* longer than one frame: first chunk now, the rest by 12H (§1.6) */
    memcpy(s->pending, payload, n);
    s->len = n;
    s->off = FIRST_CHUNK;
    s->di = di;
    s->addr = req->addr;
    s->seq = 0;
    return dlt645_reply_read(out, cap, 0, &req->addr, di, true, payload, FIRST_CHUNK);
}
