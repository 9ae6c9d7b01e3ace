/*
 * test_store — the RocksDB store against a real RocksDB in a fresh mkdtemp
 * directory per test: idempotent interval writes, atomic batches, time-ordered
 * iteration, the gap list, the meter registry and the outbox sequence across
 * reopen, retention, a newer schema refused, and kill -9 in the middle of
 * synced commits.
 *
 * Only the schema and corruption tests forge what a newer amihead or a
 * damaged disk would have left (ut_forge.h, RocksDB directly); everything
 * else goes through store.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ah_err.h"
#include "store.h"
#include "ut_forge.h"

/* Interval grid: 15 minutes; T0 = 2023-11-14 16:00:00 UTC (00:00 UTC+8). */
#define STEP 900ull
#define T0   1699977600ull

struct fx {
    char dir[64];
    store_t *s;
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/ah_store_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(store_open(f->dir, NULL, &f->s), AH_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    store_close(&f->s);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static void reopen(struct fx *f)
{
    store_close(&f->s);
    assert_null(f->s);
    assert_int_equal(store_open(f->dir, NULL, &f->s), AH_OK);
}

static struct ah_read rec_with(int64_t imp_total, uint8_t source)
{
    struct ah_read r;
    memset(&r, 0, sizeof r);
    r.source = source;
    r.present = AH_READ_HAS_IMP_TOTAL | AH_READ_HAS_VOLTAGE(0);
    r.ct = 1;
    r.pt = 1;
    r.imp_total = imp_total;
    r.voltage[0] = 2201;
    r.headend_clock_ms = 1;
    return r;
}

/* The read r at interval end: the read carries its end, which is the key. */
static int put_read_at(store_t *s, uint32_t meter, uint64_t end, struct ah_read *r)
{
    r->end = end;
    return store_batch_put_read(s, meter, r);
}

static void put_commit(store_t *s, uint32_t meter, uint64_t end, int64_t imp)
{
    struct ah_read r = rec_with(imp, AH_READ_LIVE);
    store_batch_begin(s);
    assert_int_equal(put_read_at(s, meter, end, &r), AH_OK);
    assert_int_equal(store_batch_commit(s, false), AH_OK);
}

/* ---- collected reads -------------------------------------------------- */

struct seen {
    size_t n;
    uint32_t meter[256];
    uint64_t end[256];
    int64_t imp[256];
};

static int collect(void *ctx, uint32_t meter, const struct ah_read *rec)
{
    struct seen *sn = ctx;
    if (sn->n >= 256)
        return AH_EOVERFLOW;
    sn->meter[sn->n] = meter;
    sn->end[sn->n] = rec->end;
    sn->imp[sn->n] = rec->imp_total;
    sn->n++;
    return 0;
}

static void test_open_missing_without_create(void **state)
{
    struct fx *f = *state;
    char path[128];
    snprintf(path, sizeof path, "%s/none", f->dir);
    struct store_opts o = {.no_create = true};
    store_t *s = (store_t *)1;
    assert_int_equal(store_open(path, &o, &s), AH_ENOENT);
    assert_null(s);
    assert_true(strlen(store_last_error(NULL)) > 0);
}

static void test_read_round_trip(void **state)
{
    struct fx *f = *state;
    struct ah_read r = rec_with(1234567, AH_READ_BACKFILL), back;
    r.quality = 0x12;
    r.ct = 40;
    r.pt = 100;
    store_batch_begin(f->s);
    assert_int_equal(put_read_at(f->s, 3, T0 + STEP, &r), AH_OK);
    assert_int_equal(store_batch_count(f->s), 1);
    assert_int_equal(store_batch_commit(f->s, true), AH_OK);
    assert_int_equal(store_batch_count(f->s), 0);

    reopen(f);
    assert_int_equal(store_get_read(f->s, 3, T0 + STEP, &back), AH_OK);
    assert_true(back.imp_total == 1234567);
    assert_int_equal(back.source, AH_READ_BACKFILL);
    assert_int_equal(back.quality, 0x12);
    assert_int_equal(back.ct, 40);
    assert_int_equal(back.pt, 100);
    assert_int_equal(back.voltage[0], 2201);
    assert_true(store_has_read(f->s, 3, T0 + STEP));
    assert_false(store_has_read(f->s, 3, T0));
    assert_false(store_has_read(f->s, 4, T0 + STEP));
    assert_int_equal(store_get_read(f->s, 3, T0, &back), AH_ENOENT);
}

/* The same meter + interval written twice (a live read, then the backfill of
 * the same interval after a retry) is one key holding the last value. */
static void test_same_interval_twice_is_one_read(void **state)
{
    struct fx *f = *state;
    put_commit(f->s, 9, T0 + STEP, 100);
    put_commit(f->s, 9, T0 + STEP, 101);

    /* and twice inside one batch */
    struct ah_read a = rec_with(200, AH_READ_LIVE), b = rec_with(201, AH_READ_RELEASED);
    store_batch_begin(f->s);
    assert_int_equal(put_read_at(f->s, 9, T0 + 2 * STEP, &a), AH_OK);
    assert_int_equal(put_read_at(f->s, 9, T0 + 2 * STEP, &b), AH_OK);
    assert_int_equal(store_batch_commit(f->s, false), AH_OK);

    struct seen sn = {0};
    assert_int_equal(store_reads_each(f->s, 9, 0, UINT64_MAX, collect, &sn), AH_OK);
    assert_int_equal(sn.n, 2);
    assert_true(sn.imp[0] == 101);
    assert_true(sn.imp[1] == 201);
    struct ah_read back;
    assert_int_equal(store_get_read(f->s, 9, T0 + 2 * STEP, &back), AH_OK);
    assert_int_equal(back.source, AH_READ_RELEASED);
}

/* A batch is all or nothing: nothing is visible before commit, a batch
 * dropped by begin or close never appears, everything appears at commit. */
static void test_batch_atomicity(void **state)
{
    struct fx *f = *state;
    struct ah_read r = rec_with(5, AH_READ_LIVE);
    char msg[] = "{\"seq\":1}";

    store_batch_begin(f->s);
    assert_int_equal(put_read_at(f->s, 1, T0, &r), AH_OK);
    assert_int_equal(store_batch_put_outbox(f->s, 1, msg, strlen(msg)), AH_OK);
    assert_int_equal(store_batch_put_event(f->s, T0, 1, 7, "ev", 2), AH_OK);
    assert_int_equal(store_batch_put_meter_state(f->s, 1, "st", 2), AH_OK);
    assert_int_equal(store_batch_count(f->s), 4);
    assert_false(store_has_read(f->s, 1, T0));
    size_t len;
    assert_int_equal(store_outbox_get(f->s, 1, NULL, 0, &len), AH_ENOENT);
    store_batch_begin(f->s); /* dropped */
    assert_int_equal(store_batch_commit(f->s, true), AH_OK);
    assert_false(store_has_read(f->s, 1, T0));
    assert_int_equal(store_next_seq(f->s), 1);

    store_batch_begin(f->s);
    assert_int_equal(put_read_at(f->s, 1, T0, &r), AH_OK);
    assert_int_equal(store_batch_put_outbox(f->s, 1, msg, strlen(msg)), AH_OK);
    reopen(f); /* closed with the batch open: dropped */
    assert_false(store_has_read(f->s, 1, T0));
    assert_int_equal(store_outbox_get(f->s, 1, NULL, 0, &len), AH_ENOENT);

    store_batch_begin(f->s);
    assert_int_equal(put_read_at(f->s, 1, T0, &r), AH_OK);
    assert_int_equal(store_batch_put_outbox(f->s, 1, msg, strlen(msg)), AH_OK);
    assert_int_equal(store_batch_put_event(f->s, T0, 1, 7, "ev", 2), AH_OK);
    assert_int_equal(store_batch_put_meter_state(f->s, 1, "st", 2), AH_OK);
    assert_int_equal(store_batch_commit(f->s, true), AH_OK);
    reopen(f);
    assert_true(store_has_read(f->s, 1, T0));
    char buf[32];
    assert_int_equal(store_outbox_get(f->s, 1, buf, sizeof buf, &len), AH_OK);
    assert_int_equal(len, strlen(msg));
    assert_memory_equal(buf, msg, len);
    assert_int_equal(store_get_meter_state(f->s, 1, buf, sizeof buf, &len), AH_OK);
    assert_int_equal(len, 2);
    assert_memory_equal(buf, "st", 2);
    assert_int_equal(store_get_meter_state(f->s, 2, buf, sizeof buf, &len), AH_ENOENT);
}

/* Written out of order and across byte boundaries of the key, read back in
 * time order; neighbouring meters do not leak into the range. */
static void test_reads_iterate_in_time_order(void **state)
{
    struct fx *f = *state;
    static const uint64_t ends[] = {T0 + 3 * STEP, 256, T0, 255, 1ull << 32, T0 + STEP};
    for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++)
        put_commit(f->s, 1, ends[i], (int64_t)i);
    put_commit(f->s, 0, T0, 1000);   /* meter before */
    put_commit(f->s, 2, 0, 1001);    /* meter after */
    put_commit(f->s, 256, T0, 1002); /* would sort inside meter 1 little endian */

    struct seen sn = {0};
    assert_int_equal(store_reads_each(f->s, 1, 0, UINT64_MAX, collect, &sn), AH_OK);
    static const uint64_t want[] = {255, 256, T0, T0 + STEP, T0 + 3 * STEP, 1ull << 32};
    assert_int_equal(sn.n, 6);
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(sn.meter[i], 1);
        assert_true(sn.end[i] == want[i]);
    }

