/*
 * sim_net — epoll loop of the simulated concentrators (see sim_net.h).
 *
 * Owns sockets and pseudo-terminals; must not compute meter values (that is
 * sim_dlt / sim_fleet) and must not block: every fd is non-blocking, delays
 * are deadlines on the loop.
 */
#include "sim_net.h"

#include "ah_err.h"
#include "ah_log.h"
#include "dlt645.h"
#include "sim_dlt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

enum ep_kind { EP_LISTEN, EP_CONN, EP_DIALING, EP_PTY };

struct ep {
    int fd;
    int slave_fd; /* PTY: our own slave handle keeps the master from HUP */
    uint8_t kind;
    bool busy; /* a reply is scheduled or being sent */
    bool in_timers;
    bool close_after;
    uint32_t conc;
    int64_t tx_at;    /* mono ms: start (or continue) sending */
    int64_t tx_start; /* mono ms the paced transmission began */
    size_t txlen, txoff;
    uint8_t tx[SIM_DLT_REPLY_MAX + 32];
    struct ep *prev, *next; /* connections list (listeners/ptys are in `all`) */
    struct dlt645_parser parser;
    struct sim_dlt_session sess;
};

struct sim_net {
    const struct sim_fleet *f;
    const struct ah_clock *clk;
    struct sim_net_opts o;
    int epfd;
    struct ep **timers; /* eps with a deadline */
    size_t ntimers, captimers;
    struct ep **dial; /* per concentrator in dial mode: current ep or NULL */
    int64_t *redial_at;
    uint64_t nreq;
    struct sockaddr_storage dial_sa;
    socklen_t dial_salen;
    struct ep **all; /* listeners and ptys, for destroy */
    size_t nall;
    struct ep *conns; /* accepted and dialled connections */
    char **pty_paths;
    FILE *announce;               /* where the line counters go on stats_flag */
    struct sim_net_line_stats ls; /* pty lines only */
};

static void conn_link(struct sim_net *n, struct ep *e)
{
    e->prev = NULL;
    e->next = n->conns;
    if (n->conns)
        n->conns->prev = e;
    n->conns = e;
}

static void conn_unlink(struct sim_net *n, struct ep *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else if (n->conns == e)
        n->conns = e->next;
    if (e->next)
        e->next->prev = e->prev;
    e->prev = e->next = NULL;
}

static struct ep *ep_new(int kind, int fd, uint32_t conc)
{
    struct ep *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->fd = fd;
    e->slave_fd = -1;
    e->kind = (uint8_t)kind;
    e->conc = conc;
    dlt645_parser_init(&e->parser);
    sim_dlt_session_init(&e->sess);
    return e;
}

static void timer_add(struct sim_net *n, struct ep *e)
{
    if (e->in_timers)
        return;
    if (n->ntimers == n->captimers) {
        size_t cap = n->captimers ? n->captimers * 2 : 64;
        struct ep **p = realloc(n->timers, cap * sizeof *p);
        if (!p)
            return; /* the reply is lost, like a busy concentrator */
        n->timers = p;
        n->captimers = cap;
    }
    n->timers[n->ntimers++] = e;
    e->in_timers = true;
}

static void timer_del(struct sim_net *n, struct ep *e)
{
    if (!e->in_timers)
        return;
    for (size_t i = 0; i < n->ntimers; i++)
        if (n->timers[i] == e) {
            n->timers[i] = n->timers[--n->ntimers];
            break;
        }
    e->in_timers = false;
}

static void ep_close(struct sim_net *n, struct ep *e)
{
    timer_del(n, e);
    conn_unlink(n, e);
    epoll_ctl(n->epfd, EPOLL_CTL_DEL, e->fd, NULL);
    close(e->fd);
    if (n->dial && n->dial[e->conc] == e) {
        n->dial[e->conc] = NULL;
        n->redial_at[e->conc] = ah_mono_ms() + 1000;
    }
    free(e);
}

static int watch(struct sim_net *n, struct ep *e, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = e};
    return epoll_ctl(n->epfd, EPOLL_CTL_ADD, e->fd, &ev);
}

