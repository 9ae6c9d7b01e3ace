/*
 * pipeline_state — the writer's per-meter state (part of pipeline, see
 * pipeline_int.h): the validation state read back from and written to the
 * store, the reads held back behind a pending run and the reads deferred
 * behind a backlog, and which states stay resident between batches (LRU).
 * Runs on the writer thread only; it must not commit (pipeline.c does).
 */
#include "pipeline_int.h"

#include "ah_err.h"
#include "ah_log.h"
#include "config.h"
#include "vee.h"

#include <stdlib.h>
#include <string.h>

/* ---- meter state ---------------------------------------------------------- */

static int hold_reload(struct pipe *p, size_t ci, uint64_t from);
static int defer_reload_one(void *vctx, uint32_t meter, const struct ah_read *r);
struct reload_ctx {
    struct pipe *p;
    size_t ci;
};

static int replay_one(void *vctx, uint32_t meter, const struct ah_read *r)
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
    pr.read = *r;
    struct vee_result res;
    int rc = vee_eval(&c->p->ms[c->ci]->info, &c->p->thr, &m->vs, &pr.read, false,
                      now_s(c->p), &res);
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
void pipe_mstate_drop(struct pipe *p, size_t ci)
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
int pipe_mstate_load(struct pipe *p, size_t ci)
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
        pipe_mstate_drop(p, ci);
    return rc;
}

/* A state read back gives the meter's gap mark only the first time: later
 * the one in memory is newer (quiet advances wait for a state write). */
void pipe_gap_init(struct pipe *p, size_t ci, uint64_t v)
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
        pipe_gap_init(p, ci, g > 0 ? (uint64_t)g : 0);
        m->dirty = true; /* where gap checks begin must survive a restart */
    } else if (rc != AH_OK) {
        return rc;
    } else if (len == FRESH_LEN && buf[0] == FRESH_MARK) {
        /* as a meter never seen: no read of it was validated (the first
         * writes a whole state), none stored after it is to be replayed */
        m->dirty = true;
        vee_state_init(&m->vs);
        pipe_gap_init(p, ci, store_rec_get_be64(buf + 1));
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
        pipe_gap_init(p, ci, g > 0 ? (uint64_t)g : 0);
    } else {
        stored = true;
        deferred = len != MSTATE_LEN || (buf[MSTATE_LEN2] & ST_DEFERRED);
        pipe_gap_init(p, ci, store_rec_get_be64(buf + VEE_STATE_LEN + 1));
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
    /* reads stored after the last validated one were deferred (PIPE_DEFER)
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

int pipe_mstate_put(struct pipe *p, size_t ci)
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

int pipe_hold_push(struct pipe *p, size_t ci, const struct ah_read *r)
{
    struct mstate *m = p->ms[ci];
    if (m->nhold == HOLD_MAX) {
        /* a run longer than any rule's count: the oldest cannot be re-flagged
         * by it any more (since is at most 254 intervals back) */
        int rc = pipe_stage_read(p, ci, &m->hold[0]);
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
    while (at > 0 && m->hold[at - 1].end > r->end)
        at--;
    if (at > 0 && m->hold[at - 1].end == r->end) {
        m->hold[at - 1] = *r;
        return AH_OK;
    }
    memmove(m->hold + at + 1, m->hold + at, (m->nhold - at) * sizeof *m->hold);
    m->hold[at] = *r;
    m->nhold++;
    return AH_OK;
}

static int reload_one(void *vctx, uint32_t meter, const struct ah_read *r)
{
    (void)meter;
    struct reload_ctx *c = vctx;
    if (!vee_is_billable(r->quality))
        return 0;
    return pipe_hold_push(c->p, c->ci, r);
}

static int defer_reload_one(void *vctx, uint32_t meter, const struct ah_read *r)
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
    d->read = *r;         /* in key order: the store iterates ascending */
    d->kind = PIPE_DEFER; /* kept in memory until the backlog is in */
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

/* An episode of bit started at since: held reads from since on are suspect. */
int pipe_hold_reflag(struct pipe *p, size_t ci, unsigned bit, int64_t since)
{
    struct mstate *m = p->ms[ci];
    for (size_t i = 0; i < m->nhold; i++) {
        if ((int64_t)m->hold[i].end < since || (m->hold[i].quality & VEE_F(bit)))
            continue;
        m->hold[i].quality |= VEE_F(bit);
        int rc = store_batch_put_read(p->st, p->midx[ci], &m->hold[i]);
        if (rc)
            return rc;
    }
    return AH_OK;
}

int pipe_hold_flush(struct pipe *p, size_t ci)
{
    struct mstate *m = p->ms[ci];
    for (size_t i = 0; i < m->nhold; i++) {
        if (!vee_is_billable(m->hold[i].quality))
            continue;
        int rc = pipe_stage_read(p, ci, &m->hold[i]);
        if (rc)
            return rc;
    }
    m->nhold = 0;
    return AH_OK;
}

