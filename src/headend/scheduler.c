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
 *     │             clock: sched_live_end)
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
#include "scheduler.h"
#include "probe.h"
#include "meterjob.h"
#include "readplan.h"

#include "ah_clock.h"
#include "ah_date.h"
#include "ah_err.h"
#include "ah_log.h"
#include "dialin.h"
#include "dlt645_di.h"
#include "link.h"
#include "mbpoll.h"
#include "metrics.h"
#include "sess.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

/* ---- pure helpers ------------------------------------------------------ */

int64_t sched_interval_floor(int64_t t, int64_t step)
{
    return ah_date_floor(t, step);
}

void sched_window(int64_t now, int64_t step, int backfill_days, int64_t *from,
                  int64_t *to)
{
    int64_t newest = sched_interval_floor(now, step);
    *to = newest + step;
    /* backfill_days back from the newest, that boundary read included: it
     * starts the window's first full local day (issue 14) */
    *from = newest - (int64_t)backfill_days * 86400;
}

bool sched_backoff_skip(int streak, int since, int backoff_after, int backoff_max)
{
    if (streak < backoff_after)
        return false;
    int e = streak - backoff_after;
    if (e > 20)
        e = 20;
    int wait = 1 << e;
    if (wait > backoff_max)
        wait = backoff_max;
    return since <= wait;
}

int64_t sched_reconnect_delay_ms(int failures)
{
    int64_t d = SCHED_RECONNECT_MIN_MS;
    for (int i = 1; i < failures && d < SCHED_RECONNECT_MAX_MS; i++)
        d *= 2;
    return d > SCHED_RECONNECT_MAX_MS ? SCHED_RECONNECT_MAX_MS : d;
}

/* civil dates: ah_date (src/core), written once for every stage */
int64_t sched_tm_to_s(const struct dlt645_tm *tm)
{
    struct ah_date d = {.year = 2000 + tm->year,
                        .mon = tm->mon,
                        .day = tm->day,
                        .hour = tm->hour,
                        .min = tm->min,
                        .sec = tm->sec};
    return ah_date_to_s(&d);
}

void sched_s_to_tm(int64_t s, struct dlt645_tm *tm)
{
    struct ah_date d;
    ah_date_from_s(s, &d);
    memset(tm, 0, sizeof *tm);
    tm->year = (uint8_t)((d.year - 2000) % 100);
    tm->mon = (uint8_t)d.mon;
    tm->day = (uint8_t)d.day;
    tm->hour = (uint8_t)d.hour;
    tm->min = (uint8_t)d.min;
    tm->sec = (uint8_t)d.sec;
    tm->wday = (uint8_t)d.wday;
}

bool sched_clock_consistent(const struct dlt645_tm *t1, const struct dlt645_tm *date,
                            const struct dlt645_tm *t2, int64_t *local_s)
{
    int64_t s1 = t1->hour * 3600 + t1->min * 60 + t1->sec;
    int64_t s2 = t2->hour * 3600 + t2->min * 60 + t2->sec;
    /* t2 < t1: midnight passed between them, and the date may be either
     * day's; a span of an hour or more is no read of one moment */
    if (s2 < s1 || s2 - s1 >= 3600 || date->mon < 1 || date->mon > 12 || date->day < 1 ||
        date->day > 31)
        return false;
    struct dlt645_tm t = *date;
    t.hour = t2->hour;
    t.min = t2->min;
    t.sec = t2->sec;
    *local_s = sched_tm_to_s(&t);
    return true;
}

int64_t sched_live_end(int64_t he_s, bool have_clock, int64_t meter_s, int64_t step,
                       int64_t ahead_s, int64_t behind_s, bool *attach)
{
    int64_t he_end = sched_interval_floor(he_s, step);
    if (!have_clock) {
        *attach = true;
        return he_end;
    }
    int64_t m_end = sched_interval_floor(meter_s, step);
    int64_t d = meter_s - he_s;
    int64_t end = d <= ahead_s && -d <= behind_s ? m_end : he_end;
    *attach = end == m_end;
    return end;
}

unsigned sched_lr_run(const uint64_t *gaps, size_t n, size_t gi, int64_t step,
                      unsigned max)
{
    unsigned k = 0;
    while (gi + k < n && k < max &&
           gaps[gi + k] == gaps[gi] + (uint64_t)k * (uint64_t)step)
        k++;
    return k;
}

unsigned sched_lr_learn(unsigned cur, unsigned asked, unsigned got, int64_t last_end,
                        int64_t run_end, int64_t newest)
{
    /* a meter with holes sends the next records it has (protocols.md
     * §2.9), so fewer than asked, ending inside the run, while it holds
     * newer ones, is the firmware's limit */
    if (got == 0 || got >= asked || last_end >= run_end || run_end >= newest)
        return cur;
    return got < cur ? got : cur;
}

/* ---- the engine -------------------------------------------------------- */

/* A cycle reads every meter live, then backfills in what is left of the
 * interval (issue 13 defect 6). */
enum cycle_phase { PH_LIVE, PH_BACKFILL };

struct meter_state {
    int streak;         /* failed cycles in a row */
    int since;          /* cycles since the last attempt */
    int64_t freeze_day; /* local day number + 1 of the last freeze read, 0 none */
    size_t backlog;     /* intervals missing at its last backfill turn */
    bool no_dt;         /* answered ERR to 0400010C: read time, date, time */
    bool deferring;     /* its live reads wait in the pipeline for its backlog */
    int64_t newest;     /* its newest record on its own clock (UTC s), 0 unknown */
    uint8_t lr_n;       /* load-record blocks per request (1..SCHED_LR_BLOCKS_MAX),
                           0 = not looked up in the store yet */
    /* read plan (readplan.h): interval number of each group's last read */
    uint32_t rp_last[RP_FREEZE];
    int32_t clk_off_s; /* meter clock − head-end clock at the last clock read */
    bool clk_known;    /* clk_off_s was read */
    bool clk_bad;      /* ... and was beyond validation.clock_drift_s */
    uint8_t rp_force;  /* 1 << group: read next cycle whatever the cadence */
    bool rp_alarm;     /* the last live record's readplan_record_alarm */
};

enum slink_kind { SL_NONE, SL_TCP, SL_SERIAL, SL_DIALIN, SL_MODBUS };

/* epoll tags: what an event's u64 names (high half) and its index. */
enum { TAG_LINK = 0, TAG_LISTEN = 1, TAG_PENDING = 2 };
#define EV_DATA(tag, i) (((uint64_t)(tag) << 32) | (uint64_t)(i))

/* A socket of a dial-in listener waiting for its 13H answer. */
#define SCHED_PENDING_MAX DIALIN_PENDING_MAX
struct slink;
struct spending {
    link_t *l; /* NULL: free slot */
    size_t lis;
    struct sess sess;
    char peer[64];
    uint8_t ip[16]; /* source address (dialin.h form), when has_ip */
    bool has_ip;
    int64_t since; /* mono ms of the accept: the oldest is closed first */
    /* It named the address of a link that is up: the old connection is
     * probed before anything changes hands (issue 17 item 3). */
    struct slink *contest;
    bool handover; /* the probe settled it: the newcomer takes the address */
    int64_t contest_t0, contest_deadline; /* mono ms */
};

struct slisten {
    const char *addr; /* borrowed from cfg */
    int fd;
    int port;                  /* bound */
    struct dialin_pause pause; /* accept4 failing: back off (dialin.h) */
    bool paused;               /* out of the epoll set until pause.until_ms */
};

struct link_met {
    struct met_series *reads, *requests, *retries, *timeouts, *rtt, *ratio, *missing,
        *overruns, *up, *latency, *outages;
};

