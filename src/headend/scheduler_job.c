/*
 * scheduler_job — the meter job driver: what an answer (or an ERR, or a
 * timeout) to a step of the meter job (meterjob.h) brings — values, load
 * records handed to the pipeline, what it teaches about the meter — and
 * where the job goes next.
 */
#include "scheduler_int.h"

#include "ah_clock.h"
#include "ah_err.h"
#include "ah_log.h"
#include "dlt645_di.h"

#include <string.h>

/* The live record carries what this job read beside it (pr->read holds
 * the record; mi its meter). */
static void live_extras(struct sched *s, struct slink *L, size_t mi, struct pipe_read *pr)
{
    const struct cfg_meter *cm = &s->cfg->meters[mi];
    const struct mjob_vals *J = &L->vals;
    struct ah_read *o = &pr->read;
    /* the live record carries what this job read beside it: the
     * clock pair and counters always (each has its own time), the
     * status words and V, I only when they were read in the
     * interval after this record's end on the meter's own clock
     * (mjob_live_end): never filed under an older interval */
    if (J->have_clock) {
        /* pair the meter clock with the head-end clock of the same
         * moment: the backfill requests between the time read and
         * this record must not count as drift */
        o->meter_clock_ms = J->clock_ms;
        o->headend_clock_ms = J->clock_at_ms;
        o->present |= AH_READ_HAS_METER_CLOCK;
    }
    for (int ph = 0; ph < 3 && L->live_attach; ph++) {
        if (!(o->present & AH_READ_HAS_VOLTAGE(ph)) && (J->v_ph & (1u << ph))) {
            o->voltage[ph] = J->volt[ph];
            o->present |= AH_READ_HAS_VOLTAGE(ph);
        }
        if (!(o->present & AH_READ_HAS_CURRENT(ph)) && (J->i_ph & (1u << ph))) {
            o->current[ph] = J->curr[ph];
            o->present |= AH_READ_HAS_CURRENT(ph);
        }
    }
    if (J->have_status && L->live_attach) {
        memcpy(o->status, J->status, sizeof o->status);
        o->present |= AH_READ_HAS_STATUS;
    }
    /* a change, not a lasting state, pulls status and events
     * forward: a lost phase costs them once, not every cycle */
    bool alarm = readplan_record_alarm(
        o, cm->nominal_voltage * 10.0 * s->cfg->validation.phase_loss_pct / 100.0,
        cm->bidirectional);
    if (alarm != s->ms[mi].rp_alarm)
        s->ms[mi].rp_force |= 1u << RP_STATUS | 1u << RP_EVENTS;
    s->ms[mi].rp_alarm = alarm;
    if (J->have_cover)
        o->present |= AH_READ_HAS_COVER;
    if (J->have_cleared)
        o->present |= AH_READ_HAS_CLEAR_COUNT;
    if (J->have_number)
        o->present |= AH_READ_HAS_SERIAL;
    if (L->live_defer) {
        pr->kind = PIPE_DEFER;
        s->ms[mi].deferring = true;
    }
    o->cover_count = J->cover;
    o->terminal_count = J->terminal;
    o->clear_count = J->cleared;
    o->serial = J->number;
    if (J->have_frz) {
        o->present |= AH_READ_HAS_FREEZE;
        o->freeze_at = J->frz_at;
        o->freeze_fwd = J->frz_fwd;
    }
}

/* How far before the interval asked a record's stamp may lie: the meter's
 * clock offset known this cycle (read now, or from its last read). */
static int64_t lr_slack(struct sched *s, struct slink *L, size_t mi)
{
    int64_t coff = 0;
    if (L->vals.have_clock)
        coff = (L->vals.clock_ms - L->vals.clock_at_ms) / 1000;
    else if (L->clock_est)
        coff = s->ms[mi].clk_off_s;
    return coff < 0 ? -coff : coff;
}

/* A record stamped before the interval asked (allowing for the meter's
 * clock offset) is no answer: refused, counted and logged. 06000001 asks
 * for records at or after the given time (protocols.md §2.9 table): one
 * stamped before it is not an answer, whatever its registers say (issue 17
 * item 6: records of 2000-01-01 came back for 2025 intervals). The
 * requested interval stays a gap. */
