/*
 * test_mbmap — Modbus register maps: request packing, float32 word order,
 * and the worked RTU frames of reference/protocols.md §4.6.
 *
 * libmodbus is included here only as the independent yardstick for the
 * hand-written ABCD decoder (src/ never includes modbus.h outside mbio).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ah_err.h"
#include "mbmap.h"

#include <math.h>
#include <modbus.h>
#include <string.h>

/* Modbus over Serial Line §2.5.1.2 / Appendix B: CRC-16, poly 0xA001
 * reflected, init 0xFFFF, sent low byte first. */
static uint16_t crc16(const uint8_t *p, size_t n)
{
    uint16_t crc = 0xFFFF;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++)
            crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0xA001) : (uint16_t)(crc >> 1);
    }
    return crc;
}

static void assert_frame_crc(const uint8_t *f, size_t n)
{
    uint16_t crc = crc16(f, n - 2);
    assert_int_equal(f[n - 2], crc & 0xFF);
    assert_int_equal(f[n - 1], crc >> 8);
}

/* The request ADU head a master sends for one span: unit, FC, address,
 * quantity (Modbus Application Protocol §6.3/§6.4, big-endian fields). */
static void span_request(uint8_t unit, uint8_t fc, const struct mbmap_span *sp,
                         uint8_t out[6])
{
    out[0] = unit;
    out[1] = fc;
    out[2] = (uint8_t)(sp->addr >> 8);
    out[3] = (uint8_t)sp->addr;
    out[4] = (uint8_t)(sp->count >> 8);
    out[5] = (uint8_t)sp->count;
}

static size_t qty_index(const struct mbmap *m, const char *name)
{
    for (size_t i = 0; i < m->n_qty; i++)
        if (!strcmp(m->qty[i].name, name))
            return i;
    fail_msg("no quantity %s in %s", name, m->name);
    return 0;
}

/* Every built-in map: valid, every span within max_regs, every quantity in
 * exactly one span, in order, gaps inside a span within max_gap. */
static void test_all_maps_plan_within_limits(void **state)
{
    (void)state;
    const struct mbmap *m;
    size_t n_maps = 0;
    for (size_t k = 0; (m = mbmap_at(k)); k++, n_maps++) {
        assert_true(mbmap_is_valid(m));
        assert_ptr_equal(mbmap_find(m->name), m);
        struct mbmap_span sp[MBMAP_MAX_SPANS];
        size_t n = 0;
        assert_int_equal(mbmap_plan(m, sp, MBMAP_MAX_SPANS, &n), AH_OK);
        size_t next = 0;
        for (size_t i = 0; i < n; i++) {
            assert_true(sp[i].count >= 1 && sp[i].count <= m->max_regs);
            assert_int_equal(sp[i].first_qty, next);
            for (size_t q = sp[i].first_qty; q < sp[i].first_qty + sp[i].n_qty; q++) {
                uint32_t a = m->qty[q].addr, e = a + mbmap_type_regs(m->qty[q].type);
                assert_true(a >= sp[i].addr && e <= (uint32_t)sp[i].addr + sp[i].count);
                if (q > sp[i].first_qty) {
                    uint32_t pe =
                        m->qty[q - 1].addr + mbmap_type_regs(m->qty[q - 1].type);
                    assert_true(a - pe <= m->max_gap);
                }
            }
            next += sp[i].n_qty;
        }
        assert_int_equal(next, m->n_qty);
    }
    assert_true(n_maps >= 4);
    assert_null(mbmap_find("sdm999"));
    assert_null(mbmap_find(NULL));
}

/* SDM630: 36 floats in 3 requests, never above Eastron's 80 (§4.1). */
static void test_sdm630_packs_into_three_requests_of_at_most_80(void **state)
{
    (void)state;
    const struct mbmap *m = mbmap_find("sdm630");
    assert_non_null(m);
    assert_int_equal(m->fc, MBMAP_FC_INPUT);
    assert_int_equal(m->max_regs, 80);
    struct mbmap_span sp[MBMAP_MAX_SPANS];
    size_t n = 0;
    assert_int_equal(mbmap_plan(m, sp, MBMAP_MAX_SPANS, &n), AH_OK);
    assert_int_equal(n, 3);
    assert_int_equal(sp[0].addr, 0x0000); /* 30001 voltage L1 */
    assert_int_equal(sp[0].count, 80);    /* .. 30079 export kvarh */
    assert_int_equal(sp[1].addr, 0x00C8); /* 30201 line voltage L1-L2 */
    assert_int_equal(sp[1].count, 26);    /* .. 30225 neutral current */
    assert_int_equal(sp[2].addr, 0x0156); /* 30343 total kWh */
    assert_int_equal(sp[2].count, 4);

    /* One cap too small is reported, not truncated silently. */
    assert_int_equal(mbmap_plan(m, sp, 2, &n), AH_EOVERFLOW);
}