struct slink {
    const struct cfg_link *cl;
    enum slink_kind kind;
    link_t *l;
    bool up;
    bool connecting;          /* TCP connect under way (EPOLLOUT) */
    int64_t connect_deadline; /* monotonic ms */
    size_t lis;               /* SL_DIALIN: its listener */
    struct link_met met;
    unsigned cyc_tried, cyc_ok;
    int conn_fails;
    int64_t reconnect_at; /* monotonic ms */
    bool answered;        /* a reply came since the link was last connected */
    int64_t down_since;   /* head-end clock ms the link went down, 0 = up */
    bool outage_said;     /* LINK_DOWN logged for this outage */
    size_t *meters;       /* indices into cfg->meters */
    size_t n_meters;
    int64_t offset_ms; /* stagger of this link's cycle start */

    bool active;        /* a cycle is running */
    int64_t boundary_s; /* its interval boundary (UTC s) */
    int64_t next_start; /* head-end clock ms of the next cycle */
    int64_t cycle_t0;   /* head-end clock ms the cycle started */
    enum cycle_phase phase;
    size_t cur;         /* position in meters[] of the job under way */
    size_t live_next;   /* where the next live sweep goes on (kept across cycles) */
    size_t live_left;   /* meters this cycle's live sweep has still to visit */
    size_t bf_next;     /* where backfill goes on (kept across cycles) */
    size_t bf_idle;     /* meters in a row that had nothing to backfill */
    unsigned bf_reqs;   /* backfill requests in this cycle */
    size_t rescue_left; /* meters the cycle's rescue pass has still to visit */
    bool rescuing;      /* the turn under way is the rescue pass's */
    bool job_begun;
    enum mjob_step step;
    uint64_t gaps[SCHED_BACKFILL_CHUNK];
    size_t n_gaps, gi;
    bool any_ok; /* the meter answered something this cycle */

    /* what this meter's cycle read so far */
    bool have_date, have_clock, have_v, have_i, have_status, freeze_due;
    bool clock_again;    /* time, date, time straddled midnight: read them again */
    bool clock_redone;   /* ... and they were read again in this job */
    bool live_overran;   /* the live sweep ran into the next interval */
    struct dlt645_tm t1; /* first time of time, date, time */
    int64_t sent_he_ms;  /* head-end clock when the request went out */
    int64_t live_end;    /* the live record asked (UTC s) */
    bool live_attach;    /* status, V, I belong to it (sched_live_end) */
    bool live_after;     /* the live record follows the short backlog */
    bool live_defer;     /* a longer backlog: the pipeline defers the live read */
    bool bf_last;        /* this backfill turn covers the meter's whole backlog */
    uint16_t status[7];
    bool have_frz_t, have_frz;
    int64_t frz_at, frz_fwd;
    uint32_t has; /* PIPE_HAS_* gathered for the live read */
    uint32_t cover, terminal, cleared;
    uint64_t number;
    struct dlt645_tm date;
    int64_t clock_ms;
    int64_t clock_at_ms; /* head-end clock when the meter's time arrived */
    int32_t volt[3], curr[3];
    uint32_t vi_present;
    unsigned rp_due; /* 1 << group: groups this job reads (job_groups) */
    bool clock_est;  /* no clock read this job: live_end from clk_off_s */
    /* the catch-up request under way (06000001 with N) and its answer */
    unsigned lr_asked, lr_got;
    int64_t lr_last;  /* newest block's interval end in the answer (UTC s) */
    uint8_t lr_probe; /* N > 1 drew an ERR: N = 1 asked, the old N kept here */
    bool lr_one;      /* a batch was lost on the line: N = 1 for this turn */

    bool in_flight;
    struct sess sess;
    char ctx[CFG_NAME_MAX * 2 + 2];
    char mctx[CFG_NAME_MAX * 2 + 2]; /* "link/meter" (ah_log.h), meter_ctx */

    /* dial-in identity (issue 17 item 3) */
    bool probing;            /* the in-flight request is a 13H probe */
    bool disputed;           /* a newcomer claims this address: reads withheld */
    int64_t dispute_t0;      /* mono ms the claim began */
    int64_t ok_mono;         /* last valid reply on this connection, mono ms */
    int64_t probe_fail_mono; /* last 13H probe left unanswered, mono ms */
    struct met_series *m_conflicts, *m_refused_src, *m_withheld, *m_stale, *m_junk;
    unsigned long long junk_total; /* bytes no request asked for */
};

struct sched {
    const struct cfg *cfg;
    const struct ah_clock *clk;
    pipe_t *pipe;
    uint32_t *midx;
    struct meter_state *ms;
    struct slink *links;
    size_t n_links;
    int ep;
    int64_t tz_s; /* meter local − UTC */
    int64_t step_s;
    struct sched_stats st;
    met_t *met;
    bool own_met; /* false: borrowed through sched_new_met (reload keeps it) */
    sched_tick_fn tick;
    void *tick_arg;
    struct slisten *lis;
    size_t n_lis;
    struct spending pend[SCHED_PENDING_MAX];
    mbpoll_t **mb;                    /* per link, Modbus ones only */
    struct readplan *plans;           /* per link × meter class (plan_of) */
    struct met_series *m_pend_closed; /* unidentified connections closed early */
};

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
static const char *meter_ctx(struct slink *L, const char *meter)
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

static const struct readplan *plan_of(const struct sched *s, size_t mi)
{
    const struct cfg_meter *cm = &s->cfg->meters[mi];
    return &s->plans[cm->link * 3 + (size_t)cm->cls];
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
    for (size_t k = 0; k < cfg->n_links; k++) {
        struct slink *L = &s->links[k];
        L->cl = &cfg->links[k];
        snprintf(L->ctx, sizeof L->ctx, "%s", L->cl->name);
        if (L->n_meters == 0)
            continue;
        link_metrics(s, L);
        hostile_metrics(s, L);
        L->meters = malloc(L->n_meters * sizeof *L->meters);
        if (!L->meters)
            goto out_nomem;
        L->n_meters = 0;
        if (L->kind == SL_TCP) {
            L->l = link_new_tcp(L->cl->endpoint);
        } else if (L->kind == SL_SERIAL) {
            struct link_serial_opts so = {L->cl->baud, L->cl->parity, 8,
                                          L->cl->stop_bits};
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
            goto out_nomem;
        }
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
    s->n_links = cfg->n_links;
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
            sched_destroy(&s);
            return fd;
        }
        s->lis[j].fd = fd;
        struct epoll_event ev = {.events = EPOLLIN};
        ev.data.u64 = EV_DATA(TAG_LISTEN, j);
        if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            ah_log(AH_LOG_ERROR, "sched", "dial-in listen %s: epoll_ctl: %s",
                   s->lis[j].addr, strerror(errno));
            sched_destroy(&s);
            return AH_EIO;
        }
        ah_log(AH_LOG_INFO, "sched", "waiting for dial-in concentrators on %s",
               s->lis[j].addr);
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

/* Real ms until the next connect: doubling with the failures, but never
 * more than a quarter interval of the head-end clock, so the end of an
 * outage is seen within the cycle it ends in (at 60x a 60 s wait would be
 * an hour of simulated time). */
static int64_t reconnect_delay(const struct sched *s, const struct slink *L)
{
    int64_t d = sched_reconnect_delay_ms(L->conn_fails);
    int64_t quarter = ah_clock_real_ms(s->clk, s->step_s * 1000 / 4);
    if (quarter < SCHED_RECONNECT_MIN_MS)
        quarter = SCHED_RECONNECT_MIN_MS;
    return d < quarter ? d : quarter;
}

static void link_drop(struct sched *s, struct slink *L, int why)
{
    if (L->up) {
        epoll_ctl(s->ep, EPOLL_CTL_DEL, link_fd(L->l), NULL);
        link_close(L->l);
        s->st.link_drops++;
        ah_log(AH_LOG_WARN, L->ctx, "link dropped: %s", ah_strerror(why));
        met_set(L->met.up, 0);
    }
    if (L->kind == SL_DIALIN)
        link_destroy(&L->l); /* the concentrator dials again */
    if (L->in_flight) {
        sess_on_link_error(&L->sess, why);
        L->in_flight = false;
    }
    L->probing = false;
    if (!L->down_since) /* until a reply proves the link again */
        L->down_since = ah_clock_now_ms(s->clk);
    L->up = false;
    L->job_begun = false; /* the meter's job restarts after reconnecting */
    /* a link that accepts and drops before any reply (a concentrator that
     * is half up, a port forward without a peer) keeps its failure streak:
     * the retries back off instead of hammering it every second */
    L->conn_fails = L->answered ? 1 : L->conn_fails + 1;
    L->answered = false;
    L->reconnect_at = ah_mono_ms() + reconnect_delay(s, L);
}

