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
 *
 * This file is the thread, its queue and the batch (build, commit, retry,
 * split); the batch's jobs have a file each: pipeline_validate.c (one
 * read), pipeline_state.c (meter state, held and deferred reads),
 * pipeline_gap.c, pipeline_district.c, pipeline_release.c. What they share
 * is pipeline_int.h.
 */
#include "pipeline_int.h"

#include "ah_cond.h"
#include "ah_err.h"
#include "ah_log.h"
#include "config.h"
#include "metrics.h"
#include "pub.h"
#include "vee.h"
#include "wire.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

int pipe_put_event(struct pipe *p, uint64_t t, uint32_t meter, uint16_t type, int built,
                   char *body)
{
    int rc = built;
    if (rc == AH_OK)
        rc = store_batch_put_event(p->st, t, meter, type, body, strlen(body));
    free(body);
    return rc;
}

int pipe_stage_read(struct pipe *p, size_t ci, const struct ah_read *r)
{
    if (!p->pub)
        return AH_OK;
    struct wire_read w = {meter_id(p, ci), p->cfg->meters[ci].district, r};
    return pub_stage_read(p->pub, &w, NULL);
}

/* ---- the batch ---------------------------------------------------------- */

static int cmp_read(const void *a, const void *b)
{
    const struct pipe_read *x = a, *y = b;
    if (x->meter != y->meter)
        return x->meter < y->meter ? -1 : 1;
    if (x->read.end != y->read.end)
        return x->read.end < y->read.end ? -1 : 1;
    return 0;
}

/* The periodic work of a batch, once an interval of the head-end clock:
 * the gap pass (PIPE_TICK_METERS meters per batch, so a city's pass
 * spreads over batches), then, when it has gone over every meter, the
 * district days. A failure must not sink the batch's reads: the pass
 * starts over next interval. */
static void batch_tick(struct pipe *p)
{
    int64_t now = now_s(p);
    if (p->tick_ci == 0 && now - p->last_tick_s < p->step_s)
        return;
    if (p->tick_ci == 0)
        p->tick_now = now;
    int rc = AH_OK;
    size_t n_m = p->cfg->n_meters, end = n_m - p->tick_ci > PIPE_TICK_METERS
                                             ? p->tick_ci + PIPE_TICK_METERS
                                             : n_m;
    for (size_t ci = p->tick_ci; ci < end && rc == AH_OK; ci++)
        rc = pipe_gaps_meter(p, ci, p->tick_now);
    if (rc == AH_OK && end == n_m)
        rc = pipe_districts_tick(p, p->tick_now);
    if (rc == AH_OK) {
        p->tick_ci = end == n_m ? 0 : end;
        if (end == n_m)
            p->last_tick_s = p->tick_now;
        return;
    }
    ah_log(AH_LOG_ERROR, "pipeline", "gap and district pass failed: %s (%s)",
           ah_strerror(rc), store_last_error(p->st));
    p->tick_ci = 0;
    p->last_tick_s = p->tick_now;
}

