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

#endif /* AH_DIALIN_H */
