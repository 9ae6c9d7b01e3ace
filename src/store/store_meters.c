/*
 * store_meters — the meter registry (id <-> index, store.h "meters") and
 * the per-meter values the writer keeps in the meters family (validation
 * state, learned load-record batch size), read back here.
 */
#include "store_int.h"

#include "ah_err.h"

#include <rocksdb/c.h>

#include <stdlib.h>
#include <string.h>

/* ---- meters ----------------------------------------------------------- */

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
    int rc = store_get_copy(s, CF_METERS, k, 1 + len, v, sizeof v, &vlen);
    if (rc == AH_OK && vlen == sizeof v) {
        *idx = store_rec_get_be32(v);
        return AH_OK;
    }
    if (rc == AH_OK || rc == AH_EOVERFLOW)
        return store_fail(s, AH_ESTORE, "meter %s: index of %zu bytes", meter_id, vlen);
    if (rc != AH_ENOENT || !create)
        return rc;
    if (s->next_meter == 0) /* wrapped past UINT32_MAX */
        return AH_ERANGE;

    uint32_t n = s->next_meter;
    uint8_t nk[5];
    store_name_key(nk, n);
    store_rec_put_be32(v, n);
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    rocksdb_writebatch_put_cf(wb, store_cf(s, CF_METERS), (const char *)k, 1 + len,
                              (const char *)v, sizeof v);
    rocksdb_writebatch_put_cf(wb, store_cf(s, CF_METERS), (const char *)nk, sizeof nk,
                              meter_id, len);
    rc = store_write(s, wb, true, "register meter");
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
                    rc = store_fail(s, AH_EINVAL, "meter %s given twice", sorted[i]);
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
            rocksdb_writebatch_put_cf(wb, store_cf(s, CF_METERS), (const char *)k,
                                      1 + len, (const char *)v, sizeof v);
        }
        for (size_t j = 0; j < nf; j++) {
            uint8_t nk[5];
            store_name_key(nk, next + (uint32_t)j);
            rocksdb_writebatch_put_cf(wb, store_cf(s, CF_METERS), (const char *)nk,
                                      sizeof nk, fresh[j], strlen(fresh[j]));
        }
        rc = store_write(s, wb, true, "register meters");
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
    store_name_key(k, idx);
    size_t len = 0;
    int rc = store_get_copy(s, CF_METERS, k, sizeof k, buf, cap - 1, &len);
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
    return store_scan(s, CF_METERS, lo, sizeof lo, hi, sizeof hi, meters_visit, &mc);
}

int store_get_meter_state(store_t *s, uint32_t meter, void *buf, size_t cap, size_t *len)
{
    uint8_t k[5];
    store_state_key(k, meter);
    return store_get_copy(s, CF_METERS, k, sizeof k, buf, cap, len);
}

int store_get_meter_lr_blocks(store_t *s, uint32_t meter, uint8_t *n)
{
    uint8_t k[5];
    store_lrn_key(k, meter);
    size_t len = 0;
    int rc = store_get_copy(s, CF_METERS, k, sizeof k, n, 1, &len);
    if (rc == AH_OK && (len != 1 || *n == 0))
        rc = AH_ESTORE;
    return rc;
}
