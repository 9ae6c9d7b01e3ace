/*
 * vee — meter rules of reference/vee.md on one meter's read sequence, and
 * the persisted per-meter state (see vee.h, docs/validation.md). This file:
 * the entry point vee_eval, the flags, thresholds and meter info checks;
 * the rules themselves are in vee_rules.c, state encoding in vee_state.c.
 *
 * Pure: no I/O, no clock, no allocation, no logging. Every decision depends
 * only on (info, thresholds, state, read, headend_now), so a state written
 * with the batch and read back after a restart gives the same results.
 */
#include "vee_int.h"

#include "ah_err.h"

#include <string.h>

static const char *const flag_names[32] = {
    [VEE_BIT_STOPPED] = "STOPPED",
    [VEE_BIT_CREEPING] = "CREEPING",
    [VEE_BIT_REVERSED] = "REVERSED",
    [VEE_BIT_JUMPING] = "JUMPING",
    [VEE_BIT_SPIKE] = "SPIKE",
    [VEE_BIT_DROP] = "DROP",
    [VEE_BIT_PHASE_IMBALANCE] = "PHASE_IMBALANCE",
    [VEE_BIT_VOLTAGE_UNBALANCE] = "VOLTAGE_UNBALANCE",
    [VEE_BIT_PHASE_LOSS] = "PHASE_LOSS",
    [VEE_BIT_CLOCK_DRIFT] = "CLOCK_DRIFT",
    [VEE_BIT_COVER_OPEN] = "COVER_OPEN",
    [VEE_BIT_STATUS_FAULT] = "STATUS_FAULT",
    [VEE_BIT_SUM_MISMATCH] = "SUM_MISMATCH",
    [VEE_BIT_TIME_INVALID] = "TIME_INVALID",
    [VEE_BIT_ROLLOVER] = "ROLLOVER",
    [VEE_BIT_METER_EXCHANGED] = "METER_EXCHANGED",
    [VEE_BIT_BACKFILLED] = "BACKFILLED",
    [VEE_BIT_RELEASED] = "RELEASED",
};

bool vee_is_clean(uint32_t flags)
{
    return (flags & VEE_FAULT_MASK) == 0;
}

bool vee_is_billable(uint32_t flags)
{
    return vee_is_clean(flags) || (flags & VEE_F_RELEASED) != 0;
}

const char *vee_flag_name(unsigned bit)
{
    return bit < 32 ? flag_names[bit] : NULL;
}

struct vee_thresholds vee_thresholds_default(void)
{
    struct vee_thresholds t = {
        .stopped_intervals = 4,
        .creeping_intervals = 4,
        .imbalance_pct = 20,
        .imbalance_intervals = 4,
        .imbalance_min_load_pct = 10,
        .voltage_unbalance_pct = 4,
        .voltage_unbalance_intervals = 4,
        .phase_loss_pct = 78,
        .phase_loss_dead_pct = 60,
        .clock_drift_s = 300,
        .clock_suspect_s = 3600,
        .jump_factor = 1.2,
        .spike_factor = 10,
        .spike_min_kwh = 1,
        .spike_min_days = 7,
        .drop_factor = 0.2,
        .drop_min_mean_kwh = 5,
        .drop_min_days = 7,
        .reverse_min_kwh = 0.05,
        .reverse_flow_intervals = 2,
        .sum_tol_kwh_per_interval = 0.02,
        .sum_tol_pct = 0.5,
        .clear_intervals = 4,
        .line_loss_min_pct = -1,
        .line_loss_max_pct = 10,
        .line_loss_swing_pct = 20,
        .line_loss_swing_floor_pct = 1,
        .line_loss_top_k = 10,
    };
    return t;
}

static bool in_range_i(int v, int lo, int hi)
{
    return v >= lo && v <= hi;
}

/* !(a <= v <= b) also rejects NaN. */
static bool in_range_d(double v, double lo, double hi)
{
    return v >= lo && v <= hi;
}

