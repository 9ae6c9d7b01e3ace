/*
 * test_wire — topics and bodies byte for byte (docs/wire-format.md
 * examples), exact decimals, segment checks, the outbox record, and the
 * replay request grammar with its range checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ah_err.h"
#include "wire.h"

/* 2023-11-14 16:15:00 UTC = 2023-11-15 00:15 in UTC+8. */
#define END 1699978500ull

static const struct wire_head head = {"hx-sz-01", 42, 1699978503123ll};

static void test_read_topic_and_body(void **state)
{
    (void)state;
    struct ah_read r = {.end = END,
                        .source = AH_READ_LIVE,
                        .present = AH_READ_HAS_IMP_TOTAL | AH_READ_HAS_VOLTAGE(0) |
                                   AH_READ_HAS_VOLTAGE(2) | AH_READ_HAS_PF(0),
                        .ct = 50,
                        .pt = 1,
                        .imp_total = 1234567,
                        .voltage = {2201, 0, 2199},
                        .pf = {-985}};
    struct wire_read w = {"000012345678", "D01", &r};
    char topic[WIRE_TOPIC_MAX + 1], body[WIRE_BODY_MAX + 1];
    size_t tl, bl;
    assert_int_equal(
        wire_encode_read(&head, &w, topic, sizeof topic, &tl, body, sizeof body, &bl),
        AH_OK);
    assert_string_equal(topic, "read/D01/000012345678");
    assert_int_equal(tl, strlen(topic));
    body[bl] = '\0';
    assert_string_equal(
        body, "{\"v\":1,\"type\":\"read\",\"headend\":\"hx-sz-01\",\"seq\":42,"
              "\"published\":\"2023-11-14T16:15:03.123Z\",\"meter\":"
              "\"000012345678\",\"district\":\"D01\",\"end\":"
              "\"2023-11-14T16:15:00Z\",\"source\":\"live\",\"quality\":0,"
              "\"ct\":50,\"pt\":1,\"import_kwh\":12345.67,"
              "\"voltage_v\":[220.1,null,219.9],\"pf\":[-0.985,null,null,null]}");
    assert_int_equal(wire_body_seq(body, bl), 42); /* what a subscriber reads */
    /* anything not opening as the head-end writes: 0, the caller parses */
    static const char *const other[] = {
        "{\"v\":1,\"type\":\"read\",\"headend\":\"h\",\"seq\":042,",
        "{\"v\":1,\"type\":\"read\",\"headend\":\"h\",\"seq\":42",
        "{\"v\":1,\"type\":\"re\\\"ad\",\"headend\":\"h\",\"seq\":42,",
        "{\"seq\":42,\"v\":1}",
        "{\"v\":1,\"type\":\"read\",\"headend\":\"h\",\"seq\":-1,"};
    for (size_t i = 0; i < sizeof other / sizeof *other; i++)
        assert_int_equal(wire_body_seq(other[i], strlen(other[i])), 0);
    /* Every byte short of the full body is an overflow, never a truncation. */
    assert_int_equal(
        wire_encode_read(&head, &w, topic, sizeof topic, &tl, body, bl - 1, &bl),
        AH_EOVERFLOW);
    assert_int_equal(wire_encode_read(&head, &w, topic, 5, &tl, body, sizeof body, &bl),
                     AH_EOVERFLOW);
}

static void test_bad_segments_and_fields_are_refused(void **state)
{
    (void)state;
    struct ah_read r = {.end = END, .source = AH_READ_LIVE, .ct = 1, .pt = 1};
    char topic[WIRE_TOPIC_MAX + 1], body[WIRE_BODY_MAX];
    size_t tl, bl;
    const char *bad[] = {
        "",     "D/01",
        "D 01", "D\"01",
        "区01", "0123456789012345678901234567890123456789012345678901234567890123X"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct wire_read w = {"000012345678", bad[i], &r};
        assert_int_equal(
            wire_encode_read(&head, &w, topic, sizeof topic, &tl, body, sizeof body, &bl),
            AH_EINVAL);
    }
    struct wire_head h0 = head;
    h0.seq = 0;
    struct wire_read w = {"000012345678", "D01", &r};
    assert_int_equal(
        wire_encode_read(&h0, &w, topic, sizeof topic, &tl, body, sizeof body, &bl),
        AH_EINVAL);
    r.source = 7;
    assert_int_equal(
        wire_encode_read(&head, &w, topic, sizeof topic, &tl, body, sizeof body, &bl),
        AH_EINVAL);
}

