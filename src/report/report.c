/*
 * report — one self-contained HTML page over a range of local days (see
 * report.h). Three passes over the store: the newest stored interval (so a
 * report of today does not call the future a gap), every meter's reads
 * (collection, backfill, outages, clock drift), then the events (district
 * days, anomalies, gaps that left the backfill window).
 */
#include "report.h"
#include "report_int.h"

#include "ah_clock.h"
#include "ah_date.h"
#include "ah_err.h"
#include "config.h"
#include "pipe_ev.h"
#include "vee.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- data -------------------------------------------------------------- */

struct pass {
    int64_t start, step;
    size_t n_iv;
    uint8_t *st; /* per interval of the meter in hand: 0 none, 1 live, 2 backfill */
    struct meter_sum *ms;
    uint64_t newest;
};

static int on_newest(void *ctx, uint32_t meter, const struct ah_read *rec)
{
    (void)meter;
    (void)rec;
    struct pass *p = ctx;
    if (rec->end > p->newest)
        p->newest = rec->end;
    return 0;
}

static int on_read(void *ctx, uint32_t meter, const struct ah_read *rec)
{
    (void)meter;
    struct pass *p = ctx;
    int64_t off = (int64_t)rec->end - p->start;
    if (off <= 0 || off % p->step)
        return 0;
    size_t k = (size_t)(off / p->step) - 1;
    if (k >= p->n_iv)
        return 0;
    p->st[k] = rec->source == AH_READ_LIVE ? 1 : 2;
    if (rec->present & AH_READ_HAS_METER_CLOCK) {
        double d = (double)(rec->meter_clock_ms - rec->headend_clock_ms) / 1000.0;
        if (!p->ms->has_clock || fabs(d) > fabs(p->ms->drift_s))
            p->ms->drift_s = d;
        p->ms->has_clock = true;
    }
    return 0;
}

struct ev_ctx {
    struct evlist *lists;
    int64_t from_day, to_day;
};

/* The list an event goes to: district days in the range, episode
 * transitions (a rule's or a link's), gaps; -1 for the rest (a district
 * flag's copy of its day, a release). */
static int ev_list(const struct ev_ctx *e, const struct pipe_ev *ev)
{
    switch (ev->kind) {
    case PIPE_EVK_DAY: /* a day before the range ends in it */
        return ev->type == PIPE_EV_DAILY && ev->u.day.day >= e->from_day &&
                       ev->u.day.day <= e->to_day
                   ? 0
                   : -1;
    case PIPE_EVK_RULE:
    case PIPE_EVK_LINK:
        return 1;
    case PIPE_EVK_GAP:
        return 2;
    default:
        return -1;
    }
}

static int on_event(void *ctx, uint64_t t, uint32_t meter, uint16_t type,
                    const uint8_t *bytes, size_t len)
{
    (void)t;
    (void)meter;
    struct ev_ctx *e = ctx;
    struct pipe_ev ev;
    if (pipe_ev_kind_of(type) == 0)
        return 0;
    int rc = pipe_ev_parse(type, bytes, len, &ev);
    if (rc == AH_EINVAL)
        return 0; /* an event that does not parse is not the report's business */
    if (rc != AH_OK)
        return rc;
    int q = ev_list(e, &ev);
    struct evlist *l = q < 0 ? NULL : &e->lists[q];
    if (l && l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        struct pipe_ev *g = realloc(l->e, cap * sizeof *g);
        if (!g) {
            pipe_ev_free(&ev);
            return AH_ENOMEM;
        }
        l->e = g;
        l->cap = cap;
    }
    if (l)
        l->e[l->n++] = ev;
    else
        pipe_ev_free(&ev);
    return 0;
}

static size_t name_index(const char **names, size_t *n, const char *name)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp(names[i], name))
            return i;
    names[*n] = name;
    return (*n)++;
}

