/*
 * store_open — opening and closing the store (store.h, docs/storage.md):
 * RocksDB options, every column family on disk, and what meta holds (schema
 * version, head-end id, sequence floor) plus the registry's next index.
 * Nothing here runs after store_open() returns except store_close().
 */
#include "store_int.h"

#include "ah_err.h"

#include <rocksdb/c.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- open / close ----------------------------------------------------- */

/* meta schema = STORE_SCHEMA_VERSION, synced. */
static int put_schema(store_t *s, const char *what)
{
    uint8_t v[4];
    store_rec_put_be32(v, STORE_SCHEMA_VERSION);
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    rocksdb_writebatch_put_cf(wb, store_cf(s, CF_META), META_SCHEMA, strlen(META_SCHEMA),
                              (const char *)v, sizeof v);
    int rc = store_write(s, wb, true, what);
    rocksdb_writebatch_destroy(wb);
    return rc;
}

static int check_schema(store_t *s, const char *path)
{
    uint8_t v[4];
    size_t len = 0;
    int rc =
        store_get_copy(s, CF_META, META_SCHEMA, strlen(META_SCHEMA), v, sizeof v, &len);
    if (rc == AH_ENOENT) {
        if (s->read_only)
            return AH_OK; /* an empty store: nothing to misread */
        return put_schema(s, "write schema version");
    }
    if (rc == AH_EOVERFLOW || (rc == AH_OK && len != sizeof v))
        return store_fail(s, AH_ESTORE, "store %s: meta schema is %zu bytes, not 4", path,
                          len);
    if (rc != AH_OK)
        return rc;
    uint32_t ver = store_rec_get_be32(v);
    if (ver > STORE_SCHEMA_VERSION)
        return store_fail(
            s, AH_ENOTSUP,
            "store %s has schema version %lu, newer than the %d this amihead "
            "understands; refusing to open it (use a newer amihead)",
            path, (unsigned long)ver, STORE_SCHEMA_VERSION);
    if (ver == 0)
        return store_fail(s, AH_ESTORE, "store %s: schema version 0 is invalid", path);
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
    int rc = store_get_copy(s, CF_META, META_HEADEND, strlen(META_HEADEND), s->headend_id,
                            STORE_HEADEND_ID_MAX, &len);
    if (rc == AH_OK) {
        s->headend_id[len] = '\0';
        return AH_OK;
    }
    if (rc == AH_EOVERFLOW)
        return store_fail(s, AH_ESTORE, "meta headend_id is %zu bytes, over %d", len,
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
    rocksdb_writebatch_put_cf(wb, store_cf(s, CF_META), META_HEADEND,
                              strlen(META_HEADEND), want, wl);
    rc = store_write(s, wb, true, "write headend id");
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
    int rc = store_last_key_before(s, CF_OUTBOX, NULL, 0, k, sizeof k, &klen);
    if (rc == AH_OK) {
        uint64_t seq;
        if (store_rec_outbox_key_parse(k, klen, &seq) != AH_OK)
            return store_fail(s, AH_ESTORE, "outbox key of %zu bytes", klen);
        rocksdb_pinnableslice_t *ps; /* the last row may be a chunk */
        if ((rc = store_get_pinned(s, CF_OUTBOX, k, klen, &ps)) != AH_OK)
            return rc;
        size_t vlen;
        const char *v = rocksdb_pinnableslice_value(ps, &vlen);
        next = seq + store_outbox_row_count((const uint8_t *)v, vlen);
        rocksdb_pinnableslice_destroy(ps);
    } else if (rc != AH_ENOENT && rc != AH_EOVERFLOW) {
        return rc;
    } else if (rc == AH_EOVERFLOW) {
        return AH_ESTORE;
    }
    uint8_t v[8];
    size_t len = 0;
    rc = store_get_copy(s, CF_META, META_NEXT_SEQ, strlen(META_NEXT_SEQ), v, sizeof v,
                        &len);
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
    int rc = store_last_key_before(s, CF_METERS, bound, sizeof bound, k, sizeof k, &klen);
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

/* Opening writes (WAL, MANIFEST, recovery flush): on a full disk RocksDB
 * would abort before a word is logged, so a disk already below the reserve
 * is refused before RocksDB sees it. */
static int open_check_reserve(const store_t *s, const char *path)
{
    uint64_t avail;
    if (!s->reserve_bytes || store_free_bytes(path, &avail) != AH_OK ||
        avail >= s->reserve_bytes)
        return AH_OK;
    return store_fail(NULL, AH_ENOSPC,
                      "store %s: %" PRIu64 " kB free, below the %" PRIu64
                      " kB reserve (storage.reserve_mb): free some space first",
                      path, avail >> 10, s->reserve_bytes >> 10);
}

/* The RocksDB options of every store: the choices below are what the crash
 * and full-disk guarantees of docs/storage.md rest on. */
static int open_options(store_t *s, const struct store_opts *opts)
{
    s->opts = rocksdb_options_create();
    s->wo_sync = rocksdb_writeoptions_create();
    s->wo_async = rocksdb_writeoptions_create();
    s->ro = rocksdb_readoptions_create();
    s->wb = rocksdb_writebatch_create();
    if (!s->opts || !s->wo_sync || !s->wo_async || !s->ro || !s->wb)
        return AH_ENOMEM;
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
    /* No fallocate: preallocated WAL and MANIFEST space (~70 MB) would make
     * free space lie, and on a small disk fill it at once, so the reserve
     * check could not tell the real margin. */
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
    if (opts->max_open_files)
        rocksdb_options_set_max_open_files(s->opts, opts->max_open_files);
    return AH_OK;
}

/* The column families on disk into *listed (caller destroys it when not
 * NULL). A missing store lists none when it may be created. */
static int list_families(store_t *s, const char *path, bool create, char ***listed,
                         size_t *n_listed)
{
    char *err = NULL;
    *n_listed = 0;
    *listed = rocksdb_list_column_families(s->opts, path, n_listed, &err);
    if (!err)
        return AH_OK;
    int rc = AH_OK;
    if (store_err_from_rocksdb(err) != AH_ENOENT || !create)
        rc = store_err_take(NULL, err, path);
    else
        rocksdb_free(err);
    /* the failed listing still returns an (empty) array */
    if (*listed)
        rocksdb_list_column_families_destroy(*listed, *n_listed);
    *listed = NULL;
    *n_listed = 0;
    return rc;
}

/* Open ours and every other column family on disk: RocksDB refuses to open
 * a store without all of them (a newer schema may have added some). */
static int open_families(store_t *s, const char *path, const struct store_opts *opts)
{
    char **listed = NULL;
    size_t n_listed = 0;
    int rc =
        list_families(s, path, !(opts->no_create || opts->read_only), &listed, &n_listed);
    if (rc != AH_OK)
        return rc;
    size_t n_names = CF_N;
    for (size_t i = 0; i < n_listed; i++)
        if (!is_ours(listed[i]))
            n_names++;
    /* names borrow the listed strings: both live until the open is done */
    const char **names = calloc(n_names, sizeof *names);
    const rocksdb_options_t **cf_opts = calloc(n_names, sizeof *cf_opts);
    s->handles = calloc(n_names, sizeof *s->handles);
    rc = AH_ENOMEM;
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

    char *err = NULL;
    if (opts->read_only) {
        s->db = rocksdb_open_for_read_only_column_families(
            s->opts, path, s->n_handles, names, cf_opts, s->handles, 0, &err);
        /* A read-only open cannot create missing families: an old store
         * opened read-only would lack none of ours, a foreign one would. */
    } else {
        s->db = rocksdb_open_column_families(s->opts, path, s->n_handles, names, cf_opts,
                                             s->handles, &err);
    }
    rc = AH_OK;
    if (err) {
        rc = store_err_take(NULL, err, path);
        s->db = NULL;
    }
out_free:
    free(names);
    free(cf_opts);
    if (listed)
        rocksdb_list_column_families_destroy(listed, n_listed);
    return rc;
}

/* What meta and the families say about the open store: schema (written or
 * upgraded when writable), head-end id, next sequence, next meter index.
 * A failure's text moves to the open's detail, where store_last_error(NULL)
 * finds it once the store_t is gone. */
static int open_load_meta(store_t *s, const char *path, const struct store_opts *opts)
{
    int rc = check_schema(s, path);
    if (rc == AH_OK)
        rc = load_headend_id(s, opts->headend_id);
    if (rc == AH_OK)
        rc = load_next_seq(s);
    if (rc == AH_OK)
        rc = load_next_meter(s);
    if (rc == AH_OK)
        return AH_OK;
    char *open_detail = store_detail(NULL);
    if (!store_last_error(s)[0])
        snprintf(open_detail, DETAIL_MAX, "store %s: %s", path, ah_strerror(rc));
    else
        snprintf(open_detail, DETAIL_MAX, "%s", store_last_error(s));
    return rc;
}

/* Named phases, each leaving its failure text in the open's detail:
 * reserve, options, column families, meta. */
int store_open(const char *path, const struct store_opts *opts, store_t **out)
{
    struct store_opts defaults = {0};
    if (!opts)
        opts = &defaults;
    char *open_detail = store_detail(NULL);
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

    int rc = open_check_reserve(s, path);
    if (rc == AH_OK)
        rc = open_options(s, opts);
    if (rc == AH_OK)
        rc = open_families(s, path, opts);
    if (rc == AH_OK)
        rc = open_load_meta(s, path, opts);
    if (rc != AH_OK) {
        if (open_detail[0] == '\0')
            snprintf(open_detail, DETAIL_MAX, "store %s: %s", path, ah_strerror(rc));
        store_close(&s);
        return rc;
    }
    *out = s;
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
