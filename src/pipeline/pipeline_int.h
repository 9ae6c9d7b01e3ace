/*
 * pipeline_int — what the parts of the writer share (private to
 * src/pipeline/): the pipeline's struct, the per-meter state and the
 * district, and the functions one part calls in another. The parts:
 * pipeline.c (thread, queue, batch, commit), pipeline_validate.c,
 * pipeline_state.c, pipeline_gap.c, pipeline_district.c,
 * pipeline_release.c. Everything here runs on the writer thread, except
 * the queue fields under pipe.lock.
 */
#ifndef AH_PIPELINE_INT_H
#define AH_PIPELINE_INT_H

#include "pipeline.h"

#include "ah_clock.h"
#include "ah_err.h"
#include "cadence.h"
#include "config.h"
#include "store.h"
#include "vee.h"

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* Meter state value: vee_state (VEE_STATE_LEN) | tail version u8 |
 * gap_until u64 BE | held_from u64 BE | (version 2) FREEZES × (freeze_at
 * u64 BE, freeze_fwd u64 BE) | (version 3) flags u8 (ST_*). Versions 1 (no
 * freezes) and 2 are still read; they were written with every batch, so
 * what is stored after their last_end was deferred (ST_DEFERRED). */
#define TAIL_VERSION 3
#define MSTATE_LEN1  (VEE_STATE_LEN + 1 + 8 + 8)
#define FREEZES      4 /* daily freezes kept: the boundaries of the last days */
#define MSTATE_LEN2  (MSTATE_LEN1 + FREEZES * 16)
#define MSTATE_LEN   (MSTATE_LEN2 + 1)
/* flags: reads stored after last_end wait unjudged (PIPE_DEFER); when
 * clear, those reads were validated clean after the state was written and
 * are replayed through the validator at load (lazy state, below) */
#define ST_DEFERRED 0x01u
/* A meter never seen, as the gap pass first meets it: FRESH_MARK | gap_until
 * u64 BE, nothing else (its validation state is the initial one); 9 bytes
 * instead of a whole state for each meter of a city's first pass. A whole
 * state starts with VEE_STATE_VERSION, never this. */
#define FRESH_MARK 0xFEu
#define FRESH_LEN  9
/* Lazy state: a clean read whose verdict the validator can reproduce from
 * the stored record alone does not write its meter's state (one RocksDB key
 * per read would halve the writer's rate, docs/benchmarks.md); the state is
 * written after LAZY_MAX such reads, with anything else that changed, when
 * the pipeline stops — or, after a crash, rebuilt at load by replaying the
 * stored reads after its last_end. */
#define LAZY_MAX 96
/* Most reads held back per meter (run counters saturate at 255). */
#define HOLD_MAX 256
/* Deferred reads of one meter in memory (defer_push) */
#define DEFER_CAP (PIPE_DEFER_MAX + PIPE_BATCH_MAX)
/* Districts: days looked back for an unjudged one. */
#define DAYS_BACK_MAX 70
/* The "previous month" of LINE_LOSS_SWING (reference/vee.md): the 30 days
 * before the day judged; its mean needs at least MONTH_MIN_DAYS of them
 * (decision, docs/operations.md). */
#define MONTH_DAYS     30
#define MONTH_MIN_DAYS 7
/* Judged days remembered per district (> DAYS_BACK_MAX + 1). */
#define JRING 128

/* A meter's validation state, resident while the meter has reads in flight
 * (issue 16: 520 B for each of 2 M meters was most of the head-end's
 * memory). At most resident_max stay loaded between batches; the others
 * are written back (when anything is unsaved) and dropped at the end of a
 * batch, oldest use first, and read back from the store when next needed.
 * A meter holding or deferring reads stays (those lists live here). */
struct mstate {
    bool dirty;
    size_t ri;                  /* index in pipe.res */
    struct vee_meter_info info; /* from the config, while loaded */
    struct vee_state vs;
    /* the last daily freezes (05060101 at local 00:00): a day boundary when
     * the meter's memory lacks the load record of that midnight; at = 0 none */
    struct {
        int64_t at, fwd;
    } frz[FREEZES];
    struct ah_read *hold; /* reads held back, ascending end; NULL when none */
    size_t nhold, cap_hold;
    uint64_t saved_held;     /* held_from as last written */
    uint32_t lazy;           /* clean reads validated since the state was written */
    struct pipe_read *defer; /* stored, not yet validated (PIPE_DEFER) */
    size_t ndefer, cap_defer;
};

