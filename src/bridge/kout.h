/*
 * kout — the bridge's optional Kafka output through librdkafka (the only
 * module that includes rdkafka.h). Many utilities' integration teams read
 * Kafka; Debian packages no Kafka broker, so this output is tested only
 * against librdkafka's built-in mock cluster (tests/unit/test_kafka_protocol.c):
 * a protocol test, not a proof of delivery to a real cluster.
 *
 * Each batch (the same payload and Ami-* headers as on JetStream, jsb.h)
 * is one Kafka record keyed by head-end, so one head-end's batches share a
 * partition and keep their order. The producer is idempotent
 * (enable.idempotence: acks=all, retries without duplicates or reordering
 * within one producer session) and one batch is in flight at a time.
 *
 * Delivery is at least once: the bridge sends to Kafka before JetStream, so
 * a bridge that dies between the two sends that batch to Kafka again after
 * its restart. Kafka consumers drop what they have seen by (head-end, seq)
 * or by the Ami-First / Ami-Last headers.
 */
#ifndef AH_KOUT_H
#define AH_KOUT_H

#include <stddef.h>
#include <stdint.h>

typedef struct kout kout_t;

struct kout_opts {
    const char *brokers; /* bootstrap servers "host:port,..." */
    const char *topic;
    int timeout_ms; /* per batch, delivery report included */
};

/* AH_EINVAL for a configuration librdkafka refuses (logged). */
int kout_new(const struct kout_opts *o, kout_t **out);
void kout_destroy(kout_t **k);

/* One batch, waiting for its delivery report. AH_ETIMEDOUT when none came
 * in time: call again with the same batch, which then only waits (the
 * record is in librdkafka's queue and is not produced twice). AH_EIO when
 * it was finally refused: calling again produces it anew. */
int kout_send(kout_t *k, const char *headend, uint64_t prev, uint64_t first,
              uint64_t last, const void *data, size_t len);

#endif /* AH_KOUT_H */