int vee_thresholds_check(const struct vee_thresholds *t)
{
    if (!t)
        return AH_EINVAL;
    /* counts 1..254: run counters saturate at 255 */
    if (!in_range_i(t->stopped_intervals, 1, 254) ||
        !in_range_i(t->creeping_intervals, 1, 254) ||
        !in_range_i(t->imbalance_intervals, 1, 254) ||
        !in_range_i(t->voltage_unbalance_intervals, 1, 254) ||
        !in_range_i(t->reverse_flow_intervals, 1, 254) ||
        !in_range_i(t->clear_intervals, 1, 254) ||
        !in_range_i(t->spike_min_days, 1, 254) ||
        !in_range_i(t->drop_min_days, 1, VEE_DAYS) ||
        !in_range_i(t->clock_drift_s, 1, 86400) ||
        !in_range_i(t->clock_suspect_s, t->clock_drift_s + 1, 86400 * 31) ||
        !in_range_i(t->line_loss_top_k, 0, 16))
        return AH_EINVAL;
    if (!in_range_d(t->imbalance_pct, 0, 100) ||
        !in_range_d(t->imbalance_min_load_pct, 0, 100) ||
        !in_range_d(t->voltage_unbalance_pct, 0, 100) ||
        !in_range_d(t->phase_loss_pct, 0, 100) ||
        !in_range_d(t->phase_loss_dead_pct, 0, 100) ||
        !in_range_d(t->jump_factor, 1, 100) || !in_range_d(t->spike_factor, 1, 1000) ||
        !in_range_d(t->spike_min_kwh, 0, 1e6) || !in_range_d(t->drop_factor, 0, 1) ||
        !in_range_d(t->drop_min_mean_kwh, 0, 1e7) ||
        !in_range_d(t->reverse_min_kwh, 0, 1e6) ||
        !in_range_d(t->sum_tol_kwh_per_interval, 0, 1e3) ||
        !in_range_d(t->sum_tol_pct, 0, 100) ||
        !in_range_d(t->line_loss_min_pct, -100, 100) ||
        !in_range_d(t->line_loss_max_pct, -100, 100) ||
        t->line_loss_min_pct >= t->line_loss_max_pct ||
        !in_range_d(t->line_loss_swing_pct, 0, 1000) ||
        !in_range_d(t->line_loss_swing_floor_pct, 0, 100))
        return AH_EINVAL;
    return AH_OK;
}

int vee_meter_info_check(const struct vee_meter_info *m)
{
    if (!m || m->wiring > VEE_3P4W)
        return AH_EINVAL;
    if (m->ct < 1 || m->ct > 10000 || m->pt < 1 || m->pt > 10000)
        return AH_EINVAL;
    if (m->ib_ma < 1 || m->ib_ma > 10000000 || m->imax_ma < m->ib_ma ||
        m->imax_ma > 10000000 || m->un_dv < 1 || m->un_dv > 10000)
        return AH_EINVAL;
    if (m->interval_s < 60 || m->interval_s > 3600 || DAY_S % m->interval_s != 0)
        return AH_EINVAL;
    if (m->tz_offset_s < -14 * 3600 || m->tz_offset_s > 14 * 3600)
        return AH_EINVAL;
    if (m->reg_modulus < 0 || m->reg_modulus > 1000000000000000LL ||
        (m->reg_modulus > 0 && m->reg_modulus < 100))
        return AH_EINVAL;
    return AH_OK;
}

int64_t vee_emax(const struct vee_meter_info *m)
{
    /* 3P3W: two measuring elements, each at most Uline × Imax */
    int64_t phases = m->wiring == VEE_1P2W ? 1 : m->wiring == VEE_3P3W ? 2 : 3;
    /* 0.1 V × mA × s = 1e-7 kWs = 1e-7/3600 kWh; the register unit is 0.01 kWh */
    int64_t num =
        (int64_t)m->un_dv * (int64_t)m->imax_ma * phases * (int64_t)m->interval_s;
    return (num + 360000000 - 1) / 360000000;
}

int64_t vee_wrap_advance(const struct vee_meter_info *m, const struct vee_thresholds *t,
                         int64_t from, int64_t to, int64_t span)
{
    if (to >= from)
        return to - from;
    int64_t mod = modulus(m);
    double w = t->jump_factor * (double)vee_emax(m) * (double)(span < 1 ? 1 : span);
    if (w > (double)(mod / 10))
        w = (double)(mod / 10);
    int64_t adv = mod - from + to;
    return (double)adv <= w ? adv : -1;
}

/* ---- state -------------------------------------------------------------- */

void vee_state_init(struct vee_state *s)
{
    memset(s, 0, sizeof *s);
}

/* Drop knowledge; fields without their have bit are kept 0 so that one
 * state has one encoding (vee_state_decode relies on it). */
