/*
 * fuzz_vee — the validator on arbitrary read sequences, and the state codec
 * on arbitrary bytes. Whatever comes in: no out-of-bounds access, no UB
 * (ASan+UBSan), every state vee_eval leaves behind encodes and decodes back
 * to itself, and a decoded state re-encodes to the same bytes.
 *
 * Input: byte 0 selects the mode. Mode 0: the rest is a persisted state.
 * Otherwise: 1 byte of meter options, then 40-byte read records.
 */
#include "ah_err.h"
#include "vee.h"
#include "vee_district.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t get(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void check_state(const struct vee_state *s)
{
    uint8_t buf[VEE_STATE_LEN];
    struct vee_state back;
    if (vee_state_encode(s, buf, sizeof buf) != VEE_STATE_LEN)
        abort();
    if (vee_state_decode(buf, sizeof buf, &back) != AH_OK)
        abort();
    if (memcmp(&back, s, sizeof back) != 0)
        abort();
}

static void fuzz_decode(const uint8_t *data, size_t size)
{
    struct vee_state s;
    int rc = vee_state_decode(data, size, &s);
    if (rc == AH_OK) {
        uint8_t again[VEE_STATE_LEN];
        if (vee_state_encode(&s, again, sizeof again) != VEE_STATE_LEN ||
            size != VEE_STATE_LEN || memcmp(again, data, size) != 0)
            abort();
        /* a decoded state must be usable */
        struct vee_meter_info m = {.wiring = VEE_3P4W,
                                   .ct = 1,
                                   .pt = 1,
                                   .ib_ma = 10000,
                                   .imax_ma = 100000,
                                   .un_dv = 2200,
                                   .interval_s = 900};
        struct vee_thresholds t = vee_thresholds_default();
        struct ah_read in = {.end = (uint64_t)s.last_end + 900,
                             .present = AH_READ_HAS_IMP_TOTAL,
                             .imp_total = 5};
        struct vee_result r;
        if (vee_eval(&m, &t, &s, &in, false, s.last_end + 900, &r) == AH_OK)
            check_state(&s);
    } else if (rc != AH_EFRAME && rc != AH_ENOTSUP) {
        abort();
    }
}

#define REC 40

/* The fifteen presence bits a record's two bytes choose from, in the order
 * the corpus was made with. */
static const uint64_t has_bits[15] = {
    AH_READ_HAS_IMP_TOTAL,   AH_READ_HAS_EXP_TOTAL,  AH_READ_HAS_VOLTAGE(0),
    AH_READ_HAS_VOLTAGE(1),  AH_READ_HAS_VOLTAGE(2), AH_READ_HAS_CURRENT(0),
    AH_READ_HAS_CURRENT(1),  AH_READ_HAS_CURRENT(2), AH_READ_HAS_P(AH_READ_TOTAL),
    AH_READ_HAS_STATUS,      AH_READ_HAS_COVER,      AH_READ_HAS_CLEAR_COUNT,
    AH_READ_HAS_METER_CLOCK, AH_READ_HAS_SERIAL,     AH_READ_HAS_FREEZE,
};

