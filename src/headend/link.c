/*
 * link — TCP, accepted sockets, libserialport and termios behind one
 * interface (see link.h). Only this file includes libserialport.h.
 */
#include "link.h"

#include "ah_clock.h"
#include "ah_err.h"
#include "ah_log.h"

#include <errno.h>
#include <fcntl.h>
#include <libserialport.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

enum link_kind { LINK_TCP, LINK_ACCEPTED, LINK_SERIAL };

struct link {
    enum link_kind kind;
    int fd;
    char name[300];
    char host[96];
    char port[16];
    char path[256];
    struct link_serial_opts ser;
    struct sp_port *sp; /* libserialport handle, or NULL when termios */
    const char *backend;
};

static link_t *link_alloc(enum link_kind kind)
{
    link_t *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->kind = kind;
    l->fd = -1;
    return l;
}

link_t *link_new_tcp(const char *host_port)
{
    if (!host_port)
        return NULL;
    const char *colon = strrchr(host_port, ':');
    if (!colon || colon == host_port || !colon[1])
        return NULL;
    size_t hlen = (size_t)(colon - host_port);
    const char *h = host_port;
    if (h[0] == '[' && hlen >= 2 && h[hlen - 1] == ']') { /* [v6]:port */
        h++;
        hlen -= 2;
    }
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno || *end || port < 1 || port > 65535 || hlen == 0 || hlen >= 96)
        return NULL;
    link_t *l = link_alloc(LINK_TCP);
    if (!l)
        return NULL;
    memcpy(l->host, h, hlen);
    l->host[hlen] = '\0';
    snprintf(l->port, sizeof l->port, "%ld", port);
    snprintf(l->name, sizeof l->name, "tcp:%s", host_port);
    l->backend = "tcp";
    return l;
}

link_t *link_new_serial(const char *path, const struct link_serial_opts *o)
{
    if (!path || !*path || strlen(path) >= sizeof((link_t *)0)->path || !o)
        return NULL;
    if (o->data_bits < 5 || o->data_bits > 8 || o->stop_bits < 1 || o->stop_bits > 2)
        return NULL;
    link_t *l = link_alloc(LINK_SERIAL);
    if (!l)
        return NULL;
    snprintf(l->path, sizeof l->path, "%s", path);
    l->ser = *o;
    snprintf(l->name, sizeof l->name, "serial:%s", path);
    return l;
}

link_t *link_new_accepted(int fd, const char *peer_name)
{
    link_t *l = link_alloc(LINK_ACCEPTED);
    if (!l)
        return NULL;
    l->fd = fd;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    snprintf(l->name, sizeof l->name, "dialin:%s", peer_name ? peer_name : "?");
    l->backend = "tcp";
    return l;
}

static int tcp_open(link_t *l, int timeout_ms)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(l->host, l->port, &hints, &res);
    if (gai != 0)
        return AH_ENOENT;
    int rc = AH_ECONNREFUSED;
    int64_t deadline = ah_mono_ms() + timeout_ms;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        ai->ai_protocol);
        if (fd < 0) {
            rc = ah_err_from_errno(errno);
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
            rc = ah_err_from_errno(errno);
            close(fd);
            continue;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int64_t left = deadline - ah_mono_ms();
        int pr = poll(&pfd, 1, left > 0 ? (int)left : 0);
        if (pr == 0) {
            rc = AH_ETIMEDOUT;
            close(fd);
            continue;
        }
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
        if (pr < 0 || soerr) {
            rc = ah_err_from_errno(pr < 0 ? errno : soerr);
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
        l->fd = fd;
        rc = AH_OK;
        break;
    }
    freeaddrinfo(res);
    return rc;
}

