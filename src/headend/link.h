/*
 * link — byte transports under the DL/T 645 sessions (DESIGN.md §3).
 *
 * One interface for: TCP client, accepted TCP socket (dial-in
 * concentrators), real serial ports through libserialport (enumeration,
 * USB serial numbers that survive re-plugging) and pseudo-terminals through
 * termios (libserialport 0.1.1 cannot open them: no sysfs entry,
 * protocols.md §6.3). Every link exposes a non-blocking fd for the event
 * loop. A link knows nothing about frames; it moves bytes.
 */
#ifndef AH_LINK_H
#define AH_LINK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct link link_t;

enum link_parity { LINK_PARITY_NONE, LINK_PARITY_EVEN, LINK_PARITY_ODD };

struct link_serial_opts {
    int baud; /* 300 .. 115200 */
    enum link_parity parity;
    int data_bits; /* 7 or 8 */
    int stop_bits; /* 1 or 2 */
};

/* DL/T 645 default character: 2400 bit/s 8E1 (protocols.md §1.1). */
#define LINK_SERIAL_DLT645_DEFAULT                                                       \
    {                                                                                    \
        2400, LINK_PARITY_EVEN, 8, 1                                                     \
    }

/* "host:port" (IPv4, name, or [v6]:port). Caller owns the result. NULL on
 * a malformed spec. Nothing is opened until link_open. */
link_t *link_new_tcp(const char *host_port);
/* A serial device path (or /dev/serial/by-id/… link). */
link_t *link_new_serial(const char *path, const struct link_serial_opts *o);
/* Wrap an accepted, connected socket (takes ownership of fd). */
link_t *link_new_accepted(int fd, const char *peer_name);

/* Open / connect, waiting at most timeout_ms. AH_OK or a negative ah_err
 * (AH_ECONNREFUSED, AH_ETIMEDOUT, AH_ENOENT, AH_EIO …). */
int link_open(link_t *l, int timeout_ms);
/*
 * Non-blocking open for an event loop (DESIGN.md §3: one slow peer must not
 * stall the other links). TCP: AH_OK when connected at once, AH_EAGAIN when
 * the connect is under way (link_fd() turns writable when it settles: then
 * call link_connect_finish), or a negative ah_err. Other kinds open at once
 * (serial opens do not block: O_NONBLOCK) or fail.
 */
int link_connect_start(link_t *l);
/* Settle a connect that link_connect_start left under way: AH_OK, or the
 * connect's error (the fd is then closed). */
int link_connect_finish(link_t *l);

/* A non-blocking listening TCP socket on "host:port" (port 0: any; the
 * port bound goes to *bound_port when non-NULL). Returns the fd (caller
 * owns, close()) or a negative ah_err. */
int link_listen_tcp(const char *host_port, int *bound_port);

/* Close the fd; the link may be opened again (reconnect). */
void link_close(link_t *l);
void link_destroy(link_t **l);

/* Non-blocking fd for poll/epoll, -1 when closed. */
int link_fd(const link_t *l);
/* "tcp:127.0.0.1:7000", "serial:/dev/ttyUSB0", "pty:/dev/pts/3" */
const char *link_name(const link_t *l);
/* Which backend a serial link used: "libserialport", "termios" or "tcp". */
const char *link_backend(const link_t *l);

/* Write all n bytes, waiting at most timeout_ms (serial lines at 2400 bit/s
 * drain slowly). AH_OK, AH_ETIMEDOUT, AH_ECLOSED or AH_EIO. */
int link_write_all(link_t *l, const uint8_t *p, size_t n, int timeout_ms);
/* Non-blocking read. Returns bytes read (> 0), AH_EAGAIN when nothing is
 * there, AH_ECLOSED when the peer went away, AH_EIO on error. */
ssize_t link_read(link_t *l, uint8_t *p, size_t cap);
/* Discard bytes already received (stale replies before a new request). */
void link_flush_input(link_t *l);

#endif /* AH_LINK_H */
