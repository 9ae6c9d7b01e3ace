/*
 * dlt645_di — DL/T 645 data identifiers and their value formats
 * (reference/protocols.md §2).
 *
 * One table (di_table below, in the spirit of nginx ngx_command_t) maps DI
 * patterns to value layouts: {pattern, mask, name, unit, format, size,
 * decimals, sign, sub-items, resolver}. A resolver turns one DI into the list
 * of items of its reply; decoding (head-end) and encoding (simulator) both
 * walk that same list, so encode is the exact inverse of decode.
 *
 * Must not: do I/O, allocate, log, read the clock, or trust a length from
 * the wire (every item is bounds-checked against the payload length).
 * The BCD and time-field helpers belong to dlt645.c and are only used here.
 */
#include "dlt645_di.h"

#include "ah_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- item formats ------------------------------------------------------ */

enum di_fmt {
    FMT_NUM,     /* packed BCD, `size` bytes, `dec` decimals (§2.2) */
    FMT_DEMAND,  /* XX.XXXX (3 B) + YYMMDDhhmm (5 B) (§2.4) */
    FMT_YMDHM,   /* mm hh DD MM YY (§2.8 freeze time) */
    FMT_YMDHMS,  /* ss mm hh DD MM YY (§2.6 event times) */
    FMT_YMDW,    /* WW DD MM YY (§2.7 04000101) */
    FMT_HMS,     /* ss mm hh (§2.7 04000102) */
    FMT_YMDWHMS, /* ss mm hh WW DD MM YY (§2.7 0400010C) */
    FMT_MDHM,    /* mm hh DD MM (§2.7 04000A01, §2.10 B010) */
    FMT_BITS,    /* status / feature word, little endian (§2.7) */
    FMT_DIGITS,  /* BCD digits shown as text, high digit first (§2.7 04000401) */
    FMT_ASCII,   /* ASCII, transmitted low byte first (§2.1, §2.7 04000403) */
};

/* Tariff blocks (RR = FF, §2.3) hold the total plus tariffs 1..63. */
#define DI_ITEMS_MAX 64
#define DI_BLOCK     0xFF /* FF in DI2..DI0 = data block (§2.1) */

struct di_item {
    char name[DLT645_NAME_MAX];
    const char *unit;
    uint8_t fmt, size, dec;
    bool sign;
};

struct di_layout {
    char name[DLT645_NAME_MAX]; /* of the DI as a whole */
    size_t n;
    bool var; /* item count follows from the payload length (tariff block) */
    struct di_item it[DI_ITEMS_MAX];
};

/* one per-item curve 0610IIPP (§2.9) */
struct curve_def {
    uint16_t iipp;
    const char *name;
    const char *unit;
    uint8_t size, dec;
    bool sign;
};
static const struct curve_def *curve_find(uint32_t di);
static bool all_byte(const uint8_t *p, size_t n, uint8_t b);

/* A sub-item selected by one DI byte (or nibble, 1997). A NULL unit means
 * "same format as the entry, name = entry name + this suffix". */
struct di_sub {
    uint8_t code;
    const char *name;
    const char *unit;
    uint8_t fmt, size, dec;
    bool sign;
    bool noblock; /* not part of the FF block */
};

struct di_entry;
typedef int (*di_resolve_fn)(const struct di_entry *e, uint32_t di, size_t hint,
                             struct di_layout *l);

struct di_entry {
    uint32_t pattern, mask;
    enum dlt645_proto proto;
    const char *name;
    const char *unit;
    uint8_t fmt, size, dec;
    bool sign;
    const struct di_sub *sub; /* res_sub */
    uint8_t nsub;
    uint8_t sel_shift;     /* res_sub: position of the selector */
    uint8_t sel_bits;      /* 8 (2007 byte) or 4 (1997 nibble) */
    bool block;            /* res_sub: all-ones selector = block of all subs */
    di_resolve_fn resolve; /* NULL: one item as described by the entry */
    uint32_t example;      /* a DI this entry answers (tests, fuzzing) */
};

static uint8_t fmt_size(uint8_t fmt, uint8_t size)
{
    switch (fmt) {
    case FMT_DEMAND:
        return 8;
    case FMT_YMDHM:
        return 5;
    case FMT_YMDHMS:
        return 6;
    case FMT_YMDW:
    case FMT_MDHM:
        return 4;
    case FMT_HMS:
        return 3;
    case FMT_YMDWHMS:
        return 7;
    default:
        return size;
    }
}

__attribute__((format(printf, 2, 3))) static void fmt_name(char *dst, const char *f, ...)
{
    va_list ap;

    va_start(ap, f);
    vsnprintf(dst, DLT645_NAME_MAX, f, ap);
    va_end(ap);
}

/* Append one item; its name is printf-formatted. */
__attribute__((format(printf, 7, 8))) static int
add_item(struct di_layout *l, uint8_t fmt, uint8_t size, uint8_t dec, bool sign,
         const char *unit, const char *f, ...)
{
    struct di_item *it;
    va_list ap;

    if (l->n >= DI_ITEMS_MAX)
        return AH_ERANGE;
    it = &l->it[l->n++];
    it->fmt = fmt;
    it->size = fmt_size(fmt, size);
    it->dec = dec;
    it->sign = sign;
    it->unit = unit;
    va_start(ap, f);
    vsnprintf(it->name, sizeof(it->name), f, ap);
    va_end(ap);
    return AH_OK;
}

/* ---- quantities shared by energy, demand, freezes (§2.3, §2.4, §2.8) ---- */

struct qty {
    const char *name;
    const char *unit;  /* energy */
    const char *dunit; /* demand */
    bool sign;         /* §2.2: combined active / combined reactive carry a sign */
};

/* TT 00..0A (§2.3); phase codes 15..1E / 29..32 / 3D..46 repeat 01..0A. */
static const struct qty qty_tab[11] = {
    {"combined_active", "kWh", "kW", true},
    {"forward_active", "kWh", "kW", false},
    {"reverse_active", "kWh", "kW", false},
    {"combined_reactive_1", "kvarh", "kvar", true},
    {"combined_reactive_2", "kvarh", "kvar", true},
    {"q1_reactive", "kvarh", "kvar", false},
    {"q2_reactive", "kvarh", "kvar", false},
    {"q3_reactive", "kvarh", "kvar", false},
    {"q4_reactive", "kvarh", "kvar", false},
    {"forward_apparent", "kVAh", "kVA", false},
    {"reverse_apparent", "kVAh", "kVA", false},
};

/* TT 80..86 (§2.3): same XXXXXX.XX format, no tariffs here. */
static const struct qty qty_ext[7] = {
    {"associated_total", "kWh", "kW", false},
    {"fundamental_forward_active", "kWh", "kW", false},
    {"fundamental_reverse_active", "kWh", "kW", false},
    {"harmonic_forward_active", "kWh", "kW", false},
    {"harmonic_reverse_active", "kWh", "kW", false},
    {"copper_loss_compensation", "kWh", "kW", false},
    {"iron_loss_compensation", "kWh", "kW", false},
};

/* Quantity of an energy/demand TT; *phase = 'a'/'b'/'c' for phase codes,
 * *ext for 80..86. NULL if unknown. */
static const struct qty *qty_of(uint8_t tt, char *phase, bool *ext)
{
    *phase = 0;
    *ext = false;
    if (tt <= 0x0A)
        return &qty_tab[tt];
    if (tt >= 0x15 && tt <= 0x1E) {
        *phase = 'a';
        return &qty_tab[tt - 0x14];
    }
    if (tt >= 0x29 && tt <= 0x32) {
        *phase = 'b';
        return &qty_tab[tt - 0x28];
    }
    if (tt >= 0x3D && tt <= 0x46) {
        *phase = 'c';
        return &qty_tab[tt - 0x3C];
    }
    if (tt >= 0x80 && tt <= 0x86) {
        *ext = true;
        return &qty_ext[tt - 0x80];
    }
    return NULL;
}

/* "<prefix><qty><infix>_{total|tN|a}[_lastN]" */
static int add_qty(struct di_layout *l, const char *prefix, const struct qty *q,
                   bool demand, char phase, unsigned tariff, unsigned last)
{
    char sel[8], hist[12];
    uint8_t fmt = demand ? FMT_DEMAND : FMT_NUM;
    const char *unit = demand ? q->dunit : q->unit;
    /* §2.3: XXXXXX.XX (4 B); §2.4: XX.XXXX (3 B) + time. */
    uint8_t size = demand ? 8 : 4, dec = demand ? 4 : 2;

    if (phase)
        snprintf(sel, sizeof(sel), "_%c", phase);
    else if (tariff == 0)
        snprintf(sel, sizeof(sel), "_total");
    else
        snprintf(sel, sizeof(sel), "_t%u", tariff & 0x3F);
    hist[0] = '\0';
    if (last)
        snprintf(hist, sizeof(hist), "_last%u", last & 0x0F);
    return add_item(l, fmt, size, dec, q->sign, unit, "%s%s%s%s%s", prefix, q->name,
                    demand ? "_demand" : "", sel, hist);
}

/* Total + tariffs 1..k: the block length decides k (§2.3). */
static int add_tariff_block(struct di_layout *l, const char *prefix, const struct qty *q,
                            bool demand, unsigned last, size_t hint)
{
    size_t cnt = hint ? hint : 1, i;
    int rc;

    l->var = true;
    if (cnt > DI_ITEMS_MAX)
        return AH_ERANGE;
    for (i = 0; i < cnt; i++) {
        rc = add_qty(l, prefix, q, demand, 0, (unsigned)i, last);
        if (rc < 0)
            return rc;
    }
    return AH_OK;
}

/* ---- resolvers ---------------------------------------------------------- */

