/*
 * scheduler_link — a DL/T 645 link's transport inside the engine (see
 * scheduler_int.h): non-blocking TCP connect with backoff, drops, outages
 * said once (LINK_DOWN / LINK_UP), writing a request and reading its reply
 * into the link's session. Strictly one request in flight per link.
 */
#include "scheduler_int.h"

#include "ah_clock.h"
#include "ah_err.h"
#include "ah_log.h"

#include <string.h>
#include <sys/epoll.h>

/* Real ms until the next connect: doubling with the failures, but never
 * more than a quarter interval of the head-end clock, so the end of an
 * outage is seen within the cycle it ends in (at 60x a 60 s wait would be
 * an hour of simulated time). */
static int64_t reconnect_delay(const struct sched *s, const struct slink *L)
{
    int64_t d = cadence_reconnect_delay_ms(L->conn_fails);
    int64_t quarter = ah_clock_real_ms(s->clk, s->step_s * 1000 / 4);
    if (quarter < CADENCE_RECONNECT_MIN_MS)
        quarter = CADENCE_RECONNECT_MIN_MS;
    return d < quarter ? d : quarter;
}

void sched_link_drop(struct sched *s, struct slink *L, int why)
{
    if (L->up) {
        epoll_ctl(s->ep, EPOLL_CTL_DEL, link_fd(L->l), NULL);
        link_close(L->l);
        s->st.link_drops++;
        ah_log(AH_LOG_WARN, L->ctx, "link dropped: %s", ah_strerror(why));
        met_set(L->met.up, 0);
    }
    if (L->kind == SL_DIALIN)
        link_destroy(&L->l); /* the concentrator dials again */
    if (L->in_flight) {
        sess_on_link_error(&L->sess, why);
        L->in_flight = false;
    }
    L->probing = false;
    if (!L->down_since) /* until a reply proves the link again */
        L->down_since = ah_clock_now_ms(s->clk);
    L->up = false;
    L->job_begun = false; /* the meter's job restarts after reconnecting */
    /* a link that accepts and drops before any reply (a concentrator that
     * is half up, a port forward without a peer) keeps its failure streak:
     * the retries back off instead of hammering it every second */
    L->conn_fails = L->answered ? 1 : L->conn_fails + 1;
    L->answered = false;
    L->reconnect_at = ah_mono_ms() + reconnect_delay(s, L);
}

/* What to call the link in a message: its endpoint, or its name when a
 * dial-in link has no connection object. */
static const char *link_where(const struct slink *L)
{
    return L->l ? link_name(L->l) : L->cl->name;
}

/* A reply: the link works. Ends an outage (LINK_UP when LINK_DOWN was
 * said) and the failure streak the reconnect delay grows with. */
void sched_link_answered(struct sched *s, struct slink *L)
{
    L->answered = true;
    L->conn_fails = 0;
    if (L->outage_said) {
        char since[32];
        ah_time_format(L->down_since, since, sizeof since);
        int64_t now = ah_clock_now_ms(s->clk);
        ah_log(AH_LOG_WARN, L->ctx, "LINK_UP %s: back after %lld min down (since %s)",
               link_where(L), (long long)((now - L->down_since) / 60000), since);
        if (s->pipe && pipe_push_link(s->pipe, L->cl->name, link_where(L), true,
                                      L->down_since / 1000, now / 1000) != AH_OK)
            ah_log(AH_LOG_WARN, L->ctx, "LINK_UP event not stored: the pipeline is busy");
    }
    L->down_since = 0;
    L->outage_said = false;
}

/* An outage longer than one interval is said once when it passes that
 * length (LINK_DOWN) and once when the link is back (LINK_UP), with ISO
 * times of the head-end clock, not per retry. */
