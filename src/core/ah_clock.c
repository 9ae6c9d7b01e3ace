/* ah_clock — scaled, offset clock (see ah_clock.h). */
#include "ah_clock.h"
#include "ah_err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct ah_clock default_clock = {-1, 0, 1.0};

int64_t ah_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ah_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ah_clock_init(struct ah_clock *c, int64_t epoch_ms, double scale)
{
    if (!(scale > 0.0) || scale > 1e6)
        return AH_EINVAL;
    c->epoch_ms = epoch_ms < 0 ? ah_wall_ms() : epoch_ms;
    c->start_mono_ms = ah_mono_ms();
    c->scale = scale;
    return AH_OK;
}

int64_t ah_clock_now_ms(const struct ah_clock *c)
{
    if (c->epoch_ms < 0) /* uninitialised default: plain wall time */
        return ah_wall_ms();
    int64_t real = ah_mono_ms() - c->start_mono_ms;
    return c->epoch_ms + (int64_t)((double)real * c->scale);
}

int64_t ah_clock_real_ms(const struct ah_clock *c, int64_t sim_ms)
{
    if (sim_ms <= 0)
        return 0;
    double scale = c->epoch_ms < 0 ? 1.0 : c->scale;
    double r = (double)sim_ms / scale;
    int64_t ri = (int64_t)r;
    return (double)ri < r ? ri + 1 : ri;
}

int64_t ah_clock_real_ms_until(const struct ah_clock *c, int64_t t_ms)
{
    return ah_clock_real_ms(c, t_ms - ah_clock_now_ms(c));
}

const struct ah_clock *ah_clock_default(void)
{
    return &default_clock;
}

void ah_clock_set_default(const struct ah_clock *c)
{
    default_clock = *c;
}

int ah_time_parse(const char *s, int64_t *out_ms)
{
    if (!s || !*s)
        return AH_EINVAL;
    int y, mo, d, h = 0, mi = 0, sec = 0;
    char tail[8] = "";
    int n = sscanf(s, "%4d-%2d-%2d%*[T ]%2d:%2d:%2d%7s", &y, &mo, &d, &h, &mi, &sec, tail);
    if (n < 3) {
        /* plain seconds since the epoch */
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno || *end || v < 0)
            return AH_EINVAL;
        *out_ms = (int64_t)v * 1000;
        return AH_OK;
    }
    if (n == 5) { /* "YYYY-MM-DD hh:mm": sscanf stopped before seconds */
        sec = 0;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
        sec < 0 || sec > 60 || y < 1970 || y > 9999)
        return AH_EINVAL;
    if (tail[0] && strcmp(tail, "Z") != 0)
        return AH_EINVAL;
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *out_ms = (int64_t)timegm(&tm) * 1000;
    return AH_OK;
}

void ah_time_format(int64_t ms, char *buf, unsigned long cap)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
