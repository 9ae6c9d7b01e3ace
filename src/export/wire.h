/*
 * wire — the messages amihead publishes to billing over ZeroMQ (DESIGN.md §7,
 * docs/wire-format.md, docs/wire-format.schema.json): topics, JSON bodies,
 * the outbox record that keeps the exact published bytes, and the replay
 * request/reply of the replay endpoint.
 *
 * Pure: no I/O, no allocation, no logging, no clock (the publish time is an
 * argument). Encoders write into caller buffers and fail with AH_EOVERFLOW
 * rather than truncate. The replay request parser reads outside bytes and
 * trusts nothing (fuzz target tests/fuzz/fuzz_wire_replay.c).
 *
 * Every body is one JSON object carrying "v" (WIRE_SCHEMA_VERSION), "type",
 * "headend" and "seq" (gapless, one counter for all topics), so that a
 * subscriber detects a lost message whatever it subscribed to.
 */
#ifndef AH_WIRE_H
#define AH_WIRE_H

#include "ah_read.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* docs/wire-format.md "Versioning": bumped when a field changes meaning or
 * disappears; adding a field keeps the version. */
#define WIRE_SCHEMA_VERSION 1

/* A topic segment (district, meter id, anomaly type, gap reason):
 * 1..WIRE_SEG_MAX of [A-Za-z0-9_.:-], so that it can never contain the '/'
 * separator or anything a JSON string would have to escape. */
#define WIRE_SEG_MAX 64
/* Longest topic: "anomaly/" + type + "/" + meter. */
#define WIRE_TOPIC_MAX (8 + WIRE_SEG_MAX + 1 + WIRE_SEG_MAX)
/* Longest body any encoder writes (a full three-phase read is ~900 bytes). */
#define WIRE_BODY_MAX 2048
/* Most evidence items or daily flags in one message. */
#define WIRE_ITEMS_MAX 16

/* Most messages one replay reply carries; larger ranges are refused so that
 * a reply is bounded (the client asks again from where it stopped). */
#define WIRE_REPLAY_MAX_COUNT 1000u
/* Longest replay request frame accepted ("replay " + 2 × 20 digits + 1). */
#define WIRE_REPLAY_REQ_MAX 48
/* Buffer enough for any replay reply header. */
#define WIRE_REPLY_HDR_MAX 256

/* Common fields of every body. */
struct wire_head {
    const char *headend;  /* borrowed; a segment (wire_segment_ok) */
    uint64_t seq;         /* >= 1 */
    int64_t published_ms; /* UTC ms, when the message was staged */
};

/* read/<district>/<meter>: a clean or released interval read (its end is
 * read->end). Only the fields the store's record holds are published
 * (store_rec.h); absent ones are omitted / null. */
struct wire_read {
    const char *meter;          /* borrowed segment */
    const char *district;       /* borrowed segment */
    const struct ah_read *read; /* borrowed */
};

/* anomaly/<type>/<meter>: a validation episode of one meter. */
enum wire_episode { WIRE_EP_START, WIRE_EP_ONGOING, WIRE_EP_CLEARED };

/* A scaled decimal: raw / 10^dec, printed exactly. */
struct wire_item {
    const char *name; /* borrowed segment */
    int64_t raw;
    uint8_t dec; /* 0..9 */
};

struct wire_anomaly {
    const char *meter;    /* borrowed segment */
    const char *district; /* borrowed segment */
    const char *type;     /* borrowed segment, reference/vee.md flag, e.g. "STOPPED" */
    enum wire_episode state;
    uint64_t at;      /* interval end the episode refers to, UTC seconds */
    uint32_t quality; /* VEE reason bits of that read */
    const struct wire_item *evidence; /* borrowed, n_evidence <= WIRE_ITEMS_MAX */
    size_t n_evidence;
};

/* gap/<meter>: intervals that could not be collected (never estimated). */
struct wire_gap {
    const char *meter;    /* borrowed segment */
    const char *district; /* borrowed segment */
    uint64_t first;       /* first missing interval end, UTC seconds */
    uint64_t last;        /* last missing interval end, >= first */
    uint32_t step_s;      /* interval length, > 0 */
    const char *reason;   /* borrowed segment, e.g. "no-answer" */
};

/* daily/<district>: district totals of one local day. */
struct wire_daily {
    const char *district; /* borrowed segment */
    uint16_t year;        /* local day (the configured time zone) */
    uint8_t month, day;
    bool complete;            /* every customer interval collected */
    uint32_t expected;        /* customer intervals expected in the day */
    uint32_t collected;       /* of which collected, <= expected */
    int64_t district_kwh;     /* 0.01 kWh, district (feeder) meter */
    int64_t customers_kwh;    /* 0.01 kWh, sum of customer meters */
    int64_t loss_rate;        /* 0.01 %; only published when complete */
    const char *const *flags; /* borrowed segments, e.g. "LINE_LOSS_SWING" */
    size_t n_flags;           /* <= WIRE_ITEMS_MAX */
};

/* Whether s is a valid topic segment (see WIRE_SEG_MAX). */
bool wire_segment_ok(const char *s);