void sched_link_outage_check(struct sched *s, struct slink *L)
{
    if (!L->down_since || L->outage_said)
        return;
    int64_t now = ah_clock_now_ms(s->clk);
    if (now - L->down_since <= s->step_s * 1000)
        return;
    char since[32];
    ah_time_format(L->down_since, since, sizeof since);
    ah_log(AH_LOG_WARN, L->ctx,
           "LINK_DOWN %s: no reply through it since %s (%d attempts)", link_where(L),
           since, L->conn_fails);
    L->outage_said = true;
    met_add(L->met.outages, 1);
    if (s->pipe && pipe_push_link(s->pipe, L->cl->name, link_where(L), false,
                                  L->down_since / 1000, now / 1000) != AH_OK)
        ah_log(AH_LOG_WARN, L->ctx, "LINK_DOWN event not stored: the pipeline is busy");
}

static void link_connect_failed(struct sched *s, struct slink *L, int rc)
{
    L->conn_fails++;
    int64_t d = reconnect_delay(s, L);
    L->reconnect_at = ah_mono_ms() + d;
    ah_log(AH_LOG_WARN, L->ctx, "connect to %s failed: %s (retry in %lld ms)",
           link_name(L->l), ah_strerror(rc), (long long)d);
}

static void link_now_up(struct sched *s, struct slink *L)
{
    if (L->conn_fails > 0)
        s->st.reconnects++;
    /* conn_fails stays until a reply proves the link (sched_link_drop) */
    ah_log(AH_LOG_INFO, L->ctx, "connected to %s (%s)", link_name(L->l),
           link_backend(L->l));

    L->up = true;
    met_set(L->met.up, 1);
}

/* Open a TCP or serial link without blocking the loop: a TCP connect under
 * way is finished by sched_link_on_connect when the socket turns writable. */
void sched_link_try_connect(struct sched *s, struct slink *L)
{
    int rc = link_connect_start(L->l);
    if (rc == AH_OK || rc == AH_EAGAIN) {
        struct epoll_event ev = {.events = rc == AH_OK ? EPOLLIN | EPOLLRDHUP : EPOLLOUT};
        ev.data.u64 = EV_DATA(TAG_LINK, L - s->links);
        if (epoll_ctl(s->ep, EPOLL_CTL_ADD, link_fd(L->l), &ev) != 0) {
            link_close(L->l);
            rc = AH_EIO;
        }
    }
    if (rc == AH_EAGAIN) {
        L->connecting = true;
        L->connect_deadline = ah_mono_ms() + L->cl->timeout_ms;
        return;
    }
    if (rc != AH_OK) {
        link_connect_failed(s, L, rc);
        return;
    }
    link_now_up(s, L);
}

void sched_link_on_connect(struct sched *s, struct slink *L)
{
    L->connecting = false;
    int fd = link_fd(L->l);
    epoll_ctl(s->ep, EPOLL_CTL_DEL, fd, NULL);
    int rc = link_connect_finish(L->l);
    if (rc == AH_OK) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP};
        ev.data.u64 = EV_DATA(TAG_LINK, L - s->links);
        if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            link_close(L->l);
            rc = AH_EIO;
        }
    }
    if (rc != AH_OK) {
        link_connect_failed(s, L, rc);
        return;
    }
    link_now_up(s, L);
}

void sched_link_connect_timeout(struct sched *s, struct slink *L)
{
    L->connecting = false;
    epoll_ctl(s->ep, EPOLL_CTL_DEL, link_fd(L->l), NULL);
    link_close(L->l);
    link_connect_failed(s, L, AH_ETIMEDOUT);
}

/* Write the request sess_start built; false when the link dropped. */
bool sched_link_send(struct sched *s, struct slink *L)
{
    size_t n;
    const uint8_t *tx = sess_tx(&L->sess, &n);
    link_flush_input(L->l); /* a late reply to an earlier request is stale */
    int rc = link_write_all(L->l, tx, n, L->sess.req.timeout_ms);
    s->st.requests++;
    met_add(L->met.requests, 1);
    if (rc != AH_OK) {
        sched_link_drop(s, L, rc);
        return false;
    }
    L->in_flight = true;
    L->sent_he_ms = ah_clock_now_ms(s->clk); /* pairs a meter clock (on_values) */
    sess_sent(&L->sess, ah_mono_ms());
    return true;
}

