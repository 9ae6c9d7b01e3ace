/*
 * test_kafka_protocol — the bridge's optional Kafka output (kout) against
 * librdkafka's built-in MOCK cluster (3 mock brokers in this process).
 * A PROTOCOL TEST, NOT A PROOF OF DELIVERY: Debian packages no Kafka
 * broker, so no real cluster is involved; it shows that kout speaks the
 * producer protocol right — records keyed by head-end with the Ami-*
 * headers and the payload unchanged, each head-end's batches in order on
 * one partition, and an idempotent producer that retries through injected
 * broker errors without duplicating or reordering a batch.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "ah_err.h"
#include "kout.h"

#define TOPIC   "ami.feed"
#define BATCHES 40 /* per head-end */

static const char *header(rd_kafka_message_t *m, const char *name, char *buf, size_t cap)
{
    rd_kafka_headers_t *h = NULL;
    const void *v;
    size_t n;
    if (rd_kafka_message_headers(m, &h) || rd_kafka_header_get_last(h, name, &v, &n) ||
        n >= cap)
        return "";
    memcpy(buf, v, n);
    buf[n] = '\0';
    return buf;
}

static void test_keyed_ordered_idempotent(void **state)
{
    (void)state;
    char err[256];
    /* a handle whose only job is to own the mock cluster */
    rd_kafka_conf_t *mc = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(mc, "test.mock.num.brokers", "3", err, sizeof err),
                     RD_KAFKA_CONF_OK);
    rd_kafka_t *owner = rd_kafka_new(RD_KAFKA_PRODUCER, mc, err, sizeof err);
    assert_non_null(owner);
    rd_kafka_mock_cluster_t *mcl = rd_kafka_handle_mock_cluster(owner);
    assert_non_null(mcl);
    assert_int_equal(rd_kafka_mock_topic_create(mcl, TOPIC, 4, 3), 0);
    const char *boot = rd_kafka_mock_cluster_bootstraps(mcl);

    struct kout_opts o = {boot, TOPIC, 10000};
    kout_t *k = NULL;
    assert_int_equal(kout_new(&o, &k), AH_OK);
    /* retriable errors on the next Produce requests: the idempotent
     * producer must retry them without a duplicate */
    rd_kafka_mock_push_request_errors(
        mcl, 0 /* Produce */, 3, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
        RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
    const char *he[2] = {"hx-a", "hx-b"};
    for (uint64_t i = 0; i < BATCHES; i++)
        for (int h = 0; h < 2; h++) {
            char payload[64];
            int n =
                snprintf(payload, sizeof payload, "[{\"headend\":\"%s\",\"seq\":%llu}]",
                         he[h], (unsigned long long)(i + 1));
            int rc;
            while ((rc = kout_send(k, he[h], i, i + 1, i + 1, payload, (size_t)n)) ==
                   AH_ETIMEDOUT)
                ;
            assert_int_equal(rc, AH_OK);
        }
    kout_destroy(&k);
    assert_null(k);

    /* read everything back */
    rd_kafka_conf_t *cc = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(cc, "bootstrap.servers", boot, err, sizeof err),
                     0);
    assert_int_equal(rd_kafka_conf_set(cc, "group.id", "test", err, sizeof err), 0);
    assert_int_equal(
        rd_kafka_conf_set(cc, "auto.offset.reset", "earliest", err, sizeof err), 0);
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, cc, err, sizeof err);
    assert_non_null(c);
    rd_kafka_poll_set_consumer(c);
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tl, TOPIC, RD_KAFKA_PARTITION_UA);
    assert_int_equal(rd_kafka_subscribe(c, tl), 0);
    rd_kafka_topic_partition_list_destroy(tl);
    uint64_t next[2] = {1, 1};
    int32_t part[2] = {-1, -1};
    int got = 0;
    for (int polls = 0; got < 2 * BATCHES && polls < 300; polls++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (!m)
            continue;
        if (m->err) {
            rd_kafka_message_destroy(m);
            continue;
        }
        char key[16] = {0}, buf[32];
        assert_true(m->key_len < sizeof key);
        memcpy(key, m->key, m->key_len);
        int h = !strcmp(key, "hx-b");
        assert_string_equal(key, he[h]);
        assert_string_equal(header(m, "Ami-Headend", buf, sizeof buf), he[h]);
        /* in order, each once: seq 1, 2, ... per head-end */
        char want[24];
        snprintf(want, sizeof want, "%llu", (unsigned long long)next[h]);
        assert_string_equal(header(m, "Ami-First", buf, sizeof buf), want);
        assert_string_equal(header(m, "Ami-Last", buf, sizeof buf), want);
        char body[64];
        int n = snprintf(body, sizeof body, "[{\"headend\":\"%s\",\"seq\":%llu}]", he[h],
                         (unsigned long long)next[h]);
        assert_int_equal(m->len, n);
        assert_memory_equal(m->payload, body, (size_t)n);
        /* keyed: one partition per head-end */
        if (part[h] < 0)
            part[h] = m->partition;
        assert_int_equal(m->partition, part[h]);
        next[h]++;
        got++;
        rd_kafka_message_destroy(m);
    }
    assert_int_equal(got, 2 * BATCHES);
    /* nothing more: no duplicate arrives late */
    rd_kafka_message_t *extra = rd_kafka_consumer_poll(c, 500);
    if (extra) {
        assert_int_not_equal(extra->err, RD_KAFKA_RESP_ERR_NO_ERROR);
        rd_kafka_message_destroy(extra);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    rd_kafka_destroy(owner);
}

static void test_bad_config_refused(void **state)
{
    (void)state;
    kout_t *k = NULL;
    struct kout_opts o = {"", NULL, 0};
    assert_int_equal(kout_new(&o, &k), AH_EINVAL);
    assert_null(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keyed_ordered_idempotent),
        cmocka_unit_test(test_bad_config_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
