/*
 * sub — ordered, gap-filling subscriber of the export (sub.h). It trusts
 * nothing from the head-end beyond the documented wire format: bodies
 * without a sequence number are dropped, replies that do not answer the
 * request in flight are discarded. It must not block longer than asked.
 */
#include "sub.h"

#include "ah_clock.h"
#include "ah_err.h"
#include "ah_log.h"
#include "wire.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

/* Reordered messages held at most (a bound on memory, not on correctness:
 * beyond it the subscriber stops reading live until replay drains). */
#define SUB_READY_MAX 100000u

struct item {
    uint64_t seq;
    char *topic;
    size_t tlen;
    char *body;
    size_t blen;
};

struct sub {
    void *ctx, *sub, *dealer;
    char topic[WIRE_TOPIC_MAX + 1];
    size_t topic_len;
    int replay_timeout_ms, idle_ms;
    uint64_t expect; /* next sequence to deliver, 0 = not known yet */
    bool check_due;  /* ask "info" before waiting on live */
    struct item *ready;
    size_t head, n, cap;
    struct item cur, held;
    bool has_held;
    uint64_t lost, replayed;
};

static void item_free(struct item *it)
{
    free(it->topic);
    free(it->body);
    memset(it, 0, sizeof *it);
}

static int item_make(struct item *it, uint64_t seq, const void *t, size_t tl,
                     const void *b, size_t bl)
{
    it->topic = malloc(tl + 1);
    it->body = malloc(bl + 1);
    if (!it->topic || !it->body) {
        item_free(it);
        return AH_ENOMEM;
    }
    memcpy(it->topic, t, tl);
    it->topic[tl] = '\0';
    memcpy(it->body, b, bl);
    it->body[bl] = '\0';
    it->tlen = tl;
    it->blen = bl;
    it->seq = seq;
    return AH_OK;
}

static int ready_push(struct sub *s, struct item *it)
{
    if (s->head == s->n)
        s->head = s->n = 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        struct item *r = realloc(s->ready, cap * sizeof *r);
        if (!r)
            return AH_ENOMEM;
        s->ready = r;
        s->cap = cap;
    }
    s->ready[s->n++] = *it;
    memset(it, 0, sizeof *it);
    return AH_OK;
}

static bool topic_match(const struct sub *s, const char *t, size_t tl)
{
    return tl >= s->topic_len && !memcmp(t, s->topic, s->topic_len);
}

/* The "seq" of a body, 0 if it has none. */
static uint64_t body_seq(const void *b, size_t bl)
{
    uint64_t fast = wire_body_seq(b, bl);
    if (fast)
        return fast;
    json_t *j = json_loadb(b, bl, 0, NULL);
    json_t *v = j ? json_object_get(j, "seq") : NULL;
    uint64_t seq = 0;
    if (json_is_integer(v) && json_integer_value(v) > 0)
        seq = (uint64_t)json_integer_value(v);
    json_decref(j);
    return seq;
}

static void curve_client(void *sock, const struct sub_opts *o, int *rc)
{
    if (*rc || !o->server_key)
        return;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, o->server_key,
                       strlen(o->server_key) + 1) ||
        zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, o->public_key,
                       strlen(o->public_key) + 1) ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, o->secret_key,
                       strlen(o->secret_key) + 1))
        *rc = AH_EINVAL;
}

int sub_new(const struct sub_opts *o, sub_t **out)
{
    if (!o || !o->endpoint || !out)
        return AH_EINVAL;
    if (o->server_key) {
        if (!zmq_has("curve"))
            return AH_ENOTSUP;
        if (!o->public_key || !o->secret_key || strlen(o->server_key) != 40 ||
            strlen(o->public_key) != 40 || strlen(o->secret_key) != 40)
            return AH_EINVAL;
    }
    const char *topic = o->topic ? o->topic : "";
    if (strlen(topic) > WIRE_TOPIC_MAX)
        return AH_EINVAL;
    struct sub *s = calloc(1, sizeof *s);
    if (!s)
        return AH_ENOMEM;
    int rc = AH_OK, zero = 0;
    snprintf(s->topic, sizeof s->topic, "%s", topic);
    s->topic_len = strlen(s->topic);
    s->replay_timeout_ms = o->replay_timeout_ms > 0 ? o->replay_timeout_ms : 2000;
    s->idle_ms = o->idle_ms > 0 ? o->idle_ms : 500;
    s->expect = o->from_seq;
    s->check_due = o->from_seq != 0;
    if (!(s->ctx = zmq_ctx_new()) || !(s->sub = zmq_socket(s->ctx, ZMQ_SUB))) {
        rc = AH_ENOMEM;
        goto out_free;
    }
    zmq_setsockopt(s->sub, ZMQ_LINGER, &zero, sizeof zero);
    if (o->rcvhwm > 0)
        zmq_setsockopt(s->sub, ZMQ_RCVHWM, &o->rcvhwm, sizeof o->rcvhwm);
    curve_client(s->sub, o, &rc);
    if (!rc && zmq_setsockopt(s->sub, ZMQ_SUBSCRIBE, s->topic, s->topic_len))
        rc = AH_EINVAL;
    if (!rc && zmq_connect(s->sub, o->endpoint))
        rc = AH_EINVAL;
    if (!rc && o->replay) {
        if (!(s->dealer = zmq_socket(s->ctx, ZMQ_DEALER)))
            rc = AH_ENOMEM;
        else
            zmq_setsockopt(s->dealer, ZMQ_LINGER, &zero, sizeof zero);
        curve_client(s->dealer, o, &rc);
        if (!rc && zmq_connect(s->dealer, o->replay))
            rc = AH_EINVAL;
    }
    if (rc)
        goto out_free;
    *out = s;
    return AH_OK;
out_free:
    sub_destroy(&s);
    return rc;
}