/* What to call the link in a message: its endpoint, or its name when a
 * dial-in link has no connection object. */
static const char *link_where(const struct slink *L)
{
    return L->l ? link_name(L->l) : L->cl->name;
}

/* A reply: the link works. Ends an outage (LINK_UP when LINK_DOWN was
 * said) and the failure streak the reconnect delay grows with. */
static void link_answered(struct sched *s, struct slink *L)
{
    L->answered = true;
    L->conn_fails = 0;
    if (L->outage_said) {
        char since[32];
        ah_time_format(L->down_since, since, sizeof since);
        int64_t now = ah_clock_now_ms(s->clk);
        ah_log(AH_LOG_WARN, L->ctx, "LINK_UP %s: back after %lld min down (since %s)",
               link_where(L), (long long)((now - L->down_since) / 60000), since);
        if (s->pipe && pipe_push_link(s->pipe, L->cl->name, link_where(L), true,
                                      L->down_since / 1000, now / 1000) != AH_OK)
            ah_log(AH_LOG_WARN, L->ctx, "LINK_UP event not stored: the pipeline is busy");
    }
    L->down_since = 0;
    L->outage_said = false;
}

/* An outage longer than one interval is said once when it passes that
 * length (LINK_DOWN) and once when the link is back (LINK_UP), with ISO
 * times of the head-end clock, not per retry. */
static void link_outage_check(struct sched *s, struct slink *L)
{
    if (!L->down_since || L->outage_said)
        return;
    int64_t now = ah_clock_now_ms(s->clk);
    if (now - L->down_since <= s->step_s * 1000)
        return;
    char since[32];
    ah_time_format(L->down_since, since, sizeof since);
    ah_log(AH_LOG_WARN, L->ctx,
           "LINK_DOWN %s: no reply through it since %s (%d attempts)", link_where(L),
           since, L->conn_fails);
    L->outage_said = true;
    met_add(L->met.outages, 1);
    if (s->pipe && pipe_push_link(s->pipe, L->cl->name, link_where(L), false,
                                  L->down_since / 1000, now / 1000) != AH_OK)
        ah_log(AH_LOG_WARN, L->ctx, "LINK_DOWN event not stored: the pipeline is busy");
}

static void link_connect_failed(struct sched *s, struct slink *L, int rc)
{
    L->conn_fails++;
    int64_t d = reconnect_delay(s, L);
    L->reconnect_at = ah_mono_ms() + d;
    ah_log(AH_LOG_WARN, L->ctx, "connect to %s failed: %s (retry in %lld ms)",
           link_name(L->l), ah_strerror(rc), (long long)d);
}

static void link_now_up(struct sched *s, struct slink *L)
{
    if (L->conn_fails > 0)
        s->st.reconnects++;
    /* conn_fails stays until a reply proves the link (link_drop) */
    ah_log(AH_LOG_INFO, L->ctx, "connected to %s (%s)", link_name(L->l),
           link_backend(L->l));

    L->up = true;
    met_set(L->met.up, 1);
}

/* Open a TCP or serial link without blocking the loop: a TCP connect under
 * way is finished by link_on_connect when the socket turns writable. */
static void link_try_connect(struct sched *s, struct slink *L)
{
    int rc = link_connect_start(L->l);
    if (rc == AH_OK || rc == AH_EAGAIN) {
        struct epoll_event ev = {.events = rc == AH_OK ? EPOLLIN | EPOLLRDHUP : EPOLLOUT};
        ev.data.u64 = EV_DATA(TAG_LINK, L - s->links);
        if (epoll_ctl(s->ep, EPOLL_CTL_ADD, link_fd(L->l), &ev) != 0) {
            link_close(L->l);
            rc = AH_EIO;
        }
    }
    if (rc == AH_EAGAIN) {
        L->connecting = true;
        L->connect_deadline = ah_mono_ms() + L->cl->timeout_ms;
        return;
    }
    if (rc != AH_OK) {
        link_connect_failed(s, L, rc);
        return;
    }
    link_now_up(s, L);
}

static void link_on_connect(struct sched *s, struct slink *L)
{
    L->connecting = false;
    int fd = link_fd(L->l);
    epoll_ctl(s->ep, EPOLL_CTL_DEL, fd, NULL);
    int rc = link_connect_finish(L->l);
    if (rc == AH_OK) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP};
        ev.data.u64 = EV_DATA(TAG_LINK, L - s->links);
        if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            link_close(L->l);
            rc = AH_EIO;
        }
    }
    if (rc != AH_OK) {
        link_connect_failed(s, L, rc);
        return;
    }
    link_now_up(s, L);
}

static void link_connect_timeout(struct sched *s, struct slink *L)
{
    L->connecting = false;
    epoll_ctl(s->ep, EPOLL_CTL_DEL, link_fd(L->l), NULL);
    link_close(L->l);
    link_connect_failed(s, L, AH_ETIMEDOUT);
}

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

static void cycle_begin(struct sched *s, struct slink *L, int64_t now)
{
    L->active = true;
    L->cycle_t0 = now;
    L->boundary_s = sched_interval_floor(now / 1000, s->step_s);
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
    const struct readplan *rp = plan_of(s, mi);
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
    if (sched_backoff_skip(m->streak, m->since, s->cfg->schedule.backoff_after,
                           s->cfg->schedule.backoff_max_cycles)) {
        s->st.backed_off++;
        return false;
    }
    m->since = 0;
    L->n_gaps = L->gi = 0;
    L->lr_one = false;
    L->step = m->no_dt ? MJOB_T1 : MJOB_DT;
    L->any_ok = false;
    L->have_date = L->have_clock = L->have_v = L->have_i = false;
    L->have_status = L->have_frz_t = L->have_frz = false;
    L->clock_again = L->clock_redone = false;
    L->live_end = -1;
    L->live_attach = false;
    L->has = 0;
    L->cover = L->terminal = L->cleared = 0;
    L->vi_present = 0;
    /* the daily freeze once per local day, after daily_freeze_after
     * (the meter freezes at 00:00; reading later leaves it time to) */
    int64_t local = L->boundary_s + s->tz_s;
    int64_t day = sched_interval_floor(local, 86400) / 86400;
    L->freeze_due =
        m->freeze_day != day + 1 &&
        local - day * 86400 >= (int64_t)s->cfg->schedule.daily_freeze_after * 60 &&
        plan_of(s, mi)->min[RP_FREEZE] != READPLAN_OFF;
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
    pr.end = UINT64_MAX; /* after the meter's reads of the same batch */
    pr.has = PIPE_HAS_FLUSH;
    if (pipe_push(s->pipe, &pr) == AH_OK)
        s->ms[mi].deferring = false;
}

