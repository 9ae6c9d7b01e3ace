/*
 * test_dlt645_di — DI table and value codec from byte vectors.
 *
 * Payloads are written as they are after −33H (the frame layer removes it),
 * taken from the worked frames of reference/protocols.md §3 where one exists.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ah_err.h"
#include "dlt645_di.h"

#define MAXV 64

static struct dlt645_value v[MAXV];

static size_t decode_ok(uint32_t di, enum dlt645_proto proto, const uint8_t *p,
                        size_t len)
{
    size_t n = 0;

    assert_int_equal(dlt645_decode(di, proto, p, len, v, MAXV, &n), AH_OK);
    return n;
}

static void assert_num(const struct dlt645_value *x, const char *name, int64_t raw,
                       unsigned dec, const char *unit)
{
    assert_string_equal(x->name, name);
    assert_int_equal(x->kind, DLT645_V_NUM);
    assert_int_equal(x->raw, raw);
    assert_int_equal(x->decimals, dec);
    assert_string_equal(x->unit, unit);
}

/* Re-encode what was decoded and require the very same bytes. */
static void assert_reencodes(uint32_t di, enum dlt645_proto proto, size_t n,
                             const uint8_t *p, size_t len)
{
    uint8_t out[1024];
    int w = dlt645_encode_values(di, proto, v, n, out, sizeof(out));

    assert_int_equal(w, (int)len);
    assert_memory_equal(out, p, len);
}

/* §3.1 1r: 00010000 = 012345.67 kWh */
static void test_1r_forward_active_total(void **state)
{
    static const uint8_t p[] = {0x67, 0x45, 0x23, 0x01};

    (void)state;
    assert_int_equal(decode_ok(0x00010000, DLT645_2007, p, sizeof(p)), 1);
    assert_num(&v[0], "forward_active_total", 1234567, 2, "kWh");
    assert_reencodes(0x00010000, DLT645_2007, 1, p, sizeof(p));
}

/* §3.1 2r: 02010100 = 230.1 V */
static void test_2r_voltage_a(void **state)
{
    static const uint8_t p[] = {0x01, 0x23};

    (void)state;
    assert_int_equal(decode_ok(0x02010100, DLT645_2007, p, sizeof(p)), 1);
    assert_num(&v[0], "voltage_a", 2301, 1, "V");
    assert_reencodes(0x02010100, DLT645_2007, 1, p, sizeof(p));
}

/* §3.1 3r / §2.2 worked decode: 34 12 80 = −1.234 A (sign bit of the MSB) */
static void test_3r_current_a_negative(void **state)
{
    static const uint8_t p[] = {0x34, 0x12, 0x80};

    (void)state;
    assert_int_equal(decode_ok(0x02020100, DLT645_2007, p, sizeof(p)), 1);
    assert_num(&v[0], "current_a", -1234, 3, "A");
    assert_reencodes(0x02020100, DLT645_2007, 1, p, sizeof(p));
}

/* §3.1 4r: 0203FF00 = 1.5000 / 0.5000 / 0.5000 / 0.5000 kW (data bytes of
 * the frame minus 33H) */
static void test_4r_active_power_block(void **state)
{
    static const uint8_t wire[] = {0x33, 0x83, 0x34, 0x33, 0x83, 0x33,
                                   0x33, 0x83, 0x33, 0x33, 0x83, 0x33};
    uint8_t p[sizeof(wire)];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(wire); i++)
        p[i] = (uint8_t)(wire[i] - 0x33);
    assert_int_equal(decode_ok(0x0203FF00, DLT645_2007, p, sizeof(p)), 4);
    assert_num(&v[0], "active_power_total", 15000, 4, "kW");
    assert_num(&v[1], "active_power_a", 5000, 4, "kW");
    assert_num(&v[2], "active_power_b", 5000, 4, "kW");
    assert_num(&v[3], "active_power_c", 5000, 4, "kW");
    assert_reencodes(0x0203FF00, DLT645_2007, 4, p, sizeof(p));
}

/* Sign bits (§2.2): power factor, combined active, temperature; forward
 * energy has none, so its top byte 80 means the digits 80. */
static void test_sign_bits(void **state)
{
    static const uint8_t pf[] = {0x50, 0x89};               /* −0.950 */
    static const uint8_t comb[] = {0x00, 0x01, 0x00, 0x80}; /* −1.00 kWh */
    static const uint8_t temp[] = {0x55, 0x80};             /* −5.5 °C */
    static const uint8_t fwd[] = {0x00, 0x01, 0x00, 0x80};

    (void)state;
    decode_ok(0x02060000, DLT645_2007, pf, sizeof(pf));
    assert_num(&v[0], "power_factor_total", -950, 3, "");
    decode_ok(0x00000000, DLT645_2007, comb, sizeof(comb));
    assert_num(&v[0], "combined_active_total", -100, 2, "kWh");
    assert_reencodes(0x00000000, DLT645_2007, 1, comb, sizeof(comb));
    decode_ok(0x02800007, DLT645_2007, temp, sizeof(temp));
    assert_num(&v[0], "meter_temperature", -55, 1, "°C");
    /* forward energy has no sign: 80 is the digits "80" */
    decode_ok(0x00010000, DLT645_2007, fwd, sizeof(fwd));
    assert_num(&v[0], "forward_active_total", 80000100, 2, "kWh");
    /* and a negative value cannot be encoded into an unsigned DI */
    v[0].kind = DLT645_V_NUM;
    v[0].raw = -1;
    v[0].decimals = 2;
    assert_true(dlt645_encode_values(0x00010000, DLT645_2007, v, 1, (uint8_t[4]){0}, 4) <
                0);
}

/* §3.3a captures: 00000000 = 000317.76 kWh; 02010100 = 100.1 V;
 * 04000402 meter number 002241020208. */