static int res_simple(const struct di_entry *e, uint32_t di, size_t hint,
                      struct di_layout *l)
{
    (void)di;
    (void)hint;
    return add_item(l, e->fmt, e->size, e->dec, e->sign, e->unit, "%s", e->name);
}

static int add_sub(struct di_layout *l, const struct di_entry *e, const struct di_sub *s)
{
    if (s->unit == NULL)
        return add_item(l, e->fmt, e->size, e->dec, e->sign, e->unit, "%s%s", e->name,
                        s->name);
    return add_item(l, s->fmt, s->size, s->dec, s->sign, s->unit, "%s", s->name);
}

/* One byte (nibble for 1997) of the DI selects a sub-item; all ones = block. */
static int res_sub(const struct di_entry *e, uint32_t di, size_t hint,
                   struct di_layout *l)
{
    uint32_t selmask = e->sel_bits == 4 ? 0x0Fu : 0xFFu;
    uint32_t sel = (di >> e->sel_shift) & selmask;
    unsigned i;
    int rc;

    (void)hint;
    if (e->block && sel == selmask) {
        for (i = 0; i < e->nsub; i++) {
            if (e->sub[i].noblock)
                continue;
            rc = add_sub(l, e, &e->sub[i]);
            if (rc < 0)
                return rc;
        }
        fmt_name(l->name, "%s_block", e->name);
        return AH_OK;
    }
    for (i = 0; i < e->nsub; i++)
        if (e->sub[i].code == sel)
            return add_sub(l, e, &e->sub[i]);
    return AH_ENOTSUP;
}

/* 00TTRRSS energy and 01TTRRSS max demand (§2.3, §2.4). */
static int res_energy(const struct di_entry *e, uint32_t di, size_t hint,
                      struct di_layout *l)
{
    uint8_t tt = (uint8_t)(di >> 16), rr = (uint8_t)(di >> 8), ss = (uint8_t)di;
    bool demand = e->fmt == FMT_DEMAND, ext;
    char phase;
    const struct qty *q = qty_of(tt, &phase, &ext);
    unsigned i;
    int rc;

    if (q == NULL)
        return AH_ENOTSUP;
    /* §2.4: no combined-active demand, and the 80..86 set is energy only. */
    if (demand && (tt == 0x00 || ext))
        return AH_ENOTSUP;
    if (ss > 0x0C && ss != DI_BLOCK)
        return AH_ENOTSUP;
    if (rr > 0x3F && rr != DI_BLOCK)
        return AH_ENOTSUP;
    /* §2.3: phase quantities exist for the total only (RR must be 00). */
    if ((phase || ext) && rr != 0)
        return AH_ENOTSUP;
    if (rr == DI_BLOCK && ss == DI_BLOCK)
        return AH_ENOTSUP; /* two block dimensions: order not defined in §2.1 */
    if (rr == DI_BLOCK) {
        rc = add_tariff_block(l, "", q, demand, ss, hint);
        if (rc < 0)
            return rc;
        if (ss)
            fmt_name(l->name, "%s%s_tariffs_last%u", q->name, demand ? "_demand" : "",
                     (unsigned)ss);
        else
            fmt_name(l->name, "%s%s_tariffs", q->name, demand ? "_demand" : "");
        return AH_OK;
    }
    if (ss == DI_BLOCK) {
        /* current + settlement days 1..12 */
        for (i = 0; i <= 12; i++) {
            rc = add_qty(l, "", q, demand, phase, rr, i);
            if (rc < 0)
                return rc;
        }
        return AH_OK;
    }
    return add_qty(l, "", q, demand, phase, rr, ss);
}

/* 05 FF CC NN frozen data (§2.8). */
struct frz {
    uint8_t type;
    const char *prefix;
    uint8_t nn_max;
};
static const struct frz frz_tab[] = {
    {0x00, "timed_freeze_", 0x0C},        /* §2.8 [STD] */
    {0x01, "instant_freeze_", 0x03},      /* [STD] */
    {0x02, "zone_switch_freeze_", 0x02},  /* [STD] */
    {0x03, "tou_switch_freeze_", 0x02},   /* [STD] */
    {0x04, "hourly_freeze_", 0xFE},       /* [EXT] */
    {0x05, "price_switch_freeze_", 0x02}, /* [EXT], NN range [CHECK] */
    {0x06, "daily_freeze_", 0x3E},        /* [EXT] */
    {0x07, "step_switch_freeze_", 0x02},  /* [EXT], NN range [CHECK] */
};

static int res_freeze(const struct di_entry *e, uint32_t di, size_t hint,
                      struct di_layout *l)
{
    uint8_t type = (uint8_t)(di >> 16), cc = (uint8_t)(di >> 8), nn = (uint8_t)di;
    const struct frz *f = NULL;
    static const char *const ph[4] = {"total", "a", "b", "c"};
    unsigned i;
    int rc;

    (void)e;
    for (i = 0; i < sizeof(frz_tab) / sizeof(frz_tab[0]); i++)
        if (frz_tab[i].type == type)
            f = &frz_tab[i];
    if (f == NULL || nn < 1 || nn > f->nn_max)
        return AH_ENOTSUP;
    if (cc == 0x00)
        return add_item(l, FMT_YMDHM, 5, 0, false, "", "%stime", f->prefix);
    if (type == 0x04) {
        /* §2.8: hourly freeze keeps fwd / rev active total only (4 B). */
        if (cc != 0x01 && cc != 0x02)
            return AH_ENOTSUP;
        return add_qty(l, f->prefix, &qty_tab[cc], false, 0, 0, 0);
    }
    if (cc >= 0x01 && cc <= 0x08) {
        rc = add_tariff_block(l, f->prefix, &qty_tab[cc], false, 0, hint);
        if (rc == AH_OK)
            fmt_name(l->name, "%s%s_tariffs", f->prefix, qty_tab[cc].name);
        return rc;
    }
    if (cc == 0x09 || cc == 0x0A) {
        rc = add_tariff_block(l, f->prefix, &qty_tab[cc - 8], true, 0, hint);
        if (rc == AH_OK)
            fmt_name(l->name, "%s%s_demand_tariffs", f->prefix, qty_tab[cc - 8].name);
        return rc;
    }
    if (cc == 0x10) {
        /* P total/A/B/C + Q total/A/B/C, XX.XXXX signed (§2.8, §2.5) */
        for (i = 0; i < 8; i++) {
            rc = add_item(l, FMT_NUM, 3, 4, true, i < 4 ? "kW" : "kvar", "%s%s_power_%s",
                          f->prefix, i < 4 ? "active" : "reactive", ph[i % 4]);
            if (rc < 0)
                return rc;
        }
        fmt_name(l->name, "%svariables", f->prefix);
        return AH_OK;
    }
    return AH_ENOTSUP;
}

/* 020A PP NN / 020B PP NN harmonic content, orders 1..21 (§2.5). */
static int res_harmonic(const struct di_entry *e, uint32_t di, size_t hint,
                        struct di_layout *l)
{
    uint8_t pp = (uint8_t)(di >> 8), nn = (uint8_t)di;
    char phase;
    unsigned i;
    int rc;

    (void)hint;
    if (pp < 1 || pp > 3)
        return AH_ENOTSUP;
    phase = (char)('a' + pp - 1);
    if (nn == DI_BLOCK) {
        for (i = 1; i <= 21; i++) {
            rc = add_item(l, FMT_NUM, 2, 2, false, "%", "%s_%c_h%u", e->name, phase, i);
            if (rc < 0)
                return rc;
        }
        fmt_name(l->name, "%s_%c_block", e->name, phase);
        return AH_OK;
    }
    if (nn < 1 || nn > 21)
        return AH_ENOTSUP;
    return add_item(l, FMT_NUM, 2, 2, false, "%", "%s_%c_h%u", e->name, phase,
                    (unsigned)nn);
}

/* ---- events (§2.6) ------------------------------------------------------ */

/* 03EE0000 summaries of the base 2007 event families. */
struct evb {
    uint8_t ee;
    const char *name;
    bool phases; /* 18 B: A/B/C × (count, minutes); else 6 B */
};
static const struct evb evb_tab[] = {
    {0x01, "loss_of_voltage", true},
    {0x02, "under_voltage", true},
    {0x03, "over_voltage", true},
    {0x04, "phase_failure", true},
    {0x05, "total_loss_of_voltage", false},
    {0x06, "aux_power_lost", false},
    {0x07, "voltage_reverse_sequence", false},
    {0x08, "current_reverse_sequence", false},
    {0x09, "voltage_imbalance", false},
    {0x0A, "current_imbalance", false},
    {0x0B, "loss_of_current", true},
    {0x0C, "over_current", true},
    {0x0D, "current_break", true},
    {0x0E, "reverse_power_flow", true},
    {0x0F, "overload", true},
};

static int res_event_summary(const struct di_entry *e, uint32_t di, size_t hint,
                             struct di_layout *l)
{
    uint8_t ee = (uint8_t)(di >> 16);
    const struct evb *b = NULL;
    unsigned i;
    int rc = AH_OK;

    (void)e;
    (void)hint;
    for (i = 0; i < sizeof(evb_tab) / sizeof(evb_tab[0]); i++)
        if (evb_tab[i].ee == ee)
            b = &evb_tab[i];
    if (b == NULL)
        return AH_ENOTSUP;
    if (!b->phases) {
        rc = add_item(l, FMT_NUM, 3, 0, false, "", "%s_count", b->name);
        if (rc == AH_OK)
            rc = add_item(l, FMT_NUM, 3, 0, false, "min", "%s_time", b->name);
    } else {
        for (i = 0; i < 3 && rc >= 0; i++) {
            rc = add_item(l, FMT_NUM, 3, 0, false, "", "%s_count_%c", b->name,
                          (char)('a' + i));
            if (rc == AH_OK)
                rc = add_item(l, FMT_NUM, 3, 0, false, "min", "%s_time_%c", b->name,
                              (char)('a' + i));
        }
    }
    if (rc == AH_OK)
        fmt_name(l->name, "%s_summary", b->name);
    return rc;
}

