/*
 * meterjob — the live job's table and its pure helpers (see meterjob.h).
 */
#include "meterjob.h"

#include "ah_date.h"
#include "ah_err.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ---- the steps' handlers: decoded items into the job's values ----------- */

/* 0400010C: one item, one moment: nothing can roll over in between. */
static void on_datetime(struct mjob_vals *v, const struct dlt645_value *val, size_t nv,
                        int64_t tz_s, int64_t he_ms)
{
    (void)nv;
    if (val[0].kind != DLT645_V_TIME || !(val[0].tm_fields & DLT645_TM_DATE))
        return;
    v->clock_ms = (mjob_tm_to_s(&val[0].tm) - tz_s) * 1000;
    v->clock_at_ms = he_ms;
    v->have_clock = true;
}

static void on_t1(struct mjob_vals *v, const struct dlt645_value *val, size_t nv,
                  int64_t tz_s, int64_t he_ms)
{
    (void)nv, (void)tz_s, (void)he_ms;
    if (val[0].kind == DLT645_V_TIME)
        v->t1 = val[0].tm;
}

static void on_date(struct mjob_vals *v, const struct dlt645_value *val, size_t nv,
                    int64_t tz_s, int64_t he_ms)
{
    (void)nv, (void)tz_s, (void)he_ms;
    if (val[0].kind != DLT645_V_TIME)
        return;
    v->date = val[0].tm;
    v->have_date = true;
}

/* The second time of time, date, time: the clock-read rule decides. */
static void on_t2(struct mjob_vals *v, const struct dlt645_value *val, size_t nv,
                  int64_t tz_s, int64_t he_ms)
{
    (void)nv;
    int64_t local;
    if (val[0].kind != DLT645_V_TIME || !v->have_date)
        return;
    if (mjob_clock_consistent(&v->t1, &v->date, &val[0].tm, &local)) {
        v->clock_ms = (local - tz_s) * 1000;
        v->clock_at_ms = he_ms;
        v->have_clock = true;
    } else {
        v->clock_again = true;
    }
}

/* 0201FF00 / 0202FF00: a phase the meter lacks stays unread. */
static void on_volt(struct mjob_vals *v, const struct dlt645_value *val, size_t nv,
                    int64_t tz_s, int64_t he_ms)
{
    (void)tz_s, (void)he_ms;
    for (size_t ph = 0; ph < 3 && ph < nv; ph++) {
        if (val[ph].kind != DLT645_V_NUM)
            continue;
        v->volt[ph] = (int32_t)mjob_rescale(val[ph].raw, val[ph].decimals, 1); /* 0.1 V */
        v->v_ph |= (uint8_t)(1u << ph);
    }
}

static void on_curr(struct mjob_vals *v, const struct dlt645_value *val, size_t nv,
                    int64_t tz_s, int64_t he_ms)
{
    (void)tz_s, (void)he_ms;
    for (size_t ph = 0; ph < 3 && ph < nv; ph++) {
        if (val[ph].kind != DLT645_V_NUM)
            continue;
        v->curr[ph] = (int32_t)mjob_rescale(val[ph].raw, val[ph].decimals, 3); /* mA */
        v->i_ph |= (uint8_t)(1u << ph);
    }
}

static void on_status(struct mjob_vals *v, const struct dlt645_value *val, size_t nv,
                      int64_t tz_s, int64_t he_ms)
{
    (void)tz_s, (void)he_ms;
    memset(v->status, 0, sizeof v->status);
    for (size_t i = 0; i < 7 && i < nv; i++)
        v->status[i] = (uint16_t)(val[i].kind == DLT645_V_BITS ? val[i].bits : 0);
    v->have_status = nv >= 7;
}

/* An event count: a number, never negative. */
static bool count_of(const struct dlt645_value *val, uint32_t *out)
{
    if (val[0].kind != DLT645_V_NUM || val[0].raw < 0)
        return false;
    *out = (uint32_t)val[0].raw;
    return true;
}

static void on_cover(struct mjob_vals *v, const struct dlt645_value *val, size_t nv,
                     int64_t tz_s, int64_t he_ms)
{
    (void)nv, (void)tz_s, (void)he_ms;
    (void)count_of(val, &v->cover);
}

/* the terminal cover's count completes the pair (the table skips it when
 * the meter cover's count was refused) */
static void on_terminal(struct mjob_vals *v, const struct dlt645_value *val, size_t nv,
                        int64_t tz_s, int64_t he_ms)
{
    (void)nv, (void)tz_s, (void)he_ms;
    if (count_of(val, &v->terminal))
        v->have_cover = true;
}