static void lr_refused(struct slink *L, const struct cfg_meter *cm, int64_t end,
                       int64_t asked, int64_t slack)
{
    char sent[32], want[32];
    met_add(L->m_stale, 1);
    ah_time_format(end * 1000, sent, sizeof sent);
    ah_time_format(asked * 1000, want, sizeof want);
    ah_log(AH_LOG_WARN, L->ctx,
           "meter %s: load record stamped %s answers a request for %s (%lld s "
           "earlier, clock offset %lld s): refused, the interval stays a gap",
           cm->id, sent, want, (long long)(asked - end), (long long)slack);
}

static void on_load_record(struct sched *s, struct slink *L, const uint8_t *p, size_t n)
{
    size_t mi = L->meters[L->cur];
    const struct cfg_meter *cm = &s->cfg->meters[mi];
    struct mjob_lr_want w = {
        .asked = L->step == MJOB_LIVE ? L->live_end : (int64_t)L->gaps[L->gi],
        .top = L->phase == PH_LIVE ? L->live_end : L->boundary_s,
        .step = s->step_s,
        .tz_s = s->tz_s,
        .slack = lr_slack(s, L, mi),
    };
    int64_t asked = w.asked;
    size_t off = 0;
    struct mjob_lr_rec lr;
    int rc;
    while ((rc = mjob_lr_next(p, n, &off, &w, &lr)) == AH_OK) {
        int64_t end = lr.end;
        L->lr_got++;
        if (end > L->lr_last)
            L->lr_last = end;
        char sent[32], want[32];
        if (lr.kind == MJOB_LR_INVALID)
            continue;
        if (lr.kind == MJOB_LR_OFF_GRID) {
            ah_time_format((int64_t)end * 1000, sent, sizeof sent);
            ah_log(AH_LOG_WARN, L->ctx,
                   "meter %s: load record at %s is not an interval end", cm->id, sent);
            continue;
        }
        if (lr.kind == MJOB_LR_STALE) {
            lr_refused(L, cm, end, asked, w.slack);
            continue;
        }
        if (L->lr_got == 1 && end != asked) {
            ah_time_format(end * 1000, sent, sizeof sent);
            ah_time_format(asked * 1000, want, sizeof want);
            ah_log(AH_LOG_DEBUG, L->ctx, "meter %s lacks interval %s, sent %s", cm->id,
                   want, sent);
        }
        bool live = L->step == MJOB_LIVE && end == L->live_end;
        struct pipe_read pr;
        memset(&pr, 0, sizeof pr);
        pr.meter = s->midx[mi];
        struct ah_read *o = &pr.read;
        o->end = (uint64_t)end;
        o->source = live ? AH_READ_LIVE : AH_READ_BACKFILL;
        o->ct = (uint32_t)cm->ct;
        o->pt = (uint32_t)cm->pt;
        o->headend_clock_ms = ah_clock_now_ms(s->clk);
        mjob_lr_to_rec(&lr.r, o);
        if (live)
            live_extras(s, L, mi, &pr);
        if (L->disputed && L->sess.sent_ms >= L->dispute_t0) {
            /* another connection claims this concentrator's address and
             * this was asked after the claim: until that is settled nothing
             * from here reaches billing; the interval stays a gap for a
             * later cycle (answers to requests sent before the claim come
             * from the connection that identified itself first) */
            met_add(L->m_withheld, 1);
            ah_log(AH_LOG_WARN, L->ctx,
                   "meter %s: read of %lld withheld, the link's identity is in dispute",
                   cm->id, (long long)end);
            continue;
        }
        if (pipe_push(s->pipe, &pr) == AH_OK) {
            s->st.reads++;
            met_add(L->met.reads, 1);
        }
    }
    if (rc != AH_EAGAIN)
        ah_log(AH_LOG_WARN, L->ctx, "meter %s: bad load record: %s", cm->id,
               ah_strerror(rc));
}

/* An answer's values: the meter job decodes them (meterjob.h). The meter's
 * time of a reply is paired with the head-end clock half way through the
 * round trip: on a 4G link (300-1000 ms each way) the reply's arrival
 * would be late by the return trip. */
