/*
 * sim_model — the simulated meter: seeded, deterministic, computed on demand.
 *
 * A meter is a few dozen bytes of parameters. Its registers at any instant
 * are computed from the seed, never stored per interval:
 *   - per tariff and direction, the register at local midnight of day d is a
 *     closed form  E0 + floor(mean × weekly_cum(d)) + h(d),  h a bounded
 *     per-day hash noise chosen so the day's advance can never be negative;
 *   - inside a day, the day's advance is spread over the 96 quarter hours of
 *     that tariff by a load shape × per-interval noise (integer weights, so
 *     the split is exact and the register never decreases);
 *   - inside a quarter hour the advance is linear in time.
 * Registers are exact integers in 0.01 kWh / 0.01 kvarh of the meter's own
 * (secondary) side; CT × PT gives primary values. Meter days are local wall
 * days (tz offset of the fleet, China: UTC+8, no DST).
 *
 * Pure: no I/O, no allocation, no clock; thread-safe (const inputs only), so
 * the Modbus thread and the event loop may both call it.
 */
#ifndef AH_SIM_MODEL_H
#define AH_SIM_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#define SIM_IPD      96          /* 15-minute intervals per day */
#define SIM_IVL_S    900         /* interval length, s */
#define SIM_TARIFFS  4           /* T1 sharp, T2 peak, T3 flat, T4 valley (SGCC order) */
#define SIM_REG_WRAP 100000000LL /* XXXXXX.XX wraps at 999999.99 kWh (§2.3) */

enum sim_kind { SIM_RESIDENTIAL = 0, SIM_COMMERCIAL = 1, SIM_DISTRICT = 2 };
enum sim_wiring { SIM_1P2W = 1, SIM_3P4W = 3 };
enum sim_dir { SIM_IMP = 0, SIM_EXP = 1 };

/* Per-meter parameters (what the truth file carries for each meter). */
struct sim_meter {
    uint64_t seed;               /* per-meter seed (fleet seed × meter id) */
    float mean[2][SIM_TARIFFS];  /* mean daily advance, 0.01 kWh secondary */
    uint32_t e0[2][SIM_TARIFFS]; /* register at the base day, 0.01 kWh */
    uint32_t conc;               /* concentrator index */
    uint32_t index;          /* meter index in the concentrator; district = UINT32_MAX */
    uint16_t ct, pt;         /* ratios (primary / secondary) */
    uint16_t un_dv;          /* nominal phase voltage, 0.1 V */
    uint16_t ib_da, imax_da; /* rated / maximum current, 0.1 A */
    uint16_t tanphi_milli;   /* reactive / active, × 1000 */
    uint16_t proto;          /* 2007 or 1997 */
    uint8_t kind;            /* enum sim_kind */
    uint8_t wiring;          /* enum sim_wiring */
    uint8_t phase;           /* 1P2W: the district phase it hangs on (0..2) */
    uint8_t pw[3];           /* 3P4W phase shares, percent, sum 100 */
    bool pv;                 /* PV prosumer: export register advances */
    int32_t fault;           /* index into the fleet's fault table, -1 none */
};

/* Registers of one meter at one instant. */
struct sim_regs {
    int64_t e[2][SIM_TARIFFS]; /* [SIM_IMP|SIM_EXP][tariff], 0.01 kWh */
    int64_t q[4];              /* Q1..Q4 reactive, 0.01 kvarh */
};

static inline int64_t sim_regs_total(const struct sim_regs *r, int dir)
{
    return r->e[dir][0] + r->e[dir][1] + r->e[dir][2] + r->e[dir][3];
}

/* Cumulative registers at the 97 interval boundaries of one local day. */
struct sim_day {
    int32_t day; /* local day number (days since 1970-01-01 local) */
    int64_t c[2][SIM_TARIFFS][SIM_IPD + 1];
};

/* Local day number and interval of a UTC time (tz_s = local − UTC, s). */
int32_t sim_local_day(int64_t t_utc, int32_t tz_s);

/* Tariff (0..3 = T1..T4) of interval i (0..95) of a local day. */
int sim_tariff_of(int interval);

/* splitmix64 — the one hash every random choice of the simulator uses. */
uint64_t sim_hash(uint64_t x);
uint64_t sim_hash3(uint64_t a, uint64_t b, uint64_t c);

/* Fill parameters of a customer meter from the fleet seed and its position. */
void sim_meter_init_customer(struct sim_meter *m, uint64_t fleet_seed, uint32_t conc,
                             uint32_t index);

/* Make a customer meter a PV prosumer whose panels export `factor` × its
 * daily import (deterministic; import shape as for any prosumer). */
void sim_meter_set_pv(struct sim_meter *m, double factor);

/* The healthy model's registers over one day, and at one instant. */
void sim_model_day(const struct sim_meter *m, int32_t day, struct sim_day *out);
void sim_model_at(const struct sim_meter *m, int64_t t_utc, int32_t tz_s,
                  struct sim_regs *out);
/* Same, from a day table that holds t's day (no recomputation). */
void sim_model_at_day(const struct sim_meter *m, const struct sim_day *d, int64_t t_utc,
                      int32_t tz_s, struct sim_regs *out);

/* Average import − export power over the interval holding t, in W, primary
 * side not applied (secondary). */
int64_t sim_model_power_w(const struct sim_meter *m, int64_t t_utc, int32_t tz_s);

/* The healthy model's reactive registers follow active energy. */
void sim_regs_fill_q(const struct sim_meter *m, struct sim_regs *r);

/* Largest advance a healthy meter can register in one interval,
 * Un × Imax × phases × 15 min, 0.01 kWh (vee.md JUMPING Emax). */
int64_t sim_meter_emax(const struct sim_meter *m);

#endif /* AH_SIM_MODEL_H */