static void test_anomaly_gap_daily(void **state)
{
    (void)state;
    char topic[WIRE_TOPIC_MAX + 1], body[WIRE_BODY_MAX + 1];
    size_t tl, bl;
    struct wire_item ev[] = {{"delta_kwh", 0, 2}, {"current_a", -1523, 3}};
    struct wire_anomaly a = {
        "000012345679", "D01", "STOPPED", WIRE_EP_START, END, 1, ev, 2};
    assert_int_equal(
        wire_encode_anomaly(&head, &a, topic, sizeof topic, &tl, body, sizeof body, &bl),
        AH_OK);
    body[bl] = '\0';
    assert_string_equal(topic, "anomaly/STOPPED/000012345679");
    assert_non_null(strstr(body, "\"state\":\"start\",\"at\":\"2023-11-14T16:15:00Z\","
                                 "\"quality\":1,\"evidence\":{\"delta_kwh\":0.00,"
                                 "\"current_a\":-1.523}}"));

    struct wire_gap g = {"000012345680", "D02", END, END + 2 * 900, 900, "no-answer"};
    assert_int_equal(
        wire_encode_gap(&head, &g, topic, sizeof topic, &tl, body, sizeof body, &bl),
        AH_OK);
    body[bl] = '\0';
    assert_string_equal(topic, "gap/000012345680");
    assert_non_null(
        strstr(body, "\"step_s\":900,\"intervals\":3,\"reason\":\"no-answer\"}"));
    g.last = END + 100; /* not on the interval grid */
    assert_int_equal(
        wire_encode_gap(&head, &g, topic, sizeof topic, &tl, body, sizeof body, &bl),
        AH_EINVAL);

    /* 17279 of 17280 intervals: 99.99 %, incomplete, no loss rate. */
    const char *flags[] = {"INCOMPLETE"};
    struct wire_daily d = {"D01", 2024,    2,       29,  false, 17280,
                           17279, 1250000, 1190000, 480, flags, 1};
    assert_int_equal(
        wire_encode_daily(&head, &d, topic, sizeof topic, &tl, body, sizeof body, &bl),
        AH_OK);
    body[bl] = '\0';
    assert_string_equal(topic, "daily/D01");
    assert_non_null(strstr(body, "\"day\":\"2024-02-29\",\"complete\":false"));
    assert_non_null(strstr(body, "\"completeness_pct\":99.99,"));
    assert_non_null(strstr(body, "\"loss_rate_pct\":null,\"flags\":[\"INCOMPLETE\"]}"));
    d.year = 2023; /* 2023-02-29 does not exist */
    assert_int_equal(
        wire_encode_daily(&head, &d, topic, sizeof topic, &tl, body, sizeof body, &bl),
        AH_EINVAL);
    d.year = 2024;
    d.complete = true; /* complete with a missing interval is a contradiction */
    assert_int_equal(
        wire_encode_daily(&head, &d, topic, sizeof topic, &tl, body, sizeof body, &bl),
        AH_EINVAL);
}

static void test_outbox_record_round_trip(void **state)
{
    (void)state;
    uint8_t rec[WIRE_OUTBOX_MAX];
    int n = wire_outbox_encode(1699978503123ll, "gap/000012345680", 16, "{}", 2, rec,
                               sizeof rec);
    assert_int_equal(n, WIRE_OUTBOX_HDR + 18);
    struct wire_outbox_view v;
    assert_int_equal(wire_outbox_decode(rec, (size_t)n, &v), AH_OK);
    assert_int_equal(v.published_ms, 1699978503123ll);
    assert_int_equal(v.topic_len, 16);
    assert_memory_equal(v.topic, "gap/000012345680", 16);
    assert_int_equal(v.body_len, 2);
    assert_int_equal(wire_outbox_decode(rec, WIRE_OUTBOX_HDR + 15, &v), AH_EFRAME);
    rec[0] = 2;
    assert_int_equal(wire_outbox_decode(rec, (size_t)n, &v), AH_ENOTSUP);
}

