/*
 * store_rec — record v1 encoding and key layouts (see store_rec.h).
 *
 * Record v1 is a fixed layout (docs/storage.md); every field is written at
 * its place whether present or not, so the length alone tells a truncated
 * or padded value from a good one. Pure: no I/O, no allocation.
 */
#include "store_rec.h"

#include "ah_err.h"

#include <string.h>

/* Sources defined in v1. */
#define SOURCE_MAX AH_READ_RELEASED

void store_rec_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

void store_rec_put_be64(uint8_t *p, uint64_t v)
{
    store_rec_put_be32(p, (uint32_t)(v >> 32));
    store_rec_put_be32(p + 4, (uint32_t)v);
}

uint32_t store_rec_get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

uint64_t store_rec_get_be64(const uint8_t *p)
{
    return (uint64_t)store_rec_get_be32(p) << 32 | store_rec_get_be32(p + 4);
}

/* Little-endian writer/reader over a bounded buffer. The record has a fixed
 * layout, so bounds are checked once by the callers; pos only moves. */
struct cur {
    uint8_t *w;
    const uint8_t *r;
    size_t pos;
};

static void put_le(struct cur *c, uint64_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++)
        c->w[c->pos++] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(struct cur *c, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes; i++)
        v |= (uint64_t)c->r[c->pos++] << (8 * i);
    return v;
}

/* Signed values travel as their two's complement bit pattern. */
static int64_t sx(uint64_t v, unsigned bytes)
{
    if (bytes < 8 && (v >> (8 * bytes - 1)) & 1u)
        v |= ~(uint64_t)0 << (8 * bytes);
    /* memcpy avoids implementation-defined unsigned→signed conversion */
    int64_t s;
    memcpy(&s, &v, sizeof s);
    return s;
}

