/*
 * ah_tz — a time zone's fixed UTC offset, read once at start-up.
 *
 * amihead keeps one offset (meter wall time - UTC) for the whole fleet: the
 * validator's local days, the scheduler's meter clocks and the reports use
 * it. Zones that observe daylight saving time are refused, with a reason.
 * The process's own TZ is never switched (that would change it under every
 * thread that formats a time): a named zone is read from its TZif file.
 */
#ifndef AH_TZ_H
#define AH_TZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Does the zoneinfo database ($TZDIR, else /usr/share/zoneinfo) hold a zone
 * file called name? True too when there is no database to check against. */
bool ah_tz_exists(const char *name);

/* The UTC offset (seconds east) of zone ("Asia/Shanghai", "Etc/GMT-8")
 * from its TZif version 2+ footer (RFC 8536 §3.3). 0, or -1 with the reason
 * in err: file unreadable, not TZif 2+, or the zone observes DST. */
int ah_tz_zone_offset(const char *zone, int32_t *off, char *err, size_t errlen);

/* The same for the box's own zone (TZ / /etc/localtime), sampled over a
 * year from now: differing offsets mean DST and give -1. */
int ah_tz_local_offset(int32_t *off, char *err, size_t errlen);

#endif /* AH_TZ_H */
