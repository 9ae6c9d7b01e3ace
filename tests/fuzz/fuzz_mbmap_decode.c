/*
 * fuzz_mbmap_decode — mbmap_plan() + mbmap_decode() on arbitrary register
 * contents, arbitrary spans and a synthetic map built from the input.
 *
 * Input: byte 0 picks a built-in map (or, past the last, a synthetic map
 * whose quantities come from the following bytes); byte 1 selects planned
 * spans or a raw span taken from the input; the rest are big-endian
 * registers as they come off the wire. Checks: no crash/UB, planned spans
 * always decode, decode never writes outside the span's quantities.
 */
#include "ah_err.h"
#include "mbmap.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t n_builtin(void)
{
    size_t n = 0;
    while (mbmap_at(n))
        n++;
    return n;
}

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t pick = data[0], mode = data[1];
    data += 2;
    size -= 2;

    struct mbmap_qty q[8];
    struct mbmap synth;
    const struct mbmap *m = mbmap_at(pick % (n_builtin() + 1));
    if (!m) {
        /* Synthetic map: up to 8 quantities of 4 bytes (addr, type, exp). */
        size_t n = 0;
        while (n < 8 && size >= 4) {
            q[n] = (struct mbmap_qty){"x", "", rd16(data),
                                      (enum mbmap_type)(data[2] % (MBMAP_I64 + 1)),
                                      (int8_t)((int)(data[3] % 19) - 9)};
            data += 4;
            size -= 4;
            n++;
        }
        synth = (struct mbmap){"synth",
                               "",
                               (pick & 1) ? MBMAP_FC_INPUT : MBMAP_FC_HOLDING,
                               (uint16_t)(1 + (pick >> 1) % MBMAP_MAX_READ_REGS),
                               (uint16_t)(mode >> 2),
                               q,
                               n};
        m = &synth;
    }

    uint16_t regs[MBMAP_MAX_READ_REGS];
    size_t n_regs = size / 2 < MBMAP_MAX_READ_REGS ? size / 2 : MBMAP_MAX_READ_REGS;
    for (size_t i = 0; i < n_regs; i++)
        regs[i] = rd16(data + 2 * i);

    /* Canary after the values the map may write. */
    double values[MBMAP_MAX_QTY + 1];
    const double canary = 12345.0;
    for (size_t i = 0; i <= MBMAP_MAX_QTY; i++)
        values[i] = canary;

    if (mode & 1) {
        /* Raw span from the first registers: must be refused or in range. */
        if (n_regs < 2)
            return 0;
        struct mbmap_span sp = {regs[0], (uint16_t)(regs[1] % 130),
                                (uint16_t)(mode >> 1) % 70,
                                (uint16_t)((regs[1] >> 8) % 70)};
        int rc = mbmap_decode(m, &sp, regs + 2, n_regs - 2, values, MBMAP_MAX_QTY);
        for (size_t i = 0; i <= MBMAP_MAX_QTY; i++) {
            bool inside =
                rc == AH_OK && i >= sp.first_qty && i < (size_t)sp.first_qty + sp.n_qty;
            if (!inside && memcmp(&values[i], &canary, sizeof canary))
                abort();
        }
        return 0;
    }

    struct mbmap_span spans[MBMAP_MAX_SPANS];
    size_t n = 0;
    int rc = mbmap_plan(m, spans, MBMAP_MAX_SPANS, &n);
    if (rc) {
        if (mbmap_is_valid(m))
            abort(); /* a valid map always plans within MBMAP_MAX_SPANS */
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (spans[i].count == 0 || spans[i].count > m->max_regs)
            abort();
        /* Short input: recycle the registers we have, decode must still
         * accept exactly count registers. */
        uint16_t buf[MBMAP_MAX_READ_REGS];
        for (size_t k = 0; k < spans[i].count; k++)
            buf[k] = n_regs ? regs[(k + i) % n_regs] : 0;
        if (mbmap_decode(m, &spans[i], buf, spans[i].count, values, m->n_qty) != AH_OK)
            abort();
    }
    if (memcmp(&values[m->n_qty], &canary, sizeof canary))
        abort();
    return 0;
}