/* Packing limits on a synthetic map: max_regs cuts, max_gap cuts, greedy. */
static void test_plan_limits_on_synthetic_map(void **state)
{
    (void)state;
    static const struct mbmap_qty q[] = {
        {"a", "", 10, MBMAP_F32_ABCD, 0}, {"b", "", 12, MBMAP_U16, 0},
        {"c", "", 16, MBMAP_F32_ABCD, 0}, /* gap 3 after b */
        {"d", "", 30, MBMAP_I64, 0},      /* gap 12 after c */
        {"e", "", 34, MBMAP_U16, 0},
    };
    struct mbmap m = {"t", "test", MBMAP_FC_HOLDING, 8, 3, q, 5};
    struct mbmap_span sp[8];
    size_t n = 0;
    assert_int_equal(mbmap_plan(&m, sp, 8, &n), AH_OK);
    assert_int_equal(n, 2);
    assert_int_equal(sp[0].addr, 10);
    assert_int_equal(sp[0].count, 8); /* a, b, gap 3, c: exactly max_regs */
    assert_int_equal(sp[0].n_qty, 3);
    assert_int_equal(sp[1].addr, 30);
    assert_int_equal(sp[1].count, 5);

    m.max_regs = 7; /* c no longer fits with a */
    assert_int_equal(mbmap_plan(&m, sp, 8, &n), AH_OK);
    assert_int_equal(n, 3);
    assert_int_equal(sp[0].count, 3);
    assert_int_equal(sp[1].addr, 16);

    m.max_gap = 2; /* the 3-register hole now splits too */
    m.max_regs = 125;
    assert_int_equal(mbmap_plan(&m, sp, 8, &n), AH_OK);
    assert_int_equal(n, 3);

    m.max_gap = 12;
    assert_int_equal(mbmap_plan(&m, sp, 8, &n), AH_OK);
    assert_int_equal(n, 1);
    assert_int_equal(sp[0].count, 25);

    /* Unsorted / overlapping / too wide maps are refused. */
    static const struct mbmap_qty overlap[] = {{"a", "", 10, MBMAP_F32_ABCD, 0},
                                               {"b", "", 11, MBMAP_U16, 0}};
    struct mbmap bad = {"o", "", MBMAP_FC_INPUT, 80, 0, overlap, 2};
    assert_false(mbmap_is_valid(&bad));
    assert_int_equal(mbmap_plan(&bad, sp, 8, &n), AH_EINVAL);
    static const struct mbmap_qty top[] = {{"a", "", 0xFFFF, MBMAP_F32_ABCD, 0}};
    struct mbmap wrap = {"w", "", MBMAP_FC_INPUT, 80, 0, top, 1};
    assert_false(mbmap_is_valid(&wrap));
    struct mbmap fc = {"f", "", 6, 80, 0, q, 5};
    assert_false(mbmap_is_valid(&fc));
}

/* §4.1 / §4.6: 43 66 19 9A is 230.1 in ABCD; read as CDAB (libmodbus'
 * plain modbus_get_float) it is a denormal-scale 1.6e-23. */
static void test_float_abcd_43_66_19_9a_is_230_1(void **state)
{
    (void)state;
    float abcd = mbmap_f32_abcd(0x4366, 0x199A);
    assert_true(abcd == 230.1f);
    float cdab = mbmap_f32_cdab(0x4366, 0x199A);
    assert_true(cdab != abcd);
    assert_true(fabsf(cdab) > 1.5e-23f && fabsf(cdab) < 1.7e-23f);
    /* What the report shows: the meter's 230.1, not 230.100006103515625. */
    assert_true(mbmap_f32_to_double(abcd) == 230.1);
    assert_true((double)abcd != 230.1);
}

/* The hand decoder against libmodbus 3.1.6 itself, bit for bit, over a
 * spread of patterns including NaN payloads, infinities and denormals. */
static void test_float_abcd_bit_exact_with_libmodbus(void **state)
{
    (void)state;
    uint32_t x = 0x12345678u;
    for (int i = 0; i < 200000; i++) {
        x = x * 1664525u + 1013904223u; /* Numerical Recipes LCG */
        uint32_t bits =
            i < 8 ? (uint32_t[]){0,           0x80000000u, 0x7F800000u, 0xFF800000u,
                                 0x7FC00001u, 0x00000001u, 0x807FFFFFu, 0x43661999u}[i]
                  : x;
        uint16_t r[2] = {(uint16_t)(bits >> 16), (uint16_t)bits};
        float mine = mbmap_f32_abcd(r[0], r[1]);
        float lib = modbus_get_float_abcd(r);
        assert_memory_equal(&mine, &lib, sizeof mine);
        float mine_cdab = mbmap_f32_cdab(r[0], r[1]);
        float lib_cdab = modbus_get_float(r);
        assert_memory_equal(&mine_cdab, &lib_cdab, sizeof mine);
    }
}

