/* ah_clock — scaled, offset clock (see ah_clock.h). */
#include "ah_clock.h"
#include "ah_date.h"
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

/* "Z", "+08:00", "+0800", "+08", "-05:30" into seconds east of UTC. */
static int parse_zone(const char *z, int32_t *off_s)
{
    if (!strcmp(z, "Z") || !strcmp(z, "z")) {
        *off_s = 0;
        return AH_OK;
    }
    if (z[0] != '+' && z[0] != '-')
        return AH_EINVAL;
    int hh = 0, mm = 0;
    size_t n = strlen(z + 1);
    const char *d = z + 1;
    for (size_t i = 0; i < n; i++)
        if ((d[i] < '0' || d[i] > '9') && !(i == 2 && d[i] == ':'))
            return AH_EINVAL;
    if (n == 2)
        hh = (d[0] - '0') * 10 + (d[1] - '0');
    else if (n == 4 && d[2] != ':')
        hh = (d[0] - '0') * 10 + (d[1] - '0'), mm = (d[2] - '0') * 10 + (d[3] - '0');
    else if (n == 5 && d[2] == ':')
        hh = (d[0] - '0') * 10 + (d[1] - '0'), mm = (d[3] - '0') * 10 + (d[4] - '0');
    else
        return AH_EINVAL;
    if (hh > 14 || mm > 59)
        return AH_EINVAL;
    *off_s = (z[0] == '-' ? -1 : 1) * (hh * 3600 + mm * 60);
    return AH_OK;
}

/* n decimal digits at p into *v; false when one is not a digit. */
static bool digits(const char *p, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        *v = *v * 10 + (p[i] - '0');
    }
    return true;
}

int ah_time_parse_zone(const char *s, int32_t local_off_s, int64_t *out_ms,
                       bool *had_zone)
{
    if (!s || !*s)
        return AH_EINVAL;
    *had_zone = true;
    int y, mo, d, h = 0, mi = 0, sec = 0;
    size_t len = strlen(s);
    if (len < 10 || s[4] != '-' || s[7] != '-' || !digits(s, 4, &y) ||
        !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d)) {
        /* plain seconds since the epoch: UTC by definition */
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        /* up to 9999-12-31T23:59:59Z, as the dated forms: v * 1000 fits */
        if (errno || *end || v < 0 || end == s || v > 253402300799LL)
            return AH_EINVAL;
        *out_ms = (int64_t)v * 1000;
        return AH_OK;
    }
    const char *p = s + 10; /* a date alone is its midnight */
    if (*p == 'T' || *p == ' ') {
        if (strlen(p) < 6 || p[3] != ':' || !digits(p + 1, 2, &h) ||
            !digits(p + 4, 2, &mi))
            return AH_EINVAL;
        p += 6;
        if (*p == ':') {
            if (!digits(p + 1, 2, &sec))
                return AH_EINVAL;
            p += 3;
        }
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || y < 1970)
        return AH_EINVAL;
    int32_t off = local_off_s;
    if (*p) {
        if (parse_zone(p, &off) != AH_OK)
            return AH_EINVAL;
    } else {
        *had_zone = false;
    }
    struct ah_date t = {.year = y, .mon = mo, .day = d, .hour = h, .min = mi, .sec = sec};
    *out_ms = (ah_date_to_s(&t) - off) * 1000;
    return AH_OK;
}

int ah_time_parse(const char *s, int64_t *out_ms)
{
    bool zone;
    return ah_time_parse_zone(s, 0, out_ms, &zone);
}

void ah_time_format(int64_t ms, char *buf, unsigned long cap)
{
    int64_t s = ms / 1000 - (ms % 1000 < 0); /* floor: -1 ms is 23:59:59 */
    struct ah_date t;
    ah_date_from_s(s, &t);
    snprintf(buf, cap, "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)t.year, t.mon,
             t.day, t.hour, t.min, t.sec);
}
