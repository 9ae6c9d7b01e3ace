/*
 * store — the RocksDB store of the head-end (DESIGN.md §5, docs/storage.md):
 * the only module that includes rocksdb/c.h, and the place where RocksDB's
 * char **errptr is translated into ah_err, once.
 *
 * Column families: reads, events, outbox, meters, meta. The pipeline thread
 * (the one writer, DESIGN.md §1) builds one batch per cycle step — reads,
 * events, outbox messages and meter state — and commits it as a single
 * RocksDB WriteBatch: all of it is durable or none of it is. Writes are
 * idempotent: the same meter + interval end is the same key, the last
 * write wins.
 *
 * It stores what the pipeline gives it: no validation, no publishing, no
 * interpretation of event, outbox or meter-state bytes.
 *
 * Threads: one thread owns the batch (store_batch_*, and the writes
 * store_delete_*_before, store_meter_index(..., create) and
 * store_meters_register). Queries (store_get_*, store_*_each,
 * store_missing_intervals, store_outbox_*) may run from any thread at the
 * same time: RocksDB reads are thread safe, they see committed batches
 * only, and each thread keeps its own failure text (store_last_error).
 *
 * Ownership: nothing returned by this module needs freeing except the
 * store_t itself. Byte values are copied into caller buffers; iteration
 * callbacks receive borrowed pointers valid only during the call.
 */
#ifndef AH_STORE_H
#define AH_STORE_H

#include "store_rec.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Schema of the column families and key layouts (meta "schema"). A store
 * written by a newer schema is refused; docs/storage.md lists the versions. */
#define STORE_SCHEMA_VERSION 2
/* First byte of an outbox row holding a chunk of consecutive messages
 * (schema 2, docs/storage.md "outbox chunks"); a schema 1 row holds one
 * message, whose first byte (wire.h WIRE_OUTBOX_VERSION) is never this. */
#define STORE_OUTBOX_CHUNK 0xFF

/* Longest meter id accepted by the registry (bytes, no NUL). */
#define STORE_METER_ID_MAX 64
/* Longest head-end id kept in meta. */
#define STORE_HEADEND_ID_MAX 64

typedef struct store store_t;

struct store_opts {
    bool no_create;         /* true: AH_ENOENT when path holds no store
                               (query, stats); false: create it (default) */
    bool read_only;         /* open without the lock, for queries beside a
                               running head-end; implies no_create; every
                               write fails with AH_ENOTSUP */
    const char *headend_id; /* borrowed; stored in meta when first given, or
                               NULL */
    int max_open_files;     /* 0 = RocksDB default */
    /* Free bytes the file system holding path must keep (0 = no check).
     * A write that would start below it fails with AH_ENOSPC before
     * RocksDB sees it, the batch kept for a retry; store_open refuses with
     * AH_ENOSPC. Debian's RocksDB 7.8 aborts (an assertion in its WAL
     * writer) on the first write that meets a full disk, so this reserve
     * is the only clean way out (issue 17 item 1). */
    uint64_t reserve_bytes;
};

/*
 * Open (or create) the store at path. opts may be NULL (defaults). On
 * success *out is the caller's: store_close(). Errors: AH_ENOENT (no store
 * and creation not allowed), AH_ENOTSUP (schema newer than
 * STORE_SCHEMA_VERSION), AH_EBUSY (another process holds the store),
 * AH_ENOSPC, AH_ESTORE (corruption or other RocksDB failure), AH_EIO,
 * AH_ENOMEM. store_last_error(NULL) then describes the failure.
 */
int store_open(const char *path, const struct store_opts *opts, store_t **out);

/*
 * Free bytes for an unprivileged writer (statvfs f_bavail) on the file
 * system holding path, or its nearest existing parent when path does not
 * exist yet. AH_OK or AH_EIO (store_last_error(NULL) tells why).
 */
int store_free_bytes(const char *path, uint64_t *free_bytes);

/* Close; sets *s = NULL; accepts NULL and *s == NULL. An uncommitted batch
 * is dropped. */
