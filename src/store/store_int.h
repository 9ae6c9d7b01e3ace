/*
 * store_int — what the store's files share and nobody else may use: the
 * struct store, the column families and key layouts, the one error
 * translation and the RocksDB primitives (get, scan, write). store.h is the
 * contract; this header is the store's own furniture (src/store/ only).
 *
 *   store.c         error translation, failure texts, get / scan / write
 *   store_open.c    open (options, column families, meta) and close
 *   store_batch.c   the one writer's batch and its commit
 *   store_reads.c   reads, gap queries, events, and their retention
 *   store_outbox.c  the outbox (chunk rows), sequence, its retention
 *   store_meters.c  the meter registry and per-meter state
 */
#ifndef AH_STORE_INT_H
#define AH_STORE_INT_H

#include "store.h"

#include <rocksdb/c.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Column families in the order of the handle array; "default" must be
 * opened too but holds nothing. */
enum { CF_DEFAULT, CF_READS, CF_EVENTS, CF_OUTBOX, CF_METERS, CF_META, CF_N };
static const char *const cf_names[CF_N] = {"default", "reads",  "events",
                                           "outbox",  "meters", "meta"};

/* meters column family: one-byte prefix, then the key (docs/storage.md). */
#define MK_ID    'i' /* 'i' | meter id bytes  -> index u32 BE */
#define MK_NAME  'n' /* 'n' | index u32 BE    -> meter id bytes */
#define MK_STATE 's' /* 's' | index u32 BE    -> validation state (opaque) */
#define MK_LRN   'b' /* 'b' | index u32 BE    -> load-record blocks per request (u8) */

/* meta column family keys. */
#define META_SCHEMA   "schema"     /* u32 BE */
#define META_HEADEND  "headend_id" /* bytes */
#define META_NEXT_SEQ "next_seq"   /* u64 BE, floor for the sequence */

#define DETAIL_MAX 512

struct store {
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_writeoptions_t *wo_sync;
    rocksdb_writeoptions_t *wo_async;
    rocksdb_readoptions_t *ro;
    rocksdb_column_family_handle_t **handles; /* n_handles; first CF_N are ours */
    int n_handles;
    rocksdb_writebatch_t *wb;
    bool read_only;
    uint64_t reserve_bytes; /* store_opts.reserve_bytes */
    char path[DETAIL_MAX];  /* for the free-space check */
    uint64_t next_seq;
    uint64_t batch_max_seq; /* highest outbox seq in the open batch, 0 none */
    /* outbox messages of the open batch, gathered into one chunk row that
     * joins the batch at commit (one key per batch, not per message) */
    uint8_t *ob;
    size_t ob_len, ob_cap;
    uint64_t ob_first; /* seq of the chunk's first message */
    uint32_t ob_n;     /* messages in it, 0 none */
    uint32_t next_meter;
    char headend_id[STORE_HEADEND_ID_MAX + 1];
};

/* ---- failure texts and error translation (store.c) -------------------- */

/* The calling thread's failure buffer for s (DETAIL_MAX bytes), or the
 * buffer of store_open() failures when s is NULL. */
char *store_detail(const store_t *s);

/* Take ownership of a RocksDB error string: keep it (prefixed with what we
 * were doing) in the detail buffer, free it, return the ah_err. */
int store_err_take(store_t *s, char *err, const char *what);

/* Record a failure found by the store itself (not by RocksDB). */
int store_fail(store_t *s, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- RocksDB primitives (store.c) ------------------------------------- */

static inline rocksdb_column_family_handle_t *store_cf(store_t *s, int which)
{
    return s->handles[which];
}

/* Point lookup; on AH_OK *ps must be destroyed by the caller. */
int store_get_pinned(store_t *s, int which, const void *key, size_t klen,
                     rocksdb_pinnableslice_t **ps);

/* Copy a value out into a caller buffer. */
int store_get_copy(store_t *s, int which, const void *key, size_t klen, void *buf,
                   size_t cap, size_t *len);

/* Write wb (read-only stores and the free-space reserve refuse first). */
int store_write(store_t *s, rocksdb_writebatch_t *wb, bool sync, const char *what);

typedef int (*store_kv_fn)(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v,
                           size_t vlen);

/* Visit keys in [lo, hi) of a column family in order. hi == NULL: no upper
 * bound. A non-zero return of fn stops and is returned. */
int store_scan(store_t *s, int which, const uint8_t *lo, size_t lolen, const uint8_t *hi,
               size_t hilen, store_kv_fn fn, void *ctx);

/* Last key of a column family that is < bound (bound NULL: the last key).
 * AH_ENOENT when there is none; key copied into out (cap bytes). */
int store_last_key_before(store_t *s, int which, const uint8_t *bound, size_t blen,
                          uint8_t *out, size_t cap, size_t *len);

/* ---- key layouts shared by several files ------------------------------ */

/* Messages in one outbox row (a chunk, or one message of schema 1). */
static inline uint64_t store_outbox_row_count(const uint8_t *v, size_t vlen)
{
    return vlen >= 5 && v[0] == STORE_OUTBOX_CHUNK ? store_rec_get_be32(v + 1) : 1;
}

static inline void store_name_key(uint8_t k[5], uint32_t idx)
{
    k[0] = MK_NAME;
    store_rec_put_be32(k + 1, idx);
}

static inline void store_state_key(uint8_t k[5], uint32_t meter)
{
    k[0] = MK_STATE;
    store_rec_put_be32(k + 1, meter);
}

static inline void store_lrn_key(uint8_t k[5], uint32_t meter)
{
    k[0] = MK_LRN;
    store_rec_put_be32(k + 1, meter);
}

#endif /* AH_STORE_INT_H */
