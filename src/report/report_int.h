/*
 * report_int — what report.c (the passes over the store) and report_page.c
 * (the HTML: tables, inline SVG charts, one function per section) share.
 * Private to src/report/; report.h is the contract.
 */
#ifndef AH_REPORT_INT_H
#define AH_REPORT_INT_H

#include "ah_buf.h"
#include "config.h"
#include "pipe_ev.h"
#include "vee.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cnt {
    uint64_t exp, got;
};

struct meter_sum {
    uint32_t missing, backfilled;
    bool has_clock;
    double drift_s; /* largest |meter − head-end| seen, with its sign */
};

/* Events as the events codec parsed them (pipe_ev: the report reads no
 * body by string key of its own); each owns its parse. */
struct evlist {
    struct pipe_ev *e;
    size_t n, cap;
};

struct series {
    const char *name;
    const double *v; /* nb values; NAN = nothing to show */
};

/* Everything the three passes over the store found, for the sections that
 * print it. Per-bucket arrays hold nb buckets (an hour, or a day for a range
 * of more than two days), per-interval ones n_iv intervals. */
struct view {
    const struct cfg *c;
    struct vee_thresholds thr;
    int64_t tz, step, days, start, end, bucket_s;
    size_t n_iv, per_b, nb, nm, nl, nd;
    size_t due;          /* intervals 0..due-1 are due */
    const char **dnames; /* district names, nd of them */
    size_t *dist_of;     /* meter → district */
    uint32_t *midx;      /* meter → store index, where known */
    bool *known;
    struct meter_sum *ms;    /* per meter */
    struct cnt *dc, *lc;     /* per district / link and bucket */
    uint64_t (*gb)[3];       /* per bucket: live, backfill, missing */
    uint32_t *llive, *lback; /* per link and interval: meters read so */
    size_t *lmeters;         /* meters per link */
    struct evlist lists[3];  /* events: district days (DAILY), anomalies (rule and
                                link transitions), gaps */
    char **xl;               /* bucket labels */
    double *vals;
    struct series *ser;
};

/* Local wall time of UTC s (tz seconds east) as "MM-DD hh:mm" with_time,
 * else "YYYY-MM-DD", into buf. */
void report_fmt_local(int64_t utc_s, int64_t tz, bool with_time, char *buf, size_t cap);

/* The page of v into b, section by section. AH_OK, AH_ENOMEM or the
 * buffer's error. */
int report_page(struct ah_buf *b, struct view *v);

#endif /* AH_REPORT_INT_H */
