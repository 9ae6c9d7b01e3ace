/*
 * scheduler_cycle — one cycle per interval and link (see the diagram in
 * scheduler.c): the live sweep over every meter, then backfill turns with
 * their rescue pass, and the request each job step sends.
 */
#include "scheduler_int.h"

#include "ah_clock.h"
#include "ah_err.h"
#include "ah_log.h"

#include <string.h>

/* Head-end clock ms at which the next cycle of L is due. */
static int64_t cycle_due_ms(const struct sched *s, const struct slink *L)
{
    return (L->boundary_s + s->step_s) * 1000 + L->offset_ms;
}

static void next_cycle_time(struct sched *s, struct slink *L, bool overran)
{
    L->next_start = cycle_due_ms(s, L);
    int64_t now = ah_clock_now_ms(s->clk);
    if (overran) {
        /* the live sweep ran into the next interval: the next cycle starts
         * at once, on the newest boundary, and goes on with the meters this
         * one did not reach (the intervals skipped are gaps the backfill
         * recovers) */
        s->st.overruns++;
        met_add(L->met.overruns, 1);
        char b[32];
        ah_time_format(L->boundary_s * 1000, b, sizeof b);
        ah_log(AH_LOG_WARN, L->ctx, "cycle %s overran its interval (%lld ms)", b,
               (long long)(now - L->cycle_t0));
    }
    if (now >= L->next_start)
        L->next_start = now;
}

void sched_cycle_begin(struct sched *s, struct slink *L, int64_t now)
{
    L->active = true;
    L->cycle_t0 = now;
    L->boundary_s = cadence_interval_floor(now / 1000, s->step_s);
    L->phase = PH_LIVE;
    L->live_left = L->n_meters;
    if (L->live_next >= L->n_meters)
        L->live_next = 0;
    L->bf_idle = 0;
    L->bf_reqs = 0;
    L->job_begun = false;
    L->cyc_tried = L->cyc_ok = 0;
    s->st.cycles++;
    char b[32];
    ah_time_format(L->boundary_s * 1000, b, sizeof b);
    ah_log(AH_LOG_DEBUG, L->ctx, "cycle %s: %zu meters from #%zu", b, L->n_meters,
           L->live_next);
}

/* The groups of the read plan the live job of meter mi reads this cycle
 * (readplan.h): their cadence slot, a slot missed before, a clock not
 * known or drifted at its last read, status and events after a live
 * record that said something changed. */
static unsigned job_groups(struct sched *s, struct slink *L, size_t mi)
{
    const struct readplan *rp = sched_plan_of(s, mi);
    struct meter_state *m = &s->ms[mi];
    int64_t cycle = L->boundary_s / s->step_s;
    unsigned due = 0;
    for (int g = 0; g < RP_FREEZE; g++)
        if (readplan_due(rp, (enum readplan_group)g, s->cfg->schedule.interval_min, cycle,
                         (uint32_t)mi, m->rp_last[g]))
            due |= 1u << g;
    if (rp->min[RP_CLOCK] != READPLAN_OFF && (!m->clk_known || m->clk_bad))
        due |= 1u << RP_CLOCK;
    due |= m->rp_force;
    if (L->freeze_due)
        due |= 1u << RP_FREEZE;
    return due;
}

/* Begin the live job of the meter at L->cur. false when it is backed off. */
static bool meter_begin(struct sched *s, struct slink *L)
{
    size_t mi = L->meters[L->cur];
    struct meter_state *m = &s->ms[mi];
    m->since++;
    if (cadence_backoff_skip(m->streak, m->since, s->cfg->schedule.backoff_after,
                             s->cfg->schedule.backoff_max_cycles)) {
        s->st.backed_off++;
        return false;
    }
    m->since = 0;
    L->n_gaps = L->gi = 0;
    L->lr_one = false;
    L->step = m->no_dt ? MJOB_T1 : MJOB_DT;
    L->any_ok = false;
    memset(&L->vals, 0, sizeof L->vals);
    L->live_end = -1;
    L->live_attach = false;
    /* the daily freeze once per local day, after daily_freeze_after
     * (the meter freezes at 00:00; reading later leaves it time to) */
    int64_t local = L->boundary_s + s->tz_s;
    int64_t day = cadence_interval_floor(local, 86400) / 86400;
    L->freeze_due =
        m->freeze_day != day + 1 &&
        local - day * 86400 >= (int64_t)s->cfg->schedule.daily_freeze_after * 60 &&
        sched_plan_of(s, mi)->min[RP_FREEZE] != READPLAN_OFF;
    L->rp_due = job_groups(s, L, mi);
    L->clock_est = false;
    L->cyc_tried++;
    L->job_begun = true;
    return true;
}

