/*
 * scheduler — cycles, per-link job queues and the epoll loop of `amihead run`
 * (see sched.h). It must not write the store (reads go to pipe_) and must
 * never have two requests in flight on one link.
 *
 * Per link, one cycle per interval (issue 13: fair under overrun):
 *
 *   IDLE ── boundary + stagger reached ──► LIVE SWEEP: each meter once, from
 *     ▲                                     where the last sweep stopped
 *     │                                     │  backed off? ── skip
 *     │             the meter job of meterjob.h, the groups its read
 *     │             plan wants this cycle (readplan.h): 0400010C (else
 *     │             time, date, time: the clock-read rule), 0201FF00 V,
 *     │             0202FF00 I, 040005FF status words, 03300D00 /
 *     │             03300E00 / 03300100 event counters, once a day after
 *     │             daily_freeze_after 05060001 + 05060101 (daily freeze)
 *     │             and 04000402 (meter number); then a short backlog
 *     │             (<= SCHED_INLINE_GAPS) oldest first and 06000001 N=1
 *     │             at the live record (the meter's newest on its own
 *     │             clock: mjob_live_end)
 *     │                                     │ every meter visited, or the
 *     │                                     │ next cycle due (overrun)
 *     │                                     ▼
 *     │             BACKFILL: meter after meter, up to SCHED_BACKFILL_CHUNK
 *     │             missing records a turn, oldest first, each run of
 *     │             consecutive gaps asked N blocks at a time (N learned
 *     │             per meter: lr_done), going on where the last cycle's
 *     │             backfill stopped
 *     └──── nothing missing, or next cycle due (after >= 1 request per meter)
 *
 * A link that drops goes DOWN; it reconnects with backoff and resumes the
 * cycle at the meter it was on. Link kinds:
 *
 *   dlt645-tcp     non-blocking connect inside the loop (EPOLLOUT), backoff
 *   dlt645-serial  link_new_serial (termios for ptys, libserialport else)
 *   dlt645-listen  no connect: an accepted socket is identified by 13H
 *                  (DL/T 645-2007 §1.4 read address) and, when its address
 *                  is a configured dial-in link's, becomes that link's
 *                  transport (replacing an older socket of the same
 *                  concentrator); unknown ones are refused and closed
 *   modbus-*       a thread per link (mbpoll), started and stopped by
 *                  sched_run
 */
#include "scheduler_int.h"
#include "probe.h"

#include "ah_clock.h"
#include "ah_err.h"
#include "ah_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

/* ---- the engine -------------------------------------------------------- */

static enum slink_kind kind_of(const struct cfg *cfg, const struct cfg_meter *m)
{
    enum cfg_link_type t = cfg->links[m->link].type;
    if (t == CFG_LINK_MODBUS_TCP || t == CFG_LINK_MODBUS_RTU)
        return m->proto == CFG_PROTO_MODBUS && m->map ? SL_MODBUS : SL_NONE;
    if (m->proto != CFG_PROTO_DLT645_2007)
        return SL_NONE;
    return t == CFG_LINK_DLT645_TCP      ? SL_TCP
           : t == CFG_LINK_DLT645_SERIAL ? SL_SERIAL
                                         : SL_DIALIN;
}

/* The log context of one meter of L: "link/meter" (a JSON log's fields). */
const char *sched_meter_ctx(struct slink *L, const char *meter)
{
    snprintf(L->mctx, sizeof L->mctx, "%s/%s", L->cl->name, meter);
    return L->mctx;
}