    /* [from, to): from included, to excluded */
    memset(&sn, 0, sizeof sn);
    assert_int_equal(store_reads_each(f->s, 1, T0, T0 + 3 * STEP, collect, &sn), AH_OK);
    assert_int_equal(sn.n, 2);
    assert_true(sn.end[0] == T0 && sn.end[1] == T0 + STEP);
}

static int stop_after_two(void *ctx, uint32_t meter, const struct ah_read *r)
{
    (void)meter;
    (void)r;
    int *n = ctx;
    return ++*n == 2 ? 42 : 0;
}

static void test_reads_each_stops_on_callback(void **state)
{
    struct fx *f = *state;
    for (uint64_t i = 0; i < 5; i++)
        put_commit(f->s, 4, T0 + i * STEP, 1);
    int n = 0;
    assert_int_equal(store_reads_each(f->s, 4, 0, UINT64_MAX, stop_after_two, &n), 42);
    assert_int_equal(n, 2);
}

/* One day of 96 intervals with the 03:00-04:00 hour lost (concentrator
 * offline), the last interval missing, and a stray read off the grid. */
static void test_gap_list(void **state)
{
    struct fx *f = *state;
    const uint64_t day = T0 + 96 * STEP;
    store_batch_begin(f->s);
    for (uint64_t i = 0; i < 96; i++) {
        if ((i >= 12 && i < 16) || i == 95)
            continue;
        struct ah_read r = rec_with((int64_t)i, AH_READ_LIVE);
        assert_int_equal(put_read_at(f->s, 5, T0 + i * STEP, &r), AH_OK);
    }
    struct ah_read odd = rec_with(0, AH_READ_LIVE);
    assert_int_equal(put_read_at(f->s, 5, T0 + 12 * STEP + 7, &odd), AH_OK);
    assert_int_equal(store_batch_commit(f->s, false), AH_OK);

    uint64_t gaps[16];
    size_t n = 99;
    assert_int_equal(store_missing_intervals(f->s, 5, T0, day, STEP, gaps, 16, &n),
                     AH_OK);
    assert_int_equal(n, 5);
    for (size_t i = 0; i < 4; i++)
        assert_true(gaps[i] == T0 + (12 + i) * STEP);
    assert_true(gaps[4] == T0 + 95 * STEP);

    /* out[] smaller than the gap list: first ones written, total counted */
    memset(gaps, 0, sizeof gaps);
    assert_int_equal(store_missing_intervals(f->s, 5, T0, day, STEP, gaps, 2, &n), AH_OK);
    assert_int_equal(n, 5);
    assert_true(gaps[0] == T0 + 12 * STEP && gaps[1] == T0 + 13 * STEP);
    assert_true(gaps[2] == 0);

    /* from off the grid starts at the next interval end; to is excluded */
    assert_int_equal(store_missing_intervals(f->s, 5, T0 + 11 * STEP + 1, T0 + 15 * STEP,
                                             STEP, gaps, 16, &n),
                     AH_OK);
    assert_int_equal(n, 3);
    assert_true(gaps[0] == T0 + 12 * STEP && gaps[2] == T0 + 14 * STEP);

    /* a meter with nothing stored misses the whole window */
    assert_int_equal(store_missing_intervals(f->s, 6, T0, day, STEP, gaps, 16, &n),
                     AH_OK);
    assert_int_equal(n, 96);
    assert_true(gaps[15] == T0 + 15 * STEP);
    /* complete window, empty window, bad step */
    assert_int_equal(
        store_missing_intervals(f->s, 5, T0, T0 + 12 * STEP, STEP, gaps, 16, &n), AH_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_missing_intervals(f->s, 5, T0, T0, STEP, gaps, 16, &n), AH_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_missing_intervals(f->s, 5, T0, day, 0, gaps, 16, &n),
                     AH_EINVAL);
}