static void test_published_captures(void **state)
{
    static const uint8_t e[] = {0x76, 0x17, 0x03, 0x00};
    static const uint8_t u[] = {0x01, 0x10};
    static const uint8_t no[] = {0x08, 0x02, 0x02, 0x41, 0x22, 0x00};

    (void)state;
    decode_ok(0x00000000, DLT645_2007, e, sizeof(e));
    assert_num(&v[0], "combined_active_total", 31776, 2, "kWh");
    decode_ok(0x02010100, DLT645_2007, u, sizeof(u));
    assert_num(&v[0], "voltage_a", 1001, 1, "V");
    decode_ok(0x04000402, DLT645_2007, no, sizeof(no));
    assert_string_equal(v[0].name, "meter_number");
    assert_int_equal(v[0].kind, DLT645_V_TEXT);
    assert_string_equal(v[0].text, "002241020208");
    assert_reencodes(0x04000402, DLT645_2007, 1, no, sizeof(no));
}

/* §2.3: 0001FF00 on a 4-tariff meter = total + T1..T4, 20 bytes */
static void test_tariff_block_0001ff00(void **state)
{
    static const uint8_t p[] = {
        0x00, 0x00, 0x01, 0x00, /* total 100.00 */
        0x00, 0x10, 0x00, 0x00, /* T1 10.00 */
        0x00, 0x20, 0x00, 0x00, /* T2 20.00 */
        0x00, 0x30, 0x00, 0x00, /* T3 30.00 */
        0x00, 0x40, 0x00, 0x00, /* T4 40.00 */
    };
    size_t n;

    (void)state;
    assert_int_equal(decode_ok(0x0001FF00, DLT645_2007, p, sizeof(p)), 5);
    assert_num(&v[0], "forward_active_total", 10000, 2, "kWh");
    assert_num(&v[1], "forward_active_t1", 1000, 2, "kWh");
    assert_num(&v[4], "forward_active_t4", 4000, 2, "kWh");
    assert_reencodes(0x0001FF00, DLT645_2007, 5, p, sizeof(p));
    /* a length that is not whole items does not fit the DI */
    assert_int_equal(dlt645_decode(0x0001FF00, DLT645_2007, p, 18, v, MAXV, &n),
                     AH_EFRAME);
    /* last settlement day, and the 13-item history block of T1 */
    decode_ok(0x0001FF01, DLT645_2007, p, 8);
    assert_string_equal(v[1].name, "forward_active_t1_last1");
    {
        uint8_t h[13 * 4];
        memset(h, 0x00, sizeof(h));
        assert_int_equal(decode_ok(0x000101FF, DLT645_2007, h, sizeof(h)), 13);
        assert_string_equal(v[0].name, "forward_active_t1");
        assert_string_equal(v[12].name, "forward_active_t1_last12");
    }
    /* phase codes (§2.3): 0015 = A-phase forward active, RR must be 00 */
    decode_ok(0x00150000, DLT645_2007, p, 4);
    assert_num(&v[0], "forward_active_a", 10000, 2, "kWh");
    decode_ok(0x003E0000, DLT645_2007, p, 4);
    assert_string_equal(v[0].name, "reverse_active_c");
    assert_int_equal(dlt645_decode(0x00150100, DLT645_2007, p, 4, v, MAXV, &n),
                     AH_ENOTSUP);
    assert_int_equal(dlt645_decode(0x00014000, DLT645_2007, p, 4, v, MAXV, &n),
                     AH_ENOTSUP);
}

/* §2.4: 01010000 = XX.XXXX kW + YYMMDDhhmm */
static void test_max_demand_with_time(void **state)
{
    /* 1.2345 kW at 2025-03-15 14:30 */
    static const uint8_t p[] = {0x45, 0x23, 0x01, 0x30, 0x14, 0x15, 0x03, 0x25};
    /* combined reactive 1 demand is signed: −0.0100 kvar */
    static const uint8_t q[] = {0x00, 0x01, 0x80, 0x05, 0x08, 0x01, 0x02, 0x25};
    /* never reached since the last clear: all zero */
    static const uint8_t z[8] = {0};

    (void)state;
    decode_ok(0x01010000, DLT645_2007, p, sizeof(p));
    assert_num(&v[0], "forward_active_demand_total", 12345, 4, "kW");
    assert_true(v[0].has_tm);
    assert_int_equal(v[0].tm.year, 25);
    assert_int_equal(v[0].tm.mon, 3);
    assert_int_equal(v[0].tm.day, 15);
    assert_int_equal(v[0].tm.hour, 14);
    assert_int_equal(v[0].tm.min, 30);
    assert_int_equal(v[0].tm_fields, DLT645_TM_DATE | DLT645_TM_HM);
    assert_reencodes(0x01010000, DLT645_2007, 1, p, sizeof(p));
    decode_ok(0x01030000, DLT645_2007, q, sizeof(q));
    assert_num(&v[0], "combined_reactive_1_demand_total", -100, 4, "kvar");
    assert_reencodes(0x01030000, DLT645_2007, 1, q, sizeof(q));
    decode_ok(0x01010000, DLT645_2007, z, sizeof(z));
    assert_false(v[0].has_tm);
    assert_reencodes(0x01010000, DLT645_2007, 1, z, sizeof(z));
    /* block: total + 2 tariffs = 24 bytes */
    {
        uint8_t b[24];
        memcpy(b, p, 8);
        memcpy(b + 8, p, 8);
        memcpy(b + 16, z, 8);
        assert_int_equal(decode_ok(0x0101FF00, DLT645_2007, b, sizeof(b)), 3);
        assert_string_equal(v[2].name, "forward_active_demand_t2");
        assert_reencodes(0x0101FF00, DLT645_2007, 3, b, sizeof(b));
    }
}

