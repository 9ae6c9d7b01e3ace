/*
 * readplan — cadences of a meter's reads (see readplan.h). Pure.
 */
#include "readplan.h"
#include "store_rec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MIN 1440

static const char *const group_names[RP_NGROUPS] = {"clock", "instant", "status",
                                                    "events", "freeze"};

/* Requests of each group when it is read (clock: with 0400010C). */
static const int group_requests[RP_NGROUPS] = {1, 2, 1, 3, 3};

const char *readplan_group_name(enum readplan_group g)
{
    return g < RP_NGROUPS ? group_names[g] : "?";
}

void readplan_defaults(struct readplan *rp)
{
    rp->min[RP_CLOCK] = 60;
    rp->min[RP_INSTANT] = 60;
    rp->min[RP_STATUS] = DAY_MIN;
    rp->min[RP_EVENTS] = DAY_MIN;
    rp->min[RP_FREEZE] = DAY_MIN;
}

void readplan_unset(struct readplan *rp)
{
    for (int g = 0; g < RP_NGROUPS; g++)
        rp->min[g] = READPLAN_UNSET;
}

/* "every" is -2 until readplan_check knows the interval: it means one. */
#define EVERY (-2)

static int parse_cadence(const char *s, size_t n, int16_t *out)
{
    static const struct {
        const char *w;
        int16_t v;
    } words[] = {{"every", EVERY}, {"hourly", 60}, {"daily", DAY_MIN}, {"off", 0}};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (strlen(words[i].w) == n && !memcmp(words[i].w, s, n)) {
            *out = words[i].v;
            return 0;
        }
    }
    /* 30m, 2h: digits and one unit letter */
    long v = 0;
    size_t i = 0;
    for (; i < n && s[i] >= '0' && s[i] <= '9' && v <= DAY_MIN; i++)
        v = v * 10 + (s[i] - '0');
    if (i == 0 || i + 1 != n || (s[i] != 'm' && s[i] != 'h'))
        return -1;
    if (s[i] == 'h')
        v *= 60;
    if (v < 1 || v > DAY_MIN)
        return -1;
    *out = (int16_t)v;
    return 0;
}

int readplan_parse(const char *spec, struct readplan *rp, char *err, size_t errlen)
{
    readplan_unset(rp);
    if (!strcmp(spec, "every")) {
        for (int g = 0; g < RP_FREEZE; g++)
            rp->min[g] = EVERY;
        return 0;
    }
    const char *p = spec;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (!eq) {
            snprintf(err, errlen, "'%.*s': expected group=cadence", (int)len, p);
            return -1;
        }
        size_t kl = (size_t)(eq - p);
        int g = 0;
        while (g < RP_NGROUPS &&
               (strlen(group_names[g]) != kl || memcmp(group_names[g], p, kl)))
            g++;
        if (g == RP_NGROUPS) {
            snprintf(err, errlen,
                     "unknown group '%.*s' (clock, instant, status, events, freeze)",
                     (int)kl, p);
            return -1;
        }
        if (rp->min[g] != READPLAN_UNSET) {
            snprintf(err, errlen, "group '%s' given twice", group_names[g]);
            return -1;
        }
        if (parse_cadence(eq + 1, len - kl - 1, &rp->min[g]) < 0) {
            snprintf(err, errlen,
                     "'%.*s': cadence is every, hourly, daily, off, Nm or Nh (at most a "
                     "day)",
                     (int)(len - kl - 1), eq + 1);
            return -1;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return 0;
}

void readplan_apply(struct readplan *out, const struct readplan *base,
                    const struct readplan *over)
{
    for (int g = 0; g < RP_NGROUPS; g++)
        out->min[g] = over->min[g] != READPLAN_UNSET ? over->min[g] : base->min[g];
}

void readplan_resolve(struct readplan *out, const struct readplan *const *layers,
                      size_t n)
{
    readplan_defaults(out);
    for (size_t i = 0; i < n; i++)
        if (layers[i])
            readplan_apply(out, out, layers[i]);
}

/* Minutes of a set cadence once the interval is known. */
static int minutes(int16_t v, int interval_min)
{
    return v == EVERY ? interval_min : v;
}

int readplan_check(const struct readplan *rp, int interval_min, char *err, size_t errlen)
{
    for (int g = 0; g < RP_NGROUPS; g++) {
        if (rp->min[g] == READPLAN_UNSET || rp->min[g] == READPLAN_OFF)
            continue;
        int m = minutes(rp->min[g], interval_min);
        if (g == RP_FREEZE && m != DAY_MIN) {
            snprintf(err, errlen, "freeze is read daily or off");
            return -1;
        }
        if (interval_min <= 0 || m % interval_min || DAY_MIN % m) {
            snprintf(
                err, errlen,
                "%s every %d min: not a multiple of the %d min interval that divides "
                "a day",
                group_names[g], m, interval_min);
            return -1;
        }
    }
    return 0;
}

/* Cycles between reads of a set cadence, 0 for off. */
static int64_t period(const struct readplan *rp, enum readplan_group g, int interval_min)
{
    int16_t v = rp->min[g];
    if (v == READPLAN_OFF || v == READPLAN_UNSET || interval_min <= 0)
        return 0;
    int64_t per = minutes(v, interval_min) / interval_min;
    return per < 1 ? 1 : per;
}

bool readplan_due(const struct readplan *rp, enum readplan_group g, int interval_min,
                  int64_t cycle, uint32_t slot, int64_t last)
{
    int64_t per = period(rp, g, interval_min);
    if (per == 0)
        return false;
    if (per == 1)
        return true;
    return (cycle + (int64_t)(slot % (uint64_t)per)) % per == 0 ||
           (last > 0 && cycle - last > per);
}

double readplan_requests_per_cycle(const struct readplan *rp, int interval_min,
                                   bool clock_3)
{
    double n = 1.0; /* the load record */
    for (int g = 0; g < RP_NGROUPS; g++) {
        int64_t per = period(rp, (enum readplan_group)g, interval_min);
        if (per == 0)
            continue;
        int req = g == RP_CLOCK && clock_3 ? 3 : group_requests[g];
        n += (double)req / (double)per;
    }
    return n;
}

bool readplan_record_alarm(const struct ah_read *r, double low_dv, bool bidirectional)
{
    for (int ph = 0; ph < 3; ph++) {
        if ((r->present & AH_READ_HAS_VOLTAGE(ph)) && (double)r->voltage[ph] < low_dv)
            return true;
        if (!bidirectional && (r->present & AH_READ_HAS_CURRENT(ph)) &&
            r->current[ph] < 0)
            return true;
    }
    return false;
}
