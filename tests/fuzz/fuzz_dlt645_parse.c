/*
 * fuzz_dlt645_parse — libFuzzer target for the DL/T 645 stream parser.
 *
 * The first byte of the input seeds the chunk sizes, so the fuzzer also
 * explores how a frame is split across reads. Invariants checked:
 *   - consumed never exceeds what was offered, and every byte is consumed
 *     once the parser says "need more";
 *   - a decoded frame's length is within DLT645_MAX_DATA;
 *   - re-encoding a frame yields bytes that parse back to the same frame;
 *   - reply classification and the BCD helpers never misbehave on it.
 * Each chunk is copied into its own allocation so ASan flags any read past
 * the bytes the parser was given.
 */
#include "ah_err.h"
#include "dlt645.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_frame(const struct dlt645_frame *f)
{
    uint8_t out[DLT645_FRAME_MAX];
    struct dlt645_parser p;
    struct dlt645_frame again;
    struct dlt645_reply r;
    enum dlt645_parse_status st;
    uint32_t di = 0;
    int64_t v;
    int n;
    size_t used;

    if (f->len > DLT645_MAX_DATA)
        abort();
    n = dlt645_encode(out, sizeof(out), DLT645_PREAMBLE, &f->addr, f->ctrl, f->data,
                      f->len);
    if (n != DLT645_PREAMBLE + DLT645_OVERHEAD + f->len)
        abort();
    dlt645_parser_init(&p);
    used = dlt645_parse(&p, out, (size_t)n, &again, &st);
    if (st != DLT645_FRAME_OK || used != (size_t)n)
        abort();
    if (!dlt645_addr_eq(&again.addr, &f->addr) || again.ctrl != f->ctrl ||
        again.len != f->len || memcmp(again.data, f->data, f->len) != 0)
        abort();

    (void)dlt645_frame_di(f, &di);
    if (dlt645_reply_classify(f, DLT645_2007, &f->addr, dlt645_func(f), di, &r) ==
            AH_OK &&
        r.kind != DLT645_R_OTHER && r.kind != DLT645_R_ERROR &&
        (r.payload < f->data || r.payload + r.payload_len > f->data + f->len))
        abort();
    if (dlt645_reply_classify(f, DLT645_1997, &dlt645_addr_wildcard, dlt645_func(f),
                              di & 0xFFFF, &r) == AH_OK &&
        r.kind != DLT645_R_OTHER && r.kind != DLT645_R_ERROR &&
        (r.payload < f->data || r.payload + r.payload_len > f->data + f->len))
        abort();
    if (f->len >= 4 &&
        dlt645_bcd_decode(f->data, f->len > 9 ? 9 : f->len, true, &v) == AH_OK) {
        uint8_t enc[9];
        size_t k = f->len > 9 ? 9 : f->len;
        /* A decodable signed value re-encodes to the same bytes unless it
         * was a "negative zero". */
        if (v != 0 &&
            (dlt645_bcd_encode(v, enc, k, true) != AH_OK || memcmp(enc, f->data, k) != 0))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dlt645_parser p;
    unsigned seed;
    size_t off;

    if (size < 1)
        return 0;
    seed = data[0];
    data++;
    size--;

    dlt645_parser_init(&p);
    off = 0;
    while (off < size) {
        /* Chunk sizes 1..16 (or the rest at once when seed is 0). */
        size_t want = seed == 0 ? size - off : (size_t)(seed % 16u) + 1u;
        size_t len = want < size - off ? want : size - off;
        size_t pos = 0;
        uint8_t *chunk = malloc(len);
        enum dlt645_parse_status st;
        int guard = 0;

        if (chunk == NULL)
            abort();
        memcpy(chunk, data + off, len);
        do {
            struct dlt645_frame f;
            size_t used = dlt645_parse(&p, chunk + pos, len - pos, &f, &st);
            if (used > len - pos)
                abort();
            pos += used;
            if (p.have > sizeof(p.buf))
                abort();
            if (st == DLT645_FRAME_OK)
                check_frame(&f);
            /* Each call makes progress or reports an event; events from
             * buffered bytes are bounded by the buffer size. */
            if (++guard > (int)(len + sizeof(p.buf) + 2))
                abort();
        } while (st != DLT645_NEED_MORE);
        if (pos != len)
            abort();
        free(chunk);
        off += len;
        seed = seed * 33u + 7u;
        seed &= 0xFFu;
    }
    return 0;
}
