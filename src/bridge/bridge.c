/*
 * bridge — the publish loop (bridge.h). All state that matters after a
 * crash (where the subject ends) is re-read from JetStream on every
 * (re)start and after every refusal; the process itself holds only the
 * batch in flight.
 */
#include "bridge.h"

#include "ah_clock.h"
#include "ah_err.h"
#include "ah_log.h"
#include "jsb.h"
#include "jsx.h"
#include "kout.h"
#include "sub.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define F(x) offsetof(struct bridge_cfg, x)
#define S(x) sizeof(((struct bridge_cfg *)0)->x)
const struct scfg_key bridge_keys[] = {
    {"headend", SCFG_SEG, F(headend), S(headend), 0, 0, NULL, "amihead's headend.id"},
    {"feed", SCFG_STR, F(feed), S(feed), 0, 0, "tcp://127.0.0.1:5556", "export.pub"},
    {"replay", SCFG_STR, F(replay), S(replay), 0, 0, "tcp://127.0.0.1:5557",
     "export.replay"},
    JSX_CFG_KEYS(struct bridge_cfg, js),
    {"batch_max", SCFG_INT, F(batch_max), 0, 1, JSB_COUNT_MAX, "256", "bodies per batch"},
    {"batch_ms", SCFG_INT, F(batch_ms), 0, 1, 10000, "50",
     "longest wait to fill a batch"},
    {"start_seq", SCFG_INT, F(start_seq), 0, 1, INT64_MAX, "1",
     "first sequence when the subject is empty"},
    {"kafka_brokers", SCFG_STR, F(kafka_brokers), S(kafka_brokers), 0, 0, "",
     "optional Kafka output, bootstrap servers; empty = off"},
    {"kafka_topic", SCFG_SEG, F(kafka_topic), S(kafka_topic), 0, 0, "ami.feed",
     "Kafka topic (records keyed by head-end)"},
};
const size_t bridge_nkeys = sizeof bridge_keys / sizeof bridge_keys[0];
#undef F
#undef S

struct bridge {
    const struct bridge_cfg *c;
    volatile sig_atomic_t *stop;
    struct bridge_stats *st;
    jsx_t *js;
    kout_t *kafka; /* NULL = no Kafka output */
    sub_t *sub;
    char subject[160];
    uint64_t subj_seq; /* stream sequence of the subject's last message, 0 = none */
    uint64_t next;     /* next export sequence to publish */
    uint64_t prev;     /* last sequence stored on the subject, 0 = none */
    struct jsb batch;
    char *buf;
    bool resumed; /* resume() ran: drop the message in hand, the feed restarts */
};

/* Where the subject ends, then a feed from there. Retries until stopped. */
static int resume(struct bridge *b)
{
    sub_destroy(&b->sub);
    jsb_reset(&b->batch);
    b->resumed = true;
    for (long wait = 100; !*b->stop; jsx_backoff(&wait, 2000)) {
        uint64_t s = 0, last = 0;
        int rc = jsx_last(b->js, b->subject, &s, &last);
        if (rc == AH_ENOENT) {
            b->subj_seq = 0;
            b->prev = 0;
            b->next = (uint64_t)b->c->start_seq;
        } else if (rc == AH_OK) {
            b->subj_seq = s;
            b->prev = last;
            b->next = last + 1;
        } else {
            ah_log(AH_LOG_WARN, b->subject,
                   "cannot read where the subject ends (%s); retrying",
                   rc == AH_EIO ? "its last message has no Ami-Last header"
                                : ah_strerror(rc));
            continue;
        }
        struct sub_opts so = {.endpoint = b->c->feed,
                              .replay = b->c->replay,
                              .from_seq = b->next,
                              .idle_ms = 200};
        if ((rc = sub_new(&so, &b->sub)) != AH_OK)
            return rc;
        ah_log(AH_LOG_INFO, b->subject,
               "resume at seq %" PRIu64 " (subject's last stream seq %" PRIu64 ")",
               b->next, b->subj_seq);
        return AH_OK;
    }
    return AH_OK;
}

/* Publish the batch in hand until JetStream has it, or resume when it
 * refuses (the subject moved: another bridge, or our own earlier attempt
 * under a different id). */