void sub_destroy(sub_t **sp)
{
    if (!sp || !*sp)
        return;
    struct sub *s = *sp;
    if (s->sub)
        zmq_close(s->sub);
    if (s->dealer)
        zmq_close(s->dealer);
    if (s->ctx)
        zmq_ctx_term(s->ctx);
    for (size_t i = s->head; i < s->n; i++)
        item_free(&s->ready[i]);
    free(s->ready);
    item_free(&s->cur);
    item_free(&s->held);
    free(s);
    *sp = NULL;
}

uint64_t sub_lost(const sub_t *s)
{
    return s->lost;
}

uint64_t sub_replayed(const sub_t *s)
{
    return s->replayed;
}

/* Receive every frame of one message (up to max kept). Returns the number
 * of frames, 0 on timeout. */
static int recv_all(void *sock, zmq_msg_t *f, int max, int timeout_ms)
{
    zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, timeout_ms) <= 0)
        return 0;
    int n = 0;
    bool more = true;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, sock, 0) < 0) {
            zmq_msg_close(&m);
            break;
        }
        more = zmq_msg_more(&m);
        if (n < max)
            f[n++] = m;
        else
            zmq_msg_close(&m);
    }
    return n;
}

struct reply {
    char status[32];
    uint64_t first, last, count, oldest, next;
};

