/*
 * test_jsb — the scale-out batch: the builder keeps bodies verbatim, in
 * order, gapless and bounded; the checker refuses every payload that does
 * not match its headers (wrong count, seq, head-end, not an array); the
 * Nats-Msg-Id and header numbers have one form.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ah_err.h"
#include "jsb.h"

#define B41 "{\"v\":1,\"type\":\"read\",\"headend\":\"hx\",\"seq\":41,\"meter\":\"m1\"}"
#define B42 "{\"v\":1,\"type\":\"anomaly\",\"headend\":\"hx\",\"seq\":42}"

static void test_builder_verbatim_in_order(void **state)
{
    (void)state;
    char buf[256];
    struct jsb b;
    jsb_init(&b, buf, sizeof buf);
    assert_int_equal(jsb_append(&b, 41, B41, strlen(B41)), AH_OK);
    assert_int_equal(jsb_append(&b, 43, B42, strlen(B42)), AH_EINVAL); /* a gap */
    assert_int_equal(jsb_append(&b, 41, B41, strlen(B41)), AH_EINVAL); /* again */
    assert_int_equal(jsb_append(&b, 42, B42, 0), AH_EINVAL);
    assert_int_equal(jsb_append(&b, 42, B42, strlen(B42)), AH_OK);
    size_t n = jsb_finish(&b);
    assert_int_equal(n, strlen("[" B41 "," B42 "]"));
    assert_memory_equal(buf, "[" B41 "," B42 "]", n);
    assert_int_equal(b.first, 41);
    assert_int_equal(b.last, 42);
    assert_int_equal(b.count, 2);
    struct jsb_counts c;
    char why[160];
    assert_int_equal(jsb_check(buf, n, "hx", 41, 42, &c, why, sizeof why), AH_OK);
    assert_int_equal(c.read, 1);
    assert_int_equal(c.anomaly, 1);
    jsb_reset(&b);
    assert_int_equal(b.count, 0);
    assert_int_equal(jsb_finish(&b), 0);
}

static void test_builder_bounded(void **state)
{
    (void)state;
    /* room for '[' + B41 + ']' exactly, not one byte for the second body */
    char buf[sizeof B41 + 1];
    struct jsb b;
    jsb_init(&b, buf, sizeof buf);
    assert_int_equal(jsb_append(&b, 41, B41, strlen(B41)), AH_OK);
    size_t before = b.len;
    assert_int_equal(jsb_append(&b, 42, B42, strlen(B42)), AH_EOVERFLOW);
    assert_int_equal(b.len, before); /* unchanged: publish it, start anew */
    assert_int_equal(b.count, 1);
    assert_int_equal(jsb_finish(&b), sizeof B41 + 1);
    char small[4];
    jsb_init(&b, small, sizeof small);
    assert_int_equal(jsb_append(&b, 1, B41, strlen(B41)), AH_EOVERFLOW);
}

static void test_msgid_and_numbers(void **state)
{
    (void)state;
    char id[JSB_MSGID_MAX];
    assert_int_equal(jsb_msgid(id, sizeof id, "hx-sz-01", 1, 256), AH_OK);
    assert_string_equal(id, "hx-sz-01:1-256");
    assert_int_equal(jsb_msgid(id, 8, "hx-sz-01", 1, 256), AH_EOVERFLOW);
    uint64_t v = 7;
    assert_int_equal(jsb_parse_u64("0", &v), AH_OK);
    assert_int_equal(v, 0);
    assert_int_equal(jsb_parse_u64("18446744073709551615", &v), AH_OK);
    assert_true(v == UINT64_MAX);
    const char *bad[] = {"", "01", "-1", "+1", "1 ", " 1", "18446744073709551616", "1x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(jsb_parse_u64(bad[i], &v), AH_EFRAME);
    assert_int_equal(jsb_parse_u64(NULL, &v), AH_EFRAME);
}

static void test_checker_refuses_mismatches(void **state)
{
    (void)state;
    char why[160];
    const char *ok = "[" B41 "," B42 "]";
    size_t n = strlen(ok);
    assert_int_equal(jsb_check(ok, n, "hx", 41, 42, NULL, why, sizeof why), AH_OK);
    /* headers that do not match the bodies */
    assert_int_equal(jsb_check(ok, n, "hy", 41, 42, NULL, why, sizeof why), AH_EFRAME);
    assert_int_equal(jsb_check(ok, n, "hx", 40, 41, NULL, why, sizeof why), AH_EFRAME);
    assert_int_equal(jsb_check(ok, n, "hx", 41, 43, NULL, why, sizeof why), AH_EFRAME);
    assert_int_equal(jsb_check(ok, n, "hx", 0, 1, NULL, why, sizeof why), AH_EFRAME);
    assert_int_equal(jsb_check(ok, n, "hx", 42, 41, NULL, why, sizeof why), AH_EFRAME);
    /* bodies out of order, truncated, not an array, no type */
    const char *swapped = "[" B42 "," B41 "]";
    assert_int_equal(
        jsb_check(swapped, strlen(swapped), "hx", 41, 42, NULL, why, sizeof why),
        AH_EFRAME);
    assert_int_equal(jsb_check(ok, n - 1, "hx", 41, 42, NULL, why, sizeof why),
                     AH_EFRAME);
    assert_int_equal(jsb_check(B41, strlen(B41), "hx", 41, 41, NULL, why, sizeof why),
                     AH_EFRAME);
    const char *notype = "[{\"headend\":\"hx\",\"seq\":1}]";
    assert_int_equal(jsb_check(notype, strlen(notype), "hx", 1, 1, NULL, why, sizeof why),
                     AH_EFRAME);
    const char *dupkey = "[{\"type\":\"read\",\"headend\":\"hx\",\"seq\":1,\"seq\":1}]";
    assert_int_equal(jsb_check(dupkey, strlen(dupkey), "hx", 1, 1, NULL, why, sizeof why),
                     AH_EFRAME);
    assert_non_null(strstr(why, "not a JSON array"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builder_verbatim_in_order),
        cmocka_unit_test(test_builder_bounded),
        cmocka_unit_test(test_msgid_and_numbers),
        cmocka_unit_test(test_checker_refuses_mismatches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
