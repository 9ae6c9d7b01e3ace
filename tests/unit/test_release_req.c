/*
 * test_release_req — the release request codec (pipe_rel): a request
 * built by `amihead release` parses back to the same fields, a file as
 * earlier versions wrote it still reads, and every file that is not a
 * whole request is refused (the spool is outside input), never half read.
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
#include "pipe_rel.h"

/* 2025-03-14T08:15:00Z */
#define T0 1741940100

static void test_round_trip(void **state)
{
    (void)state;
    const struct pipe_rel_req r = {
        "TQ0701-C01", "meter swapped, reads checked", "ops", T0, T0 + 900, T0 + 3600};
    char *text = NULL;
    assert_int_equal(pipe_rel_build(&r, &text), AH_OK);
    /* one byte form: sorted keys, compact */
    assert_string_equal(text, "{\"from\":1741940100,\"meter\":\"TQ0701-C01\","
                              "\"operator\":\"ops\",\"reason\":\"meter swapped, reads "
                              "checked\",\"requested\":1741943700,\"to\":1741941000}");
    struct pipe_rel p;
    assert_int_equal(pipe_rel_parse((const uint8_t *)text, strlen(text), &p), AH_OK);
    assert_string_equal(p.r.meter, r.meter);
    assert_string_equal(p.r.reason, r.reason);
    assert_string_equal(p.r.op, r.op);
    assert_int_equal(p.r.from, r.from);
    assert_int_equal(p.r.to, r.to);
    assert_int_equal(p.r.requested, r.requested);
    pipe_rel_free(&p);
    assert_null(p.doc_);
    pipe_rel_free(&p); /* freed twice is fine */
    free(text);
    /* the edges of the range the RELEASE event can carry */
    const struct pipe_rel_req e = {"m", "r", "o", 0, PIPE_EV_TIME_MAX, PIPE_EV_TIME_MAX};
    assert_int_equal(pipe_rel_build(&e, &text), AH_OK);
    assert_int_equal(pipe_rel_parse((const uint8_t *)text, strlen(text), &p), AH_OK);
    assert_int_equal(p.r.to, PIPE_EV_TIME_MAX);
    pipe_rel_free(&p);
    free(text);
}

/* What `amihead release` wrote before the codec (key order as written). */
static void test_older_file(void **state)
{
    (void)state;
    static const char old[] = "{\"meter\": \"000000000001\", \"from\": 1741940100, "
                              "\"to\": 1741941000, \"reason\": \"ok\", "
                              "\"operator\": \"root\", \"requested\": 1741940200}\n";
    struct pipe_rel p;
    assert_int_equal(pipe_rel_parse((const uint8_t *)old, strlen(old), &p), AH_OK);
    assert_string_equal(p.r.meter, "000000000001");
    assert_int_equal(p.r.to - p.r.from, 900);
    pipe_rel_free(&p);
}