static bool header_parse(const zmq_msg_t *m, struct reply *r)
{
    json_t *j =
        json_loadb(zmq_msg_data((zmq_msg_t *)m), zmq_msg_size((zmq_msg_t *)m), 0, NULL);
    if (!j)
        return false;
    const char *st = json_string_value(json_object_get(j, "status"));
    snprintf(r->status, sizeof r->status, "%s", st ? st : "");
    json_int_t v;
#define GET(k)                                                                           \
    do {                                                                                 \
        v = json_integer_value(json_object_get(j, #k));                                  \
        r->k = v > 0 ? (uint64_t)v : 0;                                                  \
    } while (0)
    GET(first);
    GET(last);
    GET(count);
    GET(oldest);
    GET(next);
#undef GET
    json_decref(j);
    return st != NULL;
}

/* One request/reply on the DEALER. On AH_OK for an "ok" replay, the
 * messages were pushed to ready (filtered) and expect advanced. */
static int replay_once(struct sub *s, const char *req, uint64_t want_first,
                       struct reply *r)
{
    if (zmq_send(s->dealer, req, strlen(req), ZMQ_DONTWAIT) < 0)
        return AH_EAGAIN;
    int64_t deadline = ah_mono_ms() + s->replay_timeout_ms;
    for (;;) {
        int64_t left = deadline - ah_mono_ms();
        if (left <= 0)
            return AH_ETIMEDOUT;
        enum { MAXF = 2 * WIRE_REPLAY_MAX_COUNT + 1 };
        zmq_msg_t *f = malloc(MAXF * sizeof *f);
        if (!f)
            return AH_ENOMEM;
        int n = recv_all(s->dealer, f, MAXF, (int)left);
        int rc = AH_EAGAIN;
        if (n > 0 && header_parse(&f[0], r)) {
            bool is_info = !strcmp(req, "info");
            bool ours = is_info ? (n == 1 && r->count == 0)
                                : (strcmp(r->status, "ok") || r->first == want_first);
            if (ours && !strcmp(r->status, "ok") && r->count) {
                rc = AH_OK;
                if ((uint64_t)(n - 1) != 2 * r->count)
                    rc = AH_EFRAME;
                for (uint64_t i = 0; rc == AH_OK && i < r->count; i++) {
                    zmq_msg_t *t = &f[1 + 2 * i], *b = &f[2 + 2 * i];
                    uint64_t seq = body_seq(zmq_msg_data(b), zmq_msg_size(b));
                    if (seq != r->first + i) {
                        rc = AH_EFRAME;
                        break;
                    }
                    if (seq < s->expect ||
                        !topic_match(s, zmq_msg_data(t), zmq_msg_size(t)))
                        continue;
                    struct item it;
                    if ((rc = item_make(&it, seq, zmq_msg_data(t), zmq_msg_size(t),
                                        zmq_msg_data(b), zmq_msg_size(b))) == AH_OK &&
                        (rc = ready_push(s, &it)) == AH_OK)
                        s->replayed++;
                }
                if (rc == AH_OK && r->last + 1 > s->expect)
                    s->expect = r->last + 1;
            } else if (ours) {
                rc = AH_OK;
            }
        }
        for (int i = 0; i < n; i++)
            zmq_msg_close(&f[i]);
        free(f);
        if (rc != AH_EAGAIN)
            return rc; /* a stale reply (AH_EAGAIN) is skipped */
    }
}

/* Fill expect..last (inclusive) from replay. */
static int fill(struct sub *s, uint64_t last)
{
    while (s->expect <= last) {
        uint64_t hi = last - s->expect >= WIRE_REPLAY_MAX_COUNT
                          ? s->expect + WIRE_REPLAY_MAX_COUNT - 1
                          : last;
        char req[WIRE_REPLAY_REQ_MAX + 1];
        snprintf(req, sizeof req, "replay %llu %llu", (unsigned long long)s->expect,
                 (unsigned long long)hi);
        struct reply r;
        int rc = replay_once(s, req, s->expect, &r);
        if (rc)
            return rc;
        if (!strcmp(r.status, "ok"))
            continue;
        if (!strcmp(r.status, "expired") && r.oldest > s->expect) {
            uint64_t to = r.oldest;
            ah_log(AH_LOG_WARN, "sub", "messages %llu..%llu expired before replay",
                   (unsigned long long)s->expect, (unsigned long long)(to - 1));
            s->lost += to - s->expect;
            s->expect = to;
            continue;
        }
        ah_log(AH_LOG_WARN, "sub", "replay %s: %s", req, r.status);
        return AH_EAGAIN;
    }
    return AH_OK;
}

static int info_fill(struct sub *s)
{
    struct reply r;
    int rc = replay_once(s, "info", 0, &r);
    if (rc)
        return rc;
    if (s->expect == 0) /* nothing seen yet: start from what comes next */
        s->expect = r.next;
    if (r.next > s->expect)
        return fill(s, r.next - 1);
    return AH_OK;
}

int sub_next(sub_t *s, int timeout_ms, struct sub_msg *out)
{
    item_free(&s->cur);
    int64_t deadline = ah_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        if (s->head < s->n) {
            s->cur = s->ready[s->head++];
            *out = (struct sub_msg){s->cur.seq, s->cur.topic, s->cur.tlen, s->cur.body,
                                    s->cur.blen};
            return AH_OK;
        }
        int64_t left = deadline - ah_mono_ms();
        if (s->has_held) {
            if (s->held.seq > s->expect && fill(s, s->held.seq - 1) != AH_OK) {
                if (left <= 0)
                    return AH_ETIMEDOUT;
                continue;
            }
            s->has_held = false;
            if (s->held.seq >= s->expect) {
                s->expect = s->held.seq + 1;
                int rc = ready_push(s, &s->held);
                if (rc)
                    return rc;
            } else {
                item_free(&s->held);
            }
            continue;
        }
        if (s->check_due && s->dealer) {
            s->check_due = false;
            (void)info_fill(s);
            continue;
        }
        if (left <= 0)
            return AH_ETIMEDOUT;
        if (s->n - s->head >= SUB_READY_MAX)
            continue;
        zmq_msg_t f[2];
        int n = recv_all(s->sub, f, 2, (int)(left < s->idle_ms ? left : s->idle_ms));
        if (n == 0) {
            s->check_due = true;
            continue;
        }
        uint64_t seq = n == 2 ? body_seq(zmq_msg_data(&f[1]), zmq_msg_size(&f[1])) : 0;
        struct item it = {0};
        int rc = AH_OK;
        if (seq && (s->expect == 0 || seq >= s->expect))
            rc = item_make(&it, seq, zmq_msg_data(&f[0]), zmq_msg_size(&f[0]),
                           zmq_msg_data(&f[1]), zmq_msg_size(&f[1]));
        for (int i = 0; i < n; i++)
            zmq_msg_close(&f[i]);
        if (rc)
            return rc;
        if (!it.topic)
            continue; /* no sequence, or already delivered through replay */
        if (s->expect == 0)
            s->expect = seq;
        if (seq == s->expect || !s->dealer) {
            s->lost += seq - s->expect;
            s->expect = seq + 1;
            if ((rc = ready_push(s, &it)) != AH_OK) {
                item_free(&it);
                return rc;
            }
        } else {
            s->held = it;
            s->has_held = true;
        }
    }
}
