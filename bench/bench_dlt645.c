/*
 * bench_dlt645 — DL/T 645 parse and decode throughput, each as a ratio to a
 * ceiling measured in the same run on the same bytes: the ceiling is one
 * pass that only sums the bytes (the least work that touches every byte),
 * so the ratio says how close the codec is to memory speed regardless of
 * how busy this shared machine is.
 */
#include "ah_clock.h"
#include "dlt645.h"
#include "dlt645_di.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static volatile unsigned sink;

static double ceiling_pass(const uint8_t *p, size_t n)
{
    double t0 = now_s();
    unsigned s = 0;
    for (size_t i = 0; i < n; i++)
        s += p[i];
    sink = s;
    return now_s() - t0;
}

int main(void)
{
    enum { FRAMES = 400000 };
    struct dlt645_addr a;
    dlt645_addr_parse("123456789012", &a);
    /* a realistic reply mix: energy block (20 B), voltage block, a load record */
    uint8_t energy[20], volt[6];
    for (int i = 0; i < 20; i++)
        energy[i] = (uint8_t)(0x12 + i);
    for (int i = 0; i < 6; i++)
        volt[i] = (uint8_t)(0x21 + i);
    size_t cap = (size_t)FRAMES * 64;
    uint8_t *buf = malloc(cap);
    size_t len = 0;
    for (int i = 0; i < FRAMES; i++) {
        int n = (i & 1) ? dlt645_reply_read(buf + len, cap - len, 2, &a, 0x0001FF00,
                                            false, energy, sizeof energy)
                        : dlt645_reply_read(buf + len, cap - len, 0, &a, 0x0201FF00,
                                            false, volt, sizeof volt);
        if (n < 0)
            return 1;
        len += (size_t)n;
    }

    double best_parse = 1e9, best_ceil = 1e9, best_dec = 1e9, best_copy = 1e9;
    unsigned long frames = 0;
    for (int rep = 0; rep < 5; rep++) {
        double c = ceiling_pass(buf, len);
        if (c < best_ceil)
            best_ceil = c;
        struct dlt645_parser p;
        dlt645_parser_init(&p);
        struct dlt645_frame f;
        enum dlt645_parse_status st;
        double t0 = now_s();
        size_t off = 0;
        frames = 0;
        while (off < len) {
            off += dlt645_parse(&p, buf + off, len - off, &f, &st);
            frames += st == DLT645_FRAME_OK;
        }
        double t = now_s() - t0;
        if (t < best_parse)
            best_parse = t;
        /* decode the energy block payload through the DI table */
        struct dlt645_value v[8];
        size_t nv;
        t0 = now_s();
        for (int i = 0; i < FRAMES; i++)
            dlt645_decode(0x0001FF00, DLT645_2007, energy, sizeof energy, v, 8, &nv);
        t = now_s() - t0;
        if (t < best_dec)
            best_dec = t;
        /* its ceiling: only copying the same payload bytes out */
        uint8_t out[sizeof energy];
        t0 = now_s();
        for (int i = 0; i < FRAMES; i++) {
            memcpy(out, energy, sizeof energy);
            sink += out[(size_t)i % sizeof out];
        }
        t = now_s() - t0;
        if (t < best_copy)
            best_copy = t;
    }
    if (frames != FRAMES) {
        fprintf(stderr, "parsed %lu of %d frames\n", frames, FRAMES);
        return 1;
    }
    double mb = (double)len / 1e6;
    printf("dlt645_parse   %8.1f MB/s  %8.0f frames/s  ceiling %8.1f MB/s  ratio %.3f\n",
           mb / best_parse, FRAMES / best_parse, mb / best_ceil, best_ceil / best_parse);
    printf("dlt645_decode  %8.0f blocks/s (0001FF00, 5 values)  ceiling (copy out) %8.0f "
           "blocks/s  ratio %.3f\n",
           FRAMES / best_dec, FRAMES / best_copy, best_copy / best_dec);
    free(buf);
    return 0;
}