/* Resend after a timeout with attempts left (the session went back to SEND). */
static void link_resend(struct sched *s, struct slink *L)
{
    size_t n;
    const uint8_t *tx = sess_tx(&L->sess, &n);
    link_flush_input(L->l);
    int rc = link_write_all(L->l, tx, n, L->sess.req.timeout_ms);
    s->st.requests++;
    met_add(L->met.requests, 1);
    if (L->sess.attempt > 0) /* else a 12H follow-up frame (sess.h) */
        met_add(L->met.retries, 1);
    if (rc != AH_OK) {
        sched_link_drop(s, L, rc);
        return;
    }
    L->sent_he_ms = ah_clock_now_ms(s->clk);
    sess_sent(&L->sess, ah_mono_ms());
}

void sched_link_check(struct sched *s, struct slink *L)
{
    if (!L->in_flight)
        return;
    if (L->sess.state == SESS_SEND)
        link_resend(s, L);
    else if (L->probing && (L->sess.state == SESS_DONE || L->sess.state == SESS_FAILED)) {
        L->in_flight = false;
        L->probing = false;
        if (L->sess.state == SESS_DONE &&
            dlt645_addr_eq(&L->sess.reply_addr, &L->cl->address))
            L->ok_mono = ah_mono_ms();
        else
            L->probe_fail_mono = ah_mono_ms();
    } else if (L->sess.state == SESS_DONE || L->sess.state == SESS_FAILED)
        sched_on_done(s, L);
}

/* 13H read address on the link's own connection: is the concentrator that
 * identified itself there still answering? The cycle's job resumes at its
 * step afterwards (its state lives in L, not in the session). */
void sched_probe_start(struct sched *s, struct slink *L)
{
    struct sess_req rq;
    memset(&rq, 0, sizeof rq);
    rq.proto = DLT645_2007;
    rq.func = DLT645_F_READ_ADDR;
    rq.addr = dlt645_addr_wildcard;
    rq.timeout_ms = L->cl->timeout_ms;
    rq.retries = L->cl->retries;
    if (sess_start(&L->sess, &rq) == AH_OK && sched_link_send(s, L))
        L->probing = true;
}

/* Most bytes taken from one link per pass of the loop: a peer flooding
 * it (10 MB/s seen, issue 17 item 8) cannot keep the loop from the other
 * links; the rest waits for the next pass (epoll is level-triggered). */
#define SCHED_READ_BUDGET (64 * 1024)

void sched_link_on_readable(struct sched *s, struct slink *L, uint32_t events)
{
    uint8_t buf[1024];
    size_t total = 0, unasked = 0;
    unsigned long junk0 = L->sess.parser.junk_bytes;
    while (total < SCHED_READ_BUDGET) {
        ssize_t got = link_read(L->l, buf, sizeof buf);
        if (got == AH_EAGAIN)
            break;
        if (got < 0) {
            sched_link_drop(s, L, (int)got);
            return;
        }
        total += (size_t)got;
        if (L->in_flight && L->sess.state == SESS_WAIT)
            sess_on_bytes(&L->sess, buf, (size_t)got, ah_mono_ms());
        else
            unasked += (size_t)got; /* no request waits for them */
    }
    if (total == 0 && (events & (EPOLLHUP | EPOLLERR))) {
        /* a serial port that hung up (USB adapter pulled, a pty's master
         * closed) reads 0 bytes, which on a tty is "no data": only the
         * hang-up says it is gone. Level-triggered, it would wake the
         * loop at once forever (issue 15 Fix) */
        ah_log(AH_LOG_WARN, L->ctx, "%s hung up", link_where(L));
        sched_link_drop(s, L, AH_ECLOSED);
        return;
    }
    unsigned long junk1 = L->sess.parser.junk_bytes;
    size_t junk = unasked + (junk1 >= junk0 ? junk1 - junk0 : 0);
    if (junk) {
        L->junk_total += junk;
        met_add(L->m_junk, (double)junk);
        ah_log(AH_LOG_WARN, L->ctx, "%zu bytes that answer no request (%llu so far)",
               junk, L->junk_total);
    }
}