/* §3.1 8r / 9r: 04000101 = 25-03-14 weekday 5, 04000102 = 15:09:26 */
static void test_8r_9r_date_time(void **state)
{
    static const uint8_t d[] = {0x05, 0x14, 0x03, 0x25};
    static const uint8_t t[] = {0x26, 0x09, 0x15};
    static const uint8_t dt[] = {0x26, 0x09, 0x15, 0x05, 0x14, 0x03, 0x25};
    static const uint8_t bad[] = {0x05, 0x14, 0x13, 0x25}; /* month 13 */
    size_t n;

    (void)state;
    decode_ok(0x04000101, DLT645_2007, d, sizeof(d));
    assert_string_equal(v[0].name, "date");
    assert_int_equal(v[0].kind, DLT645_V_TIME);
    assert_int_equal(v[0].tm.year, 25);
    assert_int_equal(v[0].tm.mon, 3);
    assert_int_equal(v[0].tm.day, 14);
    assert_int_equal(v[0].tm.wday, 5);
    assert_int_equal(v[0].tm_fields, DLT645_TM_DATE | DLT645_TM_WDAY);
    assert_reencodes(0x04000101, DLT645_2007, 1, d, sizeof(d));
    decode_ok(0x04000102, DLT645_2007, t, sizeof(t));
    assert_string_equal(v[0].name, "time");
    assert_int_equal(v[0].tm.hour, 15);
    assert_int_equal(v[0].tm.min, 9);
    assert_int_equal(v[0].tm.sec, 26);
    assert_int_equal(v[0].tm_fields, DLT645_TM_HM | DLT645_TM_SEC);
    assert_reencodes(0x04000102, DLT645_2007, 1, t, sizeof(t));
    decode_ok(0x0400010C, DLT645_2007, dt, sizeof(dt));
    assert_int_equal(v[0].tm.wday, 5);
    assert_int_equal(v[0].tm.sec, 26);
    assert_int_equal(v[0].tm.day, 14);
    assert_reencodes(0x0400010C, DLT645_2007, 1, dt, sizeof(dt));
    assert_int_equal(
        dlt645_decode(0x04000101, DLT645_2007, bad, sizeof(bad), v, MAXV, &n), AH_EFRAME);
}

/* §2.7 status words: bits carry the names of the standard's Appendix C */
static void test_status_words_named(void **state)
{
    /* word 1 = 0x0014: clock battery low, total active power reverse */
    static const uint8_t w1[] = {0x14, 0x00};
    uint8_t blk[14];
    const char *names[16];
    unsigned b, k = 0;

    (void)state;
    decode_ok(0x04000501, DLT645_2007, w1, sizeof(w1));
    assert_string_equal(v[0].name, "status_word_1");
    assert_int_equal(v[0].kind, DLT645_V_BITS);
    assert_int_equal(v[0].bits, 0x0014);
    for (b = 0; b < 16; b++)
        if (v[0].bits & (1u << b))
            names[k++] = dlt645_status_bit_name(0x04000501, b);
    assert_int_equal(k, 2);
    assert_string_equal(names[0], "clock_battery_low");
    assert_string_equal(names[1], "active_power_reverse");
    assert_null(dlt645_status_bit_name(0x04000501, 0)); /* reserved */
    assert_string_equal(dlt645_status_bit_name(0x04000502, 1), "active_reverse_b");
    assert_string_equal(dlt645_status_bit_name(0x04000503, 4), "relay_open");
    assert_string_equal(dlt645_status_bit_name(0x04000504, 7), "phase_failure");
    assert_string_equal(dlt645_status_bit_name(0x04000506, 6), "reverse_power_flow");
    assert_string_equal(dlt645_status_bit_name(0x04000507, 5), "power_down");
    assert_null(dlt645_status_bit_name(0x04000508, 0));
    /* 040005FF: the seven words in order; word 4 = A-phase loss of voltage */
    memset(blk, 0, sizeof(blk));
    blk[6] = 0x01;
    blk[13] = 0x01; /* word 7 bit 8 */
    assert_int_equal(decode_ok(0x040005FF, DLT645_2007, blk, sizeof(blk)), 7);
    assert_string_equal(v[3].name, "status_word_4");
    assert_int_equal(v[3].bits, 0x0001);
    assert_int_equal(v[6].bits, 0x0100);
    assert_reencodes(0x040005FF, DLT645_2007, 7, blk, sizeof(blk));
}

/* §2.7 parameters: address digits, ASCII asset code, constants, mode words */
static void test_parameters(void **state)
{
    static const uint8_t addr[] = {0x12, 0x90, 0x78, 0x56, 0x34, 0x12};
    static const uint8_t konst[] = {0x00, 0x12, 0x00};       /* 1200 imp/kWh */
    static const uint8_t start[] = {0x00, 0x00, 0x29, 0x02}; /* 02-29 00:00 */
    uint8_t asset[32];

    (void)state;
    decode_ok(0x04000401, DLT645_2007, addr, sizeof(addr));
    assert_string_equal(v[0].name, "comm_address");
    assert_string_equal(v[0].text, "123456789012");
    decode_ok(0x04000409, DLT645_2007, konst, sizeof(konst));
    assert_num(&v[0], "active_constant", 1200, 0, "imp/kWh");
    memset(asset, 0, sizeof(asset));
    memcpy(asset + 32 - 4, "DCBA", 4); /* low byte first: "ABCD" */
    decode_ok(0x04000403, DLT645_2007, asset, sizeof(asset));
    assert_string_equal(v[0].name, "asset_code");
    assert_string_equal(v[0].text, "ABCD");
    assert_reencodes(0x04000403, DLT645_2007, 1, asset, sizeof(asset));
    decode_ok(0x04000A01, DLT645_2007, start, sizeof(start));
    assert_string_equal(v[0].name, "load_record_start_time");
    assert_int_equal(v[0].tm_fields, DLT645_TM_MDAY | DLT645_TM_HM);
    assert_int_equal(v[0].tm.mon, 2);
    assert_int_equal(v[0].tm.day, 29);
    decode_ok(0x04000901, DLT645_2007, (const uint8_t[]){0x0F}, 1);
    assert_string_equal(v[0].name, "load_record_mode_word");
    assert_int_equal(v[0].bits, 0x0F);
}

