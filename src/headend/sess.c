/*
 * sess — DL/T 645 transaction state machine (see the diagram in sess.h).
 */
#include "sess.h"

#include "ah_clock.h"
#include "ah_err.h"

#include <poll.h>
#include <string.h>

/* Build the frame for the current step: the first request, or a 12H
 * follow-up carrying the next SEQ (protocols.md §1.6). */
static int build_request(struct sess *s, bool followup)
{
    const struct sess_req *r = &s->req;
    int n;
    if (followup)
        n = dlt645_req_read_next(s->tx, sizeof s->tx, &r->addr, r->di, s->reasm.next_seq);
    else if (r->func == DLT645_F_READ_ADDR)
        n = dlt645_req_read_addr(s->tx, sizeof s->tx);
    else if (r->proto == DLT645_1997)
        n = dlt645_req_read_1997(s->tx, sizeof s->tx, &r->addr, (uint16_t)r->di);
    else if (r->with_time)
        n = dlt645_req_read_n_time(s->tx, sizeof s->tx, &r->addr, r->di, r->n, &r->t);
    else if (r->with_n)
        n = dlt645_req_read_n(s->tx, sizeof s->tx, &r->addr, r->di, r->n);
    else
        n = dlt645_req_read(s->tx, sizeof s->tx, &r->addr, r->di);
    if (n < 0)
        return n;
    s->txlen = (size_t)n;
    s->attempt = 0;
    s->state = SESS_SEND;
    return AH_OK;
}

int sess_start(struct sess *s, const struct sess_req *r)
{
    struct sess_stats keep = s->stats;
    memset(s, 0, sizeof *s);
    s->stats = keep;
    s->req = *r;
    if (r->timeout_ms <= 0 || r->retries < 0)
        return AH_EINVAL;
    dlt645_parser_init(&s->parser);
    dlt645_reasm_init(&s->reasm);
    s->result = AH_EAGAIN;
    return build_request(s, false);
}

const uint8_t *sess_tx(const struct sess *s, size_t *len)
{
    *len = s->state == SESS_SEND ? s->txlen : 0;
    return s->tx;
}

void sess_sent(struct sess *s, int64_t now_ms)
{
    if (s->state != SESS_SEND)
        return;
    dlt645_parser_reset(&s->parser);
    s->saw_bad = false;
    s->saw_wrong_addr = false;
    s->bad_rc = AH_ECHECKSUM;
    s->sent_ms = now_ms;
    s->deadline_ms = now_ms + s->req.timeout_ms;
    s->state = SESS_WAIT;
    s->stats.requests++;
}

static void finish(struct sess *s, int result)
{
    s->result = result;
    s->state = result == AH_OK ? SESS_DONE : SESS_FAILED;
}

/* A lost or corrupted exchange: resend the same frame while attempts are
 * left. A corrupted reply means the meter is done talking, so resending at
 * once is safe on a half-duplex bus. */
static void attempt_failed(struct sess *s, int why)
{
    if (s->attempt < s->req.retries) {
        s->attempt++;
        s->stats.retries++;
        s->state = SESS_SEND;
        return;
    }
    finish(s, why);
}

static void on_frame(struct sess *s, const struct dlt645_frame *f, int64_t now_ms)
{
    struct dlt645_reply rep;
    const struct sess_req *r = &s->req;
    bool followup = s->reasm.next_seq > 0;

    if (r->func == DLT645_F_READ_ADDR) {
        /* 93H carries the meter's real address as DATA (§1.4). */
        if (dlt645_is_reply(f) && dlt645_func(f) == DLT645_F_READ_ADDR &&
            !dlt645_is_abnormal(f) && f->len == DLT645_ADDR_LEN) {
            memcpy(s->reply_addr.b, f->data, DLT645_ADDR_LEN);
            s->rtt_ms = now_ms - s->sent_ms;
            finish(s, AH_OK);
        }
        return;
    }
    uint8_t func = followup ? DLT645_F_READ_NEXT
                            : (r->proto == DLT645_1997 ? DLT645_97_READ : r->func);
    if (dlt645_reply_classify(f, r->proto, &r->addr, func, r->di, &rep) != AH_OK)
        return;
    switch (rep.kind) {
    case DLT645_R_OTHER:
        /* not ours (another meter's echo on the bus): keep waiting, but an
         * answer to our function from another address is remembered, so a
         * timeout can say what really happened (issue 17 item 8) */
        if (dlt645_is_reply(f) && dlt645_func(f) == func &&
            !dlt645_addr_match(&r->addr, &f->addr))
            s->saw_wrong_addr = true;
        return;
    case DLT645_R_ERROR:
        s->err_word = rep.err;
        s->rtt_ms = now_ms - s->sent_ms;
        finish(s, AH_EMETER); /* an answer, not a link failure: no retry */
        return;
    case DLT645_R_DATA:
    case DLT645_R_DATA_MORE:
        /* a follow-up's answer carries the SEQ asked (§1.6). Another SEQ
         * is the late answer to an earlier 12H that the timeout sent again:
         * taken as this chunk it would double a piece of the data and ask
         * for a SEQ past the end, which the meter refuses (ERR) */
        if (followup && r->proto == DLT645_2007 && rep.seq != s->reasm.next_seq)
            return;
        s->rtt_ms = now_ms - s->sent_ms;
        if (dlt645_reasm_add(&s->reasm, rep.payload, rep.payload_len) != AH_OK) {
            finish(s, AH_EOVERFLOW);
            return;
        }
        if (rep.kind == DLT645_R_DATA) {
            finish(s, AH_OK);
            return;
        }
        s->stats.followups++;
        /* dlt645_reasm_add counted the chunk: next_seq is the SEQ to ask */
        if (s->reasm.next_seq == 0 || build_request(s, true) != AH_OK)
            finish(s, AH_EFRAME);
        return;
    }
}

