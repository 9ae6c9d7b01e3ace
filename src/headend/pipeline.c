/*
 * pipeline — the single writer thread (see pipeline.h). Must not do I/O on
 * links. It owns the store's write batch; other threads only read the
 * store (RocksDB reads are thread safe; gap queries need no lock).
 *
 * One batch = the reads taken from the queue, validated per meter in time
 * order (vee_eval with the meter's persisted state), their events and
 * outbox messages, the gap and district-day work that became due, and the
 * operator releases waiting in the spool; committed as one RocksDB batch
 * and published only after the commit (pub_committed).
 *
 * Reads are published when they can no longer become suspect: while a
 * rule that needs several reads in a row (STOPPED, CREEPING, imbalance,
 * reverse flow) has a run going, the meter's clean reads are held back; if
 * the run starts an episode they are re-flagged from its `since` and never
 * reach read/…; if it breaks off they are published in order. The first
 * held read's time is kept with the meter state, so a restart resumes the
 * hold from the store.
 */
#include "pipeline.h"

#include "ah_err.h"
#include "ah_log.h"
#include "config.h"
#include "metrics.h"
#include "pub.h"
#include "vee.h"
#include "vee_district.h"
#include "wire.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
/* flags: reads stored after last_end wait unjudged (PIPE_HAS_DEFER); when
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

struct held {
    uint64_t end;
    struct store_rec rec;
};

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
    struct held *hold; /* reads held back, ascending; NULL when none */
    size_t nhold, cap_hold;
    uint64_t saved_held;     /* held_from as last written */
    uint32_t lazy;           /* clean reads validated since the state was written */
    struct pipe_read *defer; /* stored, not yet validated (PIPE_HAS_DEFER) */
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

static int64_t now_s(const struct pipe *p)
{
    return ah_clock_now_ms(p->clk) / 1000;
}

/* Append v to a growing list of meters (touched, lazy, loaded: as long as
 * the meters in use, not the inventory). */
static int list_push(uint32_t **a, size_t *n, size_t *cap, size_t v)
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

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* The oldest interval end of the backfill window of a cycle at now
 * (sched_window): backfill_days back from the newest interval, that
 * boundary included. */
static int64_t window_start(const struct pipe *p, int64_t now)
{
    return floor_div(now, p->step_s) * p->step_s - p->backfill_s;
}

/* ---- batch begin / stage / commit ---------------------------------------- */

/* The writer owns the batch (issue 15): it begins and commits it, and
 * tells the publisher which sequences the commit made durable. */
static void batch_begin(struct pipe *p)
{
    store_batch_begin(p->st);
    if (p->pub)
        pub_drop(p->pub);
}

static int batch_commit(struct pipe *p)
{
    int rc = store_batch_commit(p->st, p->sync);
    if (rc == AH_OK && p->pub)
        pub_committed(p->pub, store_next_seq(p->st));
    return rc;
}

static const char *meter_id(const struct pipe *p, size_t ci)
{
    return p->cfg->meters[ci].id;
}

static int put_event(struct pipe *p, uint64_t t, uint32_t meter, uint16_t type, json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    if (!s)
        return AH_ENOMEM;
    int rc = store_batch_put_event(p->st, t, meter, type, s, strlen(s));
    free(s);
    return rc;
}

static json_t *jtime(int64_t s)
{
    char b[32];
    ah_time_format(s * 1000, b, sizeof b);
    return json_string(b);
}

static int stage_read(struct pipe *p, size_t ci, uint64_t end, const struct store_rec *r)
{
    if (!p->pub)
        return AH_OK;
    struct wire_read w = {meter_id(p, ci), p->cfg->meters[ci].district, end, r};
    return pub_stage_read(p->pub, &w, NULL);
}

/* ---- meter state ---------------------------------------------------------- */

static int hold_reload(struct pipe *p, size_t ci, uint64_t from);
static int defer_reload_one(void *vctx, uint32_t meter, uint64_t end,
                            const struct store_rec *r);
struct reload_ctx {
    struct pipe *p;
    size_t ci;
};

static void to_input(const struct pipe_read *r, struct vee_input *in);

static int replay_one(void *vctx, uint32_t meter, uint64_t end, const struct store_rec *r)
{
    struct reload_ctx *c = vctx;
    struct mstate *m = c->p->ms[c->ci];
    /* a read stored unjudged-clean after last_end is one validated lazily;
     * the others there were not sequenced (TIME_INVALID, refused) and were
     * written with the state */
    if (!vee_is_billable(r->quality))
        return 0;
    struct pipe_read pr;
    memset(&pr, 0, sizeof pr);
    pr.meter = meter;
    pr.end = end;
    pr.rec = *r;
    struct vee_input in;
    to_input(&pr, &in);
    struct vee_result res;
    int rc = vee_eval(&c->p->ms[c->ci]->info, &c->p->thr, &m->vs, &in, now_s(c->p), &res);
    if (rc == AH_OK)
        m->lazy++;
    return rc == AH_OK || rc == AH_ERANGE ? 0 : rc;
}

/* Bring a state read back to where the validator was: every lazily
 * validated read after its last_end, in order, judged again and dropped
 * (their verdicts are stored, published, and their transitions, had there
 * been any, would have written the state). */
static int lazy_replay(struct pipe *p, size_t ci)
{
    struct mstate *m = p->ms[ci];
    uint64_t from = (m->vs.have & VEE_ST_SEQ) ? (uint64_t)m->vs.last_end + 1 : 0;
    int rc = store_reads_each(p->st, p->midx[ci], from, UINT64_MAX, replay_one,
                              &(struct reload_ctx){p, ci});
    if (rc == AH_OK && m->lazy && !(p->mf[ci] & MF_LAZY) &&
        (rc = list_push(&p->lazyl, &p->nlazy, &p->lazy_cap, ci)) == AH_OK)
        p->mf[ci] |= MF_LAZY;
    return rc;
}

static int mstate_read(struct pipe *p, size_t ci);

/* Forget meter ci's loaded state (nothing written): read back when next
 * needed. */
static void mstate_drop(struct pipe *p, size_t ci)
{
    struct mstate *m = p->ms[ci];
    if (!m)
        return;
    size_t last = p->res[--p->nres];
    p->res[m->ri] = (uint32_t)last;
    p->ms[last]->ri = m->ri;
    free(m->hold);
    free(m->defer);
    free(m);
    p->ms[ci] = NULL;
}

/* The state of meter ci, read back once: after a failure (a stored read or
 * state that cannot be decoded, a store error) nothing of it stays half
 * loaded, and the meter is tried again by the next caller. */
static int mstate_load(struct pipe *p, size_t ci)
{
    if (!(p->mf[ci] & MF_TOUCHED)) {
        if (list_push(&p->touched, &p->ntouched, &p->touched_cap, ci) != AH_OK)
            return AH_ENOMEM;
        p->mf[ci] |= MF_TOUCHED;
    }
    p->mf[ci] |= MF_USED;
    if (p->ms[ci])
        return AH_OK;
    struct mstate *m = calloc(1, sizeof *m);
    if (!m)
        return AH_ENOMEM;
    m->ri = p->nres;
    if (list_push(&p->res, &p->nres, &p->res_cap, ci) != AH_OK) {
        free(m);
        return AH_ENOMEM;
    }
    p->ms[ci] = m;
    int rc = cfg_vee_meter_info(p->cfg, &p->cfg->meters[ci], &m->info);
    if (rc == AH_OK)
        rc = mstate_read(p, ci);
    if (rc != AH_OK)
        mstate_drop(p, ci);
    return rc;
}

/* A state read back gives the meter's gap mark only the first time: later
 * the one in memory is newer (quiet advances wait for a state write). */
static void gap_init(struct pipe *p, size_t ci, uint64_t v)
{
    if (!(p->mf[ci] & MF_GAPK)) {
        p->gap_until[ci] = v;
        p->mf[ci] |= MF_GAPK;
    }
}

static int mstate_read(struct pipe *p, size_t ci)
{
    struct mstate *m = p->ms[ci];
    uint8_t buf[MSTATE_LEN + 16];
    size_t len = 0;
    int rc = store_get_meter_state(p->st, p->midx[ci], buf, sizeof buf, &len);
    uint64_t held_from = 0;
    bool stored = false;   /* a state of this meter was read back */
    bool deferred = false; /* ST_DEFERRED */
    if (rc == AH_ENOENT) {
        /* a meter never seen: what lies before its first backfill window
         * was never expected */
        vee_state_init(&m->vs);
        int64_t g = window_start(p, now_s(p)) - 1;
        gap_init(p, ci, g > 0 ? (uint64_t)g : 0);
        m->dirty = true; /* where gap checks begin must survive a restart */
    } else if (rc != AH_OK) {
        return rc;
    } else if (len == FRESH_LEN && buf[0] == FRESH_MARK) {
        /* as a meter never seen: no read of it was validated (the first
         * writes a whole state), none stored after it is to be replayed */
        m->dirty = true;
        vee_state_init(&m->vs);
        gap_init(p, ci, store_rec_get_be64(buf + 1));
    } else if (!((len == MSTATE_LEN && buf[VEE_STATE_LEN] == TAIL_VERSION) ||
                 (len == MSTATE_LEN2 && buf[VEE_STATE_LEN] == 2) ||
                 (len == MSTATE_LEN1 && buf[VEE_STATE_LEN] == 1)) ||
               (len == MSTATE_LEN && (buf[MSTATE_LEN2] & ~ST_DEFERRED)) ||
               vee_state_decode(buf, VEE_STATE_LEN, &m->vs) != AH_OK) {
        /* a state this code cannot read: start afresh rather than stop the
         * head-end; the next reads re-baseline the meter */
        ah_log(AH_LOG_WARN, "pipeline", "meter %s: stored validation state unreadable",
               meter_id(p, ci));
        vee_state_init(&m->vs);
        int64_t g = window_start(p, now_s(p)) - 1;
        gap_init(p, ci, g > 0 ? (uint64_t)g : 0);
    } else {
        stored = true;
        deferred = len != MSTATE_LEN || (buf[MSTATE_LEN2] & ST_DEFERRED);
        gap_init(p, ci, store_rec_get_be64(buf + VEE_STATE_LEN + 1));
        held_from = store_rec_get_be64(buf + VEE_STATE_LEN + 9);
        for (size_t i = 0; len >= MSTATE_LEN2 && i < FREEZES; i++) {
            m->frz[i].at = (int64_t)store_rec_get_be64(buf + MSTATE_LEN1 + i * 16);
            m->frz[i].fwd = (int64_t)store_rec_get_be64(buf + MSTATE_LEN1 + i * 16 + 8);
        }
    }
    m->saved_held = held_from;
    m->lazy = 0;
    /* reads validated clean after the state was written (lazy state): the
     * validator goes over them again, silently, to where it was */
    if (stored && !deferred && (rc = lazy_replay(p, ci)) != AH_OK)
        return rc;
    if (held_from && (rc = hold_reload(p, ci, held_from)) != AH_OK)
        return rc;
    /* reads stored after the last validated one were deferred (PIPE_HAS_DEFER)
     * when the head-end stopped: deferred again, validated with the backlog.
     * A meter with no validated read yet (its first cycle deferred the live
     * read behind the whole window) has all its stored reads so: skipping
     * them would leave them unjudged and unpublished for good, since they
     * are stored and never asked for again. */
    if (!stored || !deferred)
        return AH_OK;
    uint64_t from = (m->vs.have & VEE_ST_SEQ) ? (uint64_t)m->vs.last_end + 1 : 0;
    return store_reads_each(p->st, p->midx[ci], from, UINT64_MAX, defer_reload_one,
                            &(struct reload_ctx){p, ci});
}