static void link_metrics(struct sched *s, struct slink *L)
{
    char lab[CFG_NAME_MAX + 16];
    snprintf(lab, sizeof lab, "link=\"%s\"", L->cl->name);
    met_t *m = s->met;
    L->met.reads = met_series(m, "amihead_reads_total",
                              "Interval reads handed to the pipeline", MET_COUNTER, lab);
    L->met.requests =
        met_series(m, "amihead_requests_total",
                   "Requests written to the link (retries included)", MET_COUNTER, lab);
    L->met.retries =
        met_series(m, "amihead_retries_total",
                   "Requests repeated after a timeout or bad frame", MET_COUNTER, lab);
    L->met.timeouts =
        met_series(m, "amihead_timeouts_total",
                   "Transactions that failed after every attempt", MET_COUNTER, lab);
    L->met.rtt = met_series(m, "amihead_rtt_seconds",
                            "Round-trip time of the last answer", MET_GAUGE, lab);
    /* request to answer, seconds: RS-485 at 2400 Bd to a slow GPRS link */
    static const double lat_s[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10};
    L->met.latency = met_histogram(m, "amihead_request_duration_seconds",
                                   "Time from a request to its answer", lab, lat_s,
                                   sizeof lat_s / sizeof lat_s[0]);
    L->met.ratio = met_series(m, "amihead_link_success_ratio",
                              "Meters that answered / meters tried in the last cycle",
                              MET_GAUGE, lab);
    L->met.missing =
        met_series(m, "amihead_missing_intervals",
                   "Intervals missing in the backfill window (backlog)", MET_GAUGE, lab);
    L->met.overruns =
        met_series(m, "amihead_cycle_overruns_total",
                   "Cycles that ran into the next interval", MET_COUNTER, lab);
    L->met.up =
        met_series(m, "amihead_link_up", "1 when the link is connected", MET_GAUGE, lab);
    L->met.outages = met_series(
        m, "amihead_link_outages_total",
        "Link outages longer than one interval (LINK_DOWN events)", MET_COUNTER, lab);
}

/* Series of issue 17's defences: what was refused and why. */
static void hostile_metrics(struct sched *s, struct slink *L)
{
    char lab[CFG_NAME_MAX + 32];
    met_t *m = s->met;
    snprintf(lab, sizeof lab, "link=\"%s\"", L->cl->name);
    L->m_junk = met_series(m, "amihead_junk_bytes_total",
                           "Bytes on the link that were no reply: unsolicited or junk "
                           "around frames",
                           MET_COUNTER, lab);
    L->m_stale = met_series(m, "amihead_records_refused_total",
                            "Load records refused: stamped before the requested interval",
                            MET_COUNTER, lab);
    if (L->kind != SL_DIALIN)
        return;
    L->m_conflicts = met_series(m, "amihead_dialin_conflicts_total",
                                "Dial-ins that claimed the address of a connected "
                                "concentrator",
                                MET_COUNTER, lab);
    L->m_withheld = met_series(m, "amihead_dialin_withheld_reads_total",
                               "Reads not passed on while the link's identity was in "
                               "dispute",
                               MET_COUNTER, lab);
    snprintf(lab, sizeof lab, "link=\"%s\",reason=\"source\"", L->cl->name);
    L->m_refused_src =
        met_series(m, "amihead_dialin_refused_total",
                   "Dial-ins refused (source not in links[].allow)", MET_COUNTER, lab);
    s->m_pend_closed = met_series(m, "amihead_dialin_unidentified_closed_total",
                                  "Unidentified dial-in connections closed to make room "
                                  "(per-source bound, oldest first)",
                                  MET_COUNTER, NULL);
}

/* Each link's read plan per meter class: the defaults, then the
 * schedule's layer, the class's, the link's (readplan.h). */
static void plans_build(struct sched *s)
{
    const struct cfg *cfg = s->cfg;
    for (size_t k = 0; k < cfg->n_links; k++) {
        for (int c = 0; c < 3; c++) {
            const struct readplan *layers[] = {&cfg->schedule.read_plan[0],
                                               &cfg->schedule.read_plan[1 + c],
                                               &cfg->links[k].read_plan};
            readplan_resolve(&s->plans[k * 3 + (size_t)c], layers, 3);
        }
    }
}

const struct readplan *sched_plan_of(const struct sched *s, size_t mi)
{
    const struct cfg_meter *cm = &s->cfg->meters[mi];
    return &s->plans[cm->link * 3 + (size_t)cm->cls];
}

/* Count each link's polled meters and its kind; meters this version does
 * not poll are said once. */
static void links_count(struct sched *s)
{
    const struct cfg *cfg = s->cfg;
    size_t skipped = 0;
    for (size_t i = 0; i < cfg->n_meters; i++) {
        const struct cfg_meter *m = &cfg->meters[i];
        enum slink_kind kd = kind_of(cfg, m);
        if (kd == SL_NONE) {
            skipped++;
            continue;
        }
        s->links[m->link].kind = kd;
        s->links[m->link].n_meters++;
    }
    if (skipped)
        ah_log(AH_LOG_WARN, "sched",
               "%zu meter(s) speak DL/T 645-1997 or lack a register map: not polled by "
               "this version",
               skipped);
}