/* 031100NN: power-down record n = start + end time (§2.6). */
static int res_power_down(const struct di_entry *e, uint32_t di, size_t hint,
                          struct di_layout *l)
{
    uint8_t nn = (uint8_t)di;
    int rc;

    (void)e;
    (void)hint;
    if (nn < 1 || nn > 0x0A)
        return AH_ENOTSUP;
    rc = add_item(l, FMT_YMDHMS, 6, 0, false, "", "power_down_start");
    if (rc == AH_OK)
        rc = add_item(l, FMT_YMDHMS, 6, 0, false, "", "power_down_end");
    fmt_name(l->name, "power_down_record");
    return rc;
}

/* 03300D0N / 03300E0N: open time, close time, 6 energies before, 6 after
 * (60 B, §2.6). e->name is the event ("cover", "terminal_cover"). */
static int res_cover(const struct di_entry *e, uint32_t di, size_t hint,
                     struct di_layout *l)
{
    static const uint8_t q[6] = {1, 2, 5, 6, 7, 8}; /* fwd, rev, Q1..Q4 */
    uint8_t nn = (uint8_t)di;
    unsigned pass, i;
    int rc;

    (void)hint;
    if (nn < 1 || nn > 0x0A)
        return AH_ENOTSUP;
    rc = add_item(l, FMT_YMDHMS, 6, 0, false, "", "%s_open_time", e->name);
    if (rc == AH_OK)
        rc = add_item(l, FMT_YMDHMS, 6, 0, false, "", "%s_close_time", e->name);
    for (pass = 0; pass < 2; pass++)
        for (i = 0; i < 6 && rc == AH_OK; i++)
            rc = add_item(l, FMT_NUM, 4, 2, false, qty_tab[q[i]].unit, "%s_%s",
                          qty_tab[q[i]].name, pass ? "after" : "before");
    fmt_name(l->name, "%s_open_record", e->name);
    return rc;
}

/* State-Grid extension families DI3 = 10..20 (§2.6 second table):
 * xxPP0001 count, xxPP0002 total time, xxPP0101 last start, xxPP<end>01
 * last end. */
struct evx {
    uint8_t code;
    const char *name;
    bool phases;     /* PP 00..03, else PP 00 only */
    bool total_time; /* xxPP0002 listed */
    uint8_t end_di1; /* DI1 of "last end time"; 0 = none */
};
static const struct evx evx_tab[] = {
    {0x10, "loss_of_voltage", true, true, 0x25},
    {0x11, "under_voltage", true, false, 0x25},
    {0x12, "over_voltage", true, false, 0x25},
    {0x13, "phase_failure", true, true, 0x25},
    {0x14, "voltage_reverse_sequence", false, false, 0x12},
    {0x15, "current_reverse_sequence", false, false, 0x12},
    {0x16, "voltage_imbalance", false, false, 0x13},
    {0x17, "current_imbalance", false, false, 0x13},
    {0x18, "loss_of_current", true, false, 0x21},
    {0x19, "over_current", true, false, 0x21},
    {0x1A, "current_break", true, false, 0x21},
    {0x1B, "reverse_power", true, false, 0x12},
    {0x1C, "overload", true, false, 0x12},
    {0x1D, "relay_trip", false, false, 0},
    {0x1E, "relay_close", false, false, 0},
    {0x1F, "pf_below_limit", false, false, 0x06},
    {0x20, "severe_current_imbalance", false, false, 0x13},
};

static int res_event_ext(const struct di_entry *e, uint32_t di, size_t hint,
                         struct di_layout *l)
{
    uint8_t code = (uint8_t)(di >> 24), pp = (uint8_t)(di >> 16);
    uint16_t tail = (uint16_t)di;
    const struct evx *x = NULL;
    char ph[4] = "";
    unsigned i;

    (void)e;
    (void)hint;
    for (i = 0; i < sizeof(evx_tab) / sizeof(evx_tab[0]); i++)
        if (evx_tab[i].code == code)
            x = &evx_tab[i];
    if (x == NULL || pp > (x->phases ? 3 : 0))
        return AH_ENOTSUP;
    if (pp)
        snprintf(ph, sizeof(ph), "_%c", (char)('a' + pp - 1));
    if (tail == 0x0001)
        return add_item(l, FMT_NUM, 3, 0, false, "", "%s_count%s", x->name, ph);
    if (tail == 0x0002 && x->total_time)
        return add_item(l, FMT_NUM, 3, 0, false, "min", "%s_total_time%s", x->name, ph);
    if (tail == 0x0101)
        return add_item(l, FMT_YMDHMS, 6, 0, false, "", "%s_last_start%s", x->name, ph);
    if (x->end_di1 && tail == (uint16_t)((x->end_di1 << 8) | 0x01))
        return add_item(l, FMT_YMDHMS, 6, 0, false, "", "%s_last_end%s", x->name, ph);
    return AH_ENOTSUP;
}

/* ---- 1997 (§2.10) -------------------------------------------------------- */

/* 9XYZ energy: X = month (0/4/8 → current, last, before last) + kind (0
 * active, 1 reactive); Y = quantity; Z = 0 total, 1..E tariff, F block. */
static int res_energy97(const struct di_entry *e, uint32_t di, size_t hint,
                        struct di_layout *l)
{
    static const struct qty act[3] = {
        {NULL, NULL, NULL, false},
        {"forward_active", "kWh", "kW", false},
        {"reverse_active", "kWh", "kW", false},
    };
    static const struct qty rea[7] = {
        {NULL, NULL, NULL, false},
        {"forward_reactive", "kvarh", "kvar", false},
        {"reverse_reactive", "kvarh", "kvar", false},
        {"q1_reactive", "kvarh", "kvar", false},
        {"q4_reactive", "kvarh", "kvar", false},
        {"q2_reactive", "kvarh", "kvar", false},
        {"q3_reactive", "kvarh", "kvar", false},
    };
    unsigned x = (di >> 8) & 0xF, y = (di >> 4) & 0xF, z = di & 0xF;
    unsigned month = x >> 2;
    const struct qty *q;
    int rc;

    (void)e;
    if (month > 2 || (x & 3) > 1)
        return AH_ENOTSUP;
    if ((x & 3) == 0)
        q = (y >= 1 && y <= 2) ? &act[y] : NULL;
    else
        q = (y >= 1 && y <= 6) ? &rea[y] : NULL;
    if (q == NULL)
        return AH_ENOTSUP;
    if (z == 0xF) {
        if (hint > 15)
            return AH_ERANGE;
        rc = add_tariff_block(l, "", q, false, month, hint);
        if (rc == AH_OK && month)
            fmt_name(l->name, "%s_tariffs_last%u", q->name, month);
        else if (rc == AH_OK)
            fmt_name(l->name, "%s_tariffs", q->name);
        return rc;
    }
    return add_qty(l, "", q, false, 0, z, month);
}

/* A01Z / A02Z max demand XX.XXXX, B01Z / B02Z its time MMDDhhmm (§2.10). */
static int res_demand97(const struct di_entry *e, uint32_t di, size_t hint,
                        struct di_layout *l)
{
    unsigned y = (di >> 4) & 0xF, z = di & 0xF, i, cnt = 1, first = z;
    const char *q = y == 1 ? "forward_active" : "reverse_active";
    bool time = (di >> 12) == 0xB;
    int rc = AH_OK;

    (void)e;
    if (y < 1 || y > 2 || (z > 0xE && z != 0xF))
        return AH_ENOTSUP;
    if (z == 0xF) {
        l->var = true;
        cnt = hint ? (unsigned)hint : 1;
        first = 0;
        if (cnt > 15)
            return AH_ERANGE;
        fmt_name(l->name, "%s_demand%s_tariffs", q, time ? "_time" : "");
    }
    for (i = first; i < first + cnt && rc == AH_OK; i++) {
        char sel[8];
        if (i == 0)
            snprintf(sel, sizeof(sel), "total");
        else
            snprintf(sel, sizeof(sel), "t%u", i & 0xF);
        if (time)
            rc = add_item(l, FMT_MDHM, 4, 0, false, "", "%s_demand_time_%s", q, sel);
        else
            rc = add_item(l, FMT_NUM, 3, 4, false, "kW", "%s_demand_%s", q, sel);
    }
    return rc;
}

/* ---- the table ----------------------------------------------------------- */

static const struct di_sub phase_abc[] = {
    {.code = 1, .name = "_a"},
    {.code = 2, .name = "_b"},
    {.code = 3, .name = "_c"},
};
static const struct di_sub phase_tabc[] = {
    {.code = 0, .name = "_total"},
    {.code = 1, .name = "_a"},
    {.code = 2, .name = "_b"},
    {.code = 3, .name = "_c"},
};

/* 028000NN (§2.5) */
static const struct di_sub vars_0280[] = {
    {0x01, "neutral_current", "A", FMT_NUM, 3, 3, true, false},
    {0x02, "frequency", "Hz", FMT_NUM, 2, 2, false, false},
    {0x03, "active_power_1min_avg", "kW", FMT_NUM, 3, 4, true, false},
    {0x04, "active_demand", "kW", FMT_NUM, 3, 4, true, false},
    {0x05, "reactive_demand", "kvar", FMT_NUM, 3, 4, true, false},
    {0x06, "apparent_demand", "kVA", FMT_NUM, 3, 4, true, false},
    {0x07, "meter_temperature", "°C", FMT_NUM, 2, 1, true, false},
    {0x08, "clock_battery_voltage", "V", FMT_NUM, 2, 2, false, false},
    {0x09, "reading_battery_voltage", "V", FMT_NUM, 2, 2, false, false},
    {0x0A, "battery_work_time", "min", FMT_NUM, 4, 0, false, false},
    /* [EXT]: not part of the 2007 block */
    {0x0B, "step_price", "CNY/kWh", FMT_NUM, 4, 4, false, true},
};