static int mstate_put(struct pipe *p, size_t ci)
{
    struct mstate *m = p->ms[ci];
    m->saved_held = m->nhold ? m->hold[0].end : 0;
    m->lazy = 0;
    uint8_t buf[MSTATE_LEN];
    int n = vee_state_encode(&m->vs, buf, VEE_STATE_LEN);
    if (n < 0)
        return n;
    buf[VEE_STATE_LEN] = TAIL_VERSION;
    store_rec_put_be64(buf + VEE_STATE_LEN + 1, p->gap_until[ci]);
    store_rec_put_be64(buf + VEE_STATE_LEN + 9, m->nhold ? m->hold[0].end : 0);
    for (size_t i = 0; i < FREEZES; i++) {
        store_rec_put_be64(buf + MSTATE_LEN1 + i * 16, (uint64_t)m->frz[i].at);
        store_rec_put_be64(buf + MSTATE_LEN1 + i * 16 + 8, (uint64_t)m->frz[i].fwd);
    }
    buf[MSTATE_LEN2] = m->ndefer ? ST_DEFERRED : 0;
    return store_batch_put_meter_state(p->st, p->midx[ci], buf, sizeof buf);
}

/* ---- held reads ----------------------------------------------------------- */

/* Room for entry n+1 of *buf (entries of sz bytes, capacity *cap, at most
 * max), doubled from 8 as needed: a meter with a few reads held or
 * deferred costs a few reads, not the most it may ever keep (make soak:
 * with collection behind, 4,862 meters kept a 185 KB defer buffer each,
 * 876 MB for 11,420 reads, and RSS climbed day after day). */
static int room(void *buf, size_t *cap, size_t n, size_t max, size_t sz)
{
    if (n < *cap)
        return AH_OK;
    size_t c = *cap ? *cap * 2 : 8;
    c = c > max ? max : c;
    void *b = c > n ? realloc(*(void **)buf, c * sz) : NULL;
    if (!b)
        return AH_ENOMEM;
    *(void **)buf = b;
    *cap = c;
    return AH_OK;
}

static int hold_push(struct pipe *p, size_t ci, uint64_t end, const struct store_rec *r)
{
    struct mstate *m = p->ms[ci];
    if (m->nhold == HOLD_MAX) {
        /* a run longer than any rule's count: the oldest cannot be re-flagged
         * by it any more (since is at most 254 intervals back) */
        int rc = stage_read(p, ci, m->hold[0].end, &m->hold[0].rec);
        if (rc)
            return rc;
        memmove(m->hold, m->hold + 1, (HOLD_MAX - 1) * sizeof *m->hold);
        m->nhold--;
    }
    int grc = room(&m->hold, &m->cap_hold, m->nhold, HOLD_MAX, sizeof *m->hold);
    if (grc)
        return grc;
    /* in time order: a late backfill may land between held reads */
    size_t at = m->nhold;
    while (at > 0 && m->hold[at - 1].end > end)
        at--;
    if (at > 0 && m->hold[at - 1].end == end) {
        m->hold[at - 1].rec = *r;
        return AH_OK;
    }
    memmove(m->hold + at + 1, m->hold + at, (m->nhold - at) * sizeof *m->hold);
    m->hold[at].end = end;
    m->hold[at].rec = *r;
    m->nhold++;
    return AH_OK;
}

static int reload_one(void *vctx, uint32_t meter, uint64_t end, const struct store_rec *r)
{
    (void)meter;
    struct reload_ctx *c = vctx;
    if (!vee_is_billable(r->quality))
        return 0;
    return hold_push(c->p, c->ci, end, r);
}

static int defer_reload_one(void *vctx, uint32_t meter, uint64_t end,
                            const struct store_rec *r)
{
    struct reload_ctx *c = vctx;
    struct mstate *m = c->p->ms[c->ci];
    if (!vee_is_billable(r->quality) || m->ndefer == PIPE_DEFER_MAX)
        return 0; /* a read the validator judged unsequenced: stays as judged */
    if (room(&m->defer, &m->cap_defer, m->ndefer, DEFER_CAP, sizeof *m->defer))
        return AH_ENOMEM;
    struct pipe_read *d = &m->defer[m->ndefer++];
    memset(d, 0, sizeof *d);
    d->meter = meter;
    d->end = end;
    d->rec = *r;             /* in key order: the store iterates ascending */
    d->has = PIPE_HAS_DEFER; /* kept in memory until the backlog is in */
    return 0;
}

static int hold_reload(struct pipe *p, size_t ci, uint64_t from)
{
    struct reload_ctx c = {p, ci};
    /* held reads were validated: those after the last validated one are
     * deferred (defer_reload_one), not held with the quality of their store */
    const struct vee_state *s = &p->ms[ci]->vs;
    uint64_t to = (s->have & VEE_ST_SEQ) ? (uint64_t)s->last_end + 1 : UINT64_MAX;
    return store_reads_each(p->st, p->midx[ci], from, to, reload_one, &c);
}

/* Whether a run of a multi-read rule is going that may still start an
 * episode reaching back over the meter's latest reads. */
static bool run_pending(const struct vee_state *s)
{
    for (unsigned b = 0; b < VEE_NRULES; b++)
        if (s->run[b] > 0 && !(s->active & VEE_F(b)))
            return true;
    return s->neg_run > 0 && !(s->active & VEE_F_REVERSED);
}

/* An episode of bit started at since: held reads from since on are suspect. */
static int hold_reflag(struct pipe *p, size_t ci, unsigned bit, int64_t since)
{
    struct mstate *m = p->ms[ci];
    for (size_t i = 0; i < m->nhold; i++) {
        if ((int64_t)m->hold[i].end < since || (m->hold[i].rec.quality & VEE_F(bit)))
            continue;
        m->hold[i].rec.quality |= VEE_F(bit);
        int rc =
            store_batch_put_read(p->st, p->midx[ci], m->hold[i].end, &m->hold[i].rec);
        if (rc)
            return rc;
    }
    return AH_OK;
}

static int hold_flush(struct pipe *p, size_t ci)
{
    struct mstate *m = p->ms[ci];
    for (size_t i = 0; i < m->nhold; i++) {
        if (!vee_is_billable(m->hold[i].rec.quality))
            continue;
        int rc = stage_read(p, ci, m->hold[i].end, &m->hold[i].rec);
        if (rc)
            return rc;
    }
    m->nhold = 0;
    return AH_OK;
}

/* Keep a daily freeze among the last FREEZES (one per midnight). */
static void freeze_keep(struct mstate *m, int64_t at, int64_t fwd)
{
    size_t old = 0;
    for (size_t i = 0; i < FREEZES; i++) {
        if (m->frz[i].at == at) {
            if (m->frz[i].fwd != fwd)
                m->dirty = true;
            m->frz[i].fwd = fwd;
            return;
        }
        if (m->frz[i].at < m->frz[old].at)
            old = i;
    }
    if (at <= m->frz[old].at)
        return;
    m->frz[old].at = at;
    m->frz[old].fwd = fwd;
    m->dirty = true;
}

/* ---- one read --------------------------------------------------------------- */

static void to_input(const struct pipe_read *r, struct vee_input *in)
{
    const struct store_rec *s = &r->rec;
    memset(in, 0, sizeof *in);
    in->end = (int64_t)r->end;
    in->source = s->source == STORE_REC_BACKFILL   ? VEE_SRC_BACKFILL
                 : s->source == STORE_REC_RELEASED ? VEE_SRC_RELEASED
                                                   : VEE_SRC_LIVE;
    if (s->present & STORE_REC_HAS_IMP_TOTAL) {
        in->present |= VEE_HAS_FWD;
        in->fwd = s->imp_total;
    }
    if (s->present & STORE_REC_HAS_EXP_TOTAL) {
        in->present |= VEE_HAS_REV;
        in->rev = s->exp_total;
    }
    for (int ph = 0; ph < 3; ph++) {
        if (s->present & STORE_REC_HAS_VOLTAGE(ph)) {
            in->present |= VEE_HAS_VOLTAGE(ph);
            in->voltage[ph] = s->voltage[ph];
        }
        if (s->present & STORE_REC_HAS_CURRENT(ph)) {
            in->present |= VEE_HAS_CURRENT(ph);
            in->current[ph] = s->current[ph];
        }
    }
    if (s->present & STORE_REC_HAS_P(STORE_REC_TOTAL)) {
        in->present |= VEE_HAS_P;
        in->p_total = s->p[STORE_REC_TOTAL];
    }
    if (s->present & STORE_REC_HAS_STATUS) {
        in->present |= VEE_HAS_STATUS;
        memcpy(in->status, s->status, sizeof in->status);
    }
    if (s->present & STORE_REC_HAS_METER_CLOCK) {
        in->present |= VEE_HAS_CLOCK;
        in->meter_clock_ms = s->meter_clock_ms;
        in->headend_clock_ms = s->headend_clock_ms;
    }
    if (r->has & PIPE_HAS_COVER) {
        in->present |= VEE_HAS_COVER;
        in->cover_count = r->cover_count;
        in->terminal_count = r->terminal_count;
    }
    if (r->has & PIPE_HAS_CLEAR_COUNT) {
        in->present |= VEE_HAS_CLEAR_COUNT;
        in->clear_count = r->clear_count;
    }
    if (r->has & PIPE_HAS_SERIAL) {
        in->present |= VEE_HAS_SERIAL;
        in->serial = r->serial;
    }
    if (r->has & PIPE_HAS_FREEZE) {
        in->present |= VEE_HAS_FREEZE;
        in->freeze_at = r->freeze_at;
        in->freeze_fwd = r->freeze_fwd;
    }
}

