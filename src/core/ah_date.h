/*
 * ah_date — civil (proleptic Gregorian) dates from seconds and back, and
 * the floor of a time to an interval. Written once for every stage: the
 * scheduler's meter clocks, the wire's ISO 8601 times, the CLI's time
 * arguments and the report's day labels all convert through here.
 *
 * Pure arithmetic: no time zone database, no libc time functions (timegm
 * and gmtime_r read the process's TZ state and clamp to time_t). A local
 * time is UTC seconds plus a fixed offset (ah_tz), passed in by the caller.
 */
#ifndef AH_DATE_H
#define AH_DATE_H

#include <stdint.h>

struct ah_date {
    int64_t year; /* e.g. 2025 */
    int mon;      /* 1..12 */
    int day;      /* 1..31 */
    int hour;     /* 0..23 */
    int min;      /* 0..59 */
    int sec;      /* 0..59 (60 accepted by ah_date_to_s: it rolls over) */
    int wday;     /* 0 Sunday .. 6 Saturday; ignored by ah_date_to_s */
};

/* Days since 1970-01-01 of the date y-m-d (m 1..12; d may run past the
 * month's end, it counts on). */
int64_t ah_date_days(int64_t y, int m, int d);

/* Seconds since 1970-01-01 00:00 of d, taken in the same zone as the result
 * (UTC in, UTC out; local in, local out). */
int64_t ah_date_to_s(const struct ah_date *d);

/* The civil date and time of s seconds since 1970-01-01 (any sign). */
void ah_date_from_s(int64_t s, struct ah_date *d);

/* The start of the step-long interval holding t: t rounded down to a
 * multiple of step (> 0), toward minus infinity for negative t. */
int64_t ah_date_floor(int64_t t, int64_t step);

#endif /* AH_DATE_H */