/* §2.5 variables: frequency 02800002, neutral current 02800001 */
static void test_frequency_and_neutral(void **state)
{
    static const uint8_t f[] = {0x98, 0x49};        /* 49.98 Hz */
    static const uint8_t in[] = {0x50, 0x01, 0x00}; /* 0.150 A */
    uint8_t blk[64];
    size_t n;

    (void)state;
    decode_ok(0x02800002, DLT645_2007, f, sizeof(f));
    assert_num(&v[0], "frequency", 4998, 2, "Hz");
    decode_ok(0x02800001, DLT645_2007, in, sizeof(in));
    assert_num(&v[0], "neutral_current", 150, 3, "A");
    /* 028000FF = 01..0A: 3+2+3+3+3+3+2+2+2+4 = 27 bytes */
    memset(blk, 0, sizeof(blk));
    assert_int_equal(decode_ok(0x028000FF, DLT645_2007, blk, 27), 10);
    assert_string_equal(v[9].name, "battery_work_time");
    assert_int_equal(dlt645_decode(0x028000FF, DLT645_2007, blk, 28, v, MAXV, &n),
                     AH_EFRAME);
}

/* FF-filled items inside a block are "not available", not an error (§2.9). */
static void test_block_ff_is_na(void **state)
{
    static const uint8_t p[] = {0x01, 0x23, 0xFF, 0xFF, 0xFF, 0xFF};

    (void)state;
    assert_int_equal(decode_ok(0x0201FF00, DLT645_2007, p, sizeof(p)), 3);
    assert_num(&v[0], "voltage_a", 2301, 1, "V");
    assert_int_equal(v[1].kind, DLT645_V_NA);
    assert_string_equal(v[1].name, "voltage_b");
    assert_int_equal(v[2].kind, DLT645_V_NA);
    assert_reencodes(0x0201FF00, DLT645_2007, 3, p, sizeof(p));
}

/* §2.8 daily freeze: 05060001 time, 05060101 fwd block, 05061001 variables */
static void test_daily_freeze(void **state)
{
    static const uint8_t t[] = {0x00, 0x00, 0x14, 0x03, 0x25};
    static const uint8_t e[] = {0x67, 0x45, 0x23, 0x01, 0x00, 0x00,
                                0x10, 0x00, 0x67, 0x45, 0x13, 0x01};
    uint8_t vars[24];
    size_t n;

    (void)state;
    decode_ok(0x05060001, DLT645_2007, t, sizeof(t));
    assert_string_equal(v[0].name, "daily_freeze_time");
    assert_int_equal(v[0].kind, DLT645_V_TIME);
    assert_int_equal(v[0].tm.day, 14);
    assert_int_equal(v[0].tm.hour, 0);
    assert_int_equal(decode_ok(0x05060101, DLT645_2007, e, sizeof(e)), 3);
    assert_num(&v[0], "daily_freeze_forward_active_total", 1234567, 2, "kWh");
    assert_num(&v[1], "daily_freeze_forward_active_t1", 100000, 2, "kWh");
    assert_reencodes(0x05060101, DLT645_2007, 3, e, sizeof(e));
    memset(vars, 0, sizeof(vars));
    vars[23] = 0x80; /* QC negative zero */
    assert_int_equal(decode_ok(0x05061001, DLT645_2007, vars, sizeof(vars)), 8);
    assert_string_equal(v[4].name, "daily_freeze_reactive_power_total");
    /* NN 00 and past 3E are not records */
    assert_int_equal(dlt645_decode(0x05060000, DLT645_2007, t, 5, v, MAXV, &n),
                     AH_ENOTSUP);
    assert_int_equal(dlt645_decode(0x0506003F, DLT645_2007, t, 5, v, MAXV, &n),
                     AH_ENOTSUP);
    /* hourly freeze: forward active total only, 4 bytes */
    decode_ok(0x05040101, DLT645_2007, e, 4);
    assert_num(&v[0], "hourly_freeze_forward_active_total", 1234567, 2, "kWh");
    assert_int_equal(dlt645_decode(0x05040101, DLT645_2007, e, 8, v, MAXV, &n),
                     AH_EFRAME);
    decode_ok(0x05000001, DLT645_2007, t, sizeof(t));
    assert_string_equal(v[0].name, "timed_freeze_time");
}