static int put_transition(struct pipe *p, size_t ci, const struct vee_transition *t,
                          uint32_t quality)
{
    const char *type = vee_flag_name(t->bit);
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string(type));
    json_object_set_new(o, "state", json_string(t->started ? "start" : "cleared"));
    json_object_set_new(o, "meter", json_string(meter_id(p, ci)));
    json_object_set_new(o, "district", json_string(p->cfg->meters[ci].district));
    json_object_set_new(o, "since", jtime(t->since));
    json_object_set_new(o, "at", jtime(t->at));
    json_object_set_new(o, "value", json_integer(t->value));
    json_object_set_new(o, "threshold", json_integer(t->threshold));
    json_object_set_new(o, "aux",
                        json_pack("[III]", (json_int_t)t->aux[0], (json_int_t)t->aux[1],
                                  (json_int_t)t->aux[2]));
    json_object_set_new(o, "quality", json_integer(quality));
    int rc = put_event(p, (uint64_t)t->at, p->midx[ci], t->bit, o);
    if (rc || !p->pub)
        return rc;
    const struct wire_item ev[6] = {
        {"since", t->since, 0}, {"value", t->value, 0}, {"threshold", t->threshold, 0},
        {"aux0", t->aux[0], 0}, {"aux1", t->aux[1], 0}, {"aux2", t->aux[2], 0}};
    struct wire_anomaly a = {meter_id(p, ci),
                             p->cfg->meters[ci].district,
                             type,
                             t->started ? WIRE_EP_START : WIRE_EP_CLEARED,
                             (uint64_t)t->at,
                             quality,
                             ev,
                             6};
    return pub_stage_anomaly(p->pub, &a, NULL);
}

static bool in_batch(const struct pipe *p, uint32_t meter, uint64_t end)
{
    for (size_t i = 0; i < p->ncur; i++)
        if (p->cur[i].meter == meter && p->cur[i].end == end)
            return true;
    return false;
}

/* Whether a read of r's meter and interval came earlier in this batch (r
 * itself is in the batch: counting it would drop every late backfill). */
static bool earlier_in_batch(const struct pipe *p, const struct pipe_read *r)
{
    uintptr_t a = (uintptr_t)p->cur, b = (uintptr_t)(p->cur + p->ncur);
    if ((uintptr_t)r < a || (uintptr_t)r >= b)
        return in_batch(p, r->meter, r->end);
    for (const struct pipe_read *q = p->cur; q < r; q++)
        if (q->meter == r->meter && q->end == r->end)
            return true;
    return false;
}

static int validate_seq(struct pipe *p, size_t ci, const struct pipe_read *r);

/* ---- late reads --------------------------------------------------------- */

/* Stored neighbours of a late read: the last forward register before it
 * (within a day) and the first after it. */
struct nb {
    bool have;
    uint64_t end;
    int64_t v;
};

static int nb_last(void *vctx, uint32_t meter, uint64_t end, const struct store_rec *r)
{
    (void)meter;
    struct nb *n = vctx;
    if (r->present & STORE_REC_HAS_IMP_TOTAL)
        *n = (struct nb){true, end, r->imp_total};
    return 0;
}

static int nb_first(void *vctx, uint32_t meter, uint64_t end, const struct store_rec *r)
{
    nb_last(vctx, meter, end, r);
    return ((struct nb *)vctx)->have; /* 1 stops at the first */
}

/* A read older than the meter's last validated one cannot be sequenced by
 * the validator, but it must not reach billing unjudged (issue 15): its
 * time must be on the grid, and its forward register must lie between its
 * stored neighbours' as a healthy meter could have moved it (REVERSED for a
 * decrease that is no rollover, JUMPING beyond jump_factor × Emax per
 * interval). Returns the fault flags found. */
static int late_check(struct pipe *p, size_t ci, const struct pipe_read *r,
                      uint32_t *flags)
{
    const struct vee_meter_info *mi = &p->ms[ci]->info;
    *flags = 0;
    int64_t local = (int64_t)r->end + mi->tz_offset_s;
    if (local - floor_div(local, p->step_s) * p->step_s != 0) {
        *flags = VEE_F_TIME_INVALID;
        return AH_OK;
    }
    if (!(r->rec.present & STORE_REC_HAS_IMP_TOTAL))
        return AH_OK;
    struct nb a = {0}, b = {0};
    uint64_t from = r->end > 86400 ? r->end - 86400 : 0;
    int rc = store_reads_each(p->st, r->meter, from, r->end, nb_last, &a);
    if (rc == AH_OK)
        rc = store_reads_each(p->st, r->meter, r->end + 1, UINT64_MAX, nb_first, &b);
    if (rc != AH_OK && rc != 1)
        return rc;
    int64_t emax = vee_emax(mi);
    const struct nb *side[2] = {&a, &b};
    for (int i = 0; i < 2; i++) {
        if (!side[i]->have)
            continue;
        int64_t lo = i ? r->rec.imp_total : a.v, hi = i ? b.v : r->rec.imp_total;
        uint64_t t0 = i ? r->end : a.end, t1 = i ? b.end : r->end;
        int64_t span = (int64_t)(t1 - t0) / p->step_s;
        int64_t adv = vee_wrap_advance(mi, &p->thr, lo, hi, span > 0 ? span : 1);
        if (adv < 0)
            *flags |= VEE_F_REVERSED;
        else if ((double)adv >
                 p->thr.jump_factor * (double)emax * (double)(span > 0 ? span : 1))
            *flags |= VEE_F_JUMPING;
    }
    return AH_OK;
}

static int lazy_add(struct pipe *p, size_t ci)
{
    struct mstate *m = p->ms[ci];
    m->lazy++;
    if (p->mf[ci] & MF_LAZY)
        return AH_OK;
    p->mf[ci] |= MF_LAZY;
    return list_push(&p->lazyl, &p->nlazy, &p->lazy_cap, ci);
}

struct flush_ctx {
    struct pipe *p;
    size_t ci, k; /* next deferred entry */
    int rc;
};

/* One stored read of the deferred span, in key order: the deferred entries
 * before it first; an entry of the same interval stands for it (it carries
 * what the store does not: counters, freeze, identity). */
static int flush_one(void *vctx, uint32_t meter, uint64_t end, const struct store_rec *r)
{
    struct flush_ctx *c = vctx;
    struct mstate *m = c->p->ms[c->ci];
    while (c->k < m->ndefer && m->defer[c->k].end < end)
        if ((c->rc = validate_seq(c->p, c->ci, &m->defer[c->k++])) != AH_OK)
            return c->rc;
    if (c->k < m->ndefer && m->defer[c->k].end == end)
        return c->rc = validate_seq(c->p, c->ci, &m->defer[c->k++]);
    if (!vee_is_billable(r->quality))
        return 0; /* judged already (TIME_INVALID, refused): stays as judged */
    struct pipe_read pr;
    memset(&pr, 0, sizeof pr);
    pr.meter = meter;
    pr.end = end;
    pr.rec = *r;
    return c->rc = validate_seq(c->p, c->ci, &pr);
}

/* Validate the deferred reads of meter ci in order: those of earlier
 * batches from the store (committed), those of this batch from memory. */
static int defer_flush(struct pipe *p, size_t ci)
{
    struct mstate *m = p->ms[ci];
    if (!m->ndefer)
        return AH_OK;
    struct flush_ctx c = {p, ci, 0, AH_OK};
    uint64_t from = (m->vs.have & VEE_ST_SEQ) ? (uint64_t)m->vs.last_end + 1 : 0;
    /* to the store's end: what is stored after the last validated read was
     * deferred, also past the entries in memory (defer_reload_one keeps at
     * most PIPE_DEFER_MAX; a whole window is one more, its boundary read) */
    int rc = store_reads_each(p->st, p->midx[ci], from, UINT64_MAX, flush_one, &c);
    if (rc == AH_OK)
        rc = c.rc;
    while (rc == AH_OK && c.k < m->ndefer)
        rc = validate_seq(p, ci, &m->defer[c.k++]);
    free(m->defer);
    m->defer = NULL;
    m->ndefer = m->cap_defer = 0;
    m->dirty = true; /* ST_DEFERRED cleared with the reads it covered */
    return rc;
}

/* Keep r (newer than the meter's last validated read) for later, in time
 * order, and store it now as collected: it is held at once (no gap is
 * announced, the scheduler does not ask for it again). Only the live reads
 * (PIPE_HAS_DEFER) stay in memory past this batch (defer_trim); the others
 * are read back from the store. */
static int defer_push(struct pipe *p, size_t ci, const struct pipe_read *r)
{
    struct mstate *m = p->ms[ci];
    /* live reads are kept across batches, backfill only until its batch
     * commits (defer_trim): at most PIPE_DEFER_MAX + PIPE_BATCH_MAX */
    size_t live = 0;
    for (size_t i = 0; i < m->ndefer; i++)
        live += (m->defer[i].has & PIPE_HAS_DEFER) != 0;
    if (m->ndefer == DEFER_CAP || ((r->has & PIPE_HAS_DEFER) && live == PIPE_DEFER_MAX)) {
        int rc = defer_flush(p, ci); /* the rest of the backlog comes late */
        if (rc)
            return rc;
        return validate_seq(p, ci, r);
    }
    if (room(&m->defer, &m->cap_defer, m->ndefer, DEFER_CAP, sizeof *m->defer))
        return AH_ENOMEM;
    size_t at = m->ndefer;
    while (at > 0 && m->defer[at - 1].end > r->end)
        at--;
    if (at > 0 && m->defer[at - 1].end == r->end)
        return AH_OK; /* a duplicate: the first one stays */
    memmove(m->defer + at + 1, m->defer + at, (m->ndefer - at) * sizeof *m->defer);
    m->defer[at] = *r;
    m->ndefer++;
    m->dirty = true; /* ST_DEFERRED: what follows last_end waits unjudged */
    struct store_rec rec = r->rec;
    rec.quality = r->rec.source == STORE_REC_BACKFILL ? VEE_F_BACKFILLED : 0;
    return store_batch_put_read(p->st, r->meter, r->end, &rec);
}