static void meter_end(struct sched *s, struct slink *L, bool failed)
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
            ah_log(AH_LOG_WARN, meter_ctx(L, s->cfg->meters[mi].id),
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
    sched_window(L->boundary_s, s->step_s, s->cfg->schedule.backfill_days, &from, &to);
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

/* The live record carries what this job read beside it (pr->rec holds
 * the record; mi its meter). */
static void live_extras(struct sched *s, struct slink *L, size_t mi, struct pipe_read *pr)
{
    const struct cfg_meter *cm = &s->cfg->meters[mi];
    struct store_rec *o = &pr->rec;
    /* the live record carries what this job read beside it: the
     * clock pair and counters always (each has its own time), the
     * status words and V, I only when they were read in the
     * interval after this record's end on the meter's own clock
     * (sched_live_end): never filed under an older interval */
    if (L->have_clock) {
        /* pair the meter clock with the head-end clock of the same
         * moment: the backfill requests between the time read and
         * this record must not count as drift */
        o->meter_clock_ms = L->clock_ms;
        o->headend_clock_ms = L->clock_at_ms;
        o->present |= STORE_REC_HAS_METER_CLOCK;
    }
    for (int ph = 0; ph < 3 && L->live_attach; ph++) {
        if (!(o->present & STORE_REC_HAS_VOLTAGE(ph)) &&
            (L->vi_present & STORE_REC_HAS_VOLTAGE(ph))) {
            o->voltage[ph] = L->volt[ph];
            o->present |= STORE_REC_HAS_VOLTAGE(ph);
        }
        if (!(o->present & STORE_REC_HAS_CURRENT(ph)) &&
            (L->vi_present & STORE_REC_HAS_CURRENT(ph))) {
            o->current[ph] = L->curr[ph];
            o->present |= STORE_REC_HAS_CURRENT(ph);
        }
    }
    if (L->have_status && L->live_attach) {
        memcpy(o->status, L->status, sizeof o->status);
        o->present |= STORE_REC_HAS_STATUS;
    }
    /* a change, not a lasting state, pulls status and events
     * forward: a lost phase costs them once, not every cycle */
    bool alarm = readplan_record_alarm(
        o, cm->nominal_voltage * 10.0 * s->cfg->validation.phase_loss_pct / 100.0,
        cm->bidirectional);
    if (alarm != s->ms[mi].rp_alarm)
        s->ms[mi].rp_force |= 1u << RP_STATUS | 1u << RP_EVENTS;
    s->ms[mi].rp_alarm = alarm;
    pr->has |= L->has;
    if (L->live_defer) {
        pr->has |= PIPE_HAS_DEFER;
        s->ms[mi].deferring = true;
    }
    pr->cover_count = L->cover;
    pr->terminal_count = L->terminal;
    pr->clear_count = L->cleared;
    pr->serial = L->number;
    if (L->have_frz) {
        pr->has |= PIPE_HAS_FREEZE;
        pr->freeze_at = L->frz_at;
        pr->freeze_fwd = L->frz_fwd;
    }
}

/* A record stamped before the interval asked (allowing for the meter's
 * clock offset) is no answer: refused, counted and logged. */
static bool lr_stale(struct sched *s, struct slink *L, size_t mi, int64_t end,
                     int64_t asked)
{
    const struct cfg_meter *cm = &s->cfg->meters[mi];
    char sent[32], want[32];
    /* 06000001 asks for records at or after the given time
     * (protocols.md §2.9 table): one stamped before it is not an
     * answer, whatever its registers say (issue 17 item 6: records of
     * 2000-01-01 came back for 2025 intervals). The meter's known
     * clock offset this cycle is allowed for; the requested interval
     * stays a gap. */
    int64_t slack = 0;
    if (L->have_clock) {
        int64_t coff = (L->clock_ms - L->clock_at_ms) / 1000;
        slack = coff < 0 ? -coff : coff;
    } else if (L->clock_est) {
        int64_t coff = s->ms[mi].clk_off_s;
        slack = coff < 0 ? -coff : coff;
    }
    if (end >= asked - slack)
        return false;
    met_add(L->m_stale, 1);
    ah_time_format(end * 1000, sent, sizeof sent);
    ah_time_format(asked * 1000, want, sizeof want);
    ah_log(AH_LOG_WARN, L->ctx,
           "meter %s: load record stamped %s answers a request for %s (%lld s "
           "earlier, clock offset %lld s): refused, the interval stays a gap",
           cm->id, sent, want, (long long)(asked - end), (long long)slack);
    return true;
}

static void on_load_record(struct sched *s, struct slink *L, const uint8_t *p, size_t n)
{
    size_t mi = L->meters[L->cur];
    const struct cfg_meter *cm = &s->cfg->meters[mi];
    size_t off = 0;
    while (off < n) {
        struct dlt645_load_record r;
        size_t used = 0;
        int rc = dlt645_lr_decode(p + off, n - off, &r, &used);
        if (rc != AH_OK || used == 0) {
            ah_log(AH_LOG_WARN, L->ctx, "meter %s: bad load record: %s", cm->id,
                   ah_strerror(rc));
            return;
        }
        off += used;
        int64_t end = sched_tm_to_s(&r.t) - s->tz_s;
        L->lr_got++;
        if (end > L->lr_last)
            L->lr_last = end;
        if (r.invalid)
            continue;
        int64_t asked = L->step == MJOB_LIVE ? L->live_end : (int64_t)L->gaps[L->gi];
        int64_t top = L->phase == PH_LIVE ? L->live_end : L->boundary_s;
        char sent[32], want[32];
        if (end % s->step_s != 0 || end > top) {
            ah_time_format((int64_t)end * 1000, sent, sizeof sent);
            ah_log(AH_LOG_WARN, L->ctx,
                   "meter %s: load record at %s is not an interval end", cm->id, sent);
            continue;
        }
        if (lr_stale(s, L, mi, end, asked))
            continue;
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
        pr.end = (uint64_t)end;
        struct store_rec *o = &pr.rec;
        o->source = live ? STORE_REC_LIVE : STORE_REC_BACKFILL;
        o->ct = (uint32_t)cm->ct;
        o->pt = (uint32_t)cm->pt;
        o->headend_clock_ms = ah_clock_now_ms(s->clk);
        mjob_lr_to_rec(&r, o);
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
}

static void on_values(struct sched *s, struct slink *L, uint32_t di, const uint8_t *p,
                      size_t n)
{
    struct dlt645_value v[12];
    size_t nv = 0;
    if (dlt645_decode(di, DLT645_2007, p, n, v, 12, &nv) != AH_OK || nv == 0) {
        ah_log(AH_LOG_WARN, L->ctx, "meter %s: reply to %08X does not fit its DI",
               s->cfg->meters[L->meters[L->cur]].id, di);
        return;
    }
    /* the meter's time of a reply is paired with the head-end clock half
     * way through the round trip: on a 4G link (300-1000 ms each way) the
     * reply's arrival would be late by the return trip */
    int64_t now_he = ah_clock_now_ms(s->clk);
    int64_t mid_he = L->sent_he_ms + (now_he - L->sent_he_ms) / 2;
    if (di == MJOB_DI_DATETIME && v[0].kind == DLT645_V_TIME &&
        (v[0].tm_fields & DLT645_TM_DATE)) {
        /* one item, one moment: nothing can roll over in between */
        L->clock_ms = (sched_tm_to_s(&v[0].tm) - s->tz_s) * 1000;
        L->clock_at_ms = mid_he;
        L->have_clock = true;
    } else if (di == MJOB_DI_TIME && v[0].kind == DLT645_V_TIME && L->step == MJOB_T1) {
        L->t1 = v[0].tm;
    } else if (di == MJOB_DI_DATE && v[0].kind == DLT645_V_TIME) {
        L->date = v[0].tm;
        L->have_date = true;
    } else if (di == MJOB_DI_TIME && v[0].kind == DLT645_V_TIME && L->have_date) {
        int64_t local;
        if (sched_clock_consistent(&L->t1, &L->date, &v[0].tm, &local)) {
            L->clock_ms = (local - s->tz_s) * 1000;
            L->clock_at_ms = mid_he;
            L->have_clock = true;
        } else {
            L->clock_again = true;
        }
    } else if ((di == MJOB_DI_COVER || di == MJOB_DI_TERMINAL || di == MJOB_DI_CLEARED) &&
               v[0].kind == DLT645_V_NUM && v[0].raw >= 0) {
        uint32_t cnt = (uint32_t)v[0].raw;
        if (di == MJOB_DI_COVER)
            L->cover = cnt;
        else if (di == MJOB_DI_TERMINAL)
            L->terminal = cnt;
        else
            L->cleared = cnt;
        if (di == MJOB_DI_CLEARED)
            L->has |= PIPE_HAS_CLEAR_COUNT;
        if (di == MJOB_DI_TERMINAL) /* both cover counts read */
            L->has |= PIPE_HAS_COVER;
    } else if (di == MJOB_DI_NUMBER && v[0].kind == DLT645_V_TEXT) {
        char *end;
        unsigned long long num = strtoull(v[0].text, &end, 10);
        if (end != v[0].text && *end == '\0') {
            L->number = num;
            L->has |= PIPE_HAS_SERIAL;
        }
    } else if (di == MJOB_DI_STATUS) {
        memset(L->status, 0, sizeof L->status);
        for (size_t i = 0; i < 7 && i < nv; i++)
            L->status[i] = (uint16_t)(v[i].kind == DLT645_V_BITS ? v[i].bits : 0);
        L->have_status = nv >= 7;
    } else if (di == MJOB_DI_FRZ_TIME) {
        if (v[0].kind == DLT645_V_TIME && (v[0].tm_fields & DLT645_TM_DATE)) {
            L->frz_at = sched_tm_to_s(&v[0].tm) - s->tz_s;
            L->have_frz_t = true;
        }
    } else if (di == MJOB_DI_FRZ_FWD) {
        if (L->have_frz_t && v[0].kind == DLT645_V_NUM) {
            L->frz_fwd = mjob_rescale(v[0].raw, v[0].decimals, 2); /* 0.01 kWh */
            L->have_frz = true;
        }
    } else if (di == MJOB_DI_VOLTAGE || di == MJOB_DI_CURRENT) {
        for (size_t ph = 0; ph < 3 && ph < nv; ph++) {
            if (v[ph].kind != DLT645_V_NUM)
                continue;
            if (di == MJOB_DI_VOLTAGE) {
                L->volt[ph] =
                    (int32_t)mjob_rescale(v[ph].raw, v[ph].decimals, 1); /* 0.1 V */
                L->vi_present |= STORE_REC_HAS_VOLTAGE(ph);
            } else {
                L->curr[ph] =
                    (int32_t)mjob_rescale(v[ph].raw, v[ph].decimals, 3); /* mA */
                L->vi_present |= STORE_REC_HAS_CURRENT(ph);
            }
        }
    }
}

/* The meter after L->cur in the live sweep / in the backfill round. */
static void live_advance(struct slink *L)
{
    L->live_next = (L->cur + 1) % L->n_meters;
    L->live_left--;
}

static void backfill_advance(struct slink *L)
{
    if (L->rescuing) /* the rescue pass keeps backfill's place */
        return;
    L->bf_next = (L->cur + 1) % L->n_meters;
}

/* Blocks per catch-up request for the meter of the job under way: what the
 * store remembers of it, else SCHED_LR_BLOCKS_MAX (looked up once). */
static unsigned lr_blocks(struct sched *s, struct slink *L)
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
    ah_log(AH_LOG_INFO, meter_ctx(L, s->cfg->meters[mi].id),
           "meter %s %s: %u load record(s) per request from now on",
           s->cfg->meters[mi].id, why, n);
    struct pipe_read pr;
    memset(&pr, 0, sizeof pr);
    pr.meter = s->midx[mi];
    pr.end = UINT64_MAX;
    pr.has = PIPE_HAS_LR_BLOCKS;
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
            sched_lr_learn(m->lr_n, L->lr_asked, L->lr_got, L->lr_last, run_end, newest);
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
    if (g == RP_CLOCK && rc == AH_OK && L->have_clock) {
        int64_t off = (L->clock_ms - L->clock_at_ms) / 1000;
        if (off > INT32_MAX)
            off = INT32_MAX;
        if (off < -INT32_MAX)
            off = -INT32_MAX;
        m->clk_off_s = (int32_t)off;
        m->clk_known = true;
        m->clk_bad = (off < 0 ? -off : off) > s->cfg->validation.clock_drift_s;
    }
}

/* The transaction of L finished: take its result and move the job on. */
static void on_done(struct sched *s, struct slink *L)
{
    L->in_flight = false;
    int rc = L->sess.result;
    struct meter_state *m = &s->ms[L->meters[L->cur]];
    const struct cfg_meter *cm = &s->cfg->meters[L->meters[L->cur]];
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
            m->freeze_day = sched_interval_floor(local, 86400) / 86400 + 1;
    }
    if (rc == AH_OK) {
        L->any_ok = true;
        link_answered(s, L);
        size_t n;
        const uint8_t *p = sess_payload(&L->sess, &n);
        if (L->step == MJOB_LR || L->step == MJOB_LIVE)
            on_load_record(s, L, p, n);
        else
            on_values(s, L, L->sess.req.di, p, n);
    } else if (rc == AH_EMETER) {
        /* the meter is alive but has no such data (e.g. the record is not
         * written yet): the interval stays a gap for a later cycle */
        L->any_ok = true;
        link_answered(s, L);
        s->st.meter_errors++;
    } else if (rc == AH_ECLOSED || rc == AH_EIO) {
        return; /* link_drop handles it */
    } else {
        s->st.timeouts++;
        met_add(L->met.timeouts, 1);
        ah_log(AH_LOG_WARN, meter_ctx(L, cm->id),
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
            live_advance(L);
        else
            backfill_advance(L);
        meter_end(s, L, true);
        return;
    }
    if (L->step < MJOB_LIVE) /* answered (data or ERR): after on_values */
        plan_read(s, L, m, rc);
    /* the table says where the job goes (meterjob.h); the cases add what
     * a table cannot: what the answer teaches about the meter */
    enum mjob_step next = mjob_next(L->step, rc == AH_OK);
    switch (L->step) {
    case MJOB_DT:
        if (rc == AH_EMETER) {
            /* no 0400010C (an extension item): time, date, time from now on */
            m->no_dt = true;
            s->st.meter_errors--; /* a probe, not a failed read */
        }
        break;
    case MJOB_T2:
        /* the three straddled local midnight: once more, now clear of it */
        if (L->clock_again && !L->clock_redone) {
            ah_log(AH_LOG_DEBUG, L->ctx,
                   "meter %s: time, date, time straddled midnight: reading again",
                   cm->id);
            next = MJOB_T1;
            L->clock_redone = true;
            L->have_date = false;
        }
        L->clock_again = false;
        break;
    case MJOB_LIVE:
        /* no record for the interval (an outage, a reset): what the meter
         * says about it comes with the next cycle's status and events */
        if (rc == AH_EMETER || L->lr_last != L->live_end)
            m->rp_force |= 1u << RP_STATUS | 1u << RP_EVENTS;
        break;
    case MJOB_LR:
        lr_done(s, L, rc); /* moves through the gaps */
        break;
    default:
        break;
    }
    L->step = next;
}

/* The live record of the job under way (sched_live_end); MJOB_DONE when the
 * store has it already. A short backlog before it (SCHED_INLINE_GAPS) is
 * read first, in order: step MJOB_LR with live_after set. */
static void live_record(struct sched *s, struct slink *L)
{
    struct meter_state *m = &s->ms[L->meters[L->cur]];
    int64_t he_ms = L->have_clock ? L->clock_at_ms : ah_clock_now_ms(s->clk);
    int64_t he_s = sched_interval_floor(he_ms, 1000) / 1000;
    int64_t meter_s = sched_interval_floor(L->clock_ms, 1000) / 1000;
    bool have = L->have_clock;
    if (!have && m->clk_known) {
        /* the read plan skipped the clock this cycle: the meter's offset at
         * its last read stands in (a drifted clock is read every cycle) */
        meter_s = he_s + m->clk_off_s;
        have = L->clock_est = true;
    }
    L->live_end =
        sched_live_end(he_s, have, meter_s, s->step_s, s->cfg->validation.clock_drift_s,
                       s->cfg->validation.clock_suspect_s, &L->live_attach);
    m->newest = have ? sched_interval_floor(meter_s, s->step_s) : 0;
    /* one gap query (it waits for the writer's batch): the window up to
     * and with the live record; oldest first, so the live record is the
     * last gap when the list is whole */
    uint32_t idx = s->midx[L->meters[L->cur]];
    int64_t from, to;
    sched_window(L->live_end, s->step_s, s->cfg->schedule.backfill_days, &from, &to);
    size_t n = 0;
    if (pipe_missing_intervals(s->pipe, idx, (uint64_t)from, (uint64_t)to,
                               (uint64_t)s->step_s, L->gaps, SCHED_BACKFILL_CHUNK,
                               &n) != AH_OK)
        n = 1; /* ask for the live record; a duplicate is ignored */
    bool whole = n <= SCHED_BACKFILL_CHUNK;
    bool live_missing = !whole || (n > 0 && L->gaps[n - 1] == (uint64_t)L->live_end);
    size_t backlog = live_missing ? n - 1 : n;
    met_add(L->met.missing, (double)backlog - (double)m->backlog);
    m->backlog = backlog;
    if (!live_missing)
        L->step = MJOB_DONE;
    L->live_after = live_missing;
    if (backlog > 0 && backlog <= SCHED_INLINE_GAPS) {
        L->n_gaps = backlog;
        L->gi = 0;
        L->step = MJOB_LR;
    }
    L->live_defer = backlog > SCHED_INLINE_GAPS;
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
                live_advance(L);
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
                backfill_advance(L);
            } else {
                L->bf_idle = 0;
            }
        }
    }
    return true;
}

