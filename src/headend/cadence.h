/*
 * cadence — when the polling engine acts, as arithmetic (issue 15 item 3):
 * interval boundaries, the backfill window of a cycle, which cycles a
 * failing meter sits out and how long a dropped link waits before it is
 * dialled again. Pure: no I/O, no clock, no allocation; the scheduler
 * (DL/T 645 links) and the Modbus poller (mbpoll) both decide with it.
 */
#ifndef AH_CADENCE_H
#define AH_CADENCE_H

#include <stdbool.h>
#include <stdint.h>

/* Reconnect backoff of a TCP link: 1 s doubling to 60 s (real time). */
#define CADENCE_RECONNECT_MIN_MS 1000
#define CADENCE_RECONNECT_MAX_MS 60000

/* Last interval boundary at or before t (seconds, step > 0). */
int64_t cadence_interval_floor(int64_t t, int64_t step);

/*
 * The backfill window of a cycle starting at now (UTC s): interval ends
 * *from <= end < *to that the cycle should hold, aligned to step. The
 * newest is the last boundary at or before now; the window reaches back
 * backfill_days, the boundary read backfill_days before the newest
 * included (backfill_days × intervals per day + 1; 0: only the newest).
 */
void cadence_window(int64_t now, int64_t step, int backfill_days, int64_t *from,
                    int64_t *to);

/*
 * Whether a meter that failed `streak` cycles in a row sits out a cycle,
 * `since` cycles after its last attempt (1 = the cycle right after). Below
 * backoff_after it is always tried; from there it waits 1, 2, 4 … cycles,
 * at most backoff_max, between attempts.
 */
bool cadence_backoff_skip(int streak, int since, int backoff_after, int backoff_max);

/* Reconnect delay after `failures` consecutive failed connects (>= 1). */
int64_t cadence_reconnect_delay_ms(int failures);

#endif /* AH_CADENCE_H */
