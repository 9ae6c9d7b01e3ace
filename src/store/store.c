/*
 * store — RocksDB adapter of the head-end (see store.h, docs/storage.md).
 *
 * The only includer of rocksdb/c.h. Every RocksDB errptr goes through
 * err_take(), which keeps RocksDB's message for the log and maps it to an
 * ah_err. It holds no validation or publishing logic.
 */
#include "store.h"

#include "ah_err.h"

#include <rocksdb/c.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

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

static _Thread_local char open_detail[DETAIL_MAX];
/* The last failure text of each thread, with the store it belongs to: the
 * writer commits while the replay thread and gap queries read, each under
 * a lock of its own, so a text kept in the store_t would be written by two
 * threads at once and logged torn or with the other's words (issue 15). */
static _Thread_local struct {
    const store_t *s;
    char text[DETAIL_MAX];
} tl_err;

static char *detail_of(const store_t *s)
{
    if (!s)
        return open_detail;
    tl_err.s = s;
    return tl_err.text;
}

/* ---- error translation (the one place) -------------------------------- */

int store_err_from_rocksdb(const char *msg)
{
    if (!msg)
        return AH_OK;
    /* Status::ToString() texts of RocksDB 7.x: "<code>: <subcode/state>". */
    if (strstr(msg, "No space left") || strstr(msg, "NoSpace"))
        return AH_ENOSPC;
    if (strncmp(msg, "Corruption", 10) == 0)
        return AH_ESTORE;
    if (strstr(msg, "lock file") || strstr(msg, "LOCK"))
        return AH_EBUSY;
    if (strstr(msg, "does not exist") || strstr(msg, "No such file"))
        return AH_ENOENT;
    if (strncmp(msg, "IO error", 8) == 0)
        return AH_EIO;
    return AH_ESTORE;
}

/* Take ownership of a RocksDB error string: keep it (prefixed with what we
 * were doing) in the detail buffer, free it, return the ah_err. */
static int err_take(store_t *s, char *err, const char *what)
{
    char *dst = detail_of(s);
    int rc = store_err_from_rocksdb(err);
    snprintf(dst, DETAIL_MAX, "%s: %s", what, err);
    rocksdb_free(err);
    return rc;
}

/* Record a failure found by the store itself (not by RocksDB). */
static int fail(store_t *s, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(store_t *s, int rc, const char *fmt, ...)
{
    char *dst = detail_of(s);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, DETAIL_MAX, fmt, ap);
    va_end(ap);
    return rc;
}

const char *store_last_error(const store_t *s)
{
    if (!s)
        return open_detail;
    return tl_err.s == s ? tl_err.text : "";
}

const char *store_headend_id(const store_t *s)
{
    return s->headend_id;
}

/* ---- small helpers ---------------------------------------------------- */

static rocksdb_column_family_handle_t *cf(store_t *s, int which)
{
    return s->handles[which];
}

/* Point lookup; on AH_OK *ps must be destroyed by the caller. */
static int get_pinned(store_t *s, int which, const void *key, size_t klen,
                      rocksdb_pinnableslice_t **ps)
{
    char *err = NULL;
    *ps = rocksdb_get_pinned_cf(s->db, s->ro, cf(s, which), key, klen, &err);
    if (err)
        return err_take(s, err, "get");
    return *ps ? AH_OK : AH_ENOENT;
}

/* Copy a value out into a caller buffer. */
static int get_copy(store_t *s, int which, const void *key, size_t klen, void *buf,
                    size_t cap, size_t *len)
{
    rocksdb_pinnableslice_t *ps;
    int rc = get_pinned(s, which, key, klen, &ps);
    if (rc != AH_OK)
        return rc;
    size_t vlen;
    const char *v = rocksdb_pinnableslice_value(ps, &vlen);
    if (len)
        *len = vlen;
    if (vlen > cap || (!buf && vlen))
        rc = AH_EOVERFLOW;
    else if (vlen)
        memcpy(buf, v, vlen);
    rocksdb_pinnableslice_destroy(ps);
    return rc;
}

static int write_batch(store_t *s, rocksdb_writebatch_t *wb, bool sync, const char *what)
{
    if (s->read_only)
        return fail(s, AH_ENOTSUP, "%s: store opened read-only", what);
    if (s->reserve_bytes) {
        /* Refuse here rather than let RocksDB meet ENOSPC (store.h). */
        uint64_t avail;
        if (store_free_bytes(s->path, &avail) == AH_OK && avail < s->reserve_bytes)
            return fail(s, AH_ENOSPC,
                        "%s: %" PRIu64 " kB free on %s, below the %" PRIu64
                        " kB reserve (storage.reserve_mb)",
                        what, avail >> 10, s->path, s->reserve_bytes >> 10);
    }
    char *err = NULL;
    rocksdb_write(s->db, sync ? s->wo_sync : s->wo_async, wb, &err);
    if (err)
        return err_take(s, err, what);
    return AH_OK;
}

