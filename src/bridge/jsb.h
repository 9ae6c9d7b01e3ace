/*
 * jsb — one JetStream message of the scale-out feed: a batch of consecutive
 * export messages of one head-end (docs/scale-out.md "Messages").
 *
 * Payload: a JSON array of the export bodies, byte-identical to what
 * amihead published (docs/wire-format.md), in sequence order, with no gap:
 *     [{"v":1,"type":"read","headend":"hx","seq":41,...},{..."seq":42,...}]
 * Headers: Nats-Msg-Id "<headend>:<first>-<last>" (JetStream drops a re-sent
 * copy within its duplicate window), Ami-Headend, Ami-Prev (the last
 * sequence of the batch before it on the subject, 0 for the first: a
 * consumer tells a batch still to come from a range the head-end lost),
 * Ami-First, Ami-Last.
 *
 * The builder is pure (caller's buffer, no allocation, no I/O). The checker
 * reads outside bytes and trusts nothing (fuzz target tests/fuzz/fuzz_jsb.c):
 * it parses with jansson, which allocates.
 */
#ifndef AH_JSB_H
#define AH_JSB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* NATS' default max_payload is 1 MiB; stay well under it. */
#define JSB_PAYLOAD_MAX (512u * 1024u)
/* Most bodies in one batch (bridge.yaml batch_max is checked against it). */
#define JSB_COUNT_MAX 4096u
/* "<headend 64>:<20 digits>-<20 digits>" + NUL */
#define JSB_MSGID_MAX (64 + 1 + 20 + 1 + 20 + 1)

struct jsb {
    char *buf; /* borrowed, cap bytes */
    size_t cap, len;
    uint64_t first, last; /* valid when count > 0 */
    uint32_t count;
};

/* Start an empty batch in buf[0 .. cap). */
void jsb_init(struct jsb *b, char *buf, size_t cap);
void jsb_reset(struct jsb *b);

/* Append the body of message seq. AH_EINVAL when seq is not last + 1 (the
 * batch must be gapless) or the body is empty; AH_EOVERFLOW when the body
 * and the closing bracket would not fit in cap (the batch is unchanged:
 * publish it and start a new one). */
int jsb_append(struct jsb *b, uint64_t seq, const char *body, size_t blen);

/* Close the array; returns the payload length (the bytes are b->buf).
 * The batch must not be appended to afterwards. */
size_t jsb_finish(struct jsb *b);

/* "<headend>:<first>-<last>" into out. AH_EOVERFLOW if cap is too small. */
int jsb_msgid(char *out, size_t cap, const char *headend, uint64_t first, uint64_t last);

/* A decimal header value (no sign, no leading zero, <= UINT64_MAX).
 * AH_EFRAME otherwise. */
int jsb_parse_u64(const char *s, uint64_t *out);

/* What a checked batch holds, by body type. */
struct jsb_counts {
    uint32_t read, anomaly, gap, daily, other;
    /* earliest and latest "end" of the reads, as sent (ISO 8601 UTC sorts
     * as text); "" when there are no reads */
    char end_min[24], end_max[24];
};

/* Check a received payload against its headers: a JSON array of exactly
 * last - first + 1 objects, element i with "seq" == first + i and
 * "headend" == headend. AH_EFRAME (with a reason in why) otherwise.
 * c may be NULL. */
int jsb_check(const char *payload, size_t len, const char *headend, uint64_t first,
              uint64_t last, struct jsb_counts *c, char *why, size_t whylen);

#endif /* AH_JSB_H */
