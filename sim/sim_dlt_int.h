/*
 * sim_dlt_int — what the parts of sim_dlt share, private to sim/.
 *
 * sim_dlt is split by job: sim_dlt.c turns frames into replies (13H, 11H,
 * 12H follow-ups, 1997 reads), sim_dlt_values.c computes the register and
 * parameter values of a DI, sim_dlt_lr.c the load records and curves.
 * They share the meter context below and the value builders, which fill
 * one struct dlt645_value for the DI table's encoder. Nothing outside
 * sim_dlt*.c may include this header.
 */
#ifndef AH_SIM_DLT_INT_H
#define AH_SIM_DLT_INT_H

#include "dlt645_di.h"
#include "sim_dlt.h"
#include "sim_fleet.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* One meter at one instant, as a request sees it. */
struct sim_dlt_ctx {
    const struct sim_fleet *f;
    const struct sim_meter *m; /* NULL: no such meter */
    uint32_t conc, idx;
    int64_t now;       /* UTC */
    int64_t off;       /* meter clock offset at now */
    int64_t local_now; /* meter's wall clock */
};

void sim_dlt_ctx_init(struct sim_dlt_ctx *c, const struct sim_fleet *f, uint32_t conc,
                      uint32_t idx, int64_t now);

/* UTC instant the meter's wall clock shows `local`. */
int64_t sim_dlt_utc_of(const struct sim_dlt_ctx *c, int64_t local);

/* Load records 0600000x (§2.9) and curves 0610iipp: the payload after the
 * DI into out, its length, or a negative ah_err (→ ERR 02). */
int sim_dlt_load_records(const struct sim_dlt_ctx *c, uint32_t di, const uint8_t *param,
                         size_t plen, uint8_t *out, size_t cap);
int sim_dlt_curve(const struct sim_dlt_ctx *c, uint32_t di, const uint8_t *param,
                  size_t plen, uint8_t *out, size_t cap);

/* DL/T 645-1997 read payload (§2.10) of a 2-byte DI: length or ah_err. */
int sim_dlt_payload_1997(const struct sim_fleet *f, uint32_t conc, uint32_t idx,
                         int64_t now, uint16_t di, uint8_t *out, size_t cap);

static inline void sim_dlt_view_at(const struct sim_dlt_ctx *c, int64_t t,
                                   struct sim_view *v)
{
    sim_fleet_view(c->f, c->conc, c->idx, t, v);
}

static inline bool sim_dlt_three_phase(const struct sim_dlt_ctx *c)
{
    return c->m->wiring == SIM_3P4W;
}

/* a / b rounded half away from zero (b > 0). */
static inline int64_t sim_dlt_div_round(int64_t a, int64_t b)
{
    return a >= 0 ? (a + b / 2) / b : -((-a + b / 2) / b);
}

/* ---- value builders: each fills and returns v --------------------------- */

static inline struct dlt645_value *sim_dlt_vnum(struct dlt645_value *v, int64_t raw,
                                                uint8_t dec)
{
    memset(v, 0, sizeof *v);
    v->kind = DLT645_V_NUM;
    v->raw = raw;
    v->decimals = dec;
    return v;
}

/* Not available: the FF fill of an item the meter does not measure. */
static inline struct dlt645_value *sim_dlt_vna(struct dlt645_value *v)
{
    memset(v, 0, sizeof *v);
    v->kind = DLT645_V_NA;
    return v;
}

static inline struct dlt645_value *sim_dlt_vtime(struct dlt645_value *v, int64_t local_s,
                                                 uint8_t fields)
{
    memset(v, 0, sizeof *v);
    v->kind = DLT645_V_TIME;
    sim_dlt_tm(local_s, &v->tm);
    v->tm_fields = fields;
    return v;
}

static inline struct dlt645_value *sim_dlt_vbits(struct dlt645_value *v, uint32_t bits)
{
    memset(v, 0, sizeof *v);
    v->kind = DLT645_V_BITS;
    v->bits = bits;
    return v;
}

static inline struct dlt645_value *sim_dlt_vtext(struct dlt645_value *v, const char *s)
{
    memset(v, 0, sizeof *v);
    v->kind = DLT645_V_TEXT;
    snprintf(v->text, sizeof v->text, "%s", s);
    return v;
}

#endif /* AH_SIM_DLT_INT_H */