/* Write the request sess_start built; false when the link dropped. */
static bool link_send(struct sched *s, struct slink *L)
{
    size_t n;
    const uint8_t *tx = sess_tx(&L->sess, &n);
    link_flush_input(L->l); /* a late reply to an earlier request is stale */
    int rc = link_write_all(L->l, tx, n, L->sess.req.timeout_ms);
    s->st.requests++;
    met_add(L->met.requests, 1);
    if (rc != AH_OK) {
        link_drop(s, L, rc);
        return false;
    }
    L->in_flight = true;
    L->sent_he_ms = ah_clock_now_ms(s->clk); /* pairs a meter clock (on_values) */
    sess_sent(&L->sess, ah_mono_ms());
    return true;
}

/* Start the next request of L, or move through meters / end the cycle. */
static void link_advance(struct sched *s, struct slink *L)
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
            live_record(s, L);
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
                live_advance(L);
            else
                backfill_advance(L);
            meter_end(s, L, !L->any_ok && L->phase == PH_LIVE);
            continue;
        }
        const struct cfg_meter *cm = &s->cfg->meters[L->meters[L->cur]];
        struct sess_req rq;
        memset(&rq, 0, sizeof rq);
        rq.proto = DLT645_2007;
        rq.addr = cm->addr;
        rq.func = DLT645_F_READ;
        rq.timeout_ms = L->cl->timeout_ms;
        rq.retries = L->cl->retries;
        if (L->step == MJOB_LR || L->step == MJOB_LIVE) {
            int64_t at = L->step == MJOB_LIVE ? L->live_end : (int64_t)L->gaps[L->gi];
            rq.di = MJOB_DI_LOAD_REC;
            rq.with_n = rq.with_time = true;
            /* the live record alone; a run of gaps SCHED_LR_BLOCKS_MAX at a
             * time, or what the meter was found to take (§1.4 (c), §2.9) */
            rq.n = L->step == MJOB_LIVE || L->lr_one
                       ? 1
                       : (uint8_t)sched_lr_run(L->gaps, L->n_gaps, L->gi, s->step_s,
                                               lr_blocks(s, L));
            L->lr_asked = rq.n;
            L->lr_got = 0;
            L->lr_last = INT64_MIN;
            sched_s_to_tm(at + s->tz_s, &rq.t);
            if (L->step == MJOB_LR && L->phase == PH_BACKFILL)
                L->bf_reqs++;
        } else {
            rq.di = mjob_def(L->step)->di;
        }
        if (sess_start(&L->sess, &rq) != AH_OK) {
            ah_log(AH_LOG_ERROR, L->ctx, "meter %s: cannot build request %08X", cm->id,
                   rq.di);
            if (L->phase == PH_LIVE)
                live_advance(L);
            else
                backfill_advance(L);
            meter_end(s, L, true);
            continue;
        }
        if (!link_send(s, L))
            return;
    }
}

