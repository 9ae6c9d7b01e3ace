/* probe — why a folder or listen address cannot be used (see probe.h). */
#include "probe.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

__attribute__((format(printf, 3, 4))) static int say(char *why, size_t cap,
                                                     const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
    return -1;
}

/* Owner and mode of a folder, for a permission message. */
static void owner_mode(const char *dir, char *buf, size_t cap)
{
    struct stat st;
    if (stat(dir, &st) == 0)
        snprintf(buf, cap, "owner uid %u, mode %04o; amihead runs as uid %u",
                 (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777),
                 (unsigned)geteuid());
    else
        snprintf(buf, cap, "amihead runs as uid %u", (unsigned)geteuid());
}

int probe_dir(const char *path, char *why, size_t cap)
{
    char om[96];
    struct stat st;
    if (stat(path, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return say(why, cap, "%s is a file, not a folder", path);
        if (access(path, W_OK | X_OK) != 0) {
            owner_mode(path, om, sizeof om);
            return say(why, cap, "permission denied: cannot write in %s (%s)", path, om);
        }
        return 0;
    }
    if (errno == EACCES) {
        return say(why, cap, "permission denied: cannot look into a folder above %s",
                   path);
    }
    /* RocksDB creates the last folder only: its parent must exist */
    char parent[4096];
    snprintf(parent, sizeof parent, "%s", path);
    size_t n = strlen(parent);
    while (n > 1 && parent[n - 1] == '/')
        parent[--n] = '\0';
    char *slash = strrchr(parent, '/');
    if (!slash)
        snprintf(parent, sizeof parent, ".");
    else if (slash == parent)
        parent[1] = '\0';
    else
        *slash = '\0';
    if (stat(parent, &st) != 0)
        return say(why, cap, "parent folder %s does not exist (create it first)", parent);
    if (!S_ISDIR(st.st_mode))
        return say(why, cap, "%s is a file, not a folder", parent);
    if (access(parent, W_OK | X_OK) != 0) {
        owner_mode(parent, om, sizeof om);
        return say(why, cap, "permission denied: cannot create a folder in %s (%s)",
                   parent, om);
    }
    return 0;
}

int probe_listen(const char *addr, char *why, size_t cap)
{
    const char *p = strstr(addr, "://");
    if (p && strncmp(addr, "tcp://", 6) != 0)
        return 0; /* ipc://, inproc://: not a port */
    p = p ? p + 3 : addr;
    char host[256], port[16];
    const char *colon = strrchr(p, ':');
    if (!colon || colon == p || !colon[1] || strlen(colon + 1) >= sizeof port ||
        (size_t)(colon - p) >= sizeof host)
        return say(why, cap, "%s: bad address (want HOST:PORT)", addr);
    memcpy(host, p, (size_t)(colon - p));
    host[colon - p] = '\0';
    snprintf(port, sizeof port, "%s", colon + 1);
    if (host[0] == '[') { /* [::1] */
        size_t hl = strlen(host);
        if (hl < 3 || host[hl - 1] != ']')
            return say(why, cap, "%s: bad address (want HOST:PORT)", addr);
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int g = getaddrinfo(strcmp(host, "*") && host[0] ? host : NULL, port, &hints, &res);
    if (g != 0 || !res) {
        snprintf(why, cap, "%s: cannot resolve %s: %s", addr, host, gai_strerror(g));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int rc = -1, err = 0;
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        rc = bind(fd, res->ai_addr, res->ai_addrlen);
        err = errno;
        close(fd);
    } else {
        err = errno;
    }
    freeaddrinfo(res);
    if (rc == 0)
        return 0;
    if (err == EADDRINUSE)
        snprintf(why, cap,
                 "port %s on %s is in use by another program (another amihead?)", port,
                 host);
    else if (err == EACCES)
        snprintf(why, cap,
                 "permission denied to listen on %s:%s (ports below 1024 need root or "
                 "CAP_NET_BIND_SERVICE)",
                 host, port);
    else if (err == EADDRNOTAVAIL)
        snprintf(why, cap, "%s is not an address of this machine (port %s)", host, port);
    else
        snprintf(why, cap, "cannot listen on %s:%s: %s", host, port, strerror(err));
    return -1;
}
