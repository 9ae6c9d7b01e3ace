/*
 * vee_district — district (台区) rules per day of reference/vee.md: loss
 * rate, LINE_LOSS, LINE_LOSS_SWING with the customers whose consumption
 * moved most, INCOMPLETE days (docs/validation.md).
 *
 * Pure: no I/O, no clock, no allocation, no logging. The caller gathers
 * one day's energies (and the previous periods') from the store.
 */
#ifndef AH_VEE_DISTRICT_H
#define AH_VEE_DISTRICT_H

#include "vee.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* District flags (not read flags: they describe a district day). */
#define VEE_DIST_LINE_LOSS       (1u << 0)
#define VEE_DIST_LINE_LOSS_SWING (1u << 1)
#define VEE_DIST_INCOMPLETE      (1u << 2)
#define VEE_DIST_NO_ENERGY       (1u << 3) /* complete, but the supply is ≤ 0 */
/* Judged on the rest: a few customers' day energy is unknown (at most a
 * tenth of them; the district meter's known); their consumption counts as
 * loss, so the loss is an upper bound, and the caller names them. */
#define VEE_DIST_PARTIAL (1u << 4)

/* Most customers listed with a swing (line_loss_top_k ≤ this). */
#define VEE_DISTRICT_TOP_MAX 16

/* One customer's day. Energies PRIMARY, 0.01 kWh (register × CT × PT),
 * each the difference of the meter's two day-boundary registers. */
struct vee_district_customer {
    uint32_t id;    /* caller's meter index, echoed in the list */
    bool complete;  /* its day energy is known (both boundaries, no decrease) */
    int64_t energy; /* import (forward) this day: sales */
    bool has_prev_day;
    int64_t prev_day; /* the day before */
    bool has_prev_month;
    int64_t prev_month;    /* daily mean over the previous month */
    int64_t export_energy; /* PV export (reverse register of a bidirectional
                              meter, 上网电量) this day: supply; 0 one-way */
};

struct vee_district_input {
    bool complete;   /* the district meter's own day energy is known */
    int64_t energy;  /* district meter forward, primary 0.01 kWh: supply */
    int64_t reverse; /* district meter reverse (back to the grid): sales */
    const struct vee_district_customer *cust; /* borrowed, n entries */
    size_t n;
    bool has_prev_day; /* loss rate of the previous day, % */
    double prev_day_loss_pct;
    bool has_prev_month; /* loss rate of the previous month, % */
    double prev_month_loss_pct;
};

struct vee_district_mover {
    uint32_t id;
    int64_t energy, prev; /* this day and the period compared with */
    int64_t change;       /* energy - prev */
};

struct vee_district_result {
    uint32_t flags;           /* VEE_DIST_* */
    bool loss_valid;          /* loss_pct computed (complete, supply > 0) */
    double loss_pct;          /* (supply - sales) / supply, % */
    int64_t customers_energy; /* Σ customers' import */
    int64_t customers_export; /* Σ customers' PV export */
    int64_t supply;           /* district forward + Σ customers' export */
    int64_t sales;            /* Σ customers' import + district reverse */
    double swing_day_pct;     /* relative change vs previous day, % (0 if none) */
    double swing_month_pct;
    unsigned nmovers; /* listed when LINE_LOSS_SWING, biggest |change| first */
    struct vee_district_mover movers[VEE_DISTRICT_TOP_MAX];
};

/*
 * Judge one district day. Returns AH_OK, or AH_EINVAL for NULL pointers,
 * invalid thresholds or n > 0 with cust NULL. All pointers borrowed.
 */
int vee_district_eval(const struct vee_thresholds *t, const struct vee_district_input *in,
                      struct vee_district_result *out);

#endif /* AH_VEE_DISTRICT_H */