/* The transport of link k: a TCP or serial link object, or for a dial-in
 * link the listener of its address (shared by the links that listen on
 * one). AH_ENOMEM when a link object cannot be made. */
static int link_transport(struct sched *s, struct slink *L)
{
    if (L->kind == SL_TCP) {
        L->l = link_new_tcp(L->cl->endpoint);
    } else if (L->kind == SL_SERIAL) {
        struct link_serial_opts so = {L->cl->baud, L->cl->parity, 8, L->cl->stop_bits};
        L->l = link_new_serial(L->cl->device, &so);
    } else if (L->kind == SL_DIALIN) {
        size_t j = 0;
        while (j < s->n_lis && strcmp(s->lis[j].addr, L->cl->listen) != 0)
            j++;
        if (j == s->n_lis) {
            s->lis[j].addr = L->cl->listen;
            s->lis[j].fd = -1;
            s->n_lis++;
        }
        L->lis = j;
    }
    if (!L->l && (L->kind == SL_TCP || L->kind == SL_SERIAL)) {
        ah_log(AH_LOG_ERROR, L->ctx, "cannot set up link");
        return AH_ENOMEM;
    }
    return AH_OK;
}

/* Each link with meters: its series, meter list, transport and stagger;
 * then the meters go to their links in config order. */
static int links_setup(struct sched *s)
{
    const struct cfg *cfg = s->cfg;
    for (size_t k = 0; k < cfg->n_links; k++) {
        struct slink *L = &s->links[k];
        L->cl = &cfg->links[k];
        snprintf(L->ctx, sizeof L->ctx, "%s", L->cl->name);
        if (L->n_meters == 0)
            continue;
        link_metrics(s, L);
        hostile_metrics(s, L);
        L->meters = malloc(L->n_meters * sizeof *L->meters);
        if (!L->meters || link_transport(s, L) != AH_OK)
            return AH_ENOMEM;
        L->n_meters = 0;
        /* spread the links' cycle starts over stagger_s so that they do not
         * all hit the meters at the boundary (DESIGN.md §3 "staggered") */
        L->offset_ms = (int64_t)cfg->schedule.stagger_s * 1000 * (int64_t)(k + 1) /
                       (int64_t)(cfg->n_links + 1);
    }
    for (size_t i = 0; i < cfg->n_meters; i++) {
        const struct cfg_meter *m = &cfg->meters[i];
        struct slink *L = &s->links[m->link];
        if (L->meters && kind_of(cfg, m) != SL_NONE)
            L->meters[L->n_meters++] = i;
    }
    return AH_OK;
}

/* Bind every dial-in listen address and watch it. AH_OK, link_listen_tcp's
 * error, or AH_EIO (epoll). */
static int listeners_open(struct sched *s)
{
    for (size_t j = 0; j < s->n_lis; j++) {
        int fd = link_listen_tcp(s->lis[j].addr, &s->lis[j].port);
        if (fd < 0) {
            char why[256];
            if (probe_listen(s->lis[j].addr, why, sizeof why) != 0)
                ah_log(AH_LOG_ERROR, "sched", "dial-in listen %s: %s", s->lis[j].addr,
                       why);
            else
                ah_log(AH_LOG_ERROR, "sched", "listen on %s: %s", s->lis[j].addr,
                       ah_strerror(fd));
            return fd;
        }
        s->lis[j].fd = fd;
        struct epoll_event ev = {.events = EPOLLIN};
        ev.data.u64 = EV_DATA(TAG_LISTEN, j);
        if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            ah_log(AH_LOG_ERROR, "sched", "dial-in listen %s: epoll_ctl: %s",
                   s->lis[j].addr, strerror(errno));
            return AH_EIO;
        }
        ah_log(AH_LOG_INFO, "sched", "waiting for dial-in concentrators on %s",
               s->lis[j].addr);
    }
    return AH_OK;
}

