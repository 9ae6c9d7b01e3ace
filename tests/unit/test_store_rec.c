/*
 * test_store_rec — record v1 and the key layouts of the store, byte by
 * byte: a three-phase CT-connected meter (CT 200/5 = 40, PT 10 kV/100 V =
 * 100) read in its 15-minute cycle.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ah_err.h"
#include "store_rec.h"

/* 2023-11-14 22:15:00 UTC, an interval end on the 15-minute grid. */
#define T_END 1699999200ull

static struct ah_read three_phase_read(void)
{
    struct ah_read r;
    memset(&r, 0, sizeof r);
    r.source = AH_READ_LIVE;
    r.present = AH_READ_HAS_RECORD;
    r.quality = 0;
    r.ct = 40;
    r.pt = 100;
    r.meter_clock_ms = (int64_t)T_END * 1000 + 1500;
    r.headend_clock_ms = (int64_t)T_END * 1000 + 3200;
    r.imp_total = 1234567; /* 12345.67 kWh */
    r.imp_tariff[0] = 100000;
    r.imp_tariff[1] = 400000;
    r.imp_tariff[2] = 500000;
    r.imp_tariff[3] = 234567;
    r.exp_total = 12;
    r.exp_tariff[1] = 12;
    r.reactive[AH_READ_RCOMB1] = 345678;
    r.reactive[AH_READ_RCOMB2] = -2001;
    r.reactive[AH_READ_RQ1] = 300000;
    r.reactive[AH_READ_RQ4] = 45678;
    r.voltage[0] = 577; /* 57.7 V secondary of a 10 kV PT */
    r.voltage[1] = 578;
    r.voltage[2] = 576;
    r.current[0] = 1234;  /* 1.234 A */
    r.current[1] = -1200; /* reversed CT polarity shows as a negative current */
    r.current[2] = 1250;
    r.p[AH_READ_TOTAL] = 21000; /* 2.1000 kW */
    r.p[AH_READ_A] = 7100;
    r.p[AH_READ_B] = -6900;
    r.p[AH_READ_C] = 7200;
    r.q[AH_READ_TOTAL] = -1234;
    r.pf[AH_READ_TOTAL] = 985;
    r.pf[AH_READ_B] = -990;
    r.freq = 5001; /* 50.01 Hz */
    r.status[0] = 0x0004;
    r.status[3] = 0x0081;
    return r;
}

static void assert_rec_equal(const struct ah_read *a, const struct ah_read *b)
{
    assert_int_equal(a->source, b->source);
    assert_int_equal(a->present, b->present);
    assert_int_equal(a->quality, b->quality);
    assert_int_equal(a->ct, b->ct);
    assert_int_equal(a->pt, b->pt);
    assert_true(a->meter_clock_ms == b->meter_clock_ms);
    assert_true(a->headend_clock_ms == b->headend_clock_ms);
    assert_true(a->imp_total == b->imp_total);
    assert_true(a->exp_total == b->exp_total);
    for (int i = 0; i < AH_READ_TARIFFS; i++) {
        assert_true(a->imp_tariff[i] == b->imp_tariff[i]);
        assert_true(a->exp_tariff[i] == b->exp_tariff[i]);
    }
    for (int i = 0; i < AH_READ_NREACTIVE; i++)
        assert_true(a->reactive[i] == b->reactive[i]);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(a->voltage[i], b->voltage[i]);
        assert_int_equal(a->current[i], b->current[i]);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(a->p[i], b->p[i]);
        assert_int_equal(a->q[i], b->q[i]);
        assert_int_equal(a->pf[i], b->pf[i]);
    }
    assert_int_equal(a->freq, b->freq);
    for (int i = 0; i < 7; i++)
        assert_int_equal(a->status[i], b->status[i]);
}

static void test_round_trip_three_phase(void **state)
{
    (void)state;
    struct ah_read r = three_phase_read(), back;
    uint8_t buf[STORE_REC_MAX_LEN];
    assert_int_equal(store_rec_encode(&r, buf, sizeof buf), STORE_REC_V1_LEN);
    assert_int_equal(store_rec_decode(buf, STORE_REC_V1_LEN, &back), AH_OK);
    assert_rec_equal(&r, &back);
}

