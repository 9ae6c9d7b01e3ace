/*
 * ah_tz — fixed UTC offsets of time zones (see ah_tz.h).
 */
#include "ah_tz.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define AH_TZ_PATH_MAX 512 /* $TZDIR + "/" + zone name */

bool ah_tz_exists(const char *name)
{
    const char *dir = getenv("TZDIR");
    if (!dir || !*dir)
        dir = "/usr/share/zoneinfo";
    struct stat st;
    if (stat(dir, &st) != 0)
        return true; /* no zoneinfo database here to check against */
    char p[AH_TZ_PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/*
 * The validator and scheduler need one fixed offset (meter wall time - UTC); see ah_tz.h.
 * Switching TZ to ask localtime_r about another zone changes the whole
 * process's time zone under any thread that formats a time, so a named zone
 * is read from its TZif file instead: the footer of a version 2+ file
 * (RFC 8536 §3.3) is the POSIX TZ string for times after the last
 * transition, i.e. today's rule. "STD offset" alone means no daylight
 * saving; anything after it (a DST name and rule) is refused.
 */
static bool tz_posix_fixed(const char *tz, int32_t *off)
{
    const char *p = tz;
    if (*p == '<') { /* quoted name: <+08>, <-03> (POSIX XBD 8.3) */
        while (*p && *p != '>')
            p++;
        if (*p != '>' || p - tz < 4)
            return false;
        p++;
    } else {
        while (isalpha((unsigned char)*p))
            p++;
        if (p - tz < 3)
            return false;
    }
    int sign = 1;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    long part[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        if (!isdigit((unsigned char)*p))
            return false;
        long v = 0;
        int nd = 0;
        while (isdigit((unsigned char)*p) && nd < 3) {
            v = v * 10 + (*p++ - '0');
            nd++;
        }
        part[i] = v;
        if (*p != ':' || i == 2)
            break;
        p++;
    }
    if (*p || part[0] > 24 || part[1] > 59 || part[2] > 59)
        return false; /* trailing text: a DST rule follows */
    /* POSIX offsets count west of Greenwich: "CST-8" is UTC+8. */
    long west = part[0] * 3600 + part[1] * 60 + part[2];
    *off = (int32_t)(-sign * west);
    return true;
}

int ah_tz_zone_offset(const char *zone, int32_t *off, char *err, size_t errlen)
{
    const char *dir = getenv("TZDIR");
    if (!dir || !*dir)
        dir = "/usr/share/zoneinfo";
    char path[AH_TZ_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, zone);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot read %.120s: %s", path, strerror(errno));
        return -1;
    }
    char head[5] = {0}, tail[128];
    size_t n = fread(head, 1, sizeof head, f);
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    size_t want =
        size > (long)sizeof tail - 1 ? sizeof tail - 1 : (size_t)(size < 0 ? 0 : size);
    size_t got = 0;
    if (size > 0 && fseek(f, -(long)want, SEEK_END) == 0)
        got = fread(tail, 1, want, f);
    fclose(f);
    if (n != 5 || memcmp(head, "TZif", 4) || head[4] < '2' || got < 2 ||
        tail[got - 1] != '\n') {
        snprintf(err, errlen, "%.120s is not a TZif version 2+ file", path);
        return -1;
    }
    tail[got - 1] = 0;
    const char *nl = memrchr(tail, '\n', got - 1); /* the data before holds NULs */
    const char *tz = nl ? nl + 1 : NULL;
    if (!tz || !*tz) {
        snprintf(err, errlen, "zone '%s' has no rule for present-day times", zone);
        return -1;
    }
    if (!tz_posix_fixed(tz, off)) {
        snprintf(err, errlen,
                 "zone '%s' observes daylight saving time (%s); amihead needs a fixed "
                 "UTC offset",
                 zone, tz);
        return -1;
    }
    return 0;
}

/*
 * The box's own zone (headend.timezone ""): localtime_r needs no TZ switch
 * here. Sampled over a year from now: differing offsets mean DST.
 */
int ah_tz_local_offset(int32_t *off, char *err, size_t errlen)
{
    tzset(); /* pick up TZ as it is now (localtime_r may not) */
    time_t now = time(NULL);
    long first = 0;
    for (int k = 0; k <= 12; k++) {
        time_t t = now + (time_t)k * 30 * 86400;
        struct tm tm;
        if (!localtime_r(&t, &tm)) {
            snprintf(err, errlen, "localtime_r failed for the box's time zone");
            return -1;
        }
        if (k == 0)
            first = tm.tm_gmtoff;
        else if (tm.tm_gmtoff != first) {
            snprintf(err, errlen,
                     "not set, and the box's time zone observes daylight saving "
                     "time; name a zone with a fixed UTC offset");
            return -1;
        }
    }
    *off = (int32_t)first;
    return 0;
}
