/*
 * vee_state — byte-exact persistence of struct vee_state (vee.h), written
 * with the batch that stores the reads it validated.
 *
 * Pure: no I/O, no allocation. Little endian, fixed layout, field by field
 * (no struct is cast over bytes). Bytes read back are outside input: decode
 * rejects any value vee_eval never leaves in a state, so one state has one
 * encoding and a damaged value cannot steer the rules.
 */
#include "vee.h"

#include "ah_err.h"

#include <string.h>

/* Times and registers inside a state stay within ±2^53 (vee_eval refuses
 * inputs beyond). */
#define TLIM ((int64_t)1 << 53)

struct wr {
    uint8_t *p;
};

static void w8(struct wr *w, uint8_t v)
{
    *w->p++ = v;
}

static void w16(struct wr *w, uint16_t v)
{
    w8(w, (uint8_t)v);
    w8(w, (uint8_t)(v >> 8));
}

static void w32(struct wr *w, uint32_t v)
{
    w16(w, (uint16_t)v);
    w16(w, (uint16_t)(v >> 16));
}

static void w64(struct wr *w, uint64_t v)
{
    w32(w, (uint32_t)v);
    w32(w, (uint32_t)(v >> 32));
}

struct rd {
    const uint8_t *p;
};

static uint8_t r8(struct rd *r)
{
    return *r->p++;
}

static uint16_t r16(struct rd *r)
{
    uint16_t lo = r8(r);
    return (uint16_t)(lo | (uint16_t)(r8(r) << 8));
}

static uint32_t r32(struct rd *r)
{
    uint32_t lo = r16(r);
    return lo | (uint32_t)r16(r) << 16;
}

static uint64_t r64(struct rd *r)
{
    uint64_t lo = r32(r);
    return lo | (uint64_t)r32(r) << 32;
}

/* Two's complement without implementation-defined conversions. */
static int64_t s64(uint64_t v)
{
    return v <= (uint64_t)INT64_MAX ? (int64_t)v : -(int64_t)(~v) - 1;
}

static int32_t s32(uint32_t v)
{
    return v <= (uint32_t)INT32_MAX ? (int32_t)v : -(int32_t)(~v) - 1;
}

int vee_state_encode(const struct vee_state *s, uint8_t *out, size_t cap)
{
    if (!s || !out)
        return AH_EINVAL;
    if (cap < VEE_STATE_LEN)
        return AH_EOVERFLOW;
    struct wr w = {out};
    w8(&w, VEE_STATE_VERSION);
    w8(&w, s->have);
    w64(&w, (uint64_t)s->last_end);
    w64(&w, (uint64_t)s->reg_end);
    w64(&w, (uint64_t)s->fwd);
    w64(&w, (uint64_t)s->rev);
    w64(&w, s->serial);
    w32(&w, s->cover);
    w32(&w, s->terminal);
    w32(&w, s->clear);
    w32(&w, (uint32_t)s->drift_s);
    w32(&w, s->active);
    for (unsigned i = 0; i < VEE_NRULES; i++)
        w8(&w, s->run[i]);
    for (unsigned i = 0; i < VEE_NRULES; i++)
        w8(&w, s->calm[i]);
    for (unsigned i = 0; i < VEE_NRULES; i++)
        w64(&w, (uint64_t)s->ep_since[i]);
    w8(&w, s->neg_run);
    w32(&w, (uint32_t)s->day);
    w32(&w, s->day_sum);
    w16(&w, s->day_n);
    w8(&w, s->day_bits);
    w32(&w, (uint32_t)s->pday);
    w32(&w, s->pday_sum);
    w16(&w, s->pday_n);
    w8(&w, s->pday_bits);
    w64(&w, (uint64_t)s->freeze_at);
    w64(&w, (uint64_t)s->freeze_fwd);
    for (unsigned i = 0; i < VEE_DAYS; i++)
        w32(&w, s->hist[i]);
    w8(&w, s->hist_head);
    w8(&w, s->hist_n);
    w8(&w, s->slot_days);
    memcpy(w.p, s->slot, VEE_SLOTS);
    w.p += VEE_SLOTS;
    memcpy(w.p, s->slot_init, VEE_SLOTS / 8);
    w.p += VEE_SLOTS / 8;
    return (int)(w.p - out);
}

static bool t_ok(int64_t t)
{
    return t >= -TLIM && t <= TLIM;
}

static bool day_ok(int32_t day, uint32_t sum, uint16_t n, uint8_t bits)
{
    if (bits & ~(VEE_DAY_VALID | VEE_DAY_BROKEN | VEE_DAY_LOAD | VEE_DAY_CLOSED))
        return false;
    if (!(bits & VEE_DAY_VALID))
        return day == 0 && sum == 0 && n == 0 && bits == 0;
    return true;
}

