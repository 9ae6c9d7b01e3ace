/*
 * kout — librdkafka producer for the bridge (kout.h). The delivery report
 * callback only records the outcome of the one record in flight.
 */
#include "kout.h"

#include "ah_err.h"
#include "ah_log.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kout {
    rd_kafka_t *rk;
    char topic[256];
    int timeout_ms;
    int pending;                  /* delivery reports still due */
    rd_kafka_resp_err_t last_err; /* of the last report */
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    struct kout *k = opaque;
    k->pending--;
    k->last_err = m->err;
}

int kout_new(const struct kout_opts *o, kout_t **out)
{
    if (!o || !o->brokers || !o->topic || strlen(o->topic) >= 256)
        return AH_EINVAL;
    struct kout *k = calloc(1, sizeof *k);
    if (!k)
        return AH_ENOMEM;
    snprintf(k->topic, sizeof k->topic, "%s", o->topic);
    k->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 5000;
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *kv[][2] = {
        {"bootstrap.servers", o->brokers},
        {"enable.idempotence", "true"},
        {"linger.ms", "0"},
        {"client.id", "amihead-bridge"},
    };
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        if (rd_kafka_conf_set(conf, kv[i][0], kv[i][1], err, sizeof err) !=
            RD_KAFKA_CONF_OK) {
            ah_log(AH_LOG_ERROR, "kafka", "%s: %s", kv[i][0], err);
            rd_kafka_conf_destroy(conf);
            free(k);
            return AH_EINVAL;
        }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, k);
    k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err); /* takes conf */
    if (!k->rk) {
        ah_log(AH_LOG_ERROR, "kafka", "producer: %s", err);
        free(k);
        return AH_EINVAL;
    }
    *out = k;
    return AH_OK;
}

void kout_destroy(kout_t **kp)
{
    if (!kp || !*kp)
        return;
    struct kout *k = *kp;
    rd_kafka_flush(k->rk, 2000);
    rd_kafka_destroy(k->rk);
    free(k);
    *kp = NULL;
}

int kout_send(kout_t *k, const char *headend, uint64_t prev, uint64_t first,
              uint64_t last, const void *data, size_t len)
{
    char v[3][24];
    snprintf(v[0], sizeof v[0], "%" PRIu64, prev);
    snprintf(v[1], sizeof v[1], "%" PRIu64, first);
    snprintf(v[2], sizeof v[2], "%" PRIu64, last);
    rd_kafka_headers_t *h = rd_kafka_headers_new(4);
    rd_kafka_header_add(h, "Ami-Headend", -1, headend, -1);
    rd_kafka_header_add(h, "Ami-Prev", -1, v[0], -1);
    rd_kafka_header_add(h, "Ami-First", -1, v[1], -1);
    rd_kafka_header_add(h, "Ami-Last", -1, v[2], -1);
    if (k->pending) { /* the same batch, still in flight: wait more, never twice */
        rd_kafka_headers_destroy(h);
        goto wait;
    }
    k->pending++;
    rd_kafka_resp_err_t e = rd_kafka_producev(
        k->rk, RD_KAFKA_V_TOPIC(k->topic), RD_KAFKA_V_KEY(headend, strlen(headend)),
        RD_KAFKA_V_VALUE((void *)data, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
    if (e) {
        k->pending--;
        rd_kafka_headers_destroy(h); /* not taken on failure */
        ah_log(AH_LOG_WARN, "kafka", "produce: %s", rd_kafka_err2str(e));
        return e == RD_KAFKA_RESP_ERR__QUEUE_FULL ? AH_ETIMEDOUT : AH_EIO;
    }
wait:
    /* one record in flight: flush waits for its delivery report */
    if (rd_kafka_flush(k->rk, k->timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR || k->pending)
        return AH_ETIMEDOUT;
    if (k->last_err) {
        ah_log(AH_LOG_WARN, "kafka", "delivery: %s", rd_kafka_err2str(k->last_err));
        return AH_EIO;
    }
    return AH_OK;
}
