/*
 * probe — why a folder or a listen address cannot be used, in words an
 * operator acts on ("port 5556 on 127.0.0.1 is in use", "parent folder
 * /srv/ami does not exist"), instead of the "input/output error" a library
 * reduces every failure to. Used by check-config (as warnings, before a
 * run) and by run (after a failure, to name its real cause).
 *
 * A probe is a snapshot: a port found free may be taken a moment later.
 */
#ifndef AH_PROBE_H
#define AH_PROBE_H

#include <stddef.h>

/* Can `path` be the store folder: an existing writable folder, or one that
 * can be created in its (existing, writable) parent? 0 yes; -1 with the
 * reason in why ("parent folder X does not exist", "permission denied: ...",
 * "X is a file, not a folder"). */
int probe_dir(const char *path, char *why, size_t cap);

/* Can a TCP listener bind `addr` ("HOST:PORT", "tcp://HOST:PORT", "*:PORT",
 * "[::1]:PORT")? 0 yes; -1 with the reason in why ("port 5556 on 127.0.0.1
 * is in use by another program", "permission denied: ports below 1024 ...",
 * "10.9.9.9 is not an address of this machine", "bad address"). */
int probe_listen(const char *addr, char *why, size_t cap);

#endif /* AH_PROBE_H */