static bool state_ok(const struct vee_state *s)
{
    if (!(s->have & VEE_ST_SEQ) && s->last_end != 0)
        return false;
    if (!(s->have & VEE_ST_FWD) && (s->fwd != 0 || s->reg_end != 0))
        return false;
    if (!(s->have & VEE_ST_REV) && s->rev != 0)
        return false;
    if ((s->have & VEE_ST_REV) && !(s->have & VEE_ST_FWD))
        return false;
    if (!(s->have & VEE_ST_SERIAL) && s->serial != 0)
        return false;
    if (!(s->have & VEE_ST_COVER) && (s->cover != 0 || s->terminal != 0))
        return false;
    if (!(s->have & VEE_ST_CLEAR) && s->clear != 0)
        return false;
    if (!(s->have & VEE_ST_DRIFT) && s->drift_s != 0)
        return false;
    if (!(s->have & VEE_ST_FREEZE) && (s->freeze_at != 0 || s->freeze_fwd != 0))
        return false;
    if (!t_ok(s->last_end) || !t_ok(s->reg_end) || !t_ok(s->freeze_at))
        return false;
    if (s->fwd < 0 || s->fwd >= TLIM || s->rev < 0 || s->rev >= TLIM ||
        s->freeze_fwd < 0 || s->freeze_fwd >= TLIM)
        return false;
    if (s->drift_s == INT32_MIN)
        return false;
    if (s->active & ~VEE_FAULT_MASK)
        return false;
    for (unsigned b = 0; b < VEE_NRULES; b++) {
        if (!t_ok(s->ep_since[b]))
            return false;
        if (!(s->active & (1u << b)) && (s->calm[b] != 0 || s->ep_since[b] != 0))
            return false;
    }
    if (!day_ok(s->day, s->day_sum, s->day_n, s->day_bits) ||
        !day_ok(s->pday, s->pday_sum, s->pday_n, s->pday_bits))
        return false;
    if (s->hist_n > VEE_DAYS || s->hist_head >= VEE_DAYS)
        return false;
    if (s->hist_n < VEE_DAYS) {
        /* the ring fills from slot 0 before it wraps */
        if (s->hist_head != s->hist_n)
            return false;
        for (unsigned i = s->hist_n; i < VEE_DAYS; i++)
            if (s->hist[i] != 0)
                return false;
    }
    for (unsigned i = 0; i < VEE_SLOTS; i++)
        if (!(s->slot_init[i / 8] & (1u << (i % 8))) && s->slot[i] != 0)
            return false;
    return true;
}

int vee_state_decode(const uint8_t *in, size_t n, struct vee_state *s)
{
    if (!in || !s)
        return AH_EINVAL;
    if (n < 1)
        return AH_EFRAME;
    if (in[0] != VEE_STATE_VERSION)
        return AH_ENOTSUP;
    if (n != VEE_STATE_LEN)
        return AH_EFRAME;
    memset(s, 0, sizeof *s);
    struct rd r = {in + 1};
    s->have = r8(&r);
    s->last_end = s64(r64(&r));
    s->reg_end = s64(r64(&r));
    s->fwd = s64(r64(&r));
    s->rev = s64(r64(&r));
    s->serial = r64(&r);
    s->cover = r32(&r);
    s->terminal = r32(&r);
    s->clear = r32(&r);
    s->drift_s = s32(r32(&r));
    s->active = r32(&r);
    for (unsigned i = 0; i < VEE_NRULES; i++)
        s->run[i] = r8(&r);
    for (unsigned i = 0; i < VEE_NRULES; i++)
        s->calm[i] = r8(&r);
    for (unsigned i = 0; i < VEE_NRULES; i++)
        s->ep_since[i] = s64(r64(&r));
    s->neg_run = r8(&r);
    s->day = s32(r32(&r));
    s->day_sum = r32(&r);
    s->day_n = r16(&r);
    s->day_bits = r8(&r);
    s->pday = s32(r32(&r));
    s->pday_sum = r32(&r);
    s->pday_n = r16(&r);
    s->pday_bits = r8(&r);
    s->freeze_at = s64(r64(&r));
    s->freeze_fwd = s64(r64(&r));
    for (unsigned i = 0; i < VEE_DAYS; i++)
        s->hist[i] = r32(&r);
    s->hist_head = r8(&r);
    s->hist_n = r8(&r);
    s->slot_days = r8(&r);
    memcpy(s->slot, r.p, VEE_SLOTS);
    r.p += VEE_SLOTS;
    memcpy(s->slot_init, r.p, VEE_SLOTS / 8);
    r.p += VEE_SLOTS / 8;
    if ((size_t)(r.p - in) != VEE_STATE_LEN || !state_ok(s))
        return AH_EFRAME;
    return AH_OK;
}
