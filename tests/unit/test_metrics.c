/*
 * test_metrics — Prometheus text rendering, lock-free updates from two
 * threads, and a real scrape of GET /metrics over loopback HTTP.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ah_err.h"
#include "metrics.h"

static void test_render_groups_families(void **state)
{
    (void)state;
    met_t *m = met_new();
    struct met_series *a = met_series(m, "amihead_reads_total", "Interval reads stored",
                                      MET_COUNTER, "link=\"c0\"");
    struct met_series *rtt =
        met_series(m, "amihead_rtt_ms", "Last round trip", MET_GAUGE, "link=\"c0\"");
    struct met_series *b =
        met_series(m, "amihead_reads_total", NULL, MET_COUNTER, "link=\"c1\"");
    assert_ptr_equal(
        met_series(m, "amihead_reads_total", NULL, MET_COUNTER, "link=\"c0\""), a);
    met_add(a, 96);
    met_add(b, 95);
    met_set(rtt, 42.5);
    char buf[1024];
    size_t n = met_render(m, buf, sizeof buf);
    assert_int_equal(n, strlen(buf));
    const char *want = "# HELP amihead_reads_total Interval reads stored\n"
                       "# TYPE amihead_reads_total counter\n"
                       "amihead_reads_total{link=\"c0\"} 96\n"
                       "amihead_reads_total{link=\"c1\"} 95\n"
                       "# HELP amihead_rtt_ms Last round trip\n"
                       "# TYPE amihead_rtt_ms gauge\n"
                       "amihead_rtt_ms{link=\"c0\"} 42.5\n";
    assert_string_equal(buf, want);
    /* truncated output still reports the length it needs */
    char small[16];
    assert_int_equal(met_render(m, small, sizeof small), n);
    assert_null(met_series(m, "9bad name", "", MET_GAUGE, NULL));
    met_add(NULL, 1); /* a full registry hands out NULL: updates are ignored */
    met_destroy(&m);
    assert_null(m);
}

struct adder {
    struct met_series *s;
};

static void *add_many(void *p)
{
    struct adder *a = p;
    for (int i = 0; i < 100000; i++)
        met_add(a->s, 1);
    return NULL;
}

static void test_concurrent_adds(void **state)
{
    (void)state;
    met_t *m = met_new();
    struct adder a = {met_series(m, "amihead_requests_total", "", MET_COUNTER, NULL)};
    pthread_t t1, t2;
    pthread_create(&t1, NULL, add_many, &a);
    pthread_create(&t2, NULL, add_many, &a);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    assert_true(met_get(a.s) == 200000.0);
    met_destroy(&m);
}