/* 040005NN status words 1..7, 2 B (§2.7) */
static const struct di_sub status_words[] = {
    {1, "status_word_1", "", FMT_BITS, 2, 0, false, false},
    {2, "status_word_2", "", FMT_BITS, 2, 0, false, false},
    {3, "status_word_3", "", FMT_BITS, 2, 0, false, false},
    {4, "status_word_4", "", FMT_BITS, 2, 0, false, false},
    {5, "status_word_5", "", FMT_BITS, 2, 0, false, false},
    {6, "status_word_6", "", FMT_BITS, 2, 0, false, false},
    {7, "status_word_7", "", FMT_BITS, 2, 0, false, false},
};

/* 040006NN combination feature words, 1 B (§2.7) */
static const struct di_sub comb_words[] = {
    {1, "active_combination_word", "", FMT_BITS, 1, 0, false, false},
    {2, "reactive_combination_1_word", "", FMT_BITS, 1, 0, false, false},
    {3, "reactive_combination_2_word", "", FMT_BITS, 1, 0, false, false},
};

/* 040007NN baud feature words, 1 B (§1.8, §2.7) */
static const struct di_sub baud_words[] = {
    {1, "baud_word_ir", "", FMT_BITS, 1, 0, false, false},
    {2, "baud_word_contact_ir", "", FMT_BITS, 1, 0, false, false},
    {3, "baud_word_port_1", "", FMT_BITS, 1, 0, false, false},
    {4, "baud_word_port_2", "", FMT_BITS, 1, 0, false, false},
    {5, "baud_word_port_3", "", FMT_BITS, 1, 0, false, false},
};

/* 040009NN mode words, 1 B (§2.7) */
static const struct di_sub mode_words[] = {
    {1, "load_record_mode_word", "", FMT_BITS, 1, 0, false, false},
    {2, "freeze_mode_word", "", FMT_BITS, 1, 0, false, false},
};

/* 04000ANN load-record start time and class intervals (§2.7) */
static const struct di_sub lr_params[] = {
    {1, "load_record_start_time", "", FMT_MDHM, 4, 0, false, false},
    {2, "load_record_interval_1", "min", FMT_NUM, 2, 0, false, false},
    {3, "load_record_interval_2", "min", FMT_NUM, 2, 0, false, false},
    {4, "load_record_interval_3", "min", FMT_NUM, 2, 0, false, false},
    {5, "load_record_interval_4", "min", FMT_NUM, 2, 0, false, false},
    {6, "load_record_interval_5", "min", FMT_NUM, 2, 0, false, false},
    {7, "load_record_interval_6", "min", FMT_NUM, 2, 0, false, false},
};

/* 04000BNN settlement days, DDhh as a 4-digit number (§2.7) */
static const struct di_sub settle_days[] = {
    {1, "settlement_day_1", "", FMT_NUM, 2, 0, false, false},
    {2, "settlement_day_2", "", FMT_NUM, 2, 0, false, false},
    {3, "settlement_day_3", "", FMT_NUM, 2, 0, false, false},
};

/* 0330CC00 programming / clear / time-set … counts, XXXXXX (§2.6) */
static const struct di_sub event_counts[] = {
    {0x00, "programming_count", "", FMT_NUM, 3, 0, false, false},
    {0x01, "meter_clear_count", "", FMT_NUM, 3, 0, false, false},
    {0x02, "demand_clear_count", "", FMT_NUM, 3, 0, false, false},
    {0x03, "event_clear_count", "", FMT_NUM, 3, 0, false, false},
    {0x04, "time_set_count", "", FMT_NUM, 3, 0, false, false},
    {0x05, "tou_table_program_count", "", FMT_NUM, 3, 0, false, false},
    {0x06, "zone_table_program_count", "", FMT_NUM, 3, 0, false, false},
    {0x07, "rest_day_program_count", "", FMT_NUM, 3, 0, false, false},
    {0x08, "holiday_program_count", "", FMT_NUM, 3, 0, false, false},
    {0x09, "active_combination_program_count", "", FMT_NUM, 3, 0, false, false},
    {0x0A, "reactive_combination_1_program_count", "", FMT_NUM, 3, 0, false, false},
    {0x0B, "reactive_combination_2_program_count", "", FMT_NUM, 3, 0, false, false},
    {0x0C, "settlement_day_program_count", "", FMT_NUM, 3, 0, false, false},
    {0x0D, "cover_open_count", "", FMT_NUM, 3, 0, false, false},
    {0x0E, "terminal_cover_open_count", "", FMT_NUM, 3, 0, false, false},
    {0x0F, "tariff_table_program_count", "", FMT_NUM, 3, 0, false, false}, /* [EXT] */
    {0x10, "step_table_program_count", "", FMT_NUM, 3, 0, false, false},   /* [EXT] */
    {0x12, "key_update_count", "", FMT_NUM, 3, 0, false, false},           /* [EXT] */
};

#define NSUB(a) ((uint8_t)(sizeof(a) / sizeof((a)[0])))

#define ONE(di_, name_, unit_, fmt_, size_, dec_, sign_)                                 \
    {                                                                                    \
        .pattern = (di_), .mask = 0xFFFFFFFFu, .proto = DLT645_2007, .name = (name_),    \
        .unit = (unit_), .fmt = (fmt_), .size = (size_), .dec = (dec_), .sign = (sign_), \
        .example = (di_)                                                                 \
    }
#define ONE97(di_, name_, unit_, fmt_, size_, dec_, sign_)                               \
    {                                                                                    \
        .pattern = (di_), .mask = 0xFFFFu, .proto = DLT645_1997, .name = (name_),        \
        .unit = (unit_), .fmt = (fmt_), .size = (size_), .dec = (dec_), .sign = (sign_), \
        .example = (di_)                                                                 \
    }
/* 2007 family selected by DI1 (0xXXXXPPXX), phase-style sub list */
#define PHASE(di_, name_, unit_, size_, dec_, sign_, sub_, ex_)                          \
    {                                                                                    \
        .pattern = (di_), .mask = 0xFFFF00FFu, .proto = DLT645_2007, .name = (name_),    \
        .unit = (unit_), .fmt = FMT_NUM, .size = (size_), .dec = (dec_),                 \
        .sign = (sign_), .sub = (sub_), .nsub = NSUB(sub_), .sel_shift = 8,              \
        .sel_bits = 8, .block = true, .resolve = res_sub, .example = (ex_)               \
    }
/* 2007 list selected by DI0 */
#define LIST(di_, name_, sub_, block_, ex_)                                              \
    {                                                                                    \
        .pattern = (di_), .mask = 0xFFFFFF00u, .proto = DLT645_2007, .name = (name_),    \
        .sub = (sub_), .nsub = NSUB(sub_), .sel_shift = 0, .sel_bits = 8,                \
        .block = (block_), .resolve = res_sub, .example = (ex_)                          \
    }
/* 1997 phase family selected by the low nibble */
#define PHASE97(di_, name_, unit_, size_, dec_, sub_, ex_)                               \
    {                                                                                    \
        .pattern = (di_), .mask = 0xFFF0u, .proto = DLT645_1997, .name = (name_),        \
        .unit = (unit_), .fmt = FMT_NUM, .size = (size_), .dec = (dec_), .sign = false,  \
        .sub = (sub_), .nsub = NSUB(sub_), .sel_shift = 0, .sel_bits = 4, .block = true, \
        .resolve = res_sub, .example = (ex_)                                             \
    }
#define FAMILY(di_, mask_, proto_, name_, fmt_, fn_, ex_)                                \
    {                                                                                    \
        .pattern = (di_), .mask = (mask_), .proto = (proto_), .name = (name_),           \
        .fmt = (fmt_), .resolve = (fn_), .example = (ex_)                                \
    }

