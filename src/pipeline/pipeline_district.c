/*
 * pipeline_district — district days, the store-reading half (part of
 * pipeline, see pipeline_int.h): each meter's day energy from its stored
 * day-boundary registers, then the pure judgement of vee_district, then
 * the DAILY and flag events and the daily message. Days already judged are
 * recalled from the events at start. Runs on the writer thread only.
 */
#include "pipeline_int.h"

#include "ah_err.h"
#include "config.h"
#include "pub.h"
#include "vee.h"
#include "vee_district.h"
#include "wire.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- district days -------------------------------------------------------- */

/* A meter's day energy (docs/validation.md "Day energy"): the difference of
 * its two day-boundary registers, local 00:00 to 00:00 — the load record
 * at the boundary, else the daily freeze of that midnight — as supply
 * offices compute 台区线损 from 日冻结示数. Missing intervals inside the day
 * do not matter; a register decrease inside it that is no rollover makes
 * the energy unknown, never a number. */
enum de_state {
    DE_KNOWN = 0,
    DE_WAIT,        /* a boundary is missing but may still be collected */
    DE_NO_BOUNDARY, /* a boundary is missing for good */
    DE_DECREASE,    /* the register went down inside the day: no rollover */
};

struct day_energy {
    int state;          /* enum de_state */
    int64_t imp, exp;   /* primary 0.01 kWh; exp: bidirectional meters only */
    uint32_t collected; /* interval reads stored in (00:00, 24:00] */
};

/* The register chain of one direction over the day: every stored value in
 * time order, each step through the rollover rule. */
struct chain {
    bool have, bad;
    int64_t t, v, sum;
};

struct day_scan {
    struct pipe *p;
    const struct vee_meter_info *mi;
    bool exp;
    struct chain c[2];
    uint32_t n;
};

static void chain_step(struct day_scan *s, int dir, int64_t t, int64_t v)
{
    const struct vee_meter_info *mi = s->mi;
    int64_t mod = mi->reg_modulus ? mi->reg_modulus : VEE_REG_MODULUS_DEFAULT;
    struct chain *c = &s->c[dir];
    if (v < 0 || v >= mod)
        return; /* a value validation refused is no evidence either way */
    if (c->have) {
        int64_t adv =
            vee_wrap_advance(mi, &s->p->thr, c->v, v, (t - c->t) / s->p->step_s);
        if (adv < 0)
            c->bad = true;
        else
            c->sum += adv;
    }
    c->have = true;
    c->t = t;
    c->v = v;
}

static int scan_read(void *vctx, uint32_t meter, const struct ah_read *r)
{
    (void)meter;
    struct day_scan *s = vctx;
    s->n++;
    if (r->present & AH_READ_HAS_IMP_TOTAL)
        chain_step(s, 0, (int64_t)r->end, r->imp_total);
    if (s->exp && (r->present & AH_READ_HAS_EXP_TOTAL))
        chain_step(s, 1, (int64_t)r->end, r->exp_total);
    return 0;
}

/* One boundary register at t: the load record, else the daily freeze
 * (forward only). has_exp: the record carried the reverse register. */
static bool boundary(struct pipe *p, size_t ci, int64_t t, int64_t *imp, bool *has_exp,
                     int64_t *exp, bool *is_read)
{
    struct ah_read r;
    *has_exp = false;
    *is_read = false;
    if (t <= 0)
        return false;
    if (store_get_read(p->st, p->midx[ci], (uint64_t)t, &r) == AH_OK &&
        (r.present & AH_READ_HAS_IMP_TOTAL)) {
        *imp = r.imp_total;
        *has_exp = (r.present & AH_READ_HAS_EXP_TOTAL) != 0;
        *exp = r.exp_total;
        *is_read = true;
        return true;
    }
    const struct mstate *m = p->ms[ci];
    if (m) {
        for (size_t i = 0; i < FREEZES; i++)
            if (m->frz[i].at == t) {
                *imp = m->frz[i].fwd;
                return true;
            }
        return false;
    }
    /* not loaded: the freezes of its stored state (a district's day visits
     * every meter of it; loading them all would hold a city's states) */
    uint8_t buf[MSTATE_LEN + 16];
    size_t len = 0;
    if (store_get_meter_state(p->st, p->midx[ci], buf, sizeof buf, &len) != AH_OK ||
        len < MSTATE_LEN2 || buf[VEE_STATE_LEN] < 2 || buf[VEE_STATE_LEN] > TAIL_VERSION)
        return false;
    for (size_t i = 0; i < FREEZES; i++)
        if ((int64_t)store_rec_get_be64(buf + MSTATE_LEN1 + i * 16) == t) {
            *imp = (int64_t)store_rec_get_be64(buf + MSTATE_LEN1 + i * 16 + 8);
            return true;
        }
    return false;
}

