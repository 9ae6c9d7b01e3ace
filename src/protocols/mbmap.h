/*
 * mbmap — Modbus energy-meter register maps, request packing and decoding.
 *
 * Pure: no I/O, no clock, no allocation, no logging, and no libmodbus (only
 * the adapter mbio includes modbus.h). A map says which function code the
 * meter answers, how many registers one request may carry, and where each
 * quantity lives (PDU address, type, decimal scale). mbmap_plan() packs the
 * quantities into as few requests as the map's limits allow (DESIGN.md §8:
 * peers split reads into tiny batches); mbmap_decode() turns the registers of
 * one answered request into engineering values.
 *
 * Register maps: reference/protocols.md §4.2 (Eastron), §4.3 (Chint),
 * §4.5 (Schneider). Addresses here are PDU addresses (register number − 30001
 * / − 40001, Schneider "register N" − 1, §4.1).
 */
#ifndef AH_MBMAP_H
#define AH_MBMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Function codes, Modbus Application Protocol v1.1b3 §6.3 / §6.4. */
#define MBMAP_FC_HOLDING 3
#define MBMAP_FC_INPUT   4

/* Largest quantity of registers in one FC 03/04 request, Modbus Application
 * Protocol §6.3 (125 = 0x7D; libmodbus MODBUS_MAX_READ_REGISTERS), §4.1. */
#define MBMAP_MAX_READ_REGS 125
/* Eastron meters reject more than 80 registers (40 floats) per request (§4.1). */
#define MBMAP_EASTRON_MAX_REGS 80

/* Hard caps so callers can size arrays on the stack. */
#define MBMAP_MAX_QTY   64
#define MBMAP_MAX_SPANS MBMAP_MAX_QTY

/* Register layouts. Multi-register integers are high word first (the order
 * Schneider and Acrel use, §4.4 / §4.5). */
enum mbmap_type {
    MBMAP_F32_ABCD, /* IEEE 754 single, high word first (Eastron, Chint, Schneider) */
    MBMAP_F32_CDAB, /* IEEE 754 single, low word first (libmodbus modbus_get_float) */
    MBMAP_U16,
    MBMAP_I16,
    MBMAP_U32,
    MBMAP_I32,
    MBMAP_I64,
};

/* One quantity: value = raw × 10^exp10. A decimal exponent (not a double
 * factor) keeps DTSU666's raw 2301.0 × 10^-1 exactly 230.1 (§4.3 scaling). */
struct mbmap_qty {
    const char *name; /* snake_case, e.g. "voltage_l1" */
    const char *unit; /* "V", "A", "W", "kWh", ... ("" for PF) */
    uint16_t addr;    /* PDU address of the first register */
    enum mbmap_type type;
    int8_t exp10; /* -9..9 */
};

struct mbmap {
    const char *name; /* "sdm630", ... */
    const char *desc;
    uint8_t fc;        /* MBMAP_FC_HOLDING or MBMAP_FC_INPUT */
    uint16_t max_regs; /* registers per request, 1..MBMAP_MAX_READ_REGS */
    /* Largest run of unmapped registers a request may read through; only
     * inside register blocks the manufacturer documents, so the meter does
     * not answer "illegal data address". */
    uint16_t max_gap;
    const struct mbmap_qty *qty; /* sorted by addr, non-overlapping */
    size_t n_qty;                /* 1..MBMAP_MAX_QTY */
};

/* One read request: registers [addr, addr + count) carry quantities
 * qty[first_qty .. first_qty + n_qty) of the map. */
struct mbmap_span {
    uint16_t addr;
    uint16_t count;
    uint16_t first_qty;
    uint16_t n_qty;
};

/* Built-in maps; NULL when unknown. Borrowed, static. */
const struct mbmap *mbmap_find(const char *name);
/* i-th built-in map (0..), NULL past the end; for listing in usage text. */
const struct mbmap *mbmap_at(size_t i);

/* Registers one value of this type occupies (1, 2 or 4). */
unsigned mbmap_type_regs(enum mbmap_type t);

/* True when the map is usable: fc 3/4, 1 <= max_regs <= 125, 1..MBMAP_MAX_QTY
 * quantities, sorted by address, non-overlapping, each fitting in one
 * request and below address 65536, exp10 in -9..9. */
bool mbmap_is_valid(const struct mbmap *m);

/*
 * Pack the map into spans (read requests). Quantities are taken in address
 * order; a span grows while the next quantity starts at most max_gap
 * registers after the previous one ends and the span stays within max_regs.
 * Both limits only get easier for a subset of a feasible run, so this greedy
 * packing gives the fewest requests. Writes at most cap spans into out and
 * the count into *n. AH_EINVAL for an invalid map, AH_EOVERFLOW if cap is
 * too small.
 */
int mbmap_plan(const struct mbmap *m, struct mbmap_span *out, size_t cap, size_t *n);

/*
 * Decode one span. regs[0] is register sp->addr; n_regs must be at least
 * sp->count. Writes values[first_qty .. first_qty + n_qty) (values has
 * n_values entries, normally m->n_qty). Non-finite floats come out as they
 * are (NaN/inf); callers decide how to report them. AH_EINVAL when the span
 * does not belong to the map or the buffers are short.
 */
int mbmap_decode(const struct mbmap *m, const struct mbmap_span *sp, const uint16_t *regs,
                 size_t n_regs, double *values, size_t n_values);

/*
 * float32 from two registers, hi = first register. Bit-exact with libmodbus
 * 3.1.6 modbus_get_float_abcd(): the 32 bits are hi << 16 | lo, i.e. bytes
 * A B C D as they come off the wire (§4.1: 43 66 19 9A = 230.1).
 */
float mbmap_f32_abcd(uint16_t hi, uint16_t lo);
/* The CDAB order of modbus_get_float(): first register is the low word. */
float mbmap_f32_cdab(uint16_t first, uint16_t second);

/* A float32 as the double closest to its shortest decimal form (230.1f →
 * 230.1, not 230.100006103515625), so reports and stored reads show what the
 * meter's display shows. Non-finite values pass through. */
double mbmap_f32_to_double(float f);

/* Text for a Modbus exception code (Modbus Application Protocol §7), e.g.
 * 2 → "illegal data address". Never NULL. */
const char *mbmap_exception_text(unsigned code);

#endif /* AH_MBMAP_H */