typedef int (*kv_fn)(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v,
                     size_t vlen);

/* Visit keys in [lo, hi) of a column family in order. hi == NULL: no upper
 * bound. A non-zero return of fn stops and is returned. */
static int scan(store_t *s, int which, const uint8_t *lo, size_t lolen, const uint8_t *hi,
                size_t hilen, kv_fn fn, void *ctx)
{
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    if (!ro)
        return AH_ENOMEM;
    if (hi)
        rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)hi, hilen);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(s->db, ro, cf(s, which));
    int rc = AH_OK;
    if (lo)
        rocksdb_iter_seek(it, (const char *)lo, lolen);
    else
        rocksdb_iter_seek_to_first(it);
    for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen, vlen;
        const char *k = rocksdb_iter_key(it, &klen);
        const char *v = rocksdb_iter_value(it, &vlen);
        rc = fn(ctx, (const uint8_t *)k, klen, (const uint8_t *)v, vlen);
        if (rc != 0)
            break;
    }
    if (rc == AH_OK) {
        char *err = NULL;
        rocksdb_iter_get_error(it, &err);
        if (err)
            rc = err_take(s, err, "iterate");
    }
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    return rc;
}

/* Last key of a column family that is < bound (bound NULL: the last key).
 * AH_ENOENT when there is none; key copied into out (cap bytes). */
static int last_key_before(store_t *s, int which, const uint8_t *bound, size_t blen,
                           uint8_t *out, size_t cap, size_t *len)
{
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(s->db, s->ro, cf(s, which));
    int rc = AH_ENOENT;
    if (bound) {
        rocksdb_iter_seek_for_prev(it, (const char *)bound, blen);
        /* seek_for_prev lands on a key <= bound: step over an exact match */
        if (rocksdb_iter_valid(it)) {
            size_t klen;
            const char *k = rocksdb_iter_key(it, &klen);
            if (klen == blen && memcmp(k, bound, blen) == 0)
                rocksdb_iter_prev(it);
        }
    } else {
        rocksdb_iter_seek_to_last(it);
    }
    if (rocksdb_iter_valid(it)) {
        size_t klen;
        const char *k = rocksdb_iter_key(it, &klen);
        *len = klen;
        if (klen <= cap) {
            memcpy(out, k, klen);
            rc = AH_OK;
        } else {
            rc = AH_EOVERFLOW;
        }
    }
    char *err = NULL;
    rocksdb_iter_get_error(it, &err);
    if (err)
        rc = err_take(s, err, "seek");
    rocksdb_iter_destroy(it);
    return rc;
}

/* Messages in one outbox row (store_outbox_each's row_each). */
static uint64_t row_count(const uint8_t *v, size_t vlen)
{
    return vlen >= 5 && v[0] == STORE_OUTBOX_CHUNK ? store_rec_get_be32(v + 1) : 1;
}

/* ---- open / close ----------------------------------------------------- */

/* meta schema = STORE_SCHEMA_VERSION, synced. */
static int put_schema(store_t *s, const char *what)
{
    uint8_t v[4];
    store_rec_put_be32(v, STORE_SCHEMA_VERSION);
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    rocksdb_writebatch_put_cf(wb, cf(s, CF_META), META_SCHEMA, strlen(META_SCHEMA),
                              (const char *)v, sizeof v);
    int rc = write_batch(s, wb, true, what);
    rocksdb_writebatch_destroy(wb);
    return rc;
}

