/*
 * test_scfg — bridge.yaml / sink.yaml through their key tables: defaults,
 * every kind of bad value named with FILE:LINE: key, required keys, and
 * unknown keys refused (a typo must not silently fall back to a default).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ah_err.h"
#include "bridge.h"
#include "scfg.h"
#include "sink.h"

static char path[64];

static int load_text(const char *text, struct bridge_cfg *c, char *err, size_t errlen)
{
    snprintf(path, sizeof path, "/tmp/test_scfg.%d.yaml", (int)getpid());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    /* capture stderr, where the diagnostics go */
    fflush(stderr);
    FILE *cap = tmpfile();
    int saved = dup(2);
    dup2(fileno(cap), 2);
    memset(c, 0, sizeof *c);
    int rc = scfg_load(path, bridge_keys, bridge_nkeys, c);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(cap);
    size_t n = fread(err, 1, errlen - 1, cap);
    err[n] = '\0';
    fclose(cap);
    unlink(path);
    return rc;
}

static void test_defaults_and_values(void **state)
{
    (void)state;
    struct bridge_cfg c;
    char err[1024];
    assert_int_equal(
        load_text("headend: hx-a\nbatch_max: 64\nnats: nats://h:1,nats://h:2\n", &c, err,
                  sizeof err),
        AH_OK);
    assert_string_equal(c.headend, "hx-a");
    assert_int_equal(c.batch_max, 64);
    assert_int_equal(c.batch_ms, 50);
    assert_int_equal(c.js.replicas, 3);
    assert_string_equal(c.js.nats, "nats://h:1,nats://h:2");
    assert_string_equal(c.js.subject_prefix, "ami.feed");
    assert_string_equal(err, "");
}

static void test_bad_values_named(void **state)
{
    (void)state;
    struct bridge_cfg c;
    char err[2048];
    assert_int_equal(load_text("headend: hx/a\nbatch_max: 0\nbatch_ms: 5x\nbatchmax: 3\n"
                               "replicas: [1]\n",
                               &c, err, sizeof err),
                     AH_ECONFIG);
    assert_non_null(strstr(err, ":1: headend: 'hx/a'"));
    assert_non_null(strstr(err, ":2: batch_max: 0 not in 1..4096"));
    assert_non_null(strstr(err, ":3: batch_ms: '5x' is not an integer"));
    assert_non_null(strstr(err, ":4: batchmax: unknown key"));
    assert_non_null(strstr(err, ":5: replicas: expected a scalar"));
    assert_int_equal(load_text("batch_max: 8\n", &c, err, sizeof err), AH_ECONFIG);
    assert_non_null(strstr(err, "headend: required"));
    assert_int_equal(load_text("- a\n", &c, err, sizeof err), AH_ECONFIG);
    assert_non_null(strstr(err, "expected a mapping"));
}

static void test_sink_needs_postgres(void **state)
{
    (void)state;
    struct sink_cfg c = {0};
    assert_int_equal(scfg_defaults(sink_keys, sink_nkeys, &c), AH_OK);
    assert_int_equal(c.ack_wait_ms, 30000);
    assert_string_equal(c.durable, "ami-sink");
    assert_int_equal(scfg_load("/nonexistent/sink.yaml", sink_keys, sink_nkeys, &c),
                     AH_EIO);
}

/* The examples shipped in examples/ load as they are. */
static void test_examples_load(void **state)
{
    (void)state;
    struct bridge_cfg b = {0};
    struct sink_cfg k = {0};
    assert_int_equal(scfg_load(AH_VECTORS_DIR "/../../examples/bridge.yaml", bridge_keys,
                               bridge_nkeys, &b),
                     AH_OK);
    assert_string_equal(b.headend, "hx-sz-01");
    assert_string_equal(b.kafka_brokers, "");
    assert_int_equal(
        scfg_load(AH_VECTORS_DIR "/../../examples/sink.yaml", sink_keys, sink_nkeys, &k),
        AH_OK);
    assert_int_equal(k.fetch, 32);
    assert_non_null(strstr(k.postgres, "dbname=ami"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_values),
        cmocka_unit_test(test_bad_values_named),
        cmocka_unit_test(test_sink_needs_postgres),
        cmocka_unit_test(test_examples_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
