/*
 * dialin — allowed source networks of a dial-in link (see dialin.h).
 */
#include "dialin.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static void map_v4(const struct in_addr *a, uint8_t ip[16])
{
    memset(ip, 0, 10);
    ip[10] = ip[11] = 0xff;
    memcpy(ip + 12, &a->s_addr, 4);
}

bool dialin_ip_of(const void *sockaddr, uint8_t ip[16])
{
    const struct sockaddr *sa = sockaddr;
    if (sa->sa_family == AF_INET) {
        map_v4(&((const struct sockaddr_in *)sockaddr)->sin_addr, ip);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        memcpy(ip, &((const struct sockaddr_in6 *)sockaddr)->sin6_addr, 16);
        return true;
    }
    return false;
}

static int parse_one(const char *item, struct dialin_net *n)
{
    char host[64];
    const char *slash = strchr(item, '/');
    size_t hl = slash ? (size_t)(slash - item) : strlen(item);
    if (hl == 0 || hl >= sizeof host)
        return -1;
    memcpy(host, item, hl);
    host[hl] = '\0';
    struct in_addr a4;
    struct in6_addr a6;
    unsigned max;
    if (inet_pton(AF_INET, host, &a4) == 1) {
        map_v4(&a4, n->addr);
        max = 32;
    } else if (inet_pton(AF_INET6, host, &a6) == 1) {
        memcpy(n->addr, &a6, 16);
        max = 128;
    } else
        return -1;
    unsigned long bits = max;
    if (slash) {
        char *end;
        if (!isdigit((unsigned char)slash[1]))
            return -1;
        bits = strtoul(slash + 1, &end, 10);
        if (*end || bits > max)
            return -1;
    }
    n->prefix = (uint8_t)(bits + (max == 32 ? 96 : 0));
    /* host bits set under the mask ("10.1.2.3/16") are a typo more often
     * than a wish: refuse rather than guess */
    for (unsigned b = n->prefix; b < 128; b++)
        if (n->addr[b / 8] & (0x80u >> (b % 8)))
            return -1;
    return 0;
}

int dialin_allow_parse(const char *text, struct dialin_allow *out, char *err,
                       size_t errlen)
{
    memset(out, 0, sizeof *out);
    const char *p = text;
    for (;;) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        if (!*p)
            return 0;
        size_t len = strcspn(p, " ,\t");
        char item[80];
        if (len >= sizeof item) {
            snprintf(err, errlen, "'%.40s...' is not an address or network", p);
            return -1;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        if (out->n == DIALIN_ALLOW_MAX) {
            snprintf(err, errlen, "more than %d networks", DIALIN_ALLOW_MAX);
            return -1;
        }
        if (parse_one(item, &out->net[out->n]) != 0) {
            snprintf(err, errlen,
                     "'%s' is not an address or network (a.b.c.d/n, v6/n, host bits 0)",
                     item);
            return -1;
        }
        out->n++;
        p += len;
    }
}

bool dialin_allow_match(const struct dialin_allow *a, const uint8_t ip[16])
{
    if (a->n == 0)
        return true;
    for (size_t i = 0; i < a->n; i++) {
        const struct dialin_net *n = &a->net[i];
        unsigned full = n->prefix / 8, rest = n->prefix % 8;
        if (memcmp(ip, n->addr, full))
            continue;
        if (rest && ((ip[full] ^ n->addr[full]) & (uint8_t)(0xFF00u >> rest)))
            continue;
        return true;
    }
    return false;
}

enum dialin_accept_verdict dialin_accept_failed(struct dialin_pause *p, int err,
                                                int64_t now_ms, bool *first)
{
    *first = false;
    switch (err) {
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
        return DIALIN_ACCEPT_DONE;
    case EINTR:
    case ECONNABORTED:
    case EPROTO:
    case EPERM:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
        /* accept(2), "Error handling": these belong to the one connection */
        return DIALIN_ACCEPT_NEXT;
    default:
        break;
    }
    if (p->delay_ms == 0) {
        *first = true;
        p->delay_ms = DIALIN_PAUSE_MIN_MS;
    } else if (p->delay_ms < DIALIN_PAUSE_MAX_MS) {
        p->delay_ms *= 2;
        if (p->delay_ms > DIALIN_PAUSE_MAX_MS)
            p->delay_ms = DIALIN_PAUSE_MAX_MS;
    }
    p->failures++;
    p->until_ms = now_ms + p->delay_ms;
    return DIALIN_ACCEPT_PAUSE;
}

unsigned long dialin_accept_ok(struct dialin_pause *p)
{
    unsigned long n = p->failures;
    p->delay_ms = 0;
    p->failures = 0;
    p->until_ms = 0;
    return n;
}