static int check_schema(store_t *s, const char *path)
{
    uint8_t v[4];
    size_t len = 0;
    int rc = get_copy(s, CF_META, META_SCHEMA, strlen(META_SCHEMA), v, sizeof v, &len);
    if (rc == AH_ENOENT) {
        if (s->read_only)
            return AH_OK; /* an empty store: nothing to misread */
        return put_schema(s, "write schema version");
    }
    if (rc == AH_EOVERFLOW || (rc == AH_OK && len != sizeof v))
        return fail(s, AH_ESTORE, "store %s: meta schema is %zu bytes, not 4", path, len);
    if (rc != AH_OK)
        return rc;
    uint32_t ver = store_rec_get_be32(v);
    if (ver > STORE_SCHEMA_VERSION)
        return fail(s, AH_ENOTSUP,
                    "store %s has schema version %lu, newer than the %d this amihead "
                    "understands; refusing to open it (use a newer amihead)",
                    path, (unsigned long)ver, STORE_SCHEMA_VERSION);
    if (ver == 0)
        return fail(s, AH_ESTORE, "store %s: schema version 0 is invalid", path);
    if (ver < STORE_SCHEMA_VERSION && !s->read_only) {
        /* schema 1 (one outbox row per message) is read as it is; new rows
         * are chunks, which an older amihead would misread: mark the store */
        return put_schema(s, "upgrade schema version");
    }
    return AH_OK;
}

static int load_headend_id(store_t *s, const char *want)
{
    size_t len = 0;
    int rc = get_copy(s, CF_META, META_HEADEND, strlen(META_HEADEND), s->headend_id,
                      STORE_HEADEND_ID_MAX, &len);
    if (rc == AH_OK) {
        s->headend_id[len] = '\0';
        return AH_OK;
    }
    if (rc == AH_EOVERFLOW)
        return fail(s, AH_ESTORE, "meta headend_id is %zu bytes, over %d", len,
                    STORE_HEADEND_ID_MAX);
    if (rc != AH_ENOENT)
        return rc;
    s->headend_id[0] = '\0';
    if (!want || !*want || s->read_only)
        return AH_OK;
    size_t wl = strlen(want);
    if (wl > STORE_HEADEND_ID_MAX)
        return AH_EINVAL;
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    rocksdb_writebatch_put_cf(wb, cf(s, CF_META), META_HEADEND, strlen(META_HEADEND),
                              want, wl);
    rc = write_batch(s, wb, true, "write headend id");
    rocksdb_writebatch_destroy(wb);
    if (rc == AH_OK)
        memcpy(s->headend_id, want, wl + 1);
    return rc;
}

/* Sequence: after the last outbox key, never below the floor kept in meta
 * by retention (an emptied outbox must not restart the count at 1). */
static int load_next_seq(store_t *s)
{
    uint8_t k[16];
    size_t klen = 0;
    uint64_t next = 1;
    int rc = last_key_before(s, CF_OUTBOX, NULL, 0, k, sizeof k, &klen);
    if (rc == AH_OK) {
        uint64_t seq;
        if (store_rec_outbox_key_parse(k, klen, &seq) != AH_OK)
            return fail(s, AH_ESTORE, "outbox key of %zu bytes", klen);
        rocksdb_pinnableslice_t *ps; /* the last row may be a chunk */
        if ((rc = get_pinned(s, CF_OUTBOX, k, klen, &ps)) != AH_OK)
            return rc;
        size_t vlen;
        const char *v = rocksdb_pinnableslice_value(ps, &vlen);
        next = seq + row_count((const uint8_t *)v, vlen);
        rocksdb_pinnableslice_destroy(ps);
    } else if (rc != AH_ENOENT && rc != AH_EOVERFLOW) {
        return rc;
    } else if (rc == AH_EOVERFLOW) {
        return AH_ESTORE;
    }
    uint8_t v[8];
    size_t len = 0;
    rc = get_copy(s, CF_META, META_NEXT_SEQ, strlen(META_NEXT_SEQ), v, sizeof v, &len);
    if (rc == AH_OK && len == sizeof v) {
        uint64_t floor = store_rec_get_be64(v);
        if (floor > next)
            next = floor;
    } else if (rc == AH_OK || rc == AH_EOVERFLOW) {
        return AH_ESTORE;
    } else if (rc != AH_ENOENT) {
        return rc;
    }
    s->next_seq = next;
    return AH_OK;
}

static int load_next_meter(store_t *s)
{
    uint8_t bound[1] = {MK_NAME + 1};
    uint8_t k[16];
    size_t klen = 0;
    int rc = last_key_before(s, CF_METERS, bound, sizeof bound, k, sizeof k, &klen);
    s->next_meter = 1;
    if (rc == AH_OK && klen == 5 && k[0] == MK_NAME)
        s->next_meter = store_rec_get_be32(k + 1) + 1;
    else if (rc == AH_OK && k[0] == MK_NAME)
        return AH_ESTORE;
    else if (rc != AH_OK && rc != AH_ENOENT && rc != AH_EOVERFLOW)
        return rc;
    return AH_OK;
}

