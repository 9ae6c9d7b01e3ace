/*
 * sub — a billing-side subscriber of the export (docs/wire-format.md
 * "Subscribing without loss"): SUB for live messages plus the replay
 * endpoint to fill every sequence gap, delivering messages strictly in
 * sequence order, each once. Used by `amihead tail` and the tests; the
 * same algorithm is in examples/subscriber.py.
 *
 * Gaps are found from the one sequence counter shared by all topics: with
 * a topic prefix, the messages of other topics show up as gaps, are
 * replayed and then filtered out. When nothing arrives for idle_ms the
 * subscriber asks the replay endpoint for "info" and fetches anything
 * published that it has not seen (a message lost at the end of a burst has
 * no successor to reveal it).
 *
 * Must not: reorder, deliver twice, or hide a loss — a range that expired
 * before it could be replayed is counted by sub_lost() and logged.
 * One sub_t belongs to one thread.
 */
#ifndef AH_SUB_H
#define AH_SUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sub sub_t;

struct sub_opts {
    const char *endpoint;   /* PUB endpoint to connect, required */
    const char *replay;     /* replay endpoint, NULL = no gap filling */
    const char *topic;      /* prefix filter, NULL = everything */
    uint64_t from_seq;      /* 0 = start at the first live message */
    const char *server_key; /* server's Z85 public key; NULL = no CURVE */
    const char *public_key; /* this subscriber's Z85 key pair (with server_key) */
    const char *secret_key;
    int rcvhwm;            /* SUB receive high-water mark, 0 = libzmq's */
    int replay_timeout_ms; /* 0 = 2000 */
    int idle_ms;           /* 0 = 500 */
};

/* A delivered message; borrowed until the next sub_next() or sub_destroy. */
struct sub_msg {
    uint64_t seq;
    const char *topic;
    size_t topic_len;
    const char *body; /* JSON, not NUL-terminated */
    size_t body_len;
};

/* Connect. o and its strings are borrowed for the call. AH_EINVAL,
 * AH_ENOTSUP (CURVE without libzmq support), AH_ENOMEM. */
int sub_new(const struct sub_opts *o, sub_t **out);
void sub_destroy(sub_t **s);

/* Next message in sequence order, waiting up to timeout_ms. AH_OK, or
 * AH_ETIMEDOUT when none is ready in time (a gap still waiting for replay
 * counts as not ready). */
int sub_next(sub_t *s, int timeout_ms, struct sub_msg *out);

/* Messages given up: expired before replay, or skipped without a replay
 * endpoint. */
uint64_t sub_lost(const sub_t *s);
/* Messages obtained through replay rather than live. */
uint64_t sub_replayed(const sub_t *s);

#endif /* AH_SUB_H */