/* After a batch: its deferred backfill is committed, only the live reads
 * stay in memory. */
static void defer_trim(struct mstate *m)
{
    size_t k = 0;
    for (size_t i = 0; i < m->ndefer; i++)
        if (m->defer[i].has & PIPE_HAS_DEFER)
            m->defer[k++] = m->defer[i];
    m->ndefer = k;
}

static int validate_one(struct pipe *p, const struct pipe_read *r)
{
    size_t ci = r->meter <= p->max_store && p->by_store[r->meter] != NO_METER
                    ? p->by_store[r->meter]
                    : SIZE_MAX;
    if (r->has & PIPE_HAS_LR_BLOCKS)
        return store_batch_put_meter_lr_blocks(p->st, r->meter, r->lr_blocks);
    if (r->has & PIPE_HAS_FLUSH) {
        if (ci == SIZE_MAX || (p->mf[ci] & MF_BAD))
            return AH_OK;
        int rc = mstate_load(p, ci);
        return rc ? rc : defer_flush(p, ci);
    }
    if (ci == SIZE_MAX) /* not in this config: store as collected */
        return store_batch_put_read(p->st, r->meter, r->end, &r->rec);
    if (p->mf[ci] & MF_BAD) { /* see write_batch */
        met_add(p->m_unvalidated, 1);
        return store_batch_put_read(p->st, r->meter, r->end, &r->rec);
    }
    int rc = mstate_load(p, ci);
    if (rc)
        return rc;
    struct mstate *m = p->ms[ci];
    if (r->has & PIPE_HAS_FREEZE)
        freeze_keep(m, r->freeze_at, r->freeze_fwd);
    bool after = !(m->vs.have & VEE_ST_SEQ) || (int64_t)r->end > m->vs.last_end;
    /* (the store lookups only while deferring: a read's cost matters) */
    if (after && ((r->has & PIPE_HAS_DEFER) || m->ndefer)) {
        bool dup = store_has_read(p->st, r->meter, r->end) || earlier_in_batch(p, r);
        /* behind a deferred read, or deferred itself: wait; a newer read
         * without DEFER means the backlog is in */
        bool wait = (r->has & PIPE_HAS_DEFER) ||
                    (m->ndefer && r->end < m->defer[m->ndefer - 1].end);
        if (wait && !dup)
            return defer_push(p, ci, r);
        /* a copy of a read stored after the last validated one while reads
         * are deferred: deferred itself (the flush validates it in order);
         * validating the copy now would pass over those before it for good */
        if (wait && m->ndefer)
            return AH_OK;
        if (!wait && m->ndefer && (rc = defer_flush(p, ci)) != AH_OK)
            return rc;
    }
    return validate_seq(p, ci, r);
}

/* Validate r in the meter's sequence, store it with its verdict, publish
 * what is clean (held reads: see hold_push). */
static int validate_seq(struct pipe *p, size_t ci, const struct pipe_read *r)
{
    int rc;
    struct mstate *m = p->ms[ci];
    struct vee_input in;
    to_input(r, &in);
    struct vee_result res;
    struct store_rec rec = r->rec;
    bool had_seq = (m->vs.have & VEE_ST_SEQ) != 0;
    rc = vee_eval(&p->ms[ci]->info, &p->thr, &m->vs, &in, now_s(p), &res);
    if (rc == AH_ERANGE) {
        /* not after the last validated read: a duplicate (already stored:
         * keep what was stored and published) or a late backfill the
         * validator cannot sequence; that one is stored with its info
         * flags and published only when no episode is open */
        if (store_has_read(p->st, r->meter, r->end) || earlier_in_batch(p, r))
            return AH_OK;
        uint32_t late = 0;
        if ((rc = late_check(p, ci, r, &late)) != AH_OK)
            return rc;
        rec.quality = res.flags | late;
        m->dirty = true; /* stored before last_end: never replayed (lazy state) */
        if (late) {      /* stored with its verdict, never published as clean */
            char at[32];
            ah_time_format((int64_t)r->end * 1000, at, sizeof at);
            ah_log(AH_LOG_WARN, "pipeline", "meter %s at %s: late read %s",
                   meter_id(p, ci), at,
                   vee_flag_name(late & VEE_F_TIME_INVALID ? VEE_BIT_TIME_INVALID
                                 : late & VEE_F_REVERSED   ? VEE_BIT_REVERSED
                                                           : VEE_BIT_JUMPING));
            return store_batch_put_read(p->st, r->meter, r->end, &rec);
        }
        if ((rc = store_batch_put_read(p->st, r->meter, r->end, &rec)) != AH_OK)
            return rc;
        if (m->vs.active != 0)
            return AH_OK;
        if (m->nhold) /* behind held reads: published with them, in order */
            return hold_push(p, ci, r->end, &rec);
        return stage_read(p, ci, r->end, &rec);
    }
    if (rc == AH_EINVAL) {
        /* a value the validator refuses (a register beyond its modulus):
         * keep what the meter said, never publish it as clean */
        char at[32];
        ah_time_format((int64_t)r->end * 1000, at, sizeof at);
        ah_log(AH_LOG_WARN, "pipeline", "meter %s at %s: read refused by validation",
               meter_id(p, ci), at);
        rec.quality = VEE_F_JUMPING; /* an impossible register value */
        m->dirty = true;
        return store_batch_put_read(p->st, r->meter, r->end, &rec);
    }
    if (rc)
        return rc;
    rec.quality = res.flags;
    /* lazy only when a replay from the stored record would judge it alike:
     * clean, no transition, nothing read beside the record, not the first */
    if (had_seq && !res.ntrans && vee_is_billable(res.flags) &&
        !(r->has &
          (PIPE_HAS_COVER | PIPE_HAS_CLEAR_COUNT | PIPE_HAS_SERIAL | PIPE_HAS_FREEZE)))
        rc = lazy_add(p, ci);
    else
        m->dirty = true;
    if (rc != AH_OK)
        return rc;
    if ((rc = store_batch_put_read(p->st, r->meter, r->end, &rec)) != AH_OK)
        return rc;
    for (unsigned i = 0; i < res.ntrans; i++) {
        if (res.trans[i].started &&
            (rc = hold_reflag(p, ci, res.trans[i].bit, res.trans[i].since)) != AH_OK)
            return rc;
        if ((rc = put_transition(p, ci, &res.trans[i], res.flags)) != AH_OK)
            return rc;
    }
    if (run_pending(&m->vs)) {
        if (vee_is_billable(rec.quality))
            return hold_push(p, ci, r->end, &rec);
        return AH_OK;
    }
    if ((rc = hold_flush(p, ci)) != AH_OK)
        return rc;
    if (vee_is_billable(rec.quality))
        return stage_read(p, ci, r->end, &rec);
    return AH_OK;
}

/* ---- gaps ----------------------------------------------------------------- */

static int gap_stage(struct pipe *p, size_t ci, uint64_t first, uint64_t last)
{
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("GAP"));
    json_object_set_new(o, "meter", json_string(meter_id(p, ci)));
    json_object_set_new(o, "district", json_string(p->cfg->meters[ci].district));
    json_object_set_new(o, "first", jtime((int64_t)first));
    json_object_set_new(o, "last", jtime((int64_t)last));
    json_object_set_new(
        o, "intervals",
        json_integer((json_int_t)((last - first) / (uint64_t)p->step_s + 1)));
    int rc = put_event(p, first, p->midx[ci], PIPE_EV_GAP, o);
    if (rc || !p->pub)
        return rc;
    struct wire_gap g = {
        meter_id(p, ci), p->cfg->meters[ci].district, first, last, (uint32_t)p->step_s,
        "not-collected"};
    return pub_stage_gap(p->pub, &g, NULL);
}

/* The gap mark of a meter never loaded, without loading its state (the
 * gap pass visits every meter: loading them all would hold a city's states
 * at once). A meter never seen gets its fresh state written now — where
 * its gap checks begin must survive a restart — and unloaded again. */
static int gap_peek(struct pipe *p, size_t ci)
{
    uint8_t buf[MSTATE_LEN + 16];
    size_t len = 0;
    int rc = store_get_meter_state(p->st, p->midx[ci], buf, sizeof buf, &len);
    if (rc == AH_OK && len == FRESH_LEN && buf[0] == FRESH_MARK) {
        gap_init(p, ci, store_rec_get_be64(buf + 1));
        return AH_OK;
    }
    if (rc == AH_OK && len >= MSTATE_LEN1 && buf[VEE_STATE_LEN] >= 1 &&
        buf[VEE_STATE_LEN] <= TAIL_VERSION) {
        gap_init(p, ci, store_rec_get_be64(buf + VEE_STATE_LEN + 1));
        return AH_OK;
    }
    if (rc == AH_ENOENT && !p->ms[ci]) {
        int64_t g = window_start(p, now_s(p)) - 1;
        gap_init(p, ci, g > 0 ? (uint64_t)g : 0);
        uint8_t f[FRESH_LEN] = {FRESH_MARK};
        store_rec_put_be64(f + 1, p->gap_until[ci]);
        return store_batch_put_meter_state(p->st, p->midx[ci], f, sizeof f);
    }
    if (rc != AH_OK && rc != AH_ENOENT && rc != AH_EOVERFLOW)
        return rc;
    return mstate_load(p, ci); /* unreadable: started afresh there */
}

/* Intervals of meter ci older than the backfill window that are still
 * missing: reported once, never estimated. */
