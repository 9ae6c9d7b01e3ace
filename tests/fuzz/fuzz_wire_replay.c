/*
 * fuzz_wire_replay — the replay endpoint's request parser and range check,
 * and the outbox record decoder, on outside bytes. Anything the parser
 * accepts must print back to exactly the same bytes (one canonical form),
 * and the reply header must always fit WIRE_REPLY_HDR_MAX. The subscriber's
 * seq reader (wire_body_seq) on the same bytes.
 */
#include "ah_err.h"
#include "wire.h"

#include <string.h>

#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct wire_replay_req r;
    if (wire_replay_parse(data, size, &r) == AH_OK) {
        char again[WIRE_REPLAY_REQ_MAX + 8];
        int n = r.op == WIRE_REPLAY_INFO
                    ? snprintf(again, sizeof again, "info")
                    : snprintf(again, sizeof again, "replay %llu %llu",
                               (unsigned long long)r.first, (unsigned long long)r.last);
        if (n < 0 || (size_t)n != size || memcmp(again, data, size) != 0)
            abort();
        uint64_t oldest = size > 8 ? data[0] : 1,
                 next = oldest + (size > 9 ? data[1] : 0);
        enum wire_replay_status st = wire_replay_check(&r, oldest, next);
        if (st == WIRE_REPLAY_OK && r.op == WIRE_REPLAY_RANGE &&
            (r.first < oldest || r.last >= next ||
             r.last - r.first >= WIRE_REPLAY_MAX_COUNT))
            abort();
        char hdr[WIRE_REPLY_HDR_MAX];
        if (wire_replay_header(st, r.first, r.last, 1, oldest, next, hdr, sizeof hdr) <=
            0)
            abort();
    }
    /* a seq read from a body is the digits right after its "seq": key */
    uint64_t seq = wire_body_seq((const char *)data, size);
    if (seq) {
        char digits[32]; /* "seq": and up to 20 digits */
        int dn = snprintf(digits, sizeof digits, "\"seq\":%llu", (unsigned long long)seq);
        if (dn <= 0 || !memmem(data, size, digits, (size_t)dn))
            abort();
    }
    struct wire_outbox_view v;
    if (wire_outbox_decode(data, size, &v) == AH_OK) {
        if (v.topic_len + v.body_len + WIRE_OUTBOX_HDR != size)
            abort();
        uint8_t again[WIRE_OUTBOX_MAX];
        if (size <= sizeof again &&
            (wire_outbox_encode(v.published_ms, v.topic, v.topic_len, v.body, v.body_len,
                                again, sizeof again) != (int)size ||
             memcmp(again, data, size) != 0))
            abort();
    }
    return 0;
}
