/*
 * test_events — the events codec (pipe_ev) byte for byte: each kind of
 * event body as docs/operations.md "Events" lists it, built from its
 * struct, parsed back to the same struct; bodies of older versions still
 * read; bodies that are no event of their type refused, never half read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ah_err.h"
#include "pipe_ev.h"
#include "vee.h"
#include "vee_district.h"

/* 2025-03-14T08:15:00Z */
#define T0 1741940100

static struct pipe_ev parse_ok(uint16_t type, const char *body)
{
    struct pipe_ev ev;
    assert_int_equal(pipe_ev_parse(type, (const uint8_t *)body, strlen(body), &ev),
                     AH_OK);
    return ev;
}

static void assert_refused(uint16_t type, const char *body)
{
    struct pipe_ev ev;
    if (pipe_ev_parse(type, (const uint8_t *)body, strlen(body), &ev) != AH_EINVAL)
        fail_msg("accepted as type 0x%x: %s", type, body);
    assert_null(ev.doc_);
    assert_null(ev.arr_);
}

static void test_rule_episode(void **state)
{
    (void)state;
    const struct pipe_ev_rule r = {
        true,      "000000000001",        "d1", T0 - 4 * 900, T0, 0, 4,
        {1, 2, 3}, VEE_F(VEE_BIT_STOPPED)};
    char *body = NULL;
    assert_int_equal(pipe_ev_build_rule(VEE_BIT_STOPPED, &r, &body), AH_OK);
    assert_string_equal(body, "{\"at\":\"2025-03-14T08:15:00Z\",\"aux\":[1,2,3],"
                              "\"district\":\"d1\",\"meter\":\"000000000001\","
                              "\"quality\":1,\"since\":\"2025-03-14T07:15:00Z\","
                              "\"state\":\"start\",\"threshold\":4,\"type\":\"STOPPED\","
                              "\"value\":0}");
    struct pipe_ev ev = parse_ok(VEE_BIT_STOPPED, body);
    assert_int_equal(ev.kind, PIPE_EVK_RULE);
    assert_string_equal(ev.name, "STOPPED");
    assert_true(ev.u.rule.started);
    assert_string_equal(ev.u.rule.meter, "000000000001");
    assert_string_equal(ev.u.rule.district, "d1");
    assert_int_equal(ev.u.rule.since, T0 - 3600);
    assert_int_equal(ev.u.rule.at, T0);
    assert_int_equal(ev.u.rule.threshold, 4);
    assert_int_equal(ev.u.rule.aux[2], 3);
    assert_int_equal(ev.u.rule.quality, 1);
    pipe_ev_free(&ev);
    free(body);
    /* cleared; a type beyond the rules is no rule */
    const struct pipe_ev_rule c = {
        .started = false, .meter = "m", .district = "d", .since = T0, .at = T0};
    assert_int_equal(pipe_ev_build_rule(VEE_BIT_REVERSED, &c, &body), AH_OK);
    ev = parse_ok(VEE_BIT_REVERSED, body);
    assert_false(ev.u.rule.started);
    assert_string_equal(ev.name, "REVERSED");
    pipe_ev_free(&ev);
    free(body);
    assert_int_equal(pipe_ev_build_rule(VEE_NRULES, &c, &body), AH_EINVAL);
}

static void test_gap_release_link(void **state)
{
    (void)state;
    char *body = NULL;
    const struct pipe_ev_gap g = {"000000000002", "d1", T0, T0 + 2 * 900, 3};
    assert_int_equal(pipe_ev_build_gap(&g, &body), AH_OK);
    assert_string_equal(body, "{\"district\":\"d1\",\"first\":\"2025-03-14T08:15:00Z\","
                              "\"intervals\":3,\"last\":\"2025-03-14T08:45:00Z\","
                              "\"meter\":\"000000000002\",\"type\":\"GAP\"}");
    struct pipe_ev ev = parse_ok(PIPE_EV_GAP, body);
    assert_int_equal(ev.kind, PIPE_EVK_GAP);
    assert_int_equal(ev.u.gap.last, T0 + 1800);
    assert_int_equal(ev.u.gap.intervals, 3);
    pipe_ev_free(&ev);
    free(body);

    const struct pipe_ev_release r = {"000000000002", "meter exchanged", "ops1",    T0,
                                      T0 + 900,       T0 + 3600,         T0 + 3605, 2};
    assert_int_equal(pipe_ev_build_release(&r, &body), AH_OK);
    assert_string_equal(body,
                        "{\"applied\":\"2025-03-14T09:15:05Z\","
                        "\"from\":\"2025-03-14T08:15:00Z\",\"meter\":\"000000000002\","
                        "\"operator\":\"ops1\",\"reason\":\"meter exchanged\","
                        "\"released\":2,\"requested\":\"2025-03-14T09:15:00Z\","
                        "\"to\":\"2025-03-14T08:30:00Z\",\"type\":\"RELEASE\"}");
    ev = parse_ok(PIPE_EV_RELEASE, body);
    assert_string_equal(ev.u.release.op, "ops1");
    assert_string_equal(ev.u.release.reason, "meter exchanged");
    assert_int_equal(ev.u.release.applied, T0 + 3605);
    assert_int_equal(ev.u.release.released, 2);
    pipe_ev_free(&ev);
    free(body);

    const struct pipe_ev_link l = {"conc-7", "10.0.0.7:8899", T0 - 1000, T0};
    assert_int_equal(pipe_ev_build_link(false, &l, &body), AH_OK);
    assert_string_equal(body, "{\"at\":\"2025-03-14T08:15:00Z\",\"down_s\":1000,"
                              "\"endpoint\":\"10.0.0.7:8899\",\"link\":\"conc-7\","
                              "\"since\":\"2025-03-14T07:58:20Z\",\"state\":\"start\","
                              "\"type\":\"LINK_DOWN\"}");
    ev = parse_ok(PIPE_EV_LINK_DOWN, body);
    assert_int_equal(ev.kind, PIPE_EVK_LINK);
    assert_string_equal(ev.u.link.endpoint, "10.0.0.7:8899");
    assert_int_equal(ev.u.link.since, T0 - 1000);
    pipe_ev_free(&ev);
    free(body);
    assert_int_equal(pipe_ev_build_link(true, &l, &body), AH_OK);
    assert_non_null(strstr(body, "\"state\":\"cleared\",\"type\":\"LINK_UP\""));
    free(body);
}