static const struct di_entry di_table[] = {
    /* §2.3 energy 00TTRRSS, §2.4 max demand 01TTRRSS */
    FAMILY(0x00000000u, 0xFF000000u, DLT645_2007, "energy", FMT_NUM, res_energy,
           0x00010000u),
    FAMILY(0x01000000u, 0xFF000000u, DLT645_2007, "demand", FMT_DEMAND, res_energy,
           0x01010000u),

    /* §2.5 instantaneous variables */
    PHASE(0x02010000u, "voltage", "V", 2, 1, false, phase_abc, 0x02010100u),
    PHASE(0x02020000u, "current", "A", 3, 3, true, phase_abc, 0x02020100u),
    PHASE(0x02030000u, "active_power", "kW", 3, 4, true, phase_tabc, 0x0203FF00u),
    PHASE(0x02040000u, "reactive_power", "kvar", 3, 4, true, phase_tabc, 0x02040000u),
    /* §2.5: apparent power MSB treated as a sign, normally + */
    PHASE(0x02050000u, "apparent_power", "kVA", 3, 4, true, phase_tabc, 0x02050000u),
    PHASE(0x02060000u, "power_factor", "", 2, 3, true, phase_tabc, 0x02060000u),
    PHASE(0x02070000u, "phase_angle", "°", 2, 1, false, phase_abc, 0x02070100u),
    PHASE(0x02080000u, "voltage_thd", "%", 2, 2, false, phase_abc, 0x02080100u),
    PHASE(0x02090000u, "current_thd", "%", 2, 2, false, phase_abc, 0x02090100u),
    FAMILY(0x020A0000u, 0xFFFF0000u, DLT645_2007, "voltage_harmonic", FMT_NUM,
           res_harmonic, 0x020A0103u),
    FAMILY(0x020B0000u, 0xFFFF0000u, DLT645_2007, "current_harmonic", FMT_NUM,
           res_harmonic, 0x020B01FFu),
    LIST(0x02800000u, "variables", vars_0280, true, 0x02800002u),

    /* §2.6 events, base 2007 */
    FAMILY(0x03000000u, 0xFF00FFFFu, DLT645_2007, "event_summary", FMT_NUM,
           res_event_summary, 0x03010000u),
    ONE(0x03110000u, "power_down_count", "", FMT_NUM, 3, 0, false),
    FAMILY(0x03110000u, 0xFFFFFF00u, DLT645_2007, "power_down", FMT_YMDHMS,
           res_power_down, 0x03110001u),
    {.pattern = 0x03300000u,
     .mask = 0xFFFF00FFu,
     .proto = DLT645_2007,
     .name = "event_counts",
     .sub = event_counts,
     .nsub = NSUB(event_counts),
     .sel_shift = 8,
     .sel_bits = 8,
     .block = false,
     .resolve = res_sub,
     .example = 0x03300D00u},
    FAMILY(0x03300D00u, 0xFFFFFF00u, DLT645_2007, "cover", FMT_NUM, res_cover,
           0x03300D01u),
    FAMILY(0x03300E00u, 0xFFFFFF00u, DLT645_2007, "terminal_cover", FMT_NUM, res_cover,
           0x03300E01u),
    ONE(0x03350000u, "magnetic_interference_count", "", FMT_NUM, 3, 0, false),
    ONE(0x03360000u, "load_switch_misoperation_count", "", FMT_NUM, 3, 0, false),
    ONE(0x03370000u, "power_supply_abnormal_count", "", FMT_NUM, 3, 0, false),

    /* §2.7 parameters */
    ONE(0x04000101u, "date", "", FMT_YMDW, 4, 0, false),
    ONE(0x04000102u, "time", "", FMT_HMS, 3, 0, false),
    ONE(0x04000103u, "demand_period", "min", FMT_NUM, 1, 0, false),
    ONE(0x04000104u, "sliding_time", "min", FMT_NUM, 1, 0, false),
    ONE(0x0400010Cu, "date_time", "", FMT_YMDWHMS, 7, 0, false),
    ONE(0x04000401u, "comm_address", "", FMT_DIGITS, 6, 0, false),
    ONE(0x04000402u, "meter_number", "", FMT_DIGITS, 6, 0, false),
    ONE(0x04000403u, "asset_code", "", FMT_ASCII, 32, 0, false),
    ONE(0x04000409u, "active_constant", "imp/kWh", FMT_NUM, 3, 0, false),
    ONE(0x0400040Au, "reactive_constant", "imp/kvarh", FMT_NUM, 3, 0, false),
    LIST(0x04000500u, "status_word", status_words, true, 0x040005FFu),
    LIST(0x04000600u, "combination_word", comb_words, false, 0x04000601u),
    LIST(0x04000700u, "baud_word", baud_words, false, 0x04000703u),
    LIST(0x04000900u, "mode_word", mode_words, false, 0x04000901u),
    LIST(0x04000A00u, "load_record_param", lr_params, false, 0x04000A01u),
    LIST(0x04000B00u, "settlement_day", settle_days, false, 0x04000B01u),

    /* §2.8 frozen data 05FFCCNN */
    FAMILY(0x05000000u, 0xFF000000u, DLT645_2007, "freeze", FMT_NUM, res_freeze,
           0x05060101u),

    /* §2.6 State-Grid extension events, DI3 = 10..20 */
    FAMILY(0x10000000u, 0xF0000000u, DLT645_2007, "event_ext", FMT_NUM, res_event_ext,
           0x13010001u),
    FAMILY(0x20000000u, 0xFF000000u, DLT645_2007, "event_ext", FMT_NUM, res_event_ext,
           0x20000001u),
    ONE(0x21000000u, "power_flow_reverse_count", "", FMT_NUM, 3, 0, false),

    /* §2.10 DL/T 645-1997 */
    FAMILY(0x9000u, 0xF000u, DLT645_1997, "energy", FMT_NUM, res_energy97, 0x9010u),
    FAMILY(0xA000u, 0xFF00u, DLT645_1997, "demand", FMT_NUM, res_demand97, 0xA010u),
    FAMILY(0xB000u, 0xFF00u, DLT645_1997, "demand_time", FMT_MDHM, res_demand97, 0xB010u),
    PHASE97(0xB610u, "voltage", "V", 2, 0, phase_abc, 0xB611u),
    PHASE97(0xB620u, "current", "A", 2, 2, phase_abc, 0xB621u),
    PHASE97(0xB630u, "active_power", "kW", 3, 4, phase_tabc, 0xB630u),
    PHASE97(0xB640u, "reactive_power", "kvar", 2, 2, phase_tabc, 0xB640u),
    PHASE97(0xB650u, "power_factor", "", 2, 3, phase_tabc, 0xB650u),
    ONE97(0xC010u, "date", "", FMT_YMDW, 4, 0, false),
    ONE97(0xC011u, "time", "", FMT_HMS, 3, 0, false),
    ONE97(0xC020u, "status_word", "", FMT_BITS, 1, 0, false),
    ONE97(0xC030u, "active_constant", "imp/kWh", FMT_NUM, 3, 0, false),
    ONE97(0xC032u, "meter_number", "", FMT_DIGITS, 6, 0, false),
    ONE97(0xC033u, "user_number", "", FMT_DIGITS, 6, 0, false),
    ONE97(0xC034u, "device_code", "", FMT_DIGITS, 6, 0, false),
};

#define DI_TABLE_LEN (sizeof(di_table) / sizeof(di_table[0]))

/* Resolve a DI into its item layout. hint = item count of a tariff block. */
static int di_resolve(uint32_t di, enum dlt645_proto proto, size_t hint,
                      struct di_layout *l)
{
    size_t i;
    int rc;

    if (proto == DLT645_1997)
        di &= 0xFFFFu;
    else if (proto != DLT645_2007)
        return AH_EINVAL;
    for (i = 0; i < DI_TABLE_LEN; i++) {
        const struct di_entry *e = &di_table[i];

        if (e->proto != proto || (di & e->mask) != e->pattern)
            continue;
        memset(l, 0, sizeof(*l));
        rc = e->resolve ? e->resolve(e, di, hint, l) : res_simple(e, di, hint, l);
        if (rc == AH_ENOTSUP)
            continue; /* a later, narrower entry may know it */
        if (rc < 0)
            return rc;
        if (l->name[0] == '\0') {
            if (l->n == 1 && !l->var)
                memcpy(l->name, l->it[0].name, sizeof(l->name));
            else
                fmt_name(l->name, "%s_block", l->it[0].name);
        }
        return AH_OK;
    }
    return AH_ENOTSUP;
}

/* ---- item codec --------------------------------------------------------- */

static int bcd_byte(uint8_t b, unsigned max, uint8_t *out)
{
    int64_t v;

    if (dlt645_bcd_decode(&b, 1, false, &v) < 0 || v > (int64_t)max)
        return AH_EFRAME;
    *out = (uint8_t)v;
    return AH_OK;
}

static int put_bcd_byte(unsigned v, uint8_t *p)
{
    return dlt645_bcd_encode((int64_t)v, p, 1, false) < 0 ? AH_ERANGE : AH_OK;
}

/* Times without a year or without a date are checked through the full-date
 * helpers with neutral fill-ins (day 01, month 01, year 00 — a leap year, so
 * 29 Feb stays valid in MMDDhhmm). */
static int time_decode(uint8_t fmt, const uint8_t *p, struct dlt645_value *v)
{
    uint8_t q[6];
    struct dlt645_tm t;
    int rc = AH_OK;

    memset(&t, 0, sizeof(t));
    switch (fmt) {
    case FMT_YMDHM:
        rc = dlt645_tm_decode_ymdhm(p, &t);
        v->tm_fields = DLT645_TM_DATE | DLT645_TM_HM;
        break;
    case FMT_YMDHMS:
        rc = dlt645_tm_decode_ymdhms(p, &t);
        v->tm_fields = DLT645_TM_DATE | DLT645_TM_HM | DLT645_TM_SEC;
        break;
    case FMT_YMDW: /* WW DD MM YY */
        q[0] = 0x00, q[1] = 0x00, q[2] = p[1], q[3] = p[2], q[4] = p[3];
        rc = dlt645_tm_decode_ymdhm(q, &t);
        if (rc == AH_OK)
            rc = bcd_byte(p[0], 6, &t.wday);
        v->tm_fields = DLT645_TM_DATE | DLT645_TM_WDAY;
        break;
    case FMT_HMS: /* ss mm hh */
        q[0] = p[0], q[1] = p[1], q[2] = p[2], q[3] = 0x01, q[4] = 0x01, q[5] = 0x00;
        rc = dlt645_tm_decode_ymdhms(q, &t);
        t.day = t.mon = t.year = 0;
        v->tm_fields = DLT645_TM_HM | DLT645_TM_SEC;
        break;
    case FMT_YMDWHMS: /* ss mm hh WW DD MM YY */
        q[0] = p[0], q[1] = p[1], q[2] = p[2], q[3] = p[4], q[4] = p[5], q[5] = p[6];
        rc = dlt645_tm_decode_ymdhms(q, &t);
        if (rc == AH_OK)
            rc = bcd_byte(p[3], 6, &t.wday);
        v->tm_fields = DLT645_TM_DATE | DLT645_TM_HM | DLT645_TM_SEC | DLT645_TM_WDAY;
        break;
    case FMT_MDHM: /* mm hh DD MM */
        q[0] = p[0], q[1] = p[1], q[2] = p[2], q[3] = p[3], q[4] = 0x00;
        rc = dlt645_tm_decode_ymdhm(q, &t);
        t.year = 0;
        v->tm_fields = DLT645_TM_MDAY | DLT645_TM_HM;
        break;
    default:
        return AH_EINVAL;
    }
    if (rc < 0)
        return AH_EFRAME;
    v->kind = DLT645_V_TIME;
    v->tm = t;
    return AH_OK;
}