static void on_values(struct sched *s, struct slink *L, const uint8_t *p, size_t n)
{
    int64_t now_he = ah_clock_now_ms(s->clk);
    int64_t mid_he = L->sent_he_ms + (now_he - L->sent_he_ms) / 2;
    if (mjob_on_answer(&L->vals, L->step, p, n, s->tz_s, mid_he) != AH_OK)
        ah_log(AH_LOG_WARN, L->ctx, "meter %s: reply to %08X does not fit its DI",
               s->cfg->meters[L->meters[L->cur]].id, L->sess.req.di);
}

/* Blocks per catch-up request for the meter of the job under way: what the
 * store remembers of it, else SCHED_LR_BLOCKS_MAX (looked up once). */
unsigned sched_lr_blocks(struct sched *s, struct slink *L)
{
    size_t mi = L->meters[L->cur];
    struct meter_state *m = &s->ms[mi];
    if (m->lr_n == 0) {
        uint8_t n = 0;
        int rc = pipe_meter_lr_blocks(s->pipe, s->midx[mi], &n);
        m->lr_n =
            rc == AH_OK && n >= 1 && n <= SCHED_LR_BLOCKS_MAX ? n : SCHED_LR_BLOCKS_MAX;
    }
    return m->lr_n;
}

/* The meter answers at most n blocks per request: from now on, and after a
 * restart (the writer stores it). */
static void lr_remember(struct sched *s, struct slink *L, unsigned n, const char *why)
{
    size_t mi = L->meters[L->cur];
    s->ms[mi].lr_n = (uint8_t)n;
    ah_log(AH_LOG_INFO, sched_meter_ctx(L, s->cfg->meters[mi].id),
           "meter %s %s: %u load record(s) per request from now on",
           s->cfg->meters[mi].id, why, n);
    struct pipe_read pr;
    memset(&pr, 0, sizeof pr);
    pr.meter = s->midx[mi];
    pr.read.end = UINT64_MAX;
    pr.kind = PIPE_LR_BLOCKS;
    pr.lr_blocks = (uint8_t)n;
    (void)pipe_push(s->pipe, &pr);
}

/* A catch-up answer (or ERR) to the run of gaps from gaps[gi]: learn the
 * meter's limit and move past the gaps it covered (issue 16 item 2). */
static void lr_done(struct sched *s, struct slink *L, int rc)
{
    struct meter_state *m = &s->ms[L->meters[L->cur]];
    int64_t run_end = (int64_t)L->gaps[L->gi] + (int64_t)(L->lr_asked - 1) * s->step_s;
    if (rc == AH_EMETER && L->lr_asked > 1 && L->sess.reasm.next_seq == 0) {
        /* ERR 02 to N blocks: a firmware that takes N = 1 only, or no
         * record at or after the time. N = 1 at the same gap tells (an ERR
         * to a 12H follow-up says neither: the run stays gaps) */
        s->st.meter_errors--;
        L->lr_probe = m->lr_n;
        m->lr_n = 1;
        return;
    }
    if (L->lr_probe) {
        if (rc == AH_OK)
            lr_remember(s, L, 1, "refuses more than one load record per request");
        else
            m->lr_n = L->lr_probe; /* that interval has no record, that is all */
        L->lr_probe = 0;
    }
    if (rc == AH_OK && L->lr_got < L->lr_asked && L->lr_last < run_end) {
        int64_t newest = L->boundary_s - s->step_s;
        if (m->newest > 0 && m->newest < newest)
            newest = m->newest;
        unsigned n =
            mjob_lr_learn(m->lr_n, L->lr_asked, L->lr_got, L->lr_last, run_end, newest);
        if (n < m->lr_n) {
            lr_remember(s, L, n, "answers fewer load records than asked");
            /* the rest of the run is asked again, n at a time */
            size_t gi = L->gi + 1;
            while (gi < L->n_gaps && (int64_t)L->gaps[gi] <= L->lr_last)
                gi++;
            L->gi = gi;
            return;
        }
    }
    L->gi += L->lr_asked ? L->lr_asked : 1;
    if (L->gi > L->n_gaps)
        L->gi = L->n_gaps;
}

/* A step of the read plan answered (data or ERR): its group is read for
 * this cycle; a clock read is remembered for the cycles that skip it. */
