/*
 * jsx — the NATS JetStream adapter of the scale-out commands (bridge, sink,
 * bench): the only module that includes nats.h. nats.c's natsStatus and
 * JetStream error codes are translated here, once, into ah_err:
 *   AH_ETIMEDOUT     no answer in time (leader election, a node down): retry
 *   AH_ECONNREFUSED  no server reachable: retry
 *   AH_EBUSY         "wrong last sequence": another writer got there first
 *   AH_ENOENT        no such stream / no message on that subject
 *   AH_EIO           anything else
 *
 * Must not: know the batch format beyond its four headers, or retry on its
 * own — the callers decide (the bridge retries the same batch, whose
 * Nats-Msg-Id makes a re-send harmless).
 */
#ifndef AH_JSX_H
#define AH_JSX_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct jsx jsx_t;

/* The JetStream keys bridge.yaml and sink.yaml share (docs/scale-out.md). */
struct jsx_cfg {
    char nats[1024]; /* comma-separated server URLs */
    char stream[64];
    char subject_prefix[64]; /* the head-ends' subjects are prefix.<headend> */
    int64_t replicas;        /* when this process creates the stream */
    int64_t timeout_ms;      /* per JetStream request */
    int64_t dup_window_s;    /* ditto: Nats-Msg-Id duplicate window */
    int64_t max_age_days;    /* ditto: retention, 0 = forever */
};

/* Their scfg_key entries (scfg.h) for a config struct T holding a struct
 * jsx_cfg named m. */
/* clang-format off */
#define JSX_CFG_KEYS(T, m)                                                               \
    {"nats", SCFG_STR, offsetof(T, m.nats), sizeof(((T *)0)->m.nats), 0, 0,              \
     "nats://127.0.0.1:4222", "server URLs, comma-separated"},                           \
        {"stream", SCFG_SEG, offsetof(T, m.stream), sizeof(((T *)0)->m.stream), 0, 0,    \
         "AMI", "JetStream stream"},                                                     \
        {"subject_prefix", SCFG_SEG, offsetof(T, m.subject_prefix),                      \
         sizeof(((T *)0)->m.subject_prefix), 0, 0, "ami.feed", "subject = prefix.headend"}, \
        {"replicas", SCFG_INT, offsetof(T, m.replicas), 0, 1, 5, "3",                    \
         "copies, when this creates the stream"},                                        \
        {"timeout_ms", SCFG_INT, offsetof(T, m.timeout_ms), 0, 100, 60000, "3000",       \
         "per JetStream request"},                                                       \
        {"dup_window_s", SCFG_INT, offsetof(T, m.dup_window_s), 0, 1, 86400, "120",      \
         "duplicate window, when this creates the stream"},                              \
        {"max_age_days", SCFG_INT, offsetof(T, m.max_age_days), 0, 0, 3650, "7",         \
         "retention when this creates the stream, 0 = forever"}
/* clang-format on */

/* Connect and make sure the stream exists, retrying with backoff (up to
 * 2 s) until both work or *stop is set (AH_OK with *out NULL). name: the
 * connection's name shown by the server. */
int jsx_open(const struct jsx_cfg *c, const char *name, volatile sig_atomic_t *stop,
             jsx_t **out);

/* Sleep *wait_ms, then double it up to max_ms: the retry pace of the
 * scale-out commands. */
void jsx_backoff(long *wait_ms, long max_ms);

struct jsx_opts {
    const char *urls;     /* "nats://h:p,nats://h:p,..." borrowed for the call */
    const char *stream;   /* stream name */
    const char *subjects; /* the stream's subjects, e.g. "ami.feed.>" */
    int replicas;         /* 1..5 */
    int64_t dup_window_ms;
    int64_t max_age_ms; /* messages older are dropped by the server; 0 = kept */
    int timeout_ms;     /* per JetStream request */
    const char *name;   /* connection name shown by the server */
};

/* Connect (keeps reconnecting forever on loss). AH_ECONNREFUSED when no
 * server answers the first time. */
int jsx_connect(const struct jsx_opts *o, jsx_t **out);
void jsx_destroy(jsx_t **j);

/* Create the stream if it does not exist (file storage, limits retention,
 * replicas, duplicate window, max age). Idempotent; racing creators agree.
 * An existing stream is left as it is (change it with the nats tooling). */
int jsx_ensure_stream(jsx_t *j);

/* The last message stored on subject: its stream sequence and its
 * Ami-Last header. AH_ENOENT when the subject has none. */
int jsx_last(jsx_t *j, const char *subject, uint64_t *stream_seq, uint64_t *ami_last);

/* One batch. expect_subj_seq is the stream sequence of the subject's last
 * message (0: none yet) — JetStream refuses the message (AH_EBUSY) unless
 * it still is. On AH_OK, *stream_seq is where it was stored and *dup tells
 * that the server already had this Nats-Msg-Id (a re-send). */
struct jsx_batch {
    const char *subject, *msgid, *headend;
    uint64_t prev; /* last sequence of the batch before on the subject, 0 = none */
    uint64_t first, last, expect_subj_seq;
    const void *data;
    size_t len;
};
int jsx_publish(jsx_t *j, const struct jsx_batch *b, uint64_t *stream_seq, bool *dup);

/* Plain publish with a Nats-Msg-Id only (the bench's ceiling). */
int jsx_publish_plain(jsx_t *j, const char *subject, const char *msgid, const void *data,
                      size_t len);

/* ---- durable pull consumer (sink) -------------------------------------- */

/* Bind to (or create) durable consumer `durable` on filter, explicit acks,
 * deliver all, ack_wait_ms before a redelivery. */
int jsx_pull_open(jsx_t *j, const char *durable, const char *filter, int64_t ack_wait_ms,
                  int max_ack_pending);

/* A fetched message; borrowed strings live until jsx_msg_done(). */
struct jsx_msg {
    void *m; /* natsMsg */
    const char *headend;
    uint64_t prev, first, last; /* 0 when the headers are missing or bad */
    const char *data;
    size_t len;
    uint64_t stream_seq;
    uint64_t delivered; /* 1 on first delivery */
};

/* Up to max messages into out[], waiting up to timeout_ms; returns how many
 * (0 on timeout) or a negative ah_err. */
int jsx_fetch(jsx_t *j, struct jsx_msg *out, int max, int timeout_ms);
/* Ack (fire and forget: a lost ack costs one redelivery, which the
 * caller must recognise) / ask for a redelivery after delay_ms. Both then
 * free the message. */
int jsx_ack(struct jsx_msg *m);
int jsx_nak(struct jsx_msg *m, int64_t delay_ms);
/* Free without answering (the server redelivers after ack_wait). */
void jsx_msg_done(struct jsx_msg *m);

#endif /* AH_JSX_H */
