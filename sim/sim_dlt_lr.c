/*
 * sim_dlt_lr — a simulated meter's load records and curves (§2.9).
 *
 * Part of sim_dlt (sim_dlt_int.h). A meter writes a record when its clock
 * crosses a 15-minute grid time, keeps history_days of them, and answers
 * 0600000x (records by time, oldest, newest) and 0610iipp (one item as a
 * curve). Records the meter never wrote (supply off, memory holes, a clock
 * that jumped over them) are skipped or FF-filled, as the real devices do.
 */
#include "sim_dlt_int.h"

#include "ah_err.h"

#include <string.h>
#include <time.h>

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

/* Whether the meter's clock ever showed `local`. A meter writes a load
 * record when its clock crosses the record's grid time; a forward jump of
 * the clock (a clock_drift fault starting) passes over the local times in
 * between, so their records are never written — there is no moment whose
 * registers they could hold (utc_of would answer one before the jump, and
 * the record would hold registers older than the one stamped before it).
 * The instant is the fixed point of t = local - offset(t): the offset moves
 * slowly (a drift of seconds a day) except at a jump, where no fixed point
 * exists and the iteration swings between the two sides. One second of
 * slack for the drift's whole-second steps. */
static bool clock_showed(const struct sim_dlt_ctx *c, int64_t local)
{
    int64_t t0 = local - c->f->tz_s, t = t0;
    for (int i = 0; i < 4; i++)
        t = t0 - sim_fleet_clock_offset(c->f, c->m, t);
    int64_t d = t + sim_fleet_clock_offset(c->f, c->m, t) - t0;
    return d >= -1 && d <= 1;
}

static bool record_exists(const struct sim_dlt_ctx *c, int64_t local)
{
    return local <= c->local_now &&
           sim_fleet_has_record(c->f, c->m, local - c->f->tz_s,
                                c->local_now - c->f->tz_s) &&
           clock_showed(c, local);
}

static void fill_record(const struct sim_dlt_ctx *c, int64_t local,
                        struct dlt645_load_record *r)
{
    int64_t t = sim_dlt_utc_of(c, local);
    struct sim_view w;
    struct sim_regs g;
    sim_dlt_view_at(c, t - 1, &w); /* the interval that just ended */
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
    if (!sim_dlt_three_phase(c)) {
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
static unsigned lr_firmware_blocks(const struct sim_dlt_ctx *c, unsigned want)
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

int sim_dlt_load_records(const struct sim_dlt_ctx *c, uint32_t di, const uint8_t *param,
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

/* Item ii, phase or register pp of a load record as a curve point 0610iipp
 * (§2.9): its raw value and decimals. */
static int record_item(const struct dlt645_load_record *r, unsigned ii, unsigned pp,
                       int64_t *x, uint8_t *d)
{
    switch (ii) {
    case 0x01:
        *x = r->volt[pp - 1], *d = 1;
        break;
    case 0x02:
        *x = r->curr[pp - 1], *d = 3;
        break;
    case 0x03:
        *x = r->p[pp], *d = 4;
        break;
    case 0x04:
        *x = r->q[pp], *d = 4;
        break;
    case 0x05:
        *x = r->pf[pp], *d = 3;
        break;
    case 0x06:
        *x = pp == 1   ? r->e_fwd
             : pp == 2 ? r->e_rev
             : pp == 3 ? r->e_cr1
                       : r->e_cr2,
        *d = 2;
        break;
    case 0x07:
        *x = r->e_q[(pp - 1) & 3], *d = 2;
        break;
    case 0x08:
        *x = pp == 1 ? r->dem_p : r->dem_q, *d = 4;
        break;
    default:
        return AH_ENOTSUP;
    }
    return AH_OK;
}

int sim_dlt_curve(const struct sim_dlt_ctx *c, uint32_t di, const uint8_t *param,
                  size_t plen, uint8_t *out, size_t cap)
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
        if (!record_exists(c, l) || (!sim_dlt_three_phase(c) && pp > 1 && ii <= 5)) {
            sim_dlt_vna(&v[k]);
            continue;
        }
        struct dlt645_load_record r;
        fill_record(c, l, &r);
        int64_t x;
        uint8_t d;
        if (record_item(&r, ii, pp, &x, &d) < 0)
            return AH_ENOTSUP;
        /* round to the item's decimals so the encoder's rescale is exact */
        while (d > dec) {
            x = sim_dlt_div_round(x, 10);
            d--;
        }
        sim_dlt_vnum(&v[k], x, d);
    }
    struct dlt645_tm st;
    sim_dlt_tm(start, &st);
    return dlt645_curve_encode(di, &st, v, n, out, cap);
}
