/*
 * test_sess — the DL/T 645 transaction state machine, driven by the worked
 * frames of protocols.md §3 and a fake clock: no sockets, no sleeping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ah_err.h"
#include "sess.h"
#include "ut_hex.h"

static struct sess_req read_req(uint32_t di)
{
    struct sess_req r = {0};
    r.proto = DLT645_2007;
    r.func = DLT645_F_READ;
    r.di = di;
    r.timeout_ms = 1000;
    r.retries = 2;
    assert_int_equal(dlt645_addr_parse("123456789012", &r.addr), AH_OK);
    return r;
}

static void feed_hex(struct sess *s, const char *hex, int64_t now)
{
    uint8_t b[300];
    size_t n = ut_unhex(hex, b);
    sess_on_bytes(s, b, n, now);
}

/* §3.1 #1 / #1r: request bytes as in the reference, reply 012345.67 kWh. */
static void test_read_energy(void **state)
{
    (void)state;
    struct sess s = {0};
    struct sess_req r = read_req(0x00010000);
    assert_int_equal(sess_start(&s, &r), AH_OK);
    size_t n;
    const uint8_t *tx = sess_tx(&s, &n);
    uint8_t want[32];
    size_t wn =
        ut_unhex("FE FE FE FE 68 12 90 78 56 34 12 68 11 04 33 33 34 33 68 16", want);
    assert_int_equal(n, wn);
    assert_memory_equal(tx, want, wn);
    sess_sent(&s, 100);
    /* the reply arrives in two pieces, with a wake-up preamble */
    feed_hex(&s, "FE FE 68 12 90 78 56 34 12 68 91 08", 150);
    assert_int_equal(s.state, SESS_WAIT);
    feed_hex(&s, "33 33 34 33 9A 78 56 34 88 16", 160);
    assert_int_equal(s.state, SESS_DONE);
    assert_int_equal(s.result, AH_OK);
    assert_int_equal(s.rtt_ms, 60);
    const uint8_t *p = sess_payload(&s, &n);
    uint8_t val[4] = {0x67, 0x45, 0x23, 0x01};
    assert_int_equal(n, 4);
    assert_memory_equal(p, val, 4);
}

/* §3.1 #5r: ERR=02 is an answer — no retry. */
static void test_error_reply_no_retry(void **state)
{
    (void)state;
    struct sess s = {0};
    struct sess_req r = read_req(0x00010000);
    sess_start(&s, &r);
    sess_sent(&s, 0);
    feed_hex(&s, "68 12 90 78 56 34 12 68 D1 01 35 8D 16", 10);
    assert_int_equal(s.state, SESS_FAILED);
    assert_int_equal(s.result, AH_EMETER);
    assert_int_equal(s.err_word, 0x02);
    assert_int_equal(s.stats.retries, 0);
}

/* Silence: the configured retries, then a timeout. */
static void test_timeout_after_retries(void **state)
{
    (void)state;
    struct sess s = {0};
    struct sess_req r = read_req(0x00010000);
    sess_start(&s, &r);
    int64_t now = 0;
    int sends = 0;
    while (s.state == SESS_SEND || s.state == SESS_WAIT) {
        if (s.state == SESS_SEND) {
            sends++;
            sess_sent(&s, now);
        }
        now += 250;
        sess_on_tick(&s, now);
    }
    assert_int_equal(sends, 3);
    assert_int_equal(s.result, AH_ETIMEDOUT);
    assert_int_equal(s.stats.timeouts, 3);
    assert_int_equal(now, 3000);
}