/* Meter ci's validation info: its loaded state's, or from the config. */
static const struct vee_meter_info *meter_info(const struct pipe *p, size_t ci,
                                               struct vee_meter_info *buf)
{
    if (p->ms[ci])
        return &p->ms[ci]->info;
    if (cfg_vee_meter_info(p->cfg, &p->cfg->meters[ci], buf) != AH_OK)
        memset(buf, 0, sizeof *buf); /* cannot be: checked at start */
    return buf;
}

/* A boundary missing at t can no longer come: it lies before the first
 * backfill window of this run, or has left the backfill window. */
static bool missing_for_good(const struct pipe *p, int64_t t, int64_t now)
{
    return t < window_start(p, p->start_s) || t <= now - p->lag_s;
}

static int meter_day(struct pipe *p, size_t ci, int32_t day, int64_t now,
                     struct day_energy *e)
{
    memset(e, 0, sizeof *e);
    int rc = AH_OK;
    struct vee_meter_info mib;
    const struct vee_meter_info *mi = meter_info(p, ci, &mib);
    int64_t d0 = (int64_t)day * 86400 - mi->tz_offset_s, d1 = d0 + 86400;
    bool exp = mi->bidirectional;
    int64_t a, ax = 0, b, bx = 0;
    bool ahx, bhx, ar, br;
    bool ha = boundary(p, ci, d0, &a, &ahx, &ax, &ar);
    bool hb = boundary(p, ci, d1, &b, &bhx, &bx, &br);
    if (!ha || (exp && !ahx) || !hb || (exp && !bhx)) {
        /* a boundary in the batch being built is not in the store yet: the
         * next pass sees it */
        bool gone = ((!ha || (exp && !ahx)) && missing_for_good(p, d0, now) &&
                     !pipe_in_batch(p, p->midx[ci], (uint64_t)d0)) ||
                    ((!hb || (exp && !bhx)) && missing_for_good(p, d1, now) &&
                     !pipe_in_batch(p, p->midx[ci], (uint64_t)d1));
        e->state = gone ? DE_NO_BOUNDARY : DE_WAIT;
        return AH_OK;
    }
    struct day_scan s = {.p = p, .mi = mi, .exp = exp};
    chain_step(&s, 0, d0, a);
    if (exp)
        chain_step(&s, 1, d0, ax);
    rc = store_reads_each(p->st, p->midx[ci], (uint64_t)d0 + 1, (uint64_t)d1, scan_read,
                          &s);
    if (rc)
        return rc;
    chain_step(&s, 0, d1, b);
    if (exp)
        chain_step(&s, 1, d1, bx);
    e->collected = s.n + (br ? 1 : 0);
    if (!s.c[0].have || s.c[0].bad || (exp && (!s.c[1].have || s.c[1].bad))) {
        e->state = DE_DECREASE;
        return AH_OK;
    }
    int64_t mul = (int64_t)mi->ct * (int64_t)mi->pt;
    e->state = DE_KNOWN;
    e->imp = s.c[0].sum * mul;
    e->exp = exp ? s.c[1].sum * mul : 0;
    return AH_OK;
}

/* Daily mean of meter ci over up to MONTH_DAYS days before `day`, from the
 * register at the day's start and the oldest stored one at a local midnight
 * MONTH_DAYS..MONTH_MIN_DAYS days earlier. */