/* Per meter, loaded or not (pipe.mf) */
#define MF_TOUCHED 0x01u /* in pipe.touched: loaded since the last state writes */
#define MF_LAZY    0x02u /* listed in pipe.lazyl */
/* its stored state or reads could not be read back: its reads are stored
 * as collected, unvalidated and unpublished, until a restart */
#define MF_BAD  0x04u
#define MF_USED 0x08u /* used since the eviction hand last passed (CLOCK) */
#define MF_GAPK 0x10u /* pipe.gap_until holds the meter's (its state was read) */
/* Meter states kept loaded between batches (pipe_vee.resident_max 0). */
#define RESIDENT_MAX 32768
#define NO_METER     UINT32_MAX /* pipe.by_store: not in this config */

struct district {
    const char *name;
    size_t dmeter; /* cfg index of the district meter, SIZE_MAX when none */
    size_t *cust;  /* cfg indices of customer meters */
    size_t ncust;
    /* judged days: slot day % JRING holds day when it was judged */
    int32_t jday[JRING];
    bool jloss_ok[JRING];
    double jloss[JRING];
    /* loss rates of the judged days, for the previous month's mean */
    int32_t hist_day[MONTH_DAYS];
    double hist_loss[MONTH_DAYS];
    size_t nhist; /* ring: next slot = nhist % MONTH_DAYS */
};

struct pipe_link_ev {
    char link[64], endpoint[128];
    bool up;
    int64_t since_s, at_s;
};

struct pipe {
    store_t *st;
    bool sync;
    pthread_t thread;
    pthread_mutex_t lock; /* queue, flags, stats */
    pthread_cond_t not_empty, not_full;
    struct pipe_read *q; /* ring of PIPE_QUEUE_MAX */
    size_t head, len;
    struct pipe_link_ev lq[PIPE_LINK_EVENTS_MAX]; /* link outages, in order */
    size_t nlq;
    bool stopping;
    int last_err;
    struct pipe_stats stats;
    /* full disk (store.h reserve_bytes): the writer holds its batch and the
     * queue fills, so collection pauses; these say so (pipe_set_metrics) */
    struct met_series *m_full, *m_commit_err, *m_replay_drop;
    struct met_series *m_split, *m_unvalidated;
    bool raw;       /* store the batch's reads as collected (write_batch's last resort) */
    bool full_hold; /* the writer holds a batch for lack of space */

    /* validation (NULL cfg: plain store writer) */
    const struct cfg *cfg;
    const uint32_t *midx;
    pub_t *pub;
    const struct ah_clock *clk;
    char release_dir[CFG_PATH_MAX + 16];
    int64_t rel_next_ms; /* ah_mono_ms of the next look into the spool */
    struct vee_thresholds thr;
    struct mstate **ms; /* per cfg meter, NULL when not loaded */
    uint8_t *mf;        /* per cfg meter, MF_* */
    /* per cfg meter: intervals up to here were checked for gaps; kept
     * beside the loaded states so that the gap pass over every meter
     * needs none of them (written with the meter's state) */
    uint64_t *gap_until;
    uint32_t *res; /* cfg indices of the loaded meters */
    size_t nres, res_cap, res_max, hand;
    uint32_t *by_store; /* store index -> cfg index (NO_METER none) */
    uint32_t max_store;
    struct district *dist;
    size_t ndist;
    struct district **dist_by_name; /* ndist, sorted by name (bsearch) */
    /* meters whose state was loaded since the last batch: only these can be
     * dirty, so a batch never walks the whole inventory (2 M meters) */
    uint32_t *touched;
    size_t ntouched, touched_cap;
    uint32_t *lazyl; /* meters with lazy > 0: written when the pipeline stops */
    size_t nlazy, lazy_cap;
    int64_t step_s, backfill_s;
    /* an interval has left the backfill window this long after its end: the
     * window, plus the cycle that may still be collecting it and one more
     * interval for a cycle slowed by timeouts */
    int64_t lag_s;
    int64_t start_s;     /* head-end clock when the pipeline started */
    int64_t last_tick_s; /* last gap / district pass */
    /* a gap pass in progress: meters [0, tick_ci) done, as of tick_now.
     * A pass covers PIPE_TICK_METERS meters per batch, so its state writes
     * never make one batch of the whole inventory (1.56 M meters' states
     * in one WriteBatch held ~1 GB, twice while it committed) */
    size_t tick_ci;
    int64_t tick_now;
    const struct pipe_read *cur; /* reads of the batch being built */
    size_t ncur;
};

