/*
 * ut_forge — put a key and value into one of the store's column families
 * behind its back, as a damaged disk or an older version would have left
 * it: the tests' only direct use of RocksDB. The store must be closed.
 */
#ifndef AH_UT_FORGE_H
#define AH_UT_FORGE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>

#include <cmocka.h>
#include <rocksdb/c.h>

static inline void ut_forge(const char *dir, const char *cfname, const void *k,
                            size_t klen, const void *v, size_t vlen)
{
    const char *names[6] = {"default", "reads", "events", "outbox", "meters", "meta"};
    rocksdb_options_t *o = rocksdb_options_create();
    const rocksdb_options_t *co[6] = {o, o, o, o, o, o};
    rocksdb_column_family_handle_t *h[6];
    char *err = NULL;
    rocksdb_t *db = rocksdb_open_column_families(o, dir, 6, names, co, h, &err);
    assert_null(err);
    int which = -1;
    for (int i = 0; i < 6; i++)
        if (strcmp(names[i], cfname) == 0)
            which = i;
    assert_true(which >= 0);
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    rocksdb_put_cf(db, wo, h[which], k, klen, v, vlen, &err);
    assert_null(err);
    rocksdb_writeoptions_destroy(wo);
    for (int i = 0; i < 6; i++)
        rocksdb_column_family_handle_destroy(h[i]);
    rocksdb_close(db);
    rocksdb_options_destroy(o);
}

#endif /* AH_UT_FORGE_H */
