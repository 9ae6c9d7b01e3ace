/*
 * scheduler_dialin — dlt645-listen links: accept a concentrator's call,
 * identify it by 13H (DL/T 645-2007 §1.4 read address), hand the socket to
 * the configured link of that address or refuse it, and settle two
 * connections claiming one address (issue 17 item 3).
 */
#include "scheduler_int.h"

#include "ah_clock.h"
#include "ah_err.h"
#include "ah_log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static void dispute_update(struct sched *s, struct slink *L)
{
    bool any = false;
    for (size_t i = 0; i < SCHED_PENDING_MAX; i++)
        any |= s->pend[i].l && s->pend[i].contest == L;
    L->disputed = any;
}

static void pending_close(struct sched *s, struct spending *P)
{
    epoll_ctl(s->ep, EPOLL_CTL_DEL, link_fd(P->l), NULL);
    link_destroy(&P->l);
    struct slink *L = P->contest;
    P->contest = NULL;
    if (L)
        dispute_update(s, L);
}

static void pending_send(struct sched *s, struct spending *P)
{
    size_t n;
    const uint8_t *tx = sess_tx(&P->sess, &n);
    if (link_write_all(P->l, tx, n, P->sess.req.timeout_ms) != AH_OK) {
        ah_log(AH_LOG_WARN, "dialin", "%s hung up before identifying itself", P->peer);
        pending_close(s, P);
        return;
    }
    sess_sent(&P->sess, ah_mono_ms());
}

/* accept4 failed on listener j with err: true when this round of accepts
 * ends. Out of descriptors the listener leaves the epoll set for a while
 * (dialin_accept_failed): the backlog keeps it readable, and accepting at
 * once again would spin the loop. */
static bool accept_failed(struct sched *s, size_t j, int err)
{
    struct slisten *lj = &s->lis[j];
    bool first;
    enum dialin_accept_verdict v =
        dialin_accept_failed(&lj->pause, err, ah_mono_ms(), &first);
    if (v != DIALIN_ACCEPT_PAUSE)
        return v == DIALIN_ACCEPT_DONE;
    if (first)
        ah_log(AH_LOG_WARN, "dialin",
               "dial-in listener %s: cannot accept: %s; pausing accepts (retried after "
               "%d ms, up to every %d ms) until it can",
               lj->addr, strerror(err), DIALIN_PAUSE_MIN_MS, DIALIN_PAUSE_MAX_MS);
    if (!lj->paused) {
        if (epoll_ctl(s->ep, EPOLL_CTL_DEL, lj->fd, NULL) == 0)
            lj->paused = true;
        else
            ah_log(AH_LOG_ERROR, "dialin", "dial-in listener %s: epoll_ctl: %s", lj->addr,
                   strerror(errno));
    }
    return true;
}

/* Paused listeners whose pause is over are watched again: a connection
 * still waiting makes them readable at once. */
void sched_listen_resume(struct sched *s, int64_t mono)
{
    for (size_t j = 0; j < s->n_lis; j++) {
        struct slisten *lj = &s->lis[j];
        if (!lj->paused || mono < lj->pause.until_ms)
            continue;
        struct epoll_event ev = {.events = EPOLLIN};
        ev.data.u64 = EV_DATA(TAG_LISTEN, j);
        if (epoll_ctl(s->ep, EPOLL_CTL_ADD, lj->fd, &ev) == 0) {
            lj->paused = false;
        } else {
            bool first;
            (void)dialin_accept_failed(&lj->pause, errno, mono, &first);
            if (first)
                ah_log(AH_LOG_ERROR, "dialin", "dial-in listener %s: epoll_ctl: %s",
                       lj->addr, strerror(errno));
        }
    }
}

/* "host:port" of an accepted peer. */
static void peer_format(const struct sockaddr_storage *ss, char *peer, size_t cap)
{
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        port = ntohs(a->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        port = ntohs(a->sin6_port);
    }
    snprintf(peer, cap, "%s:%d", host, port);
}

/* Room for a newcomer from ip (issue 17 item 5): an address already holding
 * DIALIN_PER_SOURCE_MAX unidentified connections gives up its oldest; a full
 * table gives up its oldest unidentified one. A concentrator answers 13H
 * within a round trip, so only idle sockets live long enough to be closed;
 * one that has identified itself has left this table. NULL: no room. */
