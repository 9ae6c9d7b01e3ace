/*
 * scheduler (prefix sched_; not sched.h, which would shadow the system
 * <sched.h> that <pthread.h> includes) — the polling engine of
 * `amihead run` (DESIGN.md §1, §3, §4):
 * interval-aligned cycles on the head-end clock, one job queue per link,
 * strictly one DL/T 645 request in flight per link, backfill (补抄) of the
 * intervals the store still lacks, per-meter backoff, TCP reconnect with
 * backoff, cycle overruns counted and logged. One epoll loop drives every
 * link's session (sess_).
 *
 * Links: dlt645-tcp (non-blocking connect inside the loop), dlt645-serial
 * (ptys through termios, real ports through libserialport), dlt645-listen
 * (concentrators dial in; identified by 13H, unknown ones refused) and
 * modbus-tcp / modbus-rtu (one thread per link, mbpoll.h). DL/T 645-1997
 * meters are skipped with one warning at start. Each cycle also reads the
 * status words (040005FF, into the live record) and, once a local day after
 * schedule.daily_freeze_after, the daily freeze (05060001 + 05060101, into
 * the live read's freeze_at / freeze_fwd). Prometheus series per link
 * (amihead_*{link="…"}) are kept in the engine's registry.
 *
 * It must not write to the store: decoded reads go to the pipeline (pipe_),
 * the single writer; the store is only asked for gap lists, through it.
 *
 * Time zone: meters speak local wall time; the fixed offset is the config's
 * headend.tz_offset_s (zones with daylight saving are refused there; China,
 * UTC+8, has none).
 */
#ifndef AH_SCHED_H
#define AH_SCHED_H

#include "config.h"
#include "dlt645.h"
#include "pipeline.h"

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ah_clock;

/* Most load records asked of one meter in one cycle, so that a long gap
 * (first start, a concentrator back after a day offline) is recovered over
 * several cycles instead of overrunning one. */
#define SCHED_BACKFILL_PER_CYCLE 192

/* Reconnect backoff of a TCP link: 1 s doubling to 60 s (real time). */
#define SCHED_RECONNECT_MIN_MS 1000
#define SCHED_RECONNECT_MAX_MS 60000

/* ---- pure helpers (unit-tested) ---------------------------------------- */

/* Last interval boundary at or before t (seconds, step > 0). */
int64_t sched_interval_floor(int64_t t, int64_t step);

/*
 * The backfill window of a cycle starting at now (UTC s): interval ends
 * *from <= end < *to that the cycle should hold, aligned to step. The
 * newest is the last boundary at or before now; the window reaches back
 * backfill_days, the boundary read backfill_days before the newest
 * included (backfill_days × intervals per day + 1; 0: only the newest).
 */
void sched_window(int64_t now, int64_t step, int backfill_days, int64_t *from,
                  int64_t *to);

/*
 * Whether a meter that failed `streak` cycles in a row sits out a cycle,
 * `since` cycles after its last attempt (1 = the cycle right after). Below
 * backoff_after it is always tried; from there it waits 1, 2, 4 … cycles,
 * at most backoff_max, between attempts.
 */
bool sched_backoff_skip(int streak, int since, int backoff_after, int backoff_max);

/* Reconnect delay after `failures` consecutive failed connects (>= 1). */
int64_t sched_reconnect_delay_ms(int failures);

/* Meter-local broken-down time <-> seconds of local wall time since
 * 1970-01-01 00:00 (no zone involved). year 0..99 = 2000..2099. */
int64_t sched_tm_to_s(const struct dlt645_tm *tm);
void sched_s_to_tm(int64_t s, struct dlt645_tm *tm);

/* ---- the engine -------------------------------------------------------- */

struct sched_stats {
    unsigned long cycles, overruns, requests, timeouts, meter_errors, link_drops,
        reconnects, reads, backed_off;
};

typedef struct sched sched_t;

/*
 * Build the engine for cfg (borrowed, must outlive it), reading time through
 * clk (borrowed) and handing reads to pipe (borrowed). meter_idx[i] is the
 * store index of cfg->meters[i] (copied). Returns AH_OK with *out (caller
 * owns, sched_destroy), AH_ENOMEM, AH_EIO (epoll).
 */
int sched_new(const struct cfg *cfg, const struct ah_clock *clk, pipe_t *pipe,
              const uint32_t *meter_idx, sched_t **out);
struct met;
/* sched_new registering its series in met (borrowed, outlives the engine;
 * NULL: an own registry). A reload builds a new engine on the same
 * registry, so counters and the HTTP endpoint survive it. */
int sched_new_met(const struct cfg *cfg, const struct ah_clock *clk, pipe_t *pipe,
                  const uint32_t *meter_idx, struct met *met, sched_t **out);
void sched_destroy(sched_t **s);

/*
 * Run the loop until the head-end clock reaches until_ms (< 0: forever) or
 * *stop becomes non-zero (signal handler). Returns AH_OK, or AH_EIO when
 * epoll fails.
 */
int sched_run(sched_t *s, int64_t until_ms, volatile sig_atomic_t *stop);

/* Called by sched_run's loop at least every 50 ms (real), on the loop's
 * thread: the place for a service watchdog and for a reload to leave the
 * loop between cycles. Returning true makes sched_run return AH_OK. */
typedef bool (*sched_tick_fn)(sched_t *s, void *arg);
void sched_set_tick(sched_t *s, sched_tick_fn fn, void *arg);
/* No DL/T 645 link is inside a cycle (Modbus threads run their own). */
bool sched_idle(const sched_t *s);

/* Counters so far (borrowed). Modbus threads' counters are added when
 * sched_run returns. */
const struct sched_stats *sched_stats(const sched_t *s);

struct met;
/* The engine's metrics registry (borrowed; lives until sched_destroy). */
struct met *sched_metrics(sched_t *s);
/* Serve the registry on "host:port" (metrics.listen; "" or NULL: nothing).
 * AH_OK or met_serve's error. Stopped by sched_destroy. */
int sched_serve_metrics(sched_t *s, const char *listen, int *bound_port);
/* Port bound by the i-th dial-in listener (distinct listen addresses in
 * link order), -1 past the end. */
int sched_listen_port(const sched_t *s, size_t i);

#endif /* AH_SCHED_H */
