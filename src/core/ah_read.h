/*
 * ah_read — the one value type of an interval read and its quality, from
 * the protocol adapter that reads it to the wire message that publishes it
 * (docs/architecture.md "One read's path").
 *
 * Produced by the DL/T 645 meter job and the Modbus poller; consumed by
 * validation (vee_eval), the store's record codec (store_rec_encode /
 * store_rec_decode) and the wire encoder (wire_encode_read). One presence
 * vocabulary, AH_READ_HAS_*, says which fields the meter supplied: a field
 * whose bit is clear is not available (not zero) and nobody reads it.
 *
 * All quantities are SECONDARY values (what the meter registers) as scaled
 * integers; the primary value is exactly secondary × ct × pt. The meter the
 * read belongs to is not part of it: whoever carries a read names the meter
 * (store index, inventory id) beside it.
 *
 * Only a type: no functions, no I/O. Control of the writer's queue (defer,
 * flush, ...) is not data and has no bit here.
 */
#ifndef AH_READ_H
#define AH_READ_H

#include <stdint.h>

#define AH_READ_TARIFFS 4

/* Where the read came from (stored in record v1: append only). */
enum ah_read_source {
    AH_READ_LIVE = 0,     /* read in its own cycle */
    AH_READ_BACKFILL = 1, /* recovered later from the meter's load memory (补抄) */
    AH_READ_RELEASED = 2, /* suspect read released by an operator */
};

/* Reactive energy registers (DL/T 645-2007 DI 0003/0004 combined reactive
 * 1/2, 0005..0008 quadrants I..IV; protocols.md §2). */
enum ah_read_reactive {
    AH_READ_RCOMB1,
    AH_READ_RCOMB2,
    AH_READ_RQ1,
    AH_READ_RQ2,
    AH_READ_RQ3,
    AH_READ_RQ4,
    AH_READ_NREACTIVE
};

/* Index into the per-phase arrays that also carry a total. */
enum ah_read_phase { AH_READ_TOTAL = 0, AH_READ_A = 1, AH_READ_B = 2, AH_READ_C = 3 };

/*
 * Presence bits. Bits 0..30 are exactly the `present` field of the store's
 * record v1 (docs/storage.md): that record holds those fields and no
 * others. Bit 31 stays unused so that a record's u32 is always a subset.
 * Bits 32.. are what the meter job reads beside the interval for validation
 * only; the record does not store them (a read decoded from the store never
 * has them).
 */
#define AH_READ_HAS_IMP_TOTAL   (UINT64_C(1) << 0)
#define AH_READ_HAS_IMP_TARIFFS (UINT64_C(1) << 1)
#define AH_READ_HAS_EXP_TOTAL   (UINT64_C(1) << 2)
#define AH_READ_HAS_EXP_TARIFFS (UINT64_C(1) << 3)
#define AH_READ_HAS_REACTIVE(i) (UINT64_C(1) << (4 + (i)))   /* enum ah_read_reactive */
#define AH_READ_HAS_VOLTAGE(ph) (UINT64_C(1) << (10 + (ph))) /* ph 0..2 = A..C */
#define AH_READ_HAS_CURRENT(ph) (UINT64_C(1) << (13 + (ph))) /* ph 0..2 = A..C */
#define AH_READ_HAS_P(i)        (UINT64_C(1) << (16 + (i)))  /* enum ah_read_phase */
#define AH_READ_HAS_Q(i)        (UINT64_C(1) << (20 + (i)))
#define AH_READ_HAS_PF(i)       (UINT64_C(1) << (24 + (i)))
#define AH_READ_HAS_FREQ        (UINT64_C(1) << 28)
#define AH_READ_HAS_METER_CLOCK (UINT64_C(1) << 29) /* meter_clock_ms */
#define AH_READ_HAS_STATUS      (UINT64_C(1) << 30) /* all seven status words */
#define AH_READ_HAS_COVER       (UINT64_C(1) << 32) /* cover_count, terminal_count */
#define AH_READ_HAS_CLEAR_COUNT (UINT64_C(1) << 33) /* clear_count */
#define AH_READ_HAS_SERIAL      (UINT64_C(1) << 34) /* serial */
#define AH_READ_HAS_FREEZE      (UINT64_C(1) << 35) /* freeze_at, freeze_fwd */

/* The bits record v1 stores, and every defined bit. */
#define AH_READ_HAS_RECORD UINT64_C(0x7FFFFFFF)
#define AH_READ_HAS_ALL                                                                  \
    (AH_READ_HAS_RECORD | AH_READ_HAS_COVER | AH_READ_HAS_CLEAR_COUNT |                  \
     AH_READ_HAS_SERIAL | AH_READ_HAS_FREEZE)

struct ah_read {
    uint64_t end;             /* interval end, UTC s (the store's key, not its record) */
    uint8_t source;           /* enum ah_read_source */
    uint64_t present;         /* AH_READ_HAS_* */
    uint32_t quality;         /* VEE reason bits (reference/vee.md); 0 = clean */
    uint32_t ct;              /* CT ratio applied, 1..10000 (docs/config.md) */
    uint32_t pt;              /* PT ratio applied, 1..10000 */
    int64_t meter_clock_ms;   /* meter clock at read, UTC ms */
    int64_t headend_clock_ms; /* head-end clock at read, UTC ms (always there) */
    /* 0.01 kWh: active import (forward) and export (reverse), total and
     * tariffs 1..4 (尖峰平谷 order as the meter numbers them); the registers
     * run 0 .. modulus-1 (vee_meter_info.reg_modulus). */
    int64_t imp_total, imp_tariff[AH_READ_TARIFFS];
    int64_t exp_total, exp_tariff[AH_READ_TARIFFS];
    int64_t reactive[AH_READ_NREACTIVE]; /* 0.01 kvarh, totals */
    int32_t voltage[3];                  /* 0.1 V, phases A..C (3P3W: Uab, 0, Ucb) */
    int32_t current[3];                  /* 0.001 A, signed, phases A..C */
    int32_t p[4];                        /* 0.0001 kW, signed, total,A,B,C */
    int32_t q[4];                        /* 0.0001 kvar, signed, total,A,B,C */
    int16_t pf[4];                       /* 0.001, signed, total,A,B,C */
    uint16_t freq;                       /* 0.01 Hz */
    uint16_t status[7]; /* meter status words 1..7 as read (protocols.md §2.7) */
    /* read beside the interval, for validation; not stored */
    uint32_t cover_count;    /* 03300D00 meter cover opened (protocols.md §2.6) */
    uint32_t terminal_count; /* 03300E00 terminal cover opened */
    uint32_t clear_count;    /* 03300100 meter clear */
    uint64_t serial;         /* meter identity: number 04000402 (or address) */
    int64_t freeze_at;       /* UTC s of the daily freeze (local midnight) */
    int64_t freeze_fwd;      /* forward total at freeze_at, 0.01 kWh */
};

#endif /* AH_READ_H */