/* Keep a daily freeze among the last FREEZES (one per midnight). */
void pipe_freeze_keep(struct mstate *m, int64_t at, int64_t fwd)
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

int pipe_lazy_add(struct pipe *p, size_t ci)
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
static int flush_one(void *vctx, uint32_t meter, const struct ah_read *r)
{
    struct flush_ctx *c = vctx;
    struct mstate *m = c->p->ms[c->ci];
    while (c->k < m->ndefer && m->defer[c->k].read.end < r->end)
        if ((c->rc = pipe_validate_seq(c->p, c->ci, &m->defer[c->k++])) != AH_OK)
            return c->rc;
    if (c->k < m->ndefer && m->defer[c->k].read.end == r->end)
        return c->rc = pipe_validate_seq(c->p, c->ci, &m->defer[c->k++]);
    if (!vee_is_billable(r->quality))
        return 0; /* judged already (TIME_INVALID, refused): stays as judged */
    struct pipe_read pr;
    memset(&pr, 0, sizeof pr);
    pr.meter = meter;
    pr.read = *r;
    return c->rc = pipe_validate_seq(c->p, c->ci, &pr);
}

/* Validate the deferred reads of meter ci in order: those of earlier
 * batches from the store (committed), those of this batch from memory. */
int pipe_defer_flush(struct pipe *p, size_t ci)
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
        rc = pipe_validate_seq(p, ci, &m->defer[c.k++]);
    free(m->defer);
    m->defer = NULL;
    m->ndefer = m->cap_defer = 0;
    m->dirty = true; /* ST_DEFERRED cleared with the reads it covered */
    return rc;
}

/* Keep r (newer than the meter's last validated read) for later, in time
 * order, and store it now as collected: it is held at once (no gap is
 * announced, the scheduler does not ask for it again). Only the live reads
 * (PIPE_DEFER) stay in memory past this batch (pipe_defer_trim); the others
 * are read back from the store. */
int pipe_defer_push(struct pipe *p, size_t ci, const struct pipe_read *r)
{
    struct mstate *m = p->ms[ci];
    /* live reads are kept across batches, backfill only until its batch
     * commits (pipe_defer_trim): at most PIPE_DEFER_MAX + PIPE_BATCH_MAX */
    size_t live = 0;
    for (size_t i = 0; i < m->ndefer; i++)
        live += m->defer[i].kind == PIPE_DEFER;
    if (m->ndefer == DEFER_CAP || ((r->kind == PIPE_DEFER) && live == PIPE_DEFER_MAX)) {
        int rc = pipe_defer_flush(p, ci); /* the rest of the backlog comes late */
        if (rc)
            return rc;
        return pipe_validate_seq(p, ci, r);
    }
    if (room(&m->defer, &m->cap_defer, m->ndefer, DEFER_CAP, sizeof *m->defer))
        return AH_ENOMEM;
    size_t at = m->ndefer;
    while (at > 0 && m->defer[at - 1].read.end > r->read.end)
        at--;
    if (at > 0 && m->defer[at - 1].read.end == r->read.end)
        return AH_OK; /* a duplicate: the first one stays */
    memmove(m->defer + at + 1, m->defer + at, (m->ndefer - at) * sizeof *m->defer);
    m->defer[at] = *r;
    m->ndefer++;
    m->dirty = true; /* ST_DEFERRED: what follows last_end waits unjudged */
    struct ah_read rec = r->read;
    rec.quality = r->read.source == AH_READ_BACKFILL ? VEE_F_BACKFILLED : 0;
    return store_batch_put_read(p->st, r->meter, &rec);
}

/* After a batch: its deferred backfill is committed, only the live reads
 * stay in memory. */
void pipe_defer_trim(struct mstate *m)
{
    size_t k = 0;
    for (size_t i = 0; i < m->ndefer; i++)
        if (m->defer[i].kind == PIPE_DEFER)
            m->defer[k++] = m->defer[i];
    m->ndefer = k;
}

/* Bring the loaded states down to res_max at the end of a batch, least
 * recently used first (CLOCK: a meter used since the hand last passed gets
 * another round), writing what is unsaved into this batch; a meter
 * holding or deferring reads stays. */
int pipe_evict(struct pipe *p)
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
            rc = pipe_mstate_put(p, ci);
        if (rc == AH_OK) {
            pipe_mstate_drop(p, ci); /* the last loaded one takes its place */
            n++;
        }
    }
    pthread_mutex_lock(&p->lock);
    p->stats.evictions += n;
    pthread_mutex_unlock(&p->lock);
    return rc;
}