static int meter_month_mean(struct pipe *p, size_t ci, int32_t day, bool *has,
                            int64_t *mean)
{
    *has = false;
    struct vee_meter_info mib;
    const struct vee_meter_info *mi = meter_info(p, ci, &mib);
    int64_t d0 = (int64_t)day * 86400 - mi->tz_offset_s;
    struct ah_read b;
    if (d0 < 0 || store_get_read(p->st, p->midx[ci], (uint64_t)d0, &b) != AH_OK ||
        !(b.present & AH_READ_HAS_IMP_TOTAL))
        return AH_OK;
    for (int k = MONTH_DAYS; k >= MONTH_MIN_DAYS; k--) {
        int64_t t = d0 - (int64_t)k * 86400;
        struct ah_read a;
        if (t < 0 || store_get_read(p->st, p->midx[ci], (uint64_t)t, &a) != AH_OK ||
            !(a.present & AH_READ_HAS_IMP_TOTAL))
            continue;
        int64_t d = vee_wrap_advance(mi, &p->thr, a.imp_total, b.imp_total,
                                     (int64_t)k * 86400 / p->step_s);
        if (d < 0)
            return AH_OK; /* a decrease: no mean */
        *mean = d * (int64_t)mi->ct * (int64_t)mi->pt / k;
        *has = true;
        return AH_OK;
    }
    return AH_OK;
}

static void dist_hist_add(struct district *d, int32_t day, double loss)
{
    d->hist_day[d->nhist % MONTH_DAYS] = day;
    d->hist_loss[d->nhist % MONTH_DAYS] = loss;
    d->nhist++;
}

/* Mean loss rate of the judged days in [day - MONTH_DAYS, day). */
static bool dist_month_loss(const struct district *d, int32_t day, double *mean)
{
    size_t n = d->nhist < MONTH_DAYS ? d->nhist : MONTH_DAYS, k = 0;
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        if (d->hist_day[i] < day && d->hist_day[i] >= day - MONTH_DAYS) {
            sum += d->hist_loss[i];
            k++;
        }
    if (k < MONTH_MIN_DAYS)
        return false;
    *mean = sum / (double)k;
    return true;
}

static size_t jslot(int32_t day)
{
    return (size_t)((day % JRING + JRING) % JRING);
}

static bool dist_judged(const struct district *d, int32_t day)
{
    return d->jday[jslot(day)] == day;
}

static void dist_mark(struct district *d, int32_t day, bool loss_ok, double loss)
{
    size_t i = jslot(day);
    d->jday[i] = day;
    d->jloss_ok[i] = loss_ok;
    d->jloss[i] = loss;
    if (loss_ok)
        dist_hist_add(d, day, loss);
}

static const char *de_reason(int state)
{
    return state == DE_DECREASE ? "register decrease (no rollover)"
                                : "no day-boundary register";
}

/* One district day's inputs: the district meter's day energy (de), each
 * customer's (ce) and what the judgement reads of them (cu). */
struct dday {
    struct day_energy de;
    struct day_energy *ce;
    struct vee_district_customer *cu;
    size_t n;
    uint32_t collected;
    int64_t cust_sum;
};

/* Phase 1: every meter's day energy; *wait when one boundary may still be
 * collected (the day is judged on a later pass). */
static int dday_energies(struct pipe *p, const struct district *d, int32_t day,
                         int64_t now, struct dday *x, bool *wait)
{
    int rc = AH_OK;
    x->de.state = DE_KNOWN;
    if (d->dmeter != SIZE_MAX)
        rc = meter_day(p, d->dmeter, day, now, &x->de);
    *wait = x->de.state == DE_WAIT;
    for (size_t i = 0; i < x->n && rc == AH_OK && !*wait; i++) {
        if ((rc = meter_day(p, d->cust[i], day, now, &x->ce[i])) != AH_OK)
            break;
        *wait = x->ce[i].state == DE_WAIT;
    }
    if (rc != AH_OK || *wait)
        return rc;
    for (size_t i = 0; i < x->n && rc == AH_OK; i++) {
        struct day_energy pe;
        struct vee_district_customer *c = &x->cu[i];
        if ((rc = meter_day(p, d->cust[i], day - 1, now, &pe)) != AH_OK)
            break;
        c->id = (uint32_t)d->cust[i];
        c->complete = x->ce[i].state == DE_KNOWN;
        c->energy = x->ce[i].imp;
        c->export_energy = x->ce[i].exp;
        c->has_prev_day = pe.state == DE_KNOWN;
        c->prev_day = pe.imp;
        rc = meter_month_mean(p, d->cust[i], day, &c->has_prev_month, &c->prev_month);
        x->collected += x->ce[i].collected;
        x->cust_sum += x->ce[i].imp;
    }
    return rc;
}

