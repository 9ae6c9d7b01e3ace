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
 * meters are skipped with one warning at start. Which data identifiers a
 * meter's cycle reads beside its load record is its read plan (readplan.h:
 * clock, V/I, status words, event counters, the daily freeze once a local
 * day after schedule.daily_freeze_after); catch-up reads ask 06000001 for
 * up to SCHED_LR_BLOCKS_MAX blocks at once. Prometheus series per link
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

/* Longest gap list asked of the pipeline at once (two days of 15-minute
 * intervals); the scheduler itself asks SCHED_BACKFILL_CHUNK per turn. */
#define SCHED_BACKFILL_PER_CYCLE 192

/* Backfill goes meter after meter, this many load records (two days) of
 * one meter per turn, and goes on where the last cycle stopped (issue 13
 * defect 6): each meter's backlog is complete — validated in order and
 * published — as soon as possible, while the live sweep of every meter
 * comes first in each cycle. */
#define SCHED_BACKFILL_CHUNK 192

/* Backfill goes meter after meter, so on a slow link with a long backlog
 * (a first start, a day-long outage) the oldest records of the last meters
 * would leave the window before their turn: a district day then lacks a
 * meter's boundary register and is judged INCOMPLETE for good. Each cycle's
 * backfill therefore starts with a rescue pass: every meter of the link is
 * asked the gaps of its window's oldest SCHED_RESCUE_STEPS intervals (one
 * catch-up request of N blocks each), earliest deadline first in effect. */
#define SCHED_RESCUE_STEPS 8

/* A meter missing at most this many intervals before its live record gets
 * them read in its live job, oldest first, so that the pipeline validates
 * its reads in order; a longer backlog (an outage, a first start) waits
 * for the backfill turns after every meter's live read, and those reads
 * come late (stored and published, not sequenced: docs/validation.md). */
#define SCHED_INLINE_GAPS 4

/* Most load-record blocks one catch-up request asks for (06000001 with N,
 * protocols.md §1.4 (c), §2.9; issue 16 item 2). N is one byte that some
 * firmware reads as BCD and some as binary: both agree below 10. Nine
 * whole records (103 bytes each) come in five frames (one reply and four
 * 12H follow-ups, §1.6), 1.8 records per round trip against one, and fit
 * the session's reassembly buffer. A meter that refuses N > 1 or answers
 * fewer blocks than asked is asked for fewer from then on (remembered in
 * the store). */
#define SCHED_LR_BLOCKS_MAX 9

/* The pure arithmetic it decides with lives beside it: interval, window,
 * backoff and reconnect delay in cadence.h; the meter's time, the clock-read
 * and time-base rules and the catch-up runs in meterjob.h. */

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