/* Build the whole batch: reads, then the periodic work. */
static int build_batch(struct pipe *p, const struct pipe_read *r, size_t n,
                       char rel[][PATH_MAX], size_t *nrel)
{
    *nrel = 0;
    int rc = AH_OK;
    if (!p->cfg || p->raw) {
        for (size_t i = 0; i < n && rc == AH_OK; i++)
            if (r[i].kind == PIPE_LR_BLOCKS)
                rc = store_batch_put_meter_lr_blocks(p->st, r[i].meter, r[i].lr_blocks);
            else if (r[i].kind != PIPE_FLUSH)
                rc = store_batch_put_read(p->st, r[i].meter, &r[i].read);
        return rc;
    }
    p->cur = r;
    p->ncur = n;
    for (size_t i = 0; i < n && rc == AH_OK; i++) {
        rc = pipe_validate_one(p, &r[i]);
        if (rc == AH_EINVAL) {
            /* one record that cannot be encoded must not sink the batch */
            char at[32];
            ah_time_format((int64_t)r[i].read.end * 1000, at, sizeof at);
            ah_log(AH_LOG_ERROR, "pipeline", "meter index %u at %s: record refused",
                   r[i].meter, at);
            rc = AH_OK;
        }
    }
    if (rc == AH_OK)
        batch_tick(p);
    if (rc == AH_OK && (rc = pipe_releases_tick(p, rel, nrel)) != AH_OK) {
        /* a request that fails stays in the spool: tried with the next batch */
        ah_log(AH_LOG_ERROR, "release", "applying release requests failed: %s (%s)",
               ah_strerror(rc), store_last_error(p->st));
        rc = AH_OK;
    }
    /* only a meter touched in this batch can have deferred its backfill */
    for (size_t k = 0; k < p->ntouched; k++)
        if (p->ms[p->touched[k]] && p->ms[p->touched[k]]->ndefer)
            pipe_defer_trim(p->ms[p->touched[k]]);
    size_t k = 0;
    for (; k < p->ntouched && rc == AH_OK; k++) {
        size_t ci = p->touched[k];
        struct mstate *m = p->ms[ci];
        p->mf[ci] &= (uint8_t)~MF_TOUCHED;
        if (!m)
            continue; /* its load failed */
        if (m->dirty || m->lazy >= LAZY_MAX ||
            (m->nhold ? m->hold[0].end : 0) != m->saved_held) {
            rc = pipe_mstate_put(p, ci);
            m->dirty = false;
        }
    }
    /* on a failure the rest stay listed for the next batch */
    if (k < p->ntouched)
        memmove(p->touched, p->touched + k, (p->ntouched - k) * sizeof *p->touched);
    p->ntouched -= k;
    if (rc == AH_OK)
        rc = pipe_evict(p);
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
    if (n == 0 || !p->cfg || p->raw || (r->kind == PIPE_FLUSH))
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

/* A batch whose build failed: the validation state may be ahead of the
 * store, so every loaded state is dropped (held, deferred and lazily
 * validated reads are reloaded and replayed from the store with it), the
 * gap pass starts over, and the batch is split (write_split). */
static void batch_abandon(struct pipe *p, struct pipe_read *r, size_t n, int rc)
{
    ah_log(AH_LOG_ERROR, "pipeline", "building a batch of %zu reads failed: %s", n,
           ah_strerror(rc));
    while (p->nres)
        pipe_mstate_drop(p, p->res[p->nres - 1]);
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
}

/* Commit the built batch of n reads; on a failure keep trying with a
 * pause, since dropping reads would make them gaps (DESIGN.md §5). A full
 * disk holds the batch and lets pipe_push refuse at once. Gives up only
 * while stopping, after a few tries. */
static int batch_commit_retry(struct pipe *p, size_t n)
{
    for (int attempt = 0;; attempt++) {
        int rc = batch_commit(p);
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
            return rc;
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
            return rc;
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* Write up to n reads (sorted in place) as one batch: build, commit (with
 * retries), then remove the release requests it applied. The batch is
 * built once: validation state has moved on. */
static void write_batch(struct pipe *p, struct pipe_read *r, size_t n)
{
    static char rel[REL_MAX][PATH_MAX];
    size_t nrel = 0;
    if (n > 1)
        qsort(r, n, sizeof *r, cmp_read);
    batch_begin(p);
    int rc = build_batch(p, r, n, rel, &nrel);
    if (rc != AH_OK) {
        /* a record or state that cannot be encoded will never commit */
        batch_abandon(p, r, n, rc);
        return;
    }
    size_t puts = store_batch_count(p->st);
    if (puts > 0) {
        pthread_mutex_lock(&p->lock);
        if (puts > p->stats.max_batch)
            p->stats.max_batch = puts;
        pthread_mutex_unlock(&p->lock);
        rc = batch_commit_retry(p, n);
    }
    /* (an empty batch: the requests were refused) */
    for (size_t i = 0; rc == AH_OK && i < nrel; i++)
        if (unlink(rel[i]) != 0 && puts > 0)
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
        const struct pipe_ev_link le = {e[i].link, e[i].endpoint, e[i].since_s,
                                        e[i].at_s};
        char *body = NULL;
        rc = pipe_ev_build_link(e[i].up, &le, &body);
        rc = pipe_put_event(p, (uint64_t)e[i].at_s, UINT32_MAX,
                            e[i].up ? PIPE_EV_LINK_UP : PIPE_EV_LINK_DOWN, rc, body);
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
            if (p->ms[ci] && p->ms[ci]->lazy && (rc = pipe_mstate_put(p, ci)) == AH_OK)
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
                /* idle: wake every second for gaps, district days, releases
                 * (a monotonic second: a wall clock stepped back must not
                 * stall them, ah_cond) */
                struct timespec ts;
                ah_cond_deadline(1000, &ts);
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
    if ((rc = pipe_group_districts(p, c)) != AH_OK)
        return rc;
    p->step_s = (int64_t)c->schedule.interval_min * 60;
    p->backfill_s = (int64_t)c->schedule.backfill_days * 86400;
    p->lag_s = p->backfill_s + 2 * p->step_s;
    p->start_s = now_s(p);
    p->last_tick_s = INT64_MIN / 2;
    return pipe_districts_recall(p);
}

static void free_vee(struct pipe *p)
{
    if (p->ms && p->res)
        while (p->nres)
            pipe_mstate_drop(p, p->res[p->nres - 1]);
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
    int crc = ah_cond_init(&p->not_empty); /* its idle wait is timed */
    if (crc != AH_OK) {
        free_vee(p);
        free(p->q);
        free(p);
        return crc;
    }
    pthread_mutex_init(&p->lock, NULL);
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