static double draw(struct sim_net *n, uint32_t conc, int type)
{
    uint64_t h = sim_hash3(n->f->seed ^ 0x11F7ULL, ((uint64_t)conc << 8) | (uint64_t)type,
                           n->nreq);
    return (double)(h >> 11) * (1.0 / 9007199254740992.0);
}

static bool hit(struct sim_net *n, uint32_t conc, int type, int64_t now, int32_t *arg)
{
    const struct sim_fault *ft = sim_fleet_link_fault(n->f, conc, type, now);
    if (!ft || draw(n, conc, type) >= ft->p)
        return false;
    if (arg)
        *arg = ft->arg;
    return true;
}

/* One request frame arrived on e: compute the reply, apply link faults,
 * schedule it. Returns false if e was closed. */
static bool on_frame(struct sim_net *n, struct ep *e, const struct dlt645_frame *fr,
                     size_t req_bytes)
{
    int64_t now = ah_clock_now_ms(n->clk) / 1000;
    uint32_t k = e->conc;
    n->nreq++;
    if (sim_fleet_link_fault(n->f, k, SIM_F_OFFLINE, now) ||
        (e->kind != EP_PTY && hit(n, k, SIM_F_DISCONNECT, now, NULL))) {
        if (e->kind != EP_PTY) {
            ep_close(n, e);
            return false;
        }
        return true;
    }
    uint8_t out[SIM_DLT_REPLY_MAX];
    int len = sim_dlt_handle(n->f, k, now, fr, &e->sess, out, sizeof out);
    if (len <= 0)
        return true;
    if (hit(n, k, SIM_F_NO_REPLY, now, NULL))
        return true;
    size_t pre = 0, post = 0, L = (size_t)len;
    uint8_t junk[12];
    if (hit(n, k, SIM_F_JUNK, now, NULL)) {
        /* line noise before and after the frame; never a 68 start byte */
        uint64_t h = sim_hash3(n->f->seed, n->nreq, 0x7A);
        pre = 1 + h % 8;
        post = (h >> 8) % 4;
        for (size_t i = 0; i < pre + post; i++) {
            junk[i] = (uint8_t)(h >> (i * 5));
            if (junk[i] == 0x68 || junk[i] == 0x16)
                junk[i] = 0x00;
        }
    }
    if (hit(n, k, SIM_F_BAD_CS, now, NULL))
        out[L - 2] ^= 0x5A;
    if (hit(n, k, SIM_F_TRUNCATED, now, NULL))
        L = L / 2;
    memcpy(e->tx, junk, pre);
    memcpy(e->tx + pre, out, L);
    memcpy(e->tx + pre + L, junk + pre, post);
    e->txlen = pre + L + post;
    e->txoff = 0;
    int64_t delay_ms = 0;
    if (e->kind == EP_PTY) {
        /* the request's own air time, then Td (§1.5) */
        delay_ms = (int64_t)n->o.td_ms +
                   (int64_t)((req_bytes * 11000u + n->o.baud - 1) / n->o.baud);
    }
    int32_t late = 0;
    if (hit(n, k, SIM_F_LATE, now, &late))
        delay_ms += late;
    const struct sim_fault *lat = sim_fleet_link_fault(n->f, k, SIM_F_LATENCY, now);
    if (lat && hit(n, k, SIM_F_LATENCY, now, NULL)) {
        /* a 4G round trip, uniform in [min_ms, max_ms], drawn per request */
        uint64_t span = (uint64_t)(lat->arg2 - lat->arg) + 1;
        delay_ms += lat->arg + (int64_t)(sim_hash3(n->f->seed, n->nreq, 0x4C) % span);
    }
    e->busy = true;
    e->tx_at = ah_mono_ms() + delay_ms;
    e->tx_start = 0;
    timer_add(n, e);
    return true;
}