/* Resend after a timeout with attempts left (the session went back to SEND). */
static void link_resend(struct sched *s, struct slink *L)
{
    size_t n;
    const uint8_t *tx = sess_tx(&L->sess, &n);
    link_flush_input(L->l);
    int rc = link_write_all(L->l, tx, n, L->sess.req.timeout_ms);
    s->st.requests++;
    met_add(L->met.requests, 1);
    if (L->sess.attempt > 0) /* else a 12H follow-up frame (sess.h) */
        met_add(L->met.retries, 1);
    if (rc != AH_OK) {
        link_drop(s, L, rc);
        return;
    }
    L->sent_he_ms = ah_clock_now_ms(s->clk);
    sess_sent(&L->sess, ah_mono_ms());
}

static void link_check(struct sched *s, struct slink *L)
{
    if (!L->in_flight)
        return;
    if (L->sess.state == SESS_SEND)
        link_resend(s, L);
    else if (L->probing && (L->sess.state == SESS_DONE || L->sess.state == SESS_FAILED)) {
        L->in_flight = false;
        L->probing = false;
        if (L->sess.state == SESS_DONE &&
            dlt645_addr_eq(&L->sess.reply_addr, &L->cl->address))
            L->ok_mono = ah_mono_ms();
        else
            L->probe_fail_mono = ah_mono_ms();
    } else if (L->sess.state == SESS_DONE || L->sess.state == SESS_FAILED)
        on_done(s, L);
}

/* 13H read address on the link's own connection: is the concentrator that
 * identified itself there still answering? The cycle's job resumes at its
 * step afterwards (its state lives in L, not in the session). */
static void probe_start(struct sched *s, struct slink *L)
{
    struct sess_req rq;
    memset(&rq, 0, sizeof rq);
    rq.proto = DLT645_2007;
    rq.func = DLT645_F_READ_ADDR;
    rq.addr = dlt645_addr_wildcard;
    rq.timeout_ms = L->cl->timeout_ms;
    rq.retries = L->cl->retries;
    if (sess_start(&L->sess, &rq) == AH_OK && link_send(s, L))
        L->probing = true;
}

/* Most bytes taken from one link per pass of the loop: a peer flooding
 * it (10 MB/s seen, issue 17 item 8) cannot keep the loop from the other
 * links; the rest waits for the next pass (epoll is level-triggered). */
#define SCHED_READ_BUDGET (64 * 1024)

static void link_on_readable(struct sched *s, struct slink *L, uint32_t events)
{
    uint8_t buf[1024];
    size_t total = 0, unasked = 0;
    unsigned long junk0 = L->sess.parser.junk_bytes;
    while (total < SCHED_READ_BUDGET) {
        ssize_t got = link_read(L->l, buf, sizeof buf);
        if (got == AH_EAGAIN)
            break;
        if (got < 0) {
            link_drop(s, L, (int)got);
            return;
        }
        total += (size_t)got;
        if (L->in_flight && L->sess.state == SESS_WAIT)
            sess_on_bytes(&L->sess, buf, (size_t)got, ah_mono_ms());
        else
            unasked += (size_t)got; /* no request waits for them */
    }
    if (total == 0 && (events & (EPOLLHUP | EPOLLERR))) {
        /* a serial port that hung up (USB adapter pulled, a pty's master
         * closed) reads 0 bytes, which on a tty is "no data": only the
         * hang-up says it is gone. Level-triggered, it would wake the
         * loop at once forever (issue 15 Fix) */
        ah_log(AH_LOG_WARN, L->ctx, "%s hung up", link_where(L));
        link_drop(s, L, AH_ECLOSED);
        return;
    }
    unsigned long junk1 = L->sess.parser.junk_bytes;
    size_t junk = unasked + (junk1 >= junk0 ? junk1 - junk0 : 0);
    if (junk) {
        L->junk_total += junk;
        met_add(L->m_junk, (double)junk);
        ah_log(AH_LOG_WARN, L->ctx, "%zu bytes that answer no request (%llu so far)",
               junk, L->junk_total);
    }
}

/* ---- dial-in (dlt645-listen) ------------------------------------------- */

