/*
 * test_dialin — links[].allow networks (dialin_allow_parse / _match).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "dialin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

static bool allows(const struct dialin_allow *a, const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
    }
    uint8_t b[16];
    assert_true(dialin_ip_of(&ss, b));
    return dialin_allow_match(a, b);
}

static void networks_match_by_prefix(void **state)
{
    (void)state;
    struct dialin_allow a;
    char err[160];
    assert_int_equal(
        dialin_allow_parse("10.1.0.0/16, 192.0.2.7 2001:db8::/32", &a, err, sizeof err),
        0);
    assert_int_equal(a.n, 3);
    assert_true(allows(&a, "10.1.200.3"));
    assert_false(allows(&a, "10.2.0.1"));
    assert_true(allows(&a, "192.0.2.7"));
    assert_false(allows(&a, "192.0.2.8"));
    assert_true(allows(&a, "2001:db8:1::5"));
    assert_false(allows(&a, "2001:db9::5"));
    assert_true(allows(&a, "::ffff:10.1.0.9")); /* v4-mapped from a v6 socket */
    assert_int_equal(dialin_allow_parse("10.1.2.3/20", &a, err, sizeof err), -1);
    assert_int_equal(dialin_allow_parse("0.0.0.0/0", &a, err, sizeof err), 0);
    assert_true(allows(&a, "203.0.113.9"));
    assert_int_equal(dialin_allow_parse("", &a, err, sizeof err), 0);
    assert_int_equal(a.n, 0);
    assert_true(allows(&a, "203.0.113.9")); /* empty: any source */
}

static void bad_lists_are_refused(void **state)
{
    (void)state;
    struct dialin_allow a;
    char err[160];
    const char *bad[] = {
        "10.0.0.0/33",
        "10.0.0/8",
        "host.example",
        "::1/129",
        "1.2.3.4/",
        "1.2.3.4/-1",
        "1.2.3.4/8x",
        "/8",
        "1.1.1.1 2.2.2.2 3.3.3.3 4.4.4.4 5.5.5.5 6.6.6.6 7.7.7.7 8.8.8.8 "
        "9.9.9.9 1.1.1.2 1.1.1.3 1.1.1.4 1.1.1.5 1.1.1.6 1.1.1.7 1.1.1.8 "
        "1.1.1.9"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        assert_int_equal(dialin_allow_parse(bad[i], &a, err, sizeof err), -1);
        assert_true(err[0] != 0);
    }
}

/* accept4's failures (issue 15): out of descriptors pauses with a doubling
 * delay, said once per episode; one connection's failure is skipped. */
static void accept_failures_back_off(void **state)
{
    (void)state;
    struct dialin_pause p = {0};
    bool first;
    assert_int_equal(dialin_accept_failed(&p, EAGAIN, 1000, &first), DIALIN_ACCEPT_DONE);
    assert_false(first);
    assert_int_equal(dialin_accept_failed(&p, ECONNABORTED, 1000, &first),
                     DIALIN_ACCEPT_NEXT);
    assert_int_equal(dialin_accept_ok(&p), 0); /* nothing to say */
    assert_int_equal(dialin_accept_failed(&p, EMFILE, 1000, &first), DIALIN_ACCEPT_PAUSE);
    assert_true(first);
    assert_int_equal(p.until_ms, 1000 + DIALIN_PAUSE_MIN_MS);
    int64_t delay = DIALIN_PAUSE_MIN_MS;
    for (int k = 0; k < 10; k++) {
        assert_int_equal(dialin_accept_failed(&p, ENFILE, 5000, &first),
                         DIALIN_ACCEPT_PAUSE);
        assert_false(first); /* said once */
        delay = delay * 2 > DIALIN_PAUSE_MAX_MS ? DIALIN_PAUSE_MAX_MS : delay * 2;
        assert_int_equal(p.until_ms, 5000 + delay);
    }
    assert_int_equal(dialin_accept_ok(&p), 11);
    assert_int_equal(dialin_accept_failed(&p, EMFILE, 9000, &first), DIALIN_ACCEPT_PAUSE);
    assert_true(first); /* a new episode */
    assert_int_equal(p.until_ms, 9000 + DIALIN_PAUSE_MIN_MS);
    assert_int_equal(dialin_accept_failed(&p, EBADF, 9000, &first), DIALIN_ACCEPT_PAUSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(networks_match_by_prefix),
        cmocka_unit_test(bad_lists_are_refused),
        cmocka_unit_test(accept_failures_back_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