static void test_build_refused(void **state)
{
    (void)state;
    static const struct {
        struct pipe_rel_req r;
        const char *bad;
    } cases[] = {
        {{NULL, "r", "o", 0, 1, 0}, "meter"},
        {{"", "r", "o", 0, 1, 0}, "meter"},
        {{"m", "", "o", 0, 1, 0}, "reason"},
        {{"m", "caf\xe9", "o", 0, 1, 0}, "reason"}, /* Latin-1, not UTF-8 */
        {{"m", "r", NULL, 0, 1, 0}, "operator"},
        {{"m", "r", "\xff", 0, 1, 0}, "operator"},
        {{"m", "r", "o", -1, 1, 0}, "from"},
        {{"m", "r", "o", 5, 5, 0}, "to"},
        {{"m", "r", "o", 5, 4, 0}, "to"},
        {{"m", "r", "o", 0, PIPE_EV_TIME_MAX + 1, 0}, "to"},
        {{"m", "r", "o", 0, 1, -1}, "requested"},
        {{"m", "r", "o", 0, 1, PIPE_EV_TIME_MAX + 1}, "requested"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *bad = pipe_rel_invalid(&cases[i].r);
        if (!bad || strcmp(bad, cases[i].bad) != 0)
            fail_msg("case %zu: invalid says %s, want %s", i, bad ? bad : "(none)",
                     cases[i].bad);
        char *text = (char *)"x";
        assert_int_equal(pipe_rel_build(&cases[i].r, &text), AH_EINVAL);
        assert_null(text);
    }
}

static void assert_refused(const char *body, size_t len)
{
    struct pipe_rel p;
    if (pipe_rel_parse((const uint8_t *)body, len, &p) != AH_EINVAL)
        fail_msg("accepted: %.*s", (int)len, body);
    assert_null(p.doc_);
    assert_null(p.r.meter);
}

#define KEYS_REST "\"operator\":\"o\",\"reason\":\"r\",\"requested\":0"

static void test_parse_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "null",
        "[]",
        "\"a request\"",
        "{}",
        /* truncated: the file half written by hand */
        "{\"from\":0,\"meter\":\"m\",\"operator\":\"o\",\"reason\":\"r\",\"requested\":"
        "0,",
        /* a key missing, one too many, one twice */
        "{\"from\":0,\"meter\":\"m\"," KEYS_REST "}",
        "{\"from\":0,\"meter\":\"m\",\"to\":1,\"x\":1," KEYS_REST "}",
        "{\"from\":0,\"from\":0,\"meter\":\"m\",\"to\":1," KEYS_REST "}",
        /* of another type */
        "{\"from\":\"0\",\"meter\":\"m\",\"to\":1," KEYS_REST "}",
        "{\"from\":0.5,\"meter\":\"m\",\"to\":1," KEYS_REST "}",
        "{\"from\":0,\"meter\":1,\"to\":1," KEYS_REST "}",
        "{\"from\":0,\"meter\":null,\"to\":1," KEYS_REST "}",
        "{\"from\":0,\"meter\":\"m\",\"to\":true," KEYS_REST "}",
        /* out of range, empty */
        "{\"from\":-1,\"meter\":\"m\",\"to\":1," KEYS_REST "}",
        "{\"from\":1,\"meter\":\"m\",\"to\":1," KEYS_REST "}",
        "{\"from\":0,\"meter\":\"m\",\"to\":253402300800," KEYS_REST "}",
        "{\"from\":0,\"meter\":\"m\",\"to\":99999999999999999999," KEYS_REST "}",
        "{\"from\":0,\"meter\":\"\",\"to\":1," KEYS_REST "}",
        "{\"from\":0,\"meter\":\"m\",\"to\":1,\"operator\":\"o\",\"reason\":\"\","
        "\"requested\":0}",
        "{\"from\":0,\"meter\":\"m\",\"to\":1,\"operator\":\"o\",\"reason\":\"r\","
        "\"requested\":-5}",
        /* a NUL in a string, bytes that are not UTF-8 */
        "{\"from\":0,\"meter\":\"m\\u0000x\",\"to\":1," KEYS_REST "}",
        "{\"from\":0,\"meter\":\"m\xc3\",\"to\":1," KEYS_REST "}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_refused(bad[i], strlen(bad[i]));
    /* the right object with trailing bytes, and a NUL byte inside the file */
    static const char tail[] = "{\"from\":0,\"meter\":\"m\",\"to\":1," KEYS_REST "}x";
    assert_refused(tail, sizeof tail - 1);
    static const char nul[] = "{\"from\":0,\"meter\":\"m\",\"to\":1," KEYS_REST "}\0";
    assert_refused(nul, sizeof nul - 1);
    /* longer than a request can be, even when it is one */
    size_t big = PIPE_REL_MAX_BYTES + 1;
    char *b = malloc(big + 1);
    assert_non_null(b);
    int n = snprintf(b, big + 1, "{\"from\":0,\"meter\":\"m\",\"to\":1," KEYS_REST "}");
    memset(b + n, ' ', big - (size_t)n);
    assert_refused(b, big);
    struct pipe_rel p; /* the same file one byte shorter is a request */
    assert_int_equal(pipe_rel_parse((const uint8_t *)b, big - 1, &p), AH_OK);
    pipe_rel_free(&p);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_older_file),
        cmocka_unit_test(test_build_refused),
        cmocka_unit_test(test_parse_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
