/*
 * cadence — the polling engine's time arithmetic (see cadence.h).
 */
#include "cadence.h"

#include "ah_date.h"

int64_t cadence_interval_floor(int64_t t, int64_t step)
{
    return ah_date_floor(t, step);
}

void cadence_window(int64_t now, int64_t step, int backfill_days, int64_t *from,
                    int64_t *to)
{
    int64_t newest = cadence_interval_floor(now, step);
    *to = newest + step;
    /* backfill_days back from the newest, that boundary read included: it
     * starts the window's first full local day (issue 14) */
    *from = newest - (int64_t)backfill_days * 86400;
}

bool cadence_backoff_skip(int streak, int since, int backoff_after, int backoff_max)
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

int64_t cadence_reconnect_delay_ms(int failures)
{
    int64_t d = CADENCE_RECONNECT_MIN_MS;
    for (int i = 1; i < failures && d < CADENCE_RECONNECT_MAX_MS; i++)
        d *= 2;
    return d > CADENCE_RECONNECT_MAX_MS ? CADENCE_RECONNECT_MAX_MS : d;
}
