/*
 * store_reads — the read side of the reads and events families (store.h
 * "reads", "events"): point lookups, iteration, the gap list the scheduler
 * asks for, and retention's range deletes. Safe from any thread: queries
 * see committed batches only.
 */
#include "store_int.h"

#include "ah_err.h"

#include <rocksdb/c.h>

#include <stdlib.h>

/* ---- reads ------------------------------------------------------------ */

int store_get_read(store_t *s, uint32_t meter, uint64_t end, struct ah_read *out)
{
    uint8_t k[STORE_REC_READ_KEY_LEN];
    store_rec_read_key(k, meter, end);
    rocksdb_pinnableslice_t *ps;
    int rc = store_get_pinned(s, CF_READS, k, sizeof k, &ps);
    if (rc != AH_OK)
        return rc;
    size_t vlen;
    const char *v = rocksdb_pinnableslice_value(ps, &vlen);
    rc = store_rec_decode((const uint8_t *)v, vlen, out);
    out->end = end;
    rocksdb_pinnableslice_destroy(ps);
    return rc;
}

bool store_has_read(store_t *s, uint32_t meter, uint64_t end)
{
    uint8_t k[STORE_REC_READ_KEY_LEN];
    store_rec_read_key(k, meter, end);
    rocksdb_pinnableslice_t *ps;
    if (store_get_pinned(s, CF_READS, k, sizeof k, &ps) != AH_OK)
        return false;
    rocksdb_pinnableslice_destroy(ps);
    return true;
}

struct reads_ctx {
    store_read_fn fn;
    void *ctx;
};

static int reads_visit(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v,
                       size_t vlen)
{
    struct reads_ctx *rc = ctx;
    uint32_t meter;
    uint64_t end;
    struct ah_read rec;
    int e = store_rec_read_key_parse(k, klen, &meter, &end);
    if (e == AH_OK)
        e = store_rec_decode(v, vlen, &rec);
    if (e != AH_OK)
        return e;
    rec.end = end;
    return rc->fn(rc->ctx, meter, &rec);
}

int store_reads_each(store_t *s, uint32_t meter, uint64_t from, uint64_t to,
                     store_read_fn fn, void *ctx)
{
    if (!fn)
        return AH_EINVAL;
    if (from >= to)
        return AH_OK;
    uint8_t lo[STORE_REC_READ_KEY_LEN], hi[STORE_REC_READ_KEY_LEN];
    store_rec_read_key(lo, meter, from);
    store_rec_read_key(hi, meter, to);
    struct reads_ctx rc = {fn, ctx};
    return store_scan(s, CF_READS, lo, sizeof lo, hi, sizeof hi, reads_visit, &rc);
}

struct gap_ctx {
    uint64_t next; /* next expected interval end not yet accounted for */
    uint64_t step;
    bool done; /* next would pass UINT64_MAX */
    uint64_t *out;
    size_t max;
    size_t n;
};

/* Account for the missing ends next, next+step, ... below end. */
static void gap_add_until(struct gap_ctx *g, uint64_t end)
{
    if (g->done || end <= g->next)
        return;
    uint64_t count = (end - g->next + g->step - 1) / g->step;
    for (uint64_t i = 0; i < count && g->n + i < g->max; i++)
        g->out[g->n + i] = g->next + i * g->step;
    g->n += (size_t)count;
    uint64_t adv = count * g->step;
    if (UINT64_MAX - g->next < adv)
        g->done = true;
    else
        g->next += adv;
}

static int gap_visit(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v,
                     size_t vlen)
{
    (void)v;
    (void)vlen;
    struct gap_ctx *g = ctx;
    uint64_t end;
    if (store_rec_read_key_parse(k, klen, NULL, &end) != AH_OK)
        return AH_ESTORE;
    if (end % g->step != 0 || g->done || end < g->next)
        return AH_OK;
    gap_add_until(g, end);
    /* end itself is present */
    if (UINT64_MAX - end < g->step)
        g->done = true;
    else
        g->next = end + g->step;
    return AH_OK;
}