static void on_cleared(struct mjob_vals *v, const struct dlt645_value *val, size_t nv,
                       int64_t tz_s, int64_t he_ms)
{
    (void)nv, (void)tz_s, (void)he_ms;
    if (count_of(val, &v->cleared))
        v->have_cleared = true;
}

static void on_frz_time(struct mjob_vals *v, const struct dlt645_value *val, size_t nv,
                        int64_t tz_s, int64_t he_ms)
{
    (void)nv, (void)he_ms;
    if (val[0].kind != DLT645_V_TIME || !(val[0].tm_fields & DLT645_TM_DATE))
        return;
    v->frz_at = mjob_tm_to_s(&val[0].tm) - tz_s;
    v->have_frz_t = true;
}

/* no freeze time read: its energy would be unplaced */
static void on_frz_fwd(struct mjob_vals *v, const struct dlt645_value *val, size_t nv,
                       int64_t tz_s, int64_t he_ms)
{
    (void)nv, (void)tz_s, (void)he_ms;
    if (!v->have_frz_t || val[0].kind != DLT645_V_NUM)
        return;
    v->frz_fwd = mjob_rescale(val[0].raw, val[0].decimals, 2); /* 0.01 kWh */
    v->have_frz = true;
}

/* 04000402 is text (NNNNNNNNNNNN): the identity when it is all digits. */
static void on_number(struct mjob_vals *v, const struct dlt645_value *val, size_t nv,
                      int64_t tz_s, int64_t he_ms)
{
    (void)nv, (void)tz_s, (void)he_ms;
    if (val[0].kind != DLT645_V_TEXT)
        return;
    char *end;
    unsigned long long num = strtoull(val[0].text, &end, 10);
    if (end != val[0].text && *end == '\0') {
        v->number = num;
        v->have_number = true;
    }
}

/* One row per step, in step order: the job's whole control flow. */
static const struct mjob_step_def table[MJOB_DONE] = {
    /* ERR: no 0400010C */
    {MJOB_DT, MJOB_DI_DATETIME, RP_CLOCK, on_datetime, MJOB_V, MJOB_T1},
    {MJOB_T1, MJOB_DI_TIME, RP_CLOCK, on_t1, MJOB_DATE, MJOB_V},
    {MJOB_DATE, MJOB_DI_DATE, RP_CLOCK, on_date, MJOB_T2, MJOB_V},
    {MJOB_T2, MJOB_DI_TIME, RP_CLOCK, on_t2, MJOB_V, MJOB_V},
    {MJOB_V, MJOB_DI_VOLTAGE, RP_INSTANT, on_volt, MJOB_I, MJOB_I},
    {MJOB_I, MJOB_DI_CURRENT, RP_INSTANT, on_curr, MJOB_STATUS, MJOB_STATUS},
    {MJOB_STATUS, MJOB_DI_STATUS, RP_STATUS, on_status, MJOB_COVER, MJOB_COVER},
    /* without the first cover count the pair is incomplete */
    {MJOB_COVER, MJOB_DI_COVER, RP_EVENTS, on_cover, MJOB_TERMINAL, MJOB_CLEARED},
    {MJOB_TERMINAL, MJOB_DI_TERMINAL, RP_EVENTS, on_terminal, MJOB_CLEARED, MJOB_CLEARED},
    {MJOB_CLEARED, MJOB_DI_CLEARED, RP_EVENTS, on_cleared, MJOB_FRZ_T, MJOB_FRZ_T},
    /* no freeze time: its energy would be unplaced */
    {MJOB_FRZ_T, MJOB_DI_FRZ_TIME, RP_FREEZE, on_frz_time, MJOB_FRZ_E, MJOB_NUMBER},
    {MJOB_FRZ_E, MJOB_DI_FRZ_FWD, RP_FREEZE, on_frz_fwd, MJOB_NUMBER, MJOB_NUMBER},
    {MJOB_NUMBER, MJOB_DI_NUMBER, RP_FREEZE, on_number, MJOB_LIVE, MJOB_LIVE},
    {MJOB_LIVE, MJOB_DI_LOAD_REC, MJOB_NO_GROUP, NULL, MJOB_DONE, MJOB_DONE},
    {MJOB_LR, MJOB_DI_LOAD_REC, MJOB_NO_GROUP, NULL, MJOB_LR, MJOB_LR},
};

const struct mjob_step_def *mjob_def(enum mjob_step st)
{
    return (unsigned)st < MJOB_DONE ? &table[st] : NULL;
}

enum mjob_step mjob_next(enum mjob_step st, bool ok)
{
    const struct mjob_step_def *d = mjob_def(st);
    if (!d)
        return MJOB_DONE;
    return ok ? d->next_ok : d->next_err;
}