/* §4.6: SDM630 FC04 read 0x0000 × 2 and its reply, 230.1 V. */
static void test_rtu_frames_sdm630_voltage_l1(void **state)
{
    (void)state;
    static const uint8_t req[] = {0x01, 0x04, 0x00, 0x00, 0x00, 0x02, 0x71, 0xCB};
    static const uint8_t rsp[] = {0x01, 0x04, 0x04, 0x43, 0x66, 0x19, 0x9A, 0x85, 0xE4};
    assert_frame_crc(req, sizeof req);
    assert_frame_crc(rsp, sizeof rsp);

    const struct mbmap *sdm = mbmap_find("sdm630");
    size_t vi = qty_index(sdm, "voltage_l1");
    struct mbmap one = {"v", "", sdm->fc, sdm->max_regs, sdm->max_gap, &sdm->qty[vi], 1};
    struct mbmap_span sp;
    size_t n = 0;
    assert_int_equal(mbmap_plan(&one, &sp, 1, &n), AH_OK);
    assert_int_equal(n, 1);
    uint8_t head[6];
    span_request(0x01, one.fc, &sp, head);
    assert_memory_equal(head, req, 6);

    /* Reply: byte count 4, then the registers big-endian. */
    assert_int_equal(rsp[2], 2 * sp.count);
    uint16_t regs[2] = {(uint16_t)(rsp[3] << 8 | rsp[4]),
                        (uint16_t)(rsp[5] << 8 | rsp[6])};
    assert_int_equal(regs[0], 0x4366);
    assert_int_equal(regs[1], 0x199A);
    double v[1] = {0};
    assert_int_equal(mbmap_decode(&one, &sp, regs, 2, v, 1), AH_OK);
    assert_true(v[0] == 230.1);
}

/* §4.6: DTSU666 FC03 read 0x2006 × 6 (Ua, Ub, Uc), and the §4.3 scaling
 * trap: those raw floats are volts × 10 on most firmware. */
static void test_rtu_frame_dtsu666_phase_voltages(void **state)
{
    (void)state;
    static const uint8_t req[] = {0x01, 0x03, 0x20, 0x06, 0x00, 0x06, 0x2E, 0x09};
    assert_frame_crc(req, sizeof req);

    const struct mbmap *d = mbmap_find("dtsu666");
    assert_int_equal(d->fc, MBMAP_FC_HOLDING);
    size_t ua = qty_index(d, "voltage_l1");
    assert_int_equal(qty_index(d, "voltage_l3"), ua + 2);
    struct mbmap u = {"u", "", d->fc, d->max_regs, d->max_gap, &d->qty[ua], 3};
    struct mbmap_span sp;
    size_t n = 0;
    assert_int_equal(mbmap_plan(&u, &sp, 1, &n), AH_OK);
    uint8_t head[6];
    span_request(0x01, u.fc, &sp, head);
    assert_memory_equal(head, req, 6);

    /* 2301.0, 2312.0, 2298.0 as ABCD floats (0x450FD000 = 2301.0). */
    uint16_t regs[6] = {0x450F, 0xD000, 0x4510, 0x8000, 0x450F, 0xA000};
    double v[3];
    assert_int_equal(mbmap_decode(&u, &sp, regs, 6, v, 3), AH_OK);
    assert_true(v[0] == 230.1);
    assert_true(v[1] == 231.2);
    assert_true(v[2] == 229.8);

    const struct mbmap *e = mbmap_find("dtsu666-eng");
    struct mbmap ue = {
        "u", "", e->fc, e->max_regs, e->max_gap, &e->qty[qty_index(e, "voltage_l1")], 3};
    assert_int_equal(mbmap_decode(&ue, &sp, regs, 6, v, 3), AH_OK);
    assert_true(v[0] == 2301.0);
}

/* §4.6: FC04 exception "illegal data address". */
static void test_rtu_frame_exception_illegal_data_address(void **state)
{
    (void)state;
    static const uint8_t rsp[] = {0x01, 0x84, 0x02, 0xC2, 0xC1};
    assert_frame_crc(rsp, sizeof rsp);
    assert_int_equal(rsp[1] & 0x80, 0x80); /* exception bit on FC 04 */
    assert_int_equal(rsp[1] & 0x7F, MBMAP_FC_INPUT);
    assert_string_equal(mbmap_exception_text(rsp[2]), "illegal data address");
    assert_string_equal(mbmap_exception_text(0x0B),
                        "gateway target device failed to respond");
    assert_string_equal(mbmap_exception_text(0x42), "unknown exception");
}