static size_t http_get(int port, const char *path, char *out, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    char req[128];
    int k = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: x\r\n\r\n", path);
    assert_int_equal(write(fd, req, (size_t)k), k);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(fd, out + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(fd);
    return n;
}

static void test_http_scrape(void **state)
{
    (void)state;
    met_t *m = met_new();
    met_add(met_series(m, "amihead_cycle_overruns_total", "Cycles that overran",
                       MET_COUNTER, NULL),
            3);
    int port = 0;
    assert_int_equal(met_serve(m, "127.0.0.1:0", &port), AH_OK);
    assert_true(port > 0);
    char body[4096];
    http_get(port, "/metrics", body, sizeof body);
    assert_non_null(strstr(body, " 200 OK"));
    assert_non_null(strstr(body, "text/plain; version=0.0.4"));
    assert_non_null(strstr(body, "\namihead_cycle_overruns_total 3\n"));
    http_get(port, "/other", body, sizeof body);
    assert_non_null(strstr(body, " 404 "));
    met_destroy(&m);
}

/* A head-end of 2,000 links holds over 1,024 descriptors: the scrape's own
 * socket then lies above select()'s FD_SETSIZE, and a select()-polling
 * endpoint dropped every scrape ("not less than FD_SETSIZE"). */
static void test_http_scrape_many_fds(void **state)
{
    (void)state;
    enum { HOLD = 1100 };
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < HOLD + 64) {
        rl.rlim_cur = rl.rlim_max < HOLD + 64 ? rl.rlim_max : HOLD + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < HOLD + 64)
        skip(); /* the box cannot hold that many descriptors */
    static int held[HOLD];
    for (int i = 0; i < HOLD; i++)
        assert_true((held[i] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0);
    met_t *m = met_new();
    met_add(met_series(m, "amihead_requests_total", "Requests sent", MET_COUNTER, NULL),
            7);
    int port = 0;
    assert_int_equal(met_serve(m, "127.0.0.1:0", &port), AH_OK);
    char body[4096];
    http_get(port, "/metrics", body, sizeof body);
    assert_non_null(strstr(body, " 200 OK"));
    assert_non_null(strstr(body, "\namihead_requests_total 7\n"));
    met_destroy(&m);
    for (int i = 0; i < HOLD; i++)
        close(held[i]);
}

static void test_histogram(void **state)
{
    (void)state;
    met_t *m = met_new();
    static const double b[] = {0.1, 0.5, 1};
    struct met_series *h = met_histogram(m, "amihead_request_duration_seconds",
                                         "Request latency", "link=\"c0\"", b, 3);
    assert_non_null(h);
    static const double bad[] = {1, 0.5};
    assert_null(
        met_histogram(m, "amihead_x_seconds", "", NULL, bad, 2)); /* not ascending */
    met_observe(h, 0.05);
    met_observe(h, 0.1); /* le is inclusive */
    met_observe(h, 0.7);
    met_observe(h, 3);
    char buf[2048];
    met_render(m, buf, sizeof buf);
    const char *want =
        "# HELP amihead_request_duration_seconds Request latency\n"
        "# TYPE amihead_request_duration_seconds histogram\n"
        "amihead_request_duration_seconds_bucket{link=\"c0\",le=\"0.1\"} 2\n"
        "amihead_request_duration_seconds_bucket{link=\"c0\",le=\"0.5\"} 2\n"
        "amihead_request_duration_seconds_bucket{link=\"c0\",le=\"1\"} 3\n"
        "amihead_request_duration_seconds_bucket{link=\"c0\",le=\"+Inf\"} 4\n"
        "amihead_request_duration_seconds_sum{link=\"c0\"} 3.85\n"
        "amihead_request_duration_seconds_count{link=\"c0\"} 4\n";
    assert_string_equal(buf, want);
    met_destroy(&m);
}

static bool not_ready(void *arg, char *why, size_t cap)
{
    (void)arg;
    snprintf(why, cap, "not ready: test");
    return false;
}

static char *page(void *arg, const char *q, size_t *len, const char **type)
{
    (void)arg;
    char *b = malloc(64);
    *len = (size_t)snprintf(b, 64, "<html>%s</html>", q ? q : "-");
    *type = "text/html";
    return b;
}

static void test_probes_pages_busy(void **state)
{
    (void)state;
    met_t *m = met_new();
    met_set_ready(m, not_ready, NULL);
    assert_int_equal(met_add_page(m, "/report", page, NULL), AH_OK);
    int port = 0;
    assert_int_equal(met_serve(m, "127.0.0.1:0", &port), AH_OK);
    char body[8192], listen[32];
    http_get(port, "/healthz", body, sizeof body);
    assert_non_null(strstr(body, " 200 "));
    http_get(port, "/readyz", body, sizeof body);
    assert_non_null(strstr(body, " 503 "));
    assert_non_null(strstr(body, "not ready: test"));
    http_get(port, "/report?day=2025-03-14", body, sizeof body);
    assert_non_null(strstr(body, "<html>2025-03-14</html>"));
    http_get(port, "/metrics", body, sizeof body);
    assert_non_null(strstr(body, "\namihead_build_info{version=\""));
    assert_non_null(strstr(body, "\nprocess_open_fds "));
    /* a second server on the same port: busy, not a generic failure */
    met_t *m2 = met_new();
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    assert_int_equal(met_serve(m2, listen, NULL), AH_EBUSY);
    met_destroy(&m2);
    met_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_groups_families),
        cmocka_unit_test(test_concurrent_adds),
        cmocka_unit_test(test_http_scrape),
        cmocka_unit_test(test_http_scrape_many_fds),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_probes_pages_busy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