struct idlist {
    size_t n;
    uint32_t idx[8];
    char id[8][STORE_METER_ID_MAX + 1];
};

static int collect_meter(void *ctx, uint32_t idx, const char *id)
{
    struct idlist *l = ctx;
    if (l->n >= 8)
        return AH_EOVERFLOW;
    l->idx[l->n] = idx;
    snprintf(l->id[l->n], sizeof l->id[0], "%s", id);
    l->n++;
    return 0;
}

static void test_meter_registry_persists(void **state)
{
    struct fx *f = *state;
    uint32_t a, b, again, c;
    assert_int_equal(store_meter_index(f->s, "123456789012", false, &a), AH_ENOENT);
    assert_int_equal(store_meter_index(f->s, "123456789012", true, &a), AH_OK);
    assert_int_equal(store_meter_index(f->s, "210987654321", true, &b), AH_OK);
    assert_int_equal(a, 1);
    assert_int_equal(b, 2);
    assert_int_equal(store_meter_index(f->s, "123456789012", true, &again), AH_OK);
    assert_int_equal(again, a);
    assert_int_equal(store_meter_index(f->s, "", true, &c), AH_EINVAL);

    reopen(f);
    assert_int_equal(store_meter_index(f->s, "210987654321", false, &again), AH_OK);
    assert_int_equal(again, b);
    assert_int_equal(store_meter_index(f->s, "mb-unit-17@rtu0", true, &c), AH_OK);
    assert_int_equal(c, 3);
    char id[STORE_METER_ID_MAX + 1];
    assert_int_equal(store_meter_id(f->s, 1, id, sizeof id), AH_OK);
    assert_string_equal(id, "123456789012");
    assert_int_equal(store_meter_id(f->s, 1, id, 5), AH_EOVERFLOW);
    assert_int_equal(store_meter_id(f->s, 4, id, sizeof id), AH_ENOENT);

    struct idlist l = {0};
    assert_int_equal(store_meters_each(f->s, collect_meter, &l), AH_OK);
    assert_int_equal(l.n, 3);
    assert_int_equal(l.idx[2], 3);
    assert_string_equal(l.id[2], "mb-unit-17@rtu0");
}

