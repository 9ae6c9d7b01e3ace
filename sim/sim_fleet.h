/*
 * sim_fleet — concentrators, their meters, district meters and faults.
 *
 * Owns the parameter arrays (one struct sim_meter per meter, ~100 bytes) and
 * the fault table; computes what a meter shows (registers, instantaneous
 * values, status words, clock, memory) at a simulated time by applying the
 * meter's fault to the pure model of sim_model. No I/O here.
 *
 * Addresses (12 BCD digits, protocols.md §1.3):
 *   concentrator k:       k + 1                      (000000000001 for k = 0)
 *   customer meter j of k: (k + 1) × 10^6 + j + 1     (000001000001)
 *   district meter of k:  (k + 1) × 10^6             (000001000000)
 */
#ifndef AH_SIM_FLEET_H
#define AH_SIM_FLEET_H

#include "sim_model.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_DISTRICT_IDX UINT32_MAX
/* Pseudo concentrator of the stand-alone Modbus meters (address 9000000000nn). */
#define SIM_MODBUS_CONC (UINT32_MAX - 1)

enum sim_fault_type {
    /* meter faults */
    SIM_F_STOPPED,
    SIM_F_REVERSED,  /* reversed CT polarity: negative current, reverse register grows */
    SIM_F_BACKWARDS, /* forward register runs backwards */
    SIM_F_JUMPING,
    SIM_F_CREEPING,
    SIM_F_IMBALANCE,
    SIM_F_PHASE_LOSS,
    SIM_F_CLOCK_DRIFT,
    SIM_F_THEFT,
    SIM_F_MISSING,     /* meter without power: no answers, no records, power-down event */
    SIM_F_HOLES,       /* load records lost from memory (p: share); freeze still there */
    SIM_F_DECREASE,    /* import register steps back by p kWh mid-range at `from` */
    SIM_F_ROLLOVER,    /* not a fault: the import register really wraps at `from` */
    SIM_F_LR_SINGLE,   /* firmware: refuses 06000001 with N > 1 (ERR 02), N = 1 works */
    SIM_F_LR_TRUNCATE, /* firmware: answers at most arg (default 2) load records */
    /* link faults (per concentrator) */
    SIM_F_NO_REPLY,
    SIM_F_LATE,
    SIM_F_BAD_CS,
    SIM_F_JUNK,
    SIM_F_TRUNCATED,
    SIM_F_DISCONNECT,
    SIM_F_OFFLINE,
    SIM_F_LATENCY, /* every reply min_ms..max_ms late: a 4G round trip */
    SIM_F_NTYPES
};
#define SIM_F_FIRST_LINK SIM_F_NO_REPLY

struct sim_fault {
    uint8_t type; /* enum sim_fault_type */
    uint32_t conc;
    uint32_t meter; /* meter index, SIM_DISTRICT_IDX, or UINT32_MAX - 1 for link faults */
    int64_t from, to; /* UTC seconds, [from, to) */
    double p;         /* link faults: probability per request; theft: fraction registered;
                         clock_drift: s per day; jumping: jump in kWh (secondary) */
    int32_t arg;      /* phase_loss/imbalance: phase 0..2; late: delay ms;
                         clock_drift: fixed offset s; latency: min ms;
                         lr_truncate: most records per answer */
    int32_t arg2;     /* latency: max ms */
};
#define SIM_LINK_METER (UINT32_MAX - 1)

const char *sim_fault_name(int type);
int sim_fault_parse_type(const char *s);

struct sim_conc {
    struct sim_meter district; /* index = SIM_DISTRICT_IDX */
    uint32_t loss_ppm;      /* technical loss rate of the district, ppm of its supply */
    float pv_local;         /* share of the prosumers' export used inside the district */
    int32_t link_faults[8]; /* indices into fleet faults, -1 terminated */
};

struct sim_fleet {
    uint64_t seed;
    int32_t tz_s;           /* meters' local time − UTC, s (default +8 h) */
    uint32_t nconc, per;    /* concentrators, customer meters per concentrator */
    uint32_t history_days;  /* load records kept in meter memory */
    uint32_t dlt1997_every; /* every n-th customer meter speaks 1997 (0 = none) */
    uint32_t no_dt_every;   /* every n-th customer meter lacks 0400010C (0 = none) */
    uint32_t pv_every;      /* every n-th district is a PV district (0 = none) */
    int64_t epoch_s;
    struct sim_meter *meters; /* nconc × per, owned */
    struct sim_conc *conc;    /* nconc, owned */
    struct sim_meter *mb;     /* stand-alone Modbus meters, owned */
    uint32_t nmb;
    struct sim_fault *faults; /* owned */
    size_t nfaults, capfaults;
};

