/*
 * vee_int — what vee.c (the entry point, thresholds, meter info) and
 * vee_rules.c (the rules of reference/vee.md, one function each) share:
 * the evaluation context and the episode machinery. Private to
 * src/validation/; vee.h is the contract.
 */
#ifndef AH_VEE_INT_H
#define AH_VEE_INT_H

#include "vee.h"

#include <stdbool.h>
#include <stdint.h>

#define DAY_S 86400

/* One vee_eval call: its inputs, the state it updates, the result it fills,
 * and each rule's auxiliary values for the transition it may report. */
struct vee_ctx {
    const struct vee_meter_info *m;
    const struct vee_thresholds *t;
    struct vee_state *st;
    const struct ah_read *in;
    bool exchanged; /* inventory: a new meter was fitted */
    int64_t end;    /* in->end as a signed time */
    struct vee_result *out;
    int64_t aux[VEE_NRULES][3];
};

/* What the electrical rules read off one read's instantaneous values. */
struct vee_elec {
    int64_t is_ma;
    bool have_i;      /* every measured phase's current present */
    int64_t imax_abs; /* largest |I| over measured phases */
    bool load;        /* vee.md "load present" */
    int load_known;   /* 1 known, 0 not */
    bool below_is;    /* every phase |I| < Is and P ≈ 0 */
    bool neg_flow;    /* a phase current or power is negative (≤ -Is) */
    int neg_known;
    int64_t neg_value; /* most negative current (mA) or power */
};

static inline int64_t modulus(const struct vee_meter_info *m)
{
    return m->reg_modulus ? m->reg_modulus : VEE_REG_MODULUS_DEFAULT;
}

static inline int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

static inline int64_t iabs64(int64_t v)
{
    return v < 0 ? -v : v;
}

/* A read's register advances since the previous read, in register units
 * (-1: not known), and what they say about REVERSED so far. */
struct vee_adv {
    int64_t fwd, rev;
    uint32_t span; /* intervals since the previous register read, >= 1 */
    int rev_cond;  /* REVERSED verdict from the forward register (-1 none) */
    int64_t rev_val, rev_thr;
};

/* ---- episodes (vee_rules.c) ---------------------------------------------- */

/* Feed one rule's verdict on this read: cond 1 met, 0 not met, -1 not
 * judgeable; starts and ends episodes (transitions) by the rule's counts. */
void vee_rule(struct vee_ctx *c, unsigned bit, int cond, int64_t value,
              int64_t threshold);
/* A new meter: every episode of the old one ends at this read. */
void vee_close_all(struct vee_ctx *c);

/* ---- the rules (vee_rules.c), in the order vee_eval runs them ------------- */

void vee_rule_clock(struct vee_ctx *c);
void vee_rule_status(struct vee_ctx *c);
void vee_rule_cover(struct vee_ctx *c);
/* Fill e from the read's currents, voltages and powers. */
void vee_elec_eval(struct vee_ctx *c, struct vee_elec *e);
/* true when a phase is judged lost (VOLTAGE_UNBALANCE then stands aside). */
bool vee_rule_phase_loss(struct vee_ctx *c, const struct vee_elec *e);
void vee_rule_vunbal(struct vee_ctx *c, bool phase_lost);
void vee_rule_imbalance(struct vee_ctx *c, const struct vee_elec *e);
/* The advances (and a forward register that ran backwards) into a. */
void vee_advance(struct vee_ctx *c, struct vee_adv *a);
void vee_rule_reversed(struct vee_ctx *c, const struct vee_elec *e, struct vee_adv *a);
void vee_rule_jumping(struct vee_ctx *c, const struct vee_adv *a);
void vee_rule_stopped_creeping(struct vee_ctx *c, const struct vee_elec *e,
                               const struct vee_adv *a);
void vee_rule_spike(struct vee_ctx *c, int64_t adv, uint32_t span);
/* Add one interval's advance to the local day; true when DROP was judged
 * (a day closed). */
bool vee_add_to_day(struct vee_ctx *c, int64_t adv, uint32_t span, bool load);
void vee_rule_sum(struct vee_ctx *c);
/* Serial or clear count changed, or the register fell back: a new meter. */
bool vee_exchange_seen(struct vee_ctx *c);

#endif /* AH_VEE_INT_H */