static void on_readable(struct sim_net *n, struct ep *e)
{
    uint8_t buf[4096];
    for (;;) {
        ssize_t r = read(e->fd, buf, sizeof buf);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
            if (e->kind == EP_PTY)
                return; /* the other side closed; we keep the line */
            ep_close(n, e);
            return;
        }
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        if (e->kind == EP_PTY)
            n->ls.bytes_in += (uint64_t)r; /* on the wire even if talked over */
        if (e->busy)
            continue; /* half duplex: talking over a reply is lost on the bus */
        size_t off = 0;
        while (off < (size_t)r) {
            struct dlt645_frame fr;
            enum dlt645_parse_status st;
            size_t before = e->parser.have;
            size_t used = dlt645_parse(&e->parser, buf + off, (size_t)r - off, &fr, &st);
            off += used;
            if (st == DLT645_FRAME_OK) {
                if (!on_frame(n, e, &fr, before + used))
                    return;
                if (e->busy && e->kind == EP_PTY)
                    break; /* one request at a time on the bus */
            }
            if (used == 0 && st == DLT645_NEED_MORE)
                break;
        }
    }
}

/* Send what is due; returns the next deadline (mono ms) or 0 when done. */
static int64_t pump(struct sim_net *n, struct ep *e, int64_t mono)
{
    if (mono < e->tx_at)
        return e->tx_at;
    size_t allow = e->txlen - e->txoff;
    if (e->kind == EP_PTY) {
        if (!e->tx_start)
            e->tx_start = mono;
        /* 11 bits per character on the wire (8E1, §1.1); a character
         * reaches the other end after its stop bit, not at its start bit */
        size_t due = (size_t)((mono - e->tx_start) * (int64_t)n->o.baud / 11000);
        if (due > e->txlen)
            due = e->txlen;
        allow = due > e->txoff ? due - e->txoff : 0;
    }
    if (allow) {
        ssize_t w = write(e->fd, e->tx + e->txoff, allow);
        if (w < 0 && errno != EAGAIN && errno != EINTR) {
            if (e->kind != EP_PTY) {
                ep_close(n, e);
                return -1;
            }
            w = (ssize_t)allow; /* nobody on the line: the bytes are lost */
        }
        if (w > 0) {
            e->txoff += (size_t)w;
            if (e->kind == EP_PTY)
                n->ls.bytes_out += (uint64_t)w;
        }
    }
    if (e->txoff >= e->txlen) {
        if (e->kind == EP_PTY)
            n->ls.replies++; /* counted once its last byte is on the line */
        e->busy = false;
        e->txlen = e->txoff = 0;
        return 0;
    }
    if (e->kind == EP_PTY)
        return e->tx_start +
               (int64_t)((e->txoff + 1) * 11000u + n->o.baud - 1) / n->o.baud;
    return mono + 5; /* socket buffer full: retry shortly */
}

static int open_listener(struct sim_net *n, uint32_t k, FILE *announce)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)(n->o.port_base + k));
    if (inet_pton(AF_INET, n->o.bind, &sa.sin_addr) != 1)
        return AH_EINVAL;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return ah_err_from_errno(errno);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 16) < 0) {
        int err = ah_err_from_errno(errno);
        ah_log(AH_LOG_ERROR, "amisim", "listen %s:%u: %s", n->o.bind, n->o.port_base + k,
               strerror(errno));
        close(fd);
        return err;
    }
    struct ep *e = ep_new(EP_LISTEN, fd, k);
    if (!e || watch(n, e, EPOLLIN) < 0) {
        close(fd);
        free(e);
        return AH_ENOMEM;
    }
    n->all[n->nall++] = e;
    char ca[13], da[13];
    sim_fleet_conc_addr(k, ca);
    sim_fleet_meter_addr(k, SIM_DISTRICT_IDX, da);
    fprintf(announce, "concentrator %u dlt645-tcp %s:%u addr %s meters %u district %s\n",
            k, n->o.bind, n->o.port_base + k, ca, n->f->per, da);
    return AH_OK;
}

