/*
 * ah_date — civil dates (see ah_date.h). The two conversions follow Howard
 * Hinnant's days-from-civil / civil-from-days algorithms, written from their
 * description: a year starts in March so the leap day is the year's last,
 * and a 400-year era has exactly 146,097 days.
 */
#include "ah_date.h"

int64_t ah_date_days(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                                  /* 0..399 */
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1; /* 0..365 */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;          /* 0..146096 */
    return era * 146097 + doe - 719468;
}

int64_t ah_date_to_s(const struct ah_date *d)
{
    return ah_date_days(d->year, d->mon, d->day) * 86400 + (int64_t)d->hour * 3600 +
           (int64_t)d->min * 60 + d->sec;
}

void ah_date_from_s(int64_t s, struct ah_date *d)
{
    int64_t days = s / 86400, sod = s % 86400;
    if (sod < 0) {
        sod += 86400;
        days--;
    }
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    d->year = yoe + era * 400 + (m <= 2);
    d->mon = (int)m;
    d->day = (int)(doy - (153 * mp + 2) / 5 + 1);
    d->hour = (int)(sod / 3600);
    d->min = (int)(sod / 60 % 60);
    d->sec = (int)(sod % 60);
    d->wday = (int)((days % 7 + 11) % 7); /* 1970-01-01 was a Thursday */
}

int64_t ah_date_floor(int64_t t, int64_t step)
{
    int64_t r = t % step;
    if (r < 0)
        r += step;
    return t - r;
}