/* The meter's backlog is in: the pipeline validates its deferred reads. */
static void backlog_done(struct sched *s, struct slink *L)
{
    size_t mi = L->meters[L->cur];
    if (!s->ms[mi].deferring)
        return;
    struct pipe_read pr;
    memset(&pr, 0, sizeof pr);
    pr.meter = s->midx[mi];
    pr.read.end = UINT64_MAX; /* after the meter's reads of the same batch */
    pr.kind = PIPE_FLUSH;
    if (pipe_push(s->pipe, &pr) == AH_OK)
        s->ms[mi].deferring = false;
}

void sched_meter_end(struct sched *s, struct slink *L, bool failed)
{
    size_t mi = L->meters[L->cur];
    struct meter_state *m = &s->ms[mi];
    L->job_begun = false;
    if (L->phase == PH_BACKFILL) {
        if (L->bf_last && L->gi >= L->n_gaps)
            backlog_done(s, L);
        return; /* the live job alone judges whether a meter answers */
    }
    if (failed) {
        m->streak++;
        if (m->streak == s->cfg->schedule.backoff_after)
            ah_log(AH_LOG_WARN, sched_meter_ctx(L, s->cfg->meters[mi].id),
                   "meter %s failed %d cycles in a row: backing off",
                   s->cfg->meters[mi].id, m->streak);
    } else {
        m->streak = 0;
        L->cyc_ok++;
    }
}

/* Begin the backfill turn of the meter at L->cur: up to SCHED_BACKFILL_CHUNK
 * of its missing intervals, oldest first, below its live record. false when
 * it has none (or does not answer: its live job backs it off). */
static bool backfill_begin(struct sched *s, struct slink *L, bool rescue)
{
    size_t mi = L->meters[L->cur];
    struct meter_state *m = &s->ms[mi];
    L->rescuing = rescue;
    /* the live job counted its backlog: none, no query (it waits for the
     * writer's batch) */
    if (m->streak > 0 || m->backlog == 0) {
        if (m->backlog == 0)
            backlog_done(s, L);
        return false;
    }
    int64_t from, to;
    cadence_window(L->boundary_s, s->step_s, s->cfg->schedule.backfill_days, &from, &to);
    /* the live job asked for the newest record; a meter whose clock is behind
     * has nothing newer than its own newest (asking would cost a request
     * for an ERR each cycle) */
    to = L->boundary_s;
    if (m->newest > 0 && m->newest + s->step_s < to)
        to = m->newest + s->step_s;
    /* the rescue pass asks only what leaves the window soon */
    if (rescue && to > from + SCHED_RESCUE_STEPS * s->step_s)
        to = from + SCHED_RESCUE_STEPS * s->step_s;
    if (to <= from)
        return false;
    size_t n = 0;
    int rc =
        pipe_missing_intervals(s->pipe, s->midx[mi], (uint64_t)from, (uint64_t)to,
                               (uint64_t)s->step_s, L->gaps, SCHED_BACKFILL_CHUNK, &n);
    if (rc != AH_OK) {
        ah_log(AH_LOG_ERROR, L->ctx, "gap list of %s: %s", s->cfg->meters[mi].id,
               ah_strerror(rc));
        return false;
    }
    if (rescue) {
        /* a part of the backlog: its count and completion are the turn's */
        if (n == 0)
            return false;
        L->n_gaps = n < SCHED_BACKFILL_CHUNK ? n : SCHED_BACKFILL_CHUNK;
        L->bf_last = false;
        L->gi = 0;
        L->lr_one = false;
        L->step = MJOB_LR;
        L->job_begun = true;
        return true;
    }
    met_add(L->met.missing, (double)n - (double)m->backlog);
    m->backlog = n;
    L->n_gaps = n < SCHED_BACKFILL_CHUNK ? n : SCHED_BACKFILL_CHUNK;
    L->bf_last = n <= SCHED_BACKFILL_CHUNK;
    L->gi = 0;
    L->lr_one = false;
    L->step = MJOB_LR;
    L->job_begun = n > 0;
    if (n == 0)
        backlog_done(s, L);
    return n > 0;
}

/* The meter after L->cur in the live sweep / in the backfill round. */
void sched_live_advance(struct slink *L)
{
    L->live_next = (L->cur + 1) % L->n_meters;
    L->live_left--;
}

void sched_backfill_advance(struct slink *L)
{
    if (L->rescuing) /* the rescue pass keeps backfill's place */
        return;
    L->bf_next = (L->cur + 1) % L->n_meters;
}

static void cycle_end(struct sched *s, struct slink *L)
{
    L->active = false;
    if (L->cyc_tried)
        met_set(L->met.ratio, (double)L->cyc_ok / (double)L->cyc_tried);
    next_cycle_time(s, L, L->live_overran);
    char b[32];
    ah_time_format(L->boundary_s * 1000, b, sizeof b);
    ah_log(AH_LOG_INFO, L->ctx,
           "cycle %s done in %lld ms (head-end clock), %u backfill requests", b,
           (long long)(ah_clock_now_ms(s->clk) - L->cycle_t0), L->bf_reqs);
}