/* §2.6 events */
static void test_events(void **state)
{
    static const uint8_t cnt[] = {0x12, 0x00, 0x00};
    static const uint8_t rec[] = {0x00, 0x30, 0x22, 0x13, 0x03, 0x25,  /* start */
                                  0x15, 0x05, 0x06, 0x14, 0x03, 0x25}; /* end */
    uint8_t cover[60], sum[18];
    size_t n;

    (void)state;
    decode_ok(0x03110000, DLT645_2007, cnt, sizeof(cnt));
    assert_num(&v[0], "power_down_count", 12, 0, "");
    assert_int_equal(decode_ok(0x03110001, DLT645_2007, rec, sizeof(rec)), 2);
    assert_string_equal(v[0].name, "power_down_start");
    assert_int_equal(v[0].tm.hour, 22);
    assert_int_equal(v[0].tm.min, 30);
    assert_int_equal(v[1].tm.day, 14);
    assert_int_equal(v[1].tm.sec, 15);
    assert_reencodes(0x03110001, DLT645_2007, 2, rec, sizeof(rec));

    decode_ok(0x03300D00, DLT645_2007, cnt, sizeof(cnt));
    assert_num(&v[0], "cover_open_count", 12, 0, "");
    decode_ok(0x03300400, DLT645_2007, cnt, sizeof(cnt));
    assert_string_equal(v[0].name, "time_set_count");
    decode_ok(0x03300000, DLT645_2007, cnt, sizeof(cnt));
    assert_string_equal(v[0].name, "programming_count");

    memset(cover, 0, sizeof(cover));
    memcpy(cover, rec, 12);
    cover[12] = 0x67, cover[13] = 0x45, cover[14] = 0x23, cover[15] = 0x01;
    cover[36] = 0x68, cover[37] = 0x45, cover[38] = 0x23, cover[39] = 0x01;
    assert_int_equal(decode_ok(0x03300D01, DLT645_2007, cover, sizeof(cover)), 14);
    assert_string_equal(v[0].name, "cover_open_time");
    assert_string_equal(v[1].name, "cover_close_time");
    assert_num(&v[2], "forward_active_before", 1234567, 2, "kWh");
    assert_num(&v[8], "forward_active_after", 1234568, 2, "kWh");
    assert_string_equal(v[13].name, "q4_reactive_after");
    assert_reencodes(0x03300D01, DLT645_2007, 14, cover, sizeof(cover));
    assert_int_equal(dlt645_decode(0x03300D01, DLT645_2007, cover, 59, v, MAXV, &n),
                     AH_EFRAME);

    /* 03040000 phase failure summary: A 2 × 30 min, B 0, C 1 × 5 min */
    memset(sum, 0, sizeof(sum));
    sum[0] = 0x02, sum[3] = 0x30, sum[12] = 0x01, sum[15] = 0x05;
    assert_int_equal(decode_ok(0x03040000, DLT645_2007, sum, sizeof(sum)), 6);
    assert_num(&v[0], "phase_failure_count_a", 2, 0, "");
    assert_num(&v[1], "phase_failure_time_a", 30, 0, "min");
    assert_num(&v[5], "phase_failure_time_c", 5, 0, "min");

    /* State-Grid extension (§2.6): 13PP0001 count, 13PP2501 last end */
    decode_ok(0x13010001, DLT645_2007, cnt, sizeof(cnt));
    assert_num(&v[0], "phase_failure_count_a", 12, 0, "");
    decode_ok(0x13032501, DLT645_2007, rec + 6, 6);
    assert_string_equal(v[0].name, "phase_failure_last_end_c");
    decode_ok(0x1B020101, DLT645_2007, rec, 6);
    assert_string_equal(v[0].name, "reverse_power_last_start_b");
    decode_ok(0x1B021201, DLT645_2007, rec, 6);
    assert_string_equal(v[0].name, "reverse_power_last_end_b");
    decode_ok(0x10000002, DLT645_2007, cnt, sizeof(cnt));
    assert_num(&v[0], "loss_of_voltage_total_time", 12, 0, "min");
    decode_ok(0x21000000, DLT645_2007, cnt, sizeof(cnt));
    assert_string_equal(v[0].name, "power_flow_reverse_count");
    /* 14 has no phases */
    assert_int_equal(dlt645_decode(0x14010001, DLT645_2007, cnt, 3, v, MAXV, &n),
                     AH_ENOTSUP);
}

/* §3.2 and §2.10: 1997 formats */
static void test_1997(void **state)
{
    static const uint8_t e[] = {0x67, 0x45, 0x23, 0x01};  /* 15r */
    static const uint8_t u[] = {0x30, 0x02};              /* 16r: 230 V */
    static const uint8_t i[] = {0x34, 0x12};              /* 12.34 A */
    static const uint8_t q[] = {0x50, 0x01};              /* 1.50 kvar */
    static const uint8_t dt[] = {0x30, 0x14, 0x15, 0x03}; /* 03-15 14:30 */
    uint8_t blk[20];
    size_t n;

    (void)state;
    decode_ok(0x9010, DLT645_1997, e, sizeof(e));
    assert_num(&v[0], "forward_active_total", 1234567, 2, "kWh");
    assert_reencodes(0x9010, DLT645_1997, 1, e, sizeof(e));
    decode_ok(0xB611, DLT645_1997, u, sizeof(u));
    assert_num(&v[0], "voltage_a", 230, 0, "V");
    assert_reencodes(0xB611, DLT645_1997, 1, u, sizeof(u));
    decode_ok(0xB621, DLT645_1997, i, sizeof(i));
    assert_num(&v[0], "current_a", 1234, 2, "A");
    decode_ok(0xB640, DLT645_1997, q, sizeof(q));
    assert_num(&v[0], "reactive_power_total", 150, 2, "kvar");
    decode_ok(0x9410, DLT645_1997, e, sizeof(e));
    assert_string_equal(v[0].name, "forward_active_total_last1");
    decode_ok(0x9140, DLT645_1997, e, sizeof(e));
    assert_string_equal(v[0].name, "q4_reactive_total");
    memset(blk, 0, sizeof(blk));
    assert_int_equal(decode_ok(0x901F, DLT645_1997, blk, sizeof(blk)), 5);
    assert_string_equal(v[4].name, "forward_active_t4");
    decode_ok(0xA010, DLT645_1997, e, 3);
    assert_num(&v[0], "forward_active_demand_total", 234567, 4, "kW");
    decode_ok(0xB010, DLT645_1997, dt, sizeof(dt));
    assert_string_equal(v[0].name, "forward_active_demand_time_total");
    assert_int_equal(v[0].tm.mon, 3);
    assert_int_equal(v[0].tm.min, 30);
    decode_ok(0xC010, DLT645_1997, (const uint8_t[]){0x05, 0x14, 0x03, 0x25}, 4);
    assert_int_equal(v[0].tm.wday, 5);
    decode_ok(0xC032, DLT645_1997, (const uint8_t[]){0x12, 0x90, 0x78, 0x56, 0x34, 0x12},
              6);
    assert_string_equal(v[0].text, "123456789012");
    /* 2007 DIs are not 1997 DIs and vice versa */
    assert_int_equal(dlt645_decode(0x9010, DLT645_2007, e, 4, v, MAXV, &n), AH_ENOTSUP);
    assert_int_equal(dlt645_decode(0x02010100, DLT645_1997, e, 2, v, MAXV, &n),
                     AH_ENOTSUP);
}