static void test_district_day(void **state)
{
    (void)state;
    const struct pipe_ev_unknown unk[] = {{"000000000009", "no day-boundary register"}};
    const struct pipe_ev_mover mv[] = {{"000000000003", 1500, 500, 1000}};
    const struct pipe_ev_day d = {.district = "d1",
                                  .day = 20161, /* 2025-03-14 */
                                  .complete = false,
                                  .expected = 192,
                                  .collected = 190,
                                  .district_energy = 10000,
                                  .district_reverse = 0,
                                  .customers_energy = 9000,
                                  .customers_export = 0,
                                  .loss_valid = true,
                                  .supply = 10000,
                                  .sales = 9000,
                                  .loss_pct = 10.0,
                                  .flags = VEE_DIST_LINE_LOSS | VEE_DIST_LINE_LOSS_SWING,
                                  .swing_day_pct = 7.5,
                                  .swing_month_pct = 8.0,
                                  .unknown = unk,
                                  .nunknown = 1,
                                  .movers = mv,
                                  .nmovers = 1};
    char *body = NULL;
    assert_int_equal(pipe_ev_build_day(PIPE_EV_DAILY, &d, &body), AH_OK);
    assert_string_equal(
        body, "{\"collected\":190,\"complete\":false,\"customers\":[{\"change\":1000,"
              "\"energy\":1500,\"meter\":\"000000000003\",\"previous\":500}],"
              "\"customers_energy\":9000,\"customers_export\":0,\"day\":\"2025-03-14\","
              "\"day_number\":20161,\"district\":\"d1\",\"district_energy\":10000,"
              "\"district_reverse\":0,\"expected\":192,\"flags\":[\"LINE_LOSS\","
              "\"LINE_LOSS_SWING\"],\"loss_pct\":10.0,\"sales\":9000,\"supply\":10000,"
              "\"swing_day_pct\":7.5,\"swing_month_pct\":8.0,\"type\":\"DAILY\","
              "\"unknown\":[{\"meter\":\"000000000009\",\"reason\":\"no day-boundary "
              "register\"}]}");
    struct pipe_ev ev = parse_ok(PIPE_EV_DAILY, body);
    const struct pipe_ev_day *e = &ev.u.day;
    assert_int_equal(ev.kind, PIPE_EVK_DAY);
    assert_string_equal(ev.date, "2025-03-14");
    assert_int_equal(e->day, 20161);
    assert_true(e->loss_valid);
    assert_true(e->loss_pct == 10.0);
    assert_int_equal(e->flags, VEE_DIST_LINE_LOSS | VEE_DIST_LINE_LOSS_SWING);
    assert_true(e->swing_day_pct == 7.5);
    assert_int_equal(e->nmovers, 1);
    assert_int_equal(e->movers[0].change, 1000);
    assert_int_equal(e->nunknown, 1);
    assert_string_equal(e->unknown[0].reason, "no day-boundary register");
    /* build(parse(body)) is body: one event, one byte form */
    char *again = NULL;
    assert_int_equal(pipe_ev_build_day(PIPE_EV_DAILY, e, &again), AH_OK);
    assert_string_equal(again, body);
    free(again);
    pipe_ev_free(&ev);
    free(body);
    /* a flag's copy says its flag as the type */
    assert_int_equal(pipe_ev_day_flag_type(VEE_DIST_LINE_LOSS_SWING), PIPE_EV_LOSS_SWING);
    assert_int_equal(pipe_ev_build_day(PIPE_EV_LOSS_SWING, &d, &body), AH_OK);
    assert_non_null(strstr(body, "\"type\":\"LINE_LOSS_SWING\""));
    free(body);
    assert_int_equal(pipe_ev_build_day(PIPE_EV_GAP, &d, &body), AH_EINVAL);
}

