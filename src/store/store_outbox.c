/*
 * store_outbox — the outbox family (store.h "outbox and sequence",
 * docs/storage.md "outbox chunks"): the exact messages published, one chunk
 * row per batch, read back by sequence for replay, and trimmed by retention
 * without ever dropping a message above the bound.
 */
#include "store_int.h"

#include "ah_err.h"

#include <rocksdb/c.h>

#include <stdlib.h>
#include <string.h>

/* ---- outbox ----------------------------------------------------------- */

uint64_t store_next_seq(const store_t *s)
{
    return s->next_seq;
}

/* One outbox row: a chunk (STORE_OUTBOX_CHUNK, count u32 BE, then count ×
 * (length u32 BE, message)) whose first message has the key's sequence, or,
 * in a store written before chunks, one message. Calls fn for each message
 * with from <= seq < to; 1 from fn stops (returned). AH_ESTORE for a chunk
 * that does not hold together. */
typedef int (*msg_fn)(void *ctx, uint64_t seq, const uint8_t *b, size_t len);

static int row_each(uint64_t first, const uint8_t *v, size_t vlen, uint64_t from,
                    uint64_t to, msg_fn fn, void *ctx)
{
    if (vlen == 0 || v[0] != STORE_OUTBOX_CHUNK)
        return first >= from && first < to ? fn(ctx, first, v, vlen) : 0;
    if (vlen < 5)
        return AH_ESTORE;
    uint32_t n = store_rec_get_be32(v + 1);
    size_t at = 5;
    for (uint32_t i = 0; i < n; i++) {
        if (vlen - at < 4)
            return AH_ESTORE;
        size_t len = store_rec_get_be32(v + at);
        at += 4;
        if (vlen - at < len)
            return AH_ESTORE;
        uint64_t seq = first + i;
        if (seq >= to)
            return 0;
        if (seq >= from) {
            int rc = fn(ctx, seq, v + at, len);
            if (rc)
                return rc;
        }
        at += len;
    }
    return at == vlen ? 0 : AH_ESTORE;
}

/* Key (first sequence) of the row that may hold seq: the last at or before
 * it. AH_ENOENT when none. */
static int row_at(store_t *s, uint64_t seq, uint64_t *first)
{
    if (seq == UINT64_MAX)
        return AH_ENOENT;
    uint8_t b[STORE_REC_OUTBOX_KEY_LEN], k[16];
    size_t klen = 0;
    store_rec_outbox_key(b, seq + 1);
    int rc = store_last_key_before(s, CF_OUTBOX, b, sizeof b, k, sizeof k, &klen);
    if (rc == AH_OK && store_rec_outbox_key_parse(k, klen, first) != AH_OK)
        return store_fail(s, AH_ESTORE, "outbox key of %zu bytes", klen);
    return rc == AH_EOVERFLOW ? AH_ESTORE : rc;
}

struct get_ctx {
    void *buf;
    size_t cap, *len;
    bool found;
};

static int get_visit(void *ctx, uint64_t seq, const uint8_t *b, size_t len)
{
    (void)seq;
    struct get_ctx *g = ctx;
    g->found = true;
    *g->len = len;
    if (len > g->cap || (!g->buf && len))
        return AH_EOVERFLOW;
    if (len)
        memcpy(g->buf, b, len);
    return 1;
}

int store_outbox_get(store_t *s, uint64_t seq, void *buf, size_t cap, size_t *len)
{
    uint64_t first;
    int rc = row_at(s, seq, &first);
    if (rc != AH_OK)
        return rc;
    uint8_t k[STORE_REC_OUTBOX_KEY_LEN];
    store_rec_outbox_key(k, first);
    rocksdb_pinnableslice_t *ps;
    if ((rc = store_get_pinned(s, CF_OUTBOX, k, sizeof k, &ps)) != AH_OK)
        return rc;
    size_t vlen, dummy;
    const char *v = rocksdb_pinnableslice_value(ps, &vlen);
    struct get_ctx g = {buf, cap, len ? len : &dummy, false};
    rc = row_each(first, (const uint8_t *)v, vlen, seq, seq + 1, get_visit, &g);
    rocksdb_pinnableslice_destroy(ps);
    if (rc == 1 || rc == AH_EOVERFLOW)
        return rc == 1 ? AH_OK : rc;
    return rc ? rc : AH_ENOENT;
}

struct outbox_ctx {
    store_outbox_fn fn;
    void *ctx;
    uint64_t from, to;
};

static int outbox_visit(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v,
                        size_t vlen)
{
    struct outbox_ctx *oc = ctx;
    uint64_t seq;
    if (store_rec_outbox_key_parse(k, klen, &seq) != AH_OK)
        return AH_ESTORE;
    return row_each(seq, v, vlen, oc->from, oc->to, oc->fn, oc->ctx);
}