static int gaps_meter(struct pipe *p, size_t ci, int64_t now)
{
    if (p->mf[ci] & MF_BAD)
        return AH_OK;
    int rc = AH_OK;
    if (!(p->mf[ci] & MF_GAPK) && (rc = gap_peek(p, ci)) != AH_OK)
        return rc;
    int64_t lim = now - p->lag_s;
    if (lim <= 0 || (uint64_t)lim <= p->gap_until[ci])
        return AH_OK;
    uint64_t to = (uint64_t)lim; /* exclusive */
    uint64_t miss[256];
    uint64_t from = p->gap_until[ci] + 1;
    bool found = false;
    for (;;) {
        size_t n = 0;
        rc = store_missing_intervals(p->st, p->midx[ci], from, to, (uint64_t)p->step_s,
                                     miss, 256, &n);
        if (rc)
            return rc;
        size_t k = n < 256 ? n : 256;
        uint64_t run0 = 0, prev = 0;
        bool open = false;
        for (size_t i = 0; i < k; i++) {
            if (in_batch(p, p->midx[ci], miss[i]))
                continue;
            if (open && miss[i] == prev + (uint64_t)p->step_s) {
                prev = miss[i];
                continue;
            }
            if (open && (rc = gap_stage(p, ci, run0, prev)) != AH_OK)
                return rc;
            run0 = prev = miss[i];
            open = true;
        }
        if (open && (rc = gap_stage(p, ci, run0, prev)) != AH_OK)
            return rc;
        found = found || open;
        if (n <= 256)
            break;
        from = miss[255] + 1;
    }
    /* persisted with the meter's next state write; at once only when gaps
     * were reported (a restart must not report them again: re-checking a
     * range without gaps finds none, so a quiet advance may wait) */
    p->gap_until[ci] = to - 1;
    if (found && (rc = mstate_load(p, ci)) == AH_OK)
        p->ms[ci]->dirty = true;
    return rc;
}

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

static int scan_read(void *vctx, uint32_t meter, uint64_t end, const struct store_rec *r)
{
    (void)meter;
    struct day_scan *s = vctx;
    s->n++;
    if (r->present & STORE_REC_HAS_IMP_TOTAL)
        chain_step(s, 0, (int64_t)end, r->imp_total);
    if (s->exp && (r->present & STORE_REC_HAS_EXP_TOTAL))
        chain_step(s, 1, (int64_t)end, r->exp_total);
    return 0;
}

/* One boundary register at t: the load record, else the daily freeze
 * (forward only). has_exp: the record carried the reverse register. */
static bool boundary(struct pipe *p, size_t ci, int64_t t, int64_t *imp, bool *has_exp,
                     int64_t *exp, bool *is_read)
{
    struct store_rec r;
    *has_exp = false;
    *is_read = false;
    if (t <= 0)
        return false;
    if (store_get_read(p->st, p->midx[ci], (uint64_t)t, &r) == AH_OK &&
        (r.present & STORE_REC_HAS_IMP_TOTAL)) {
        *imp = r.imp_total;
        *has_exp = (r.present & STORE_REC_HAS_EXP_TOTAL) != 0;
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
                     !in_batch(p, p->midx[ci], (uint64_t)d0)) ||
                    ((!hb || (exp && !bhx)) && missing_for_good(p, d1, now) &&
                     !in_batch(p, p->midx[ci], (uint64_t)d1));
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
    struct store_rec b;
    if (d0 < 0 || store_get_read(p->st, p->midx[ci], (uint64_t)d0, &b) != AH_OK ||
        !(b.present & STORE_REC_HAS_IMP_TOTAL))
        return AH_OK;
    for (int k = MONTH_DAYS; k >= MONTH_MIN_DAYS; k--) {
        int64_t t = d0 - (int64_t)k * 86400;
        struct store_rec a;
        if (t < 0 || store_get_read(p->st, p->midx[ci], (uint64_t)t, &a) != AH_OK ||
            !(a.present & STORE_REC_HAS_IMP_TOTAL))
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

static const char *dist_flag_name(uint32_t f)
{
    switch (f) {
    case VEE_DIST_LINE_LOSS:
        return "LINE_LOSS";
    case VEE_DIST_LINE_LOSS_SWING:
        return "LINE_LOSS_SWING";
    case VEE_DIST_INCOMPLETE:
        return "INCOMPLETE";
    case VEE_DIST_PARTIAL:
        return "PARTIAL";
    default:
        return "NO_ENERGY";
    }
}

static uint16_t dist_flag_type(uint32_t f)
{
    switch (f) {
    case VEE_DIST_LINE_LOSS:
        return PIPE_EV_LINE_LOSS;
    case VEE_DIST_LINE_LOSS_SWING:
        return PIPE_EV_LOSS_SWING;
    case VEE_DIST_INCOMPLETE:
        return PIPE_EV_INCOMPLETE;
    case VEE_DIST_PARTIAL:
        return PIPE_EV_PARTIAL;
    default:
        return PIPE_EV_NO_ENERGY;
    }
}

static const char *de_reason(int state)
{
    return state == DE_DECREASE ? "register decrease (no rollover)"
                                : "no day-boundary register";
}

/* Judge one district day when every meter's day energy is known or known
 * to be unknowable; *judged false: wait (a boundary may still come). */
static int district_day(struct pipe *p, struct district *d, int32_t day, int64_t now,
                        bool *judged)
{
    *judged = false;
    int64_t tz = p->cfg->headend.tz_offset_s;
    int64_t d1 = ((int64_t)day + 1) * 86400 - tz;
    size_t n = d->ncust;
    struct vee_district_customer *cu = calloc(n ? n : 1, sizeof *cu);
    struct day_energy *ce = calloc(n ? n : 1, sizeof *ce);
    if (!cu || !ce) {
        free(cu);
        free(ce);
        return AH_ENOMEM;
    }
    bool wait = false;
    uint32_t collected = 0;
    int64_t cust_sum = 0;
    int rc = AH_OK;
    struct day_energy de = {.state = DE_KNOWN};
    if (d->dmeter != SIZE_MAX)
        rc = meter_day(p, d->dmeter, day, now, &de);
    wait = de.state == DE_WAIT;
    for (size_t i = 0; i < n && rc == AH_OK && !wait; i++) {
        if ((rc = meter_day(p, d->cust[i], day, now, &ce[i])) != AH_OK)
            break;
        wait = ce[i].state == DE_WAIT;
    }
    if (rc != AH_OK || wait) {
        free(cu);
        free(ce);
        return rc; /* a boundary may still be collected */
    }
    for (size_t i = 0; i < n && rc == AH_OK; i++) {
        struct day_energy pe;
        if ((rc = meter_day(p, d->cust[i], day - 1, now, &pe)) != AH_OK)
            break;
        cu[i].id = (uint32_t)d->cust[i];
        cu[i].complete = ce[i].state == DE_KNOWN;
        cu[i].energy = ce[i].imp;
        cu[i].export_energy = ce[i].exp;
        cu[i].has_prev_day = pe.state == DE_KNOWN;
        cu[i].prev_day = pe.imp;
        if ((rc = meter_month_mean(p, d->cust[i], day, &cu[i].has_prev_month,
                                   &cu[i].prev_month)) != AH_OK)
            break;
        collected += ce[i].collected;
        cust_sum += ce[i].imp;
    }
    if (rc != AH_OK) {
        free(cu);
        free(ce);
        return rc;
    }
    double month_loss = 0;
    bool has_month = dist_month_loss(d, day, &month_loss);
    size_t ps = jslot(day - 1);
    bool has_prev = d->jday[ps] == day - 1 && d->jloss_ok[ps];
    struct vee_district_input in = {.complete = de.state == DE_KNOWN,
                                    .energy = de.imp,
                                    .reverse = de.exp,
                                    .cust = cu,
                                    .n = n,
                                    .has_prev_day = has_prev,
                                    .prev_day_loss_pct = has_prev ? d->jloss[ps] : 0,
                                    .has_prev_month = has_month,
                                    .prev_month_loss_pct = month_loss};
    struct vee_district_result res;
    if ((rc = vee_district_eval(&p->thr, &in, &res)) != AH_OK) {
        free(cu);
        free(ce);
        return rc;
    }
    uint32_t expected = (uint32_t)(n * (size_t)(86400 / p->step_s));
    /* complete: every meter's day energy known, the loss is the loss */
    bool complete = res.loss_valid && !(res.flags & VEE_DIST_PARTIAL);
    int64_t evt_meter = d->dmeter != SIZE_MAX ? p->midx[d->dmeter]
                        : n                   ? p->midx[d->cust[0]]
                                              : 0;
    time_t lt = (time_t)((int64_t)day * 86400);
    struct tm tm;
    gmtime_r(&lt, &tm);
    char dayname[40];
    snprintf(dayname, sizeof dayname, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday);

    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("DAILY"));
    json_object_set_new(o, "district", json_string(d->name));
    json_object_set_new(o, "day", json_string(dayname));
    json_object_set_new(o, "day_number", json_integer(day));
    json_object_set_new(o, "complete", json_boolean(complete));
    json_object_set_new(o, "expected", json_integer(expected));
    json_object_set_new(o, "collected", json_integer(collected));
    json_object_set_new(o, "district_energy", json_integer(de.imp));
    json_object_set_new(o, "district_reverse", json_integer(de.exp));
    json_object_set_new(o, "customers_energy", json_integer(cust_sum));
    json_object_set_new(o, "customers_export", json_integer(res.customers_export));
    if (res.loss_valid) {
        json_object_set_new(o, "supply", json_integer(res.supply));
        json_object_set_new(o, "sales", json_integer(res.sales));
        json_object_set_new(o, "loss_pct", json_real(res.loss_pct));
    }
    /* the meters whose day energy is unknown, and why (INCOMPLETE) */
    json_t *unk = json_array();
    if (de.state != DE_KNOWN)
        json_array_append_new(unk, json_pack("{s:s,s:s}", "meter", meter_id(p, d->dmeter),
                                             "reason", de_reason(de.state)));
    for (size_t i = 0; i < n; i++)
        if (ce[i].state != DE_KNOWN)
            json_array_append_new(unk,
                                  json_pack("{s:s,s:s}", "meter", meter_id(p, d->cust[i]),
                                            "reason", de_reason(ce[i].state)));
    json_object_set_new(o, "unknown", unk);
    json_t *fl = json_array();
    const char *flags[5];
    size_t nf = 0;
    for (uint32_t f = 1; f <= VEE_DIST_PARTIAL; f <<= 1)
        if (res.flags & f) {
            flags[nf++] = dist_flag_name(f);
            json_array_append_new(fl, json_string(dist_flag_name(f)));
        }
    json_object_set_new(o, "flags", fl);
    json_t *mv = json_array();
    for (unsigned i = 0; i < res.nmovers; i++)
        json_array_append_new(mv, json_pack("{s:s,s:I,s:I,s:I}", "meter",
                                            meter_id(p, res.movers[i].id), "energy",
                                            (json_int_t)res.movers[i].energy, "previous",
                                            (json_int_t)res.movers[i].prev, "change",
                                            (json_int_t)res.movers[i].change));
    json_object_set_new(o, "customers", mv);
    if (res.flags & VEE_DIST_LINE_LOSS_SWING) {
        json_object_set_new(o, "swing_day_pct", json_real(res.swing_day_pct));
        json_object_set_new(o, "swing_month_pct", json_real(res.swing_month_pct));
    }
    for (uint32_t f = 1; f <= VEE_DIST_PARTIAL && rc == AH_OK; f <<= 1)
        if (res.flags & f) {
            json_t *c = json_deep_copy(o);
            json_object_set_new(c, "type", json_string(dist_flag_name(f)));
            rc = put_event(p, (uint64_t)d1, (uint32_t)evt_meter, dist_flag_type(f), c);
        }
    if (rc == AH_OK)
        rc = put_event(p, (uint64_t)d1, (uint32_t)evt_meter, PIPE_EV_DAILY, o);
    else
        json_decref(o);
    if (rc == AH_OK && p->pub) {
        struct wire_daily w = {
            d->name, (uint16_t)(tm.tm_year + 1900), (uint8_t)(tm.tm_mon + 1),
            (uint8_t)tm.tm_mday,
            /* the feed's contract (docs/wire-format.md):
             * complete = every interval collected too */
            complete && collected == expected, expected, collected, de.imp, cust_sum,
            res.loss_valid ? (int64_t)llround(res.loss_pct * 100.0) : 0, flags, nf};
        rc = pub_stage_daily(p->pub, &w, NULL);
    }
    free(cu);
    free(ce);
    if (rc == AH_OK) {
        *judged = true;
        /* a partial day's loss is an upper bound: no baseline for swings */
        dist_mark(d, day, complete, res.loss_pct);
    }
    return rc;
}

/* Every day not judged yet, oldest first; a day that waits for a boundary
 * does not hold back the days after it (issue 13/14). */
static int districts_tick(struct pipe *p, int64_t now)
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

/* ---- operator releases ----------------------------------------------------- */

struct rel_ctx {
    struct pipe *p;
    size_t ci;
    unsigned long count;
};

static int release_one(void *vctx, uint32_t meter, uint64_t end,
                       const struct store_rec *r)
{
    struct rel_ctx *c = vctx;
    if (vee_is_billable(r->quality))
        return 0; /* clean, or released before */
    struct store_rec rec = *r;
    rec.quality |= VEE_F_RELEASED;
    rec.source = STORE_REC_RELEASED;
    int rc = store_batch_put_read(c->p->st, meter, end, &rec);
    if (rc == AH_OK)
        rc = stage_read(c->p, c->ci, end, &rec);
    if (rc == AH_OK)
        c->count++;
    return rc;
}

/* Apply one request file; *done: it was applied (or is invalid) and may go. */
static int release_apply(struct pipe *p, const char *path, bool *done)
{
    *done = false;
    json_error_t je;
    json_t *o = json_load_file(path, 0, &je);
    const char *meter = NULL, *reason = NULL, *op = NULL;
    json_int_t from = 0, to = 0, req = 0;
    if (!o ||
        json_unpack(o, "{s:s,s:I,s:I,s:s,s:s,s:I}", "meter", &meter, "from", &from, "to",
                    &to, "reason", &reason, "operator", &op, "requested", &req) != 0) {
        ah_log(AH_LOG_WARN, "release", "%s: not a release request (%s), ignored", path,
               o ? "fields" : je.text);
        json_decref(o);
        *done = true;
        return AH_OK;
    }
    const struct cfg_meter *cm = cfg_meter_find(p->cfg, meter);
    if (!cm || from < 0 || to <= from) {
        ah_log(AH_LOG_WARN, "release", "%s: meter %s unknown or empty range, ignored",
               path, meter);
        json_decref(o);
        *done = true;
        return AH_OK;
    }
    size_t ci = (size_t)(cm - p->cfg->meters);
    struct rel_ctx c = {p, ci, 0};
    int rc = store_reads_each(p->st, p->midx[ci], (uint64_t)from, (uint64_t)to,
                              release_one, &c);
    if (rc == AH_OK) {
        json_object_set_new(o, "type", json_string("RELEASE"));
        json_object_set_new(o, "released", json_integer((json_int_t)c.count));
        json_object_set_new(o, "applied", jtime(now_s(p)));
        json_object_set_new(o, "from", jtime((int64_t)from));
        json_object_set_new(o, "to", jtime((int64_t)to));
        json_object_set_new(o, "requested", jtime((int64_t)req));
        /* key time = the request's own time: applying it twice (a crash
         * between commit and unlink) writes the same event again */
        rc = put_event(p, (uint64_t)req, p->midx[ci], PIPE_EV_RELEASE, json_incref(o));
        ah_log(AH_LOG_INFO, "release", "meter %s: %lu reads released by %s: %s", meter,
               c.count, op, reason);
    }
    json_decref(o);
    *done = rc == AH_OK;
    return rc;
}

/* Request files applied in this batch: unlinked after the commit. */
#define REL_MAX 16
static int releases_tick(struct pipe *p, char done[][PATH_MAX], size_t *ndone)
{
    *ndone = 0;
    if (!p->release_dir[0])
        return AH_OK;
    DIR *dir = opendir(p->release_dir);
    if (!dir)
        return AH_OK;
    struct dirent *de;
    int rc = AH_OK;
    while (rc == AH_OK && *ndone < REL_MAX && (de = readdir(dir)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l < 5 || strcmp(de->d_name + l - 4, ".req") != 0)
            continue;
        char path[PATH_MAX];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", p->release_dir, de->d_name) >=
            sizeof path)
            continue;
        bool ok = false;
        rc = release_apply(p, path, &ok);
        if (ok)
            memcpy(done[(*ndone)++], path, sizeof path);
    }
    closedir(dir);
    return rc;
}

