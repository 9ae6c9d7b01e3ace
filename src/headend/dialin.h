/*
 * dialin — rules for who may dial in on a dlt645-listen link: the allowed
 * source networks of a link (CIDR list, links[].allow) and the bounds on
 * unidentified connections (issue 17 items 3 and 5). Pure: no sockets, no
 * clock, no allocation; the scheduler applies the verdicts.
 */
#ifndef AH_DIALIN_H
#define AH_DIALIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DIALIN_ALLOW_MAX 16 /* networks per link */

/* Unidentified (13H not answered yet) connections kept at once, and per
 * source address: one address cannot take more than this many slots, so a
 * flood from it cannot lock real concentrators out. */
#define DIALIN_PENDING_MAX    32
#define DIALIN_PER_SOURCE_MAX 4

struct dialin_net {
    uint8_t addr[16]; /* IPv4 as ::ffff:a.b.c.d (RFC 4291 §2.5.5.2) */
    uint8_t prefix;   /* 0..128, counted on the 16-byte form */
};

struct dialin_allow {
    size_t n; /* 0: any source */
    struct dialin_net net[DIALIN_ALLOW_MAX];
};

/*
 * Parse "10.1.0.0/16, 192.0.2.7, 2001:db8::/32" (comma or space separated;
 * a bare address is a /32 or /128). "" gives n = 0. 0, or -1 with a
 * message in err (the offending item named).
 */
int dialin_allow_parse(const char *text, struct dialin_allow *out, char *err,
                       size_t errlen);

/* Is ip (16 bytes, IPv4 mapped as above) inside one of a's networks? True
 * when a is empty. */
bool dialin_allow_match(const struct dialin_allow *a, const uint8_t ip[16]);

/* A sockaddr_in / sockaddr_in6 as the 16-byte form; false for others. */
bool dialin_ip_of(const void *sockaddr, uint8_t ip[16]);

/*
 * What a failed accept4 means for the listener (issue 15). Running out of
 * descriptors or kernel memory (EMFILE, ENFILE, ENOBUFS, ENOMEM) leaves the
 * connection in the backlog and the listener readable: accepting again at
 * once would spin the event loop. The listener pauses instead, for a delay
 * that doubles from DIALIN_PAUSE_MIN_MS to DIALIN_PAUSE_MAX_MS while the
 * failures go on, and an episode is said once: at its first failure and
 * when an accept succeeds again. A failure of one connection (it was
 * aborted, a firewall refused it, a signal) is skipped; EAGAIN ends the
 * round. Any other error pauses too: it will not go away by retrying.
 * Pure: the caller passes the monotonic time and does the epoll work.
 */
#define DIALIN_PAUSE_MIN_MS 100
#define DIALIN_PAUSE_MAX_MS 2000

enum dialin_accept_verdict {
    DIALIN_ACCEPT_DONE,  /* EAGAIN: nothing more to accept now */
    DIALIN_ACCEPT_NEXT,  /* this connection is lost: accept the next one */
    DIALIN_ACCEPT_PAUSE, /* stop watching the listener until p->until_ms */
};

struct dialin_pause {
    int64_t until_ms;       /* mono ms when a paused listener is watched again */
    int64_t delay_ms;       /* current pause, 0 when not in an episode */
    unsigned long failures; /* failed accept4 calls in this episode */
};

/* accept4 failed with errno err at mono now_ms. *first is set when this
 * failure starts an episode (log it then, not again). */
enum dialin_accept_verdict dialin_accept_failed(struct dialin_pause *p, int err,
                                                int64_t now_ms, bool *first);

/* An accept4 succeeded: ends an episode. Returns how many failures it had
 * (0: there was none, nothing to say). */
unsigned long dialin_accept_ok(struct dialin_pause *p);

#endif /* AH_DIALIN_H */