/* store_meters_register: known ids keep their index, new ones are numbered
 * in the order given after the last, all durable at once; a repeated new id
 * is refused with nothing written. 70,000 ids: more than one run's chunk. */
static void test_meters_register_batch(void **state)
{
    struct fx *f = *state;
    enum { N = 70000 };
    uint32_t known;
    assert_int_equal(store_meter_index(f->s, "m000005", true, &known), AH_OK);
    assert_int_equal(known, 1);
    char(*names)[16] = malloc(N * sizeof *names);
    const char **ids = malloc(N * sizeof *ids);
    uint32_t *idx = malloc(N * sizeof *idx);
    assert_non_null(names);
    assert_non_null(ids);
    assert_non_null(idx);
    for (size_t i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "m%06zu", i);
        ids[i] = names[i];
    }
    assert_int_equal(store_meters_register(f->s, ids, N, idx), AH_OK);
    assert_int_equal(idx[5], known);
    assert_int_equal(idx[0], 2);
    assert_int_equal(idx[6], 7);
    assert_int_equal(idx[N - 1], N);

    /* a repeat among new ids: refused, nothing registered */
    const char *dup[3] = {"new-a", "new-b", "new-a"};
    uint32_t didx[3];
    assert_int_equal(store_meters_register(f->s, dup, 3, didx), AH_EINVAL);
    uint32_t x;
    assert_int_equal(store_meter_index(f->s, "new-a", false, &x), AH_ENOENT);
    const char *bad[1] = {""};
    assert_int_equal(store_meters_register(f->s, bad, 1, didx), AH_EINVAL);

    reopen(f);
    for (size_t i = 0; i < N; i += 997) {
        assert_int_equal(store_meter_index(f->s, ids[i], false, &x), AH_OK);
        assert_int_equal(x, idx[i]);
        char id[STORE_METER_ID_MAX + 1];
        assert_int_equal(store_meter_id(f->s, idx[i], id, sizeof id), AH_OK);
        assert_string_equal(id, ids[i]);
    }
    /* the count continues after the batch */
    assert_int_equal(store_meter_index(f->s, "after", true, &x), AH_OK);
    assert_int_equal(x, N + 1);
    free(idx);
    free(ids);
    free(names);
}

struct seqs {
    size_t n;
    uint64_t seq[64];
};

static int collect_seq(void *ctx, uint64_t seq, const uint8_t *b, size_t len)
{
    struct seqs *q = ctx;
    char want[32];
    snprintf(want, sizeof want, "msg %llu", (unsigned long long)seq);
    if (len != strlen(want) || memcmp(b, want, len) != 0)
        return AH_EFRAME;
    if (q->n >= 64)
        return AH_EOVERFLOW;
    q->seq[q->n++] = seq;
    return 0;
}

static void put_msgs(store_t *s, uint64_t from, uint64_t to)
{
    store_batch_begin(s);
    for (uint64_t q = from; q < to; q++) {
        char m[32];
        snprintf(m, sizeof m, "msg %llu", (unsigned long long)q);
        assert_int_equal(store_batch_put_outbox(s, q, m, strlen(m)), AH_OK);
    }
    assert_int_equal(store_batch_commit(s, true), AH_OK);
}