static void plan_read(struct sched *s, struct slink *L, struct meter_state *m, int rc)
{
    unsigned g = mjob_def(L->step)->group;
    if (g >= RP_FREEZE)
        return; /* the freeze keeps its day (freeze_day) */
    m->rp_last[g] = (uint32_t)(L->boundary_s / s->step_s);
    m->rp_force &= (uint8_t) ~(1u << g);
    if (g == RP_CLOCK && rc == AH_OK && L->vals.have_clock) {
        int64_t off = (L->vals.clock_ms - L->vals.clock_at_ms) / 1000;
        if (off > INT32_MAX)
            off = INT32_MAX;
        if (off < -INT32_MAX)
            off = -INT32_MAX;
        m->clk_off_s = (int32_t)off;
        m->clk_known = true;
        m->clk_bad = (off < 0 ? -off : off) > s->cfg->validation.clock_drift_s;
    }
}

/* A request failed after every attempt (no valid reply): the job gives up
 * on the meter for this turn, except that a batch lost on a noisy line is
 * asked once more one record at a time. */
static void on_no_reply(struct sched *s, struct slink *L, int rc)
{
    struct meter_state *m = &s->ms[L->meters[L->cur]];
    const struct cfg_meter *cm = &s->cfg->meters[L->meters[L->cur]];
    s->st.timeouts++;
    met_add(L->met.timeouts, 1);
    ah_log(AH_LOG_WARN, sched_meter_ctx(L, cm->id),
           "meter %s: no valid reply to %08X after %d attempt(s): %s", cm->id,
           L->sess.req.di, L->sess.attempt + 1, ah_strerror(rc));
    if (L->lr_probe) {
        m->lr_n = L->lr_probe;
        L->lr_probe = 0;
    }
    if (L->step == MJOB_LR && L->lr_asked > 1 && !L->lr_one) {
        /* a batch lost on a noisy line (every frame of its follow-ups
         * must get through): its run once more, one record per
         * request for the rest of this turn, so that a lost frame
         * costs one interval, not nine */
        L->lr_one = true;
        return;
    }
    /* one dead meter costs at most timeout × retries */
    if (L->phase == PH_LIVE)
        sched_live_advance(L);
    else
        sched_backfill_advance(L);
    sched_meter_end(s, L, true);
}

/* The meter answered (data, or ERR: rc): where the job goes. The table
 * and what the answer teaches are the meter job's (mjob_after); the
 * scheduler adds what the meter's state and the gap list need. */
static void job_after(struct sched *s, struct slink *L, int rc)
{
    struct meter_state *m = &s->ms[L->meters[L->cur]];
    const struct cfg_meter *cm = &s->cfg->meters[L->meters[L->cur]];
    if (L->step < MJOB_LIVE) /* answered (data or ERR): after on_values */
        plan_read(s, L, m, rc);
    unsigned teach;
    enum mjob_step next = mjob_after(&L->vals, L->step, rc == AH_OK, &teach);
    if (teach & MJOB_TEACH_NO_DT) {
        m->no_dt = true;
        s->st.meter_errors--; /* a probe, not a failed read */
    }
    if (teach & MJOB_TEACH_CLOCK_AGAIN)
        ah_log(AH_LOG_DEBUG, L->ctx,
               "meter %s: time, date, time straddled midnight: reading again", cm->id);
    if (L->step == MJOB_LIVE && (rc == AH_EMETER || L->lr_last != L->live_end)) {
        /* no record for the interval (an outage, a reset): what the meter
         * says about it comes with the next cycle's status and events */
        m->rp_force |= 1u << RP_STATUS | 1u << RP_EVENTS;
    }
    if (L->step == MJOB_LR)
        lr_done(s, L, rc); /* moves through the gaps */
    L->step = next;
}