static int time_encode(uint8_t fmt, const struct dlt645_tm *t, uint8_t *p)
{
    uint8_t q[6];
    struct dlt645_tm chk;
    struct dlt645_value tmp;
    int rc = AH_OK;

    /* The field encoders of dlt645.c assume 0..99; check, then re-decode so
     * an impossible date is refused rather than sent. */
    if (t->year > 99 || t->mon > 99 || t->day > 99 || t->hour > 99 || t->min > 99 ||
        t->sec > 99)
        return AH_ERANGE;
    switch (fmt) {
    case FMT_YMDHM:
        dlt645_tm_encode_ymdhm(t, p);
        rc = dlt645_tm_decode_ymdhm(p, &chk);
        break;
    case FMT_YMDHMS:
        dlt645_tm_encode_ymdhms(t, p);
        rc = dlt645_tm_decode_ymdhms(p, &chk);
        break;
    case FMT_YMDW:
        dlt645_tm_encode_ymdhms(t, q);
        p[1] = q[3], p[2] = q[4], p[3] = q[5];
        rc = t->wday > 6 ? AH_ERANGE : put_bcd_byte(t->wday, &p[0]);
        break;
    case FMT_HMS:
        dlt645_tm_encode_ymdhms(t, q);
        p[0] = q[0], p[1] = q[1], p[2] = q[2];
        break;
    case FMT_YMDWHMS:
        dlt645_tm_encode_ymdhms(t, q);
        p[0] = q[0], p[1] = q[1], p[2] = q[2], p[4] = q[3], p[5] = q[4], p[6] = q[5];
        rc = t->wday > 6 ? AH_ERANGE : put_bcd_byte(t->wday, &p[3]);
        break;
    case FMT_MDHM:
        dlt645_tm_encode_ymdhm(t, q);
        p[0] = q[0], p[1] = q[1], p[2] = q[2], p[3] = q[3];
        break;
    default:
        return AH_EINVAL;
    }
    if (rc < 0 || fmt == FMT_YMDHM || fmt == FMT_YMDHMS)
        return rc < 0 ? AH_ERANGE : AH_OK;
    /* decode what was written with the same checks as the decoder */
    memset(&tmp, 0, sizeof(tmp));
    rc = time_decode(fmt, p, &tmp);
    return rc < 0 ? AH_ERANGE : AH_OK;
}

static int rescale(int64_t raw, unsigned from, unsigned to, int64_t *out)
{
    while (from < to) {
        if (raw > INT64_MAX / 10 || raw < INT64_MIN / 10)
            return AH_ERANGE;
        raw *= 10;
        from++;
    }
    while (from > to) {
        if (raw % 10 != 0)
            return AH_ERANGE;
        raw /= 10;
        from--;
    }
    *out = raw;
    return AH_OK;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static void value_init(struct dlt645_value *v, const char *name, const char *unit,
                       uint8_t dec)
{
    memset(v, 0, sizeof(*v));
    snprintf(v->name, sizeof(v->name), "%s", name);
    v->unit = unit;
    v->decimals = dec;
}

/* Numbers and times that are all FF are "not available" (§2.2, §2.9);
 * words and text carry any byte and round-trip as they are. */
static bool fmt_can_be_na(uint8_t fmt)
{
    return fmt != FMT_BITS && fmt != FMT_DIGITS && fmt != FMT_ASCII;
}

static int item_decode(const struct di_item *it, const uint8_t *p, struct dlt645_value *v)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i;
    int rc;

    value_init(v, it->name, it->unit, it->dec);
    if (fmt_can_be_na(it->fmt) && dlt645_bcd_all_ff(p, it->size)) {
        v->kind = DLT645_V_NA;
        return AH_OK;
    }
    switch (it->fmt) {
    case FMT_NUM:
        if (dlt645_bcd_decode(p, it->size, it->sign, &v->raw) < 0)
            return AH_EFRAME;
        v->kind = DLT645_V_NUM;
        return AH_OK;
    case FMT_DEMAND:
        if (dlt645_bcd_decode(p, 3, it->sign, &v->raw) < 0)
            return AH_EFRAME;
        v->kind = DLT645_V_NUM;
        /* a demand never reached since the last clear has time 00…00 */
        if (all_byte(p + 3, 5, 0x00))
            return AH_OK;
        rc = time_decode(FMT_YMDHM, p + 3, v);
        if (rc < 0)
            return rc;
        v->kind = DLT645_V_NUM;
        v->has_tm = true;
        return AH_OK;
    case FMT_BITS:
        v->kind = DLT645_V_BITS;
        for (i = it->size; i-- > 0;)
            v->bits = (v->bits << 8) | p[i];
        return AH_OK;
    case FMT_DIGITS:
        /* high byte is sent last (§2.1) */
        v->kind = DLT645_V_TEXT;
        for (i = 0; i < it->size; i++) {
            uint8_t b = p[it->size - 1 - i];
            v->text[2 * i] = hex[b >> 4];
            v->text[2 * i + 1] = hex[b & 0x0F];
        }
        v->text[2 * it->size] = '\0';
        return AH_OK;
    case FMT_ASCII:
        v->kind = DLT645_V_TEXT;
        for (i = 0; i < it->size; i++) {
            char c = (char)p[it->size - 1 - i];
            if (c == '\0')
                break;
            v->text[i] = c;
        }
        v->text[i] = '\0';
        return AH_OK;
    default:
        return time_decode(it->fmt, p, v);
    }
}

static int item_encode(const struct di_item *it, const struct dlt645_value *v, uint8_t *p)
{
    int64_t raw;
    size_t i, len;
    int rc;

    if (v->kind == DLT645_V_NA) {
        if (!fmt_can_be_na(it->fmt))
            return AH_EINVAL;
        memset(p, 0xFF, it->size);
        return AH_OK;
    }
    switch (it->fmt) {
    case FMT_NUM:
    case FMT_DEMAND:
        if (v->kind != DLT645_V_NUM)
            return AH_EINVAL;
        rc = rescale(v->raw, v->decimals, it->dec, &raw);
        if (rc < 0)
            return rc;
        if (dlt645_bcd_encode(raw, p, it->fmt == FMT_DEMAND ? 3 : it->size, it->sign) < 0)
            return AH_ERANGE;
        if (it->fmt == FMT_NUM)
            return AH_OK;
        if (!v->has_tm) {
            memset(p + 3, 0, 5); /* never set: 00 fill as meters do */
            return AH_OK;
        }
        return time_encode(FMT_YMDHM, &v->tm, p + 3);
    case FMT_BITS:
        if (v->kind != DLT645_V_BITS)
            return AH_EINVAL;
        if (it->size < 4 && (v->bits >> (8 * it->size)) != 0)
            return AH_ERANGE;
        for (i = 0; i < it->size; i++)
            p[i] = (uint8_t)(v->bits >> (8 * i));
        return AH_OK;
    case FMT_DIGITS:
        if (v->kind != DLT645_V_TEXT)
            return AH_EINVAL;
        len = strnlen(v->text, sizeof(v->text));
        if (len > 2u * it->size)
            return AH_ERANGE;
        memset(p, 0, it->size);
        /* right-aligned: pad high digits with 0 (§1.3) */
        for (i = 0; i < len; i++) {
            int h = hexval(v->text[len - 1 - i]);
            if (h < 0)
                return AH_EINVAL;
            p[i / 2] = (uint8_t)(p[i / 2] | (h << (4 * (i % 2))));
        }
        return AH_OK;
    case FMT_ASCII:
        if (v->kind != DLT645_V_TEXT)
            return AH_EINVAL;
        len = strnlen(v->text, sizeof(v->text));
        if (len > it->size)
            return AH_ERANGE;
        memset(p, 0, it->size);
        for (i = 0; i < len; i++)
            p[it->size - 1 - i] = (uint8_t)v->text[i];
        return AH_OK;
    default:
        if (v->kind != DLT645_V_TIME)
            return AH_EINVAL;
        return time_encode(it->fmt, &v->tm, p);
    }
}

/* ---- public API -----------------------------------------------------------
 */

bool dlt645_di_describe(uint32_t di, enum dlt645_proto proto, char *name, size_t cap,
                        const char **unit)
{
    struct di_layout l;
    const struct curve_def *c;
    const char *u = "";

    if (di_resolve(di, proto, 0, &l) == AH_OK) {
        u = l.it[0].unit;
    } else if (proto == DLT645_2007 && (c = curve_find(di)) != NULL) {
        fmt_name(l.name, "%s_curve", c->name);
        u = c->unit;
    } else if (proto == DLT645_2007 && (di & 0xFFF0FFFCu) == 0x06000000u &&
               (di & 0x3u) != 0x3u && ((di >> 16) & 0xFu) <= 6) {
        /* §2.9 load records: 06000000..02, and 060c0000..02 for class c */
        if ((di >> 16) & 0xFu)
            fmt_name(l.name, "load_record_class_%u", (unsigned)((di >> 16) & 0xFu));
        else
            fmt_name(l.name, "load_record");
    } else {
        return false;
    }
    if (name != NULL && cap > 0)
        snprintf(name, cap, "%s", l.name);
    if (unit != NULL)
        *unit = u;
    return true;
}

