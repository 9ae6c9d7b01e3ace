/*
 * mbmap — Modbus energy-meter register maps, request packing and decoding.
 *
 * Pure (see mbmap.h): the tables below are data taken from
 * reference/protocols.md §4; nothing here talks to a meter.
 */
#include "mbmap.h"

#include "ah_err.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define F32 MBMAP_F32_ABCD

/* Eastron SDM630 v2, FC 04, float32 ABCD, §4.2. Reading through the gaps
 * stays inside Eastron's documented parameter blocks (0x0000..0x004F and
 * 0x00C8..0x00FF carry averages, sums and THD we do not report). */
static const struct mbmap_qty sdm630_qty[] = {
    {"voltage_l1", "V", 0x0000, F32, 0},
    {"voltage_l2", "V", 0x0002, F32, 0},
    {"voltage_l3", "V", 0x0004, F32, 0},
    {"current_l1", "A", 0x0006, F32, 0},
    {"current_l2", "A", 0x0008, F32, 0},
    {"current_l3", "A", 0x000A, F32, 0},
    {"active_power_l1", "W", 0x000C, F32, 0},
    {"active_power_l2", "W", 0x000E, F32, 0},
    {"active_power_l3", "W", 0x0010, F32, 0},
    {"apparent_power_l1", "VA", 0x0012, F32, 0},
    {"apparent_power_l2", "VA", 0x0014, F32, 0},
    {"apparent_power_l3", "VA", 0x0016, F32, 0},
    {"reactive_power_l1", "var", 0x0018, F32, 0},
    {"reactive_power_l2", "var", 0x001A, F32, 0},
    {"reactive_power_l3", "var", 0x001C, F32, 0},
    {"power_factor_l1", "", 0x001E, F32, 0},
    {"power_factor_l2", "", 0x0020, F32, 0},
    {"power_factor_l3", "", 0x0022, F32, 0},
    {"phase_angle_l1", "deg", 0x0024, F32, 0},
    {"phase_angle_l2", "deg", 0x0026, F32, 0},
    {"phase_angle_l3", "deg", 0x0028, F32, 0},
    {"active_power_total", "W", 0x0034, F32, 0},
    {"apparent_power_total", "VA", 0x0038, F32, 0},
    {"reactive_power_total", "var", 0x003C, F32, 0},
    {"power_factor_total", "", 0x003E, F32, 0},
    {"frequency", "Hz", 0x0046, F32, 0},
    {"import_active_energy", "kWh", 0x0048, F32, 0},
    {"export_active_energy", "kWh", 0x004A, F32, 0},
    {"import_reactive_energy", "kvarh", 0x004C, F32, 0},
    {"export_reactive_energy", "kvarh", 0x004E, F32, 0},
    {"voltage_l1_l2", "V", 0x00C8, F32, 0},
    {"voltage_l2_l3", "V", 0x00CA, F32, 0},
    {"voltage_l3_l1", "V", 0x00CC, F32, 0},
    {"current_n", "A", 0x00E0, F32, 0},
    {"total_active_energy", "kWh", 0x0156, F32, 0},
    {"total_reactive_energy", "kvarh", 0x0158, F32, 0},
};

/* Eastron SDM120 (single phase), FC 04, float32 ABCD, §4.2. Its manual
 * documents nothing between 0x0024 and 0x0046, so the gap limit keeps the
 * frequency/energy block a separate request. */
static const struct mbmap_qty sdm120_qty[] = {
    {"voltage_l1", "V", 0x0000, F32, 0},
    {"current_l1", "A", 0x0006, F32, 0},
    {"active_power_l1", "W", 0x000C, F32, 0},
    {"apparent_power_l1", "VA", 0x0012, F32, 0},
    {"reactive_power_l1", "var", 0x0018, F32, 0},
    {"power_factor_l1", "", 0x001E, F32, 0},
    {"phase_angle_l1", "deg", 0x0024, F32, 0},
    {"frequency", "Hz", 0x0046, F32, 0},
    {"import_active_energy", "kWh", 0x0048, F32, 0},
    {"export_active_energy", "kWh", 0x004A, F32, 0},
    {"import_reactive_energy", "kvarh", 0x004C, F32, 0},
    {"export_reactive_energy", "kvarh", 0x004E, F32, 0},
    {"total_active_energy", "kWh", 0x0156, F32, 0},
    {"total_reactive_energy", "kvarh", 0x0158, F32, 0},
};