/* A corrupted reply (bad CS) costs one attempt; the retry succeeds. */
static void test_bad_checksum_then_good(void **state)
{
    (void)state;
    struct sess s = {0};
    struct sess_req r = read_req(0x00010000);
    sess_start(&s, &r);
    sess_sent(&s, 0);
    feed_hex(&s, "68 12 90 78 56 34 12 68 91 08 33 33 34 33 9A 78 56 34 89 16", 10);
    assert_int_equal(s.state, SESS_WAIT);
    assert_int_equal(s.stats.bad_frames, 1);
    /* nothing good within one inter-byte gap: resend, well before timeout */
    sess_on_tick(&s, 10 + SESS_BAD_FRAME_GRACE_MS);
    assert_int_equal(s.state, SESS_SEND);
    assert_int_equal(s.stats.timeouts, 0);
    sess_sent(&s, 600);
    feed_hex(&s, "68 12 90 78 56 34 12 68 91 08 33 33 34 33 9A 78 56 34 88 16", 630);
    assert_int_equal(s.state, SESS_DONE);
    assert_int_equal(s.stats.retries, 1);
}

/* Frame-shaped junk with a bad CS, then the real reply in the same read. */
static void test_junk_then_reply(void **state)
{
    (void)state;
    struct sess s = {0};
    struct sess_req r = read_req(0x00010000);
    sess_start(&s, &r);
    sess_sent(&s, 0);
    feed_hex(&s,
             "00 68 01 02 03 04 05 06 68 91 00 00 16 "
             "68 12 90 78 56 34 12 68 91 08 33 33 34 33 9A 78 56 34 88 16",
             10);
    assert_int_equal(s.state, SESS_DONE);
    assert_int_equal(s.stats.retries, 0);
}

/* Another meter's reply on a shared line is ignored, not a failure. */
static void test_other_meter_ignored(void **state)
{
    (void)state;
    struct sess s = {0};
    struct sess_req r = read_req(0x00010000);
    sess_start(&s, &r);
    sess_sent(&s, 0);
    /* 360docs capture: meter 000000000161 answering 00010000 */
    feed_hex(&s, "68 61 01 00 00 00 00 68 91 08 33 33 34 33 59 33 33 33 8A 16", 5);
    assert_int_equal(s.state, SESS_WAIT);
    feed_hex(&s, "68 12 90 78 56 34 12 68 91 08 33 33 34 33 9A 78 56 34 88 16", 10);
    assert_int_equal(s.state, SESS_DONE);
}

/* A load-record read (06000001) sent at 0 whose B1H first chunk (A0 A0
 * 10, "more follows") arrived at 5: the session wants 12H SEQ 1 next. */
static struct sess_req lr_first_chunk(struct sess *s)
{
    struct sess_req r = read_req(0x06000001);
    sess_start(s, &r);
    sess_sent(s, 0);
    uint8_t frame[64];
    uint8_t c0[3] = {0xA0, 0xA0, 0x10};
    int n = dlt645_reply_read(frame, sizeof frame, 0, &r.addr, 0x06000001, true, c0, 3);
    assert_true(n > 0);
    sess_on_bytes(s, frame, (size_t)n, 5);
    assert_int_equal(s->state, SESS_SEND);
    return r;
}

/* §1.6: B1H first chunk, then 12H SEQ=1 (§3.1 #14 bytes), 92H last chunk. */
static void test_followup_reassembly(void **state)
{
    (void)state;
    struct sess s = {0};
    struct sess_req r = lr_first_chunk(&s);
    uint8_t frame[64];
    struct dlt645_addr a = r.addr;
    int n;
    size_t tn;
    const uint8_t *tx = sess_tx(&s, &tn);
    uint8_t want[32];
    size_t wn =
        ut_unhex("FE FE FE FE 68 12 90 78 56 34 12 68 12 05 34 33 33 39 34 A4 16", want);
    assert_int_equal(tn, wn);
    assert_memory_equal(tx, want, wn);
    sess_sent(&s, 10);
    /* 92H: DI + chunk + SEQ, each +33H (§1.6 step 3) */
    uint8_t d[9] = {0x01, 0x00, 0x00, 0x06, 0x11, 0x22, 0xE5, 0x01};
    n = dlt645_encode(frame, sizeof frame, 0, &a, 0x92, d, 8);
    sess_on_bytes(&s, frame, (size_t)n, 20);
    assert_int_equal(s.state, SESS_DONE);
    const uint8_t *p = sess_payload(&s, &tn);
    uint8_t all[6] = {0xA0, 0xA0, 0x10, 0x11, 0x22, 0xE5};
    assert_int_equal(tn, 6);
    assert_memory_equal(p, all, 6);
}

