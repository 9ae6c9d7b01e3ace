/*
 * pipe_rel — the release request codec (see pipe_rel.h). The keys and
 * their rules live here only: the CLI builds with them, the writer parses
 * with them, so a request one accepts is one the other takes.
 */
#include "pipe_rel.h"

#include "ah_err.h"
#include "pipe_ev.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Non-empty and UTF-8 without NUL (what a JSON string and the RELEASE
 * event can carry). */
static bool str_ok(const char *s)
{
    if (!s || !s[0])
        return false;
    json_t *j = json_string(s);
    json_decref(j);
    return j != NULL;
}

static bool time_ok(int64_t s)
{
    return s >= 0 && s <= PIPE_EV_TIME_MAX;
}

const char *pipe_rel_invalid(const struct pipe_rel_req *r)
{
    if (!str_ok(r->meter))
        return "meter";
    if (!str_ok(r->reason))
        return "reason";
    if (!str_ok(r->op))
        return "operator";
    if (!time_ok(r->from))
        return "from";
    if (!time_ok(r->to) || r->to <= r->from)
        return "to";
    if (!time_ok(r->requested))
        return "requested";
    return NULL;
}

int pipe_rel_build(const struct pipe_rel_req *r, char **out)
{
    *out = NULL;
    if (pipe_rel_invalid(r))
        return AH_EINVAL;
    json_t *o =
        json_pack("{s:s,s:I,s:I,s:s,s:s,s:I}", "meter", r->meter, "from",
                  (json_int_t)r->from, "to", (json_int_t)r->to, "reason", r->reason,
                  "operator", r->op, "requested", (json_int_t)r->requested);
    if (o)
        *out = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return *out ? AH_OK : AH_ENOMEM;
}

int pipe_rel_parse(const uint8_t *bytes, size_t len, struct pipe_rel *out)
{
    memset(out, 0, sizeof *out);
    if (len > PIPE_REL_MAX_BYTES)
        return AH_EINVAL;
    json_t *o = json_loadb((const char *)bytes, len, JSON_REJECT_DUPLICATES, NULL);
    json_int_t from = 0, to = 0, req = 0;
    struct pipe_rel_req *r = &out->r;
    /* strict: exactly these keys ("!"), each of its type */
    if (!json_is_object(o) ||
        json_unpack(o, "{s:s,s:I,s:I,s:s,s:s,s:I!}", "meter", &r->meter, "from", &from,
                    "to", &to, "reason", &r->reason, "operator", &r->op, "requested",
                    &req) != 0) {
        json_decref(o);
        memset(out, 0, sizeof *out);
        return AH_EINVAL;
    }
    r->from = (int64_t)from;
    r->to = (int64_t)to;
    r->requested = (int64_t)req;
    if (pipe_rel_invalid(r)) {
        json_decref(o);
        memset(out, 0, sizeof *out);
        return AH_EINVAL;
    }
    out->doc_ = o;
    return AH_OK;
}

void pipe_rel_free(struct pipe_rel *r)
{
    if (!r)
        return;
    json_decref(r->doc_);
    memset(r, 0, sizeof *r);
}
