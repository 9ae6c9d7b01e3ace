/*
 * store — RocksDB adapter of the head-end (see store.h, docs/storage.md).
 *
 * The only includer of rocksdb/c.h (with the other store_*.c parts, see
 * store_int.h). This file is the one place RocksDB's errptr is translated:
 * every error goes through store_err_take(), which keeps RocksDB's message
 * for the log and maps it to an ah_err. Here too are the primitives the
 * other parts build on (get, scan, write). It holds no validation or
 * publishing logic.
 */
#include "store_int.h"

#include "ah_err.h"

#include <rocksdb/c.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

static _Thread_local char open_detail[DETAIL_MAX];
/* The last failure text of each thread, with the store it belongs to: the
 * writer commits while the replay thread and gap queries read, each under
 * a lock of its own, so a text kept in the store_t would be written by two
 * threads at once and logged torn or with the other's words (issue 15). */
static _Thread_local struct {
    const store_t *s;
    char text[DETAIL_MAX];
} tl_err;

char *store_detail(const store_t *s)
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

int store_err_take(store_t *s, char *err, const char *what)
{
    char *dst = store_detail(s);
    int rc = store_err_from_rocksdb(err);
    snprintf(dst, DETAIL_MAX, "%s: %s", what, err);
    rocksdb_free(err);
    return rc;
}

int store_fail(store_t *s, int rc, const char *fmt, ...)
{
    char *dst = store_detail(s);
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

/* ---- RocksDB primitives the other parts build on --------------------- */

int store_get_pinned(store_t *s, int which, const void *key, size_t klen,
                     rocksdb_pinnableslice_t **ps)
{
    char *err = NULL;
    *ps = rocksdb_get_pinned_cf(s->db, s->ro, store_cf(s, which), key, klen, &err);
    if (err)
        return store_err_take(s, err, "get");
    return *ps ? AH_OK : AH_ENOENT;
}

int store_get_copy(store_t *s, int which, const void *key, size_t klen, void *buf,
                   size_t cap, size_t *len)
{
    rocksdb_pinnableslice_t *ps;
    int rc = store_get_pinned(s, which, key, klen, &ps);
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

int store_write(store_t *s, rocksdb_writebatch_t *wb, bool sync, const char *what)
{
    if (s->read_only)
        return store_fail(s, AH_ENOTSUP, "%s: store opened read-only", what);
    if (s->reserve_bytes) {
        /* Refuse here rather than let RocksDB meet ENOSPC (store.h). */
        uint64_t avail;
        if (store_free_bytes(s->path, &avail) == AH_OK && avail < s->reserve_bytes)
            return store_fail(s, AH_ENOSPC,
                              "%s: %" PRIu64 " kB free on %s, below the %" PRIu64
                              " kB reserve (storage.reserve_mb)",
                              what, avail >> 10, s->path, s->reserve_bytes >> 10);
    }
    char *err = NULL;
    rocksdb_write(s->db, sync ? s->wo_sync : s->wo_async, wb, &err);
    if (err)
        return store_err_take(s, err, what);
    return AH_OK;
}

int store_scan(store_t *s, int which, const uint8_t *lo, size_t lolen, const uint8_t *hi,
               size_t hilen, store_kv_fn fn, void *ctx)
{
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    if (!ro)
        return AH_ENOMEM;
    if (hi)
        rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)hi, hilen);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(s->db, ro, store_cf(s, which));
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
            rc = store_err_take(s, err, "iterate");
    }
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    return rc;
}

int store_last_key_before(store_t *s, int which, const uint8_t *bound, size_t blen,
                          uint8_t *out, size_t cap, size_t *len)
{
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(s->db, s->ro, store_cf(s, which));
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
        rc = store_err_take(s, err, "seek");
    rocksdb_iter_destroy(it);
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