static struct spending *pending_slot(struct sched *s, const uint8_t *ip, bool has_ip,
                                     const char *peer)
{
    struct spending *P = NULL, *oldest = NULL, *oldest_same = NULL;
    size_t same = 0;
    for (size_t i = 0; i < SCHED_PENDING_MAX; i++) {
        struct spending *q = &s->pend[i];
        if (!q->l) {
            if (!P)
                P = q;
            continue;
        }
        if (q->contest)
            continue; /* identified: its claim is being checked */
        if (has_ip && q->has_ip && !memcmp(q->ip, ip, sizeof q->ip)) {
            same++;
            if (!oldest_same || q->since < oldest_same->since)
                oldest_same = q;
        }
        if (!oldest || q->since < oldest->since)
            oldest = q;
    }
    struct spending *evict = same >= DIALIN_PER_SOURCE_MAX ? oldest_same
                             : P                           ? NULL
                                                           : oldest;
    if (evict) {
        ah_log(AH_LOG_WARN, "dialin", "closing unidentified %s to make room for %s (%s)",
               evict->peer, peer,
               evict == oldest_same && same >= DIALIN_PER_SOURCE_MAX
                   ? "too many at once from one address"
                   : "too many unidentified connections");
        met_add(s->m_pend_closed, 1);
        pending_close(s, evict);
        P = evict;
    }
    return P;
}

/* Who is it? 13H read address to AA×6 (DL/T 645-2007 §1.4): a
 * concentrator on a point-to-point link answers with its own. false: the
 * request or the epoll registration failed (the slot is freed). */
static bool pending_ask(struct sched *s, struct spending *P)
{
    struct sess_req rq;
    memset(&rq, 0, sizeof rq);
    rq.proto = DLT645_2007;
    rq.func = DLT645_F_READ_ADDR;
    rq.addr = dlt645_addr_wildcard;
    rq.timeout_ms = s->cfg->schedule.timeout_ms;
    rq.retries = s->cfg->schedule.retries;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP};
    ev.data.u64 = EV_DATA(TAG_PENDING, P - s->pend);
    if (sess_start(&P->sess, &rq) != AH_OK ||
        epoll_ctl(s->ep, EPOLL_CTL_ADD, link_fd(P->l), &ev) != 0) {
        link_destroy(&P->l);
        return false;
    }
    return true;
}

/* A connection fd from peer on listener j takes a pending slot and is
 * asked its address. */
static void pending_open(struct sched *s, size_t j, int fd,
                         const struct sockaddr_storage *ss)
{
    char peer[64];
    peer_format(ss, peer, sizeof peer);
    uint8_t ip[16];
    bool has_ip = dialin_ip_of(ss, ip);
    struct spending *P = pending_slot(s, ip, has_ip, peer);
    link_t *l = P ? link_new_accepted(fd, peer) : NULL;
    if (!l) {
        ah_log(AH_LOG_WARN, "dialin", "refused %s: too many unidentified connections",
               peer);
        close(fd);
        return;
    }
    P->l = l;
    P->lis = j;
    snprintf(P->peer, sizeof P->peer, "%s", peer);
    memcpy(P->ip, ip, sizeof ip);
    P->has_ip = has_ip;
    P->since = ah_mono_ms();
    P->contest = NULL;
    P->handover = false;
    if (!pending_ask(s, P))
        return;
    ah_log(AH_LOG_DEBUG, "dialin", "%s connected on %s: asking its address", peer,
           s->lis[j].addr);
    pending_send(s, P);
}

void sched_on_accept(struct sched *s, size_t j)
{
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(s->lis[j].fd, (struct sockaddr *)&ss, &sl,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (accept_failed(s, j, errno))
                return;
            continue;
        }
        unsigned long failed = dialin_accept_ok(&s->lis[j].pause);
        if (failed)
            ah_log(AH_LOG_INFO, "dialin",
                   "dial-in listener %s: accepting again after %lu failed attempts",
                   s->lis[j].addr, failed);
        pending_open(s, j, fd, &ss);
    }
}

/* The 13H answer came: hand the socket to the configured link of that
 * address, or refuse it. */