/*
 * Encoders: topic (NUL-terminated) into topic[0 .. tcap), body (not
 * NUL-terminated) into body[0 .. bcap). *tlen / *blen receive the lengths.
 * AH_EINVAL for a bad segment, seq 0 or an out-of-range field; AH_EOVERFLOW
 * when a buffer is too small (WIRE_TOPIC_MAX + 1 and WIRE_BODY_MAX always
 * suffice).
 */
int wire_encode_read(const struct wire_head *h, const struct wire_read *r, char *topic,
                     size_t tcap, size_t *tlen, char *body, size_t bcap, size_t *blen);
int wire_encode_anomaly(const struct wire_head *h, const struct wire_anomaly *a,
                        char *topic, size_t tcap, size_t *tlen, char *body, size_t bcap,
                        size_t *blen);
int wire_encode_gap(const struct wire_head *h, const struct wire_gap *g, char *topic,
                    size_t tcap, size_t *tlen, char *body, size_t bcap, size_t *blen);
int wire_encode_daily(const struct wire_head *h, const struct wire_daily *d, char *topic,
                      size_t tcap, size_t *tlen, char *body, size_t bcap, size_t *blen);

/* The seq of a body that opens exactly as head_begin writes every body:
 * {"v":N,"type":"T","headend":"H","seq":S followed by ',' or '}' (S without
 * leading zeros, at most 19 digits, T and H without '"' or '\\'); 0 when it
 * opens otherwise (the caller then parses the JSON). Lets a subscriber
 * check the sequence without building a JSON tree per message, which cost
 * more CPU than publishing it. Reads outside bytes (fuzz_wire_replay). */
uint64_t wire_body_seq(const char *body, size_t len);

/* ---- outbox record ----------------------------------------------------
 * The value of an outbox key: version 1, published_ms (u64 BE), topic
 * length (u16 BE), topic, body. Topic and body are the exact bytes of the
 * two published frames; published_ms lets retention work by age without
 * parsing JSON. */
#define WIRE_OUTBOX_VERSION 1
#define WIRE_OUTBOX_HDR     11
#define WIRE_OUTBOX_MAX     (WIRE_OUTBOX_HDR + WIRE_TOPIC_MAX + WIRE_BODY_MAX)

struct wire_outbox_view {
    int64_t published_ms;
    const char *topic; /* points into the record */
    size_t topic_len;
    const char *body; /* points into the record */
    size_t body_len;
};

/* Returns the record length or AH_EOVERFLOW / AH_EINVAL (empty topic). */
int wire_outbox_encode(int64_t published_ms, const char *topic, size_t tlen,
                       const char *body, size_t blen, uint8_t *out, size_t cap);
/* AH_ENOTSUP for an unknown version, AH_EFRAME for a record that does not
 * hold together. The view borrows from p. */
int wire_outbox_decode(const uint8_t *p, size_t n, struct wire_outbox_view *v);

/* ---- replay ------------------------------------------------------------
 * Request: one frame of ASCII, exactly
 *     "replay FIRST LAST"   messages FIRST..LAST inclusive, decimal
 *     "info"                only the header (oldest retained, next)
 * Reply: one multipart message: a header frame (JSON, see encoders below)
 * followed, for "ok" replays, by topic and body frames of each message in
 * sequence order. */
enum wire_replay_op { WIRE_REPLAY_RANGE, WIRE_REPLAY_INFO };

struct wire_replay_req {
    enum wire_replay_op op;
    uint64_t first, last; /* RANGE only */
};

/* Parse one request frame. AH_EFRAME for anything but the grammar above
 * (including numbers above UINT64_MAX, signs, spaces, trailing bytes). */
int wire_replay_parse(const uint8_t *p, size_t n, struct wire_replay_req *out);

enum wire_replay_status {
    WIRE_REPLAY_OK,
    WIRE_REPLAY_BAD_REQUEST, /* not a request */
    WIRE_REPLAY_INVALID,     /* FIRST 0 or LAST < FIRST */
    WIRE_REPLAY_TOO_LARGE,   /* more than WIRE_REPLAY_MAX_COUNT messages */
    WIRE_REPLAY_EXPIRED,     /* FIRST below the oldest retained message */
    WIRE_REPLAY_NOT_YET,     /* LAST not published yet (>= next) */
    WIRE_REPLAY_UNAVAILABLE, /* the store failed */
};

/* The status a range request gets when oldest is the first retained
 * sequence and next the first not yet published. */
enum wire_replay_status wire_replay_check(const struct wire_replay_req *r,
                                          uint64_t oldest, uint64_t next);

/* Stable name of a status ("ok", "bad-request", "invalid", ...). */
const char *wire_replay_status_name(enum wire_replay_status st);

/* Reply header: {"v","type":"replay","status":"ok","first","last","count",
 * "oldest","next"} (first/last only when count > 0) or {... "status":
 * "<error>","error": text,"oldest","next"}. Returns length or AH_EOVERFLOW. */
int wire_replay_header(enum wire_replay_status st, uint64_t first, uint64_t last,
                       uint64_t count, uint64_t oldest, uint64_t next, char *out,
                       size_t cap);

#endif /* AH_WIRE_H */
