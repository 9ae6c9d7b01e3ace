/*
 * store_rec — the on-disk interval-read record of the store and the key
 * layouts of its column families (DESIGN.md §5, docs/storage.md).
 *
 * Pure: no RocksDB, no I/O, no allocation, no logging, no clock. Every
 * multi-byte field is written and read byte by byte (record body little
 * endian, keys big endian so that RocksDB's bytewise order is time order);
 * no struct is ever cast over bytes. Bytes read back from disk are outside
 * input: the decoder trusts nothing, rejects unknown versions, short and
 * long buffers, undefined bits and values that encode() would never write.
 * It does not judge the values (that is the validator's job).
 */
#ifndef AH_STORE_REC_H
#define AH_STORE_REC_H

#include "ah_read.h"

#include <stddef.h>
#include <stdint.h>

/* Record format written by this code; docs/storage.md "record v1". */
#define STORE_REC_VERSION 1
/* Exact encoded length of a version 1 record. */
#define STORE_REC_V1_LEN 242
/* Buffer size enough for any record this code encodes. */
#define STORE_REC_MAX_LEN STORE_REC_V1_LEN

/*
 * The record holds one struct ah_read (src/core/ah_read.h) except:
 *  - end: the interval end is the read key (store_rec_read_key), not the
 *    record; store_rec_decode leaves it 0 for the caller to set;
 *  - the fields of AH_READ_HAS_COVER, _CLEAR_COUNT, _SERIAL and _FREEZE,
 *    read beside the interval for validation only: encode does not store
 *    them (nor their bits), decode gives them absent and 0.
 * Record v1's u32 `present` is the read's AH_READ_HAS_RECORD bits as they
 * are (docs/storage.md).
 */

/*
 * Encode r into out[0 .. STORE_REC_V1_LEN). Fields whose presence bit is
 * clear are written as 0, so equal reads give equal bytes; what the record
 * does not hold (see above) is left out. Returns the length written, or
 * AH_EOVERFLOW if cap is too small, AH_EINVAL if the source or presence
 * bits are undefined (outside AH_READ_HAS_ALL). out: borrowed.
 */
int store_rec_encode(const struct ah_read *r, uint8_t *out, size_t cap);

/*
 * Decode n bytes into *r (r->end 0: the key holds it). AH_ENOTSUP for a
 * version this code does not know, AH_EFRAME for a wrong length, an
 * undefined source or presence bit, or a non-zero absent field. *r is only
 * meaningful on AH_OK.
 */
int store_rec_decode(const uint8_t *in, size_t n, struct ah_read *r);

/* reads key: meter index u32 BE | interval end u64 BE (UTC seconds). */
#define STORE_REC_READ_KEY_LEN 12
void store_rec_read_key(uint8_t out[STORE_REC_READ_KEY_LEN], uint32_t meter,
                        uint64_t end);
/* AH_EFRAME unless n == STORE_REC_READ_KEY_LEN. */
int store_rec_read_key_parse(const uint8_t *k, size_t n, uint32_t *meter, uint64_t *end);

/* events key: time u64 BE (UTC seconds) | meter u32 BE | type u16 BE. */
#define STORE_REC_EVENT_KEY_LEN 14
void store_rec_event_key(uint8_t out[STORE_REC_EVENT_KEY_LEN], uint64_t t, uint32_t meter,
                         uint16_t type);
int store_rec_event_key_parse(const uint8_t *k, size_t n, uint64_t *t, uint32_t *meter,
                              uint16_t *type);

/* outbox key: sequence u64 BE. */
#define STORE_REC_OUTBOX_KEY_LEN 8
void store_rec_outbox_key(uint8_t out[STORE_REC_OUTBOX_KEY_LEN], uint64_t seq);
int store_rec_outbox_key_parse(const uint8_t *k, size_t n, uint64_t *seq);

/* Big-endian helpers shared with store.c. */
void store_rec_put_be32(uint8_t *p, uint32_t v);
void store_rec_put_be64(uint8_t *p, uint64_t v);
uint32_t store_rec_get_be32(const uint8_t *p);
uint64_t store_rec_get_be64(const uint8_t *p);

#endif /* AH_STORE_REC_H */