void store_close(store_t **s);

/*
 * Text of the last failure of this store in the calling thread (RocksDB's
 * own message, e.g. "IO error: No space left on device ..."), or of the
 * last failed store_open() of this thread when s is NULL. "" when none, or
 * when this thread's last failure was another store's. Each thread has its
 * own (the writer, the replay thread and gap queries fail independently).
 * Borrowed: valid until this thread's next store call.
 */
const char *store_last_error(const store_t *s);

/* The ah_err for a RocksDB status text (the errptr scheme's translation,
 * exposed so that it can be tested without filling a disk): "No space left"
 * -> AH_ENOSPC, "Corruption" -> AH_ESTORE, a held LOCK -> AH_EBUSY, a
 * missing store -> AH_ENOENT, other IO errors -> AH_EIO, else AH_ESTORE.
 * NULL -> AH_OK. */
int store_err_from_rocksdb(const char *msg);

/* Head-end id kept in meta, "" when none. Borrowed, valid until close. */
const char *store_headend_id(const store_t *s);

/* ---- the one writer's batch ------------------------------------------- */

/* Start a new batch, dropping any uncommitted one. */
void store_batch_begin(store_t *s);

/* Add the read of meter at its interval end (rec->end, UTC seconds: the
 * key). rec: borrowed, copied. AH_EINVAL if rec cannot be encoded. */
int store_batch_put_read(store_t *s, uint32_t meter, const struct ah_read *rec);

/* Add an event (anomaly and its evidence) at time t (UTC seconds). bytes:
 * borrowed, copied, opaque to the store. */
int store_batch_put_event(store_t *s, uint64_t t, uint32_t meter, uint16_t type,
                          const void *bytes, size_t len);

/* Add the exact message published with sequence seq (>= 1). bytes: borrowed,
 * copied. Consecutive messages of one batch are stored as one chunk row
 * (one RocksDB key per batch instead of one per message). */
int store_batch_put_outbox(store_t *s, uint64_t seq, const void *bytes, size_t len);

/* Add the per-meter validation state of meter. bytes: borrowed, copied. */
int store_batch_put_meter_state(store_t *s, uint32_t meter, const void *bytes,
                                size_t len);

/* Operations in the current batch. */
size_t store_batch_count(const store_t *s);

/*
 * Write the batch atomically and start an empty one. sync: fsync the WAL
 * before returning (survives power loss; without it the batch survives a
 * process crash but not an OS crash). On failure nothing of the batch is
 * written and it is kept, so the caller may retry or drop it. Errors:
 * AH_ENOSPC, AH_ESTORE, AH_EIO.
 */
int store_batch_commit(store_t *s, bool sync);

/* ---- reads ------------------------------------------------------------ */

/* The read of meter at end into *out (out->end = end). AH_ENOENT if none; a decode error
 * (AH_EFRAME, AH_ENOTSUP) if the stored bytes are not a record. */
int store_get_read(store_t *s, uint32_t meter, uint64_t end, struct ah_read *out);

/* Whether a read of meter at end is stored (false also on a RocksDB error). */
bool store_has_read(store_t *s, uint32_t meter, uint64_t end);

/* Called for each read in key order (interval end ascending). rec: borrowed
 * for the duration of the call. A non-zero return stops the iteration and
 * is returned by the iterating function. */
typedef int (*store_read_fn)(void *ctx, uint32_t meter, const struct ah_read *rec);

/* Reads of meter with from <= end < to, oldest first. Returns 0, the
 * callback's non-zero value, a decode error or a store error. */
int store_reads_each(store_t *s, uint32_t meter, uint64_t from, uint64_t to,
                     store_read_fn fn, void *ctx);

/*
 * The gap list of meter: every interval end t with from <= t < to and
 * t % step == 0 that has no read. The first min(total, max) are written to
 * out[] (ascending); *n receives the total number missing, which may exceed
 * max. step > 0. Stored reads at non-aligned times are not expected
 * intervals and are ignored.
 */
