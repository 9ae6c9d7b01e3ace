/*
 * bridge — one head-end's export into NATS JetStream, exactly once and in
 * order (docs/scale-out.md). The feed comes from the head-end's PUB and
 * replay endpoints through sub_ (gap-filled, in sequence order); batches of
 * consecutive messages go to subject <subject_prefix>.<headend>, one
 * publish in flight, each waiting for its JetStream ack:
 *
 *     resume ──► read last message of the subject (stream seq S, Ami-Last L)
 *        │       feed from L + 1 (or start_seq when the subject is empty)
 *        ▼
 *     batch ≤ batch_max bodies or batch_ms ──► publish (Nats-Msg-Id
 *        ▲       "<headend>:<first>-<last>", expected last subject seq S)
 *        │         ok ──────────────► S = ack seq, next batch
 *        │         no answer ───────► same batch again (the id dedups it)
 *        └──────── wrong last seq ──► another writer: resume
 *
 * Optional Kafka output (kout.h): each batch goes to Kafka first, then to
 * JetStream (at least once in Kafka; JetStream stays the resume point).
 *
 * Must not: keep its position in a local file (the stream is the only
 * truth, so a restarted, moved or duplicated bridge cannot diverge from
 * it), publish message k + 1 before k, or hide a loss (a range the head-end
 * no longer retains is logged and counted).
 */
#ifndef AH_BRIDGE_H
#define AH_BRIDGE_H

#include "jsx.h"
#include "scfg.h"

#include <signal.h>
#include <stdint.h>

struct bridge_cfg {
    char headend[65];
    char feed[256];   /* amihead export.pub */
    char replay[256]; /* amihead export.replay */
    struct jsx_cfg js;
    int64_t batch_max;
    int64_t batch_ms;
    int64_t start_seq;
    char kafka_brokers[512]; /* optional Kafka output (kout.h); "" = off */
    char kafka_topic[128];
};

extern const struct scfg_key bridge_keys[];
extern const size_t bridge_nkeys;

struct bridge_stats {
    uint64_t batches, messages, duplicates, resyncs, retries, lost, kafka;
};

/* Run until *stop is set. Returns AH_OK after a stop, or an ah_err for a
 * configuration the servers refuse. stats may be NULL. */
int bridge_run(const struct bridge_cfg *c, volatile sig_atomic_t *stop,
               struct bridge_stats *stats);

#endif /* AH_BRIDGE_H */