static bool is_ours(const char *name)
{
    for (int i = 0; i < CF_N; i++)
        if (strcmp(name, cf_names[i]) == 0)
            return true;
    return false;
}

int store_open(const char *path, const struct store_opts *opts, store_t **out)
{
    struct store_opts defaults = {0};
    if (!opts)
        opts = &defaults;
    open_detail[0] = '\0';
    if (!path || !out)
        return AH_EINVAL;
    *out = NULL;

    store_t *s = calloc(1, sizeof *s);
    if (!s)
        return AH_ENOMEM;
    s->read_only = opts->read_only;
    s->reserve_bytes = opts->read_only ? 0 : opts->reserve_bytes;
    snprintf(s->path, sizeof s->path, "%s", path);
    if (s->reserve_bytes) {
        /* Opening writes (WAL, MANIFEST, recovery flush): on a full disk
         * RocksDB would abort before a word is logged. */
        uint64_t avail;
        int frc = store_free_bytes(path, &avail);
        if (frc == AH_OK && avail < s->reserve_bytes)
            snprintf(open_detail, DETAIL_MAX,
                     "store %s: %" PRIu64 " kB free, below the %" PRIu64
                     " kB reserve (storage.reserve_mb): free some space first",
                     path, avail >> 10, s->reserve_bytes >> 10);
        if (frc == AH_OK && avail < s->reserve_bytes) {
            free(s);
            return AH_ENOSPC;
        }
    }
    int rc = AH_ENOMEM;
    char **listed = NULL;
    size_t n_listed = 0;
    const char **names = NULL;
    const rocksdb_options_t **cf_opts = NULL;

    s->opts = rocksdb_options_create();
    s->wo_sync = rocksdb_writeoptions_create();
    s->wo_async = rocksdb_writeoptions_create();
    s->ro = rocksdb_readoptions_create();
    s->wb = rocksdb_writebatch_create();
    if (!s->opts || !s->wo_sync || !s->wo_async || !s->ro || !s->wb)
        goto out_free;
    rocksdb_writeoptions_set_sync(s->wo_sync, 1);
    rocksdb_options_set_create_if_missing(s->opts, !(opts->no_create || opts->read_only));
    rocksdb_options_set_create_missing_column_families(s->opts, 1);
    rocksdb_options_set_paranoid_checks(s->opts, 1);
    /* Point-in-time recovery (the 7.x default, made explicit): after a crash
     * the store is the last consistent prefix of the WAL, so a torn batch at
     * the tail is dropped whole (docs/storage.md "crash safety"). */
    rocksdb_options_set_wal_recovery_mode(s->opts, 2);
    /* Flush all families together, so no family's SST files can run ahead
     * of another's (a batch spans families). */
    rocksdb_options_set_atomic_flush(s->opts, 1);
    rocksdb_options_set_keep_log_file_num(s->opts, 4);
    /* All families' memtables together at most 64 MB: each family's own
     * default (64 MB x 2) let the meter-state writes of a city's first gap
     * pass hold ~500 B per meter in memtables on top of the families' reads
     * (docs/benchmarks.md, memory at 1.56 M meters). */
    rocksdb_options_set_db_write_buffer_size(s->opts, (size_t)64 << 20);
    {
        /* No fallocate: preallocated WAL and MANIFEST space (~70 MB) would
         * make free space lie, and on a small disk fill it at once, so the
         * reserve check above could not tell the real margin. */
        rocksdb_options_t *o = rocksdb_options_create();
        char *oerr = NULL;
        if (o)
            rocksdb_get_options_from_string(s->opts, "allow_fallocate=false", o, &oerr);
        if (o && !oerr) {
            rocksdb_options_destroy(s->opts);
            s->opts = o;
        } else {
            rocksdb_free(oerr);
            if (o)
                rocksdb_options_destroy(o);
        }
    }
    if (opts->max_open_files)
        rocksdb_options_set_max_open_files(s->opts, opts->max_open_files);

    /* Open every column family on disk: RocksDB refuses to open a store
     * without all of them (a newer schema may have added some). */
    char *err = NULL;
    listed = rocksdb_list_column_families(s->opts, path, &n_listed, &err);
    if (err) {
        int lrc = store_err_from_rocksdb(err);
        if (lrc == AH_ENOENT && !(opts->no_create || opts->read_only)) {
            rocksdb_free(err);
            err = NULL;
            /* the failed listing still returns an (empty) array */
            if (listed)
                rocksdb_list_column_families_destroy(listed, n_listed);
            listed = NULL;
            n_listed = 0;
        } else {
            rc = err_take(NULL, err, path);
            goto out_free;
        }
    }
    size_t n_names = CF_N;
    for (size_t i = 0; i < n_listed; i++)
        if (!is_ours(listed[i]))
            n_names++;
    names = calloc(n_names, sizeof *names);
    cf_opts = calloc(n_names, sizeof *cf_opts);
    s->handles = calloc(n_names, sizeof *s->handles);
    if (!names || !cf_opts || !s->handles)
        goto out_free;
    for (int i = 0; i < CF_N; i++)
        names[i] = cf_names[i];
    size_t j = CF_N;
    for (size_t i = 0; i < n_listed; i++)
        if (!is_ours(listed[i]))
            names[j++] = listed[i];
    for (size_t i = 0; i < n_names; i++)
        cf_opts[i] = s->opts;
    s->n_handles = (int)n_names;

    if (opts->read_only) {
        s->db = rocksdb_open_for_read_only_column_families(
            s->opts, path, s->n_handles, names, cf_opts, s->handles, 0, &err);
        /* A read-only open cannot create missing families: an old store
         * opened read-only would lack none of ours, a foreign one would. */
    } else {
        s->db = rocksdb_open_column_families(s->opts, path, s->n_handles, names, cf_opts,
                                             s->handles, &err);
    }
    if (err) {
        rc = err_take(NULL, err, path);
        s->db = NULL;
        goto out_free;
    }

    if ((rc = check_schema(s, path)) != AH_OK)
        goto out_copy_detail;
    if ((rc = load_headend_id(s, opts->headend_id)) != AH_OK)
        goto out_copy_detail;
    if ((rc = load_next_seq(s)) != AH_OK)
        goto out_copy_detail;
    if ((rc = load_next_meter(s)) != AH_OK)
        goto out_copy_detail;

    free(names);
    free(cf_opts);
    if (listed)
        rocksdb_list_column_families_destroy(listed, n_listed);
    *out = s;
    return AH_OK;

out_copy_detail:
    if (tl_err.s != s || !tl_err.text[0])
        snprintf(open_detail, DETAIL_MAX, "store %s: %s", path, ah_strerror(rc));
    else
        snprintf(open_detail, DETAIL_MAX, "%s", tl_err.text);
out_free:
    free(names);
    free(cf_opts);
    if (listed)
        rocksdb_list_column_families_destroy(listed, n_listed);
    if (rc != AH_OK && open_detail[0] == '\0')
        snprintf(open_detail, DETAIL_MAX, "store %s: %s", path, ah_strerror(rc));
    store_close(&s);
    return rc;
}