static int view_alloc(struct view *v)
{
    size_t nm = v->nm, nl = v->nl, nb = v->nb, n_iv = v->n_iv;
    v->dnames = calloc(nm + 1, sizeof *v->dnames);
    v->dist_of = calloc(nm + 1, sizeof *v->dist_of);
    v->midx = calloc(nm + 1, sizeof *v->midx);
    v->known = calloc(nm + 1, sizeof *v->known);
    v->ms = calloc(nm + 1, sizeof *v->ms);
    v->dc = calloc((nm + 1) * nb, sizeof *v->dc);
    v->lc = calloc((nl + 1) * nb, sizeof *v->lc);
    v->gb = calloc(nb, sizeof *v->gb);
    v->llive = calloc((nl + 1) * n_iv, sizeof *v->llive);
    v->lback = calloc((nl + 1) * n_iv, sizeof *v->lback);
    v->lmeters = calloc(nl + 1, sizeof *v->lmeters);
    v->xl = calloc(nb + 1, sizeof *v->xl);
    v->vals = calloc((nm + nl + 1) * (nb + (size_t)v->days + 1), sizeof *v->vals);
    v->ser = calloc(nm + nl + 1, sizeof *v->ser);
    if (!v->dnames || !v->dist_of || !v->midx || !v->known || !v->ms || !v->dc ||
        !v->lc || !v->gb || !v->llive || !v->lback || !v->lmeters || !v->xl || !v->vals ||
        !v->ser)
        return AH_ENOMEM;
    for (size_t k = 0; k < nb; k++) {
        v->xl[k] = malloc(40);
        if (!v->xl[k])
            return AH_ENOMEM;
        report_fmt_local(v->start + (int64_t)(k * v->per_b) * v->step, v->tz,
                         v->bucket_s < 86400, v->xl[k], 40);
    }
    return AH_OK;
}

static void view_free(struct view *v)
{
    for (size_t k = 0; v->xl && k < v->nb; k++)
        free(v->xl[k]);
    free(v->xl);
    free(v->vals);
    free(v->ser);
    for (int q = 0; q < 3; q++) {
        for (size_t i = 0; i < v->lists[q].n; i++)
            pipe_ev_free(&v->lists[q].e[i]);
        free(v->lists[q].e);
    }
    free(v->lmeters);
    free(v->lback);
    free(v->llive);
    free(v->gb);
    free(v->lc);
    free(v->dc);
    free(v->ms);
    free(v->known);
    free(v->midx);
    free(v->dist_of);
    free(v->dnames);
}

/* One meter's intervals (P->st) into the counts of its district, link,
 * bucket and its own sums. */
static void view_count(struct view *v, size_t i, const uint8_t *st)
{
    size_t li = v->c->meters[i].link, di = v->dist_of[i], nb = v->nb;
    for (size_t k = 0; k < v->due; k++) {
        size_t bk = k / v->per_b;
        v->dc[di * nb + bk].exp++;
        v->lc[li * nb + bk].exp++;
        if (st[k]) {
            v->dc[di * nb + bk].got++;
            v->lc[li * nb + bk].got++;
        }
        v->gb[bk][st[k] == 1 ? 0 : st[k] == 2 ? 1 : 2]++;
        v->ms[i].missing += !st[k];
        v->ms[i].backfilled += st[k] == 2;
        v->llive[li * v->n_iv + k] += (uint32_t)(st[k] == 1);
        v->lback[li * v->n_iv + k] += (uint32_t)(st[k] == 2);
    }
}

/* Three passes: the newest interval stored (the report's horizon, so a
 * report of today does not call the future a gap), every meter's reads,
 * then the events stamped inside the range (a district day at its end). */
