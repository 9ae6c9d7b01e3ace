/*
 * test_cond — ah_cond: a cond it makes times its waits on CLOCK_MONOTONIC,
 * and a deadline from ah_cond_deadline is on that clock. Were the cond on
 * CLOCK_REALTIME (pthread's default) the monotonic deadline would lie
 * decades in the past and the wait would return at once: the waits below
 * must last about as long as asked, measured on CLOCK_MONOTONIC (lower
 * bounds only: a loaded box may wake late, never early).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ah_cond.h"
#include "ah_err.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_attr_clock_is_monotonic(void **state)
{
    (void)state;
    pthread_condattr_t a;
    assert_int_equal(ah_condattr_init(&a), AH_OK);
    clockid_t id = CLOCK_REALTIME;
    assert_int_equal(pthread_condattr_getclock(&a, &id), 0);
    assert_int_equal(id, CLOCK_MONOTONIC);
    pthread_condattr_destroy(&a);
}

static void test_deadline_is_on_the_monotonic_clock(void **state)
{
    (void)state;
    struct timespec now, d;
    clock_gettime(CLOCK_MONOTONIC, &now);
    ah_cond_deadline(1500, &d);
    int64_t diff =
        ((int64_t)d.tv_sec - now.tv_sec) * 1000 + (d.tv_nsec - now.tv_nsec) / 1000000;
    /* 1.5 s ahead of the monotonic clock (a realtime base would be decades) */
    assert_true(diff >= 1500 && diff < 1500 + 60000);
    assert_true(d.tv_nsec >= 0 && d.tv_nsec < 1000000000);
    ah_cond_deadline(-5, &d); /* the past is now */
    assert_true(d.tv_sec >= now.tv_sec);
}

static void test_timed_wait_lasts_its_time(void **state)
{
    (void)state;
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv;
    assert_int_equal(ah_cond_init(&cv), AH_OK);
    for (int64_t ms = 150; ms <= 1150; ms += 1000) { /* across a second boundary too */
        int64_t t0 = mono_ms();
        struct timespec ts;
        ah_cond_deadline(ms, &ts);
        pthread_mutex_lock(&mu);
        int rc = 0;
        while (rc == 0) /* a spurious wake-up waits on */
            rc = pthread_cond_timedwait(&cv, &mu, &ts);
        pthread_mutex_unlock(&mu);
        assert_int_equal(rc, ETIMEDOUT);
        int64_t took = mono_ms() - t0;
        if (took < ms - 1)
            fail_msg("a %lld ms wait returned after %lld ms", (long long)ms,
                     (long long)took);
    }
    pthread_cond_destroy(&cv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attr_clock_is_monotonic),
        cmocka_unit_test(test_deadline_is_on_the_monotonic_clock),
        cmocka_unit_test(test_timed_wait_lasts_its_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
