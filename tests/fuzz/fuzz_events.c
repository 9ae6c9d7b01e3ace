/*
 * fuzz_events — the events codec's parser (pipe_ev_parse) on outside
 * bytes: event bodies are read back from disk by `amihead events`,
 * `amihead districts` and the writer at start. The first two bytes pick
 * the key's type, the rest is the body. Whatever the parser accepts must
 * build again, and the built body must be a fixed point: parsed and built
 * once more it is the same bytes (one event, one byte form).
 */
#include "ah_err.h"
#include "pipe_ev.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int build(const struct pipe_ev *ev, char **out)
{
    switch (ev->kind) {
    case PIPE_EVK_RULE:
        return pipe_ev_build_rule(ev->type, &ev->u.rule, out);
    case PIPE_EVK_GAP:
        return pipe_ev_build_gap(&ev->u.gap, out);
    case PIPE_EVK_RELEASE:
        return pipe_ev_build_release(&ev->u.release, out);
    case PIPE_EVK_DAY:
        return pipe_ev_build_day(ev->type, &ev->u.day, out);
    case PIPE_EVK_LINK:
        return pipe_ev_build_link(ev->type == PIPE_EV_LINK_UP, &ev->u.link, out);
    }
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    /* the types that exist, mostly: rules 0..31, then 0x1xx .. 0x3xx */
    uint16_t type = (uint16_t)((data[0] & 0x03) << 8 | data[1]);
    struct pipe_ev ev;
    if (pipe_ev_parse(type, data + 2, size - 2, &ev) != AH_OK)
        return 0;
    char *one = NULL, *two = NULL;
    /* a parsed body may hold what no build writes (a string that is not a
     * meter id is still a string): refused is fine, wrong is not */
    if (build(&ev, &one) == AH_OK) {
        struct pipe_ev again;
        if (pipe_ev_parse(type, (const uint8_t *)one, strlen(one), &again) != AH_OK)
            abort();
        if (build(&again, &two) != AH_OK || strcmp(one, two) != 0)
            abort();
        pipe_ev_free(&again);
    }
    free(one);
    free(two);
    pipe_ev_free(&ev);
    return 0;
}