static void test_describe_and_errors(void **state)
{
    char name[DLT645_NAME_MAX];
    const char *unit = NULL;
    static const uint8_t p[4] = {0};
    size_t n = 99;

    (void)state;
    assert_true(dlt645_di_describe(0x00010000, DLT645_2007, name, sizeof(name), &unit));
    assert_string_equal(name, "forward_active_total");
    assert_string_equal(unit, "kWh");
    assert_true(dlt645_di_describe(0x0201FF00, DLT645_2007, name, sizeof(name), &unit));
    assert_string_equal(name, "voltage_block");
    assert_true(dlt645_di_describe(0x0001FF00, DLT645_2007, name, sizeof(name), &unit));
    assert_string_equal(name, "forward_active_tariffs");
    assert_true(dlt645_di_describe(0x06100101, DLT645_2007, name, sizeof(name), &unit));
    assert_string_equal(name, "voltage_a_curve");
    assert_true(dlt645_di_describe(0x06000001, DLT645_2007, name, sizeof(name), &unit));
    assert_string_equal(name, "load_record");
    assert_true(dlt645_di_describe(0xB611, DLT645_1997, name, sizeof(name), &unit));
    assert_string_equal(name, "voltage_a");
    assert_false(dlt645_di_describe(0x7F000000, DLT645_2007, name, sizeof(name), &unit));
    assert_int_equal(dlt645_decode(0x7F000000, DLT645_2007, p, 4, v, MAXV, &n),
                     AH_ENOTSUP);
    assert_int_equal(n, 0);
    assert_int_equal(dlt645_decode(0x00010000, DLT645_2007, p, 3, v, MAXV, &n),
                     AH_EFRAME);
    assert_int_equal(
        dlt645_decode(0x0203FF00, DLT645_2007, (uint8_t[12]){0}, 12, v, 2, &n),
        AH_EOVERFLOW);
    /* encode: wrong count, kind, small buffer; decimals are rescaled */
    memset(v, 0, sizeof(v[0]));
    v[0].kind = DLT645_V_NUM;
    v[0].raw = 2301;
    v[0].decimals = 1;
    {
        uint8_t out[8];
        assert_int_equal(dlt645_encode_values(0x02010100, DLT645_2007, v, 2, out, 8),
                         AH_EINVAL);
        assert_int_equal(dlt645_encode_values(0x02010100, DLT645_2007, v, 1, out, 1),
                         AH_EOVERFLOW);
        v[0].raw = 230;
        v[0].decimals = 0;
        assert_int_equal(dlt645_encode_values(0x02010100, DLT645_2007, v, 1, out, 8), 2);
        assert_int_equal(out[0], 0x00);
        assert_int_equal(out[1], 0x23);
        v[0].raw = 23012;
        v[0].decimals = 2; /* 230.12 V does not fit XXX.X */
        assert_int_equal(dlt645_encode_values(0x02010100, DLT645_2007, v, 1, out, 8),
                         AH_ERANGE);
        v[0].kind = DLT645_V_TIME;
        assert_int_equal(dlt645_encode_values(0x02010100, DLT645_2007, v, 1, out, 8),
                         AH_EINVAL);
    }
}

/* ---- load records (§2.9) ----------------------------------------------- */

struct rec {
    uint8_t b[160];
    size_t n;
};

static void put(struct rec *r, const uint8_t *p, size_t n)
{
    memcpy(r->b + r->n, p, n);
    r->n += n;
}
#define PUT(r, ...)                                                                      \
    put((r), (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}))

/* Builds A0 A0 LL time classes… CS E5 by hand; `mask` = classes present.
 * single_phase fills B/C phase items with FF as a single-phase meter does. */
static void build_record(struct rec *r, unsigned mask, bool single_phase)
{
    size_t i;
    uint8_t cs = 0;

    r->n = 0;
    PUT(r, 0xA0, 0xA0, 0x00, 0x15, 0x00, 0x14, 0x03, 0x25); /* 2025-03-14 00:15 */
    if (mask & 1) {
        PUT(r, 0x01, 0x23); /* Ua 230.1 V */
        if (single_phase)
            PUT(r, 0xFF, 0xFF, 0xFF, 0xFF);
        else
            PUT(r, 0x02, 0x23, 0x99, 0x22); /* 230.2, 229.9 */
        PUT(r, 0x34, 0x12, 0x00);           /* Ia 1.234 A */
        if (single_phase)
            PUT(r, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF);
        else
            PUT(r, 0x00, 0x05, 0x80, 0x00, 0x00, 0x00); /* Ib −0.500 A, Ic 0 */
        PUT(r, 0x00, 0x50);                             /* 50.00 Hz */
    }
    PUT(r, 0xAA);
    if (mask & 2) {
        PUT(r, 0x00, 0x50, 0x01, 0x00, 0x50, 0x00, 0x00, 0x50, 0x00, 0x00, 0x50, 0x00);
        PUT(r, 0x34, 0x12, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00);
    }
    PUT(r, 0xAA);
    if (mask & 4)
        PUT(r, 0x50, 0x09, 0x50, 0x09, 0x00, 0x10, 0x00,
            0x85); /* .950 .950 1.000 −.500 */
    PUT(r, 0xAA);
    if (mask & 8) {
        PUT(r, 0x67, 0x45, 0x23, 0x01, 0x00, 0x00, 0x00, 0x00); /* fwd 12345.67, rev 0 */
        PUT(r, 0x00, 0x01, 0x00, 0x80, 0x50, 0x02, 0x00, 0x00); /* cr1 −1.00, cr2 2.50 */
    }
    PUT(r, 0xAA);
    if (mask & 16)
        PUT(r, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00,
            0x04, 0x00, 0x00, 0x00);
    PUT(r, 0xAA);
    if (mask & 32)
        PUT(r, 0x00, 0x50, 0x01, 0x00, 0x10, 0x00); /* 1.5000 kW, 0.1000 kvar */
    PUT(r, 0xAA);
    r->b[2] = (uint8_t)(r->n - 3);
    for (i = 0; i < r->n; i++)
        cs = (uint8_t)(cs + r->b[i]);
    PUT(r, cs, 0xE5);
}