int store_free_bytes(const char *path, uint64_t *free_bytes)
{
    char p[DETAIL_MAX];
    snprintf(p, sizeof p, "%s", path && *path ? path : ".");
    struct statvfs v;
    while (statvfs(p, &v) != 0) {
        char *slash = strrchr(p, '/');
        if (errno != ENOENT || !slash || !strcmp(p, "/")) {
            snprintf(open_detail, DETAIL_MAX, "statvfs %.400s: %s", p, strerror(errno));
            return AH_EIO;
        }
        if (slash == p)
            slash[1] = '\0'; /* "/" */
        else
            *slash = '\0';
    }
    *free_bytes = (uint64_t)v.f_bavail * (uint64_t)v.f_frsize;
    return AH_OK;
}

void store_close(store_t **sp)
{
    if (!sp || !*sp)
        return;
    store_t *s = *sp;
    if (s->handles) {
        for (int i = 0; i < s->n_handles; i++)
            if (s->handles[i])
                rocksdb_column_family_handle_destroy(s->handles[i]);
        free(s->handles);
    }
    if (s->db)
        rocksdb_close(s->db);
    if (s->wb)
        rocksdb_writebatch_destroy(s->wb);
    if (s->ro)
        rocksdb_readoptions_destroy(s->ro);
    if (s->wo_sync)
        rocksdb_writeoptions_destroy(s->wo_sync);
    if (s->wo_async)
        rocksdb_writeoptions_destroy(s->wo_async);
    if (s->opts)
        rocksdb_options_destroy(s->opts);
    free(s->ob);
    free(s);
    *sp = NULL;
}

/* ---- batch ------------------------------------------------------------ */

void store_batch_begin(store_t *s)
{
    rocksdb_writebatch_clear(s->wb);
    s->batch_max_seq = 0;
    s->ob_len = 0;
    s->ob_n = 0;
}