/* Chint DTSU666, FC 03, float32 ABCD, §4.3. The raw floats of most
 * firmware carry fixed multipliers (V × 10, A × 1000, W and var × 10,
 * PF × 1000, Hz × 100); energies are plain kWh. "dtsu666-eng" is the same
 * map for firmware that sends engineering units. Energies at 0x101E/0x1028
 * (some firmware uses 0x401E/0x4028, §4.3: not covered here). */
#define DTSU666_QTY(V, A, W, PF, HZ)                                                     \
    {"import_active_energy", "kWh", 0x101E, F32, 0},                                     \
        {"export_active_energy", "kWh", 0x1028, F32, 0},                                 \
        {"voltage_l1_l2", "V", 0x2000, F32, V}, {"voltage_l2_l3", "V", 0x2002, F32, V},  \
        {"voltage_l3_l1", "V", 0x2004, F32, V}, {"voltage_l1", "V", 0x2006, F32, V},     \
        {"voltage_l2", "V", 0x2008, F32, V}, {"voltage_l3", "V", 0x200A, F32, V},        \
        {"current_l1", "A", 0x200C, F32, A}, {"current_l2", "A", 0x200E, F32, A},        \
        {"current_l3", "A", 0x2010, F32, A},                                             \
        {"active_power_total", "W", 0x2012, F32, W},                                     \
        {"active_power_l1", "W", 0x2014, F32, W},                                        \
        {"active_power_l2", "W", 0x2016, F32, W},                                        \
        {"active_power_l3", "W", 0x2018, F32, W},                                        \
        {"reactive_power_total", "var", 0x201A, F32, W},                                 \
        {"reactive_power_l1", "var", 0x201C, F32, W},                                    \
        {"reactive_power_l2", "var", 0x201E, F32, W},                                    \
        {"reactive_power_l3", "var", 0x2020, F32, W},                                    \
        {"power_factor_total", "", 0x202A, F32, PF},                                     \
        {"power_factor_l1", "", 0x202C, F32, PF},                                        \
        {"power_factor_l2", "", 0x202E, F32, PF},                                        \
        {"power_factor_l3", "", 0x2030, F32, PF},                                        \
    {                                                                                    \
        "frequency", "Hz", 0x2044, F32, HZ                                               \
    }

static const struct mbmap_qty dtsu666_qty[] = {DTSU666_QTY(-1, -3, -1, -3, -2)};
static const struct mbmap_qty dtsu666_eng_qty[] = {DTSU666_QTY(0, 0, 0, 0, 0)};

/* Schneider PowerLogic PM5xxx / PM3200 / iEM3000 common map, FC 03, §4.5;
 * PDU address = register − 1. Powers come in kW/kvar/kVA and are scaled to
 * W/var/VA like the other maps; INT64 energies come in Wh/varh/VAh and are
 * scaled to kWh/kvarh/kVAh. Power factor (3078..3084) is left out: it uses
 * Schneider's "4Q FP PF" encoding, not a plain −1..1. */
static const struct mbmap_qty pm5xxx_qty[] = {
    {"current_l1", "A", 2999, F32, 0},
    {"current_l2", "A", 3001, F32, 0},
    {"current_l3", "A", 3003, F32, 0},
    {"current_n", "A", 3005, F32, 0},
    {"current_avg", "A", 3009, F32, 0},
    {"voltage_l1_l2", "V", 3019, F32, 0},
    {"voltage_l2_l3", "V", 3021, F32, 0},
    {"voltage_l3_l1", "V", 3023, F32, 0},
    {"voltage_ll_avg", "V", 3025, F32, 0},
    {"voltage_l1", "V", 3027, F32, 0},
    {"voltage_l2", "V", 3029, F32, 0},
    {"voltage_l3", "V", 3031, F32, 0},
    {"voltage_ln_avg", "V", 3035, F32, 0},
    {"active_power_l1", "W", 3053, F32, 3},
    {"active_power_l2", "W", 3055, F32, 3},
    {"active_power_l3", "W", 3057, F32, 3},
    {"active_power_total", "W", 3059, F32, 3},
    {"reactive_power_l1", "var", 3061, F32, 3},
    {"reactive_power_l2", "var", 3063, F32, 3},
    {"reactive_power_l3", "var", 3065, F32, 3},
    {"reactive_power_total", "var", 3067, F32, 3},
    {"apparent_power_l1", "VA", 3069, F32, 3},
    {"apparent_power_l2", "VA", 3071, F32, 3},
    {"apparent_power_l3", "VA", 3073, F32, 3},
    {"apparent_power_total", "VA", 3075, F32, 3},
    {"frequency", "Hz", 3109, F32, 0},
    {"import_active_energy", "kWh", 3203, MBMAP_I64, -3},
    {"export_active_energy", "kWh", 3207, MBMAP_I64, -3},
    {"import_reactive_energy", "kvarh", 3219, MBMAP_I64, -3},
    {"export_reactive_energy", "kvarh", 3223, MBMAP_I64, -3},
    {"import_apparent_energy", "kVAh", 3235, MBMAP_I64, -3},
    {"export_apparent_energy", "kVAh", 3239, MBMAP_I64, -3},
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static const struct mbmap maps[] = {
    {"sdm630", "Eastron SDM630 v2 three-phase", MBMAP_FC_INPUT, MBMAP_EASTRON_MAX_REGS,
     20, sdm630_qty, N_OF(sdm630_qty)},
    {"sdm120", "Eastron SDM120 single-phase", MBMAP_FC_INPUT, MBMAP_EASTRON_MAX_REGS, 16,
     sdm120_qty, N_OF(sdm120_qty)},
    {"dtsu666", "Chint DTSU666, scaled raw floats", MBMAP_FC_HOLDING, MBMAP_MAX_READ_REGS,
     20, dtsu666_qty, N_OF(dtsu666_qty)},
    {"dtsu666-eng", "Chint DTSU666, engineering-unit firmware", MBMAP_FC_HOLDING,
     MBMAP_MAX_READ_REGS, 20, dtsu666_eng_qty, N_OF(dtsu666_eng_qty)},
    {"pm5xxx", "Schneider PM5xxx/PM3200/iEM3000", MBMAP_FC_HOLDING, MBMAP_MAX_READ_REGS,
     16, pm5xxx_qty, N_OF(pm5xxx_qty)},
};

const struct mbmap *mbmap_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < N_OF(maps); i++)
        if (!strcmp(maps[i].name, name))
            return &maps[i];
    return NULL;
}