static void test_next_seq_resumes_after_reopen(void **state)
{
    struct fx *f = *state;
    assert_int_equal(store_next_seq(f->s), 1);
    assert_int_equal(store_outbox_first_seq(f->s), 1);
    put_msgs(f->s, 1, 6);
    assert_int_equal(store_next_seq(f->s), 6);
    reopen(f);
    assert_int_equal(store_next_seq(f->s), 6);
    assert_int_equal(store_outbox_first_seq(f->s), 1);

    struct seqs q = {0};
    assert_int_equal(store_outbox_each(f->s, 2, 5, collect_seq, &q), AH_OK);
    assert_int_equal(q.n, 3);
    assert_true(q.seq[0] == 2 && q.seq[2] == 4);
    char small[4];
    size_t len;
    assert_int_equal(store_outbox_get(f->s, 3, small, sizeof small, &len), AH_EOVERFLOW);
    assert_int_equal(len, 5);

    /* retention empties the outbox: the count goes on from 6, not 1 */
    assert_int_equal(store_delete_outbox_before(f->s, 6), AH_OK);
    memset(&q, 0, sizeof q);
    assert_int_equal(store_outbox_each(f->s, 0, UINT64_MAX, collect_seq, &q), AH_OK);
    assert_int_equal(q.n, 0);
    reopen(f);
    assert_int_equal(store_next_seq(f->s), 6);
    assert_int_equal(store_outbox_first_seq(f->s), 6);
    put_msgs(f->s, 6, 8);
    reopen(f);
    assert_int_equal(store_next_seq(f->s), 8);
    assert_int_equal(store_outbox_first_seq(f->s), 6);
}

static void test_retention(void **state)
{
    struct fx *f = *state;
    for (uint32_t m = 1; m <= 3; m++)
        for (uint64_t i = 0; i < 4; i++)
            put_commit(f->s, m, T0 + i * STEP, 1);
    put_commit(f->s, UINT32_MAX, T0, 1);
    assert_int_equal(store_delete_reads_before(f->s, T0 + 2 * STEP), AH_OK);
    for (uint32_t m = 1; m <= 3; m++) {
        assert_false(store_has_read(f->s, m, T0));
        assert_false(store_has_read(f->s, m, T0 + STEP));
        assert_true(store_has_read(f->s, m, T0 + 2 * STEP));
        assert_true(store_has_read(f->s, m, T0 + 3 * STEP));
    }
    assert_false(store_has_read(f->s, UINT32_MAX, T0));

    store_batch_begin(f->s);
    assert_int_equal(store_batch_put_event(f->s, T0, 1, 1, "old", 3), AH_OK);
    assert_int_equal(store_batch_put_event(f->s, T0 + STEP, 2, 1, "new", 3), AH_OK);
    assert_int_equal(store_batch_commit(f->s, false), AH_OK);
    assert_int_equal(store_delete_events_before(f->s, T0 + STEP), AH_OK);
    put_msgs(f->s, 1, 4);
    assert_int_equal(store_delete_outbox_before(f->s, 3), AH_OK);
    assert_int_equal(store_outbox_first_seq(f->s), 3);
    assert_int_equal(store_next_seq(f->s), 4);
}

struct evs {
    size_t n;
    uint32_t meter[4];
};

static int collect_ev(void *ctx, uint64_t t, uint32_t meter, uint16_t type,
                      const uint8_t *b, size_t len)
{
    (void)t;
    (void)type;
    (void)b;
    (void)len;
    struct evs *e = ctx;
    if (e->n >= 4)
        return AH_EOVERFLOW;
    e->meter[e->n++] = meter;
    return 0;
}

static void test_events_in_time_order(void **state)
{
    struct fx *f = *state;
    store_batch_begin(f->s);
    assert_int_equal(store_batch_put_event(f->s, T0 + STEP, 1, 3, "b", 1), AH_OK);
    assert_int_equal(store_batch_put_event(f->s, T0, 300, 3, "a", 1), AH_OK);
    assert_int_equal(store_batch_put_event(f->s, T0 + 2 * STEP, 2, 3, "c", 1), AH_OK);
    assert_int_equal(store_batch_commit(f->s, false), AH_OK);
    struct evs e = {0};
    assert_int_equal(store_events_each(f->s, T0, T0 + 2 * STEP, collect_ev, &e), AH_OK);
    assert_int_equal(e.n, 2);
    assert_int_equal(e.meter[0], 300);
    assert_int_equal(e.meter[1], 1);
}