/* Phase 2: the pure judgement (vee_district) against the district's own
 * history of judged days. */
static int dday_judge(struct pipe *p, const struct district *d, int32_t day,
                      const struct dday *x, struct vee_district_result *res)
{
    double month_loss = 0;
    bool has_month = dist_month_loss(d, day, &month_loss);
    size_t ps = jslot(day - 1);
    bool has_prev = d->jday[ps] == day - 1 && d->jloss_ok[ps];
    struct vee_district_input in = {.complete = x->de.state == DE_KNOWN,
                                    .energy = x->de.imp,
                                    .reverse = x->de.exp,
                                    .cust = x->cu,
                                    .n = x->n,
                                    .has_prev_day = has_prev,
                                    .prev_day_loss_pct = has_prev ? d->jloss[ps] : 0,
                                    .has_prev_month = has_month,
                                    .prev_month_loss_pct = month_loss};
    return vee_district_eval(&p->thr, &in, res);
}

/* Phase 3: the DAILY event, one copy per flag raised, and the daily
 * message. ev is the body less its lists, which are made here. */
static int dday_publish(struct pipe *p, const struct district *d, const struct dday *x,
                        const struct vee_district_result *res, struct pipe_ev_day *ev)
{
    size_t nu = 0;
    struct pipe_ev_unknown *unk = calloc(x->n + 1, sizeof *unk);
    struct pipe_ev_mover mv[VEE_DISTRICT_TOP_MAX];
    if (!unk)
        return AH_ENOMEM;
    /* the meters whose day energy is unknown, and why (INCOMPLETE) */
    if (x->de.state != DE_KNOWN)
        unk[nu++] =
            (struct pipe_ev_unknown){meter_id(p, d->dmeter), de_reason(x->de.state)};
    for (size_t i = 0; i < x->n; i++)
        if (x->ce[i].state != DE_KNOWN)
            unk[nu++] = (struct pipe_ev_unknown){meter_id(p, d->cust[i]),
                                                 de_reason(x->ce[i].state)};
    for (unsigned i = 0; i < res->nmovers; i++)
        mv[i] =
            (struct pipe_ev_mover){meter_id(p, res->movers[i].id), res->movers[i].energy,
                                   res->movers[i].prev, res->movers[i].change};
    ev->unknown = unk;
    ev->nunknown = nu;
    ev->movers = mv;
    ev->nmovers = res->nmovers;
    int64_t d1 = ((int64_t)ev->day + 1) * 86400 - p->cfg->headend.tz_offset_s;
    uint32_t evt_meter = d->dmeter != SIZE_MAX ? p->midx[d->dmeter]
                         : x->n                ? p->midx[d->cust[0]]
                                               : 0;
    const char *flags[5];
    size_t nf = 0;
    int rc = AH_OK;
    for (uint32_t f = 1; f <= VEE_DIST_PARTIAL && rc == AH_OK; f <<= 1)
        if (res->flags & f) {
            char *body = NULL;
            flags[nf++] = pipe_ev_day_flag_name(f);
            rc = pipe_ev_build_day(pipe_ev_day_flag_type(f), ev, &body);
            rc = pipe_put_event(p, (uint64_t)d1, evt_meter, pipe_ev_day_flag_type(f), rc,
                                body);
        }
    if (rc == AH_OK) {
        char *body = NULL;
        rc = pipe_ev_build_day(PIPE_EV_DAILY, ev, &body);
        rc = pipe_put_event(p, (uint64_t)d1, evt_meter, PIPE_EV_DAILY, rc, body);
    }
    free(unk);
    if (rc != AH_OK || !p->pub)
        return rc;
    time_t lt = (time_t)((int64_t)ev->day * 86400);
    struct tm tm;
    gmtime_r(&lt, &tm);
    struct wire_daily w = {d->name, (uint16_t)(tm.tm_year + 1900),
                           (uint8_t)(tm.tm_mon + 1), (uint8_t)tm.tm_mday,
                           /* the feed's contract (docs/wire-format.md):
                            * complete = every interval collected too */
                           ev->complete && ev->collected == ev->expected, ev->expected,
                           ev->collected, ev->district_energy, ev->customers_energy,
                           res->loss_valid ? (int64_t)llround(res->loss_pct * 100.0) : 0,
                           flags, nf};
    return pub_stage_daily(p->pub, &w, NULL);
}