int store_batch_put_read(store_t *s, uint32_t meter, uint64_t end,
                         const struct ah_read *rec)
{
    uint8_t k[STORE_REC_READ_KEY_LEN];
    uint8_t v[STORE_REC_MAX_LEN];
    int n = store_rec_encode(rec, v, sizeof v);
    if (n < 0)
        return n;
    store_rec_read_key(k, meter, end);
    rocksdb_writebatch_put_cf(s->wb, cf(s, CF_READS), (const char *)k, sizeof k,
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
    rocksdb_writebatch_put_cf(s->wb, cf(s, CF_EVENTS), (const char *)k, sizeof k,
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
    rocksdb_writebatch_put_cf(s->wb, cf(s, CF_OUTBOX), (const char *)k, sizeof k,
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

static void state_key(uint8_t k[5], uint32_t meter)
{
    k[0] = MK_STATE;
    store_rec_put_be32(k + 1, meter);
}

int store_batch_put_meter_state(store_t *s, uint32_t meter, const void *bytes, size_t len)
{
    if (!bytes && len)
        return AH_EINVAL;
    uint8_t k[5];
    state_key(k, meter);
    rocksdb_writebatch_put_cf(s->wb, cf(s, CF_METERS), (const char *)k, sizeof k,
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
    int rc = write_batch(s, s->wb, sync, "commit batch");
    if (rc != AH_OK)
        return rc;
    if (s->batch_max_seq >= s->next_seq)
        s->next_seq = s->batch_max_seq + 1;
    store_batch_begin(s);
    return AH_OK;
}

/* ---- reads ------------------------------------------------------------ */

int store_get_read(store_t *s, uint32_t meter, uint64_t end, struct ah_read *out)
{
    uint8_t k[STORE_REC_READ_KEY_LEN];
    store_rec_read_key(k, meter, end);
    rocksdb_pinnableslice_t *ps;
    int rc = get_pinned(s, CF_READS, k, sizeof k, &ps);
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
    if (get_pinned(s, CF_READS, k, sizeof k, &ps) != AH_OK)
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
    return rc->fn(rc->ctx, meter, end, &rec);
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
    return scan(s, CF_READS, lo, sizeof lo, hi, sizeof hi, reads_visit, &rc);
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
    int rc = scan(s, CF_READS, lo, sizeof lo, hi, sizeof hi, gap_visit, &g);
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
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(s->db, s->ro, cf(s, CF_READS));
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
            rc = fail(s, AH_ESTORE, "reads key of %zu bytes", klen);
            break;
        }
        if (end < bound) {
            uint8_t lo[STORE_REC_READ_KEY_LEN], hi[STORE_REC_READ_KEY_LEN];
            store_rec_read_key(lo, meter, 0);
            store_rec_read_key(hi, meter, bound);
            rocksdb_writebatch_delete_range_cf(wb, cf(s, CF_READS), (const char *)lo,
                                               sizeof lo, (const char *)hi, sizeof hi);
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
            rc = err_take(s, err, "retention scan");
    }
    rocksdb_iter_destroy(it);
    if (rc == AH_OK && rocksdb_writebatch_count(wb) > 0)
        rc = write_batch(s, wb, true, "delete old reads");
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
    return scan(s, CF_EVENTS, lo, sizeof lo, hi, sizeof hi, events_visit, &ec);
}

int store_delete_events_before(store_t *s, uint64_t bound)
{
    uint8_t lo[STORE_REC_EVENT_KEY_LEN], hi[STORE_REC_EVENT_KEY_LEN];
    store_rec_event_key(lo, 0, 0, 0);
    store_rec_event_key(hi, bound, 0, 0);
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    rocksdb_writebatch_delete_range_cf(wb, cf(s, CF_EVENTS), (const char *)lo, sizeof lo,
                                       (const char *)hi, sizeof hi);
    int rc = write_batch(s, wb, true, "delete old events");
    rocksdb_writebatch_destroy(wb);
    return rc;
}

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
    int rc = last_key_before(s, CF_OUTBOX, b, sizeof b, k, sizeof k, &klen);
    if (rc == AH_OK && store_rec_outbox_key_parse(k, klen, first) != AH_OK)
        return fail(s, AH_ESTORE, "outbox key of %zu bytes", klen);
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
    if ((rc = get_pinned(s, CF_OUTBOX, k, sizeof k, &ps)) != AH_OK)
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
    return scan(s, CF_OUTBOX, lo, sizeof lo, hi, sizeof hi, outbox_visit, &oc);
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
    int rc = get_pinned(s, CF_OUTBOX, k, sizeof k, &ps);
    if (rc != AH_OK)
        return rc == AH_ENOENT ? AH_OK : rc;
    size_t vlen;
    const uint8_t *v = (const uint8_t *)rocksdb_pinnableslice_value(ps, &vlen);
    if (first + row_count(v, vlen) <= bound) {
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
        rocksdb_writebatch_put_cf(wb, cf(s, CF_OUTBOX), (const char *)k, sizeof k,
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
    rocksdb_writebatch_delete_range_cf(wb, cf(s, CF_OUTBOX), (const char *)lo, sizeof lo,
                                       (const char *)hi, sizeof hi);
    uint64_t first;
    int rc = bound ? row_at(s, bound - 1, &first) : AH_ENOENT;
    if (rc == AH_OK)
        rc = keep_tail(s, wb, first, bound);
    else if (rc == AH_ENOENT)
        rc = AH_OK;
    rocksdb_writebatch_put_cf(wb, cf(s, CF_META), META_NEXT_SEQ, strlen(META_NEXT_SEQ),
                              (const char *)v, sizeof v);
    if (rc == AH_OK)
        rc = write_batch(s, wb, true, "delete old outbox");
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
    int rc = scan(s, CF_OUTBOX, NULL, 0, NULL, 0, first_seq_visit, &seq);
    return rc == 1 ? seq : s->next_seq;
}

/* ---- meters ----------------------------------------------------------- */

static void name_key(uint8_t k[5], uint32_t idx)
{
    k[0] = MK_NAME;
    store_rec_put_be32(k + 1, idx);
}

int store_meter_index(store_t *s, const char *meter_id, bool create, uint32_t *idx)
{
    if (!meter_id || !idx)
        return AH_EINVAL;
    size_t len = strlen(meter_id);
    if (len == 0 || len > STORE_METER_ID_MAX)
        return AH_EINVAL;
    uint8_t k[1 + STORE_METER_ID_MAX];
    k[0] = MK_ID;
    memcpy(k + 1, meter_id, len);
    uint8_t v[4];
    size_t vlen = 0;
    int rc = get_copy(s, CF_METERS, k, 1 + len, v, sizeof v, &vlen);
    if (rc == AH_OK && vlen == sizeof v) {
        *idx = store_rec_get_be32(v);
        return AH_OK;
    }
    if (rc == AH_OK || rc == AH_EOVERFLOW)
        return fail(s, AH_ESTORE, "meter %s: index of %zu bytes", meter_id, vlen);
    if (rc != AH_ENOENT || !create)
        return rc;
    if (s->next_meter == 0) /* wrapped past UINT32_MAX */
        return AH_ERANGE;

    uint32_t n = s->next_meter;
    uint8_t nk[5];
    name_key(nk, n);
    store_rec_put_be32(v, n);
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    rocksdb_writebatch_put_cf(wb, cf(s, CF_METERS), (const char *)k, 1 + len,
                              (const char *)v, sizeof v);
    rocksdb_writebatch_put_cf(wb, cf(s, CF_METERS), (const char *)nk, sizeof nk, meter_id,
                              len);
    rc = write_batch(s, wb, true, "register meter");
    rocksdb_writebatch_destroy(wb);
    if (rc != AH_OK)
        return rc;
    s->next_meter = n + 1;
    *idx = n;
    return AH_OK;
}

static int cmp_id_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int store_meters_register(store_t *s, const char *const *ids, size_t n, uint32_t *idx)
{
    if (!s || (!ids && n) || (!idx && n))
        return AH_EINVAL;
    const char **fresh = malloc((n ? n : 1) * sizeof *fresh);
    size_t *at = malloc((n ? n : 1) * sizeof *at);
    if (!fresh || !at) {
        free(fresh);
        free(at);
        return AH_ENOMEM;
    }
    size_t nf = 0;
    int rc = AH_OK;
    for (size_t i = 0; i < n && rc == AH_OK; i++) {
        rc = store_meter_index(s, ids[i], false, &idx[i]);
        if (rc == AH_ENOENT) {
            fresh[nf] = ids[i];
            at[nf++] = i;
            rc = AH_OK;
        }
    }
    if (rc == AH_OK && nf > 1) {
        /* a repeated new id would get two indices and orphan one: refuse */
        const char **sorted = malloc(nf * sizeof *sorted);
        if (!sorted) {
            rc = AH_ENOMEM;
        } else {
            memcpy(sorted, fresh, nf * sizeof *sorted);
            qsort(sorted, nf, sizeof *sorted, cmp_id_ptr);
            for (size_t i = 1; i < nf && rc == AH_OK; i++)
                if (!strcmp(sorted[i - 1], sorted[i]))
                    rc = fail(s, AH_EINVAL, "meter %s given twice", sorted[i]);
            free(sorted);
        }
    }
    if (rc == AH_OK && nf) {
        if ((uint64_t)s->next_meter + nf > UINT32_MAX || s->next_meter == 0)
            rc = AH_ERANGE;
    }
    if (rc == AH_OK && nf) {
        rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
        uint32_t next = s->next_meter;
        /* names after ids: runs of neighbouring keys insert faster */
        for (size_t j = 0; j < nf; j++) {
            size_t len = strlen(fresh[j]);
            uint8_t k[1 + STORE_METER_ID_MAX], v[4];
            k[0] = MK_ID;
            memcpy(k + 1, fresh[j], len);
            store_rec_put_be32(v, next + (uint32_t)j);
            rocksdb_writebatch_put_cf(wb, cf(s, CF_METERS), (const char *)k, 1 + len,
                                      (const char *)v, sizeof v);
        }
        for (size_t j = 0; j < nf; j++) {
            uint8_t nk[5];
            name_key(nk, next + (uint32_t)j);
            rocksdb_writebatch_put_cf(wb, cf(s, CF_METERS), (const char *)nk, sizeof nk,
                                      fresh[j], strlen(fresh[j]));
        }
        rc = write_batch(s, wb, true, "register meters");
        rocksdb_writebatch_destroy(wb);
        if (rc == AH_OK) {
            for (size_t j = 0; j < nf; j++)
                idx[at[j]] = next + (uint32_t)j;
            s->next_meter = next + (uint32_t)nf;
        }
    }
    free(fresh);
    free(at);
    return rc;
}

int store_meter_id(store_t *s, uint32_t idx, char *buf, size_t cap)
{
    if (!buf || cap == 0)
        return AH_EINVAL;
    uint8_t k[5];
    name_key(k, idx);
    size_t len = 0;
    int rc = get_copy(s, CF_METERS, k, sizeof k, buf, cap - 1, &len);
    if (rc == AH_OK)
        buf[len] = '\0';
    return rc;
}

struct meters_ctx {
    store_meter_fn fn;
    void *ctx;
};

static int meters_visit(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v,
                        size_t vlen)
{
    struct meters_ctx *mc = ctx;
    char id[STORE_METER_ID_MAX + 1];
    if (klen != 5 || vlen == 0 || vlen > STORE_METER_ID_MAX)
        return AH_ESTORE;
    memcpy(id, v, vlen);
    id[vlen] = '\0';
    return mc->fn(mc->ctx, store_rec_get_be32(k + 1), id);
}

int store_meters_each(store_t *s, store_meter_fn fn, void *ctx)
{
    if (!fn)
        return AH_EINVAL;
    uint8_t lo[1] = {MK_NAME}, hi[1] = {MK_NAME + 1};
    struct meters_ctx mc = {fn, ctx};
    return scan(s, CF_METERS, lo, sizeof lo, hi, sizeof hi, meters_visit, &mc);
}

int store_get_meter_state(store_t *s, uint32_t meter, void *buf, size_t cap, size_t *len)
{
    uint8_t k[5];
    state_key(k, meter);
    return get_copy(s, CF_METERS, k, sizeof k, buf, cap, len);
}

/* ---- learned load-record batch size (issue 16 item 2) ----------------- */

static void lrn_key(uint8_t k[5], uint32_t meter)
{
    k[0] = MK_LRN;
    store_rec_put_be32(k + 1, meter);
}

int store_batch_put_meter_lr_blocks(store_t *s, uint32_t meter, uint8_t n)
{
    if (n == 0)
        return AH_EINVAL;
    uint8_t k[5];
    lrn_key(k, meter);
    rocksdb_writebatch_put_cf(s->wb, cf(s, CF_METERS), (const char *)k, sizeof k,
                              (const char *)&n, 1);
    return AH_OK;
}

int store_get_meter_lr_blocks(store_t *s, uint32_t meter, uint8_t *n)
{
    uint8_t k[5];
    lrn_key(k, meter);
    size_t len = 0;
    int rc = get_copy(s, CF_METERS, k, sizeof k, n, 1, &len);
    if (rc == AH_OK && (len != 1 || *n == 0))
        rc = AH_ESTORE;
    return rc;
}