/* A batch's messages are one chunk row: read, iterated and cut by
 * retention message by message, and the sequence resumes after its last. */
static void test_outbox_chunks(void **state)
{
    struct fx *f = *state;
    put_msgs(f->s, 1, 11);
    put_msgs(f->s, 11, 13);
    reopen(f);
    assert_int_equal(store_next_seq(f->s), 13);
    char buf[32];
    size_t len = 0;
    assert_int_equal(store_outbox_get(f->s, 5, buf, sizeof buf, &len), AH_OK);
    assert_true(len == 5 && !memcmp(buf, "msg 5", 5));
    assert_int_equal(store_outbox_get(f->s, 12, buf, sizeof buf, &len), AH_OK);
    assert_int_equal(store_outbox_get(f->s, 13, buf, sizeof buf, &len), AH_ENOENT);
    struct seqs q = {0};
    assert_int_equal(store_outbox_each(f->s, 9, 12, collect_seq, &q), AH_OK);
    assert_int_equal(q.n, 3);
    assert_true(q.seq[0] == 9 && q.seq[1] == 10 && q.seq[2] == 11);
    /* retention inside the first chunk keeps 4..10 */
    assert_int_equal(store_delete_outbox_before(f->s, 4), AH_OK);
    assert_int_equal(store_outbox_first_seq(f->s), 4);
    memset(&q, 0, sizeof q);
    assert_int_equal(store_outbox_each(f->s, 0, UINT64_MAX, collect_seq, &q), AH_OK);
    assert_int_equal(q.n, 9);
    assert_true(q.seq[0] == 4 && q.seq[8] == 12);
    assert_int_equal(store_outbox_get(f->s, 3, buf, sizeof buf, &len), AH_ENOENT);
    reopen(f);
    assert_int_equal(store_next_seq(f->s), 13);
    assert_int_equal(store_outbox_first_seq(f->s), 4);
}

/* Issue 15: the failure text is the calling thread's own. Two threads
 * failing on one store at once (the writer's commit, a retention delete)
 * each read back their own words, never the other's or a torn mix. */
struct err_worker {
    store_t *s;
    bool commit;
    int wrong;
};

static void *err_work(void *arg)
{
    struct err_worker *w = arg;
    const char *want = w->commit ? "commit batch:" : "delete old events:";
    for (int i = 0; i < 20000; i++) {
        int rc = w->commit ? store_batch_commit(w->s, false)
                           : store_delete_events_before(w->s, 1);
        const char *why = store_last_error(w->s);
        if (rc != AH_ENOTSUP || strncmp(why, want, strlen(want)) != 0 ||
            !strstr(why, "read-only"))
            w->wrong++;
    }
    return NULL;
}

static void test_last_error_per_thread(void **state)
{
    struct fx *f = *state;
    struct store_opts ro = {.read_only = true};
    store_t *s = NULL;
    assert_int_equal(store_open(f->dir, &ro, &s), AH_OK);
    struct err_worker a = {s, true, 0}, b = {s, false, 0};
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, err_work, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, err_work, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(a.wrong, 0);
    assert_int_equal(b.wrong, 0);
    assert_string_equal(store_last_error(s), ""); /* this thread failed nothing */
    store_close(&s);
}

static void test_newer_schema_refused(void **state)
{
    struct fx *f = *state;
    put_commit(f->s, 1, T0, 1);
    store_close(&f->s);
    const uint8_t v3[4] = {0, 0, 0, STORE_SCHEMA_VERSION + 1};
    ut_forge(f->dir, "meta", "schema", 6, v3, sizeof v3);
    store_t *s = NULL;
    assert_int_equal(store_open(f->dir, NULL, &s), AH_ENOTSUP);
    assert_null(s);
    const char *why = store_last_error(NULL);
    assert_non_null(strstr(why, "schema version 3"));
    assert_non_null(strstr(why, "newer"));
    struct store_opts ro = {.read_only = true};
    assert_int_equal(store_open(f->dir, &ro, &s), AH_ENOTSUP);

    const uint8_t v1[4] = {0, 0, 0, 1};
    ut_forge(f->dir, "meta", "schema", 6, v1, sizeof v1);
    assert_int_equal(store_open(f->dir, NULL, &f->s), AH_OK);
    assert_true(store_has_read(f->s, 1, T0));
}

static void test_damaged_record_reported(void **state)
{
    struct fx *f = *state;
    store_close(&f->s);
    uint8_t k[STORE_REC_READ_KEY_LEN];
    store_rec_read_key(k, 1, T0);
    ut_forge(f->dir, "reads", k, sizeof k, "\x01\x00\x00", 3);
    assert_int_equal(store_open(f->dir, NULL, &f->s), AH_OK);
    struct ah_read r;
    assert_int_equal(store_get_read(f->s, 1, T0, &r), AH_EFRAME);
    struct seen sn = {0};
    assert_int_equal(store_reads_each(f->s, 1, 0, UINT64_MAX, collect, &sn), AH_EFRAME);
}

