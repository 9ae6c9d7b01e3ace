/*
 * vee — per-meter validation of interval reads (reference/vee.md,
 * docs/validation.md). Validation and operator Editing only: it never
 * estimates a value.
 *
 * Pure: no I/O, no clock (head-end time is an argument), no allocation, no
 * logging. One struct vee_state per meter, owned by the pipeline thread and
 * persisted with the batch (vee_state_encode / vee_state_decode), so a
 * restart resumes with exactly the same results.
 *
 * It judges struct ah_read (src/core/ah_read.h) and follows its units:
 * registers in 0.01 kWh SECONDARY, voltage 0.1 V, current 0.001 A
 * (signed), power 0.0001 kW (signed), power factor 0.001. Inventory values
 * (Un, Ib, Imax) are the meter's own ratings, i.e. secondary too.
 */
#ifndef AH_VEE_H
#define AH_VEE_H

#include "ah_read.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Flag bits of the quality bitmask (the store's record.quality). The bit
 * numbers are stored on disk and published: append only. */
enum vee_bit {
    VEE_BIT_STOPPED = 0,
    VEE_BIT_CREEPING,
    VEE_BIT_REVERSED,
    VEE_BIT_JUMPING,
    VEE_BIT_SPIKE,
    VEE_BIT_DROP,
    VEE_BIT_PHASE_IMBALANCE,
    VEE_BIT_VOLTAGE_UNBALANCE,
    VEE_BIT_PHASE_LOSS,
    VEE_BIT_CLOCK_DRIFT,
    VEE_BIT_COVER_OPEN,
    VEE_BIT_STATUS_FAULT,
    VEE_BIT_SUM_MISMATCH,
    VEE_BIT_TIME_INVALID,
    VEE_NRULES, /* fault rules are bits 0 .. VEE_NRULES-1 */
    /* information flags: a read with only these is clean */
    VEE_BIT_ROLLOVER = 24,
    VEE_BIT_METER_EXCHANGED = 25,
    VEE_BIT_BACKFILLED = 26,
    VEE_BIT_RELEASED = 27,
};

#define VEE_F(bit)              (1u << (bit))
#define VEE_F_STOPPED           VEE_F(VEE_BIT_STOPPED)
#define VEE_F_CREEPING          VEE_F(VEE_BIT_CREEPING)
#define VEE_F_REVERSED          VEE_F(VEE_BIT_REVERSED)
#define VEE_F_JUMPING           VEE_F(VEE_BIT_JUMPING)
#define VEE_F_SPIKE             VEE_F(VEE_BIT_SPIKE)
#define VEE_F_DROP              VEE_F(VEE_BIT_DROP)
#define VEE_F_PHASE_IMBALANCE   VEE_F(VEE_BIT_PHASE_IMBALANCE)
#define VEE_F_VOLTAGE_UNBALANCE VEE_F(VEE_BIT_VOLTAGE_UNBALANCE)
#define VEE_F_PHASE_LOSS        VEE_F(VEE_BIT_PHASE_LOSS)
#define VEE_F_CLOCK_DRIFT       VEE_F(VEE_BIT_CLOCK_DRIFT)
#define VEE_F_COVER_OPEN        VEE_F(VEE_BIT_COVER_OPEN)
#define VEE_F_STATUS_FAULT      VEE_F(VEE_BIT_STATUS_FAULT)
#define VEE_F_SUM_MISMATCH      VEE_F(VEE_BIT_SUM_MISMATCH)
#define VEE_F_TIME_INVALID      VEE_F(VEE_BIT_TIME_INVALID)
#define VEE_F_ROLLOVER          VEE_F(VEE_BIT_ROLLOVER)
#define VEE_F_METER_EXCHANGED   VEE_F(VEE_BIT_METER_EXCHANGED)
#define VEE_F_BACKFILLED        VEE_F(VEE_BIT_BACKFILLED)
#define VEE_F_RELEASED          VEE_F(VEE_BIT_RELEASED)
#define VEE_FAULT_MASK          ((1u << VEE_NRULES) - 1u)
#define VEE_INFO_MASK                                                                    \
    (VEE_F_ROLLOVER | VEE_F_METER_EXCHANGED | VEE_F_BACKFILLED | VEE_F_RELEASED)

/* No fault flag (vee.md "clean"). */
bool vee_is_clean(uint32_t flags);
/* Clean or released by an operator: billing may use it. */
bool vee_is_billable(uint32_t flags);
/* "STOPPED", "ROLLOVER", ...; NULL for a bit that names nothing. */
const char *vee_flag_name(unsigned bit);

/* Wiring (docs/config.md meters.csv `wiring`). */
enum vee_wiring { VEE_1P2W = 0, VEE_3P3W = 1, VEE_3P4W = 2 };

/* Register modulus of XXXXXX.XX (999999.99 kWh wraps to 0), 0.01 kWh. */
#define VEE_REG_MODULUS_DEFAULT 100000000LL

