/*
 * ah_cond — condition variables whose timed waits run on CLOCK_MONOTONIC.
 *
 * pthread_cond_timedwait takes an absolute deadline on the cond's clock,
 * CLOCK_REALTIME by default: a wall clock stepped back (NTP, an operator)
 * stretches an idle "wake every second" into hours, one stepped forward
 * turns it into a busy loop. A cond made here and a deadline from
 * ah_cond_deadline both use CLOCK_MONOTONIC, which only ever advances.
 */
#ifndef AH_COND_H
#define AH_COND_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* The attributes of every cond made by ah_cond_init: its clock is
 * CLOCK_MONOTONIC. AH_OK or AH_EIO (the system refuses the clock);
 * pthread_condattr_destroy after use. */
int ah_condattr_init(pthread_condattr_t *a);

/* pthread_cond_init with those attributes. AH_OK, AH_ENOMEM, AH_EIO. */
int ah_cond_init(pthread_cond_t *c);

/* The absolute CLOCK_MONOTONIC time ms milliseconds from now (ms < 0 is
 * now), for pthread_cond_timedwait on a cond of ah_cond_init. */
void ah_cond_deadline(int64_t ms, struct timespec *ts);

#endif /* AH_COND_H */
