/*
 * ah_cond — monotonic condition variables (see ah_cond.h).
 */
#include "ah_cond.h"

#include "ah_err.h"

#include <errno.h>

int ah_condattr_init(pthread_condattr_t *a)
{
    if (pthread_condattr_init(a) != 0)
        return AH_ENOMEM;
    if (pthread_condattr_setclock(a, CLOCK_MONOTONIC) != 0) {
        pthread_condattr_destroy(a);
        return AH_EIO;
    }
    return AH_OK;
}

int ah_cond_init(pthread_cond_t *c)
{
    pthread_condattr_t a;
    int rc = ah_condattr_init(&a);
    if (rc != AH_OK)
        return rc;
    int e = pthread_cond_init(c, &a);
    pthread_condattr_destroy(&a);
    return e == 0 ? AH_OK : e == ENOMEM ? AH_ENOMEM : AH_EIO;
}

void ah_cond_deadline(int64_t ms, struct timespec *ts)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    if (ms < 0)
        ms = 0;
    int64_t ns = (int64_t)ts->tv_nsec + (ms % 1000) * 1000000;
    ts->tv_sec += (time_t)(ms / 1000 + ns / 1000000000);
    ts->tv_nsec = (long)(ns % 1000000000);
}
