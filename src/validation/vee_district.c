/*
 * vee_district — district line-loss rules (see vee_district.h).
 *
 * Pure: no I/O, no allocation. The movers list is kept by insertion into a
 * fixed array of at most VEE_DISTRICT_TOP_MAX entries (O(n·K)).
 */
#include "vee_district.h"

#include "ah_err.h"

#include <string.h>

static double dabs(double v)
{
    return v < 0 ? -v : v;
}

static int64_t iabs64(int64_t v)
{
    return v < 0 ? -v : v;
}

/* Relative swing in % of the previous loss rate. A loss rate near zero
 * makes any change look huge, so the denominator is at least the floor. */
static double swing(const struct vee_thresholds *t, double now, double prev)
{
    double den = dabs(prev);
    if (den < t->line_loss_swing_floor_pct)
        den = t->line_loss_swing_floor_pct;
    if (den <= 0)
        return now == prev ? 0 : 1e9;
    return dabs(now - prev) * 100.0 / den;
}

static void list_movers(const struct vee_thresholds *t,
                        const struct vee_district_input *in, bool by_day,
                        struct vee_district_result *out)
{
    unsigned k = (unsigned)t->line_loss_top_k, n = 0;
    for (size_t i = 0; i < in->n; i++) {
        const struct vee_district_customer *c = &in->cust[i];
        if (!c->complete)
            continue; /* no energy to compare */
        bool has = by_day ? c->has_prev_day : c->has_prev_month;
        if (!has)
            continue;
        int64_t prev = by_day ? c->prev_day : c->prev_month;
        int64_t ch = c->energy - prev;
        /* insertion: larger |change| first, earlier customers win ties */
        unsigned pos = n;
        while (pos > 0 && iabs64(out->movers[pos - 1].change) < iabs64(ch))
            pos--;
        if (pos >= k)
            continue;
        unsigned last = n < k ? n : k - 1;
        for (unsigned j = last; j > pos; j--)
            out->movers[j] = out->movers[j - 1];
        out->movers[pos] = (struct vee_district_mover){c->id, c->energy, prev, ch};
        if (n < k)
            n++;
    }
    out->nmovers = n;
}

/* a + b, saturated: a damaged value must not overflow a sum */
static int64_t sat_add(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

int vee_district_eval(const struct vee_thresholds *t, const struct vee_district_input *in,
                      struct vee_district_result *out)
{
    if (!t || !in || !out || (in->n > 0 && !in->cust) || vee_thresholds_check(t))
        return AH_EINVAL;
    memset(out, 0, sizeof *out);
    size_t unknown = 0;
    int64_t sum = 0, exp = 0;
    for (size_t i = 0; i < in->n; i++) {
        if (!in->cust[i].complete) {
            unknown++;
            continue;
        }
        sum = sat_add(sum, in->cust[i].energy);
        exp = sat_add(exp, in->cust[i].export_energy);
    }
    out->customers_energy = sum;
    out->customers_export = exp;
    if (!in->complete || unknown * 10 > in->n) {
        /* vee.md: loss is not computed, the day is marked incomplete */
        out->flags = VEE_DIST_INCOMPLETE;
        return AH_OK;
    }
    if (unknown)
        out->flags = VEE_DIST_PARTIAL; /* judged on the rest, never a made-up energy */
    /* vee.md: supply (供电量) = district forward + PV export fed in by the
     * customers; sales (售电量) = customers' import + what the district
     * meter sent back up. Leaving the export out understates the loss. */
    out->supply = sat_add(in->energy, exp);
    out->sales = sat_add(sum, in->reverse);
    if (out->supply <= 0) {
        out->flags |= VEE_DIST_NO_ENERGY;
        return AH_OK;
    }
    double loss =
        ((double)out->supply - (double)out->sales) * 100.0 / (double)out->supply;
    out->loss_valid = true;
    out->loss_pct = loss;
    if (loss < t->line_loss_min_pct || loss > t->line_loss_max_pct)
        out->flags |= VEE_DIST_LINE_LOSS;
    bool sw_day = false, sw_month = false;
    if (in->has_prev_day) {
        out->swing_day_pct = swing(t, loss, in->prev_day_loss_pct);
        sw_day = out->swing_day_pct > t->line_loss_swing_pct;
    }
    if (in->has_prev_month) {
        out->swing_month_pct = swing(t, loss, in->prev_month_loss_pct);
        sw_month = out->swing_month_pct > t->line_loss_swing_pct;
    }
    if (sw_day || sw_month) {
        out->flags |= VEE_DIST_LINE_LOSS_SWING;
        /* the customers compared against the period that swung (day first) */
        list_movers(t, in, sw_day, out);
    }
    return AH_OK;
}
