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

#include <stddef.h>
#include <stdint.h>

/* Record format written by this code; docs/storage.md "record v1". */
#define STORE_REC_VERSION 1
/* Exact encoded length of a version 1 record. */
#define STORE_REC_V1_LEN 242
/* Buffer size enough for any record this code encodes. */
#define STORE_REC_MAX_LEN STORE_REC_V1_LEN

#define STORE_REC_TARIFFS 4

/* Where the read came from. */
enum store_rec_source {
    STORE_REC_LIVE = 0,     /* read in its own cycle */
    STORE_REC_BACKFILL = 1, /* recovered later from the meter's load memory (补抄) */
    STORE_REC_RELEASED = 2, /* suspect read released by an operator */
};

/* Reactive energy registers (DL/T 645-2007 DI 0003/0004 combined reactive
 * 1/2, 0005..0008 quadrants I..IV; protocols.md §2). */
enum store_rec_reactive {
    STORE_REC_RCOMB1,
    STORE_REC_RCOMB2,
    STORE_REC_RQ1,
    STORE_REC_RQ2,
    STORE_REC_RQ3,
    STORE_REC_RQ4,
    STORE_REC_NREACTIVE
};

/* Index into the per-phase arrays that also carry a total. */
enum store_rec_phase {
    STORE_REC_TOTAL = 0,
    STORE_REC_A = 1,
    STORE_REC_B = 2,
    STORE_REC_C = 3
};

/* Presence bits: which fields the meter actually supplied. A field whose
 * bit is clear is not available (not zero) and is stored as 0. */
#define STORE_REC_HAS_IMP_TOTAL   (1u << 0)
#define STORE_REC_HAS_IMP_TARIFFS (1u << 1)
#define STORE_REC_HAS_EXP_TOTAL   (1u << 2)
#define STORE_REC_HAS_EXP_TARIFFS (1u << 3)
#define STORE_REC_HAS_REACTIVE(i) (1u << (4 + (i)))   /* i: enum store_rec_reactive */
#define STORE_REC_HAS_VOLTAGE(ph) (1u << (10 + (ph))) /* ph 0..2 = A..C */
#define STORE_REC_HAS_CURRENT(ph) (1u << (13 + (ph))) /* ph 0..2 = A..C */
#define STORE_REC_HAS_P(i)        (1u << (16 + (i)))  /* i: enum store_rec_phase */
#define STORE_REC_HAS_Q(i)        (1u << (20 + (i)))
#define STORE_REC_HAS_PF(i)       (1u << (24 + (i)))
#define STORE_REC_HAS_FREQ        (1u << 28)
#define STORE_REC_HAS_METER_CLOCK (1u << 29)
#define STORE_REC_HAS_STATUS      (1u << 30)
#define STORE_REC_HAS_ALL         0x7FFFFFFFu

/*
 * One interval read as the pipeline hands it to the store. All quantities
 * are SECONDARY values (what the meter registers) as scaled integers; the
 * primary value is exactly secondary × ct × pt. The key (meter index,
 * interval end) is not part of the record.
 */
struct store_rec {
    uint8_t source;           /* enum store_rec_source */
    uint32_t present;         /* STORE_REC_HAS_* */
    uint32_t quality;         /* VEE reason bits (reference/vee.md); 0 = clean */
    uint32_t ct;              /* CT ratio applied, 1..10000 (docs/config.md) */
    uint32_t pt;              /* PT ratio applied, 1..10000 */
    int64_t meter_clock_ms;   /* meter clock at read, UTC ms */
    int64_t headend_clock_ms; /* head-end clock at read, UTC ms */
    /* 0.01 kWh: active import (forward) and export (reverse), total and
     * tariffs 1..4 (尖峰平谷 order as the meter numbers them). */
    int64_t imp_total, imp_tariff[STORE_REC_TARIFFS];
    int64_t exp_total, exp_tariff[STORE_REC_TARIFFS];
    int64_t reactive[STORE_REC_NREACTIVE]; /* 0.01 kvarh, totals */
    int32_t voltage[3];                    /* 0.1 V, phases A..C */
    int32_t current[3];                    /* 0.001 A, signed, phases A..C */
    int32_t p[4];                          /* 0.0001 kW, signed, total,A,B,C */
    int32_t q[4];                          /* 0.0001 kvar, signed, total,A,B,C */
    int16_t pf[4];                         /* 0.001, signed, total,A,B,C */
    uint16_t freq;                         /* 0.01 Hz */
    uint16_t status[7];                    /* meter status words 1..7 as read */
};

/*
 * Encode r into out[0 .. STORE_REC_V1_LEN). Fields whose presence bit is
 * clear are written as 0, so equal reads give equal bytes. Returns the
 * length written, or AH_EOVERFLOW if cap is too small, AH_EINVAL if the
 * source or presence bits are undefined. out: borrowed.
 */
int store_rec_encode(const struct store_rec *r, uint8_t *out, size_t cap);

/*
 * Decode n bytes into *r. AH_ENOTSUP for a version this code does not know,
 * AH_EFRAME for a wrong length, an undefined source or presence bit, or a
 * non-zero absent field. *r is only meaningful on AH_OK.
 */
int store_rec_decode(const uint8_t *in, size_t n, struct store_rec *r);

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
