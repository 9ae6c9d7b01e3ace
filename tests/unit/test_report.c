/*
 * test_report — the report's day ranges (the /report?day= parameter comes
 * from any HTTP client) and a render of the shipped example site over an
 * empty store: every chart and table present, every table with 0 rows,
 * nothing called missing when nothing is due yet.
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
#include "report.h"
#include "store.h"

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

static void test_render_empty_store(void **state)
{
    (void)state;
    struct cfg *c = NULL;
    struct cfg_diag *d = malloc(sizeof *d);
    cfg_diag_init(d);
    assert_int_equal(cfg_load(AH_VECTORS_DIR "/../../examples/amihead.yaml", &c, d),
                     AH_OK);
    free(d);
    char dir[] = "/tmp/test_report.XXXXXX";
    assert_non_null(mkdtemp(dir));
    store_t *st = NULL;
    struct store_opts so = {0};
    assert_int_equal(store_open(dir, &so, &st), AH_OK);
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
    store_close(&st);
    cfg_destroy(&c);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_days),
        cmocka_unit_test(test_render_empty_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