const struct mbmap *mbmap_at(size_t i)
{
    return i < N_OF(maps) ? &maps[i] : NULL;
}

unsigned mbmap_type_regs(enum mbmap_type t)
{
    switch (t) {
    case MBMAP_U16:
    case MBMAP_I16:
        return 1;
    case MBMAP_F32_ABCD:
    case MBMAP_F32_CDAB:
    case MBMAP_U32:
    case MBMAP_I32:
        return 2;
    case MBMAP_I64:
        return 4;
    }
    return 0;
}

bool mbmap_is_valid(const struct mbmap *m)
{
    if (!m || !m->qty || m->n_qty == 0 || m->n_qty > MBMAP_MAX_QTY)
        return false;
    if (m->fc != MBMAP_FC_HOLDING && m->fc != MBMAP_FC_INPUT)
        return false;
    if (m->max_regs == 0 || m->max_regs > MBMAP_MAX_READ_REGS)
        return false;
    uint32_t prev_end = 0;
    for (size_t i = 0; i < m->n_qty; i++) {
        const struct mbmap_qty *q = &m->qty[i];
        unsigned w = mbmap_type_regs(q->type);
        if (w == 0 || w > m->max_regs || !q->name || !q->unit)
            return false;
        if (q->exp10 < -9 || q->exp10 > 9)
            return false;
        if ((uint32_t)q->addr < prev_end || (uint32_t)q->addr + w > 0x10000u)
            return false;
        prev_end = (uint32_t)q->addr + w;
    }
    return true;
}

int mbmap_plan(const struct mbmap *m, struct mbmap_span *out, size_t cap, size_t *n)
{
    if (!mbmap_is_valid(m) || !out || !n)
        return AH_EINVAL;
    size_t k = 0;
    size_t i = 0;
    while (i < m->n_qty) {
        if (k == cap)
            return AH_EOVERFLOW;
        uint32_t start = m->qty[i].addr;
        uint32_t end = start + mbmap_type_regs(m->qty[i].type);
        size_t j = i + 1;
        while (j < m->n_qty) {
            uint32_t a = m->qty[j].addr;
            uint32_t e = a + mbmap_type_regs(m->qty[j].type);
            if (a - end > m->max_gap || e - start > m->max_regs)
                break;
            end = e;
            j++;
        }
        out[k].addr = (uint16_t)start;
        out[k].count = (uint16_t)(end - start);
        out[k].first_qty = (uint16_t)i;
        out[k].n_qty = (uint16_t)(j - i);
        k++;
        i = j;
    }
    *n = k;
    return AH_OK;
}