int sched_new(const struct cfg *cfg, const struct ah_clock *clk, pipe_t *pipe,
              const uint32_t *meter_idx, sched_t **out)
{
    return sched_new_met(cfg, clk, pipe, meter_idx, NULL, out);
}

int sched_new_met(const struct cfg *cfg, const struct ah_clock *clk, pipe_t *pipe,
                  const uint32_t *meter_idx, struct met *met, sched_t **out)
{
    struct sched *s = calloc(1, sizeof *s);
    if (!s)
        return AH_ENOMEM;
    s->cfg = cfg;
    s->clk = clk;
    s->pipe = pipe;
    s->ep = -1;
    s->step_s = (int64_t)cfg->schedule.interval_min * 60;
    s->tz_s = cfg->headend.tz_offset_s;
    s->midx = malloc((cfg->n_meters ? cfg->n_meters : 1) * sizeof *s->midx);
    s->ms = calloc(cfg->n_meters ? cfg->n_meters : 1, sizeof *s->ms);
    s->links = calloc(cfg->n_links ? cfg->n_links : 1, sizeof *s->links);
    if (!s->midx || !s->ms || !s->links)
        goto out_nomem;
    memcpy(s->midx, meter_idx, cfg->n_meters * sizeof *s->midx);
    s->ep = epoll_create1(EPOLL_CLOEXEC);
    if (s->ep < 0) {
        sched_destroy(&s);
        return AH_EIO;
    }
    s->own_met = !met;
    s->met = met ? met : met_new();
    s->lis = calloc(cfg->n_links ? cfg->n_links : 1, sizeof *s->lis);
    s->mb = calloc(cfg->n_links ? cfg->n_links : 1, sizeof *s->mb);
    s->plans = calloc(cfg->n_links ? cfg->n_links * 3 : 1, sizeof *s->plans);
    if (!s->met || !s->lis || !s->mb || !s->plans)
        goto out_nomem;
    plans_build(s);
    links_count(s);
    if (links_setup(s) != AH_OK)
        goto out_nomem;
    s->n_links = cfg->n_links;
    int rc = listeners_open(s);
    if (rc != AH_OK) {
        sched_destroy(&s);
        return rc;
    }
    *out = s;
    return AH_OK;
out_nomem:
    s->n_links = cfg->n_links;
    sched_destroy(&s);
    return AH_ENOMEM;
}

void sched_destroy(sched_t **sp)
{
    if (!sp || !*sp)
        return;
    struct sched *s = *sp;
    for (size_t k = 0; k < s->n_links; k++) {
        if (s->mb)
            mbpoll_stop(&s->mb[k], NULL);
        link_destroy(&s->links[k].l);
        free(s->links[k].meters);
    }
    for (size_t j = 0; j < s->n_lis; j++)
        if (s->lis[j].fd >= 0)
            close(s->lis[j].fd);
    for (size_t j = 0; j < SCHED_PENDING_MAX; j++)
        link_destroy(&s->pend[j].l);
    if (s->ep >= 0)
        close(s->ep);
    if (s->own_met) {
        met_stop(s->met);
        met_destroy(&s->met);
    }
    free(s->lis);
    free(s->mb);
    free(s->plans);
    free(s->links);
    free(s->ms);
    free(s->midx);
    free(s);
    *sp = NULL;
}

void sched_set_tick(sched_t *s, sched_tick_fn fn, void *arg)
{
    s->tick = fn;
    s->tick_arg = arg;
}

bool sched_idle(const sched_t *s)
{
    for (size_t k = 0; k < s->n_links; k++) {
        const struct slink *L = &s->links[k];
        if (L->n_meters && L->kind != SL_MODBUS && L->active)
            return false;
    }
    return true;
}

const struct sched_stats *sched_stats(const sched_t *s)
{
    return &s->st;
}

met_t *sched_metrics(sched_t *s)
{
    return s->met;
}

int sched_serve_metrics(sched_t *s, const char *listen, int *bound_port)
{
    if (!listen || !*listen)
        return AH_OK;
    return met_serve(s->met, listen, bound_port);
}

int sched_listen_port(const sched_t *s, size_t i)
{
    return i < s->n_lis ? s->lis[i].port : -1;
}