/* Pick the next job of the cycle: the live sweep over every meter first,
 * from where the last sweep stopped; then backfill turns, meter after meter
 * from where the last backfill stopped, until nothing is missing or the next
 * cycle is due. A live sweep longer than the interval yields to the next
 * cycle (which goes on with the meters this one did not reach) after at
 * least one backfill request per meter, so gaps still close. false: the
 * cycle is over. */
static bool job_pick(struct sched *s, struct slink *L, bool due)
{
    unsigned bf_min = (unsigned)L->n_meters;
    while (!L->job_begun) {
        if (L->phase == PH_LIVE) {
            if (L->live_left == 0 || due) {
                L->live_overran = due;
                L->phase = PH_BACKFILL;
                L->bf_idle = 0;
                L->rescue_left = L->n_meters;
                continue;
            }
            L->cur = L->live_next;
            if (!meter_begin(s, L))
                sched_live_advance(L);
        } else {
            if (due && L->bf_reqs >= bf_min)
                return false;
            if (L->rescue_left > 0) {
                L->cur = L->n_meters - L->rescue_left--;
                backfill_begin(s, L, true);
                continue;
            }
            if (L->bf_idle >= L->n_meters)
                return false;
            L->cur = L->bf_next;
            if (!backfill_begin(s, L, false)) {
                L->bf_idle++;
                sched_backfill_advance(L);
            } else {
                L->bf_idle = 0;
            }
        }
    }
    return true;
}

/* The request of the job's step (the meter job says its DI and data,
 * mjob_request); a load-record step also starts counting its answer. */
static void job_request(struct sched *s, struct slink *L, struct sess_req *rq)
{
    const struct cfg_meter *cm = &s->cfg->meters[L->meters[L->cur]];
    int64_t at = 0;
    unsigned n = 1;
    if (L->step == MJOB_LR || L->step == MJOB_LIVE) {
        at = L->step == MJOB_LIVE ? L->live_end : (int64_t)L->gaps[L->gi];
        /* the live record alone; a run of gaps SCHED_LR_BLOCKS_MAX at a
         * time, or what the meter was found to take (§1.4 (c), §2.9) */
        if (L->step == MJOB_LR && !L->lr_one)
            n = mjob_lr_run(L->gaps, L->n_gaps, L->gi, s->step_s, sched_lr_blocks(s, L));
        L->lr_asked = (uint8_t)n;
        L->lr_got = 0;
        L->lr_last = INT64_MIN;
        if (L->step == MJOB_LR && L->phase == PH_BACKFILL)
            L->bf_reqs++;
    }
    struct mjob_req mr;
    mjob_request(L->step, at, n, s->tz_s, &mr);
    memset(rq, 0, sizeof *rq);
    rq->proto = DLT645_2007;
    rq->addr = cm->addr;
    rq->func = DLT645_F_READ;
    rq->timeout_ms = L->cl->timeout_ms;
    rq->retries = L->cl->retries;
    rq->di = mr.di;
    rq->with_n = rq->with_time = mr.with_time;
    rq->n = mr.n;
    rq->t = mr.t;
}

/* Start the next request of L, or move through meters / end the cycle. */
void sched_link_advance(struct sched *s, struct slink *L)
{
    while (L->up && L->active && !L->in_flight) {
        bool due = ah_clock_now_ms(s->clk) >= cycle_due_ms(s, L);
        if (!job_pick(s, L, due)) {
            cycle_end(s, L);
            return;
        }
        if (L->phase == PH_LIVE)
            L->step = mjob_skip(L->step, L->rp_due);
        if (L->step == MJOB_LIVE && L->live_end < 0)
            sched_live_record(s, L);
        if (L->step == MJOB_LR && L->phase == PH_LIVE && L->gi >= L->n_gaps)
            L->step = L->live_after ? MJOB_LIVE : MJOB_DONE; /* short backlog read */
        else if (L->step == MJOB_LR && L->gi < L->n_gaps && due &&
                 L->bf_reqs >= L->n_meters) {
            /* the next cycle waits: it goes on with this meter's backfill
             * after its live sweep */
            L->job_begun = false;
            continue;
        } else if (L->step == MJOB_LR && L->gi >= L->n_gaps)
            L->step = MJOB_DONE; /* the turn is over */
        if (L->step == MJOB_DONE) {
            if (L->phase == PH_LIVE)
                sched_live_advance(L);
            else
                sched_backfill_advance(L);
            sched_meter_end(s, L, !L->any_ok && L->phase == PH_LIVE);
            continue;
        }
        const struct cfg_meter *cm = &s->cfg->meters[L->meters[L->cur]];
        struct sess_req rq;
        job_request(s, L, &rq);
        if (sess_start(&L->sess, &rq) != AH_OK) {
            ah_log(AH_LOG_ERROR, L->ctx, "meter %s: cannot build request %08X", cm->id,
                   rq.di);
            if (L->phase == PH_LIVE)
                sched_live_advance(L);
            else
                sched_backfill_advance(L);
            sched_meter_end(s, L, true);
            continue;
        }
        if (!sched_link_send(s, L))
            return;
    }
}