static void fuzz_sequence(const uint8_t *data, size_t size)
{
    if (size < 1)
        return;
    uint8_t opt = data[0];
    struct vee_meter_info m = {.wiring = (uint8_t)(opt % 3),
                               .bidirectional = (opt & 4) != 0,
                               .ct = (opt & 8) ? 40 : 1,
                               .pt = 1,
                               .ib_ma = (opt & 8) ? 1500 : 5000,
                               .imax_ma = (opt & 8) ? 6000 : 60000,
                               .un_dv = 2200,
                               .interval_s = (opt & 16) ? 300 : 900,
                               .tz_offset_s = 8 * 3600,
                               .reg_modulus = (opt & 32) ? 100000 : 0};
    struct vee_thresholds t = vee_thresholds_default();
    struct vee_state st;
    vee_state_init(&st);
    int64_t end = 1741910400;
    int64_t mod = m.reg_modulus ? m.reg_modulus : VEE_REG_MODULUS_DEFAULT;
    for (size_t off = 1; off + REC <= size; off += REC) {
        const uint8_t *p = data + off;
        struct ah_read in;
        memset(&in, 0, sizeof in);
        /* time moves by -2..13 intervals, sometimes off the grid */
        int step = (int)(p[0] & 15) - 2;
        end += (int64_t)step * m.interval_s + ((p[1] & 0x80) ? (p[1] & 0x7f) : 0);
        in.end = (uint64_t)end;
        in.source = (uint8_t)(p[1] % 3);
        bool exchanged = (p[1] & 0x40) != 0 && (p[1] & 0x3f) == 0;
        uint64_t bits = get(p + 2, 2);
        for (unsigned b = 0; b < 15; b++)
            if (bits & (1u << b))
                in.present |= has_bits[b];
        in.imp_total = (int64_t)(get(p + 4, 4) % (uint64_t)mod);
        in.exp_total = (int64_t)(get(p + 8, 2) % (uint64_t)mod);
        for (int ph = 0; ph < 3; ph++) {
            in.voltage[ph] = (int32_t)(p[10 + ph] * 10);
            in.current[ph] = (int32_t)(int16_t)get(p + 13 + 2 * ph, 2);
        }
        in.p[AH_READ_TOTAL] = (int32_t)(int16_t)get(p + 19, 2) * 10;
        for (int w = 0; w < 7; w++)
            in.status[w] = (uint16_t)(p[21 + w] << ((w & 1) ? 1 : 0));
        in.cover_count = p[28] & 3;
        in.terminal_count = p[29] & 1;
        in.clear_count = p[30] & 1;
        in.serial = p[31] & 1;
        in.headend_clock_ms = end * 1000;
        in.meter_clock_ms = end * 1000 + (int64_t)(int8_t)p[32] * 60000;
        in.freeze_at = end - (end + m.tz_offset_s) % 86400 - (int64_t)(p[33] & 1) * 86400;
        in.freeze_fwd = (int64_t)(get(p + 34, 4) % (uint64_t)mod);
        int64_t now = end + (int64_t)(int8_t)p[38] * 100;
        struct vee_result r;
        struct vee_state before = st;
        int rc = vee_eval(&m, &t, &st, &in, exchanged, now, &r);
        if (rc == AH_ERANGE && memcmp(&before, &st, sizeof st) != 0)
            abort();
        if (rc != AH_OK && rc != AH_ERANGE)
            abort();
        if (r.ntrans > VEE_MAX_TRANSITIONS ||
            (r.flags & ~(VEE_FAULT_MASK | VEE_INFO_MASK)))
            abort();
        /* every fault flag on a read belongs to an open episode */
        if ((r.flags & VEE_FAULT_MASK & ~st.active) != 0)
            abort();
        check_state(&st);
    }
}

static void fuzz_district(const uint8_t *data, size_t size)
{
    struct vee_district_customer c[32];
    size_t n = 0;
    for (size_t off = 0; off + 8 <= size && n < 32; off += 8, n++) {
        const uint8_t *p = data + off;
        c[n] = (struct vee_district_customer){(uint32_t)n,
                                              (p[0] & 1) != 0,
                                              (int64_t)(int32_t)get(p + 1, 4),
                                              (p[0] & 2) != 0,
                                              (int64_t)(int16_t)get(p + 5, 2),
                                              (p[0] & 4) != 0,
                                              p[7],
                                              (p[0] & 8) ? (int64_t)p[6] * 100 : 0};
    }
    struct vee_thresholds t = vee_thresholds_default();
    t.line_loss_top_k = size ? data[0] % 17 : 3;
    struct vee_district_input in = {.complete = size % 2 == 0,
                                    .energy = (int64_t)size * 1000 - 500,
                                    .reverse = (int64_t)(size % 7) * 100,
                                    .cust = c,
                                    .n = n,
                                    .has_prev_day = true,
                                    .prev_day_loss_pct = (double)(size % 50) - 10,
                                    .has_prev_month = (size & 4) != 0,
                                    .prev_month_loss_pct = 0};
    struct vee_district_result r;
    if (vee_district_eval(&t, &in, &r) != AH_OK ||
        r.nmovers > (unsigned)t.line_loss_top_k)
        abort();
    for (unsigned i = 1; i < r.nmovers; i++)
        if (llabs(r.movers[i].change) > llabs(r.movers[i - 1].change))
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    switch (data[0] % 3) {
    case 0:
        fuzz_decode(data + 1, size - 1);
        break;
    case 1:
        fuzz_sequence(data + 1, size - 1);
        break;
    default:
        fuzz_district(data + 1, size - 1);
        break;
    }
    return 0;
}