static int view_scan(struct view *v, store_t *st, int64_t from_day, int64_t to_day)
{
    const struct cfg *c = v->c;
    struct pass P = {v->start, v->step, v->n_iv, NULL, NULL, 0};
    int rc = AH_OK;
    P.st = malloc(v->n_iv);
    if (!P.st)
        return AH_ENOMEM;
    for (size_t i = 0; i < v->nm; i++) {
        v->dist_of[i] = name_index(v->dnames, &v->nd, c->meters[i].district);
        v->lmeters[c->meters[i].link]++;
        v->known[i] = store_meter_index(st, c->meters[i].id, false, &v->midx[i]) == AH_OK;
    }
    uint64_t lo = (uint64_t)v->start + 1, hi = (uint64_t)v->end + 1;
    for (size_t i = 0; i < v->nm; i++)
        if (v->known[i] &&
            (rc = store_reads_each(st, v->midx[i], lo, hi, on_newest, &P)) != AH_OK)
            goto out;
    v->due = P.newest > (uint64_t)v->start
                 ? (size_t)(((int64_t)P.newest - v->start) / v->step)
                 : 0;
    if (v->due > v->n_iv)
        v->due = v->n_iv;
    for (size_t i = 0; i < v->nm; i++) {
        memset(P.st, 0, v->n_iv);
        P.ms = &v->ms[i];
        if (v->known[i] &&
            (rc = store_reads_each(st, v->midx[i], lo, hi, on_read, &P)) != AH_OK)
            goto out;
        view_count(v, i, P.st);
    }
    struct ev_ctx ec = {v->lists, from_day, to_day};
    rc = store_events_each(st, (uint64_t)v->start, hi, on_event, &ec);
out:
    free(P.st);
    return rc;
}

int report_render(const struct cfg *c, store_t *st, int64_t from_day, int64_t to_day,
                  struct ah_buf *b)
{
    struct view V = {.c = c}, *v = &V;
    v->tz = c->headend.tz_offset_s;
    v->step = (int64_t)c->schedule.interval_min * 60;
    v->days = to_day - from_day + 1;
    if (v->days < 1 || v->days > REPORT_MAX_DAYS || v->step <= 0)
        return AH_EINVAL;
    v->start = from_day * 86400 - v->tz;
    v->end = (to_day + 1) * 86400 - v->tz;
    v->n_iv = (size_t)((v->end - v->start) / v->step);
    v->bucket_s = v->days <= 2 ? 3600 : 86400;
    v->per_b = (size_t)(v->bucket_s / v->step ? v->bucket_s / v->step : 1);
    v->nb = (v->n_iv + v->per_b - 1) / v->per_b;
    v->nm = c->n_meters;
    v->nl = c->n_links;
    if (cfg_vee_thresholds(c, &v->thr) != AH_OK)
        return AH_EINVAL;
    int rc = view_alloc(v);
    if (rc == AH_OK)
        rc = view_scan(v, st, from_day, to_day);
    if (rc == AH_OK)
        rc = report_page(b, v);
    view_free(v);
    return rc;
}

/* ---- days -------------------------------------------------------------- */

static int parse_day(const char *s, size_t n, int64_t *day)
{
    char buf[32];
    if (n != 10)
        return AH_EINVAL;
    memcpy(buf, s, n);
    memcpy(buf + n, "T00:00:00Z", 11);
    int64_t ms;
    if (ah_time_parse(buf, &ms) != AH_OK || ms % 86400000)
        return AH_EINVAL;
    char back[40]; /* a date that does not exist (02-30) must not roll over */
    ah_time_format(ms, back, sizeof back);
    if (strncmp(back, s, 10) != 0)
        return AH_EINVAL;
    *day = ms / 86400000;
    return AH_OK;
}

int report_parse_days(const char *spec, int64_t *from_day, int64_t *to_day)
{
    if (!spec)
        return AH_EINVAL;
    const char *dots = strstr(spec, "..");
    int rc = parse_day(spec, dots ? (size_t)(dots - spec) : strlen(spec), from_day);
    if (rc)
        return rc;
    *to_day = *from_day;
    if (dots && (rc = parse_day(dots + 2, strlen(dots + 2), to_day)) != AH_OK)
        return rc;
    if (*to_day < *from_day)
        return AH_EINVAL;
    return *to_day - *from_day + 1 > REPORT_MAX_DAYS ? AH_ERANGE : AH_OK;
}