static int open_pty(struct sim_net *n, uint32_t k, FILE *announce)
{
    int fd = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 || grantpt(fd) < 0 || unlockpt(fd) < 0) {
        int err = ah_err_from_errno(errno);
        if (fd >= 0)
            close(fd);
        return err;
    }
    char path[64];
    if (ptsname_r(fd, path, sizeof path) != 0) {
        close(fd);
        return AH_EIO;
    }
    int sfd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (sfd < 0) {
        close(fd);
        return ah_err_from_errno(errno);
    }
    /* raw 8 data bits at the configured rate. A pty carries no parity bit
     * (Linux drops PARENB), so 8E1 lives in the pacing: 11 bits per byte. */
    struct termios tio;
    if (tcgetattr(sfd, &tio) == 0) {
        cfmakeraw(&tio);
        tio.c_cflag |= CS8 | CLOCAL | CREAD;
        speed_t sp = n->o.baud == 1200   ? B1200
                     : n->o.baud == 4800 ? B4800
                     : n->o.baud == 9600 ? B9600
                     : n->o.baud == 600  ? B600
                                         : B2400;
        cfsetispeed(&tio, sp);
        cfsetospeed(&tio, sp);
        tcsetattr(sfd, TCSANOW, &tio);
    }
    struct ep *e = ep_new(EP_PTY, fd, k);
    if (!e || watch(n, e, EPOLLIN) < 0) {
        close(fd);
        close(sfd);
        free(e);
        return AH_ENOMEM;
    }
    e->slave_fd = sfd;
    n->all[n->nall++] = e;
    n->pty_paths[k] = strdup(path);
    fprintf(announce, "pty %u %s baud %u td-ms %u\n", k, path, n->o.baud, n->o.td_ms);
    return AH_OK;
}

