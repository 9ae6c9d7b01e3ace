/*
 * store_batch — the one writer's batch (store.h "the one writer's batch"):
 * reads, events, outbox messages and meter state gathered into one RocksDB
 * WriteBatch and committed at once. Only the writer thread calls these.
 */
#include "store_int.h"

#include "ah_err.h"

#include <rocksdb/c.h>

#include <stdlib.h>
#include <string.h>

/* ---- batch ------------------------------------------------------------ */

void store_batch_begin(store_t *s)
{
    rocksdb_writebatch_clear(s->wb);
    s->batch_max_seq = 0;
    s->ob_len = 0;
    s->ob_n = 0;
}

int store_batch_put_read(store_t *s, uint32_t meter, const struct ah_read *rec)
{
    uint8_t k[STORE_REC_READ_KEY_LEN];
    uint8_t v[STORE_REC_MAX_LEN];
    int n = store_rec_encode(rec, v, sizeof v);
    if (n < 0)
        return n;
    store_rec_read_key(k, meter, rec->end);
    rocksdb_writebatch_put_cf(s->wb, store_cf(s, CF_READS), (const char *)k, sizeof k,
                              (const char *)v, (size_t)n);
    return AH_OK;
}

int store_batch_put_event(store_t *s, uint64_t t, uint32_t meter, uint16_t type,
                          const void *bytes, size_t len)
{
    if (!bytes && len)
        return AH_EINVAL;
    uint8_t k[STORE_REC_EVENT_KEY_LEN];
    store_rec_event_key(k, t, meter, type);
    rocksdb_writebatch_put_cf(s->wb, store_cf(s, CF_EVENTS), (const char *)k, sizeof k,
                              bytes ? bytes : "", len);
    return AH_OK;
}

/* The gathered chunk joins the write batch as one row keyed by its first
 * sequence (docs/storage.md "outbox chunks"). */
static void ob_flush(store_t *s)
{
    if (!s->ob_n)
        return;
    uint8_t k[STORE_REC_OUTBOX_KEY_LEN];
    store_rec_outbox_key(k, s->ob_first);
    s->ob[0] = STORE_OUTBOX_CHUNK;
    store_rec_put_be32(s->ob + 1, s->ob_n);
    rocksdb_writebatch_put_cf(s->wb, store_cf(s, CF_OUTBOX), (const char *)k, sizeof k,
                              (const char *)s->ob, s->ob_len);
    s->ob_len = 0;
    s->ob_n = 0;
}

int store_batch_put_outbox(store_t *s, uint64_t seq, const void *bytes, size_t len)
{
    if (seq == 0 || (!bytes && len) || len > UINT32_MAX)
        return AH_EINVAL;
    if (s->ob_n && (seq != s->ob_first + s->ob_n || s->ob_n == UINT32_MAX))
        ob_flush(s); /* not the next one: a chunk of its own */
    size_t need = (s->ob_n ? s->ob_len : 5) + 4 + len;
    if (need > s->ob_cap) {
        size_t cap = s->ob_cap ? s->ob_cap : 4096;
        while (cap < need)
            cap *= 2;
        uint8_t *nb = realloc(s->ob, cap);
        if (!nb)
            return AH_ENOMEM;
        s->ob = nb;
        s->ob_cap = cap;
    }
    if (!s->ob_n) {
        s->ob_first = seq;
        s->ob_len = 5; /* marker, count */
    }
    store_rec_put_be32(s->ob + s->ob_len, (uint32_t)len);
    if (len)
        memcpy(s->ob + s->ob_len + 4, bytes, len);
    s->ob_len += 4 + len;
    s->ob_n++;
    if (seq > s->batch_max_seq)
        s->batch_max_seq = seq;
    return AH_OK;
}

int store_batch_put_meter_state(store_t *s, uint32_t meter, const void *bytes, size_t len)
{
    if (!bytes && len)
        return AH_EINVAL;
    uint8_t k[5];
    store_state_key(k, meter);
    rocksdb_writebatch_put_cf(s->wb, store_cf(s, CF_METERS), (const char *)k, sizeof k,
                              bytes ? bytes : "", len);
    return AH_OK;
}

size_t store_batch_count(const store_t *s)
{
    int n = rocksdb_writebatch_count(s->wb);
    return (n > 0 ? (size_t)n : 0) + s->ob_n;
}

int store_batch_commit(store_t *s, bool sync)
{
    ob_flush(s); /* kept in the batch on failure: a retry writes it again */
    int rc = store_write(s, s->wb, sync, "commit batch");
    if (rc != AH_OK)
        return rc;
    if (s->batch_max_seq >= s->next_seq)
        s->next_seq = s->batch_max_seq + 1;
    store_batch_begin(s);
    return AH_OK;
}

/* ---- learned load-record batch size (issue 16 item 2) ----------------- */

int store_batch_put_meter_lr_blocks(store_t *s, uint32_t meter, uint8_t n)
{
    if (n == 0)
        return AH_EINVAL;
    uint8_t k[5];
    store_lrn_key(k, meter);
    rocksdb_writebatch_put_cf(s->wb, store_cf(s, CF_METERS), (const char *)k, sizeof k,
                              (const char *)&n, 1);
    return AH_OK;
}