float mbmap_f32_abcd(uint16_t hi, uint16_t lo)
{
    /* Register hi carries bytes A B, lo carries C D; IEEE 754 bit pattern
     * ABCD read as a host uint32 and reinterpreted, the same as libmodbus. */
    uint32_t bits = (uint32_t)hi << 16 | lo;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

float mbmap_f32_cdab(uint16_t first, uint16_t second)
{
    return mbmap_f32_abcd(second, first);
}

/* Shortest decimal digits of f (1..9 significant, the float32 maximum),
 * with the decimal exponent moved by exp10, read back as a double: one
 * correctly rounded conversion, so 230.1f × 10^0 is exactly the double
 * 230.1 and 1.234f kW × 10^3 is exactly 1234 W. */
static double f32_scaled(float f, int exp10)
{
    if (!isfinite(f))
        return (double)f;
    char buf[48];
    for (int prec = 1; prec <= 9; prec++) {
        int len = snprintf(buf, sizeof buf, "%.*e", prec - 1, (double)f);
        if (len <= 0 || (size_t)len >= sizeof buf)
            break;
        if (strtof(buf, NULL) != f)
            continue;
        char *e = strchr(buf, 'e');
        if (!e)
            break;
        long ex = strtol(e + 1, NULL, 10) + exp10;
        len = snprintf(e, sizeof buf - (size_t)(e - buf), "e%ld", ex);
        if (len <= 0)
            break;
        return strtod(buf, NULL);
    }
    /* Not reached for finite floats: 9 digits always round-trip. */
    return (double)f * pow(10.0, exp10);
}

double mbmap_f32_to_double(float f)
{
    return f32_scaled(f, 0);
}

static double int_scaled(double raw, int exp10)
{
    static const double p10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
    /* Division by an exact power of ten rounds once, so 23015 × 10^-2 is
     * the double nearest 230.15; multiplying by 0.01 would round twice. */
    return exp10 < 0 ? raw / p10[-exp10] : raw * p10[exp10];
}

static double decode_one(const struct mbmap_qty *q, const uint16_t *r)
{
    switch (q->type) {
    case MBMAP_F32_ABCD:
        return f32_scaled(mbmap_f32_abcd(r[0], r[1]), q->exp10);
    case MBMAP_F32_CDAB:
        return f32_scaled(mbmap_f32_cdab(r[0], r[1]), q->exp10);
    case MBMAP_U16:
        return int_scaled((double)r[0], q->exp10);
    case MBMAP_I16:
        return int_scaled((double)(int16_t)r[0], q->exp10);
    case MBMAP_U32:
        return int_scaled((double)((uint32_t)r[0] << 16 | r[1]), q->exp10);
    case MBMAP_I32:
        return int_scaled((double)(int32_t)((uint32_t)r[0] << 16 | r[1]), q->exp10);
    case MBMAP_I64: {
        uint64_t u = (uint64_t)r[0] << 48 | (uint64_t)r[1] << 32 | (uint64_t)r[2] << 16 |
                     (uint64_t)r[3];
        /* Two's complement without relying on implementation-defined casts. */
        double v = u >> 63 ? -(double)(~u + 1u) : (double)u;
        return int_scaled(v, q->exp10);
    }
    }
    return NAN;
}

int mbmap_decode(const struct mbmap *m, const struct mbmap_span *sp, const uint16_t *regs,
                 size_t n_regs, double *values, size_t n_values)
{
    if (!mbmap_is_valid(m) || !sp || !regs || !values)
        return AH_EINVAL;
    if (sp->count == 0 || n_regs < sp->count || sp->n_qty == 0)
        return AH_EINVAL;
    size_t first = sp->first_qty;
    size_t last = first + sp->n_qty; /* exclusive */
    if (last > m->n_qty || last > n_values)
        return AH_EINVAL;
    uint32_t lo = sp->addr;
    uint32_t hi = lo + sp->count;
    for (size_t i = first; i < last; i++) {
        const struct mbmap_qty *q = &m->qty[i];
        if (q->addr < lo || (uint32_t)q->addr + mbmap_type_regs(q->type) > hi)
            return AH_EINVAL;
    }
    for (size_t i = first; i < last; i++)
        values[i] = decode_one(&m->qty[i], regs + (m->qty[i].addr - lo));
    return AH_OK;
}

const char *mbmap_exception_text(unsigned code)
{
    /* Modbus Application Protocol v1.1b3 §7, exception codes. */
    switch (code) {
    case 0x01:
        return "illegal function";
    case 0x02:
        return "illegal data address";
    case 0x03:
        return "illegal data value";
    case 0x04:
        return "server device failure";
    case 0x05:
        return "acknowledge (request accepted, still processing)";
    case 0x06:
        return "server device busy";
    case 0x07:
        return "negative acknowledge";
    case 0x08:
        return "memory parity error";
    case 0x0A:
        return "gateway path unavailable";
    case 0x0B:
        return "gateway target device failed to respond";
    default:
        return "unknown exception";
    }
}