/* What earlier versions stored still reads: a GAP without its district, a
 * DAILY without the lists and totals added later, a rule without aux. */
static void test_older_bodies(void **state)
{
    (void)state;
    struct pipe_ev ev =
        parse_ok(PIPE_EV_GAP,
                 "{\"first\":\"2025-03-14T08:15:00Z\",\"intervals\":1,"
                 "\"last\":\"2025-03-14T08:15:00Z\",\"meter\":\"m\",\"type\":\"GAP\"}");
    assert_string_equal(ev.u.gap.district, "");
    pipe_ev_free(&ev);
    ev = parse_ok(PIPE_EV_DAILY, "{\"type\":\"DAILY\",\"district\":\"d1\",\"day\":"
                                 "\"2025-03-14\",\"day_number\":20161,\"complete\":true,"
                                 "\"loss_pct\":2.5,\"supply\":100,\"sales\":97}");
    assert_true(ev.u.day.complete && ev.u.day.loss_valid);
    assert_int_equal(ev.u.day.nunknown, 0);
    assert_int_equal(ev.u.day.customers_export, 0);
    pipe_ev_free(&ev);
    ev = parse_ok(VEE_BIT_JUMPING,
                  "{\"type\":\"JUMPING\",\"state\":\"cleared\",\"meter\":\"m\","
                  "\"district\":\"d\",\"since\":\"2025-03-14T08:15:00Z\","
                  "\"at\":\"2025-03-14T08:30:00Z\",\"value\":1,\"threshold\":2}");
    assert_int_equal(ev.u.rule.aux[0], 0);
    pipe_ev_free(&ev);
}

static void test_bad_bodies_refused(void **state)
{
    (void)state;
    assert_refused(PIPE_EV_GAP, "");
    assert_refused(PIPE_EV_GAP, "not json");
    assert_refused(PIPE_EV_GAP, "[1,2]");
    assert_refused(PIPE_EV_GAP, "{\"type\":\"GAP\"}");
    /* a time that is no time, a count that is no count */
    assert_refused(PIPE_EV_GAP,
                   "{\"first\":\"yesterday\",\"intervals\":1,\"last\":"
                   "\"2025-03-14T08:15:00Z\",\"meter\":\"m\",\"type\":\"GAP\"}");
    assert_refused(PIPE_EV_GAP, "{\"first\":\"2025-03-14T08:15:00Z\",\"intervals\":-1,"
                                "\"last\":\"2025-03-14T08:15:00Z\",\"meter\":\"m\","
                                "\"type\":\"GAP\"}");
    /* a type no event has; the same key twice */
    assert_refused(0x1ff, "{\"type\":\"X\"}");
    assert_refused(PIPE_EV_LINK_UP, "{\"at\":\"2025-03-14T08:15:00Z\",\"endpoint\":\"e\","
                                    "\"link\":\"l\",\"link\":\"k\",\"since\":"
                                    "\"2025-03-14T08:15:00Z\",\"type\":\"LINK_UP\"}");
    /* a day whose lists are not lists, a rule state that is neither */
    assert_refused(PIPE_EV_DAILY, "{\"type\":\"DAILY\",\"district\":\"d1\",\"day\":"
                                  "\"2025-03-14\",\"day_number\":20161,\"complete\":true,"
                                  "\"unknown\":{}}");
    assert_refused(VEE_BIT_STOPPED,
                   "{\"type\":\"STOPPED\",\"state\":\"maybe\",\"meter\":"
                   "\"m\",\"district\":\"d\",\"since\":"
                   "\"2025-03-14T08:15:00Z\",\"at\":"
                   "\"2025-03-14T08:30:00Z\",\"value\":1,\"threshold\":2}");
    /* a time the body cannot carry is not built */
    char *body = NULL;
    const struct pipe_ev_gap g = {"m", "d", -1, T0, 1};
    assert_int_equal(pipe_ev_build_gap(&g, &body), AH_EINVAL);
    assert_null(body);
    const struct pipe_ev_gap g2 = {"m", "d", T0, PIPE_EV_TIME_MAX + 1, 1};
    assert_int_equal(pipe_ev_build_gap(&g2, &body), AH_EINVAL);
    assert_null(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule_episode),
        cmocka_unit_test(test_gap_release_link),
        cmocka_unit_test(test_district_day),
        cmocka_unit_test(test_older_bodies),
        cmocka_unit_test(test_bad_bodies_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