int store_outbox_each(store_t *s, uint64_t from, uint64_t to, store_outbox_fn fn,
                      void *ctx)
{
    if (!fn)
        return AH_EINVAL;
    if (from >= to)
        return AH_OK;
    /* from may lie inside a chunk that starts before it */
    uint64_t first = from;
    int rc = row_at(s, from, &first);
    if (rc != AH_OK && rc != AH_ENOENT)
        return rc;
    if (rc == AH_ENOENT)
        first = from;
    uint8_t lo[STORE_REC_OUTBOX_KEY_LEN], hi[STORE_REC_OUTBOX_KEY_LEN];
    store_rec_outbox_key(lo, first);
    store_rec_outbox_key(hi, to);
    struct outbox_ctx oc = {fn, ctx, from, to};
    return store_scan(s, CF_OUTBOX, lo, sizeof lo, hi, sizeof hi, outbox_visit, &oc);
}

struct tail_ctx {
    uint8_t *buf;
    size_t len;
    uint32_t n;
};

static int tail_visit(void *ctx, uint64_t seq, const uint8_t *b, size_t len)
{
    (void)seq;
    struct tail_ctx *t = ctx;
    store_rec_put_be32(t->buf + t->len, (uint32_t)len);
    memcpy(t->buf + t->len + 4, b, len);
    t->len += 4 + len;
    t->n++;
    return 0;
}

/* The messages >= bound of the chunk at first, as a chunk row keyed by
 * bound, into wb: retention never drops a message it was not asked to. */
static int keep_tail(store_t *s, rocksdb_writebatch_t *wb, uint64_t first, uint64_t bound)
{
    uint8_t k[STORE_REC_OUTBOX_KEY_LEN];
    store_rec_outbox_key(k, first);
    rocksdb_pinnableslice_t *ps;
    int rc = store_get_pinned(s, CF_OUTBOX, k, sizeof k, &ps);
    if (rc != AH_OK)
        return rc == AH_ENOENT ? AH_OK : rc;
    size_t vlen;
    const uint8_t *v = (const uint8_t *)rocksdb_pinnableslice_value(ps, &vlen);
    if (first + store_outbox_row_count(v, vlen) <= bound) {
        rocksdb_pinnableslice_destroy(ps);
        return AH_OK; /* wholly below bound */
    }
    struct tail_ctx t = {malloc(vlen + 5), 5, 0};
    rc = t.buf ? row_each(first, v, vlen, bound, UINT64_MAX, tail_visit, &t) : AH_ENOMEM;
    rocksdb_pinnableslice_destroy(ps);
    if (rc == AH_OK) {
        t.buf[0] = STORE_OUTBOX_CHUNK;
        store_rec_put_be32(t.buf + 1, t.n);
        store_rec_outbox_key(k, bound);
        rocksdb_writebatch_put_cf(wb, store_cf(s, CF_OUTBOX), (const char *)k, sizeof k,
                                  (const char *)t.buf, t.len);
    }
    free(t.buf);
    return rc;
}

int store_delete_outbox_before(store_t *s, uint64_t bound)
{
    uint8_t lo[STORE_REC_OUTBOX_KEY_LEN], hi[STORE_REC_OUTBOX_KEY_LEN], v[8];
    store_rec_outbox_key(lo, 0);
    store_rec_outbox_key(hi, bound);
    /* Keep the sequence floor with the deletion, in the same batch: a store
     * whose outbox is emptied must still resume where it was. */
    store_rec_put_be64(v, s->next_seq);
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    rocksdb_writebatch_delete_range_cf(wb, store_cf(s, CF_OUTBOX), (const char *)lo,
                                       sizeof lo, (const char *)hi, sizeof hi);
    uint64_t first;
    int rc = bound ? row_at(s, bound - 1, &first) : AH_ENOENT;
    if (rc == AH_OK)
        rc = keep_tail(s, wb, first, bound);
    else if (rc == AH_ENOENT)
        rc = AH_OK;
    rocksdb_writebatch_put_cf(wb, store_cf(s, CF_META), META_NEXT_SEQ,
                              strlen(META_NEXT_SEQ), (const char *)v, sizeof v);
    if (rc == AH_OK)
        rc = store_write(s, wb, true, "delete old outbox");
    rocksdb_writebatch_destroy(wb);
    return rc;
}

static int first_seq_visit(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v,
                           size_t vlen)
{
    (void)v;
    (void)vlen;
    if (store_rec_outbox_key_parse(k, klen, ctx) != AH_OK)
        return AH_ESTORE;
    return 1; /* stop at the first */
}

uint64_t store_outbox_first_seq(store_t *s)
{
    uint64_t seq = 0;
    int rc = store_scan(s, CF_OUTBOX, NULL, 0, NULL, 0, first_seq_visit, &seq);
    return rc == 1 ? seq : s->next_seq;
}