/* Integer layouts (high word first) and decimal scaling (§4.4, §4.5). */
static void test_decode_integers_and_scale(void **state)
{
    (void)state;
    static const struct mbmap_qty q[] = {
        {"u16", "V", 0, MBMAP_U16, -1},   {"i16", "kW", 1, MBMAP_I16, -3},
        {"u32", "kWh", 2, MBMAP_U32, -2}, {"i32", "W", 4, MBMAP_I32, 0},
        {"i64", "kWh", 6, MBMAP_I64, -3}, {"big", "Wh", 10, MBMAP_I64, 0},
    };
    struct mbmap m = {"ints", "", MBMAP_FC_HOLDING, 125, 0, q, 6};
    struct mbmap_span sp = {0, 14, 0, 6};
    uint16_t r[14] = {
        2301,   0xFFFE,                 /* 230.1 V, -0.002 kW */
        0x0001, 0xE240,                 /* 123456 → 1234.56 kWh */
        0xFFFF, 0xFF85,                 /* -123 W */
        0x0000, 0x0000, 0x00BC, 0x614E, /* 12345678 Wh → 12345.678 */
        0x8000, 0x0000, 0x0000, 0x0000, /* INT64_MIN */
    };
    double v[6];
    assert_int_equal(mbmap_decode(&m, &sp, r, 14, v, 6), AH_OK);
    assert_true(v[0] == 230.1);
    assert_true(v[1] == -0.002);
    assert_true(v[2] == 1234.56);
    assert_true(v[3] == -123.0);
    assert_true(v[4] == 12345.678);
    assert_true(v[5] == -9223372036854775808.0);

    /* Schneider kW float × 10^3 lands exactly on the watt value. */
    const struct mbmap *pm = mbmap_find("pm5xxx");
    size_t p = qty_index(pm, "active_power_total");
    struct mbmap one = {"p", "", pm->fc, pm->max_regs, 0, &pm->qty[p], 1};
    struct mbmap_span s1 = {pm->qty[p].addr, 2, 0, 1};
    uint16_t kw[2] = {0x3F9D, 0xF3B6}; /* 1.234f */
    assert_int_equal(mbmap_decode(&one, &s1, kw, 2, v, 1), AH_OK);
    assert_true(v[0] == 1234.0);
}

/* Spans that do not belong to the map, short buffers: refused, untouched. */
static void test_decode_rejects_foreign_spans(void **state)
{
    (void)state;
    const struct mbmap *m = mbmap_find("sdm630");
    uint16_t regs[80] = {0};
    double v[MBMAP_MAX_QTY];
    struct mbmap_span ok = {0, 80, 0, 30};
    assert_int_equal(mbmap_decode(m, &ok, regs, 80, v, m->n_qty), AH_OK);
    assert_int_equal(mbmap_decode(m, &ok, regs, 79, v, m->n_qty), AH_EINVAL);
    assert_int_equal(mbmap_decode(m, &ok, regs, 80, v, 29), AH_EINVAL);
    struct mbmap_span past = {0, 80, 0, 31}; /* qty 30 sits at 0x00C8 */
    assert_int_equal(mbmap_decode(m, &past, regs, 80, v, m->n_qty), AH_EINVAL);
    struct mbmap_span beyond = {0, 80, 30, 10};
    assert_int_equal(mbmap_decode(m, &beyond, regs, 80, v, m->n_qty), AH_EINVAL);
    struct mbmap_span empty = {0, 0, 0, 0};
    assert_int_equal(mbmap_decode(m, &empty, regs, 80, v, m->n_qty), AH_EINVAL);

    /* A NaN register stays NaN (the report prints null, never a number). */
    uint16_t nan_regs[2] = {0x7FC0, 0x0000};
    struct mbmap_span s0 = {0, 2, 0, 1};
    assert_int_equal(mbmap_decode(m, &s0, nan_regs, 2, v, m->n_qty), AH_OK);
    assert_true(isnan(v[0]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_maps_plan_within_limits),
        cmocka_unit_test(test_sdm630_packs_into_three_requests_of_at_most_80),
        cmocka_unit_test(test_plan_limits_on_synthetic_map),
        cmocka_unit_test(test_float_abcd_43_66_19_9a_is_230_1),
        cmocka_unit_test(test_float_abcd_bit_exact_with_libmodbus),
        cmocka_unit_test(test_rtu_frames_sdm630_voltage_l1),
        cmocka_unit_test(test_rtu_frame_dtsu666_phase_voltages),
        cmocka_unit_test(test_rtu_frame_exception_illegal_data_address),
        cmocka_unit_test(test_decode_integers_and_scale),
        cmocka_unit_test(test_decode_rejects_foreign_spans),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