static void forget(struct vee_state *st, unsigned bits)
{
    if (bits & VEE_ST_FWD) {
        st->fwd = 0;
        st->reg_end = 0;
    }
    if (bits & VEE_ST_REV)
        st->rev = 0;
    if (bits & VEE_ST_SERIAL)
        st->serial = 0;
    if (bits & VEE_ST_COVER) {
        st->cover = 0;
        st->terminal = 0;
    }
    if (bits & VEE_ST_CLEAR)
        st->clear = 0;
    if (bits & VEE_ST_DRIFT)
        st->drift_s = 0;
    st->have &= (uint8_t)~bits;
}

/* ---- entry point ---------------------------------------------------------- */

static int check_input(const struct vee_meter_info *m, const struct ah_read *in)
{
    int64_t mod = modulus(m);
    if (in->source > AH_READ_RELEASED || (in->present & ~AH_READ_HAS_ALL))
        return AH_EINVAL;
    if ((in->present & AH_READ_HAS_IMP_TOTAL) &&
        (in->imp_total < 0 || in->imp_total >= mod))
        return AH_EINVAL;
    if ((in->present & AH_READ_HAS_EXP_TOTAL) &&
        (in->exp_total < 0 || in->exp_total >= mod))
        return AH_EINVAL;
    if ((in->present & AH_READ_HAS_FREEZE) &&
        (in->freeze_fwd < 0 || in->freeze_fwd >= mod))
        return AH_EINVAL;
    /* keep every time computation far from int64 overflow (year ±290000) */
    const int64_t lim = (int64_t)1 << 53;
    if (in->end > (uint64_t)lim)
        return AH_EINVAL;
    if ((in->present & AH_READ_HAS_FREEZE) &&
        (in->freeze_at < -lim || in->freeze_at > lim))
        return AH_EINVAL;
    if ((in->present & AH_READ_HAS_METER_CLOCK) &&
        (in->meter_clock_ms < -lim || in->meter_clock_ms > lim ||
         in->headend_clock_ms < -lim || in->headend_clock_ms > lim))
        return AH_EINVAL;
    return AH_OK;
}

static uint32_t info_flags(const struct ah_read *in)
{
    uint32_t f = 0;
    if (in->source == AH_READ_BACKFILL)
        f |= VEE_F_BACKFILLED;
    if (in->source == AH_READ_RELEASED)
        f |= VEE_F_RELEASED;
    return f;
}

/* TIME_INVALID reasons (aux[0]) */
enum { TI_FUTURE = 1, TI_BEFORE_INSTALL = 2, TI_OFF_GRID = 3, TI_CLOCK_SUSPECT = 4 };

/* Timestamps that cannot be right are not sequenced: the register baseline
 * and the day stay where they were. true when this read is one of them. */
static bool time_invalid(struct vee_ctx *c, int64_t headend_now)
{
    const struct vee_meter_info *m = c->m;
    int64_t local = c->end + m->tz_offset_s;
    int reason = 0;
    int64_t ti_thr = 0;
    if (c->end > headend_now + c->t->clock_drift_s) {
        reason = TI_FUTURE;
        ti_thr = headend_now + c->t->clock_drift_s;
    } else if (m->install_time > 0 && c->end <= m->install_time) {
        reason = TI_BEFORE_INSTALL;
        ti_thr = m->install_time;
    } else if (local - floor_div(local, m->interval_s) * m->interval_s != 0) {
        reason = TI_OFF_GRID;
        ti_thr = m->interval_s;
    }
    if (!reason)
        return false;
    c->aux[VEE_BIT_TIME_INVALID][0] = reason;
    vee_rule(c, VEE_BIT_TIME_INVALID, 1, c->end, ti_thr);
    return true;
}

/* A new meter: new baseline, the old meter's episodes end. */
static void check_exchange(struct vee_ctx *c)
{
    struct vee_state *st = c->st;
    if (!(st->have & (VEE_ST_FWD | VEE_ST_SERIAL | VEE_ST_CLEAR)) ||
        !vee_exchange_seen(c))
        return;
    vee_close_all(c);
    c->out->flags |= VEE_F_METER_EXCHANGED;
    forget(st, VEE_ST_FWD | VEE_ST_REV | VEE_ST_COVER | VEE_ST_CLEAR | VEE_ST_DRIFT |
                   VEE_ST_SERIAL);
    if (st->day_bits & VEE_DAY_VALID)
        st->day_bits |= VEE_DAY_BROKEN;
}

