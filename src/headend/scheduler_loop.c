/*
 * scheduler_loop — sched_run: one epoll loop drives every DL/T 645 link
 * (deadlines, cycle starts, dispatch of readiness, session ticks) and the
 * Modbus links' threads are started and stopped around it.
 */
#include "scheduler_int.h"

#include "ah_clock.h"
#include "ah_err.h"
#include "ah_log.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>

static int start_modbus(struct sched *s)
{
    for (size_t k = 0; k < s->n_links; k++) {
        struct slink *L = &s->links[k];
        if (L->kind != SL_MODBUS || !L->n_meters || s->mb[k])
            continue;
        struct mbpoll_conf mc = {.cfg = s->cfg,
                                 .link = k,
                                 .clk = s->clk,
                                 .pipe = s->pipe,
                                 .midx = s->midx,
                                 .met = {L->met.reads, L->met.requests, L->met.timeouts,
                                         L->met.rtt, L->met.ratio, L->met.overruns,
                                         L->met.up, L->met.latency}};
        int rc = mbpoll_start(&mc, &s->mb[k]);
        if (rc != AH_OK) {
            ah_log(AH_LOG_ERROR, L->ctx, "Modbus link thread: %s", ah_strerror(rc));
            return rc;
        }
    }
    return AH_OK;
}

static void stop_modbus(struct sched *s)
{
    for (size_t k = 0; k < s->n_links; k++) {
        if (!s->mb[k])
            continue;
        struct mbpoll_stats ms;
        mbpoll_stop(&s->mb[k], &ms);
        s->st.cycles += ms.cycles;
        s->st.overruns += ms.overruns;
        s->st.requests += ms.requests;
        s->st.timeouts += ms.timeouts;
        s->st.meter_errors += ms.meter_errors;
        s->st.reads += ms.reads;
        s->st.backed_off += ms.backed_off;
    }
}

/* Before the first pass: every DL/T 645 link starts its first cycle at
 * once (the store may lack a whole backfill window) and is down until its
 * first reply. */
static void run_begin(struct sched *s, int64_t now)
{
    for (size_t k = 0; k < s->n_links; k++) {
        struct slink *L = &s->links[k];
        if (!L->n_meters || L->kind == SL_MODBUS)
            continue;
        L->next_start = now;
        L->reconnect_at = 0;
        L->down_since = now;
        met_set(L->met.up, 0);
    }
}

/* Phase 1 of a pass, per link: connect deadlines, outages, reconnects,
 * cycle starts and the next request. Returns how long (real ms) the loop
 * may wait for readiness: the nearest reply deadline or cycle start. */
static int64_t links_turn(struct sched *s, int64_t now, int64_t mono)
{
    int64_t wait = 50; /* ms, real: bounds the latency of cycle starts */
    for (size_t k = 0; k < s->n_links; k++) {
        struct slink *L = &s->links[k];
        if (!L->n_meters || L->kind == SL_MODBUS)
            continue;
        if (L->connecting && mono >= L->connect_deadline)
            sched_link_connect_timeout(s, L);
        sched_link_outage_check(s, L);
        if (!L->up && !L->connecting && L->kind != SL_DIALIN && mono >= L->reconnect_at)
            sched_link_try_connect(s, L);
        if (!L->active && now >= L->next_start)
            sched_cycle_begin(s, L, now);
        sched_link_advance(s, L);
        /* mono and now of this pass, not a clock read per link: with
         * thousands of links the walk is most of a busy loop's cost */
        if (L->in_flight && L->sess.state == SESS_WAIT) {
            int64_t left = L->sess.deadline_ms - mono;
            if (left < wait)
                wait = left < 0 ? 0 : left;
        }
        if (!L->active) {
            int64_t left = ah_clock_real_ms(s->clk, L->next_start - now);
            if (left < wait)
                wait = left;
        }
    }
    return wait;
}

/* Phase 2: readiness, each event to its owner (tag, index). */
static void dispatch(struct sched *s, const struct epoll_event *ev, int n)
{
    for (int i = 0; i < n; i++) {
        uint32_t tag = (uint32_t)(ev[i].data.u64 >> 32);
        size_t idx = (size_t)(ev[i].data.u64 & 0xFFFFFFFFu);
        if (tag == TAG_LISTEN) {
            sched_on_accept(s, idx);
        } else if (tag == TAG_PENDING) {
            if (s->pend[idx].l)
                sched_pending_on_readable(s, &s->pend[idx]);
        } else {
            struct slink *L = &s->links[idx];
            if (L->connecting)
                sched_link_on_connect(s, L);
            else if (L->up)
                sched_link_on_readable(s, L, ev[i].events);
        }
    }
}

/* Phase 3: sessions' deadlines, finished transactions, dial-ins waiting
 * for their 13H answer, paused listeners. */
static void sessions_check(struct sched *s, int64_t mono)
{
    for (size_t k = 0; k < s->n_links; k++) {
        struct slink *L = &s->links[k];
        if (L->in_flight && L->sess.state == SESS_WAIT)
            sess_on_tick(&L->sess, mono);
        sched_link_check(s, L);
    }
    for (size_t j = 0; j < SCHED_PENDING_MAX; j++)
        if (s->pend[j].l)
            sched_pending_check(s, &s->pend[j], mono);
    sched_listen_resume(s, mono);
}

/* After the last pass: no connection stays open or watched. */
static void run_end(struct sched *s)
{
    for (size_t k = 0; k < s->n_links; k++) {
        struct slink *L = &s->links[k];
        if (L->connecting) {
            epoll_ctl(s->ep, EPOLL_CTL_DEL, link_fd(L->l), NULL);
            link_close(L->l);
            L->connecting = false;
        }
        if (L->up) {
            epoll_ctl(s->ep, EPOLL_CTL_DEL, link_fd(L->l), NULL);
            link_close(L->l);
            L->up = false;
        }
    }
}

int sched_run(sched_t *s, int64_t until_ms, volatile sig_atomic_t *stop)
{
    run_begin(s, ah_clock_now_ms(s->clk));
    int rc = start_modbus(s);
    while (rc == AH_OK && !*stop) {
        int64_t now = ah_clock_now_ms(s->clk);
        if (until_ms >= 0 && now >= until_ms)
            break;
        int64_t wait = links_turn(s, now, ah_mono_ms());
        /* many replies per pass: each pass walks every link twice, and 2,000
         * links at 200 ms each answer 10,000 times a second */
        struct epoll_event ev[256];
        int n = epoll_wait(s->ep, ev, 256, (int)(wait < 0 ? 0 : wait));
        if (n < 0 && errno != EINTR) {
            ah_log(AH_LOG_ERROR, "sched", "epoll_wait: %s", strerror(errno));
            rc = AH_EIO;
            break;
        }
        dispatch(s, ev, n);
        sessions_check(s, ah_mono_ms());
        if (s->tick && s->tick(s, s->tick_arg))
            break;
    }
    stop_modbus(s);
    run_end(s);
    return rc;
}