static void assert_lr_roundtrip(const struct rec *r, const struct dlt645_load_record *lr)
{
    uint8_t out[160];
    int w = dlt645_lr_encode(lr, out, sizeof(out));

    assert_int_equal(w, (int)r->n);
    assert_memory_equal(out, r->b, r->n);
}

static void test_load_record_all_classes(void **state)
{
    struct rec r;
    struct dlt645_load_record lr;
    size_t used;

    (void)state;
    build_record(&r, 0x3F, false);
    assert_int_equal(r.b[2], 98);
    assert_int_equal(r.n, 103);
    assert_int_equal(dlt645_lr_decode(r.b, r.n, &lr, &used), AH_OK);
    assert_int_equal(used, 103);
    assert_false(lr.invalid);
    assert_int_equal(lr.classes, 0x3F);
    assert_int_equal(lr.na, 0);
    assert_int_equal(lr.t.year, 25);
    assert_int_equal(lr.t.mon, 3);
    assert_int_equal(lr.t.day, 14);
    assert_int_equal(lr.t.hour, 0);
    assert_int_equal(lr.t.min, 15);
    assert_int_equal(lr.volt[0], 2301);
    assert_int_equal(lr.volt[2], 2299);
    assert_int_equal(lr.curr[0], 1234);
    assert_int_equal(lr.curr[1], -500);
    assert_int_equal(lr.freq, 5000);
    assert_int_equal(lr.p[0], 15000);
    assert_int_equal(lr.p[3], 5000);
    assert_int_equal(lr.q[0], -1234);
    assert_int_equal(lr.pf[0], 950);
    assert_int_equal(lr.pf[2], 1000);
    assert_int_equal(lr.e_fwd, 1234567);
    assert_int_equal(lr.e_cr1, -100);
    assert_int_equal(lr.e_cr2, 250);
    assert_int_equal(lr.e_q[3], 4);
    assert_int_equal(lr.dem_p, 15000);
    assert_int_equal(lr.dem_q, 1000);
    assert_int_equal(lr.pf[3], -500);
    assert_lr_roundtrip(&r, &lr);
}

static void test_load_record_classes_1_to_4(void **state)
{
    struct rec r;
    struct dlt645_load_record lr;
    size_t used;

    (void)state;
    build_record(&r, 0x0F, false);
    assert_int_equal(r.b[2], 76);
    assert_int_equal(dlt645_lr_decode(r.b, r.n, &lr, &used), AH_OK);
    assert_int_equal(used, 81);
    assert_int_equal(lr.classes, 0x0F);
    assert_true(lr.na & (1ull << DLT645_LR_E_Q1));
    assert_true(lr.na & (1ull << DLT645_LR_DEM_Q));
    assert_false(lr.na & (1ull << DLT645_LR_E_FWD));
    assert_int_equal(lr.e_fwd, 1234567);
}

static void test_load_record_single_phase_ff(void **state)
{
    struct rec r;
    struct dlt645_load_record lr;
    size_t used;

    (void)state;
    build_record(&r, 0x01, true);
    assert_int_equal(dlt645_lr_decode(r.b, r.n, &lr, &used), AH_OK);
    assert_int_equal(lr.classes, 0x01);
    assert_int_equal(lr.volt[0], 2301);
    assert_int_equal(lr.curr[0], 1234);
    assert_true(lr.na & (1ull << DLT645_LR_UB));
    assert_true(lr.na & (1ull << DLT645_LR_UC));
    assert_true(lr.na & (1ull << DLT645_LR_IB));
    assert_true(lr.na & (1ull << DLT645_LR_IC));
    assert_false(lr.na & (1ull << DLT645_LR_UA));
    assert_false(lr.na & (1ull << DLT645_LR_FREQ));
    assert_true(lr.na & (1ull << DLT645_LR_P)); /* class 2 off */
    assert_lr_roundtrip(&r, &lr);
}

static void test_load_record_invalid_and_bad(void **state)
{
    struct rec r;
    struct dlt645_load_record lr;
    size_t used;
    uint8_t cs;

    (void)state;
    /* E0 E0 start: record marked invalid, still a well-formed block */
    build_record(&r, 0x3F, false);
    r.b[0] = r.b[1] = 0xE0;
    cs = (uint8_t)(r.b[r.n - 2] + 2 * (0xE0 - 0xA0));
    r.b[r.n - 2] = cs;
    assert_int_equal(dlt645_lr_decode(r.b, r.n, &lr, &used), AH_OK);
    assert_true(lr.invalid);
    assert_int_equal(used, 103);

    /* bad record CS */
    build_record(&r, 0x3F, false);
    r.b[r.n - 2] ^= 0x01;
    assert_int_equal(dlt645_lr_decode(r.b, r.n, &lr, &used), AH_EFRAME);
    /* bad end code */
    build_record(&r, 0x3F, false);
    r.b[r.n - 1] = 0x16;
    assert_int_equal(dlt645_lr_decode(r.b, r.n, &lr, &used), AH_EFRAME);
    /* bad start */
    build_record(&r, 0x3F, false);
    r.b[0] = 0xA1;
    assert_int_equal(dlt645_lr_decode(r.b, r.n, &lr, &used), AH_EFRAME);
    /* truncated */
    build_record(&r, 0x3F, false);
    assert_int_equal(dlt645_lr_decode(r.b, r.n - 1, &lr, &used), AH_EFRAME);
    /* LL that does not match the classes (one byte short) */
    build_record(&r, 0x3F, false);
    r.b[2] = 97;
    assert_int_equal(dlt645_lr_decode(r.b, r.n, &lr, &used), AH_EFRAME);
}