/* A meter clock so far off that its timestamps cannot be trusted. */
static void rule_clock_suspect(struct vee_ctx *c)
{
    if (!(c->st->have & VEE_ST_DRIFT)) {
        vee_rule(c, VEE_BIT_TIME_INVALID, 0, 0, 0);
        return;
    }
    int64_t d = c->st->drift_s;
    int cond = iabs64(d) > c->t->clock_suspect_s;
    c->aux[VEE_BIT_TIME_INVALID][0] = cond ? TI_CLOCK_SUSPECT : 0;
    vee_rule(c, VEE_BIT_TIME_INVALID, cond, d, c->t->clock_suspect_s);
}

/* Daily accounting: only reads that carry the forward register. */
static void account_day(struct vee_ctx *c, const struct vee_adv *a,
                        const struct vee_elec *e)
{
    struct vee_state *st = c->st;
    bool drop_judged = false;
    if (c->in->present & AH_READ_HAS_IMP_TOTAL) {
        if (st->have & VEE_ST_FWD)
            drop_judged = vee_add_to_day(c, a->fwd, a->span, e->load);
        else if (st->day_bits & VEE_DAY_VALID)
            st->day_bits |= VEE_DAY_BROKEN; /* first read or new meter */
    }
    if (!drop_judged)
        vee_rule(c, VEE_BIT_DROP, -1, 0, 0);
}

/* The registers, serial and clear count this read leaves for the next. */
static void keep_baseline(const struct vee_ctx *c)
{
    struct vee_state *st = c->st;
    const struct ah_read *in = c->in;
    if (in->present & AH_READ_HAS_IMP_TOTAL) {
        st->fwd = in->imp_total;
        st->reg_end = c->end;
        st->have |= VEE_ST_FWD;
        if (in->present & AH_READ_HAS_EXP_TOTAL) {
            st->rev = in->exp_total;
            st->have |= VEE_ST_REV;
        } else {
            forget(st, VEE_ST_REV);
        }
    }
    if (in->present & AH_READ_HAS_SERIAL) {
        st->serial = in->serial;
        st->have |= VEE_ST_SERIAL;
    }
    if (in->present & AH_READ_HAS_CLEAR_COUNT) {
        st->clear = in->clear_count;
        st->have |= VEE_ST_CLEAR;
    }
    st->last_end = c->end;
    st->have |= VEE_ST_SEQ;
}

int vee_eval(const struct vee_meter_info *m, const struct vee_thresholds *t,
             struct vee_state *st, const struct ah_read *in, bool exchanged,
             int64_t headend_now, struct vee_result *out)
{
    if (!m || !t || !st || !in || !out)
        return AH_EINVAL;
    memset(out, 0, sizeof *out);
    out->advance = -1;
    if (vee_meter_info_check(m) || vee_thresholds_check(t) || check_input(m, in))
        return AH_EINVAL;
    if (headend_now < -((int64_t)1 << 53) || headend_now > ((int64_t)1 << 53))
        return AH_EINVAL;
    out->flags = info_flags(in);
    int64_t end = (int64_t)in->end; /* <= 2^53: check_input */
    if ((st->have & VEE_ST_SEQ) && end <= st->last_end)
        return AH_ERANGE;

    struct vee_ctx c = {.m = m,
                        .t = t,
                        .st = st,
                        .in = in,
                        .exchanged = exchanged,
                        .end = end,
                        .out = out};
    if (time_invalid(&c, headend_now))
        return AH_OK;
    check_exchange(&c);

    vee_rule_clock(&c);
    rule_clock_suspect(&c);
    vee_rule_status(&c);
    vee_rule_cover(&c);

    struct vee_elec e;
    vee_elec_eval(&c, &e);
    bool lost = vee_rule_phase_loss(&c, &e);
    vee_rule_vunbal(&c, lost);
    vee_rule_imbalance(&c, &e);

    struct vee_adv a;
    vee_advance(&c, &a);
    out->advance = a.fwd;
    out->span = a.span;
    vee_rule_reversed(&c, &e, &a);
    vee_rule_jumping(&c, &a);
    vee_rule_stopped_creeping(&c, &e, &a);
    vee_rule_spike(&c, a.fwd, a.span);
    account_day(&c, &a, &e);
    vee_rule_sum(&c);

    keep_baseline(&c);
    return AH_OK;
}