/* Is some other dial-in still claiming L's address? */
static void dispute_update(struct sched *s, struct slink *L)
{
    bool any = false;
    for (size_t i = 0; i < SCHED_PENDING_MAX; i++)
        any |= s->pend[i].l && s->pend[i].contest == L;
    L->disputed = any;
}

static void pending_close(struct sched *s, struct spending *P)
{
    epoll_ctl(s->ep, EPOLL_CTL_DEL, link_fd(P->l), NULL);
    link_destroy(&P->l);
    struct slink *L = P->contest;
    P->contest = NULL;
    if (L)
        dispute_update(s, L);
}

static void pending_send(struct sched *s, struct spending *P)
{
    size_t n;
    const uint8_t *tx = sess_tx(&P->sess, &n);
    if (link_write_all(P->l, tx, n, P->sess.req.timeout_ms) != AH_OK) {
        ah_log(AH_LOG_WARN, "dialin", "%s hung up before identifying itself", P->peer);
        pending_close(s, P);
        return;
    }
    sess_sent(&P->sess, ah_mono_ms());
}

/* accept4 failed on listener j with err: true when this round of accepts
 * ends. Out of descriptors the listener leaves the epoll set for a while
 * (dialin_accept_failed): the backlog keeps it readable, and accepting at
 * once again would spin the loop. */
static bool accept_failed(struct sched *s, size_t j, int err)
{
    struct slisten *lj = &s->lis[j];
    bool first;
    enum dialin_accept_verdict v =
        dialin_accept_failed(&lj->pause, err, ah_mono_ms(), &first);
    if (v != DIALIN_ACCEPT_PAUSE)
        return v == DIALIN_ACCEPT_DONE;
    if (first)
        ah_log(AH_LOG_WARN, "dialin",
               "dial-in listener %s: cannot accept: %s; pausing accepts (retried after "
               "%d ms, up to every %d ms) until it can",
               lj->addr, strerror(err), DIALIN_PAUSE_MIN_MS, DIALIN_PAUSE_MAX_MS);
    if (!lj->paused) {
        if (epoll_ctl(s->ep, EPOLL_CTL_DEL, lj->fd, NULL) == 0)
            lj->paused = true;
        else
            ah_log(AH_LOG_ERROR, "dialin", "dial-in listener %s: epoll_ctl: %s", lj->addr,
                   strerror(errno));
    }
    return true;
}

/* Paused listeners whose pause is over are watched again: a connection
 * still waiting makes them readable at once. */
static void listen_resume(struct sched *s, int64_t mono)
{
    for (size_t j = 0; j < s->n_lis; j++) {
        struct slisten *lj = &s->lis[j];
        if (!lj->paused || mono < lj->pause.until_ms)
            continue;
        struct epoll_event ev = {.events = EPOLLIN};
        ev.data.u64 = EV_DATA(TAG_LISTEN, j);
        if (epoll_ctl(s->ep, EPOLL_CTL_ADD, lj->fd, &ev) == 0) {
            lj->paused = false;
        } else {
            bool first;
            (void)dialin_accept_failed(&lj->pause, errno, mono, &first);
            if (first)
                ah_log(AH_LOG_ERROR, "dialin", "dial-in listener %s: epoll_ctl: %s",
                       lj->addr, strerror(errno));
        }
    }
}

static void on_accept(struct sched *s, size_t j)
{
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(s->lis[j].fd, (struct sockaddr *)&ss, &sl,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (accept_failed(s, j, errno))
                return;
            continue;
        }
        unsigned long failed = dialin_accept_ok(&s->lis[j].pause);
        if (failed)
            ah_log(AH_LOG_INFO, "dialin",
                   "dial-in listener %s: accepting again after %lu failed attempts",
                   s->lis[j].addr, failed);
        char host[INET6_ADDRSTRLEN] = "?", peer[64];
        int port = 0;
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
            port = ntohs(a->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
            port = ntohs(a->sin6_port);
        }
        snprintf(peer, sizeof peer, "%s:%d", host, port);
        uint8_t ip[16];
        bool has_ip = dialin_ip_of(&ss, ip);
        /* Room for it (issue 17 item 5): an address already holding
         * DIALIN_PER_SOURCE_MAX unidentified connections gives up its
         * oldest; a full table gives up its oldest unidentified one. A
         * concentrator answers 13H within a round trip, so only idle
         * sockets live long enough to be closed; one that has identified
         * itself has left this table. */
        struct spending *P = NULL, *oldest = NULL, *oldest_same = NULL;
        size_t same = 0;
        for (size_t i = 0; i < SCHED_PENDING_MAX; i++) {
            struct spending *q = &s->pend[i];
            if (!q->l) {
                if (!P)
                    P = q;
                continue;
            }
            if (q->contest)
                continue; /* identified: its claim is being checked */
            if (has_ip && q->has_ip && !memcmp(q->ip, ip, sizeof ip)) {
                same++;
                if (!oldest_same || q->since < oldest_same->since)
                    oldest_same = q;
            }
            if (!oldest || q->since < oldest->since)
                oldest = q;
        }
        struct spending *evict = same >= DIALIN_PER_SOURCE_MAX ? oldest_same
                                 : P                           ? NULL
                                                               : oldest;
        if (evict) {
            ah_log(AH_LOG_WARN, "dialin",
                   "closing unidentified %s to make room for %s (%s)", evict->peer, peer,
                   evict == oldest_same && same >= DIALIN_PER_SOURCE_MAX
                       ? "too many at once from one address"
                       : "too many unidentified connections");
            met_add(s->m_pend_closed, 1);
            pending_close(s, evict);
            P = evict;
        }
        link_t *l = P ? link_new_accepted(fd, peer) : NULL;
        if (!l) {
            ah_log(AH_LOG_WARN, "dialin", "refused %s: too many unidentified connections",
                   peer);
            close(fd);
            continue;
        }
        P->l = l;
        P->lis = j;
        snprintf(P->peer, sizeof P->peer, "%s", peer);
        memcpy(P->ip, ip, sizeof ip);
        P->has_ip = has_ip;
        P->since = ah_mono_ms();
        P->contest = NULL;
        P->handover = false;
        /* who is it? 13H read address to AA×6 (DL/T 645-2007 §1.4): a
         * concentrator on a point-to-point link answers with its own */
        struct sess_req rq;
        memset(&rq, 0, sizeof rq);
        rq.proto = DLT645_2007;
        rq.func = DLT645_F_READ_ADDR;
        rq.addr = dlt645_addr_wildcard;
        rq.timeout_ms = s->cfg->schedule.timeout_ms;
        rq.retries = s->cfg->schedule.retries;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP};
        ev.data.u64 = EV_DATA(TAG_PENDING, P - s->pend);
        if (sess_start(&P->sess, &rq) != AH_OK ||
            epoll_ctl(s->ep, EPOLL_CTL_ADD, link_fd(l), &ev) != 0) {
            link_destroy(&P->l);
            continue;
        }
        ah_log(AH_LOG_DEBUG, "dialin", "%s connected on %s: asking its address", peer,
               s->lis[j].addr);
        pending_send(s, P);
    }
}

/* The 13H answer came: hand the socket to the configured link of that
 * address, or refuse it. */