/* ---- the batch ---------------------------------------------------------- */

static int cmp_read(const void *a, const void *b)
{
    const struct pipe_read *x = a, *y = b;
    if (x->meter != y->meter)
        return x->meter < y->meter ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}

/* Bring the loaded states down to res_max at the end of a batch, least
 * recently used first (CLOCK: a meter used since the hand last passed gets
 * another round), writing what is unsaved into this batch; a meter
 * holding or deferring reads stays. */
static int evict(struct pipe *p)
{
    int rc = AH_OK;
    unsigned long n = 0;
    for (size_t spins = 0; p->nres > p->res_max && spins <= 2 * p->nres && rc == AH_OK;
         spins++) {
        if (p->hand >= p->nres)
            p->hand = 0;
        size_t ci = p->res[p->hand];
        struct mstate *m = p->ms[ci];
        if ((p->mf[ci] & MF_USED) || m->nhold || m->ndefer) {
            p->mf[ci] &= (uint8_t)~MF_USED;
            p->hand++;
            continue;
        }
        if (m->dirty || m->lazy || m->saved_held)
            rc = mstate_put(p, ci);
        if (rc == AH_OK) {
            mstate_drop(p, ci); /* the last loaded one takes its place */
            n++;
        }
    }
    pthread_mutex_lock(&p->lock);
    p->stats.evictions += n;
    pthread_mutex_unlock(&p->lock);
    return rc;
}

/* Build the whole batch: reads, then the periodic work. */
static int build_batch(struct pipe *p, const struct pipe_read *r, size_t n,
                       char rel[][PATH_MAX], size_t *nrel)
{
    *nrel = 0;
    int rc = AH_OK;
    if (!p->cfg || p->raw) {
        for (size_t i = 0; i < n && rc == AH_OK; i++)
            if (r[i].has & PIPE_HAS_LR_BLOCKS)
                rc = store_batch_put_meter_lr_blocks(p->st, r[i].meter, r[i].lr_blocks);
            else if (!(r[i].has & PIPE_HAS_FLUSH))
                rc = store_batch_put_read(p->st, r[i].meter, r[i].end, &r[i].rec);
        return rc;
    }
    p->cur = r;
    p->ncur = n;
    for (size_t i = 0; i < n && rc == AH_OK; i++) {
        rc = validate_one(p, &r[i]);
        if (rc == AH_EINVAL) {
            /* one record that cannot be encoded must not sink the batch */
            char at[32];
            ah_time_format((int64_t)r[i].end * 1000, at, sizeof at);
            ah_log(AH_LOG_ERROR, "pipeline", "meter index %u at %s: record refused",
                   r[i].meter, at);
            rc = AH_OK;
        }
    }
    int64_t now = now_s(p);
    if (rc == AH_OK && (p->tick_ci > 0 || now - p->last_tick_s >= p->step_s)) {
        if (p->tick_ci == 0)
            p->tick_now = now;
        size_t n_m = p->cfg->n_meters, end = n_m - p->tick_ci > PIPE_TICK_METERS
                                                 ? p->tick_ci + PIPE_TICK_METERS
                                                 : n_m;
        for (size_t ci = p->tick_ci; ci < end && rc == AH_OK; ci++)
            rc = gaps_meter(p, ci, p->tick_now);
        if (rc == AH_OK && end == n_m)
            rc = districts_tick(p, p->tick_now);
        if (rc == AH_OK) {
            p->tick_ci = end == n_m ? 0 : end;
            if (end == n_m)
                p->last_tick_s = p->tick_now;
        } else { /* must not sink the reads: tried again next interval */
            ah_log(AH_LOG_ERROR, "pipeline", "gap and district pass failed: %s (%s)",
                   ah_strerror(rc), store_last_error(p->st));
            p->tick_ci = 0;
            p->last_tick_s = p->tick_now;
            rc = AH_OK;
        }
    }
    if (rc == AH_OK && (rc = releases_tick(p, rel, nrel)) != AH_OK) {
        /* a request that fails stays in the spool: tried with the next batch */
        ah_log(AH_LOG_ERROR, "release", "applying release requests failed: %s (%s)",
               ah_strerror(rc), store_last_error(p->st));
        rc = AH_OK;
    }
    /* only a meter touched in this batch can have deferred its backfill */
    for (size_t k = 0; k < p->ntouched; k++)
        if (p->ms[p->touched[k]] && p->ms[p->touched[k]]->ndefer)
            defer_trim(p->ms[p->touched[k]]);
    size_t k = 0;
    for (; k < p->ntouched && rc == AH_OK; k++) {
        size_t ci = p->touched[k];
        struct mstate *m = p->ms[ci];
        p->mf[ci] &= (uint8_t)~MF_TOUCHED;
        if (!m)
            continue; /* its load failed */
        if (m->dirty || m->lazy >= LAZY_MAX ||
            (m->nhold ? m->hold[0].end : 0) != m->saved_held) {
            rc = mstate_put(p, ci);
            m->dirty = false;
        }
    }
    /* on a failure the rest stay listed for the next batch */
    if (k < p->ntouched)
        memmove(p->touched, p->touched + k, (p->ntouched - k) * sizeof *p->touched);
    p->ntouched -= k;
    if (rc == AH_OK)
        rc = evict(p);
    p->cur = NULL;
    p->ncur = 0;
    return rc;
}

