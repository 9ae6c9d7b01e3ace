/*
 * dlt645_di — DL/T 645 data identifiers and their value formats.
 *
 * One table (reference/protocols.md §2) drives both decoding (head-end) and
 * encoding (simulator). Pure: no I/O, no allocation, no logging.
 *
 * Values are exact: a number is a scaled integer `raw` with `decimals`
 * digits after the point (012345.67 kWh → raw 1234567, decimals 2), never a
 * float, so a register reads back exactly.
 */
#ifndef AH_DLT645_DI_H
#define AH_DLT645_DI_H

#include "dlt645.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum dlt645_vkind {
    DLT645_V_NUM,  /* raw / 10^decimals, unit */
    DLT645_V_TIME, /* tm (date, time, or date+time per the DI) */
    DLT645_V_BITS, /* status / feature word; bits */
    DLT645_V_TEXT, /* digits or ASCII (meter number, asset code) */
    DLT645_V_NA,   /* not available: FF / EE fill inside a block or curve */
};

#define DLT645_NAME_MAX 48
#define DLT645_TEXT_MAX 33

struct dlt645_value {
    char name[DLT645_NAME_MAX]; /* snake_case, e.g. "forward_active_t1" */
    const char *unit;           /* static: "kWh", "V", "A", "" … */
    enum dlt645_vkind kind;
    int64_t raw;
    uint8_t decimals;
    bool has_tm;         /* NUM with an occurrence time (max demand) */
    struct dlt645_tm tm; /* TIME, or the occurrence time when has_tm */
    uint8_t tm_fields;   /* which of tm are meaningful: DLT645_TM_* bits */
    uint32_t bits;       /* BITS */
    char text[DLT645_TEXT_MAX];
};
#define DLT645_TM_DATE 0x01 /* year, mon, day */
#define DLT645_TM_HM   0x02 /* hour, min */
#define DLT645_TM_SEC  0x04
#define DLT645_TM_WDAY 0x08
#define DLT645_TM_MDAY 0x10 /* mon, day without a year (MMDDhhmm, §2.7, §2.10) */

/* Name and unit of a DI (2007: 4-byte DI; 1997: DI in the low 16 bits).
 * Returns false for a DI the table does not know. */
bool dlt645_di_describe(uint32_t di, enum dlt645_proto proto, char *name, size_t cap,
                        const char **unit);

/* Decode the payload (after the DI) of a read reply. Blocks (FF in DI2..0)
 * yield one value per item in table order. Returns AH_OK, AH_EFRAME if the
 * payload length does not fit the DI, AH_NOTSUP for an unknown DI. */
int dlt645_decode(uint32_t di, enum dlt645_proto proto, const uint8_t *p, size_t len,
                  struct dlt645_value *out, size_t max, size_t *n);

/* Encode values for a DI into payload bytes (plain, before +33H), the
 * inverse of dlt645_decode. Returns bytes written or a negative ah_err. */
int dlt645_encode_values(uint32_t di, enum dlt645_proto proto,
                         const struct dlt645_value *v, size_t n, uint8_t *out,
                         size_t cap);

/* The i-th entry of the DI table as one DI it answers (tests and fuzzing
 * walk the table with this). false past the end. */
bool dlt645_di_example(size_t i, uint32_t *di, enum dlt645_proto *proto);

/* Name of bit `bit` of status word 04000501..07 (NULL if reserved). */
const char *dlt645_status_bit_name(uint32_t di, unsigned bit);

/* ---- load records: 06000001 / 06000000 / 06000002 (§2.9) ----------- */

/* Fields of a load record, for the not-available mask. */
enum dlt645_lr_field {
    DLT645_LR_UA,
    DLT645_LR_UB,
    DLT645_LR_UC,
    DLT645_LR_IA,
    DLT645_LR_IB,
    DLT645_LR_IC,
    DLT645_LR_FREQ,
    DLT645_LR_P,
    DLT645_LR_PA,
    DLT645_LR_PB,
    DLT645_LR_PC,
    DLT645_LR_Q,
    DLT645_LR_QA,
    DLT645_LR_QB,
    DLT645_LR_QC,
    DLT645_LR_PF,
    DLT645_LR_PFA,
    DLT645_LR_PFB,
    DLT645_LR_PFC,
    DLT645_LR_E_FWD,
    DLT645_LR_E_REV,
    DLT645_LR_E_CR1,
    DLT645_LR_E_CR2,
    DLT645_LR_E_Q1,
    DLT645_LR_E_Q2,
    DLT645_LR_E_Q3,
    DLT645_LR_E_Q4,
    DLT645_LR_DEM_P,
    DLT645_LR_DEM_Q,
    DLT645_LR_NFIELDS
};

struct dlt645_load_record {
    struct dlt645_tm t;   /* record time, meter local wall time */
    bool invalid;         /* E0 E0 start code */
    uint8_t classes;      /* bit c-1 set: class c (1..6) present */
    uint64_t na;          /* bit f set: field f not available (FF fill or class off) */
    int32_t volt[3];      /* 0.1 V */
    int32_t curr[3];      /* 0.001 A, signed */
    int32_t freq;         /* 0.01 Hz */
    int32_t p[4];         /* total, A, B, C: 0.0001 kW, signed */
    int32_t q[4];         /* 0.0001 kvar, signed */
    int32_t pf[4];        /* 0.001, signed */
    int64_t e_fwd, e_rev; /* 0.01 kWh */
    int64_t e_cr1, e_cr2; /* 0.01 kvarh, signed */
    int64_t e_q[4];       /* Q1..Q4, 0.01 kvarh */
    int32_t dem_p, dem_q; /* 0.0001 kW / kvar */
};

/* Decode one record block starting at p (A0 A0 … E5). *used = bytes of the
 * block. AH_EFRAME on bad start/end codes, lengths or record CS. */
int dlt645_lr_decode(const uint8_t *p, size_t len, struct dlt645_load_record *r,
                     size_t *used);
/* Encode one record block (classes as in r->classes; fields in r->na are
 * FF-filled). Returns bytes written or a negative ah_err. */
int dlt645_lr_encode(const struct dlt645_load_record *r, uint8_t *out, size_t cap);

/* ---- per-item curves: 0610IIPP (§2.9, State Grid extension) -------- */

/* Item size in bytes and decimals of a curve DI; false if not a curve DI. */
bool dlt645_curve_item(uint32_t di, uint8_t *size, uint8_t *decimals, bool *sign,
                       const char **unit);
/* Decode a curve reply payload: start time (mm hh DD MM YY) + N items.
 * Missing points (FF/EE fill) become DLT645_V_NA. */
int dlt645_curve_decode(uint32_t di, const uint8_t *p, size_t len,
                        struct dlt645_tm *start, struct dlt645_value *out, size_t max,
                        size_t *n);

/* Encode a curve reply payload (the simulator's side of
 * dlt645_curve_decode): start time + n items, DLT645_V_NA as FF fill.
 * Returns bytes written or a negative ah_err. */
int dlt645_curve_encode(uint32_t di, const struct dlt645_tm *start,
                        const struct dlt645_value *v, size_t n, uint8_t *out, size_t cap);

#endif /* AH_DLT645_DI_H */