int store_missing_intervals(store_t *s, uint32_t meter, uint64_t from, uint64_t to,
                            uint64_t step, uint64_t *out, size_t max, size_t *n)
{
    if (step == 0 || !n || (!out && max))
        return AH_EINVAL;
    *n = 0;
    uint64_t first = from % step ? from + (step - from % step) : from;
    if (first < from || first >= to) /* wrapped, or no interval in range */
        return AH_OK;
    struct gap_ctx g = {.next = first, .step = step, .out = out, .max = max};
    uint8_t lo[STORE_REC_READ_KEY_LEN], hi[STORE_REC_READ_KEY_LEN];
    store_rec_read_key(lo, meter, first);
    store_rec_read_key(hi, meter, to);
    int rc = store_scan(s, CF_READS, lo, sizeof lo, hi, sizeof hi, gap_visit, &g);
    if (rc != AH_OK)
        return rc;
    gap_add_until(&g, to);
    *n = g.n;
    return AH_OK;
}

int store_delete_reads_before(store_t *s, uint64_t bound)
{
    if (bound == 0)
        return AH_OK;
    /* Reads are keyed meter first: one range per meter that has old reads,
     * found by hopping from meter to meter rather than from the registry,
     * so reads of unregistered indices are covered too. */
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    rocksdb_iterator_t *it =
        rocksdb_create_iterator_cf(s->db, s->ro, store_cf(s, CF_READS));
    int rc = AH_OK;
    uint8_t k[STORE_REC_READ_KEY_LEN];
    store_rec_read_key(k, 0, 0);
    rocksdb_iter_seek(it, (const char *)k, sizeof k);
    while (rocksdb_iter_valid(it)) {
        size_t klen;
        const char *key = rocksdb_iter_key(it, &klen);
        uint32_t meter;
        uint64_t end;
        if (store_rec_read_key_parse((const uint8_t *)key, klen, &meter, &end) != AH_OK) {
            rc = store_fail(s, AH_ESTORE, "reads key of %zu bytes", klen);
            break;
        }
        if (end < bound) {
            uint8_t lo[STORE_REC_READ_KEY_LEN], hi[STORE_REC_READ_KEY_LEN];
            store_rec_read_key(lo, meter, 0);
            store_rec_read_key(hi, meter, bound);
            rocksdb_writebatch_delete_range_cf(wb, store_cf(s, CF_READS),
                                               (const char *)lo, sizeof lo,
                                               (const char *)hi, sizeof hi);
        }
        if (meter == UINT32_MAX)
            break;
        store_rec_read_key(k, meter + 1, 0);
        rocksdb_iter_seek(it, (const char *)k, sizeof k);
    }
    if (rc == AH_OK) {
        char *err = NULL;
        rocksdb_iter_get_error(it, &err);
        if (err)
            rc = store_err_take(s, err, "retention scan");
    }
    rocksdb_iter_destroy(it);
    if (rc == AH_OK && rocksdb_writebatch_count(wb) > 0)
        rc = store_write(s, wb, true, "delete old reads");
    rocksdb_writebatch_destroy(wb);
    return rc;
}

/* ---- events ----------------------------------------------------------- */

struct events_ctx {
    store_event_fn fn;
    void *ctx;
};

static int events_visit(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v,
                        size_t vlen)
{
    struct events_ctx *ec = ctx;
    uint64_t t;
    uint32_t meter;
    uint16_t type;
    if (store_rec_event_key_parse(k, klen, &t, &meter, &type) != AH_OK)
        return AH_ESTORE;
    return ec->fn(ec->ctx, t, meter, type, v, vlen);
}

int store_events_each(store_t *s, uint64_t from, uint64_t to, store_event_fn fn,
                      void *ctx)
{
    if (!fn)
        return AH_EINVAL;
    if (from >= to)
        return AH_OK;
    uint8_t lo[STORE_REC_EVENT_KEY_LEN], hi[STORE_REC_EVENT_KEY_LEN];
    store_rec_event_key(lo, from, 0, 0);
    store_rec_event_key(hi, to, 0, 0);
    struct events_ctx ec = {fn, ctx};
    return store_scan(s, CF_EVENTS, lo, sizeof lo, hi, sizeof hi, events_visit, &ec);
}

int store_delete_events_before(store_t *s, uint64_t bound)
{
    uint8_t lo[STORE_REC_EVENT_KEY_LEN], hi[STORE_REC_EVENT_KEY_LEN];
    store_rec_event_key(lo, 0, 0, 0);
    store_rec_event_key(hi, bound, 0, 0);
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    rocksdb_writebatch_delete_range_cf(wb, store_cf(s, CF_EVENTS), (const char *)lo,
                                       sizeof lo, (const char *)hi, sizeof hi);
    int rc = store_write(s, wb, true, "delete old events");
    rocksdb_writebatch_destroy(wb);
    return rc;
}