enum mjob_step mjob_skip(enum mjob_step st, unsigned due)
{
    const struct mjob_step_def *d;
    while ((d = mjob_def(st)) && d->group != MJOB_NO_GROUP && !(due & (1u << d->group))) {
        unsigned g = d->group;
        while ((d = mjob_def(st)) && d->group == g)
            st++;
    }
    return st;
}

int mjob_on_answer(struct mjob_vals *v, enum mjob_step st, const uint8_t *p, size_t n,
                   int64_t tz_s, int64_t he_ms)
{
    const struct mjob_step_def *d = mjob_def(st);
    if (!d || !d->on_data)
        return AH_EINVAL;
    struct dlt645_value val[12];
    size_t nv = 0;
    if (dlt645_decode(d->di, DLT645_2007, p, n, val, 12, &nv) != AH_OK || nv == 0)
        return AH_EFRAME;
    d->on_data(v, val, nv, tz_s, he_ms);
    return AH_OK;
}

void mjob_live_plan(const uint64_t *gaps, size_t n, size_t cap, int64_t live_end,
                    size_t inline_max, struct mjob_live_plan *out)
{
    bool whole = n <= cap;
    out->live_missing = !whole || (n > 0 && gaps[n - 1] == (uint64_t)live_end);
    out->backlog = out->live_missing ? n - 1 : n;
    out->inline_gaps = out->backlog > 0 && out->backlog <= inline_max;
    out->defer = out->backlog > inline_max;
}

int mjob_lr_next(const uint8_t *p, size_t n, size_t *off, const struct mjob_lr_want *w,
                 struct mjob_lr_rec *out)
{
    if (*off >= n)
        return AH_EAGAIN;
    size_t used = 0;
    int rc = dlt645_lr_decode(p + *off, n - *off, &out->r, &used);
    if (rc != AH_OK || used == 0)
        return rc != AH_OK ? rc : AH_EFRAME;
    *off += used;
    out->end = mjob_tm_to_s(&out->r.t) - w->tz_s;
    if (out->r.invalid)
        out->kind = MJOB_LR_INVALID;
    else if (out->end % w->step != 0 || out->end > w->top)
        out->kind = MJOB_LR_OFF_GRID;
    else if (out->end < w->asked - w->slack)
        out->kind = MJOB_LR_STALE;
    else
        out->kind = MJOB_LR_READ;
    return AH_OK;
}

enum mjob_step mjob_after(struct mjob_vals *v, enum mjob_step st, bool ok,
                          unsigned *teach)
{
    enum mjob_step next = mjob_next(st, ok);
    *teach = 0;
    if (st == MJOB_DT && !ok)
        *teach |= MJOB_TEACH_NO_DT; /* an extension item (§2.7) */
    if (st == MJOB_T2) {
        /* the three straddled local midnight: once more, now clear of it */
        if (v->clock_again && !v->clock_redone) {
            next = MJOB_T1;
            v->clock_redone = true;
            v->have_date = false;
            *teach |= MJOB_TEACH_CLOCK_AGAIN;
        }
        v->clock_again = false;
    }
    return next;
}

void mjob_request(enum mjob_step st, int64_t at, unsigned n, int64_t tz_s,
                  struct mjob_req *rq)
{
    const struct mjob_step_def *d = mjob_def(st);
    memset(rq, 0, sizeof *rq);
    rq->di = d ? d->di : 0;
    if (st == MJOB_LIVE || st == MJOB_LR) {
        rq->with_time = true;
        rq->n = (uint8_t)n;
        mjob_s_to_tm(at + tz_s, &rq->t);
    }
}

int mjob_req_frame(const struct mjob_req *rq, const struct dlt645_addr *a, uint8_t *out,
                   size_t cap)
{
    if (rq->with_time)
        return dlt645_req_read_n_time(out, cap, a, rq->di, rq->n, &rq->t);
    return dlt645_req_read(out, cap, a, rq->di);
}

/* civil dates: ah_date (src/core), written once for every stage */
int64_t mjob_tm_to_s(const struct dlt645_tm *tm)
{
    struct ah_date d = {.year = 2000 + tm->year,
                        .mon = tm->mon,
                        .day = tm->day,
                        .hour = tm->hour,
                        .min = tm->min,
                        .sec = tm->sec};
    return ah_date_to_s(&d);
}

void mjob_s_to_tm(int64_t s, struct dlt645_tm *tm)
{
    struct ah_date d;
    ah_date_from_s(s, &d);
    memset(tm, 0, sizeof *tm);
    tm->year = (uint8_t)((d.year - 2000) % 100);
    tm->mon = (uint8_t)d.mon;
    tm->day = (uint8_t)d.day;
    tm->hour = (uint8_t)d.hour;
    tm->min = (uint8_t)d.min;
    tm->sec = (uint8_t)d.sec;
    tm->wday = (uint8_t)d.wday;
}