int store_missing_intervals(store_t *s, uint32_t meter, uint64_t from, uint64_t to,
                            uint64_t step, uint64_t *out, size_t max, size_t *n);

/* Delete every read with interval end < bound, all meters (retention). */
int store_delete_reads_before(store_t *s, uint64_t bound);

/* ---- events ----------------------------------------------------------- */

/* bytes: borrowed for the duration of the call. */
typedef int (*store_event_fn)(void *ctx, uint64_t t, uint32_t meter, uint16_t type,
                              const uint8_t *bytes, size_t len);

/* Events with from <= t < to, in time order. Return as store_reads_each. */
int store_events_each(store_t *s, uint64_t from, uint64_t to, store_event_fn fn,
                      void *ctx);

/* Delete every event with t < bound. */
int store_delete_events_before(store_t *s, uint64_t bound);

/* ---- outbox and sequence ---------------------------------------------- */

/*
 * Next sequence number to publish: last outbox key + 1 found at open (1 for
 * an empty store), never lower than a sequence already handed out, even
 * after the outbox was emptied by retention; advanced by every commit that
 * held outbox entries.
 */
uint64_t store_next_seq(const store_t *s);

/* Copy the message of seq into buf[0 .. cap); *len = its full length.
 * AH_ENOENT if none, AH_EOVERFLOW if cap < *len (buf then untouched). */
int store_outbox_get(store_t *s, uint64_t seq, void *buf, size_t cap, size_t *len);

/* bytes: borrowed for the duration of the call. */
typedef int (*store_outbox_fn)(void *ctx, uint64_t seq, const uint8_t *bytes, size_t len);

/* Messages with from <= seq < to in sequence order (replay). Return as
 * store_reads_each. */
int store_outbox_each(store_t *s, uint64_t from, uint64_t to, store_outbox_fn fn,
                      void *ctx);

/* Delete every message with seq < bound (retention); the rest of a chunk
 * that straddles bound is rewritten as a chunk starting at bound. The
 * sequence keeps counting from where it was. */
int store_delete_outbox_before(store_t *s, uint64_t bound);

/* First sequence still in the outbox, or store_next_seq() when empty. */
uint64_t store_outbox_first_seq(store_t *s);

/* ---- meters ----------------------------------------------------------- */

/*
 * Index of meter id (1..STORE_METER_ID_MAX bytes). When unknown and create
 * is true a new index is assigned (1, 2, ... in order of first sight) and
 * made durable before returning; otherwise AH_ENOENT. Indices never change
 * and are never reused.
 */
int store_meter_index(store_t *s, const char *meter_id, bool create, uint32_t *idx);

/*
 * store_meter_index(..., true) for n ids at once: known ids get their index,
 * unknown ones new indices in the order given, all made durable by one
 * synced write (registering a city one fsync per meter takes minutes).
 * idx[i] receives the index of ids[i]. AH_EINVAL when an id is empty, too
 * long or given twice among the new ones (nothing written then).
 */
int store_meters_register(store_t *s, const char *const *ids, size_t n, uint32_t *idx);

/* Meter id of idx into buf (NUL-terminated). AH_ENOENT, AH_EOVERFLOW. */
int store_meter_id(store_t *s, uint32_t idx, char *buf, size_t cap);

/* Called for each registered meter in index order; id borrowed. */
typedef int (*store_meter_fn)(void *ctx, uint32_t idx, const char *meter_id);
int store_meters_each(store_t *s, store_meter_fn fn, void *ctx);

/* Validation state of meter, as store_outbox_get. AH_ENOENT if none. */
int store_get_meter_state(store_t *s, uint32_t meter, void *buf, size_t cap, size_t *len);

/* Load-record blocks per 06000001 request a meter was found to answer
 * (1..255; issue 16 item 2), in the batch / read back. Get: AH_OK,
 * AH_ENOENT when never learned. */
int store_batch_put_meter_lr_blocks(store_t *s, uint32_t meter, uint8_t n);
int store_get_meter_lr_blocks(store_t *s, uint32_t meter, uint8_t *n);

#endif /* AH_STORE_H */
