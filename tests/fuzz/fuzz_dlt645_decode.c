/*
 * fuzz_dlt645_decode — DI value codec, load records and curves on arbitrary
 * payloads.
 *
 * Input: 4 bytes pick the DI (little endian), the rest is the payload after
 * −33H. The raw DI rarely hits the table, so the same bytes also select a
 * table entry's example DI (dlt645_di_example) and that family with DI1/DI0
 * replaced, and a curve DI 0610IIPP. Checks: n <= max, and whatever decodes
 * re-encodes and decodes to the same values (encode is decode's inverse).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ah_err.h"
#include "dlt645_di.h"

#define MAXV 64

static void check(int cond)
{
    if (!cond)
        abort();
}

static int same_value(const struct dlt645_value *a, const struct dlt645_value *b)
{
    if (strcmp(a->name, b->name) != 0 || a->unit != b->unit || a->kind != b->kind)
        return 0;
    switch (a->kind) {
    case DLT645_V_NUM:
        if (a->raw != b->raw || a->decimals != b->decimals || a->has_tm != b->has_tm)
            return 0;
        return !a->has_tm || memcmp(&a->tm, &b->tm, sizeof(a->tm)) == 0;
    case DLT645_V_TIME:
        return a->tm_fields == b->tm_fields && memcmp(&a->tm, &b->tm, sizeof(a->tm)) == 0;
    case DLT645_V_BITS:
        return a->bits == b->bits;
    case DLT645_V_TEXT:
        return strcmp(a->text, b->text) == 0;
    default:
        return 1;
    }
}

static void run_decode(uint32_t di, enum dlt645_proto proto, const uint8_t *p, size_t len)
{
    static struct dlt645_value v[MAXV], w[MAXV];
    static uint8_t out[1024];
    size_t n = 0, n2 = 0, i;
    int rc, enc;

    rc = dlt645_decode(di, proto, p, len, v, MAXV, &n);
    check(n <= MAXV);
    if (rc != AH_OK) {
        check(n == 0);
        return;
    }
    enc = dlt645_encode_values(di, proto, v, n, out, sizeof(out));
    check(enc == (int)len);
    rc = dlt645_decode(di, proto, out, (size_t)enc, w, MAXV, &n2);
    check(rc == AH_OK && n2 == n);
    for (i = 0; i < n; i++)
        check(same_value(&v[i], &w[i]));
}

static void run_lr(const uint8_t *p, size_t len)
{
    struct dlt645_load_record r, r2;
    uint8_t out[256];
    size_t used = 0, used2 = 0;
    int w;

    if (dlt645_lr_decode(p, len, &r, &used) != AH_OK)
        return;
    check(used <= len);
    w = dlt645_lr_encode(&r, out, sizeof(out));
    check(w == (int)used);
    check(dlt645_lr_decode(out, (size_t)w, &r2, &used2) == AH_OK && used2 == used);
    check(memcmp(&r, &r2, sizeof(r)) == 0);
}

static void run_curve(uint32_t di, const uint8_t *p, size_t len)
{
    static struct dlt645_value v[MAXV], w[MAXV];
    static uint8_t out[1024];
    struct dlt645_tm t, t2;
    size_t n = 0, n2 = 0, i;
    int enc;

    if (dlt645_curve_decode(di, p, len, &t, v, MAXV, &n) != AH_OK) {
        check(n == 0);
        return;
    }
    check(n <= MAXV);
    enc = dlt645_curve_encode(di, &t, v, n, out, sizeof(out));
    check(enc == (int)len);
    check(dlt645_curve_decode(di, out, (size_t)enc, &t2, w, MAXV, &n2) == AH_OK);
    check(n2 == n && memcmp(&t, &t2, sizeof(t)) == 0);
    for (i = 0; i < n; i++)
        check(same_value(&v[i], &w[i]));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static size_t entries;
    uint32_t di, ex = 0;
    enum dlt645_proto proto = DLT645_2007;
    const uint8_t *p;
    size_t len;

    if (size < 4)
        return 0;
    if (entries == 0)
        while (dlt645_di_example(entries, NULL, NULL))
            entries++;
    di = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
         (uint32_t)data[3] << 24;
    p = data + 4;
    len = size - 4;

    run_decode(di, DLT645_2007, p, len);
    run_decode(di & 0xFFFFu, DLT645_1997, p, len);

    /* a known family: the example DI, then with DI1/DI0 from the input */
    dlt645_di_example(((size_t)data[0] | (size_t)data[1] << 8) % entries, &ex, &proto);
    run_decode(ex, proto, p, len);
    if (proto == DLT645_1997)
        run_decode((ex & 0xFF00u) | data[3], proto, p, len);
    else
        run_decode((ex & 0xFFFF0000u) | (uint32_t)data[2] << 8 | data[3], proto, p, len);

    run_lr(p, len);
    run_curve(di, p, len);
    run_curve(0x06100000u | (uint32_t)(data[2] & 0x0F) << 8 | (data[3] & 0x0F), p, len);
    return 0;
}