bool mjob_clock_consistent(const struct dlt645_tm *t1, const struct dlt645_tm *date,
                           const struct dlt645_tm *t2, int64_t *local_s)
{
    int64_t s1 = t1->hour * 3600 + t1->min * 60 + t1->sec;
    int64_t s2 = t2->hour * 3600 + t2->min * 60 + t2->sec;
    /* t2 < t1: midnight passed between them, and the date may be either
     * day's; a span of an hour or more is no read of one moment */
    if (s2 < s1 || s2 - s1 >= 3600 || date->mon < 1 || date->mon > 12 || date->day < 1 ||
        date->day > 31)
        return false;
    struct dlt645_tm t = *date;
    t.hour = t2->hour;
    t.min = t2->min;
    t.sec = t2->sec;
    *local_s = mjob_tm_to_s(&t);
    return true;
}

int64_t mjob_live_end(int64_t he_s, bool have_clock, int64_t meter_s, int64_t step,
                      int64_t ahead_s, int64_t behind_s, bool *attach)
{
    int64_t he_end = ah_date_floor(he_s, step);
    if (!have_clock) {
        *attach = true;
        return he_end;
    }
    int64_t m_end = ah_date_floor(meter_s, step);
    int64_t d = meter_s - he_s;
    int64_t end = d <= ahead_s && -d <= behind_s ? m_end : he_end;
    *attach = end == m_end;
    return end;
}

unsigned mjob_lr_run(const uint64_t *gaps, size_t n, size_t gi, int64_t step,
                     unsigned max)
{
    unsigned k = 0;
    while (gi + k < n && k < max &&
           gaps[gi + k] == gaps[gi] + (uint64_t)k * (uint64_t)step)
        k++;
    return k;
}

unsigned mjob_lr_learn(unsigned cur, unsigned asked, unsigned got, int64_t last_end,
                       int64_t run_end, int64_t newest)
{
    /* a meter with holes sends the next records it has (protocols.md
     * §2.9), so fewer than asked, ending inside the run, while it holds
     * newer ones, is the firmware's limit */
    if (got == 0 || got >= asked || last_end >= run_end || run_end >= newest)
        return cur;
    return got < cur ? got : cur;
}

int64_t mjob_rescale(int64_t raw, int dec, int want)
{
    for (; dec < want; dec++)
        raw *= 10;
    for (; dec > want; dec--)
        raw /= 10;
    return raw;
}

void mjob_lr_to_rec(const struct dlt645_load_record *r, struct ah_read *o)
{
#define NA(f) (r->na & (1ull << (f)))
    for (int ph = 0; ph < 3; ph++) {
        if (!NA(DLT645_LR_UA + ph)) {
            o->voltage[ph] = r->volt[ph];
            o->present |= AH_READ_HAS_VOLTAGE(ph);
        }
        if (!NA(DLT645_LR_IA + ph)) {
            o->current[ph] = r->curr[ph];
            o->present |= AH_READ_HAS_CURRENT(ph);
        }
    }
    for (int i = 0; i < 4; i++) {
        if (!NA(DLT645_LR_P + i)) {
            o->p[i] = r->p[i];
            o->present |= AH_READ_HAS_P(i);
        }
        if (!NA(DLT645_LR_Q + i)) {
            o->q[i] = r->q[i];
            o->present |= AH_READ_HAS_Q(i);
        }
        if (!NA(DLT645_LR_PF + i)) {
            o->pf[i] = (int16_t)r->pf[i];
            o->present |= AH_READ_HAS_PF(i);
        }
    }
    if (!NA(DLT645_LR_FREQ)) {
        o->freq = (uint16_t)r->freq;
        o->present |= AH_READ_HAS_FREQ;
    }
    if (!NA(DLT645_LR_E_FWD)) {
        o->imp_total = r->e_fwd;
        o->present |= AH_READ_HAS_IMP_TOTAL;
    }
    if (!NA(DLT645_LR_E_REV)) {
        o->exp_total = r->e_rev;
        o->present |= AH_READ_HAS_EXP_TOTAL;
    }
    const int64_t rv[AH_READ_NREACTIVE] = {r->e_cr1,  r->e_cr2,  r->e_q[0],
                                           r->e_q[1], r->e_q[2], r->e_q[3]};
    for (int i = 0; i < AH_READ_NREACTIVE; i++) {
        if (!NA(DLT645_LR_E_CR1 + i)) {
            o->reactive[i] = rv[i];
            o->present |= AH_READ_HAS_REACTIVE(i);
        }
    }
#undef NA
}