/* `amihead query` beside a running head-end: read-only open sees what was
 * committed and cannot write; a second writer is refused as busy. */
static void test_read_only_beside_writer(void **state)
{
    struct fx *f = *state;
    put_commit(f->s, 1, T0, 77);
    store_t *w2 = NULL, *ro = NULL;
    assert_int_equal(store_open(f->dir, NULL, &w2), AH_EBUSY);
    assert_null(w2);
    struct store_opts o = {.read_only = true};
    assert_int_equal(store_open(f->dir, &o, &ro), AH_OK);
    struct ah_read r;
    assert_int_equal(store_get_read(ro, 1, T0, &r), AH_OK);
    assert_true(r.imp_total == 77);
    store_batch_begin(ro);
    assert_int_equal(put_read_at(ro, 1, T0 + STEP, &r), AH_OK);
    assert_int_equal(store_batch_commit(ro, true), AH_ENOTSUP);
    store_close(&ro);
    assert_null(ro);
}

static void test_headend_id_kept(void **state)
{
    struct fx *f = *state;
    assert_string_equal(store_headend_id(f->s), "");
    store_close(&f->s);
    struct store_opts o = {.headend_id = "gd-sz-he01"};
    assert_int_equal(store_open(f->dir, &o, &f->s), AH_OK);
    assert_string_equal(store_headend_id(f->s), "gd-sz-he01");
    reopen(f);
    assert_string_equal(store_headend_id(f->s), "gd-sz-he01");
}

/* A meter's learned load-record batch size survives a restart, apart from
 * its validation state (issue 16 item 2). */
static void test_lr_blocks_kept(void **state)
{
    struct fx *f = *state;
    uint8_t n = 0;
    assert_int_equal(store_get_meter_lr_blocks(f->s, 7, &n), AH_ENOENT);
    assert_int_equal(store_batch_put_meter_lr_blocks(f->s, 7, 0), AH_EINVAL);
    assert_int_equal(store_batch_put_meter_lr_blocks(f->s, 7, 3), AH_OK);
    assert_int_equal(store_batch_put_meter_state(f->s, 7, "x", 1), AH_OK);
    assert_int_equal(store_batch_commit(f->s, true), AH_OK);
    reopen(f);
    assert_int_equal(store_get_meter_lr_blocks(f->s, 7, &n), AH_OK);
    assert_int_equal(n, 3);
    assert_int_equal(store_get_meter_lr_blocks(f->s, 8, &n), AH_ENOENT);
    char buf[4];
    size_t len = 0;
    assert_int_equal(store_get_meter_state(f->s, 7, buf, sizeof buf, &len), AH_OK);
    assert_int_equal(len, 1);
}

/* Status texts as RocksDB 7.8 prints them. */
static void test_rocksdb_errors_translated(void **state)
{
    (void)state;
    assert_int_equal(
        store_err_from_rocksdb("IO error: No space left on device: While "
                               "appending to file: /var/lib/amihead/000012.log: "
                               "No space left on device"),
        AH_ENOSPC);
    assert_int_equal(
        store_err_from_rocksdb("Corruption: block checksum mismatch: stored = "
                               "1, computed = 2 in /x/000007.sst offset 0"),
        AH_ESTORE);
    assert_int_equal(
        store_err_from_rocksdb("IO error: While lock file: /x/LOCK: Resource "
                               "temporarily unavailable"),
        AH_EBUSY);
    assert_int_equal(
        store_err_from_rocksdb("Invalid argument: /x/CURRENT: does not exist "
                               "(create_if_missing is false)"),
        AH_ENOENT);
    assert_int_equal(store_err_from_rocksdb("IO error: Input/output error"), AH_EIO);
    assert_int_equal(
        store_err_from_rocksdb("Invalid argument: Column family not found: x"),
        AH_ESTORE);
    assert_int_equal(store_err_from_rocksdb(NULL), AH_OK);
}

/* ---- kill -9 in the middle of synced commits -------------------------- */

#define CRASH_METERS 4

/* The writer's unit of work as the pipeline does it: one interval of four
 * meters plus the outbox message announcing it, in one batch. */