static int flush(struct bridge *b)
{
    if (!b->batch.count)
        return AH_OK;
    size_t len = jsb_finish(&b->batch);
    char id[JSB_MSGID_MAX];
    int rc = jsb_msgid(id, sizeof id, b->c->headend, b->batch.first, b->batch.last);
    if (rc)
        return rc;
    struct jsx_batch jb = {
        b->subject,    id,          b->c->headend, b->prev, b->batch.first,
        b->batch.last, b->subj_seq, b->buf,        len};
    bool kafka_done = !b->kafka;
    for (long wait = 50; !*b->stop; jsx_backoff(&wait, 1000)) {
        uint64_t seq = 0;
        bool dup = false;
        if (!kafka_done) {
            if (kout_send(b->kafka, b->c->headend, b->prev, b->batch.first, b->batch.last,
                          b->buf, len) != AH_OK) {
                b->st->retries++;
                continue;
            }
            kafka_done = true;
            b->st->kafka++;
        }
        rc = jsx_publish(b->js, &jb, &seq, &dup);
        if (rc == AH_OK) {
            b->subj_seq = seq;
            b->prev = b->batch.last;
            b->next = b->batch.last + 1;
            b->st->batches++;
            b->st->messages += b->batch.count;
            b->st->duplicates += dup;
            if (dup)
                ah_log(AH_LOG_INFO, b->subject,
                       "batch %s was already stored (a re-send, or a second bridge)", id);
            jsb_reset(&b->batch);
            return AH_OK;
        }
        if (rc == AH_EBUSY) {
            ah_log(AH_LOG_WARN, b->subject,
                   "batch %s refused: the subject moved past stream seq %" PRIu64
                   " (another bridge for this head-end?); resuming from the stream",
                   id, b->subj_seq);
            b->st->resyncs++;
            return resume(b);
        }
        b->st->retries++;
    }
    return AH_OK; /* stopped with the batch unsent: the next start resends it */
}

static int add(struct bridge *b, const struct sub_msg *m)
{
    if (m->seq < b->next && !b->batch.count)
        return AH_OK; /* already in the stream */
    uint64_t want = b->batch.count ? b->batch.last + 1 : b->next;
    if (m->seq != want) {
        /* sub_ gave up on a range the head-end no longer retains */
        ah_log(AH_LOG_ERROR, b->subject,
               "messages %" PRIu64 "..%" PRIu64 " lost: expired at the head-end", want,
               m->seq - 1);
        b->st->lost += m->seq - want;
        int rc = flush(b);
        if (rc || b->resumed)
            return rc;
        b->next = m->seq;
    }
    int rc = jsb_append(&b->batch, m->seq, m->body, m->body_len);
    if (rc == AH_EOVERFLOW) {
        if ((rc = flush(b)) != AH_OK || b->resumed)
            return rc;
        rc = jsb_append(&b->batch, m->seq, m->body, m->body_len);
    }
    return rc;
}

static int loop(struct bridge *b)
{
    int64_t batch_deadline = 0;
    while (!*b->stop) {
        if (!b->sub) {
            int rc = resume(b);
            if (rc)
                return rc;
            continue;
        }
        int wait = 200;
        if (b->batch.count) {
            int64_t left = batch_deadline - ah_mono_ms();
            wait = left > 0 ? (int)left : 0;
        }
        struct sub_msg m;
        int rc = sub_next(b->sub, wait, &m);
        if (rc == AH_OK) {
            bool empty = !b->batch.count;
            b->resumed = false;
            if ((rc = add(b, &m)) != AH_OK)
                return rc;
            if (b->resumed)
                continue;
            if (empty && b->batch.count)
                batch_deadline = ah_mono_ms() + b->c->batch_ms;
            if (b->batch.count < (uint32_t)b->c->batch_max)
                continue;
        } else if (rc != AH_ETIMEDOUT) {
            return rc;
        }
        if (b->batch.count &&
            (b->batch.count >= (uint32_t)b->c->batch_max ||
             ah_mono_ms() >= batch_deadline) &&
            (rc = flush(b)) != AH_OK)
            return rc;
    }
    return AH_OK;
}

int bridge_run(const struct bridge_cfg *c, volatile sig_atomic_t *stop,
               struct bridge_stats *stats)
{
    struct bridge_stats dummy = {0};
    struct bridge b = {.c = c, .stop = stop, .st = stats ? stats : &dummy};
    snprintf(b.subject, sizeof b.subject, "%s.%s", c->js.subject_prefix, c->headend);
    if (!(b.buf = malloc(JSB_PAYLOAD_MAX)))
        return AH_ENOMEM;
    jsb_init(&b.batch, b.buf, JSB_PAYLOAD_MAX);
    int rc = AH_OK;
    if (c->kafka_brokers[0]) {
        struct kout_opts ko = {c->kafka_brokers, c->kafka_topic, (int)c->js.timeout_ms};
        if ((rc = kout_new(&ko, &b.kafka)) != AH_OK) {
            free(b.buf);
            return rc;
        }
    }
    rc = jsx_open(&c->js, b.subject, stop, &b.js);
    if (!rc && b.js)
        rc = loop(&b);
    sub_destroy(&b.sub);
    jsx_destroy(&b.js);
    kout_destroy(&b.kafka);
    free(b.buf);
    return rc;
}