/* §2.9 curves: 06100101 voltage A, 4 points from 2025-03-14 00:00 */
static void test_curve_with_ff_points(void **state)
{
    static const uint8_t p[] = {0x00, 0x00, 0x14, 0x03, 0x25, 0x01, 0x23,
                                0xFF, 0xFF, 0xEE, 0xEE, 0x99, 0x22};
    struct dlt645_tm start;
    uint8_t out[32];
    size_t n;
    uint8_t size = 0, dec = 0;
    bool sign = true;
    const char *unit = NULL;

    (void)state;
    assert_true(dlt645_curve_item(0x06100101, &size, &dec, &sign, &unit));
    assert_int_equal(size, 2);
    assert_int_equal(dec, 1);
    assert_false(sign);
    assert_string_equal(unit, "V");
    assert_false(dlt645_curve_item(0x06100909, &size, &dec, &sign, &unit));
    assert_int_equal(dlt645_curve_decode(0x06100101, p, sizeof(p), &start, v, MAXV, &n),
                     AH_OK);
    assert_int_equal(n, 4);
    assert_int_equal(start.day, 14);
    assert_int_equal(start.hour, 0);
    assert_num(&v[0], "voltage_a", 2301, 1, "V");
    assert_int_equal(v[1].kind, DLT645_V_NA);
    assert_int_equal(v[2].kind, DLT645_V_NA);
    assert_num(&v[3], "voltage_a", 2299, 1, "V");
    assert_int_equal(dlt645_curve_encode(0x06100101, &start, v, n, out, sizeof(out)), 13);
    assert_memory_equal(out, p, 5 + 2);
    assert_int_equal(out[9], 0xFF); /* EE comes back as FF */
    assert_int_equal(
        dlt645_curve_decode(0x06100101, p, sizeof(p) - 1, &start, v, MAXV, &n),
        AH_EFRAME);
    assert_int_equal(dlt645_curve_decode(0x06100101, p, sizeof(p), &start, v, 3, &n),
                     AH_EOVERFLOW);
    /* signed current curve */
    {
        static const uint8_t c[] = {0x00, 0x00, 0x14, 0x03, 0x25, 0x34, 0x12, 0x80};
        assert_int_equal(
            dlt645_curve_decode(0x06100201, c, sizeof(c), &start, v, MAXV, &n), AH_OK);
        assert_num(&v[0], "current_a", -1234, 3, "A");
    }
}

/* Every table entry: a payload of valid BCD decodes and re-encodes to the
 * very same bytes; tariff blocks also with three items. */
static void roundtrip_fill(uint32_t di, enum dlt645_proto proto, uint8_t fill)
{
    uint8_t p[600];
    size_t len, n, found = 0;

    memset(p, fill, sizeof(p));
    for (len = 1; len < sizeof(p); len++) {
        if (dlt645_decode(di, proto, p, len, v, MAXV, &n) != AH_OK)
            continue;
        assert_true(n >= 1 && n <= MAXV);
        assert_reencodes(di, proto, n, p, len);
        if (++found == 3)
            break;
    }
    if (found == 0)
        fail_msg("DI %08X (%d) decodes at no length with fill %02X", (unsigned)di,
                 (int)proto, fill);
}

static void test_roundtrip_every_entry(void **state)
{
    static const uint32_t more[] = {
        0x0000FF00, 0x00030000, 0x000A0000, 0x00290000, 0x00460000, 0x00800000,
        0x00860000, 0x0000000C, 0x000000FF, 0x0104FF00, 0x013D0000, 0x01010001,
        0x020A0115, 0x020B03FF, 0x028000FF, 0x0280000B, 0x0201FF00, 0x0202FF00,
        0x0206FF00, 0x03050000, 0x030F0000, 0x0311000A, 0x03300E00, 0x03300E0A,
        0x03301200, 0x04000102, 0x0400010C, 0x04000403, 0x04000705, 0x04000A07,
        0x04000B03, 0x04000603, 0x05000001, 0x0500000C, 0x05010801, 0x05040001,
        0x050400FE, 0x05040201, 0x0506003E, 0x05060201, 0x05060A01, 0x05061001,
        0x10000101, 0x10032501, 0x1D000101, 0x1F000601, 0x20001301, 0x1C031201,
    };
    static const uint32_t more97[] = {
        0x901F, 0x9020, 0x902F, 0x9110, 0x9120, 0x9130, 0x9150, 0x9160, 0x941F, 0x981F,
        0xA01F, 0xB02F, 0xB61F, 0xB633, 0xB65F, 0xC011, 0xC020, 0xC030, 0xC033, 0xC034};
    uint32_t di;
    enum dlt645_proto proto;
    size_t i, entries = 0;

    (void)state;
    for (i = 0; dlt645_di_example(i, &di, &proto); i++, entries++) {
        roundtrip_fill(di, proto, 0x01);
        roundtrip_fill(di, proto, 0x05);
    }
    assert_true(entries > 40);
    for (i = 0; i < sizeof(more) / sizeof(more[0]); i++)
        roundtrip_fill(more[i], DLT645_2007, 0x01);
    for (i = 0; i < sizeof(more97) / sizeof(more97[0]); i++)
        roundtrip_fill(more97[i], DLT645_1997, 0x01);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_1r_forward_active_total),
        cmocka_unit_test(test_2r_voltage_a),
        cmocka_unit_test(test_3r_current_a_negative),
        cmocka_unit_test(test_4r_active_power_block),
        cmocka_unit_test(test_sign_bits),
        cmocka_unit_test(test_published_captures),
        cmocka_unit_test(test_tariff_block_0001ff00),
        cmocka_unit_test(test_max_demand_with_time),
        cmocka_unit_test(test_8r_9r_date_time),
        cmocka_unit_test(test_status_words_named),
        cmocka_unit_test(test_parameters),
        cmocka_unit_test(test_frequency_and_neutral),
        cmocka_unit_test(test_block_ff_is_na),
        cmocka_unit_test(test_daily_freeze),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_1997),
        cmocka_unit_test(test_describe_and_errors),
        cmocka_unit_test(test_load_record_all_classes),
        cmocka_unit_test(test_load_record_classes_1_to_4),
        cmocka_unit_test(test_load_record_single_phase_ff),
        cmocka_unit_test(test_load_record_invalid_and_bad),
        cmocka_unit_test(test_curve_with_ff_points),
        cmocka_unit_test(test_roundtrip_every_entry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