/* Judge one district day when every meter's day energy is known or known
 * to be unknowable; *judged false: wait (a boundary may still come). */
static int district_day(struct pipe *p, struct district *d, int32_t day, int64_t now,
                        bool *judged)
{
    *judged = false;
    size_t n = d->ncust;
    struct dday x = {.n = n};
    x.cu = calloc(n ? n : 1, sizeof *x.cu);
    x.ce = calloc(n ? n : 1, sizeof *x.ce);
    bool wait = false;
    struct vee_district_result res;
    int rc = x.cu && x.ce ? dday_energies(p, d, day, now, &x, &wait) : AH_ENOMEM;
    if (rc == AH_OK && !wait)
        rc = dday_judge(p, d, day, &x, &res);
    if (rc != AH_OK || wait)
        goto out; /* wait: a boundary may still be collected */
    /* complete: every meter's day energy known, the loss is the loss */
    bool complete = res.loss_valid && !(res.flags & VEE_DIST_PARTIAL);
    struct pipe_ev_day ev = {
        .district = d->name,
        .day = day,
        .complete = complete,
        .expected = (uint32_t)(n * (size_t)(86400 / p->step_s)),
        .collected = x.collected,
        .district_energy = x.de.imp,
        .district_reverse = x.de.exp,
        .customers_energy = x.cust_sum,
        .customers_export = res.customers_export,
        .loss_valid = res.loss_valid,
        .supply = res.supply,
        .sales = res.sales,
        .loss_pct = res.loss_pct,
        .flags = res.flags,
        .swing_day_pct = res.swing_day_pct,
        .swing_month_pct = res.swing_month_pct,
    };
    if ((rc = dday_publish(p, d, &x, &res, &ev)) == AH_OK) {
        *judged = true;
        /* a partial day's loss is an upper bound: no baseline for swings */
        dist_mark(d, day, complete, res.loss_pct);
    }
out:
    free(x.cu);
    free(x.ce);
    return rc;
}

/* Every day not judged yet, oldest first; a day that waits for a boundary
 * does not hold back the days after it (issue 13/14). */
int pipe_districts_tick(struct pipe *p, int64_t now)
{
    int64_t tz = p->cfg->headend.tz_offset_s;
    int32_t today = (int32_t)floor_div(now + tz, 86400);
    int32_t first = (int32_t)floor_div(p->start_s - p->lag_s + tz, 86400);
    if (first < today - DAYS_BACK_MAX)
        first = today - DAYS_BACK_MAX;
    for (size_t i = 0; i < p->ndist; i++) {
        struct district *d = &p->dist[i];
        bool prev_waits = false;
        for (int32_t day = first; day < today; day++) {
            if (dist_judged(d, day)) {
                prev_waits = false;
                continue;
            }
            /* a day's swing is against the day before: while that day still
             * waits for a boundary, this one waits for its verdict (bounded:
             * a boundary that leaves the window makes it INCOMPLETE) */
            if (prev_waits)
                continue;
            bool judged = false;
            int rc = district_day(p, d, day, now, &judged);
            if (rc)
                return rc;
            prev_waits = !judged;
        }
    }
    return AH_OK;
}

/* ---- set-up -------------------------------------------------------------- */

static int cmp_dist_name(const void *a, const void *b)
{
    const struct district *x = *(struct district *const *)a;
    const struct district *y = *(struct district *const *)b;
    return strcmp(x->name, y->name);
}