/* A 12H answered late: the timeout sent it again, the first answer came
 * after all and the next SEQ went out; then the meter's answer to the
 * repeated 12H arrives. It carries the old SEQ (§1.6): no chunk of this
 * read. Taken as the next chunk it doubled a piece of the records (a "bad
 * load record") and asked for a SEQ past the end, which the meter refuses
 * (ERR): it_run_fleet's "meter errors" on a loaded box. */
static void test_followup_late_duplicate(void **state)
{
    (void)state;
    struct sess s = {0};
    struct sess_req r = lr_first_chunk(&s); /* 12H SEQ 1 next */
    uint8_t frame[64];
    struct dlt645_addr a = r.addr;
    int n;
    sess_sent(&s, 10);
    sess_on_tick(&s, 10 + r.timeout_ms); /* no answer in time */
    assert_int_equal(s.state, SESS_SEND);
    sess_sent(&s, 10 + r.timeout_ms); /* SEQ 1 again */
    /* B2H: DI + chunk + SEQ 1, the answer to the first 12H, late */
    uint8_t d1[7] = {0x01, 0x00, 0x00, 0x06, 0x11, 0x22, 0x01};
    uint8_t f1[64];
    int n1 = dlt645_encode(f1, sizeof f1, 0, &a, 0xB2, d1, 7);
    sess_on_bytes(&s, f1, (size_t)n1, 1020);
    assert_int_equal(s.state, SESS_SEND); /* 12H SEQ 2 */
    assert_int_equal(s.reasm.next_seq, 2);
    sess_sent(&s, 1025);
    /* the answer to the repeated SEQ 1: not the answer to SEQ 2 */
    sess_on_bytes(&s, f1, (size_t)n1, 1030);
    assert_int_equal(s.state, SESS_WAIT);
    assert_int_equal(s.reasm.next_seq, 2);
    /* 92H: the last chunk, SEQ 2 */
    uint8_t d2[6] = {0x01, 0x00, 0x00, 0x06, 0xE5, 0x02};
    n = dlt645_encode(frame, sizeof frame, 0, &a, 0x92, d2, 6);
    sess_on_bytes(&s, frame, (size_t)n, 1040);
    assert_int_equal(s.state, SESS_DONE);
    assert_int_equal(s.result, AH_OK);
    size_t tn;
    const uint8_t *p = sess_payload(&s, &tn);
    uint8_t all[6] = {0xA0, 0xA0, 0x10, 0x11, 0x22, 0xE5};
    assert_int_equal(tn, 6);
    assert_memory_equal(p, all, 6);
}

/* 13H read address: the reply's DATA is the real address (§3.1 #6r). */
static void test_read_address(void **state)
{
    (void)state;
    struct sess s = {0};
    struct sess_req r = {0};
    r.func = DLT645_F_READ_ADDR;
    r.timeout_ms = 500;
    sess_start(&s, &r);
    size_t n;
    const uint8_t *tx = sess_tx(&s, &n);
    uint8_t want[32];
    size_t wn = ut_unhex("FE FE FE FE 68 AA AA AA AA AA AA 68 13 00 DF 16", want);
    assert_memory_equal(tx, want, wn);
    sess_sent(&s, 0);
    feed_hex(&s, "68 12 90 78 56 34 12 68 93 06 45 C3 AB 89 67 45 07 16", 1);
    assert_int_equal(s.state, SESS_DONE);
    char txt[13];
    dlt645_addr_format(&s.reply_addr, txt);
    assert_string_equal(txt, "123456789012");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_energy),
        cmocka_unit_test(test_error_reply_no_retry),
        cmocka_unit_test(test_timeout_after_retries),
        cmocka_unit_test(test_bad_checksum_then_good),
        cmocka_unit_test(test_junk_then_reply),
        cmocka_unit_test(test_other_meter_ignored),
        cmocka_unit_test(test_followup_reassembly),
        cmocka_unit_test(test_followup_late_duplicate),
        cmocka_unit_test(test_read_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
