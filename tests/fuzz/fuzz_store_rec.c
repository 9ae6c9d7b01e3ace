/*
 * fuzz_store_rec — record v1 decoding and key parsing of the store. Values
 * read back from RocksDB are outside input (a damaged disk, a foreign
 * store): decode must never read out of bounds, and whatever it accepts must
 * encode back to exactly the same bytes (one canonical form per read).
 */
#include "ah_err.h"
#include "store_rec.h"

#include <string.h>

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ah_read r;
    int rc = store_rec_decode(data, size, &r);
    if (rc == AH_OK) {
        uint8_t again[STORE_REC_MAX_LEN];
        int n = store_rec_encode(&r, again, sizeof again);
        if (n < 0 || (size_t)n != size || memcmp(again, data, size) != 0)
            abort();
    } else if (rc != AH_EFRAME && rc != AH_ENOTSUP) {
        abort();
    }

    uint32_t meter;
    uint64_t t, seq;
    uint16_t type;
    if (store_rec_read_key_parse(data, size, &meter, &t) == AH_OK) {
        uint8_t k[STORE_REC_READ_KEY_LEN];
        store_rec_read_key(k, meter, t);
        if (memcmp(k, data, sizeof k) != 0)
            abort();
    }
    if (store_rec_event_key_parse(data, size, &t, &meter, &type) == AH_OK) {
        uint8_t k[STORE_REC_EVENT_KEY_LEN];
        store_rec_event_key(k, t, meter, type);
        if (memcmp(k, data, sizeof k) != 0)
            abort();
    }
    if (store_rec_outbox_key_parse(data, size, &seq) == AH_OK) {
        uint8_t k[STORE_REC_OUTBOX_KEY_LEN];
        store_rec_outbox_key(k, seq);
        if (memcmp(k, data, sizeof k) != 0)
            abort();
    }
    return 0;
}