static void crash_child(const char *dir, int fd, uint64_t first)
{
    store_t *s = NULL;
    if (store_open(dir, NULL, &s) != AH_OK)
        _exit(3);
    if (store_next_seq(s) != first)
        _exit(4);
    char pad[2048];
    memset(pad, 'x', sizeof pad);
    for (uint64_t seq = first;; seq++) {
        store_batch_begin(s);
        for (uint32_t m = 1; m <= CRASH_METERS; m++) {
            struct ah_read r = rec_with((int64_t)seq, AH_READ_LIVE);
            if (put_read_at(s, m, T0 + seq * STEP, &r) != AH_OK)
                _exit(5);
        }
        /* a large message makes torn batches likely at the kill */
        char msg[2100];
        int n = snprintf(msg, sizeof msg, "msg %llu %.*s", (unsigned long long)seq, 2000,
                         pad);
        if (store_batch_put_outbox(s, seq, msg, (size_t)n) != AH_OK)
            _exit(6);
        if (store_batch_commit(s, true) != AH_OK)
            _exit(7);
        if (write(fd, &seq, sizeof seq) != (ssize_t)sizeof seq)
            _exit(8);
    }
}

struct crash_check {
    store_t *s;
    uint64_t n, last;
    int bad;
};

static int check_outbox(void *ctx, uint64_t seq, const uint8_t *b, size_t len)
{
    struct crash_check *c = ctx;
    char head[32];
    int hn = snprintf(head, sizeof head, "msg %llu ", (unsigned long long)seq);
    if (len != (size_t)hn + 2000 || memcmp(b, head, (size_t)hn) != 0)
        c->bad++;
    for (uint32_t m = 1; m <= CRASH_METERS; m++)
        if (!store_has_read(c->s, m, T0 + seq * STEP))
            c->bad++; /* outbox entry without its reads */
    if (seq != c->last + 1)
        c->bad++; /* a hole in the committed sequence */
    c->last = seq;
    c->n++;
    return 0;
}

static int check_read(void *ctx, uint32_t meter, const struct ah_read *r)
{
    (void)meter;
    struct crash_check *c = ctx;
    uint64_t seq = (r->end - T0) / STEP;
    size_t len;
    if (r->imp_total != (int64_t)seq ||
        store_outbox_get(c->s, seq, NULL, 0, &len) != AH_EOVERFLOW)
        c->bad++; /* read without its outbox entry */
    c->n++;
    return 0;
}

static void test_kill9_loses_no_committed_batch(void **state)
{
    struct fx *f = *state;
    store_close(&f->s);
    uint64_t committed = 0; /* highest seq any child reported */

    for (int round = 0; round < 3; round++) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            crash_child(f->dir, p[1], committed + 1);
        }
        close(p[1]);
        /* let it commit a varying number of batches, then kill it without
         * waiting for the commit in flight */
        uint64_t got = 0, want = 20 + 15 * (uint64_t)round;
        uint64_t seq;
        while (got < want && read(p[0], &seq, sizeof seq) == (ssize_t)sizeof seq) {
            assert_true(seq == committed + 1);
            committed = seq;
            got++;
        }
        kill(pid, SIGKILL);
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
        /* reports written before the kill landed are committed too */
        while (read(p[0], &seq, sizeof seq) == (ssize_t)sizeof seq) {
            assert_true(seq == committed + 1);
            committed = seq;
        }
        close(p[0]);
        assert_true(got == want);

        assert_int_equal(store_open(f->dir, NULL, &f->s), AH_OK);
        struct crash_check c = {.s = f->s};
        assert_int_equal(store_outbox_each(f->s, 0, UINT64_MAX, check_outbox, &c), AH_OK);
        assert_int_equal(c.bad, 0);
        /* every reported batch is there; at most the one in flight beyond */
        assert_true(c.last >= committed && c.last <= committed + 1);
        committed = c.last;
        uint64_t n_out = c.n;
        for (uint32_t m = 1; m <= CRASH_METERS; m++) {
            struct crash_check r = {.s = f->s};
            assert_int_equal(store_reads_each(f->s, m, 0, UINT64_MAX, check_read, &r),
                             AH_OK);
            assert_int_equal(r.bad, 0);
            assert_true(r.n == n_out);
        }
        assert_true(store_next_seq(f->s) == committed + 1);
        store_close(&f->s);
    }
    assert_int_equal(store_open(f->dir, NULL, &f->s), AH_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_missing_without_create, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_read_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_interval_twice_is_one_read, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_batch_atomicity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reads_iterate_in_time_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reads_each_stops_on_callback, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_gap_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_meter_registry_persists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_next_seq_resumes_after_reopen, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_in_time_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_chunks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_last_error_per_thread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_record_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_only_beside_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_headend_id_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lr_blocks_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_meters_register_batch, setup, teardown),
        cmocka_unit_test(test_rocksdb_errors_translated),
        cmocka_unit_test_setup_teardown(test_kill9_loses_no_committed_batch, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