static void write_batch(struct pipe *p, struct pipe_read *r, size_t n);

/* A batch whose build failed is never dropped (issue 15): its halves are
 * built again, each on its own, down to the one read that fails; that one
 * is stored as collected — unvalidated, unpublished — and its meter with
 * it from then on (MF_BAD): what cannot be read back of a meter must
 * neither sink its neighbours' reads nor lose its own. */
static void write_split(struct pipe *p, struct pipe_read *r, size_t n, int why)
{
    met_add(p->m_split, 1);
    if (n > 1) {
        size_t h = n / 2;
        ah_log(AH_LOG_WARN, "pipeline", "batch split: %zu and %zu reads built again", h,
               n - h);
        write_batch(p, r, h);
        write_batch(p, r + h, n - h);
        return;
    }
    if (n == 0 || !p->cfg || p->raw || (r->has & PIPE_HAS_FLUSH))
        return;
    size_t ci = r->meter <= p->max_store && p->by_store[r->meter] != NO_METER
                    ? p->by_store[r->meter]
                    : SIZE_MAX;
    if (ci != SIZE_MAX) {
        p->mf[ci] |= MF_BAD;
        ah_log(AH_LOG_ERROR, "pipeline",
               "meter %s: its stored state or reads cannot be read back (%s); its reads "
               "are stored as collected, not validated or published, until a restart",
               meter_id(p, ci), ah_strerror(why));
    }
    met_add(p->m_unvalidated, 1);
    p->raw = true;
    write_batch(p, r, 1);
    p->raw = false;
}

/* Write up to n reads (sorted in place) as one batch; on a commit failure
 * keep trying with a pause, since dropping reads would make them gaps
 * (DESIGN.md §5). The batch is built once: validation state has moved on. */