static void pending_identified(struct sched *s, struct spending *P)
{
    char a[13];
    dlt645_addr_format(&P->sess.reply_addr, a);
    struct slink *L = NULL;
    for (size_t k = 0; k < s->n_links && !L; k++) {
        struct slink *c = &s->links[k];
        if (c->kind == SL_DIALIN && c->n_meters && c->lis == P->lis &&
            dlt645_addr_eq(&c->cl->address, &P->sess.reply_addr))
            L = c;
    }
    if (!L) {
        ah_log(AH_LOG_WARN, "dialin",
               "refused %s: it gave address %s, which no dlt645-listen link on %s has",
               P->peer, a, s->lis[P->lis].addr);
        pending_close(s, P);
        return;
    }
    if (L->cl->allow_net.n &&
        (!P->has_ip || !dialin_allow_match(&L->cl->allow_net, P->ip))) {
        ah_log(
            AH_LOG_WARN, L->ctx,
            "refused %s: it gave address %s, but its source is not in links.allow (%s)",
            P->peer, a, L->cl->allow);
        met_add(L->m_refused_src, 1);
        pending_close(s, P);
        return;
    }
    if (L->up && L->l && !P->handover) {
        /* Somebody else claims a concentrator that is connected: probe
         * the old connection first; the newcomer waits (contest_check). */
        int64_t mono = ah_mono_ms();
        int64_t per = (int64_t)L->cl->timeout_ms * (L->cl->retries + 1);
        P->contest = L;
        P->contest_t0 = mono;
        P->contest_deadline = mono + 2 * per + 1000;
        if (!L->disputed)
            L->dispute_t0 = mono;
        L->disputed = true;
        met_add(L->m_conflicts, 1);
        ah_log(AH_LOG_WARN, L->ctx,
               "address conflict: %s claims concentrator %s, connected from %s: probing "
               "the old connection",
               P->peer, a, link_name(L->l));
        return;
    }
    if (L->up || L->l) {
        ah_log(AH_LOG_WARN, L->ctx,
               "concentrator %s dialled again from %s: replacing its "
               "old connection, which no longer answers",
               a, P->peer);
        sched_link_drop(s, L, AH_ECLOSED);
        s->st.reconnects++;
    }
    P->contest = NULL;
    dispute_update(s, L);
    int fd = link_fd(P->l);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP};
    ev.data.u64 = EV_DATA(TAG_LINK, L - s->links);
    if (epoll_ctl(s->ep, EPOLL_CTL_MOD, fd, &ev) != 0) {
        /* its replies would go to the pending slot: refuse the newcomer */
        ah_log(AH_LOG_ERROR, L->ctx, "dial-in %s: epoll: %s", P->peer, strerror(errno));
        pending_close(s, P);
        return;
    }
    L->l = P->l;
    P->l = NULL;
    link_flush_input(L->l);
    ah_log(AH_LOG_INFO, L->ctx, "concentrator %s dialled in from %s", a, P->peer);
    L->conn_fails = 0;
    L->up = true;
    met_set(L->met.up, 1);
}

void sched_pending_on_readable(struct sched *s, struct spending *P)
{
    uint8_t buf[512];
    for (;;) {
        ssize_t got = link_read(P->l, buf, sizeof buf);
        if (got == AH_EAGAIN)
            return;
        if (got < 0) {
            ah_log(AH_LOG_WARN, "dialin", "%s hung up before identifying itself",
                   P->peer);
            pending_close(s, P);
            return;
        }
        if (P->sess.state == SESS_WAIT)
            sess_on_bytes(&P->sess, buf, (size_t)got, ah_mono_ms());
    }
}

/* A newcomer claims a connected concentrator's address (pending_identified):
 * the old connection answering anything valid since the claim keeps it and
 * refuses the newcomer; a 13H probe left unanswered, or the old link gone,
 * hands the address over. Undecided by the deadline: the old one stays. */
static void contest_check(struct sched *s, struct spending *P, int64_t mono)
{
    struct slink *L = P->contest;
    char a[13];
    dlt645_addr_format(&L->cl->address, a);
    bool gone = !L->up || !L->l;
    if (!gone && L->ok_mono > P->contest_t0) {
        ah_log(AH_LOG_WARN, L->ctx,
               "refused %s: concentrator %s still answers on its connection from %s "
               "(address conflict)",
               P->peer, a, link_name(L->l));
        pending_close(s, P);
    } else if (gone || L->probe_fail_mono > P->contest_t0) {
        if (!gone)
            ah_log(AH_LOG_WARN, L->ctx,
                   "concentrator %s: its connection from %s did not answer 13H", a,
                   link_name(L->l));
        P->contest = NULL;
        P->handover = true;
        pending_identified(s, P);
    } else if (mono > P->contest_deadline) {
        ah_log(AH_LOG_WARN, L->ctx,
               "refused %s: the claim on concentrator %s could not be settled in time",
               P->peer, a);
        pending_close(s, P);
    } else if (!L->in_flight) {
        sched_probe_start(s, L);
    }
}

void sched_pending_check(struct sched *s, struct spending *P, int64_t mono)
{
    if (P->contest) {
        contest_check(s, P, mono);
        return;
    }
    if (P->sess.state == SESS_WAIT)
        sess_on_tick(&P->sess, mono);
    if (P->sess.state == SESS_SEND) {
        pending_send(s, P);
    } else if (P->sess.state == SESS_DONE) {
        pending_identified(s, P);
    } else if (P->sess.state == SESS_FAILED) {
        ah_log(AH_LOG_WARN, "dialin", "refused %s: no answer to 13H read address: %s",
               P->peer, ah_strerror(P->sess.result));
        pending_close(s, P);
    }
}
