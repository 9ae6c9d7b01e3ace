/*
 * scheduler_int — what the scheduler's files share and nobody else may use:
 * the engine's state (struct sched, its links, meters and dial-in slots) and
 * the functions one part calls in another. scheduler.h is the contract; this
 * header is the scheduler's own furniture (src/headend/scheduler*.c only).
 *
 *   scheduler.c         building and tearing down the engine
 *   scheduler_link.c    a DL/T 645 link's transport: connect, drop, outage,
 *                       send, resend, read (one request in flight)
 *   scheduler_cycle.c   cycles: the live sweep, backfill and its rescue pass,
 *                       picking the next job and its request
 *   scheduler_job.c     the meter job driver: runs the sans-I/O job of
 *                       meterjob.h, files its load records and values with
 *                       the pipeline, keeps what it teaches about the meter
 *   scheduler_dialin.c  dlt645-listen: accept, identify by 13H, hand over
 *   scheduler_loop.c    sched_run: the epoll loop and the Modbus threads
 *
 * The pure arithmetic is elsewhere: cadence.h (interval, window, backoff,
 * reconnect delay) and meterjob.h (the job, the meter's time).
 */
#ifndef AH_SCHEDULER_INT_H
#define AH_SCHEDULER_INT_H

#include "scheduler.h"
#include "cadence.h"
#include "dialin.h"
#include "link.h"
#include "mbpoll.h"
#include "meterjob.h"
#include "metrics.h"
#include "readplan.h"
#include "sess.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

    /* what this meter's job read so far beside its load records: the
     * values its answers' bytes decode to (meterjob.h) */
    struct mjob_vals vals;
    bool freeze_due;    /* the job reads the daily freeze */
    bool live_overran;  /* the live sweep ran into the next interval */
    int64_t sent_he_ms; /* head-end clock when the request went out */
    int64_t live_end;   /* the live record asked (UTC s) */
    bool live_attach;   /* status, V, I belong to it (mjob_live_end) */
    bool live_after;    /* the live record follows the short backlog */
    bool live_defer;    /* a longer backlog: the pipeline defers the live read */
    bool bf_last;       /* this backfill turn covers the meter's whole backlog */
    unsigned rp_due;    /* 1 << group: groups this job reads (job_groups) */
    bool clock_est;     /* no clock read this job: live_end from clk_off_s */
    /* the catch-up request under way (06000001 with N) and its answer */
    unsigned lr_asked, lr_got;
    int64_t lr_last;  /* newest block's interval end in the answer (UTC s) */
    uint8_t lr_probe; /* N > 1 drew an ERR: N = 1 asked, the old N kept here */
    bool lr_one;      /* a batch was lost on the line: N = 1 for this turn */

    bool in_flight;
    struct sess sess;
    char ctx[CFG_NAME_MAX * 2 + 2];
    char mctx[CFG_NAME_MAX * 2 + 2]; /* "link/meter" (ah_log.h), sched_meter_ctx */

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
    struct readplan *plans;           /* per link × meter class (sched_plan_of) */
    struct met_series *m_pend_closed; /* unidentified connections closed early */
};

/* ---- shared between the parts ------------------------------------------ */

/* scheduler.c */
const char *sched_meter_ctx(struct slink *L, const char *meter);
const struct readplan *sched_plan_of(const struct sched *s, size_t mi);

/* scheduler_link.c */
void sched_link_drop(struct sched *s, struct slink *L, int why);
void sched_link_answered(struct sched *s, struct slink *L);
void sched_link_outage_check(struct sched *s, struct slink *L);
void sched_link_try_connect(struct sched *s, struct slink *L);
void sched_link_on_connect(struct sched *s, struct slink *L);
void sched_link_connect_timeout(struct sched *s, struct slink *L);
bool sched_link_send(struct sched *s, struct slink *L);
void sched_link_check(struct sched *s, struct slink *L);
void sched_probe_start(struct sched *s, struct slink *L);
void sched_link_on_readable(struct sched *s, struct slink *L, uint32_t events);

/* scheduler_cycle.c */
void sched_cycle_begin(struct sched *s, struct slink *L, int64_t now);
void sched_meter_end(struct sched *s, struct slink *L, bool failed);
void sched_live_advance(struct slink *L);
void sched_backfill_advance(struct slink *L);
void sched_link_advance(struct sched *s, struct slink *L);

/* scheduler_job.c */
unsigned sched_lr_blocks(struct sched *s, struct slink *L);
void sched_on_done(struct sched *s, struct slink *L);
void sched_live_record(struct sched *s, struct slink *L);

/* scheduler_dialin.c */
void sched_listen_resume(struct sched *s, int64_t mono);
void sched_on_accept(struct sched *s, size_t j);
void sched_pending_on_readable(struct sched *s, struct spending *P);
void sched_pending_check(struct sched *s, struct spending *P, int64_t mono);

#endif /* AH_SCHEDULER_INT_H */