static inline int64_t now_s(const struct pipe *p)
{
    return ah_clock_now_ms(p->clk) / 1000;
}

/* Append v to a growing list of meters (touched, lazy, loaded: as long as
 * the meters in use, not the inventory). */
static inline int list_push(uint32_t **a, size_t *n, size_t *cap, size_t v)
{
    if (*n == *cap) {
        size_t nc = *cap ? 2 * *cap : 1024;
        uint32_t *na = realloc(*a, nc * sizeof *na);
        if (!na)
            return AH_ENOMEM;
        *a = na;
        *cap = nc;
    }
    (*a)[(*n)++] = (uint32_t)v;
    return AH_OK;
}

static inline int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* The oldest interval end of the backfill window of a cycle at now
 * (cadence_window): backfill_days back from the newest interval, that
 * boundary included. */
static inline int64_t window_start(const struct pipe *p, int64_t now)
{
    int64_t from, to; /* the scheduler's own rule: both must agree */
    cadence_window(now, p->step_s, (int)(p->backfill_s / 86400), &from, &to);
    return from;
}

static inline const char *meter_id(const struct pipe *p, size_t ci)
{
    return p->cfg->meters[ci].id;
}

/* Requests applied in one batch at most (pipeline_release.c). */
#define REL_MAX 16
/* The spool is looked into once a second (real time, monotonic), not at
 * every batch: a backfill runs ~2,000 batches a second, each an openat
 * that fails when nobody ever released anything. A second is well inside
 * what `amihead release --wait` allows. */
#define REL_SCAN_MS 1000

/* pipeline.c */
/* Stage one event whose body pipe_ev_build_* made (built: its result);
 * body is freed here. */
int pipe_put_event(struct pipe *p, uint64_t t, uint32_t meter, uint16_t type, int built,
                   char *body);
int pipe_stage_read(struct pipe *p, size_t ci, const struct ah_read *r);

/* pipeline_validate.c */
bool pipe_in_batch(const struct pipe *p, uint32_t meter, uint64_t end);
int pipe_validate_one(struct pipe *p, const struct pipe_read *r);
int pipe_validate_seq(struct pipe *p, size_t ci, const struct pipe_read *r);

/* pipeline_state.c */
int pipe_mstate_load(struct pipe *p, size_t ci);
void pipe_mstate_drop(struct pipe *p, size_t ci);
int pipe_mstate_put(struct pipe *p, size_t ci);
void pipe_gap_init(struct pipe *p, size_t ci, uint64_t v);
int pipe_hold_push(struct pipe *p, size_t ci, const struct ah_read *r);
int pipe_hold_reflag(struct pipe *p, size_t ci, unsigned bit, int64_t since);
int pipe_hold_flush(struct pipe *p, size_t ci);
void pipe_freeze_keep(struct mstate *m, int64_t at, int64_t fwd);
int pipe_lazy_add(struct pipe *p, size_t ci);
int pipe_defer_flush(struct pipe *p, size_t ci);
int pipe_defer_push(struct pipe *p, size_t ci, const struct pipe_read *r);
void pipe_defer_trim(struct mstate *m);
int pipe_evict(struct pipe *p);

/* pipeline_gap.c */
int pipe_gaps_meter(struct pipe *p, size_t ci, int64_t now);

/* pipeline_district.c */
int pipe_group_districts(struct pipe *p, const struct cfg *c);
int pipe_districts_recall(struct pipe *p);
int pipe_districts_tick(struct pipe *p, int64_t now);

/* pipeline_release.c */
int pipe_releases_tick(struct pipe *p, char done[][PATH_MAX], size_t *ndone);

#endif /* AH_PIPELINE_INT_H */
