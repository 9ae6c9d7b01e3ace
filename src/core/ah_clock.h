/*
 * ah_clock — the one clock every component reads time through.
 *
 * Simulated time = epoch + (monotonic elapsed since start) × scale, so tests
 * and the demo run a simulated day in seconds; the simulator takes the same
 * epoch and scale (DESIGN.md §4). With scale 1 and no epoch it is wall time.
 * All values are milliseconds since the Unix epoch, UTC.
 */
#ifndef AH_CLOCK_H
#define AH_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

struct ah_clock {
    int64_t epoch_ms;      /* simulated time at start */
    int64_t start_mono_ms; /* CLOCK_MONOTONIC at start */
    double scale;          /* simulated seconds per real second, > 0 */
};

/* Start a clock at epoch_ms (or wall time now if epoch_ms < 0) running
 * scale times faster than real time. Returns AH_EINVAL for scale <= 0. */
int ah_clock_init(struct ah_clock *c, int64_t epoch_ms, double scale);

/* Simulated now, ms since the Unix epoch (UTC). */
int64_t ah_clock_now_ms(const struct ah_clock *c);

/* Real milliseconds until the simulated time reaches t_ms (0 if past). */
int64_t ah_clock_real_ms_until(const struct ah_clock *c, int64_t t_ms);

/* Convert a simulated duration to real milliseconds (rounded up, >= 0). */
int64_t ah_clock_real_ms(const struct ah_clock *c, int64_t sim_ms);

/* Monotonic real milliseconds, for timeouts that must not scale. */
int64_t ah_mono_ms(void);

/* Wall-clock real milliseconds since the Unix epoch. */
int64_t ah_wall_ms(void);

/* The process-wide clock (wall time, scale 1, until ah_clock_set_default). */
const struct ah_clock *ah_clock_default(void);
void ah_clock_set_default(const struct ah_clock *c);

/* Parse "2025-03-14T00:00:00Z", "2025-03-14 00:00", "2025-03-14" (its
 * midnight), any of them with a UTC offset ("+08:00", "+0800", "-05"), or
 * seconds since the epoch into ms. A time without Z or offset is taken as
 * UTC. Returns AH_OK or AH_EINVAL. */
int ah_time_parse(const char *s, int64_t *out_ms);

/* The same, but a time without Z or offset is local time at local_off_s
 * seconds east of UTC; *had_zone says whether s named its zone (epoch
 * seconds count as named: they are UTC). */
int ah_time_parse_zone(const char *s, int32_t local_off_s, int64_t *out_ms,
                       bool *had_zone);

/* The time formats ah_time_parse_zone accepts, for --help texts. */
#define AH_TIME_FORMATS                                                                  \
    "  Times: 2025-03-14T08:00:00Z (UTC), 2025-03-14T08:00:00+08:00 (an offset),\n"      \
    "  '2025-03-14 08:00' or 2025-03-14 (local time in headend.timezone), or\n"          \
    "  seconds since 1970 (UTC).\n"

/* Format ms as "2025-03-14T00:00:00Z" into buf (>= 21 bytes). */
void ah_time_format(int64_t ms, char *buf, unsigned long cap);

#endif /* AH_CLOCK_H */