int dlt645_decode(uint32_t di, enum dlt645_proto proto, const uint8_t *p, size_t len,
                  struct dlt645_value *out, size_t max, size_t *n)
{
    struct di_layout l;
    size_t i, off = 0, total = 0;
    int rc;

    if (n != NULL)
        *n = 0;
    if ((p == NULL && len > 0) || (out == NULL && max > 0))
        return AH_EINVAL;
    rc = di_resolve(di, proto, 0, &l);
    if (rc < 0)
        return rc;
    if (l.var) {
        size_t isz = l.it[0].size, cnt;

        if (len == 0 || len % isz != 0)
            return AH_EFRAME;
        cnt = len / isz;
        rc = di_resolve(di, proto, cnt, &l);
        if (rc == AH_ERANGE)
            return AH_EFRAME; /* more tariffs than the DI allows */
        if (rc < 0)
            return rc;
    }
    for (i = 0; i < l.n; i++)
        total += l.it[i].size;
    if (total != len)
        return AH_EFRAME;
    if (l.n > max)
        return AH_EOVERFLOW;
    for (i = 0; i < l.n; i++) {
        rc = item_decode(&l.it[i], p + off, &out[i]);
        if (rc < 0)
            return rc;
        off += l.it[i].size;
    }
    if (n != NULL)
        *n = l.n;
    return AH_OK;
}

int dlt645_encode_values(uint32_t di, enum dlt645_proto proto,
                         const struct dlt645_value *v, size_t n, uint8_t *out, size_t cap)
{
    struct di_layout l;
    size_t i, off = 0, total = 0;
    int rc;

    if ((v == NULL && n > 0) || (out == NULL && cap > 0))
        return AH_EINVAL;
    rc = di_resolve(di, proto, n, &l);
    if (rc < 0)
        return rc;
    if (l.n != n)
        return AH_EINVAL;
    for (i = 0; i < l.n; i++)
        total += l.it[i].size;
    if (total > cap)
        return AH_EOVERFLOW;
    for (i = 0; i < l.n; i++) {
        rc = item_encode(&l.it[i], &v[i], out + off);
        if (rc < 0)
            return rc;
        off += l.it[i].size;
    }
    return (int)total;
}

bool dlt645_di_example(size_t i, uint32_t *di, enum dlt645_proto *proto)
{
    if (i >= DI_TABLE_LEN)
        return false;
    if (di != NULL)
        *di = di_table[i].example;
    if (proto != NULL)
        *proto = di_table[i].proto;
    return true;
}

/* ---- status words (§2.7, names of the standard's Appendix C) ------------ */

static const char *const sw1_bits[16] = {
    NULL,
    "demand_interval_mode",
    "clock_battery_low",
    "reading_battery_low",
    "active_power_reverse",
    "reactive_power_reverse",
};
static const char *const sw2_bits[16] = {
    "active_reverse_a",   "active_reverse_b",   "active_reverse_c",   NULL,
    "reactive_reverse_a", "reactive_reverse_b", "reactive_reverse_c",
};
static const char *const sw3_bits[16] = {
    "tou_table_2",    "supply_aux",    "supply_battery",     "programming_enabled",
    "relay_open",     "zone_table_2",  "relay_command_open", "pre_trip_alarm",
    "prepaid_energy", "prepaid_money", "price_set_2",        "step_set_2",
};
static const char *const sw_phase_bits[16] = {
    "loss_of_voltage",    "under_voltage", "over_voltage",
    "loss_of_current",    "over_current",  "overload",
    "reverse_power_flow", "phase_failure", "current_break",
};
static const char *const sw7_bits[16] = {
    "voltage_reverse_sequence", "current_reverse_sequence", "voltage_imbalance",
    "current_imbalance",        "aux_power_lost",           "power_down",
    "demand_over_limit",        "pf_below_limit",           "severe_current_imbalance",
};

const char *dlt645_status_bit_name(uint32_t di, unsigned bit)
{
    static const char *const *const words[7] = {
        sw1_bits,      sw2_bits,      sw3_bits, sw_phase_bits,
        sw_phase_bits, sw_phase_bits, sw7_bits,
    };

    if (bit >= 16 || di < 0x04000501u || di > 0x04000507u)
        return NULL;
    return words[di - 0x04000501u][bit];
}

/* ---- load records (§2.9) ---------------------------------------------------
 */

#define LR_START    0xA0 /* start code A0 A0 (§2.9) */
#define LR_INVALID  0xE0 /* E0 E0: record marked invalid (§2.9) */
#define LR_SEP      0xAA /* class separator (§2.9) */
#define LR_END      0xE5 /* end code (§2.9) */
#define LR_NCLASSES 6

struct lr_def {
    uint8_t cls; /* 1..6 */
    uint8_t field;
    uint8_t size;
    bool sign;
};
/* §2.9 record block, in wire order */
static const struct lr_def lr_defs[] = {
    {1, DLT645_LR_UA, 2, false},    {1, DLT645_LR_UB, 2, false},
    {1, DLT645_LR_UC, 2, false},    {1, DLT645_LR_IA, 3, true},
    {1, DLT645_LR_IB, 3, true},     {1, DLT645_LR_IC, 3, true},
    {1, DLT645_LR_FREQ, 2, false},  {2, DLT645_LR_P, 3, true},
    {2, DLT645_LR_PA, 3, true},     {2, DLT645_LR_PB, 3, true},
    {2, DLT645_LR_PC, 3, true},     {2, DLT645_LR_Q, 3, true},
    {2, DLT645_LR_QA, 3, true},     {2, DLT645_LR_QB, 3, true},
    {2, DLT645_LR_QC, 3, true},     {3, DLT645_LR_PF, 2, true},
    {3, DLT645_LR_PFA, 2, true},    {3, DLT645_LR_PFB, 2, true},
    {3, DLT645_LR_PFC, 2, true},    {4, DLT645_LR_E_FWD, 4, false},
    {4, DLT645_LR_E_REV, 4, false}, {4, DLT645_LR_E_CR1, 4, true},
    {4, DLT645_LR_E_CR2, 4, true},  {5, DLT645_LR_E_Q1, 4, false},
    {5, DLT645_LR_E_Q2, 4, false},  {5, DLT645_LR_E_Q3, 4, false},
    {5, DLT645_LR_E_Q4, 4, false},  {6, DLT645_LR_DEM_P, 3, true},
    {6, DLT645_LR_DEM_Q, 3, true},
};
#define LR_NDEFS (sizeof(lr_defs) / sizeof(lr_defs[0]))

static int64_t lr_get(const struct dlt645_load_record *r, unsigned f)
{
    if (f <= DLT645_LR_UC)
        return r->volt[f - DLT645_LR_UA];
    if (f <= DLT645_LR_IC)
        return r->curr[f - DLT645_LR_IA];
    if (f == DLT645_LR_FREQ)
        return r->freq;
    if (f <= DLT645_LR_PC)
        return r->p[f - DLT645_LR_P];
    if (f <= DLT645_LR_QC)
        return r->q[f - DLT645_LR_Q];
    if (f <= DLT645_LR_PFC)
        return r->pf[f - DLT645_LR_PF];
    switch (f) {
    case DLT645_LR_E_FWD:
        return r->e_fwd;
    case DLT645_LR_E_REV:
        return r->e_rev;
    case DLT645_LR_E_CR1:
        return r->e_cr1;
    case DLT645_LR_E_CR2:
        return r->e_cr2;
    case DLT645_LR_DEM_P:
        return r->dem_p;
    case DLT645_LR_DEM_Q:
        return r->dem_q;
    default:
        return r->e_q[f - DLT645_LR_E_Q1];
    }
}

/* v comes from at most 4 BCD bytes, so it fits the int32 fields. */
static void lr_set(struct dlt645_load_record *r, unsigned f, int64_t v)
{
    int32_t v32 = (int32_t)v;

    if (f <= DLT645_LR_UC)
        r->volt[f - DLT645_LR_UA] = v32;
    else if (f <= DLT645_LR_IC)
        r->curr[f - DLT645_LR_IA] = v32;
    else if (f == DLT645_LR_FREQ)
        r->freq = v32;
    else if (f <= DLT645_LR_PC)
        r->p[f - DLT645_LR_P] = v32;
    else if (f <= DLT645_LR_QC)
        r->q[f - DLT645_LR_Q] = v32;
    else if (f <= DLT645_LR_PFC)
        r->pf[f - DLT645_LR_PF] = v32;
    else if (f == DLT645_LR_E_FWD)
        r->e_fwd = v;
    else if (f == DLT645_LR_E_REV)
        r->e_rev = v;
    else if (f == DLT645_LR_E_CR1)
        r->e_cr1 = v;
    else if (f == DLT645_LR_E_CR2)
        r->e_cr2 = v;
    else if (f == DLT645_LR_DEM_P)
        r->dem_p = v32;
    else if (f == DLT645_LR_DEM_Q)
        r->dem_q = v32;
    else
        r->e_q[f - DLT645_LR_E_Q1] = v;
}

static size_t lr_class_size(unsigned cls)
{
    size_t i, s = 0;

    for (i = 0; i < LR_NDEFS; i++)
        if (lr_defs[i].cls == cls)
            s += lr_defs[i].size;
    return s;
}

