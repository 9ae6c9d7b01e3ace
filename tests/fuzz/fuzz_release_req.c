/*
 * fuzz_release_req — the release request codec's parser (pipe_rel_parse)
 * on outside bytes: the spool beside the store takes files from whoever
 * may write there. Whatever the parser accepts must build again, and the
 * built text must be a fixed point: parsed and built once more it is the
 * same bytes (one request, one byte form).
 */
#include "ah_err.h"
#include "pipe_rel.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pipe_rel p;
    if (pipe_rel_parse(data, size, &p) != AH_OK)
        return 0;
    char *one = NULL, *two = NULL;
    /* what the parser takes, the builder writes: the rules are one */
    if (pipe_rel_build(&p.r, &one) != AH_OK)
        abort();
    struct pipe_rel again;
    if (pipe_rel_parse((const uint8_t *)one, strlen(one), &again) != AH_OK)
        abort();
    if (pipe_rel_build(&again.r, &two) != AH_OK || strcmp(one, two) != 0)
        abort();
    pipe_rel_free(&again);
    free(one);
    free(two);
    pipe_rel_free(&p);
    return 0;
}