/* What the inventory says about one meter (meters.csv + schedule). */
struct vee_meter_info {
    uint8_t wiring;       /* enum vee_wiring */
    bool bidirectional;   /* PV prosumer: export is not a fault */
    uint32_t ct, pt;      /* ratios 1..10000; > 1 means transformer-operated */
    uint32_t ib_ma;       /* rated current Ib (In for CT meters), mA, > 0 */
    uint32_t imax_ma;     /* maximum current, mA, >= ib_ma */
    uint32_t un_dv;       /* nominal voltage, 0.1 V (phase; line for 3P3W), > 0 */
    uint32_t interval_s;  /* interval length, divides 86400, 60..3600 */
    int32_t tz_offset_s;  /* meter wall time - UTC (daily freeze at local midnight) */
    int64_t install_time; /* UTC s; 0 = unknown */
    int64_t reg_modulus;  /* register wraps here (0.01 kWh); 0 = default 1e8 */
};

/*
 * Thresholds (docs/config.md `validation:` key names where they exist; the
 * others are listed in docs/validation.md). Defaults: vee_thresholds_default.
 */
struct vee_thresholds {
    int stopped_intervals;           /* 4 */
    int creeping_intervals;          /* 4 */
    double imbalance_pct;            /* 20 */
    int imbalance_intervals;         /* 4 */
    double imbalance_min_load_pct;   /* 10 (% of Ib) */
    double voltage_unbalance_pct;    /* 4 */
    int voltage_unbalance_intervals; /* 4 (not in config yet) */
    double phase_loss_pct;           /* 78 (% of Un, with current >= Is) */
    double phase_loss_dead_pct;      /* 60 (% of Un, others loaded; not in config yet) */
    int clock_drift_s;               /* 300 */
    int clock_suspect_s;             /* 3600 */
    double jump_factor;              /* 1.2 */
    double spike_factor;             /* 10 (not in config yet) */
    double spike_min_kwh;            /* 1 kWh primary (not in config yet) */
    int spike_min_days;              /* 7 days of baseline (not in config yet) */
    double drop_factor;              /* 0.2 (not in config yet) */
    double drop_min_mean_kwh;        /* 5 kWh/day primary (not in config yet) */
    int drop_min_days;               /* 7 complete days in the mean (not in config yet) */
    double reverse_min_kwh;          /* 0.05 kWh per interval (not in config yet) */
    int reverse_flow_intervals;      /* 2 (not in config yet) */
    double sum_tol_kwh_per_interval; /* 0.02 (not in config yet) */
    double sum_tol_pct;              /* 0.5 (not in config yet) */
    int clear_intervals;             /* 4 (not in config yet) */
    double line_loss_min_pct;        /* -1 */
    double line_loss_max_pct;        /* 10 */
    double line_loss_swing_pct;      /* 20 */
    double line_loss_swing_floor_pct; /* 1 (not in config yet) */
    int line_loss_top_k; /* 10 (not in config yet; <= VEE_DISTRICT_TOP_MAX) */
};

struct vee_thresholds vee_thresholds_default(void);

/* AH_EINVAL when a value is outside the ranges of docs/validation.md. */
int vee_meter_info_check(const struct vee_meter_info *m);
int vee_thresholds_check(const struct vee_thresholds *t);

/* Episode transition of one rule: the caller emits one event for each. */
struct vee_transition {
    uint8_t bit;       /* enum vee_bit, < VEE_NRULES */
    bool started;      /* true: started, false: cleared */
    int64_t since;     /* end of the first interval of the episode */
    int64_t at;        /* end of the read that started / cleared it */
    int64_t value;     /* measured value that fired (per-rule unit, see docs) */
    int64_t threshold; /* threshold it was compared with (same unit) */
    int64_t aux[3];    /* more evidence (per rule, see docs/validation.md) */
};

#define VEE_MAX_TRANSITIONS (2 * VEE_NRULES)

struct vee_result {
    uint32_t flags;  /* quality bitmask */
    int64_t advance; /* forward ΔE used (0.01 kWh secondary), -1 when none */
    uint32_t span;   /* intervals the advance covers (1 = no gap) */
    unsigned ntrans;
    struct vee_transition trans[VEE_MAX_TRANSITIONS];
    /* evidence of the rules that flag this read, indexed by enum vee_bit */
    int64_t value[VEE_NRULES], threshold[VEE_NRULES];
};

/* Trailing days of the DROP mean and SPIKE baseline (vee.md: 14 days). */
#define VEE_DAYS 14
/* Time-of-day slots of the SPIKE baseline (15 min at 96 per day). */
#define VEE_SLOTS 96

/*
 * Per-meter state. Fixed size (sizeof ≤ 512, encoded VEE_STATE_LEN bytes);
 * treat as opaque, change it only through vee_*.
 */