int link_connect_start(link_t *l)
{
    if (l->fd >= 0)
        return AH_OK;
    if (l->kind != LINK_TCP)
        return link_open(l, 0);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(l->host, l->port, &hints, &res) != 0 || !res)
        return AH_ENOENT;
    int rc = AH_ECONNREFUSED;
    /* the first address only: trying the next one would need another
     * round through the loop, and head-ends are configured by address */
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    res->ai_protocol);
    if (fd < 0) {
        rc = ah_err_from_errno(errno);
    } else if (connect(fd, res->ai_addr, res->ai_addrlen) == 0) {
        l->fd = fd;
        rc = AH_OK;
    } else if (errno == EINPROGRESS) {
        l->fd = fd;
        rc = AH_EAGAIN;
    } else {
        rc = ah_err_from_errno(errno);
        close(fd);
    }
    freeaddrinfo(res);
    if (rc == AH_OK) {
        int one = 1;
        setsockopt(l->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(l->fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    }
    return rc;
}

int link_connect_finish(link_t *l)
{
    if (l->fd < 0)
        return AH_ECLOSED;
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (getsockopt(l->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
        soerr = errno;
    if (soerr) {
        close(l->fd);
        l->fd = -1;
        return ah_err_from_errno(soerr);
    }
    int one = 1;
    setsockopt(l->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(l->fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    return AH_OK;
}

int link_listen_tcp(const char *host_port, int *bound_port)
{
    link_t *tmp = link_new_tcp(host_port);
    if (!tmp) {
        /* port 0 is legal here, not for link_new_tcp */
        const char *colon = host_port ? strrchr(host_port, ':') : NULL;
        if (!colon || strcmp(colon, ":0") != 0)
            return AH_EINVAL;
        char hp[128];
        snprintf(hp, sizeof hp, "%.*s:1", (int)(colon - host_port), host_port);
        tmp = link_new_tcp(hp);
        if (!tmp)
            return AH_EINVAL;
        snprintf(tmp->port, sizeof tmp->port, "0");
    }
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int gai = getaddrinfo(tmp->host, tmp->port, &hints, &res);
    link_destroy(&tmp);
    if (gai != 0 || !res)
        return AH_ENOENT;
    int rc;
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    res->ai_protocol);
    if (fd < 0) {
        rc = ah_err_from_errno(errno);
        goto out;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 16) != 0) {
        rc = ah_err_from_errno(errno);
        close(fd);
        goto out;
    }
    if (bound_port) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        *bound_port = 0;
        if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
            *bound_port =
                ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    }
    rc = fd;
out:
    freeaddrinfo(res);
    return rc;
}

static speed_t baud_to_speed(int baud)
{
    switch (baud) {
    case 300:
        return B300;
    case 600:
        return B600;
    case 1200:
        return B1200;
    case 2400:
        return B2400;
    case 4800:
        return B4800;
    case 9600:
        return B9600;
    case 19200:
        return B19200;
    case 38400:
        return B38400;
    case 57600:
        return B57600;
    case 115200:
        return B115200;
    default:
        return 0;
    }
}

/* Pseudo-terminals (virtual COM ports, the simulator's serial mode): plain
 * termios, 8 data bits and the configured parity, raw mode. */
static bool is_pty(const char *path);

static int tty_open(link_t *l)
{
    speed_t sp = baud_to_speed(l->ser.baud);
    if (!sp)
        return AH_EINVAL;
    int fd = open(l->path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return ah_err_from_errno(errno);
    struct termios t;
    if (tcgetattr(fd, &t) < 0) {
        close(fd);
        return AH_EIO;
    }
    cfmakeraw(&t);
    cfsetispeed(&t, sp);
    cfsetospeed(&t, sp);
    t.c_cflag &= (tcflag_t) ~(CSIZE | PARENB | PARODD | CSTOPB | CRTSCTS);
    t.c_cflag |= CLOCAL | CREAD;
    t.c_cflag |= l->ser.data_bits == 7 ? CS7 : CS8;
    /* A pty moves bytes, not characters: it has no parity bit and its
     * tcsetattr fails on PARENB. Real ttys get the configured parity. */
    if (l->ser.parity != LINK_PARITY_NONE && !is_pty(l->path))
        t.c_cflag |= PARENB | (l->ser.parity == LINK_PARITY_ODD ? PARODD : 0);
    if (l->ser.stop_bits == 2)
        t.c_cflag |= CSTOPB;
    t.c_cc[VMIN] = 0;
    t.c_cc[VTIME] = 0;
    if (tcsetattr(fd, TCSANOW, &t) < 0) {
        close(fd);
        return AH_EIO;
    }
    l->fd = fd;
    l->backend = "termios";
    snprintf(l->name, sizeof l->name, "pty:%s", l->path);
    return AH_OK;
}

static int sp_to_ah(enum sp_return r)
{
    switch (r) {
    case SP_OK:
        return AH_OK;
    case SP_ERR_ARG:
        return AH_EINVAL;
    case SP_ERR_MEM:
        return AH_ENOMEM;
    case SP_ERR_SUPP:
        return AH_ENOTSUP;
    case SP_ERR_FAIL:
    default:
        return ah_err_from_errno(errno ? errno : EIO);
    }
}

/* Real ports: libserialport knows USB adapters by sysfs; it cannot open a
 * pseudo-terminal, so a port it does not know falls back to termios. */
/* Unix98 pseudo-terminal slaves have majors 136..143 (Linux devices.txt). */
static bool is_pty(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISCHR(st.st_mode))
        return false;
    unsigned maj = major(st.st_rdev);
    return maj >= 136 && maj <= 143;
}

static int serial_open(link_t *l)
{
    if (access(l->path, F_OK) != 0)
        return AH_ENOENT;
    /* A pty drops PARENB, so libserialport's check of the settings it just
     * wrote fails on it even where it can open it: pttys go to termios. */
    if (is_pty(l->path))
        return tty_open(l);
    struct sp_port *port = NULL;
    if (sp_get_port_by_name(l->path, &port) != SP_OK)
        return tty_open(l);
    enum sp_return r = sp_open(port, SP_MODE_READ_WRITE);
    if (r != SP_OK)
        goto fail;
    enum sp_parity par = l->ser.parity == LINK_PARITY_EVEN  ? SP_PARITY_EVEN
                         : l->ser.parity == LINK_PARITY_ODD ? SP_PARITY_ODD
                                                            : SP_PARITY_NONE;
    if ((r = sp_set_baudrate(port, l->ser.baud)) != SP_OK ||
        (r = sp_set_bits(port, l->ser.data_bits)) != SP_OK ||
        (r = sp_set_parity(port, par)) != SP_OK ||
        (r = sp_set_stopbits(port, l->ser.stop_bits)) != SP_OK ||
        (r = sp_set_flowcontrol(port, SP_FLOWCONTROL_NONE)) != SP_OK)
        goto fail_close;
    int fd = -1;
    if ((r = sp_get_port_handle(port, &fd)) != SP_OK)
        goto fail_close;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    l->sp = port;
    l->fd = fd;
    l->backend = "libserialport";
    return AH_OK;
fail_close:
    sp_close(port);
fail:
    sp_free_port(port);
    return sp_to_ah(r);
}

int link_open(link_t *l, int timeout_ms)
{
    if (l->fd >= 0)
        return AH_OK;
    switch (l->kind) {
    case LINK_TCP:
        return tcp_open(l, timeout_ms);
    case LINK_SERIAL:
        return serial_open(l);
    case LINK_ACCEPTED:
    default:
        return AH_ECLOSED; /* an accepted socket cannot be re-dialled */
    }
}

void link_close(link_t *l)
{
    if (!l)
        return;
    if (l->sp) {
        sp_close(l->sp);
        sp_free_port(l->sp);
        l->sp = NULL;
    } else if (l->fd >= 0) {
        close(l->fd);
    }
    l->fd = -1;
}

void link_destroy(link_t **pl)
{
    if (!pl || !*pl)
        return;
    link_close(*pl);
    free(*pl);
    *pl = NULL;
}

int link_fd(const link_t *l)
{
    return l->fd;
}

const char *link_name(const link_t *l)
{
    return l->name;
}

const char *link_backend(const link_t *l)
{
    return l->backend ? l->backend : "closed";
}

int link_write_all(link_t *l, const uint8_t *p, size_t n, int timeout_ms)
{
    if (l->fd < 0)
        return AH_ECLOSED;
    int64_t deadline = ah_mono_ms() + timeout_ms;
    size_t off = 0;
    while (off < n) {
        ssize_t w = l->kind == LINK_SERIAL ? write(l->fd, p + off, n - off)
                                           : send(l->fd, p + off, n - off, MSG_NOSIGNAL);
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno != EAGAIN)
            return errno == EPIPE || errno == ECONNRESET ? AH_ECLOSED : AH_EIO;
        int64_t left = deadline - ah_mono_ms();
        if (left <= 0)
            return AH_ETIMEDOUT;
        struct pollfd pfd = {.fd = l->fd, .events = POLLOUT};
        poll(&pfd, 1, (int)left);
    }
    return AH_OK;
}

ssize_t link_read(link_t *l, uint8_t *p, size_t cap)
{
    if (l->fd < 0)
        return AH_ECLOSED;
    for (;;) {
        ssize_t r = read(l->fd, p, cap);
        if (r > 0)
            return r;
        if (r == 0)
            return l->kind == LINK_SERIAL ? AH_EAGAIN : AH_ECLOSED;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return AH_EAGAIN;
        /* A pty whose other side closed reports EIO: the device went away. */
        return errno == ECONNRESET || errno == EIO ? AH_ECLOSED : AH_EIO;
    }
}

void link_flush_input(link_t *l)
{
    uint8_t junk[256];
    while (link_read(l, junk, sizeof junk) > 0) {
    }
}