void sess_on_bytes(struct sess *s, const uint8_t *p, size_t n, int64_t now_ms)
{
    /* Parse until the parser needs more: after a false start it may hold a
     * complete real frame that it reports on a call with no new bytes. */
    while (s->state == SESS_WAIT) {
        struct dlt645_frame f;
        enum dlt645_parse_status st;
        size_t used = dlt645_parse(&s->parser, p, n, &f, &st);
        p += used;
        n -= used;
        if (st == DLT645_FRAME_OK) {
            on_frame(s, &f, now_ms);
        } else if (st != DLT645_NEED_MORE) {
            /* A corrupted frame: the real reply may still follow (junk that
             * looked like a frame), so wait one inter-byte gap for it
             * (Tb <= 500 ms, §1.5) instead of the whole timeout. */
            s->stats.bad_frames++;
            s->saw_bad = true;
            s->bad_rc = st == DLT645_BAD_LENGTH ? AH_EFRAMELEN
                        : st == DLT645_BAD_END  ? AH_EFRAME
                                                : AH_ECHECKSUM;
            if (s->deadline_ms > now_ms + SESS_BAD_FRAME_GRACE_MS)
                s->deadline_ms = now_ms + SESS_BAD_FRAME_GRACE_MS;
        } else {
            break;
        }
    }
    s->stats.junk_bytes = s->parser.junk_bytes;
}

void sess_on_tick(struct sess *s, int64_t now_ms)
{
    if (s->state == SESS_WAIT && now_ms >= s->deadline_ms) {
        if (s->saw_bad) {
            attempt_failed(s, s->bad_rc);
        } else if (s->saw_wrong_addr) {
            attempt_failed(s, AH_EADDR);
        } else {
            s->stats.timeouts++;
            attempt_failed(s, AH_ETIMEDOUT);
        }
    }
}

void sess_on_link_error(struct sess *s, int err)
{
    if (s->state == SESS_SEND || s->state == SESS_WAIT)
        finish(s, err);
}

const uint8_t *sess_payload(const struct sess *s, size_t *len)
{
    *len = s->state == SESS_DONE ? s->reasm.len : 0;
    return s->reasm.data;
}

int sess_run_sync(struct sess *s, link_t *l, const struct sess_req *r)
{
    int rc = sess_start(s, r);
    if (rc != AH_OK)
        return rc;
    while (s->state == SESS_SEND || s->state == SESS_WAIT) {
        if (s->state == SESS_SEND) {
            size_t n;
            const uint8_t *tx = sess_tx(s, &n);
            link_flush_input(l); /* a late reply to an earlier try is stale */
            rc = link_write_all(l, tx, n, r->timeout_ms);
            if (rc != AH_OK) {
                sess_on_link_error(s, rc);
                break;
            }
            sess_sent(s, ah_mono_ms());
            continue;
        }
        int64_t left = s->deadline_ms - ah_mono_ms();
        struct pollfd pfd = {.fd = link_fd(l), .events = POLLIN};
        int pr = left > 0 ? poll(&pfd, 1, (int)left) : 0;
        if (pr > 0) {
            uint8_t buf[512];
            ssize_t got = link_read(l, buf, sizeof buf);
            if (got > 0)
                sess_on_bytes(s, buf, (size_t)got, ah_mono_ms());
            else if (got != AH_EAGAIN)
                sess_on_link_error(s, (int)got);
        }
        sess_on_tick(s, ah_mono_ms());
    }
    return s->result;
}