struct vee_state {
    uint8_t have;     /* VEE_ST_* bits below */
    int64_t last_end; /* last sequenced read */
    int64_t reg_end;  /* time of the register baseline */
    int64_t fwd, rev; /* register baseline */
    uint64_t serial;
    uint32_t cover, terminal, clear;
    int32_t drift_s;          /* last meter clock - head-end clock */
    uint32_t active;          /* rules with an open episode */
    uint8_t run[VEE_NRULES];  /* consecutive reads meeting the rule */
    uint8_t calm[VEE_NRULES]; /* consecutive reads not meeting it (active) */
    int64_t ep_since[VEE_NRULES];
    uint8_t neg_run; /* consecutive reads with reverse flow */
    /* daily: the day in progress and the last closed one */
    int32_t day;      /* local day number of the day in progress */
    uint32_t day_sum; /* Σ forward ΔE, 0.01 kWh */
    uint16_t day_n;   /* intervals covered */
    uint8_t day_bits; /* VEE_DAY_* */
    int32_t pday;     /* last closed day */
    uint32_t pday_sum;
    uint16_t pday_n;
    uint8_t pday_bits;
    int64_t freeze_at, freeze_fwd;
    uint32_t hist[VEE_DAYS]; /* complete days' totals, ring */
    uint8_t hist_head, hist_n;
    uint8_t slot_days;       /* days of SPIKE baseline, saturating */
    uint8_t slot[VEE_SLOTS]; /* log-coded median tracker per slot */
    uint8_t slot_init[VEE_SLOTS / 8];
};

/* state.have bits */
#define VEE_ST_SEQ    0x01u /* last_end valid */
#define VEE_ST_FWD    0x02u /* fwd baseline valid (reg_end) */
#define VEE_ST_REV    0x04u
#define VEE_ST_SERIAL 0x08u
#define VEE_ST_COVER  0x10u
#define VEE_ST_CLEAR  0x20u
#define VEE_ST_DRIFT  0x40u
#define VEE_ST_FREEZE 0x80u
/* day_bits */
#define VEE_DAY_VALID  0x01u /* the slot holds a day */
#define VEE_DAY_BROKEN 0x02u /* a gap or exchange crosses it: not judged */
#define VEE_DAY_LOAD   0x04u /* load present in at least one interval */
#define VEE_DAY_CLOSED 0x08u

/* Encoded length of struct vee_state, format version 1. */
#define VEE_STATE_VERSION 1
#define VEE_STATE_LEN     408

/* Fresh state for a meter never seen. */
void vee_state_init(struct vee_state *s);
/* Returns VEE_STATE_LEN, or AH_EOVERFLOW when cap is too small. out: borrowed. */
int vee_state_encode(const struct vee_state *s, uint8_t *out, size_t cap);
/* AH_ENOTSUP for an unknown version, AH_EFRAME for a wrong length or a
 * value encode() never writes. *s is only meaningful on AH_OK. */
int vee_state_decode(const uint8_t *in, size_t n, struct vee_state *s);

/*
 * Validate one read (reads of one meter in increasing read->end).
 * exchanged: the inventory says a new meter was fitted (not a property of
 * the read). headend_now: head-end clock (UTC s) when the read is
 * evaluated. Reads only the fields whose AH_READ_HAS_* bit is set (the
 * registers, voltages, currents, total power, status words, meter clock,
 * cover, clear count, serial and freeze) and source; quality is ignored.
 * Fills *out (flags, advance, transitions, evidence) and advances *st.
 * Returns AH_OK; AH_EINVAL for invalid info/thresholds/read (a register
 * outside 0..modulus-1, an undefined source or presence bit, a time beyond
 * ±2^53); AH_ERANGE for a read not after the last one (duplicate or out of
 * order): *st is untouched and *out carries only the info flags. All
 * pointers borrowed.
 */
int vee_eval(const struct vee_meter_info *m, const struct vee_thresholds *t,
             struct vee_state *st, const struct ah_read *read, bool exchanged,
             int64_t headend_now, struct vee_result *out);

/* Most a healthy meter can register in one interval (0.01 kWh secondary):
 * Un × Imax × phases × Δt (vee.md JUMPING). */
int64_t vee_emax(const struct vee_meter_info *m);

/*
 * The rollover rule (docs/validation.md "Rollover"): a register that went
 * from `from` down to `to` wrapped past its modulus only when it was near
 * the top and landed near zero, "near" being the most the meter can
 * register over the span: the advance across the wrap, modulus - from +
 * to, is at most W = min(modulus / 10, jump_factor × Emax × span). Returns
 * that advance (0.01 kWh secondary) for a wrap, -1 for a decrease that is
 * no wrap (REVERSED; the energy over the span is unknown). to >= from
 * returns to - from. span: intervals between the two values, >= 1.
 */
int64_t vee_wrap_advance(const struct vee_meter_info *m, const struct vee_thresholds *t,
                         int64_t from, int64_t to, int64_t span);

#endif /* AH_VEE_H */