/* The layout of docs/storage.md, checked at fixed offsets, little endian. */
static void test_layout_v1(void **state)
{
    (void)state;
    struct ah_read r = three_phase_read();
    uint8_t b[STORE_REC_MAX_LEN];
    assert_int_equal(store_rec_encode(&r, b, sizeof b), STORE_REC_V1_LEN);
    assert_int_equal(b[0], 1);    /* version */
    assert_int_equal(b[1], 0);    /* live */
    assert_int_equal(b[2], 0xFF); /* present 0x7FFFFFFF */
    assert_int_equal(b[5], 0x7F);
    assert_int_equal(b[10], 40);  /* ct */
    assert_int_equal(b[14], 100); /* pt */
    /* imp_total 1234567 = 0x0012D687 at offset 34 */
    static const uint8_t imp[8] = {0x87, 0xD6, 0x12, 0x00, 0, 0, 0, 0};
    assert_memory_equal(b + 34, imp, 8);
    /* combined reactive 2 = -2001 at offset 114 + 8: two's complement */
    static const uint8_t rc2[8] = {0x2F, 0xF8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
    assert_memory_equal(b + 122, rc2, 8);
    /* voltage A 577 = 0x0241 at offset 162 */
    assert_int_equal(b[162], 0x41);
    assert_int_equal(b[163], 0x02);
    /* frequency 5001 = 0x1389 at offset 226, status word 1 at 228 */
    assert_int_equal(b[226], 0x89);
    assert_int_equal(b[227], 0x13);
    assert_int_equal(b[228], 0x04);
}

static void test_extremes_round_trip(void **state)
{
    (void)state;
    struct ah_read r, back;
    memset(&r, 0, sizeof r);
    r.source = AH_READ_RELEASED;
    r.present = AH_READ_HAS_RECORD;
    r.quality = 0xFFFFFFFFu;
    r.ct = 0xFFFFFFFFu;
    r.pt = 1;
    r.meter_clock_ms = INT64_MIN;
    r.headend_clock_ms = INT64_MAX;
    r.imp_total = INT64_MAX;
    r.exp_total = INT64_MIN;
    r.voltage[2] = INT32_MIN;
    r.current[0] = INT32_MAX;
    r.pf[3] = INT16_MIN;
    r.freq = UINT16_MAX;
    r.status[6] = 0xFFFF;
    uint8_t buf[STORE_REC_MAX_LEN];
    assert_int_equal(store_rec_encode(&r, buf, sizeof buf), STORE_REC_V1_LEN);
    assert_int_equal(store_rec_decode(buf, STORE_REC_V1_LEN, &back), AH_OK);
    assert_rec_equal(&r, &back);
}

/* A single-phase meter without reactive registers or phase B/C: the fields
 * it lacks are "not available", written as zeros whatever the caller left. */
static void test_absent_fields_written_as_zero(void **state)
{
    (void)state;
    struct ah_read r = three_phase_read(), back;
    r.present = AH_READ_HAS_IMP_TOTAL | AH_READ_HAS_VOLTAGE(0) | AH_READ_HAS_CURRENT(0) |
                AH_READ_HAS_P(AH_READ_TOTAL);
    uint8_t buf[STORE_REC_MAX_LEN];
    assert_int_equal(store_rec_encode(&r, buf, sizeof buf), STORE_REC_V1_LEN);
    assert_int_equal(store_rec_decode(buf, STORE_REC_V1_LEN, &back), AH_OK);
    assert_true(back.imp_total == 1234567);
    assert_int_equal(back.voltage[0], 577);
    assert_int_equal(back.voltage[1], 0);
    assert_true(back.reactive[AH_READ_RCOMB1] == 0);
    assert_int_equal(back.freq, 0);
    assert_true(back.meter_clock_ms == 0);
    /* the head-end clock is always there */
    assert_true(back.headend_clock_ms == r.headend_clock_ms);

    /* Same read with different junk in absent fields: same bytes. */
    struct ah_read r2 = r;
    r2.voltage[1] = 9999;
    r2.exp_total = 77;
    uint8_t buf2[STORE_REC_MAX_LEN];
    assert_int_equal(store_rec_encode(&r2, buf2, sizeof buf2), STORE_REC_V1_LEN);
    assert_memory_equal(buf, buf2, STORE_REC_V1_LEN);
}

static void test_decode_rejects(void **state)
{
    (void)state;
    struct ah_read r = three_phase_read(), back;
    uint8_t buf[STORE_REC_MAX_LEN + 1];
    assert_int_equal(store_rec_encode(&r, buf, sizeof buf), STORE_REC_V1_LEN);

    assert_int_equal(store_rec_decode(buf, 0, &back), AH_EFRAME);
    assert_int_equal(store_rec_decode(buf, STORE_REC_V1_LEN - 1, &back), AH_EFRAME);
    buf[STORE_REC_V1_LEN] = 0;
    assert_int_equal(store_rec_decode(buf, STORE_REC_V1_LEN + 1, &back), AH_EFRAME);

    uint8_t v[STORE_REC_MAX_LEN];
    memcpy(v, buf, STORE_REC_V1_LEN);
    v[0] = 2; /* a newer record version */
    assert_int_equal(store_rec_decode(v, STORE_REC_V1_LEN, &back), AH_ENOTSUP);
    v[0] = 0;
    assert_int_equal(store_rec_decode(v, STORE_REC_V1_LEN, &back), AH_ENOTSUP);

    memcpy(v, buf, STORE_REC_V1_LEN);
    v[1] = 3; /* undefined source */
    assert_int_equal(store_rec_decode(v, STORE_REC_V1_LEN, &back), AH_EFRAME);

    memcpy(v, buf, STORE_REC_V1_LEN);
    v[5] = 0xFF; /* presence bit 31 is not defined in v1 */
    assert_int_equal(store_rec_decode(v, STORE_REC_V1_LEN, &back), AH_EFRAME);

    /* frequency marked absent but its bytes are not zero */
    memcpy(v, buf, STORE_REC_V1_LEN);
    uint32_t present = (uint32_t)(AH_READ_HAS_RECORD & ~AH_READ_HAS_FREQ);
    v[2] = (uint8_t)present;
    v[3] = (uint8_t)(present >> 8);
    v[4] = (uint8_t)(present >> 16);
    v[5] = (uint8_t)(present >> 24);
    assert_int_equal(store_rec_decode(v, STORE_REC_V1_LEN, &back), AH_EFRAME);
    v[226] = 0;
    v[227] = 0;
    assert_int_equal(store_rec_decode(v, STORE_REC_V1_LEN, &back), AH_OK);
    assert_int_equal(back.freq, 0);
}

static void test_encode_rejects(void **state)
{
    (void)state;
    struct ah_read r = three_phase_read();
    uint8_t buf[STORE_REC_MAX_LEN];
    assert_int_equal(store_rec_encode(&r, buf, STORE_REC_V1_LEN - 1), AH_EOVERFLOW);
    r.source = 7;
    assert_int_equal(store_rec_encode(&r, buf, sizeof buf), AH_EINVAL);
    r.source = AH_READ_BACKFILL;
    r.present = 0x80000000u;
    assert_int_equal(store_rec_encode(&r, buf, sizeof buf), AH_EINVAL);
}

/* What the record does not hold (ah_read.h: the interval end, cover and
 * clear counts, serial, daily freeze) is left out: the bytes are those of
 * the same read without it, and it comes back absent. */
static void test_fields_not_stored(void **state)
{
    (void)state;
    struct ah_read plain = three_phase_read(), full = plain, back;
    full.end = T_END;
    full.present |= AH_READ_HAS_COVER | AH_READ_HAS_CLEAR_COUNT | AH_READ_HAS_SERIAL |
                    AH_READ_HAS_FREEZE;
    full.cover_count = 3;
    full.terminal_count = 1;
    full.clear_count = 2;
    full.serial = 123456789012ull;
    full.freeze_at = (int64_t)T_END - 22 * 3600;
    full.freeze_fwd = 1200000;
    uint8_t a[STORE_REC_MAX_LEN], b[STORE_REC_MAX_LEN];
    assert_int_equal(store_rec_encode(&plain, a, sizeof a), STORE_REC_V1_LEN);
    assert_int_equal(store_rec_encode(&full, b, sizeof b), STORE_REC_V1_LEN);
    assert_memory_equal(a, b, STORE_REC_V1_LEN);
    assert_int_equal(store_rec_decode(b, STORE_REC_V1_LEN, &back), AH_OK);
    assert_rec_equal(&plain, &back);
    assert_true(back.end == 0);
    assert_int_equal(back.cover_count, 0);
    assert_int_equal(back.clear_count, 0);
    assert_true(back.serial == 0 && back.freeze_at == 0 && back.freeze_fwd == 0);

    /* a bit nobody defined is still refused */
    full.present |= UINT64_C(1) << 40;
    assert_int_equal(store_rec_encode(&full, b, sizeof b), AH_EINVAL);
}

static void test_read_key(void **state)
{
    (void)state;
    uint8_t k[STORE_REC_READ_KEY_LEN];
    store_rec_read_key(k, 0x01020304u, T_END); /* 0x6553EDE0 */
    static const uint8_t want[12] = {0x01, 0x02, 0x03, 0x04, 0,    0,
                                     0,    0,    0x65, 0x53, 0xED, 0xE0};
    assert_memory_equal(k, want, sizeof want);
    uint32_t m;
    uint64_t t;
    assert_int_equal(store_rec_read_key_parse(k, sizeof k, &m, &t), AH_OK);
    assert_int_equal(m, 0x01020304u);
    assert_true(t == T_END);
    assert_int_equal(store_rec_read_key_parse(k, 11, &m, &t), AH_EFRAME);
    assert_int_equal(store_rec_read_key_parse(k, 13, &m, &t), AH_EFRAME);
}

/* Big endian makes bytewise order = (meter, time) order, also where a
 * little-endian key would flip (255 -> 256 s, 2^32 s). */
static void test_read_keys_sort_in_time_order(void **state)
{
    (void)state;
    static const uint64_t times[] = {0, 255, 256, 900, 65535, 65536, T_END, 1ull << 32};
    uint8_t a[STORE_REC_READ_KEY_LEN], b[STORE_REC_READ_KEY_LEN];
    for (size_t i = 0; i + 1 < sizeof times / sizeof times[0]; i++) {
        store_rec_read_key(a, 7, times[i]);
        store_rec_read_key(b, 7, times[i + 1]);
        assert_true(memcmp(a, b, sizeof a) < 0);
    }
    /* every read of meter 1 sorts before any read of meter 256 */
    store_rec_read_key(a, 1, UINT64_MAX);
    store_rec_read_key(b, 256, 0);
    assert_true(memcmp(a, b, sizeof a) < 0);
}

static void test_event_and_outbox_keys(void **state)
{
    (void)state;
    uint8_t k[STORE_REC_EVENT_KEY_LEN];
    store_rec_event_key(k, T_END, 42, 0x0102);
    static const uint8_t want[14] = {0,    0, 0, 0, 0x65, 0x53, 0xED,
                                     0xE0, 0, 0, 0, 42,   0x01, 0x02};
    assert_memory_equal(k, want, sizeof want);
    uint64_t t;
    uint32_t m;
    uint16_t ty;
    assert_int_equal(store_rec_event_key_parse(k, sizeof k, &t, &m, &ty), AH_OK);
    assert_true(t == T_END);
    assert_int_equal(m, 42);
    assert_int_equal(ty, 0x0102);
    assert_int_equal(store_rec_event_key_parse(k, 12, &t, &m, &ty), AH_EFRAME);

    /* events of one instant sort by meter: time first in the key */
    uint8_t e1[STORE_REC_EVENT_KEY_LEN], e2[STORE_REC_EVENT_KEY_LEN];
    store_rec_event_key(e1, 1000, 999999, 0xFFFF);
    store_rec_event_key(e2, 1001, 0, 0);
    assert_true(memcmp(e1, e2, sizeof e1) < 0);

    uint8_t o[STORE_REC_OUTBOX_KEY_LEN], o2[STORE_REC_OUTBOX_KEY_LEN];
    store_rec_outbox_key(o, 0x0102030405060708ull);
    static const uint8_t ow[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_memory_equal(o, ow, sizeof ow);
    uint64_t seq;
    assert_int_equal(store_rec_outbox_key_parse(o, sizeof o, &seq), AH_OK);
    assert_true(seq == 0x0102030405060708ull);
    assert_int_equal(store_rec_outbox_key_parse(o, 7, &seq), AH_EFRAME);
    store_rec_outbox_key(o, 255);
    store_rec_outbox_key(o2, 256);
    assert_true(memcmp(o, o2, sizeof o) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_three_phase),
        cmocka_unit_test(test_layout_v1),
        cmocka_unit_test(test_extremes_round_trip),
        cmocka_unit_test(test_absent_fields_written_as_zero),
        cmocka_unit_test(test_decode_rejects),
        cmocka_unit_test(test_encode_rejects),
        cmocka_unit_test(test_fields_not_stored),
        cmocka_unit_test(test_read_key),
        cmocka_unit_test(test_read_keys_sort_in_time_order),
        cmocka_unit_test(test_event_and_outbox_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