static void pending_identified(struct sched *s, struct spending *P)
{
    char a[13];
    dlt645_addr_format(&P->sess.reply_addr, a);
    struct slink *L = NULL;
    for (size_t k = 0; k < s->n_links && !L; k++) {
        struct slink *c = &s->links[k];
        if (c->kind == SL_DIALIN && c->n_meters && c->lis == P->lis &&
            dlt645_addr_eq(&c->cl->address, &P->sess.reply_addr))
            L = c;
    }
    if (!L) {
        ah_log(AH_LOG_WARN, "dialin",
               "refused %s: it gave address %s, which no dlt645-listen link on %s has",
               P->peer, a, s->lis[P->lis].addr);
        pending_close(s, P);
        return;
    }
    if (L->cl->allow_net.n &&
        (!P->has_ip || !dialin_allow_match(&L->cl->allow_net, P->ip))) {
        ah_log(
            AH_LOG_WARN, L->ctx,
            "refused %s: it gave address %s, but its source is not in links.allow (%s)",
            P->peer, a, L->cl->allow);
        met_add(L->m_refused_src, 1);
        pending_close(s, P);
        return;
    }
    if (L->up && L->l && !P->handover) {
        /* Somebody else claims a concentrator that is connected: probe
         * the old connection first; the newcomer waits (contest_check). */
        int64_t mono = ah_mono_ms();
        int64_t per = (int64_t)L->cl->timeout_ms * (L->cl->retries + 1);
        P->contest = L;
        P->contest_t0 = mono;
        P->contest_deadline = mono + 2 * per + 1000;
        if (!L->disputed)
            L->dispute_t0 = mono;
        L->disputed = true;
        met_add(L->m_conflicts, 1);
        ah_log(AH_LOG_WARN, L->ctx,
               "address conflict: %s claims concentrator %s, connected from %s: probing "
               "the old connection",
               P->peer, a, link_name(L->l));
        return;
    }
    if (L->up || L->l) {
        ah_log(AH_LOG_WARN, L->ctx,
               "concentrator %s dialled again from %s: replacing its "
               "old connection, which no longer answers",
               a, P->peer);
        link_drop(s, L, AH_ECLOSED);
        s->st.reconnects++;
    }
    P->contest = NULL;
    dispute_update(s, L);
    int fd = link_fd(P->l);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP};
    ev.data.u64 = EV_DATA(TAG_LINK, L - s->links);
    if (epoll_ctl(s->ep, EPOLL_CTL_MOD, fd, &ev) != 0) {
        /* its replies would go to the pending slot: refuse the newcomer */
        ah_log(AH_LOG_ERROR, L->ctx, "dial-in %s: epoll: %s", P->peer, strerror(errno));
        pending_close(s, P);
        return;
    }
    L->l = P->l;
    P->l = NULL;
    link_flush_input(L->l);
    ah_log(AH_LOG_INFO, L->ctx, "concentrator %s dialled in from %s", a, P->peer);
    L->conn_fails = 0;
    L->up = true;
    met_set(L->met.up, 1);
}

static void pending_on_readable(struct sched *s, struct spending *P)
{
    uint8_t buf[512];
    for (;;) {
        ssize_t got = link_read(P->l, buf, sizeof buf);
        if (got == AH_EAGAIN)
            return;
        if (got < 0) {
            ah_log(AH_LOG_WARN, "dialin", "%s hung up before identifying itself",
                   P->peer);
            pending_close(s, P);
            return;
        }
        if (P->sess.state == SESS_WAIT)
            sess_on_bytes(&P->sess, buf, (size_t)got, ah_mono_ms());
    }
}

/* A newcomer claims a connected concentrator's address (pending_identified):
 * the old connection answering anything valid since the claim keeps it and
 * refuses the newcomer; a 13H probe left unanswered, or the old link gone,
 * hands the address over. Undecided by the deadline: the old one stays. */
static void contest_check(struct sched *s, struct spending *P, int64_t mono)
{
    struct slink *L = P->contest;
    char a[13];
    dlt645_addr_format(&L->cl->address, a);
    bool gone = !L->up || !L->l;
    if (!gone && L->ok_mono > P->contest_t0) {
        ah_log(AH_LOG_WARN, L->ctx,
               "refused %s: concentrator %s still answers on its connection from %s "
               "(address conflict)",
               P->peer, a, link_name(L->l));
        pending_close(s, P);
    } else if (gone || L->probe_fail_mono > P->contest_t0) {
        if (!gone)
            ah_log(AH_LOG_WARN, L->ctx,
                   "concentrator %s: its connection from %s did not answer 13H", a,
                   link_name(L->l));
        P->contest = NULL;
        P->handover = true;
        pending_identified(s, P);
    } else if (mono > P->contest_deadline) {
        ah_log(AH_LOG_WARN, L->ctx,
               "refused %s: the claim on concentrator %s could not be settled in time",
               P->peer, a);
        pending_close(s, P);
    } else if (!L->in_flight) {
        probe_start(s, L);
    }
}

static void pending_check(struct sched *s, struct spending *P, int64_t mono)
{
    if (P->contest) {
        contest_check(s, P, mono);
        return;
    }
    if (P->sess.state == SESS_WAIT)
        sess_on_tick(&P->sess, mono);
    if (P->sess.state == SESS_SEND) {
        pending_send(s, P);
    } else if (P->sess.state == SESS_DONE) {
        pending_identified(s, P);
    } else if (P->sess.state == SESS_FAILED) {
        ah_log(AH_LOG_WARN, "dialin", "refused %s: no answer to 13H read address: %s",
               P->peer, ah_strerror(P->sess.result));
        pending_close(s, P);
    }
}

/* ---- the loop ----------------------------------------------------------- */

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

int sched_run(sched_t *s, int64_t until_ms, volatile sig_atomic_t *stop)
{
    int64_t now = ah_clock_now_ms(s->clk);
    for (size_t k = 0; k < s->n_links; k++) {
        struct slink *L = &s->links[k];
        if (!L->n_meters || L->kind == SL_MODBUS)
            continue;
        /* the first cycle starts at once: the store may lack a whole
         * backfill window */
        L->next_start = now;
        L->reconnect_at = 0;
        L->down_since = now; /* down until its first reply */
        met_set(L->met.up, 0);
    }
    int rc = start_modbus(s);
    while (rc == AH_OK && !*stop) {
        now = ah_clock_now_ms(s->clk);
        if (until_ms >= 0 && now >= until_ms)
            break;
        int64_t mono = ah_mono_ms();
        int64_t wait = 50; /* ms, real: bounds the latency of cycle starts */
        for (size_t k = 0; k < s->n_links; k++) {
            struct slink *L = &s->links[k];
            if (!L->n_meters || L->kind == SL_MODBUS)
                continue;
            if (L->connecting && mono >= L->connect_deadline)
                link_connect_timeout(s, L);
            link_outage_check(s, L);
            if (!L->up && !L->connecting && L->kind != SL_DIALIN &&
                mono >= L->reconnect_at)
                link_try_connect(s, L);
            if (!L->active && now >= L->next_start)
                cycle_begin(s, L, now);
            link_advance(s, L);
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
        /* many replies per pass: each pass walks every link twice, and 2,000
         * links at 200 ms each answer 10,000 times a second */
        struct epoll_event ev[256];
        int n = epoll_wait(s->ep, ev, 256, (int)(wait < 0 ? 0 : wait));
        if (n < 0 && errno != EINTR) {
            ah_log(AH_LOG_ERROR, "sched", "epoll_wait: %s", strerror(errno));
            rc = AH_EIO;
            break;
        }
        for (int i = 0; i < n; i++) {
            uint32_t tag = (uint32_t)(ev[i].data.u64 >> 32);
            size_t idx = (size_t)(ev[i].data.u64 & 0xFFFFFFFFu);
            if (tag == TAG_LISTEN) {
                on_accept(s, idx);
            } else if (tag == TAG_PENDING) {
                if (s->pend[idx].l)
                    pending_on_readable(s, &s->pend[idx]);
            } else {
                struct slink *L = &s->links[idx];
                if (L->connecting)
                    link_on_connect(s, L);
                else if (L->up)
                    link_on_readable(s, L, ev[i].events);
            }
        }
        mono = ah_mono_ms();
        for (size_t k = 0; k < s->n_links; k++) {
            struct slink *L = &s->links[k];
            if (L->in_flight && L->sess.state == SESS_WAIT)
                sess_on_tick(&L->sess, mono);
            link_check(s, L);
        }
        for (size_t j = 0; j < SCHED_PENDING_MAX; j++)
            if (s->pend[j].l)
                pending_check(s, &s->pend[j], mono);
        listen_resume(s, mono);
        if (s->tick && s->tick(s, s->tick_arg))
            break;
    }
    stop_modbus(s);
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
    return rc;
}