static void start_dial(struct sim_net *n, uint32_t k)
{
    int fd = socket(n->dial_sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    n->redial_at[k] = ah_mono_ms() + 2000;
    if (fd < 0)
        return;
    struct ep *e = ep_new(EP_DIALING, fd, k);
    if (!e) {
        close(fd);
        return;
    }
    int rc = connect(fd, (struct sockaddr *)&n->dial_sa, n->dial_salen);
    if (rc < 0 && errno != EINPROGRESS) {
        close(fd);
        free(e);
        return;
    }
    if (watch(n, e, EPOLLIN | EPOLLOUT) < 0) {
        close(fd);
        free(e);
        return;
    }
    n->dial[k] = e;
    n->redial_at[k] = 0;
    conn_link(n, e);
}

int sim_net_new(struct sim_net **out, const struct sim_fleet *f,
                const struct ah_clock *clk, const struct sim_net_opts *o, FILE *announce)
{
    struct sim_net *n = calloc(1, sizeof *n);
    int rc = AH_ENOMEM;
    if (!n)
        return AH_ENOMEM;
    n->f = f;
    n->clk = clk;
    n->o = *o;
    n->announce = announce;
    if (!n->o.bind)
        n->o.bind = "127.0.0.1";
    if (!n->o.baud)
        n->o.baud = 2400;
    n->epfd = epoll_create1(EPOLL_CLOEXEC);
    n->all = calloc((size_t)f->nconc * 2, sizeof *n->all);
    if (o->pty)
        n->pty_paths = calloc(f->nconc, sizeof *n->pty_paths);
    if (n->epfd < 0 || !n->all || (o->pty && !n->pty_paths))
        goto fail;
    for (uint32_t k = 0; k < f->nconc; k++) {
        if (o->port_base && (rc = open_listener(n, k, announce)) < 0)
            goto fail;
        if (o->pty && (rc = open_pty(n, k, announce)) < 0)
            goto fail;
    }
    if (o->dial) {
        char host[256];
        const char *colon = strrchr(o->dial, ':');
        rc = AH_EINVAL;
        if (!colon || (size_t)(colon - o->dial) >= sizeof host)
            goto fail;
        memcpy(host, o->dial, (size_t)(colon - o->dial));
        host[colon - o->dial] = '\0';
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
        if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
            goto fail;
        memcpy(&n->dial_sa, ai->ai_addr, ai->ai_addrlen);
        n->dial_salen = ai->ai_addrlen;
        freeaddrinfo(ai);
        n->dial = calloc(f->nconc, sizeof *n->dial);
        n->redial_at = calloc(f->nconc, sizeof *n->redial_at);
        rc = AH_ENOMEM;
        if (!n->dial || !n->redial_at)
            goto fail;
        for (uint32_t k = 0; k < f->nconc; k++) {
            char ca[13];
            sim_fleet_conc_addr(k, ca);
            fprintf(announce, "concentrator %u dlt645-dial %s addr %s meters %u\n", k,
                    o->dial, ca, f->per);
            start_dial(n, k);
        }
    }
    *out = n;
    return AH_OK;
fail:
    sim_net_destroy(&n);
    return rc;
}

static void on_accept(struct sim_net *n, struct ep *l)
{
    for (;;) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        int64_t now = ah_clock_now_ms(n->clk) / 1000;
        if (sim_fleet_link_fault(n->f, l->conc, SIM_F_OFFLINE, now)) {
            close(fd); /* the concentrator's modem is down */
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct ep *e = ep_new(EP_CONN, fd, l->conc);
        if (!e || watch(n, e, EPOLLIN) < 0) {
            close(fd);
            free(e);
            continue;
        }
        conn_link(n, e);
    }
}

void sim_net_line_stats(const struct sim_net *n, struct sim_net_line_stats *out)
{
    *out = n->ls;
}

int sim_net_run(struct sim_net *n, volatile sig_atomic_t *stop)
{
    struct epoll_event evs[256];
    while (!*stop) {
        if (n->o.stats_flag && *n->o.stats_flag && n->announce) {
            *n->o.stats_flag = 0;
            fprintf(n->announce,
                    "line stats: %llu replies, %llu bytes in, %llu bytes out\n",
                    (unsigned long long)n->ls.replies, (unsigned long long)n->ls.bytes_in,
                    (unsigned long long)n->ls.bytes_out);
            fflush(n->announce);
        }
        int64_t mono = ah_mono_ms(), next = mono + 500;
        for (size_t i = 0; i < n->ntimers;) {
            struct ep *e = n->timers[i];
            int64_t d = pump(n, e, mono);
            if (d < 0)
                continue; /* closed and removed from the list */
            if (d == 0) {
                timer_del(n, e);
                continue;
            }
            if (d < next)
                next = d;
            i++;
        }
        if (n->dial) {
            int64_t now = ah_clock_now_ms(n->clk) / 1000;
            for (uint32_t k = 0; k < n->f->nconc; k++)
                if (!n->dial[k] && n->redial_at[k] && n->redial_at[k] <= mono &&
                    !sim_fleet_link_fault(n->f, k, SIM_F_OFFLINE, now))
                    start_dial(n, k);
                else if (!n->dial[k] && n->redial_at[k] <= mono)
                    n->redial_at[k] = mono + 1000;
        }
        int timeout = (int)(next > mono ? next - mono : 0);
        int ne = epoll_wait(n->epfd, evs, 256, timeout);
        if (ne < 0 && errno != EINTR)
            return ah_err_from_errno(errno);
        for (int i = 0; i < ne; i++) {
            struct ep *e = evs[i].data.ptr;
            if (e->kind == EP_LISTEN) {
                on_accept(n, e);
            } else if (e->kind == EP_DIALING) {
                int err = 0;
                socklen_t sl = sizeof err;
                getsockopt(e->fd, SOL_SOCKET, SO_ERROR, &err, &sl);
                if (err || (evs[i].events & (EPOLLERR | EPOLLHUP))) {
                    ep_close(n, e);
                    continue;
                }
                e->kind = EP_CONN;
                struct epoll_event ev = {.events = EPOLLIN, .data.ptr = e};
                epoll_ctl(n->epfd, EPOLL_CTL_MOD, e->fd, &ev);
            } else {
                on_readable(n, e);
            }
        }
    }
    return AH_OK;
}

char **sim_net_pty_paths(struct sim_net *n)
{
    return n->pty_paths;
}

void sim_net_destroy(struct sim_net **pn)
{
    struct sim_net *n = pn ? *pn : NULL;
    if (!n)
        return;
    for (size_t i = 0; i < n->nall; i++) {
        close(n->all[i]->fd);
        if (n->all[i]->slave_fd >= 0)
            close(n->all[i]->slave_fd);
        free(n->all[i]);
    }
    while (n->conns) {
        struct ep *e = n->conns;
        n->conns = e->next;
        close(e->fd);
        free(e);
    }
    if (n->epfd >= 0)
        close(n->epfd);
    if (n->pty_paths)
        for (uint32_t k = 0; k < n->f->nconc; k++)
            free(n->pty_paths[k]);
    free(n->pty_paths);
    free(n->all);
    free(n->timers);
    free(n->dial);
    free(n->redial_at);
    free(n);
    *pn = NULL;
}