/* The transaction of L finished: take its result and move the job on. */
void sched_on_done(struct sched *s, struct slink *L)
{
    L->in_flight = false;
    int rc = L->sess.result;
    struct meter_state *m = &s->ms[L->meters[L->cur]];
    if (rc == AH_OK || rc == AH_EMETER) {
        met_set(L->met.rtt, (double)L->sess.rtt_ms / 1000.0);
        met_observe(L->met.latency, (double)L->sess.rtt_ms / 1000.0);
        L->ok_mono = ah_mono_ms(); /* the connection is alive (dial-in probe) */
    }
    if ((L->step == MJOB_FRZ_E || L->step == MJOB_FRZ_T) &&
        (rc == AH_OK || rc == AH_EMETER)) {
        /* read, or the meter has no freeze: either way not again today */
        int64_t local = L->boundary_s + s->tz_s;
        if (L->step == MJOB_FRZ_E || rc == AH_EMETER)
            m->freeze_day = cadence_interval_floor(local, 86400) / 86400 + 1;
    }
    if (rc == AH_OK) {
        L->any_ok = true;
        sched_link_answered(s, L);
        size_t n;
        const uint8_t *p = sess_payload(&L->sess, &n);
        if (L->step == MJOB_LR || L->step == MJOB_LIVE)
            on_load_record(s, L, p, n);
        else
            on_values(s, L, p, n);
    } else if (rc == AH_EMETER) {
        /* the meter is alive but has no such data (e.g. the record is not
         * written yet): the interval stays a gap for a later cycle */
        L->any_ok = true;
        sched_link_answered(s, L);
        s->st.meter_errors++;
    } else if (rc == AH_ECLOSED || rc == AH_EIO) {
        return; /* sched_link_drop handles it */
    } else {
        on_no_reply(s, L, rc);
        return;
    }
    job_after(s, L, rc);
}

/* The live record of the job under way (mjob_live_end); MJOB_DONE when the
 * store has it already. A short backlog before it (SCHED_INLINE_GAPS) is
 * read first, in order: step MJOB_LR with live_after set. */
void sched_live_record(struct sched *s, struct slink *L)
{
    struct meter_state *m = &s->ms[L->meters[L->cur]];
    int64_t he_ms = L->vals.have_clock ? L->vals.clock_at_ms : ah_clock_now_ms(s->clk);
    int64_t he_s = cadence_interval_floor(he_ms, 1000) / 1000;
    int64_t meter_s = cadence_interval_floor(L->vals.clock_ms, 1000) / 1000;
    bool have = L->vals.have_clock;
    if (!have && m->clk_known) {
        /* the read plan skipped the clock this cycle: the meter's offset at
         * its last read stands in (a drifted clock is read every cycle) */
        meter_s = he_s + m->clk_off_s;
        have = L->clock_est = true;
    }
    L->live_end =
        mjob_live_end(he_s, have, meter_s, s->step_s, s->cfg->validation.clock_drift_s,
                      s->cfg->validation.clock_suspect_s, &L->live_attach);
    m->newest = have ? cadence_interval_floor(meter_s, s->step_s) : 0;
    /* one gap query (it waits for the writer's batch): the window up to
     * and with the live record; oldest first, so the live record is the
     * last gap when the list is whole */
    uint32_t idx = s->midx[L->meters[L->cur]];
    int64_t from, to;
    cadence_window(L->live_end, s->step_s, s->cfg->schedule.backfill_days, &from, &to);
    size_t n = 0;
    if (pipe_missing_intervals(s->pipe, idx, (uint64_t)from, (uint64_t)to,
                               (uint64_t)s->step_s, L->gaps, SCHED_BACKFILL_CHUNK,
                               &n) != AH_OK) {
        /* the store could not say: ask for the live record alone (a
         * duplicate is ignored); L->gaps holds a list of another meter or
         * the failed query's leftovers, never this answer */
        L->gaps[0] = (uint64_t)L->live_end;
        n = 1;
    }
    struct mjob_live_plan plan;
    mjob_live_plan(L->gaps, n, SCHED_BACKFILL_CHUNK, L->live_end, SCHED_INLINE_GAPS,
                   &plan);
    met_add(L->met.missing, (double)plan.backlog - (double)m->backlog);
    m->backlog = plan.backlog;
    if (!plan.live_missing)
        L->step = MJOB_DONE;
    L->live_after = plan.live_missing;
    if (plan.inline_gaps) {
        L->n_gaps = plan.backlog;
        L->gi = 0;
        L->step = MJOB_LR;
    }
    L->live_defer = plan.defer;
}