static void write_batch(struct pipe *p, struct pipe_read *r, size_t n)
{
    static char rel[REL_MAX][PATH_MAX];
    size_t nrel = 0;
    if (n > 1)
        qsort(r, n, sizeof *r, cmp_read);
    batch_begin(p);
    int rc = build_batch(p, r, n, rel, &nrel);
    if (rc != AH_OK) {
        /* a record or state that cannot be encoded will never commit; the
         * validation state may be ahead of the store, so reload it */
        ah_log(AH_LOG_ERROR, "pipeline", "building a batch of %zu reads failed: %s", n,
               ah_strerror(rc));
        /* held, deferred and lazily validated reads are reloaded and
         * replayed from the store with the state */
        while (p->nres)
            mstate_drop(p, p->res[p->nres - 1]);
        for (size_t k = 0; k < p->ntouched; k++)
            p->mf[p->touched[k]] &= (uint8_t)~MF_TOUCHED;
        for (size_t k = 0; k < p->nlazy; k++)
            p->mf[p->lazyl[k]] &= (uint8_t)~MF_LAZY;
        p->ntouched = 0;
        p->tick_ci = 0; /* the gap pass starts over, after the idle pause */
        p->nlazy = 0;
        batch_begin(p);
        pthread_mutex_lock(&p->lock);
        p->stats.commit_errors++;
        p->last_err = rc;
        pthread_mutex_unlock(&p->lock);
        write_split(p, r, n, rc);
        return;
    }
    if (store_batch_count(p->st) == 0) {
        for (size_t i = 0; i < nrel; i++)
            unlink(rel[i]); /* requests that were refused */
        return;
    }
    size_t puts = store_batch_count(p->st);
    pthread_mutex_lock(&p->lock);
    if (puts > p->stats.max_batch)
        p->stats.max_batch = puts;
    pthread_mutex_unlock(&p->lock);
    for (int attempt = 0;; attempt++) {
        rc = batch_commit(p);
        if (rc == AH_OK) {
            pthread_mutex_lock(&p->lock);
            p->last_err = AH_OK;
            p->full_hold = false;
            pthread_mutex_unlock(&p->lock);
            if (attempt > 0) {
                ah_log(AH_LOG_WARN, "pipeline",
                       "store writable again: %zu reads committed after %d retries", n,
                       attempt);
                met_set(p->m_full, 0);
            }
            break;
        }
        met_add(p->m_commit_err, 1);
        if (rc == AH_ENOSPC) {
            /* Nothing committed is at risk; the batch is held and the queue
             * behind it fills until collection waits (pipe_push). */
            met_set(p->m_full, 1);
            ah_log(AH_LOG_ERROR, "pipeline",
                   "no space for the store: holding %zu reads, collection paused until "
                   "space is freed (%s)",
                   n, store_last_error(p->st));
        } else
            ah_log(AH_LOG_ERROR, "pipeline", "store commit of %zu reads failed: %s (%s)",
                   n, ah_strerror(rc), store_last_error(p->st));
        pthread_mutex_lock(&p->lock);
        p->stats.commit_errors++;
        p->last_err = rc;
        if (rc == AH_ENOSPC && !p->full_hold) {
            p->full_hold = true;
            pthread_cond_broadcast(&p->not_full); /* pipe_push stops waiting */
        }
        bool give_up = p->stopping && attempt >= 3;
        pthread_mutex_unlock(&p->lock);
        if (give_up)
            break;
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (rc == AH_OK)
        for (size_t i = 0; i < nrel; i++)
            if (unlink(rel[i]) != 0)
                ah_log(AH_LOG_WARN, "release", "%s: %s", rel[i], strerror(errno));
}

/* Link outages: one store event each, and an anomaly on the feed whose
 * "meter" segment is the link name (docs/operations.md "Link outages"). */
static void write_link_events(struct pipe *p, const struct pipe_link_ev *e, size_t n)
{
    batch_begin(p);
    int rc = AH_OK;
    for (size_t i = 0; i < n && rc == AH_OK; i++) {
        const char *type = e[i].up ? "LINK_UP" : "LINK_DOWN";
        json_t *o = json_object();
        json_object_set_new(o, "type", json_string(type));
        json_object_set_new(o, "link", json_string(e[i].link));
        json_object_set_new(o, "endpoint", json_string(e[i].endpoint));
        json_object_set_new(o, "state", json_string(e[i].up ? "cleared" : "start"));
        json_object_set_new(o, "since", jtime(e[i].since_s));
        json_object_set_new(o, "at", jtime(e[i].at_s));
        json_object_set_new(o, "down_s",
                            json_integer((json_int_t)(e[i].at_s - e[i].since_s)));
        rc = put_event(p, (uint64_t)e[i].at_s, UINT32_MAX,
                       e[i].up ? PIPE_EV_LINK_UP : PIPE_EV_LINK_DOWN, o);
        if (rc == AH_OK && p->pub && wire_segment_ok(e[i].link)) {
            const struct wire_item ev[2] = {{"since", e[i].since_s, 0},
                                            {"down_s", e[i].at_s - e[i].since_s, 0}};
            struct wire_anomaly a = {e[i].link,
                                     "links",
                                     type,
                                     e[i].up ? WIRE_EP_CLEARED : WIRE_EP_START,
                                     (uint64_t)e[i].at_s,
                                     0,
                                     ev,
                                     2};
            rc = pub_stage_anomaly(p->pub, &a, NULL);
        }
    }
    if (rc == AH_OK)
        rc = batch_commit(p);
    if (rc != AH_OK)
        ah_log(AH_LOG_ERROR, "pipeline", "storing %zu link events failed: %s", n,
               ah_strerror(rc));
}

int pipe_push_link(pipe_t *p, const char *link, const char *endpoint, bool up,
                   int64_t since_s, int64_t at_s)
{
    pthread_mutex_lock(&p->lock);
    if (p->nlq == PIPE_LINK_EVENTS_MAX || p->stopping) {
        pthread_mutex_unlock(&p->lock);
        return AH_EBUSY;
    }
    struct pipe_link_ev *e = &p->lq[p->nlq++];
    snprintf(e->link, sizeof e->link, "%s", link);
    snprintf(e->endpoint, sizeof e->endpoint, "%s", endpoint ? endpoint : "");
    e->up = up;
    e->since_s = since_s;
    e->at_s = at_s;
    pthread_cond_signal(&p->not_empty);
    pthread_mutex_unlock(&p->lock);
    return AH_OK;
}

/* The states the lazy ones left behind, when the writer stops, in batches
 * of LAZY_FLUSH meters (a city's worth in one batch would be hundreds of
 * MB held twice). A failure leaves them to the replay at the next load. */
#define LAZY_FLUSH 4096
static void lazy_flush(struct pipe *p)
{
    size_t k = 0, written = 0;
    int rc = AH_OK;
    while (k < p->nlazy && rc == AH_OK) {
        batch_begin(p);
        size_t n = 0;
        for (; k < p->nlazy && n < LAZY_FLUSH && rc == AH_OK; k++) {
            size_t ci = p->lazyl[k];
            if (p->ms[ci] && p->ms[ci]->lazy && (rc = mstate_put(p, ci)) == AH_OK)
                n++;
        }
        if (rc == AH_OK && n)
            rc = batch_commit(p);
        written += n;
    }
    if (rc != AH_OK)
        ah_log(AH_LOG_WARN, "pipeline",
               "writing meter states at stop failed (%s): rebuilt from the reads at the "
               "next start",
               ah_strerror(rc));
    ah_log(AH_LOG_DEBUG, "pipeline", "%zu meter states written at stop", written);
    p->nlazy = 0;
}

static void *pipe_writer(void *arg)
{
    struct pipe *p = arg;
    struct pipe_read *batch = malloc(PIPE_BATCH_MAX * sizeof *batch);
    if (!batch) {
        ah_log(AH_LOG_ERROR, "pipeline", "out of memory for the batch");
        abort(); /* the writer cannot run; reads would pile up silently */
    }
    for (;;) {
        pthread_mutex_lock(&p->lock);
        if (p->len == 0 && !p->stopping && !p->tick_ci) { /* a gap pass goes on at once */
            if (p->cfg) {
                /* idle: wake every second for gaps, district days, releases */
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_sec += 1;
                pthread_cond_timedwait(&p->not_empty, &p->lock, &ts);
            } else {
                while (p->len == 0 && !p->stopping)
                    pthread_cond_wait(&p->not_empty, &p->lock);
            }
        }
        if (p->len == 0 && p->nlq == 0 && p->stopping) {
            pthread_mutex_unlock(&p->lock);
            if (p->cfg)
                lazy_flush(p);
            break;
        }
        struct pipe_link_ev lev[PIPE_LINK_EVENTS_MAX];
        size_t nlev = p->nlq;
        memcpy(lev, p->lq, nlev * sizeof lev[0]);
        p->nlq = 0;
        size_t n = 0;
        while (p->len > 0 && n < PIPE_BATCH_MAX) {
            batch[n++] = p->q[p->head];
            p->head = (p->head + 1) % PIPE_QUEUE_MAX;
            p->len--;
        }
        pthread_cond_broadcast(&p->not_full);
        pthread_mutex_unlock(&p->lock);

        if (nlev)
            write_link_events(p, lev, nlev);
        if (n == 0 && !p->cfg)
            continue;
        write_batch(p, batch, n);
        if (p->m_replay_drop) /* the replay thread counts; copied here each pass */
            met_set(p->m_replay_drop, (double)pub_replay_dropped(p->pub));

        pthread_mutex_lock(&p->lock);
        p->stats.written += n;
        if (n)
            p->stats.batches++;
        pthread_mutex_unlock(&p->lock);
    }
    free(batch);
    return NULL;
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
    if (type != PIPE_EV_DAILY)
        return 0;
    json_t *o = json_loadb((const char *)bytes, len, 0, NULL);
    const char *name = NULL;
    json_int_t day = 0;
    struct district *d = NULL;
    if (o && json_unpack(o, "{s:s,s:I}", "district", &name, "day_number", &day) == 0)
        d = dist_find(p, name);
    if (d && !dist_judged(d, (int32_t)day)) {
        json_t *l = json_object_get(o, "loss_pct");
        bool ok = json_is_number(l) && json_is_true(json_object_get(o, "complete"));
        dist_mark(d, (int32_t)day, ok, ok ? json_number_value(l) : 0);
    }
    json_decref(o);
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
static int group_districts(struct pipe *p, const struct cfg *c)
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

static int setup_vee(struct pipe *p, const struct pipe_vee *v)
{
    const struct cfg *c = v->cfg;
    p->cfg = c;
    p->midx = v->midx;
    p->pub = v->pub;
    p->clk = v->clk ? v->clk : ah_clock_default();
    if (v->release_dir)
        snprintf(p->release_dir, sizeof p->release_dir, "%s", v->release_dir);
    int rc = cfg_vee_thresholds(c, &p->thr);
    if (rc)
        return rc;
    size_t nm = c->n_meters ? c->n_meters : 1;
    p->ms = calloc(nm, sizeof *p->ms);
    p->mf = calloc(nm, sizeof *p->mf);
    p->gap_until = calloc(nm, sizeof *p->gap_until);
    p->res_max = v->resident_max ? v->resident_max : RESIDENT_MAX;
    p->dist_by_name =
        calloc(c->n_districts ? c->n_districts : 1, sizeof *p->dist_by_name);
    p->dist = calloc(c->n_districts ? c->n_districts : 1, sizeof *p->dist);
    if (!p->ms || !p->mf || !p->gap_until || !p->dist || !p->dist_by_name)
        return AH_ENOMEM;
    p->max_store = 0;
    for (size_t i = 0; i < c->n_meters; i++) {
        struct vee_meter_info mi; /* checked here, kept only while loaded */
        if ((rc = cfg_vee_meter_info(c, &c->meters[i], &mi)) != AH_OK)
            return rc;
        if (v->midx[i] > p->max_store)
            p->max_store = v->midx[i];
    }
    p->by_store = malloc(((size_t)p->max_store + 1) * sizeof *p->by_store);
    if (!p->by_store)
        return AH_ENOMEM;
    for (size_t i = 0; i <= p->max_store; i++)
        p->by_store[i] = NO_METER;
    for (size_t i = 0; i < c->n_meters; i++)
        p->by_store[v->midx[i]] = (uint32_t)i;
    if ((rc = group_districts(p, c)) != AH_OK)
        return rc;
    p->step_s = (int64_t)c->schedule.interval_min * 60;
    p->backfill_s = (int64_t)c->schedule.backfill_days * 86400;
    p->lag_s = p->backfill_s + 2 * p->step_s;
    p->start_s = now_s(p);
    p->last_tick_s = INT64_MIN / 2;
    int64_t from = p->start_s - (int64_t)(DAYS_BACK_MAX + 2) * 86400;
    return store_events_each(p->st, from > 0 ? (uint64_t)from : 0, UINT64_MAX, find_daily,
                             p);
}

static void free_vee(struct pipe *p)
{
    if (p->ms && p->res)
        while (p->nres)
            mstate_drop(p, p->res[p->nres - 1]);
    if (p->dist)
        for (size_t i = 0; i < p->ndist; i++)
            free(p->dist[i].cust);
    free(p->dist);
    free(p->dist_by_name);
    free(p->touched);
    free(p->lazyl);
    free(p->by_store);
    free(p->ms);
    free(p->mf);
    free(p->gap_until);
    free(p->res);
}

int pipe_release_dir(const char *storage_path, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s.release", storage_path);
    return n < 0 || (size_t)n >= cap ? AH_EOVERFLOW : AH_OK;
}

/* Everything pipe_start set up, after the writer has gone (or never ran). */
static void pipe_free(pipe_t *p)
{
    pthread_cond_destroy(&p->not_full);
    pthread_cond_destroy(&p->not_empty);
    pthread_mutex_destroy(&p->lock);
    free_vee(p);
    free(p->q);
    free(p);
}

int pipe_start_vee(store_t *st, bool sync, const struct pipe_vee *v, pipe_t **out)
{
    struct pipe *p = calloc(1, sizeof *p);
    if (!p)
        return AH_ENOMEM;
    p->q = malloc(PIPE_QUEUE_MAX * sizeof *p->q);
    if (!p->q) {
        free(p);
        return AH_ENOMEM;
    }
    p->st = st;
    p->sync = sync;
    if (v) {
        int rc = setup_vee(p, v);
        if (rc) {
            free_vee(p);
            free(p->q);
            free(p);
            return rc;
        }
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->not_empty, NULL);
    pthread_cond_init(&p->not_full, NULL);
    if (pthread_create(&p->thread, NULL, pipe_writer, p) != 0) {
        pipe_free(p);
        return AH_EIO;
    }
    *out = p;
    return AH_OK;
}

int pipe_start(store_t *st, bool sync, pipe_t **out)
{
    return pipe_start_vee(st, sync, NULL, out);
}

int pipe_push(pipe_t *p, const struct pipe_read *r)
{
    pthread_mutex_lock(&p->lock);
    while (p->len == PIPE_QUEUE_MAX && !p->stopping && !p->full_hold)
        pthread_cond_wait(&p->not_full, &p->lock);
    if (p->len == PIPE_QUEUE_MAX && p->full_hold && !p->stopping) {
        /* The store is out of space and the queue is full: refuse rather
         * than stop the event loop (SIGTERM, metrics and links keep
         * working); the read stays a gap, backfilled once space is back. */
        pthread_mutex_unlock(&p->lock);
        return AH_ENOSPC;
    }
    if (p->stopping) {
        pthread_mutex_unlock(&p->lock);
        return AH_ECLOSED;
    }
    p->q[(p->head + p->len) % PIPE_QUEUE_MAX] = *r;
    p->len++;
    p->stats.pushed++;
    pthread_cond_signal(&p->not_empty);
    pthread_mutex_unlock(&p->lock);
    return AH_OK;
}

int pipe_missing_intervals(pipe_t *p, uint32_t meter, uint64_t from, uint64_t to,
                           uint64_t step, uint64_t *out, size_t max, size_t *n)
{
    int rc = store_missing_intervals(p->st, meter, from, to, step, out, max, n);
    return rc;
}

int pipe_meter_lr_blocks(pipe_t *p, uint32_t meter, uint8_t *n)
{
    return store_get_meter_lr_blocks(p->st, meter, n); /* a read: no lock */
}

int pipe_stop(pipe_t **pp)
{
    if (!pp || !*pp)
        return AH_OK;
    struct pipe *p = *pp;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_broadcast(&p->not_empty);
    pthread_cond_broadcast(&p->not_full);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    int rc = p->last_err;
    pipe_free(p);
    *pp = NULL;
    return rc;
}

void pipe_set_metrics(pipe_t *p, met_t *m)
{
    if (!p || !m)
        return;
    p->m_full = met_series(m, "amihead_store_full",
                           "1 while store writes are held: free space below "
                           "storage.reserve_mb (or the disk full)",
                           MET_GAUGE, NULL);
    p->m_commit_err =
        met_series(m, "amihead_store_commit_errors_total",
                   "Store commits that failed (each retry counts)", MET_COUNTER, NULL);
    p->m_split = met_series(m, "amihead_pipeline_batch_splits_total",
                            "Writer batches whose build failed and were split and built "
                            "again (no read dropped)",
                            MET_COUNTER, NULL);
    p->m_unvalidated =
        met_series(m, "amihead_pipeline_unvalidated_reads_total",
                   "Reads stored as collected, not validated or published: their "
                   "meter's stored state or reads could not be read back (see the log)",
                   MET_COUNTER, NULL);
    if (p->pub)
        p->m_replay_drop = met_series(m, "amihead_replay_dropped_total",
                                      "Replay requests left unanswered: the peer had "
                                      "its quota of replies unread",
                                      MET_COUNTER, NULL);
}

void pipe_get_stats(pipe_t *p, struct pipe_stats *out)
{
    pthread_mutex_lock(&p->lock);
    *out = p->stats;
    pthread_mutex_unlock(&p->lock);
}