static void test_replay_request_grammar(void **state)
{
    (void)state;
    struct wire_replay_req r;
#define P(s) wire_replay_parse((const uint8_t *)(s), sizeof(s) - 1, &r)
    assert_int_equal(P("replay 1 1000"), AH_OK);
    assert_int_equal(r.op, WIRE_REPLAY_RANGE);
    assert_int_equal(r.first, 1);
    assert_int_equal(r.last, 1000);
    assert_int_equal(P("info"), AH_OK);
    assert_int_equal(r.op, WIRE_REPLAY_INFO);
    assert_int_equal(P("replay 18446744073709551615 18446744073709551615"), AH_OK);
    assert_int_equal(P("replay 1 18446744073709551615"), AH_OK);
    assert_int_equal(r.last, UINT64_MAX);
    assert_int_equal(P("replay 1 18446744073709551616"), AH_EFRAME);
    const char *bad[] = {"",
                         "replay",
                         "replay ",
                         "replay 1",
                         "replay 1 ",
                         "replay  1 2",
                         "replay 1  2",
                         "replay +1 2",
                         "replay 1 2 ",
                         "REPLAY 1 2",
                         "info ",
                         "replay 0x1 2",
                         "replay 1 2\n",
                         "replay 05 5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(wire_replay_parse((const uint8_t *)bad[i], strlen(bad[i]), &r),
                         AH_EFRAME);
#undef P
}

static void test_replay_range_checks(void **state)
{
    (void)state;
    /* outbox holds 101..500, next to publish 501 */
    struct wire_replay_req r = {WIRE_REPLAY_RANGE, 101, 500};
    assert_int_equal(wire_replay_check(&r, 101, 501), WIRE_REPLAY_OK);
    r.first = 100;
    assert_int_equal(wire_replay_check(&r, 101, 501), WIRE_REPLAY_EXPIRED);
    r = (struct wire_replay_req){WIRE_REPLAY_RANGE, 400, 501};
    assert_int_equal(wire_replay_check(&r, 101, 501), WIRE_REPLAY_NOT_YET);
    r = (struct wire_replay_req){WIRE_REPLAY_RANGE, 5, 4};
    assert_int_equal(wire_replay_check(&r, 1, 501), WIRE_REPLAY_INVALID);
    r = (struct wire_replay_req){WIRE_REPLAY_RANGE, 1, UINT64_MAX};
    assert_int_equal(wire_replay_check(&r, 1, 501), WIRE_REPLAY_TOO_LARGE);
    r = (struct wire_replay_req){WIRE_REPLAY_RANGE, 1, WIRE_REPLAY_MAX_COUNT};
    assert_int_equal(wire_replay_check(&r, 1, 2000), WIRE_REPLAY_OK);

    char h[WIRE_REPLY_HDR_MAX + 1];
    int n = wire_replay_header(WIRE_REPLAY_EXPIRED, 0, 0, 0, 101, 501, h, sizeof h);
    assert_true(n > 0);
    h[n] = '\0';
    assert_non_null(
        strstr(h, "{\"v\":1,\"type\":\"replay\",\"status\":\"expired\",\"error\":"));
    assert_non_null(strstr(h, ",\"oldest\":101,\"next\":501}"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_topic_and_body),
        cmocka_unit_test(test_bad_segments_and_fields_are_refused),
        cmocka_unit_test(test_anomaly_gap_daily),
        cmocka_unit_test(test_outbox_record_round_trip),
        cmocka_unit_test(test_replay_request_grammar),
        cmocka_unit_test(test_replay_range_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
