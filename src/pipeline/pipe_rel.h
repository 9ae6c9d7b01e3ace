/*
 * pipe_rel — the release request codec: the one place that writes and
 * reads the file `amihead release` leaves in the spool beside the store
 * ("<storage>.release/NNN.req", pipe_release_dir) for the writer to apply.
 * The file is one JSON object (sorted keys, compact): meter, from, to,
 * reason, operator (strings), requested (UTC seconds), from/to the range
 * [from, to) in UTC seconds.
 *
 * Bytes in, struct out, and the other way: no file, no clock. The spool is
 * outside input (any local user with write access to it, a file half
 * copied by hand): what the parser does not take whole is AH_EINVAL, never
 * half read (tests/fuzz/fuzz_release_req.c).
 */
#ifndef AH_PIPE_REL_H
#define AH_PIPE_REL_H

#include <stddef.h>
#include <stdint.h>

/* A request file longer than this is not one (the strings are a meter id,
 * a reason and a name). */
#define PIPE_REL_MAX_BYTES 65536

/* Strings borrowed: for a build, the caller's; for a parse, the parsed
 * request's (valid until pipe_rel_free). Times: UTC seconds within
 * 0 .. PIPE_EV_TIME_MAX (what the RELEASE event can carry), from < to. */
struct pipe_rel_req {
    const char *meter, *reason, *op; /* non-empty UTF-8; op: "operator" */
    int64_t from, to, requested;
};

/* The first field of r that a request cannot carry ("meter", "reason",
 * "operator", "from", "to", "requested"), or NULL when r is a request.
 * `amihead release` says which before it writes anything. */
const char *pipe_rel_invalid(const struct pipe_rel_req *r);

/* The file's text, NUL terminated, in *out (caller frees). AH_OK,
 * AH_EINVAL (pipe_rel_invalid says what), AH_ENOMEM. */
int pipe_rel_build(const struct pipe_rel_req *r, char **out);

/* One request parsed; free with pipe_rel_free. */
struct pipe_rel {
    struct pipe_rel_req r;
    void *doc_; /* owned: the document the strings live in */
};

/* Parse len bytes (not NUL terminated). AH_OK (free *out), AH_EINVAL (not
 * a request: a key missing, of another type, duplicated, or a value out
 * of range; nothing to free), AH_ENOMEM. */
int pipe_rel_parse(const uint8_t *bytes, size_t len, struct pipe_rel *out);

/* Accepts a zeroed or freed request. */
void pipe_rel_free(struct pipe_rel *r);

#endif /* AH_PIPE_REL_H */