/* The district called name, NULL when none (bsearch in dist_by_name). */
static struct district *dist_find(struct pipe *p, const char *name)
{
    size_t lo = 0, hi = p->ndist;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int d = strcmp(p->dist_by_name[mid]->name, name);
        if (d == 0)
            return p->dist_by_name[mid];
        if (d < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int find_daily(void *vctx, uint64_t t, uint32_t meter, uint16_t type,
                      const uint8_t *bytes, size_t len)
{
    (void)t;
    (void)meter;
    struct pipe *p = vctx;
    struct pipe_ev ev;
    if (type != PIPE_EV_DAILY || pipe_ev_parse(type, bytes, len, &ev) != AH_OK)
        return 0;
    const struct pipe_ev_day *e = &ev.u.day;
    struct district *d = dist_find(p, e->district);
    if (d && !dist_judged(d, e->day)) {
        bool ok = e->loss_valid && e->complete;
        dist_mark(d, e->day, ok, ok ? e->loss_pct : 0);
    }
    pipe_ev_free(&ev);
    return 0;
}

static int cmp_meter_district(const void *a, const void *b)
{
    const struct cfg_meter *x = *(const struct cfg_meter *const *)a;
    const struct cfg_meter *y = *(const struct cfg_meter *const *)b;
    int d = strcmp(x->district, y->district);
    return d ? d : (x < y ? -1 : x > y);
}

static int cmp_dist_first(const void *a, const void *b)
{
    const struct district *x = a, *y = b;
    size_t fx = x->dmeter < x->cust[0] ? x->dmeter : x->cust[0];
    size_t fy = y->dmeter < y->cust[0] ? y->dmeter : y->cust[0];
    return fx < fy ? -1 : fx > fy;
}

/* Group the meters by district: sorted by name, O(n log n) (a city has
 * thousands of districts; a scan of them per meter would take minutes).
 * Districts keep the order of first sight in the inventory, customers the
 * inventory order. */
int pipe_group_districts(struct pipe *p, const struct cfg *c)
{
    size_t n = c->n_meters, cap = c->n_districts ? c->n_districts : 1;
    if (!n)
        return AH_OK;
    const struct cfg_meter **by = malloc(n * sizeof *by);
    if (!by)
        return AH_ENOMEM;
    for (size_t i = 0; i < n; i++)
        by[i] = &c->meters[i];
    qsort(by, n, sizeof *by, cmp_meter_district);
    int rc = AH_OK;
    for (size_t lo = 0, hi; lo < n && rc == AH_OK; lo = hi) {
        for (hi = lo + 1; hi < n && !strcmp(by[hi]->district, by[lo]->district); hi++)
            ;
        if (p->ndist == cap) {
            rc = AH_EINVAL;
            break;
        }
        struct district *d = &p->dist[p->ndist++];
        d->name = by[lo]->district;
        d->dmeter = SIZE_MAX;
        for (size_t j = 0; j < JRING; j++)
            d->jday[j] = INT32_MIN;
        /* one spare slot: cust[0] is read by cmp_dist_first even when empty */
        d->cust = malloc((hi - lo + 1) * sizeof *d->cust);
        if (!d->cust) {
            rc = AH_ENOMEM;
            break;
        }
        d->cust[0] = SIZE_MAX;
        for (size_t j = lo; j < hi; j++) {
            size_t i = (size_t)(by[j] - c->meters);
            if (by[j]->role == CFG_ROLE_DISTRICT)
                d->dmeter = i;
            else
                d->cust[d->ncust++] = i;
        }
    }
    free(by);
    if (rc != AH_OK)
        return rc;
    qsort(p->dist, p->ndist, sizeof *p->dist, cmp_dist_first);
    for (size_t k = 0; k < p->ndist; k++)
        p->dist_by_name[k] = &p->dist[k];
    qsort(p->dist_by_name, p->ndist, sizeof *p->dist_by_name, cmp_dist_name);
    return AH_OK;
}

/* The days judged before this start (their DAILY events), so that none is
 * judged twice and the swings have their baseline. */
int pipe_districts_recall(struct pipe *p)
{
    int64_t from = p->start_s - (int64_t)(DAYS_BACK_MAX + 2) * 86400;
    return store_events_each(p->st, from > 0 ? (uint64_t)from : 0, UINT64_MAX, find_daily,
                             p);
}
