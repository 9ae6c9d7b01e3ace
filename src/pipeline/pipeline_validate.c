/*
 * pipeline_validate — one read through validation in its meter's sequence
 * (part of pipeline, see pipeline_int.h): the read is stored with its
 * verdict, its episode transitions become events and anomalies, and it is
 * published when it can no longer become suspect (held reads:
 * pipeline_state.c). A late read, older than the meter's last validated
 * one, is checked against its stored neighbours before it may be
 * published. Runs on the writer thread only.
 */
#include "pipeline_int.h"

#include "ah_err.h"
#include "ah_log.h"
#include "config.h"
#include "metrics.h"
#include "pub.h"
#include "vee.h"
#include "wire.h"

#include <string.h>

/* ---- one read --------------------------------------------------------------- */

static int put_transition(struct pipe *p, size_t ci, const struct vee_transition *t,
                          uint32_t quality)
{
    const char *type = vee_flag_name(t->bit);
    const struct pipe_ev_rule e = {
        t->started, meter_id(p, ci), p->cfg->meters[ci].district,       t->since, t->at,
        t->value,   t->threshold,    {t->aux[0], t->aux[1], t->aux[2]}, quality};
    char *body = NULL;
    int rc = pipe_ev_build_rule(t->bit, &e, &body);
    rc = pipe_put_event(p, (uint64_t)t->at, p->midx[ci], t->bit, rc, body);
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

bool pipe_in_batch(const struct pipe *p, uint32_t meter, uint64_t end)
{
    for (size_t i = 0; i < p->ncur; i++)
        if (p->cur[i].meter == meter && p->cur[i].read.end == end)
            return true;
    return false;
}

/* Whether a read of r's meter and interval came earlier in this batch (r
 * itself is in the batch: counting it would drop every late backfill). */
static bool earlier_in_batch(const struct pipe *p, const struct pipe_read *r)
{
    uintptr_t a = (uintptr_t)p->cur, b = (uintptr_t)(p->cur + p->ncur);
    if ((uintptr_t)r < a || (uintptr_t)r >= b)
        return pipe_in_batch(p, r->meter, r->read.end);
    for (const struct pipe_read *q = p->cur; q < r; q++)
        if (q->meter == r->meter && q->read.end == r->read.end)
            return true;
    return false;
}

/* ---- late reads --------------------------------------------------------- */

/* Stored neighbours of a late read: the last forward register before it
 * (within a day) and the first after it. */
struct nb {
    bool have;
    uint64_t end;
    int64_t v;
};

static int nb_last(void *vctx, uint32_t meter, const struct ah_read *r)
{
    (void)meter;
    struct nb *n = vctx;
    if (r->present & AH_READ_HAS_IMP_TOTAL)
        *n = (struct nb){true, r->end, r->imp_total};
    return 0;
}

static int nb_first(void *vctx, uint32_t meter, const struct ah_read *r)
{
    nb_last(vctx, meter, r);
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
    int64_t local = (int64_t)r->read.end + mi->tz_offset_s;
    if (local - floor_div(local, p->step_s) * p->step_s != 0) {
        *flags = VEE_F_TIME_INVALID;
        return AH_OK;
    }
    if (!(r->read.present & AH_READ_HAS_IMP_TOTAL))
        return AH_OK;
    struct nb a = {0}, b = {0};
    uint64_t from = r->read.end > 86400 ? r->read.end - 86400 : 0;
    int rc = store_reads_each(p->st, r->meter, from, r->read.end, nb_last, &a);
    if (rc == AH_OK)
        rc = store_reads_each(p->st, r->meter, r->read.end + 1, UINT64_MAX, nb_first, &b);
    if (rc != AH_OK && rc != 1)
        return rc;
    int64_t emax = vee_emax(mi);
    const struct nb *side[2] = {&a, &b};
    for (int i = 0; i < 2; i++) {
        if (!side[i]->have)
            continue;
        int64_t lo = i ? r->read.imp_total : a.v, hi = i ? b.v : r->read.imp_total;
        uint64_t t0 = i ? r->read.end : a.end, t1 = i ? b.end : r->read.end;
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

int pipe_validate_one(struct pipe *p, const struct pipe_read *r)
{
    size_t ci = r->meter <= p->max_store && p->by_store[r->meter] != NO_METER
                    ? p->by_store[r->meter]
                    : SIZE_MAX;
    if (r->kind == PIPE_LR_BLOCKS)
        return store_batch_put_meter_lr_blocks(p->st, r->meter, r->lr_blocks);
    if (r->kind == PIPE_FLUSH) {
        if (ci == SIZE_MAX || (p->mf[ci] & MF_BAD))
            return AH_OK;
        int rc = pipe_mstate_load(p, ci);
        return rc ? rc : pipe_defer_flush(p, ci);
    }
    if (ci == SIZE_MAX) /* not in this config: store as collected */
        return store_batch_put_read(p->st, r->meter, &r->read);
    if (p->mf[ci] & MF_BAD) { /* see write_batch */
        met_add(p->m_unvalidated, 1);
        return store_batch_put_read(p->st, r->meter, &r->read);
    }
    int rc = pipe_mstate_load(p, ci);
    if (rc)
        return rc;
    struct mstate *m = p->ms[ci];
    if (r->read.present & AH_READ_HAS_FREEZE)
        pipe_freeze_keep(m, r->read.freeze_at, r->read.freeze_fwd);
    bool after = !(m->vs.have & VEE_ST_SEQ) || (int64_t)r->read.end > m->vs.last_end;
    /* (the store lookups only while deferring: a read's cost matters) */
    if (after && ((r->kind == PIPE_DEFER) || m->ndefer)) {
        bool dup = store_has_read(p->st, r->meter, r->read.end) || earlier_in_batch(p, r);
        /* behind a deferred read, or deferred itself: wait; a newer read
         * without DEFER means the backlog is in */
        bool wait = (r->kind == PIPE_DEFER) ||
                    (m->ndefer && r->read.end < m->defer[m->ndefer - 1].read.end);
        if (wait && !dup)
            return pipe_defer_push(p, ci, r);
        /* a copy of a read stored after the last validated one while reads
         * are deferred: deferred itself (the flush validates it in order);
         * validating the copy now would pass over those before it for good */
        if (wait && m->ndefer)
            return AH_OK;
        if (!wait && m->ndefer && (rc = pipe_defer_flush(p, ci)) != AH_OK)
            return rc;
    }
    return pipe_validate_seq(p, ci, r);
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

/* A read not after the meter's last validated one (vee_eval AH_ERANGE):
 * a duplicate (already stored: keep what was stored and published) or a
 * late backfill the validator cannot sequence; that one is stored with its
 * info flags (res) and the late check's faults, and published only when
 * it has none and no episode is open. */
static int validate_late(struct pipe *p, size_t ci, const struct pipe_read *r,
                         const struct vee_result *res)
{
    struct mstate *m = p->ms[ci];
    struct ah_read rec = r->read;
    if (store_has_read(p->st, r->meter, r->read.end) || earlier_in_batch(p, r))
        return AH_OK;
    uint32_t late = 0;
    int rc = late_check(p, ci, r, &late);
    if (rc != AH_OK)
        return rc;
    rec.quality = res->flags | late;
    m->dirty = true; /* stored before last_end: never replayed (lazy state) */
    if (late) {      /* stored with its verdict, never published as clean */
        char at[32];
        ah_time_format((int64_t)r->read.end * 1000, at, sizeof at);
        ah_log(AH_LOG_WARN, "pipeline", "meter %s at %s: late read %s", meter_id(p, ci),
               at,
               vee_flag_name(late & VEE_F_TIME_INVALID ? VEE_BIT_TIME_INVALID
                             : late & VEE_F_REVERSED   ? VEE_BIT_REVERSED
                                                       : VEE_BIT_JUMPING));
        return store_batch_put_read(p->st, r->meter, &rec);
    }
    if ((rc = store_batch_put_read(p->st, r->meter, &rec)) != AH_OK)
        return rc;
    if (m->vs.active != 0)
        return AH_OK;
    if (m->nhold) /* behind held reads: published with them, in order */
        return pipe_hold_push(p, ci, &rec);
    return pipe_stage_read(p, ci, &rec);
}

/* A value the validator refuses (vee_eval AH_EINVAL: a register beyond its
 * modulus): keep what the meter said, never publish it as clean. */
static int validate_refused(struct pipe *p, size_t ci, const struct pipe_read *r)
{
    struct ah_read rec = r->read;
    char at[32];
    ah_time_format((int64_t)r->read.end * 1000, at, sizeof at);
    ah_log(AH_LOG_WARN, "pipeline", "meter %s at %s: read refused by validation",
           meter_id(p, ci), at);
    rec.quality = VEE_F_JUMPING; /* an impossible register value */
    p->ms[ci]->dirty = true;
    return store_batch_put_read(p->st, r->meter, &rec);
}

/* Validate r in the meter's sequence, store it with its verdict, publish
 * what is clean (held reads: see pipe_hold_push). */
int pipe_validate_seq(struct pipe *p, size_t ci, const struct pipe_read *r)
{
    int rc;
    struct mstate *m = p->ms[ci];
    struct vee_result res;
    struct ah_read rec = r->read;
    bool had_seq = (m->vs.have & VEE_ST_SEQ) != 0;
    rc = vee_eval(&p->ms[ci]->info, &p->thr, &m->vs, &r->read, false, now_s(p), &res);
    if (rc == AH_ERANGE)
        return validate_late(p, ci, r, &res);
    if (rc == AH_EINVAL)
        return validate_refused(p, ci, r);
    if (rc)
        return rc;
    rec.quality = res.flags;
    /* lazy only when a replay from the stored record would judge it alike:
     * clean, no transition, nothing read beside the record, not the first */
    if (had_seq && !res.ntrans && vee_is_billable(res.flags) &&
        !(r->read.present & (AH_READ_HAS_COVER | AH_READ_HAS_CLEAR_COUNT |
                             AH_READ_HAS_SERIAL | AH_READ_HAS_FREEZE)))
        rc = pipe_lazy_add(p, ci);
    else
        m->dirty = true;
    if (rc != AH_OK)
        return rc;
    if ((rc = store_batch_put_read(p->st, r->meter, &rec)) != AH_OK)
        return rc;
    for (unsigned i = 0; i < res.ntrans; i++) {
        if (res.trans[i].started &&
            (rc = pipe_hold_reflag(p, ci, res.trans[i].bit, res.trans[i].since)) != AH_OK)
            return rc;
        if ((rc = put_transition(p, ci, &res.trans[i], res.flags)) != AH_OK)
            return rc;
    }
    if (run_pending(&m->vs)) {
        if (vee_is_billable(rec.quality))
            return pipe_hold_push(p, ci, &rec);
        return AH_OK;
    }
    if ((rc = pipe_hold_flush(p, ci)) != AH_OK)
        return rc;
    if (vee_is_billable(rec.quality))
        return pipe_stage_read(p, ci, &rec);
    return AH_OK;
}
