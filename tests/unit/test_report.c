/*
 * test_report — the report's day ranges (the /report?day= parameter comes
 * from any HTTP client) and a render of the shipped example site over an
 * empty store: every chart and table present, every table with 0 rows,
 * nothing called missing when nothing is due yet. And the events the page
 * lists are the ones the events codec (pipe_ev) reads: a DAILY body it
 * refuses is not a district day, a district flag's copy is not one either.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ah_err.h"
#include "config.h"
#include "pipe_ev.h"
#include "report.h"
#include "store.h"
#include "vee_district.h"

static void test_parse_days(void **state)
{
    (void)state;
    int64_t a, b;
    assert_int_equal(report_parse_days("2025-03-14", &a, &b), AH_OK);
    assert_int_equal(a, 20161); /* days since 1970-01-01 */
    assert_int_equal(b, a);
    assert_int_equal(report_parse_days("2025-03-14..2025-03-15", &a, &b), AH_OK);
    assert_int_equal(b, a + 1);
    assert_int_equal(report_parse_days("2025-02-28..2025-03-30", &a, &b), AH_OK);
    assert_int_equal(b - a + 1, 31);
    assert_int_equal(report_parse_days("2025-02-28..2025-03-31", &a, &b), AH_ERANGE);
    static const char *const bad[] = {"",
                                      "2025-3-14",
                                      "2025-03-15..2025-03-14",
                                      "2025-03-14..",
                                      "..2025-03-14",
                                      "2025-02-30",
                                      "2025-03-14x",
                                      "2025-03-14..2025-03-14..x",
                                      "9999999999-01-01"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_not_equal(report_parse_days(bad[i], &a, &b), AH_OK);
    assert_int_not_equal(report_parse_days(NULL, &a, &b), AH_OK);
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* The shipped example site over a new, empty store. */
struct fx {
    struct cfg *c;
    store_t *st;
    char dir[32];
};

static int setup(void **state)
{
    struct fx *x = calloc(1, sizeof *x);
    struct cfg_diag *d = malloc(sizeof *d);
    assert_non_null(x);
    assert_non_null(d);
    cfg_diag_init(d);
    assert_int_equal(cfg_load(AH_VECTORS_DIR "/../../examples/amihead.yaml", &x->c, d),
                     AH_OK);
    free(d);
    snprintf(x->dir, sizeof x->dir, "/tmp/test_report.XXXXXX");
    assert_non_null(mkdtemp(x->dir));
    struct store_opts so = {0};
    assert_int_equal(store_open(x->dir, &so, &x->st), AH_OK);
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    struct fx *x = *state;
    store_close(&x->st);
    cfg_destroy(&x->c);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", x->dir);
    int rc = system(cmd);
    free(x);
    return rc;
}

static void test_render_empty_store(void **state)
{
    struct fx *x = *state;
    struct cfg *c = x->c;
    store_t *st = x->st;
    struct ah_buf b;
    ah_buf_init(&b, REPORT_MAX_BYTES);
    assert_int_equal(report_render(c, st, 20161, 20162, &b), AH_OK);
    assert_int_equal(ah_buf_append(&b, "", 1), AH_OK);
    const char *h = (const char *)b.data;
    assert_int_equal(count(h, "<svg class=\"chart\""), 6);
    assert_int_equal(count(h, "id=\"table-"), 8);
    assert_int_equal(count(h, "data-rows=\"0\""), 7); /* all but the summary */
    assert_int_equal(count(h, "data-series=\"3\""),
                     2); /* 3 districts: collection, loss */
    assert_int_equal(count(h, "class=\"bar missing\""), 0); /* nothing is due yet */
    assert_null(strstr(h, "<script"));
    assert_non_null(strstr(h, "amihead-sub07"));
    /* a range beyond the limit is refused, not rendered */
    assert_int_equal(report_render(c, st, 20161, 20161 + REPORT_MAX_DAYS, &b), AH_EINVAL);
    ah_buf_free(&b);
}

static void put_ev(store_t *st, uint64_t t, uint16_t type, const char *body)
{
    assert_int_equal(store_batch_put_event(st, t, 0, type, body, strlen(body)), AH_OK);
}

/* Events built by the codec plus bodies it refuses, then rendered. */
static void test_render_events(void **state)
{
    struct fx *x = *state;
    store_t *st = x->st;
    const int64_t day = 20161, t0 = day * 86400 + 43200;
    const struct pipe_ev_mover mv[] = {{"TQ0701-C01", 1234, 1000, 234}};
    struct pipe_ev_day dd = {.district = "TQ-0701",
                             .day = (int32_t)day,
                             .complete = true,
                             .expected = 96,
                             .collected = 96,
                             .district_energy = 10000,
                             .customers_energy = 9000,
                             .loss_valid = true,
                             .supply = 10000,
                             .sales = 9000,
                             .loss_pct = 10.0,
                             .flags = VEE_DIST_INCOMPLETE | VEE_DIST_LINE_LOSS,
                             .movers = mv,
                             .nmovers = 1};
    const struct pipe_ev_rule ru = {true, "TQ0701-C01", "TQ-0701", t0 - 900, t0, 5,
                                    3,    {1, 2, 3},    0};
    const struct pipe_ev_gap ga = {"TQ0701-C02", "TQ-0701", t0 - 1800, t0 - 900, 2};
    char *b[4];
    assert_int_equal(pipe_ev_build_day(PIPE_EV_DAILY, &dd, &b[0]), AH_OK);
    assert_int_equal(pipe_ev_build_day(PIPE_EV_LINE_LOSS, &dd, &b[1]), AH_OK);
    assert_int_equal(pipe_ev_build_rule(0, &ru, &b[2]), AH_OK);
    assert_int_equal(pipe_ev_build_gap(&ga, &b[3]), AH_OK);
    store_batch_begin(st);
    put_ev(st, (uint64_t)t0, PIPE_EV_DAILY, b[0]);
    put_ev(st, (uint64_t)t0 + 1, PIPE_EV_LINE_LOSS, b[1]);
    put_ev(st, (uint64_t)t0, 0, b[2]);
    put_ev(st, (uint64_t)t0, PIPE_EV_GAP, b[3]);
    /* refused by the codec: no "complete", a district that is a number, a
     * "state" in a release; each used to be listed by its string keys */
    put_ev(st, (uint64_t)t0 + 2, PIPE_EV_DAILY,
           "{\"type\":\"DAILY\",\"district\":\"TQ-0701\",\"day\":\"2025-03-14\","
           "\"day_number\":20161,\"loss_pct\":1.0}");
    put_ev(st, (uint64_t)t0 + 3, PIPE_EV_DAILY,
           "{\"type\":\"DAILY\",\"district\":7,\"day\":\"2025-03-14\","
           "\"day_number\":20161,\"complete\":true}");
    put_ev(st, (uint64_t)t0 + 4, PIPE_EV_RELEASE,
           "{\"type\":\"RELEASE\",\"state\":\"start\"}");
    assert_int_equal(store_batch_commit(st, false), AH_OK);
    for (int i = 0; i < 4; i++)
        free(b[i]);
    struct ah_buf buf;
    ah_buf_init(&buf, REPORT_MAX_BYTES);
    assert_int_equal(report_render(x->c, st, day, day, &buf), AH_OK);
    assert_int_equal(ah_buf_append(&buf, "", 1), AH_OK);
    const char *h = (const char *)buf.data;
    assert_non_null(strstr(h, "district days</th><td>1 / 1</td>"));
    assert_non_null(strstr(h, "id=\"table-lineloss\" data-rows=\"1\""));
    assert_non_null(strstr(h, "id=\"table-swing\" data-rows=\"1\""));
    assert_non_null(strstr(h, "id=\"table-anomalies\" data-rows=\"1\""));
    assert_non_null(strstr(h, "id=\"table-gap-events\" data-rows=\"1\""));
    assert_non_null(strstr(h, "LINE_LOSS, INCOMPLETE"));
    assert_non_null(strstr(h, "2025-03-14T12:00:00")); /* the rule's "at" */
    assert_non_null(strstr(h, "TQ0701-C02"));          /* the gap's meter */
    ah_buf_free(&buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_days),
        cmocka_unit_test_setup_teardown(test_render_empty_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_render_events, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