static uint64_t ux(int64_t v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

/*
 * The one field list of v1, used by both directions so they cannot drift.
 * F(field expression, bytes, signed, presence mask or 0 for "always").
 */
#define REC_FIELDS(F, r)                                                                 \
    F((r)->meter_clock_ms, 8, 1, AH_READ_HAS_METER_CLOCK)                                \
    F((r)->headend_clock_ms, 8, 1, 0)                                                    \
    F((r)->imp_total, 8, 1, AH_READ_HAS_IMP_TOTAL)                                       \
    F((r)->imp_tariff[0], 8, 1, AH_READ_HAS_IMP_TARIFFS)                                 \
    F((r)->imp_tariff[1], 8, 1, AH_READ_HAS_IMP_TARIFFS)                                 \
    F((r)->imp_tariff[2], 8, 1, AH_READ_HAS_IMP_TARIFFS)                                 \
    F((r)->imp_tariff[3], 8, 1, AH_READ_HAS_IMP_TARIFFS)                                 \
    F((r)->exp_total, 8, 1, AH_READ_HAS_EXP_TOTAL)                                       \
    F((r)->exp_tariff[0], 8, 1, AH_READ_HAS_EXP_TARIFFS)                                 \
    F((r)->exp_tariff[1], 8, 1, AH_READ_HAS_EXP_TARIFFS)                                 \
    F((r)->exp_tariff[2], 8, 1, AH_READ_HAS_EXP_TARIFFS)                                 \
    F((r)->exp_tariff[3], 8, 1, AH_READ_HAS_EXP_TARIFFS)                                 \
    F((r)->reactive[0], 8, 1, AH_READ_HAS_REACTIVE(0))                                   \
    F((r)->reactive[1], 8, 1, AH_READ_HAS_REACTIVE(1))                                   \
    F((r)->reactive[2], 8, 1, AH_READ_HAS_REACTIVE(2))                                   \
    F((r)->reactive[3], 8, 1, AH_READ_HAS_REACTIVE(3))                                   \
    F((r)->reactive[4], 8, 1, AH_READ_HAS_REACTIVE(4))                                   \
    F((r)->reactive[5], 8, 1, AH_READ_HAS_REACTIVE(5))                                   \
    F((r)->voltage[0], 4, 1, AH_READ_HAS_VOLTAGE(0))                                     \
    F((r)->voltage[1], 4, 1, AH_READ_HAS_VOLTAGE(1))                                     \
    F((r)->voltage[2], 4, 1, AH_READ_HAS_VOLTAGE(2))                                     \
    F((r)->current[0], 4, 1, AH_READ_HAS_CURRENT(0))                                     \
    F((r)->current[1], 4, 1, AH_READ_HAS_CURRENT(1))                                     \
    F((r)->current[2], 4, 1, AH_READ_HAS_CURRENT(2))                                     \
    F((r)->p[0], 4, 1, AH_READ_HAS_P(0))                                                 \
    F((r)->p[1], 4, 1, AH_READ_HAS_P(1))                                                 \
    F((r)->p[2], 4, 1, AH_READ_HAS_P(2))                                                 \
    F((r)->p[3], 4, 1, AH_READ_HAS_P(3))                                                 \
    F((r)->q[0], 4, 1, AH_READ_HAS_Q(0))                                                 \
    F((r)->q[1], 4, 1, AH_READ_HAS_Q(1))                                                 \
    F((r)->q[2], 4, 1, AH_READ_HAS_Q(2))                                                 \
    F((r)->q[3], 4, 1, AH_READ_HAS_Q(3))                                                 \
    F((r)->pf[0], 2, 1, AH_READ_HAS_PF(0))                                               \
    F((r)->pf[1], 2, 1, AH_READ_HAS_PF(1))                                               \
    F((r)->pf[2], 2, 1, AH_READ_HAS_PF(2))                                               \
    F((r)->pf[3], 2, 1, AH_READ_HAS_PF(3))                                               \
    F((r)->freq, 2, 0, AH_READ_HAS_FREQ)                                                 \
    F((r)->status[0], 2, 0, AH_READ_HAS_STATUS)                                          \
    F((r)->status[1], 2, 0, AH_READ_HAS_STATUS)                                          \
    F((r)->status[2], 2, 0, AH_READ_HAS_STATUS)                                          \
    F((r)->status[3], 2, 0, AH_READ_HAS_STATUS)                                          \
    F((r)->status[4], 2, 0, AH_READ_HAS_STATUS)                                          \
    F((r)->status[5], 2, 0, AH_READ_HAS_STATUS)                                          \
    F((r)->status[6], 2, 0, AH_READ_HAS_STATUS)

/* version, source, present, quality, ct, pt */
#define HEADER_LEN (1 + 1 + 4 + 4 + 4 + 4)
_Static_assert(HEADER_LEN + 18 * 8 + 14 * 4 + 12 * 2 == STORE_REC_V1_LEN,
               "STORE_REC_V1_LEN matches REC_FIELDS");

static uint64_t field_bits(int64_t sv, uint64_t uv, int is_signed)
{
    return is_signed ? ux(sv) : uv;
}

int store_rec_encode(const struct ah_read *r, uint8_t *out, size_t cap)
{
    if (!r || !out)
        return AH_EINVAL;
    if (cap < STORE_REC_V1_LEN)
        return AH_EOVERFLOW;
    if (r->source > SOURCE_MAX || (r->present & ~AH_READ_HAS_ALL))
        return AH_EINVAL;

    /* what the record does not hold is left out, its bits too */
    uint64_t present = r->present & AH_READ_HAS_RECORD;
    struct cur c = {.w = out};
    put_le(&c, STORE_REC_VERSION, 1);
    put_le(&c, r->source, 1);
    put_le(&c, present, 4);
    put_le(&c, r->quality, 4);
    put_le(&c, r->ct, 4);
    put_le(&c, r->pt, 4);
    /* Absent fields are written as 0: equal reads, equal bytes. */
#define ENC(f, bytes, sgn, mask)                                                         \
    put_le(&c,                                                                           \
           ((mask) == 0 || (present & (uint64_t)(mask)))                                 \
               ? field_bits((int64_t)(f), (uint64_t)(f), (sgn))                          \
               : 0,                                                                      \
           (bytes));
    REC_FIELDS(ENC, r)
#undef ENC
    return (int)c.pos;
}

int store_rec_decode(const uint8_t *in, size_t n, struct ah_read *r)
{
    if (!in || !r)
        return AH_EINVAL;
    if (n < 1)
        return AH_EFRAME;
    if (in[0] != STORE_REC_VERSION)
        return AH_ENOTSUP;
    if (n != STORE_REC_V1_LEN)
        return AH_EFRAME;

    struct cur c = {.r = in, .pos = 1};
    memset(r, 0, sizeof *r);
    r->source = (uint8_t)get_le(&c, 1);
    r->present = get_le(&c, 4);
    r->quality = (uint32_t)get_le(&c, 4);
    r->ct = (uint32_t)get_le(&c, 4);
    r->pt = (uint32_t)get_le(&c, 4);
    if (r->source > SOURCE_MAX || (r->present & ~AH_READ_HAS_RECORD))
        return AH_EFRAME;

    /* A non-zero absent field is something encode() never writes: the bytes
     * are damaged or not ours, so say so instead of guessing. */
    int bad = 0;
#define DEC(f, bytes, sgn, mask)                                                         \
    {                                                                                    \
        uint64_t v_ = get_le(&c, (bytes));                                               \
        if ((mask) != 0 && !(r->present & (uint64_t)(mask)) && v_ != 0)                  \
            bad = 1;                                                                     \
        if (sgn)                                                                         \
            f = (__typeof__(f))sx(v_, (bytes));                                          \
        else                                                                             \
            f = (__typeof__(f))v_;                                                       \
    }
    REC_FIELDS(DEC, r)
#undef DEC
    if (bad || c.pos != STORE_REC_V1_LEN)
        return AH_EFRAME;
    return AH_OK;
}

void store_rec_read_key(uint8_t out[STORE_REC_READ_KEY_LEN], uint32_t meter, uint64_t end)
{
    store_rec_put_be32(out, meter);
    store_rec_put_be64(out + 4, end);
}

int store_rec_read_key_parse(const uint8_t *k, size_t n, uint32_t *meter, uint64_t *end)
{
    if (!k || n != STORE_REC_READ_KEY_LEN)
        return AH_EFRAME;
    if (meter)
        *meter = store_rec_get_be32(k);
    if (end)
        *end = store_rec_get_be64(k + 4);
    return AH_OK;
}

void store_rec_event_key(uint8_t out[STORE_REC_EVENT_KEY_LEN], uint64_t t, uint32_t meter,
                         uint16_t type)
{
    store_rec_put_be64(out, t);
    store_rec_put_be32(out + 8, meter);
    out[12] = (uint8_t)(type >> 8);
    out[13] = (uint8_t)type;
}

int store_rec_event_key_parse(const uint8_t *k, size_t n, uint64_t *t, uint32_t *meter,
                              uint16_t *type)
{
    if (!k || n != STORE_REC_EVENT_KEY_LEN)
        return AH_EFRAME;
    if (t)
        *t = store_rec_get_be64(k);
    if (meter)
        *meter = store_rec_get_be32(k + 8);
    if (type)
        *type = (uint16_t)((unsigned)k[12] << 8 | k[13]);
    return AH_OK;
}

void store_rec_outbox_key(uint8_t out[STORE_REC_OUTBOX_KEY_LEN], uint64_t seq)
{
    store_rec_put_be64(out, seq);
}

int store_rec_outbox_key_parse(const uint8_t *k, size_t n, uint64_t *seq)
{
    if (!k || n != STORE_REC_OUTBOX_KEY_LEN)
        return AH_EFRAME;
    if (seq)
        *seq = store_rec_get_be64(k);
    return AH_OK;
}