struct sim_fleet_opts {
    uint64_t seed;
    uint32_t nconc, per;
    int32_t tz_s;
    uint32_t history_days;
    uint32_t dlt1997_every;
    uint32_t no_dt_every; /* every n-th customer meter answers ERR 02 to 0400010C */
    uint32_t pv_every;    /* every n-th district has 40 % prosumers (0 = none) */
    int64_t epoch_s;
    int32_t loss_ppm;      /* < 0: per district from the seed (2–6 %) */
    uint32_t modbus_count; /* stand-alone Modbus meters (3P4W, healthy) */
};

/* Build a fleet (caller owns; free with sim_fleet_free). AH_ENOMEM/AH_EINVAL. */
int sim_fleet_init(struct sim_fleet *f, const struct sim_fleet_opts *o);
void sim_fleet_free(struct sim_fleet *f);

/* Meter by concentrator and index (SIM_DISTRICT_IDX for the district). */
const struct sim_meter *sim_fleet_meter(const struct sim_fleet *f, uint32_t conc,
                                        uint32_t idx);
/* Addresses as 12 digits + NUL. */
void sim_fleet_meter_addr(uint32_t conc, uint32_t idx, char out[13]);
void sim_fleet_conc_addr(uint32_t conc, char out[13]);
/* Inverse: AH_ENOENT if the digits are no meter of this fleet. */
int sim_fleet_find(const struct sim_fleet *f, const char digits[13], uint32_t *conc,
                   uint32_t *idx);

/* Add a fault (validated: meter exists, 3P4W for imbalance…). AH_EINVAL. */
int sim_fleet_add_fault(struct sim_fleet *f, const struct sim_fault *ft);
/* The documented default mix (docs/amisim.md). */
int sim_fleet_default_faults(struct sim_fleet *f);
/* Faults from a JSON spec file; err gets a message on failure. */
int sim_fleet_load_faults(struct sim_fleet *f, const char *path, char *err, size_t cap);

/* What a meter shows at simulated time t (UTC s). */
struct sim_view {
    bool powered;         /* false: the meter is dead (no reply) */
    struct sim_regs regs; /* displayed registers (wrapped at 999999.99) */
    int32_t volt_dv[3];   /* 0.1 V */
    int32_t curr_ma[3];   /* mA, signed (negative = reverse flow) */
    int32_t p_w[4];       /* total, A, B, C; W signed */
    int32_t q_var[4];
    int32_t pf_milli[4]; /* signed like P */
    int32_t freq_chz;    /* 0.01 Hz */
    uint16_t status[7];  /* status words 1..7 (04000501..07) */
    int64_t clock_s;     /* meter clock, local wall time as UTC-like seconds */
};

void sim_fleet_view(const struct sim_fleet *f, uint32_t conc, uint32_t idx, int64_t t,
                    struct sim_view *v);
/* Registers only (no instantaneous values), displayed and true. */
void sim_fleet_regs(const struct sim_fleet *f, uint32_t conc, uint32_t idx, int64_t t,
                    struct sim_regs *shown, struct sim_regs *truth);

/* Meter clock offset (meter local clock − (t + tz)), s. */
int64_t sim_fleet_clock_offset(const struct sim_fleet *f, const struct sim_meter *m,
                               int64_t t);
/* Is there a load record for the interval ending at t (UTC, on the grid)? */
bool sim_fleet_has_record(const struct sim_fleet *f, const struct sim_meter *m, int64_t t,
                          int64_t now);

/* Events in memory at `now`, most recent first. */
struct sim_event {
    int64_t start, end; /* UTC s; end 0 = still going */
    struct sim_regs before, after;
};
enum sim_event_kind { SIM_EV_POWER_DOWN, SIM_EV_COVER_OPEN, SIM_EV_PHASE_LOSS };
/* Returns the total count; fills up to max records (most recent first). */
unsigned sim_fleet_events(const struct sim_fleet *f, const struct sim_meter *m, int kind,
                          int phase, int64_t now, struct sim_event *out, unsigned max);

/* Fault of a meter, NULL if healthy. */
const struct sim_fault *sim_fleet_meter_fault(const struct sim_fleet *f,
                                              const struct sim_meter *m);
/* Link fault of type `type` active at t on concentrator conc (NULL if none). */
const struct sim_fault *sim_fleet_link_fault(const struct sim_fleet *f, uint32_t conc,
                                             int type, int64_t t);

#endif /* AH_SIM_FLEET_H */
