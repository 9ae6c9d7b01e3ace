/*
 * meterjob — the live job's table and its pure helpers (see meterjob.h).
 */
#include "meterjob.h"

#include "ah_date.h"

#include <stddef.h>
#include <string.h>

/* One row per step, in step order: the job's whole control flow. */
static const struct mjob_step_def table[MJOB_DONE] = {
    {MJOB_DT, MJOB_DI_DATETIME, RP_CLOCK, MJOB_V, MJOB_T1}, /* ERR: no 0400010C */
    {MJOB_T1, MJOB_DI_TIME, RP_CLOCK, MJOB_DATE, MJOB_V},
    {MJOB_DATE, MJOB_DI_DATE, RP_CLOCK, MJOB_T2, MJOB_V},
    {MJOB_T2, MJOB_DI_TIME, RP_CLOCK, MJOB_V, MJOB_V},
    {MJOB_V, MJOB_DI_VOLTAGE, RP_INSTANT, MJOB_I, MJOB_I},
    {MJOB_I, MJOB_DI_CURRENT, RP_INSTANT, MJOB_STATUS, MJOB_STATUS},
    {MJOB_STATUS, MJOB_DI_STATUS, RP_STATUS, MJOB_COVER, MJOB_COVER},
    /* without the first cover count the pair is incomplete */
    {MJOB_COVER, MJOB_DI_COVER, RP_EVENTS, MJOB_TERMINAL, MJOB_CLEARED},
    {MJOB_TERMINAL, MJOB_DI_TERMINAL, RP_EVENTS, MJOB_CLEARED, MJOB_CLEARED},
    {MJOB_CLEARED, MJOB_DI_CLEARED, RP_EVENTS, MJOB_FRZ_T, MJOB_FRZ_T},
    /* no freeze time: its energy would be unplaced */
    {MJOB_FRZ_T, MJOB_DI_FRZ_TIME, RP_FREEZE, MJOB_FRZ_E, MJOB_NUMBER},
    {MJOB_FRZ_E, MJOB_DI_FRZ_FWD, RP_FREEZE, MJOB_NUMBER, MJOB_NUMBER},
    {MJOB_NUMBER, MJOB_DI_NUMBER, RP_FREEZE, MJOB_LIVE, MJOB_LIVE},
    {MJOB_LIVE, MJOB_DI_LOAD_REC, MJOB_NO_GROUP, MJOB_DONE, MJOB_DONE},
    {MJOB_LR, MJOB_DI_LOAD_REC, MJOB_NO_GROUP, MJOB_LR, MJOB_LR},
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