int dlt645_lr_decode(const uint8_t *p, size_t len, struct dlt645_load_record *r,
                     size_t *used)
{
    size_t ll, end, pos, i, total;
    unsigned c;
    uint8_t cs = 0;

    if (used != NULL)
        *used = 0;
    if (p == NULL || r == NULL)
        return AH_EINVAL;
    memset(r, 0, sizeof(*r));
    if (len < 3)
        return AH_EFRAME;
    if (p[0] == LR_INVALID && p[1] == LR_INVALID)
        r->invalid = true;
    else if (p[0] != LR_START || p[1] != LR_START)
        return AH_EFRAME;
    ll = p[2];
    end = 3 + ll; /* one past the last AA */
    total = end + 2;
    /* time + six separators at least (§2.9: LL counts time .. last AA) */
    if (ll < 5 + LR_NCLASSES || len < total)
        return AH_EFRAME;
    for (i = 0; i < end; i++)
        cs = (uint8_t)(cs + p[i]);
    if (p[end] != cs || p[end + 1] != LR_END)
        return AH_EFRAME;
    if (dlt645_tm_decode_ymdhm(p + 3, &r->t) < 0)
        return AH_EFRAME;
    pos = 8;
    for (c = 1; c <= LR_NCLASSES; c++) {
        size_t csz = lr_class_size(c);

        if (pos >= end)
            return AH_EFRAME;
        if (p[pos] == LR_SEP) {
            /* disabled class: only its separator */
            for (i = 0; i < LR_NDEFS; i++)
                if (lr_defs[i].cls == c)
                    r->na |= 1ull << lr_defs[i].field;
            pos++;
            continue;
        }
        if (pos + csz + 1 > end || p[pos + csz] != LR_SEP)
            return AH_EFRAME;
        for (i = 0; i < LR_NDEFS; i++) {
            const struct lr_def *d = &lr_defs[i];
            int64_t v;

            if (d->cls != c)
                continue;
            if (dlt645_bcd_all_ff(p + pos, d->size)) {
                /* not measured by this meter (§2.9) */
                r->na |= 1ull << d->field;
            } else {
                if (dlt645_bcd_decode(p + pos, d->size, d->sign, &v) < 0)
                    return AH_EFRAME;
                lr_set(r, d->field, v);
            }
            pos += d->size;
        }
        pos++; /* separator */
        r->classes = (uint8_t)(r->classes | (1u << (c - 1)));
    }
    if (pos != end)
        return AH_EFRAME;
    if (used != NULL)
        *used = total;
    return AH_OK;
}

int dlt645_lr_encode(const struct dlt645_load_record *r, uint8_t *out, size_t cap)
{
    size_t pos, i, need = 3 + 5 + 2;
    unsigned c;
    uint8_t cs = 0;

    if (r == NULL || out == NULL)
        return AH_EINVAL;
    if (r->classes & ~0x3Fu)
        return AH_EINVAL;
    for (c = 1; c <= LR_NCLASSES; c++)
        need += 1 + ((r->classes & (1u << (c - 1))) ? lr_class_size(c) : 0);
    if (need > cap)
        return AH_EOVERFLOW;
    out[0] = out[1] = r->invalid ? LR_INVALID : LR_START;
    if (r->t.year > 99 || r->t.mon > 99 || r->t.day > 99 || r->t.hour > 99 ||
        r->t.min > 99)
        return AH_ERANGE;
    dlt645_tm_encode_ymdhm(&r->t, out + 3);
    pos = 8;
    for (c = 1; c <= LR_NCLASSES; c++) {
        if (r->classes & (1u << (c - 1))) {
            for (i = 0; i < LR_NDEFS; i++) {
                const struct lr_def *d = &lr_defs[i];

                if (d->cls != c)
                    continue;
                if (r->na & (1ull << d->field))
                    memset(out + pos, 0xFF, d->size);
                else if (dlt645_bcd_encode(lr_get(r, d->field), out + pos, d->size,
                                           d->sign) < 0)
                    return AH_ERANGE;
                pos += d->size;
            }
        }
        out[pos++] = LR_SEP;
    }
    out[2] = (uint8_t)(pos - 3);
    for (i = 0; i < pos; i++)
        cs = (uint8_t)(cs + out[i]);
    out[pos++] = cs;
    out[pos++] = LR_END;
    return (int)pos;
}

/* ---- per-item curves 0610IIPP (§2.9, [EXT]) ------------------------------ */

/* 0101..0402, 0601, 0603 confirmed; 05xx, 0602, 0604, 07xx, 08xx follow the
 * same pattern [CHECK] (§2.9). Formats as the instantaneous DIs (§2.5). */
static const struct curve_def curve_tab[] = {
    {0x0101, "voltage_a", "V", 2, 1, false},
    {0x0102, "voltage_b", "V", 2, 1, false},
    {0x0103, "voltage_c", "V", 2, 1, false},
    {0x0201, "current_a", "A", 3, 3, true},
    {0x0202, "current_b", "A", 3, 3, true},
    {0x0203, "current_c", "A", 3, 3, true},
    {0x0300, "active_power_total", "kW", 3, 4, true},
    {0x0301, "active_power_a", "kW", 3, 4, true},
    {0x0302, "active_power_b", "kW", 3, 4, true},
    {0x0303, "active_power_c", "kW", 3, 4, true},
    {0x0400, "reactive_power_total", "kvar", 3, 4, true},
    {0x0401, "reactive_power_a", "kvar", 3, 4, true},
    {0x0402, "reactive_power_b", "kvar", 3, 4, true},
    {0x0403, "reactive_power_c", "kvar", 3, 4, true},
    {0x0500, "power_factor_total", "", 2, 3, true},
    {0x0501, "power_factor_a", "", 2, 3, true},
    {0x0502, "power_factor_b", "", 2, 3, true},
    {0x0503, "power_factor_c", "", 2, 3, true},
    {0x0601, "forward_active_total", "kWh", 4, 2, false},
    {0x0602, "reverse_active_total", "kWh", 4, 2, false},
    {0x0603, "combined_reactive_1_total", "kvarh", 4, 2, true},
    {0x0604, "combined_reactive_2_total", "kvarh", 4, 2, true},
    {0x0701, "q1_reactive_total", "kvarh", 4, 2, false},
    {0x0702, "q2_reactive_total", "kvarh", 4, 2, false},
    {0x0703, "q3_reactive_total", "kvarh", 4, 2, false},
    {0x0704, "q4_reactive_total", "kvarh", 4, 2, false},
    {0x0801, "active_demand", "kW", 3, 4, true},
    {0x0802, "reactive_demand", "kvar", 3, 4, true},
};

static const struct curve_def *curve_find(uint32_t di)
{
    size_t i;

    if ((di >> 16) != 0x0610u)
        return NULL;
    for (i = 0; i < sizeof(curve_tab) / sizeof(curve_tab[0]); i++)
        if (curve_tab[i].iipp == (uint16_t)di)
            return &curve_tab[i];
    return NULL;
}

bool dlt645_curve_item(uint32_t di, uint8_t *size, uint8_t *decimals, bool *sign,
                       const char **unit)
{
    const struct curve_def *c = curve_find(di);

    if (c == NULL)
        return false;
    if (size != NULL)
        *size = c->size;
    if (decimals != NULL)
        *decimals = c->dec;
    if (sign != NULL)
        *sign = c->sign;
    if (unit != NULL)
        *unit = c->unit;
    return true;
}

static bool all_byte(const uint8_t *p, size_t n, uint8_t b)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (p[i] != b)
            return false;
    return n > 0;
}

int dlt645_curve_decode(uint32_t di, const uint8_t *p, size_t len,
                        struct dlt645_tm *start, struct dlt645_value *out, size_t max,
                        size_t *n)
{
    const struct curve_def *c = curve_find(di);
    size_t cnt, i;

    if (n != NULL)
        *n = 0;
    if (c == NULL)
        return AH_ENOTSUP;
    if (p == NULL || start == NULL || (out == NULL && max > 0))
        return AH_EINVAL;
    if (len < 5 || (len - 5) % c->size != 0)
        return AH_EFRAME;
    if (dlt645_tm_decode_ymdhm(p, start) < 0)
        return AH_EFRAME;
    cnt = (len - 5) / c->size;
    if (cnt > max)
        return AH_EOVERFLOW;
    for (i = 0; i < cnt; i++) {
        const uint8_t *q = p + 5 + i * c->size;
        struct dlt645_value *v = &out[i];

        value_init(v, c->name, c->unit, c->dec);
        /* missing points: FF fill, some meters EE (§2.9, §2.2) */
        if (all_byte(q, c->size, 0xFF) || all_byte(q, c->size, 0xEE)) {
            v->kind = DLT645_V_NA;
            continue;
        }
        if (dlt645_bcd_decode(q, c->size, c->sign, &v->raw) < 0)
            return AH_EFRAME;
        v->kind = DLT645_V_NUM;
    }
    if (n != NULL)
        *n = cnt;
    return AH_OK;
}

int dlt645_curve_encode(uint32_t di, const struct dlt645_tm *start,
                        const struct dlt645_value *v, size_t n, uint8_t *out, size_t cap)
{
    const struct curve_def *c = curve_find(di);
    struct di_item it;
    size_t i, need;
    int rc;

    if (c == NULL)
        return AH_ENOTSUP;
    if (start == NULL || out == NULL || (v == NULL && n > 0))
        return AH_EINVAL;
    need = 5 + n * c->size;
    if (need > cap)
        return AH_EOVERFLOW;
    if (need > (size_t)INT32_MAX)
        return AH_ERANGE;
    rc = time_encode(FMT_YMDHM, start, out);
    if (rc < 0)
        return rc;
    memset(&it, 0, sizeof(it));
    it.fmt = FMT_NUM;
    it.size = c->size;
    it.dec = c->dec;
    it.sign = c->sign;
    for (i = 0; i < n; i++) {
        rc = item_encode(&it, &v[i], out + 5 + i * c->size);
        if (rc < 0)
            return rc;
    }
    return (int)need;
}
