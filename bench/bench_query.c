/*
 * bench_query — one meter's 31 days of 15-minute reads (2,976 records) out
 * of a store of 10,000 meters x 31 days (29.8 M reads), written the way the
 * pipeline writes them: one batch per interval, all meters. Prints p50 and
 * p99 of 300 queries of random meters next to the goals (p50 <= 2 ms, p99
 * <= 10 ms) and, as the same-run ceiling, one point read of a single record
 * (the least a query can cost); last line: the JSON figures for make bench.
 *
 * BENCH_QUERY_METERS scales the store down for a quick look (default 10000).
 */
#include "ah_err.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { DAYS = 31, PER_DAY = 96, QUERIES = 300 };

static int count_read(void *ctx, uint32_t meter, const struct ah_read *r)
{
    (void)meter;
    (void)r;
    (*(size_t *)ctx)++;
    return 0;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

int main(void)
{
    uint32_t meters = 10000;
    const char *env = getenv("BENCH_QUERY_METERS");
    if (env && atoi(env) > 0)
        meters = (uint32_t)atoi(env);
    char dir[] = "/tmp/bench_query.XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    store_t *st = NULL;
    if (store_open(dir, NULL, &st) != AH_OK) {
        fprintf(stderr, "bench_query: store: %s\n", store_last_error(NULL));
        return 1;
    }
    const uint64_t t0 = 1741910400; /* 2025-03-14 00:00 UTC */
    struct ah_read rec;
    memset(&rec, 0, sizeof rec);
    rec.present = AH_READ_HAS_IMP_TOTAL | AH_READ_HAS_IMP_TARIFFS | AH_READ_HAS_EXP_TOTAL;
    rec.ct = rec.pt = 1;
    double w0 = now_ms();
    for (uint64_t k = 0; k < (uint64_t)DAYS * PER_DAY; k++) {
        uint64_t end = t0 + (k + 1) * 900;
        store_batch_begin(st);
        for (uint32_t m = 1; m <= meters; m++) {
            rec.imp_total = (int64_t)(k * 25 + m);
            rec.imp_tariff[0] = rec.imp_total / 2;
            rec.meter_clock_ms = rec.headend_clock_ms = (int64_t)end * 1000;
            rec.end = end;
            if (store_batch_put_read(st, m, &rec) != AH_OK)
                return 1;
        }
        if (store_batch_commit(st, false) != AH_OK)
            return 1;
    }
    double write_s = (now_ms() - w0) / 1e3;
    uint64_t n = (uint64_t)meters * DAYS * PER_DAY;
    printf("store: %u meters x %d days = %llu reads written in %.1f s (%.0f reads/s)\n",
           meters, DAYS, (unsigned long long)n, write_s, (double)n / write_s);

    double q[QUERIES], pt[QUERIES];
    srand(16);
    size_t bad = 0;
    for (int i = 0; i < QUERIES; i++) {
        uint32_t m = 1 + (uint32_t)rand() % meters;
        size_t got = 0;
        double a = now_ms();
        int rc = store_reads_each(st, m, t0, t0 + (uint64_t)(DAYS * PER_DAY + 1) * 900,
                                  count_read, &got);
        q[i] = now_ms() - a;
        bad += rc != AH_OK || got != (size_t)DAYS * PER_DAY;
        a = now_ms();
        struct ah_read one;
        rc = store_get_read(st, m, t0 + 900 * (1 + (uint64_t)(rand() % (DAYS * PER_DAY))),
                            &one);
        pt[i] = now_ms() - a;
        bad += rc != AH_OK;
    }
    qsort(q, QUERIES, sizeof *q, cmp_d);
    qsort(pt, QUERIES, sizeof *pt, cmp_d);
    double p50 = q[QUERIES / 2], p99 = q[QUERIES * 99 / 100];
    double c50 = pt[QUERIES / 2];
    printf(
        "query 31 days of one meter (%d records): p50 %.2f ms (goal <= 2), p99 %.2f ms "
        "(goal <= 10); ceiling: one point read p50 %.3f ms, ratio %.0f x%s\n",
        DAYS * PER_DAY, p50, p99, c50, p50 / (c50 > 0 ? c50 : 1e-9),
        bad ? " -- WRONG RESULTS" : "");
    printf(
        "{\"query_p50\": {\"value\": %.3f, \"unit\": \"ms\", \"goal\": \"<= 2\", \"ok\": "
        "%s}, \"query_p99\": {\"value\": %.3f, \"unit\": \"ms\", \"goal\": \"<= 10\", "
        "\"ok\": %s}, \"query_store_meters\": {\"value\": %u, \"unit\": \"meters\", "
        "\"goal\": \"10000\", \"ok\": %s}}\n",
        p50, p50 <= 2 && !bad ? "true" : "false", p99,
        p99 <= 10 && !bad ? "true" : "false", meters, meters >= 10000 ? "true" : "false");
    store_close(&st);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 && !bad ? 0 : 1;
}
