/*
 * vee — meter rules of reference/vee.md on one meter's read sequence, and
 * the persisted per-meter state (see vee.h, docs/validation.md).
 *
 * Pure: no I/O, no clock, no allocation, no logging. Every decision depends
 * only on (info, thresholds, state, read, headend_now), so a state written
 * with the batch and read back after a restart gives the same results.
 */
#include "vee.h"

#include "ah_err.h"

#include <string.h>

#define DAY_S 86400

/* Status words, protocols.md §2.7 (DL/T 645-2007 Appendix C). */
#define SW1_CLOCK_BATT   (1u << 2)
#define SW1_READ_BATT    (1u << 3)
#define SW1_P_REVERSE    (1u << 4)
#define SWP_LOSS_V       (1u << 0) /* SW4..6 D0 失压 */
#define SWP_OVER_V       (1u << 2)
#define SWP_LOSS_I       (1u << 3)
#define SWP_OVER_I       (1u << 4)
#define SWP_REVERSE      (1u << 6) /* D6 潮流反向 */
#define SWP_PHASE_FAIL   (1u << 7) /* D7 断相 */
#define SWP_BREAK_I      (1u << 8) /* D8 断流 */
#define SW7_V_IMBALANCE  (1u << 2)
#define SW7_I_IMBALANCE  (1u << 3)
#define SW7_SEVERE_IMBAL (1u << 8)
#define SWP_FAULTS                                                                       \
    (SWP_LOSS_V | SWP_OVER_V | SWP_LOSS_I | SWP_OVER_I | SWP_REVERSE | SWP_PHASE_FAIL |  \
     SWP_BREAK_I)
#define SW7_FAULTS (SW7_V_IMBALANCE | SW7_I_IMBALANCE | SW7_SEVERE_IMBAL)

/* Log-coded SPIKE baseline: the median tracker moves 2 codes (1/4 octave)
 * per same-slot sample, so a 10x level change is followed in ~13 days —
 * about the 14-day window of vee.md. */
#define SLOT_STEP 2

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

static int64_t modulus(const struct vee_meter_info *m)
{
    return m->reg_modulus ? m->reg_modulus : VEE_REG_MODULUS_DEFAULT;
}

/* Phases a meter of this wiring measures: 3P3W reports B as 0 by design
 * (protocols.md §2.2), single-phase meters only A. */
static unsigned phase_mask(const struct vee_meter_info *m)
{
    switch (m->wiring) {
    case VEE_1P2W:
        return 1u;
    case VEE_3P3W:
        return 1u | 4u;
    default:
        return 7u;
    }
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

/* Starting current Is in mA (vee.md Definitions): 0.4 % Ib direct, 0.2 % In
 * transformer-operated; never below 1 mA, the current resolution. */
static int64_t start_current_ma(const struct vee_meter_info *m)
{
    bool cto = m->ct > 1 || m->pt > 1;
    int64_t is =
        cto ? ((int64_t)m->ib_ma * 2 + 999) / 1000 : ((int64_t)m->ib_ma * 4 + 999) / 1000;
    return is < 1 ? 1 : is;
}

/* Power (0.0001 kW = 0.1 W) one phase draws at current ma and Un. */
static int64_t power_at(const struct vee_meter_info *m, int64_t ma)
{
    return (int64_t)m->un_dv * ma / 1000;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

/* Local day an interval belongs to: the one ending at its end (an interval
 * ending at local midnight closes the day before). */
static int32_t day_of(const struct vee_meter_info *m, int64_t end)
{
    return (int32_t)floor_div(end + m->tz_offset_s - 1, DAY_S);
}

static bool is_day_end(const struct vee_meter_info *m, int64_t end)
{
    return floor_div(end + m->tz_offset_s, DAY_S) * DAY_S == end + m->tz_offset_s;
}

/* 0.01 kWh secondary for a primary kWh amount. */
static double kwh_primary_to_units(const struct vee_meter_info *m, double kwh)
{
    return kwh * 100.0 / ((double)m->ct * (double)m->pt);
}

static int64_t iabs64(int64_t v)
{
    return v < 0 ? -v : v;
}

/* ---- SPIKE baseline: logarithmic code of a non-negative advance ---------- */

/* 0 for 0; else 1 + 8·floor(log2 x) + the next 3 bits of x (≤ 12.5 % error). */
static uint8_t log_code(int64_t x)
{
    if (x <= 0)
        return 0;
    if (x >= ((int64_t)1 << 31))
        return 255;
    unsigned e = 0;
    while (((uint64_t)x >> (e + 1)) != 0)
        e++;
    uint64_t frac =
        e >= 3 ? ((uint64_t)x >> (e - 3)) & 7u : ((uint64_t)x << (3 - e)) & 7u;
    return (uint8_t)(1u + 8u * e + (unsigned)frac);
}

static int64_t log_decode(uint8_t c)
{
    if (c == 0)
        return 0;
    if (c == 255)
        return (int64_t)1 << 31;
    unsigned v = (unsigned)c - 1u, e = v / 8u, f = v % 8u;
    uint64_t m = 8u + f;
    return (int64_t)(e >= 3 ? m << (e - 3) : m >> (3 - e));
}

static unsigned slot_of(const struct vee_meter_info *m, int64_t end)
{
    /* the interval's start, local time of day */
    int64_t tod = end - (int64_t)m->interval_s + m->tz_offset_s;
    tod -= floor_div(tod, DAY_S) * DAY_S;
    return (unsigned)(tod * VEE_SLOTS / DAY_S);
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

/* ---- episodes ----------------------------------------------------------- */

struct ctx {
    const struct vee_meter_info *m;
    const struct vee_thresholds *t;
    struct vee_state *st;
    const struct vee_input *in;
    struct vee_result *out;
    int64_t aux[VEE_NRULES][3];
};

/* Per-rule counts: reads needed to start, reads without it needed to clear. */
static int need_of(const struct vee_thresholds *t, unsigned bit)
{
    switch (bit) {
    case VEE_BIT_STOPPED:
        return t->stopped_intervals;
    case VEE_BIT_CREEPING:
        return t->creeping_intervals;
    case VEE_BIT_PHASE_IMBALANCE:
        return t->imbalance_intervals;
    case VEE_BIT_VOLTAGE_UNBALANCE:
        return t->voltage_unbalance_intervals;
    default:
        return 1;
    }
}

/* One-off findings (a jump, a spike, a day, a cover opening, a bad
 * timestamp, a clock reading that is itself the evidence) clear at the next
 * read without them; conditions that can flicker near their threshold need
 * clear_intervals calm reads so that one episode gives one event. */
static int clear_of(const struct vee_thresholds *t, unsigned bit)
{
    switch (bit) {
    case VEE_BIT_STOPPED:
    case VEE_BIT_CREEPING:
    case VEE_BIT_REVERSED:
    case VEE_BIT_PHASE_IMBALANCE:
    case VEE_BIT_VOLTAGE_UNBALANCE:
    case VEE_BIT_PHASE_LOSS:
    case VEE_BIT_STATUS_FAULT:
        return t->clear_intervals;
    default:
        return 1;
    }
}

static void push_trans(struct ctx *c, unsigned bit, bool started, int64_t since,
                       int64_t value, int64_t threshold)
{
    struct vee_result *o = c->out;
    if (o->ntrans >= VEE_MAX_TRANSITIONS)
        return; /* cannot happen: each rule moves at most twice per read */
    struct vee_transition *tr = &o->trans[o->ntrans++];
    tr->bit = (uint8_t)bit;
    tr->started = started;
    tr->since = since;
    tr->at = c->in->end;
    tr->value = value;
    tr->threshold = threshold;
    memcpy(tr->aux, c->aux[bit], sizeof tr->aux);
}

/*
 * Feed one rule's verdict on this read: cond 1 met, 0 not met, -1 not
 * judgeable (data missing or outside the rule's domain), which breaks a run
 * but does not count towards clearing.
 */
static void rule(struct ctx *c, unsigned bit, int cond, int64_t value, int64_t threshold)
{
    struct vee_state *st = c->st;
    uint32_t f = VEE_F(bit);
    if (cond > 0) {
        if (st->run[bit] < 255)
            st->run[bit]++;
        st->calm[bit] = 0;
        if (st->active & f) {
            c->out->flags |= f;
        } else if (st->run[bit] >= need_of(c->t, bit)) {
            int64_t since = c->in->end - (int64_t)(st->run[bit] - 1) * c->m->interval_s;
            st->active |= f;
            st->ep_since[bit] = since;
            c->out->flags |= f;
            push_trans(c, bit, true, since, value, threshold);
        }
        if (c->out->flags & f) {
            c->out->value[bit] = value;
            c->out->threshold[bit] = threshold;
        }
    } else if (cond == 0) {
        st->run[bit] = 0;
        if (st->active & f) {
            if (st->calm[bit] < 255)
                st->calm[bit]++;
            if (st->calm[bit] >= clear_of(c->t, bit)) {
                st->active &= ~f;
                st->calm[bit] = 0;
                push_trans(c, bit, false, st->ep_since[bit], value, threshold);
                st->ep_since[bit] = 0;
            }
        }
    } else {
        st->run[bit] = 0;
    }
}

/* A new meter: the old one's episodes end here. */
static void close_all(struct ctx *c)
{
    struct vee_state *st = c->st;
    for (unsigned b = 0; b < VEE_NRULES; b++) {
        if (st->active & VEE_F(b)) {
            memset(c->aux[b], 0, sizeof c->aux[b]);
            push_trans(c, b, false, st->ep_since[b], 0, 0);
        }
        st->run[b] = 0;
        st->calm[b] = 0;
        st->ep_since[b] = 0;
    }
    st->active = 0;
    st->neg_run = 0;
}

/* ---- per-read rules without sequence ------------------------------------ */

static void rule_clock(struct ctx *c)
{
    const struct vee_input *in = c->in;
    struct vee_state *st = c->st;
    if (in->present & VEE_HAS_CLOCK) {
        int64_t d = floor_div(in->meter_clock_ms - in->headend_clock_ms, 1000);
        if (d > INT32_MAX)
            d = INT32_MAX;
        if (d < -INT32_MAX)
            d = -INT32_MAX;
        st->drift_s = (int32_t)d;
        st->have |= VEE_ST_DRIFT;
        c->aux[VEE_BIT_CLOCK_DRIFT][0] = in->meter_clock_ms;
        c->aux[VEE_BIT_CLOCK_DRIFT][1] = in->headend_clock_ms;
    }
    if (!(st->have & VEE_ST_DRIFT)) {
        rule(c, VEE_BIT_CLOCK_DRIFT, -1, 0, 0);
        return;
    }
    /* between clock reads the last reading stands: the meter's interval
     * stamps are made by that clock */
    int64_t drift = st->drift_s;
    rule(c, VEE_BIT_CLOCK_DRIFT, iabs64(drift) > c->t->clock_drift_s, drift,
         c->t->clock_drift_s);
}

static void rule_status(struct ctx *c)
{
    const struct vee_input *in = c->in;
    if (!(in->present & VEE_HAS_STATUS)) {
        rule(c, VEE_BIT_STATUS_FAULT, -1, 0, 0);
        return;
    }
    unsigned pm = phase_mask(c->m);
    /* a prosumer's export is reverse power flow by design */
    uint32_t pmask = SWP_FAULTS & (c->m->bidirectional ? ~SWP_REVERSE : ~0u);
    int word = 0;
    uint32_t bits = 0, mask = 0;
    if (in->status[0] & (SW1_CLOCK_BATT | SW1_READ_BATT)) {
        word = 1;
        mask = SW1_CLOCK_BATT | SW1_READ_BATT;
        bits = in->status[0];
    }
    for (unsigned ph = 0; ph < 3 && !word; ph++) {
        if ((pm & (1u << ph)) && (in->status[3 + ph] & pmask)) {
            word = 4 + (int)ph;
            mask = pmask;
            bits = in->status[3 + ph];
        }
    }
    if (!word && (in->status[6] & SW7_FAULTS)) {
        word = 7;
        mask = SW7_FAULTS;
        bits = in->status[6];
    }
    c->aux[VEE_BIT_STATUS_FAULT][0] = bits;
    c->aux[VEE_BIT_STATUS_FAULT][1] = mask;
    rule(c, VEE_BIT_STATUS_FAULT, word != 0, word, 0);
}

static void rule_cover(struct ctx *c)
{
    const struct vee_input *in = c->in;
    struct vee_state *st = c->st;
    if (!(in->present & VEE_HAS_COVER)) {
        rule(c, VEE_BIT_COVER_OPEN, -1, 0, 0);
        return;
    }
    int cond = -1;
    if (st->have & VEE_ST_COVER) {
        /* a counter that went down was cleared with the meter: rebaseline */
        cond = in->cover_count > st->cover || in->terminal_count > st->terminal;
        c->aux[VEE_BIT_COVER_OPEN][0] = in->terminal_count;
        c->aux[VEE_BIT_COVER_OPEN][1] = st->terminal;
    }
    int64_t old = st->cover;
    st->cover = in->cover_count;
    st->terminal = in->terminal_count;
    st->have |= VEE_ST_COVER;
    rule(c, VEE_BIT_COVER_OPEN, cond, in->cover_count, old);
}

/* ---- electrical rules (instantaneous values) ----------------------------- */

struct elec {
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

static void elec_eval(struct ctx *c, struct elec *e)
{
    const struct vee_input *in = c->in;
    unsigned pm = phase_mask(c->m);
    memset(e, 0, sizeof *e);
    e->is_ma = start_current_ma(c->m);
    e->have_i = true;
    int64_t pis = power_at(c->m, e->is_ma);
    for (unsigned ph = 0; ph < 3; ph++) {
        if (!(pm & (1u << ph)))
            continue;
        if (!(in->present & VEE_HAS_CURRENT(ph))) {
            e->have_i = false;
            continue;
        }
        int64_t i = in->current[ph];
        if (iabs64(i) > e->imax_abs)
            e->imax_abs = iabs64(i);
        if (i <= -e->is_ma) {
            e->neg_flow = true;
            if (i < e->neg_value)
                e->neg_value = i;
        }
        e->neg_known = 1;
    }
    bool have_p = (in->present & VEE_HAS_P) != 0;
    int64_t p = in->p_total;
    if (e->imax_abs >= 2 * e->is_ma || (have_p && iabs64(p) >= 2 * pis)) {
        e->load = true;
        e->load_known = 1;
    } else if (e->have_i || have_p) {
        e->load_known = 1;
    }
    e->below_is = e->have_i && e->imax_abs < e->is_ma && (!have_p || iabs64(p) < pis);
    if (have_p) {
        e->neg_known = 1;
        if (p <= -pis) {
            e->neg_flow = true;
            if (!e->neg_value)
                e->neg_value = p;
        }
    }
    if (in->present & VEE_HAS_STATUS) {
        unsigned sw2 = in->status[1];
        e->neg_known = 1;
        if ((in->status[0] & SW1_P_REVERSE) || (sw2 & pm & 7u))
            e->neg_flow = true;
    }
}

static void rule_imbalance(struct ctx *c, const struct elec *e)
{
    const struct vee_input *in = c->in;
    int64_t *aux = c->aux[VEE_BIT_PHASE_IMBALANCE];
    /* 3P4W only: 1P2W has one phase, 3P3W has no B current by design */
    if (c->m->wiring != VEE_3P4W || !e->have_i) {
        rule(c, VEE_BIT_PHASE_IMBALANCE, -1, 0, 0);
        return;
    }
    int64_t hi = 0, lo = INT64_MAX;
    for (unsigned ph = 0; ph < 3; ph++) {
        int64_t a = iabs64(in->current[ph]);
        aux[ph] = a;
        if (a > hi)
            hi = a;
        if (a < lo)
            lo = a;
    }
    double minload = c->t->imbalance_min_load_pct / 100.0 * (double)c->m->ib_ma;
    if (hi == 0 || (double)hi < minload) {
        rule(c, VEE_BIT_PHASE_IMBALANCE, -1, 0, 0);
        return;
    }
    double pct = (double)(hi - lo) * 100.0 / (double)hi;
    rule(c, VEE_BIT_PHASE_IMBALANCE, pct > c->t->imbalance_pct, (int64_t)(pct * 10.0),
         (int64_t)(c->t->imbalance_pct * 10.0));
}

static bool all_voltages(const struct ctx *c)
{
    unsigned pm = phase_mask(c->m);
    for (unsigned ph = 0; ph < 3; ph++)
        if ((pm & (1u << ph)) && !(c->in->present & VEE_HAS_VOLTAGE(ph)))
            return false;
    return true;
}

/* Phase loss first: a lost phase is diagnosed as such, not as unbalance. */
static bool rule_phase_loss(struct ctx *c, const struct elec *e)
{
    const struct vee_input *in = c->in;
    const struct vee_meter_info *m = c->m;
    unsigned pm = phase_mask(m);
    double un = (double)m->un_dv;
    int cond = -1;
    int64_t value = 0, thr = 0;
    int64_t *aux = c->aux[VEE_BIT_PHASE_LOSS];
    for (unsigned ph = 0; ph < 3 && cond <= 0; ph++) {
        if (!(pm & (1u << ph)))
            continue;
        bool hv = (in->present & VEE_HAS_VOLTAGE(ph)) != 0;
        bool hi = (in->present & VEE_HAS_CURRENT(ph)) != 0;
        bool others_loaded = false;
        for (unsigned o = 0; o < 3; o++)
            if (o != ph && (pm & (1u << o)) && (in->present & VEE_HAS_CURRENT(o)) &&
                iabs64(in->current[o]) >= 2 * e->is_ma)
                others_loaded = true;
        int64_t i = hi ? iabs64(in->current[ph]) : 0;
        if (hv) {
            double v = (double)in->voltage[ph];
            bool lost = (hi && i >= e->is_ma && v < c->t->phase_loss_pct / 100.0 * un) ||
                        (others_loaded && v < c->t->phase_loss_dead_pct / 100.0 * un);
            bool low = v < c->t->phase_loss_pct / 100.0 * un;
            if (!lost && low) {
                /* no voltage but no current either: nothing is mis-registered
                 * now; the episode neither starts nor clears */
                continue;
            }
            if (lost) {
                cond = 1;
                value = in->voltage[ph];
                thr = (int64_t)((hi && i >= e->is_ma ? c->t->phase_loss_pct
                                                     : c->t->phase_loss_dead_pct) /
                                100.0 * un);
            } else {
                cond = 0;
            }
        } else if (in->present & VEE_HAS_STATUS) {
            /* no voltage read: the meter's own 失压 / 断相 bits decide */
            bool lost = (in->status[3 + ph] & (SWP_LOSS_V | SWP_PHASE_FAIL)) != 0;
            cond = lost ? 1 : (cond < 0 ? 0 : cond);
            if (lost) {
                value = -1;
                thr = 0;
            }
        }
        if (cond > 0) {
            aux[0] = (int64_t)ph + 1;
            aux[1] = i;
            aux[2] = (in->present & VEE_HAS_STATUS) ? in->status[3 + ph] : -1;
        }
    }
    rule(c, VEE_BIT_PHASE_LOSS, cond, value, thr);
    return cond > 0;
}

static void rule_vunbal(struct ctx *c, bool phase_lost)
{
    const struct vee_input *in = c->in;
    unsigned pm = phase_mask(c->m);
    if (c->m->wiring == VEE_1P2W || phase_lost || !all_voltages(c)) {
        rule(c, VEE_BIT_VOLTAGE_UNBALANCE, -1, 0, 0);
        return;
    }
    int64_t sum = 0, n = 0;
    int64_t *aux = c->aux[VEE_BIT_VOLTAGE_UNBALANCE];
    for (unsigned ph = 0; ph < 3; ph++) {
        aux[ph] = in->voltage[ph];
        if (pm & (1u << ph)) {
            sum += in->voltage[ph];
            n++;
        }
    }
    if (sum <= 0) {
        rule(c, VEE_BIT_VOLTAGE_UNBALANCE, -1, 0, 0);
        return;
    }
    double mean = (double)sum / (double)n, dev = 0;
    for (unsigned ph = 0; ph < 3; ph++) {
        if (!(pm & (1u << ph)))
            continue;
        double d = (double)in->voltage[ph] - mean;
        if (d < 0)
            d = -d;
        if (d > dev)
            dev = d;
    }
    double pct = dev * 100.0 / mean;
    rule(c, VEE_BIT_VOLTAGE_UNBALANCE, pct > c->t->voltage_unbalance_pct,
         (int64_t)(pct * 10.0), (int64_t)(c->t->voltage_unbalance_pct * 10.0));
}

/* ---- register rules ----------------------------------------------------- */

/* Close the day in progress: DROP is judged once, on complete days only. */
static void close_day(struct ctx *c, bool judge_here)
{
    struct vee_state *st = c->st;
    const struct vee_thresholds *t = c->t;
    const struct vee_meter_info *m = c->m;
    if (!(st->day_bits & VEE_DAY_VALID) || (st->day_bits & VEE_DAY_CLOSED))
        return;
    st->day_bits |= VEE_DAY_CLOSED;
    uint16_t per_day = (uint16_t)(DAY_S / m->interval_s);
    bool complete = !(st->day_bits & VEE_DAY_BROKEN) && st->day_n == per_day;
    int cond = -1;
    int64_t value = st->day_sum, thr = 0;
    if (complete) {
        if (st->hist_n >= t->drop_min_days) {
            uint64_t s = 0;
            for (unsigned i = 0; i < st->hist_n; i++)
                s += st->hist[i];
            double mean = (double)s / (double)st->hist_n;
            double min_mean = kwh_primary_to_units(m, t->drop_min_mean_kwh);
            double lim = t->drop_factor * mean;
            c->aux[VEE_BIT_DROP][0] = (int64_t)mean;
            c->aux[VEE_BIT_DROP][1] = st->day;
            thr = (int64_t)lim;
            if (mean > min_mean && (st->day_bits & VEE_DAY_LOAD))
                cond = (double)st->day_sum < lim;
            else
                cond = 0;
        }
        st->hist[st->hist_head] = st->day_sum;
        st->hist_head = (uint8_t)((st->hist_head + 1) % VEE_DAYS);
        if (st->hist_n < VEE_DAYS)
            st->hist_n++;
        if (st->slot_days < 255)
            st->slot_days++;
    }
    if (judge_here)
        rule(c, VEE_BIT_DROP, cond, value, thr);
    st->pday = st->day;
    st->pday_sum = st->day_sum;
    st->pday_n = st->day_n;
    st->pday_bits = st->day_bits;
}

/* Account the forward advance of this read to its day. */
static bool add_to_day(struct ctx *c, int64_t adv, uint32_t span, bool load)
{
    struct vee_state *st = c->st;
    const struct vee_meter_info *m = c->m;
    int64_t end = c->in->end;
    int32_t d = day_of(m, end);
    int32_t first = day_of(m, end - (int64_t)(span - 1) * m->interval_s);
    bool drop_judged = false;
    if ((st->day_bits & VEE_DAY_VALID) && d != st->day) {
        /* the day's last interval never came: close it incomplete */
        st->day_bits |= VEE_DAY_BROKEN;
        close_day(c, false);
    }
    if (!(st->day_bits & VEE_DAY_VALID) || d != st->day) {
        st->day = d;
        st->day_sum = 0;
        st->day_n = 0;
        st->day_bits = VEE_DAY_VALID;
    }
    if (first != d || adv < 0)
        st->day_bits |= VEE_DAY_BROKEN;
    if (adv >= 0) {
        uint64_t s = (uint64_t)st->day_sum + (uint64_t)adv;
        st->day_sum = s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
        uint32_t n = st->day_n + span;
        st->day_n = n > UINT16_MAX ? UINT16_MAX : (uint16_t)n;
    }
    if (load)
        st->day_bits |= VEE_DAY_LOAD;
    if (is_day_end(m, end)) {
        close_day(c, true);
        drop_judged = true;
    }
    return drop_judged;
}

static void rule_spike(struct ctx *c, int64_t adv, uint32_t span)
{
    struct vee_state *st = c->st;
    const struct vee_meter_info *m = c->m;
    if (adv < 0 || span != 1) {
        /* a span over a gap has no time of day to compare with */
        rule(c, VEE_BIT_SPIKE, -1, 0, 0);
        return;
    }
    unsigned s = slot_of(m, c->in->end);
    uint8_t bit = (uint8_t)(1u << (s % 8));
    int cond = -1;
    int64_t thr = 0;
    if ((st->slot_init[s / 8] & bit) && st->slot_days >= c->t->spike_min_days) {
        int64_t med = log_decode(st->slot[s]);
        double lim = c->t->spike_factor * (double)med;
        double abs_min = kwh_primary_to_units(m, c->t->spike_min_kwh);
        thr = (int64_t)(lim > abs_min ? lim : abs_min);
        c->aux[VEE_BIT_SPIKE][0] = med;
        cond = (double)adv > lim && (double)adv > abs_min;
    }
    rule(c, VEE_BIT_SPIKE, cond, adv, thr);
    /* then learn from it (a spike moves the tracker one step only) */
    uint8_t code = log_code(adv);
    if (!(st->slot_init[s / 8] & bit)) {
        st->slot[s] = code;
        st->slot_init[s / 8] |= bit;
    } else if (code > st->slot[s]) {
        int v = st->slot[s] + SLOT_STEP;
        st->slot[s] = (uint8_t)(v > code ? code : v);
    } else if (code < st->slot[s]) {
        int v = st->slot[s] - SLOT_STEP;
        st->slot[s] = (uint8_t)(v < code ? code : v);
    }
}

/* Daily freeze vs Σ interval advances of the day it closes. */
static void rule_sum(struct ctx *c)
{
    const struct vee_input *in = c->in;
    struct vee_state *st = c->st;
    const struct vee_meter_info *m = c->m;
    if (!(in->present & VEE_HAS_FREEZE)) {
        rule(c, VEE_BIT_SUM_MISMATCH, -1, 0, 0);
        return;
    }
    int cond = -1;
    int64_t value = 0, thr = 0;
    int64_t mod = modulus(m);
    if ((st->have & VEE_ST_FREEZE) && in->freeze_at - st->freeze_at == DAY_S) {
        int32_t d = day_of(m, in->freeze_at);
        int64_t diff =
            vee_wrap_advance(m, c->t, st->freeze_fwd, in->freeze_fwd, DAY_S / m->interval_s);
        const uint8_t want = VEE_DAY_VALID | VEE_DAY_CLOSED;
        uint16_t per_day = (uint16_t)(DAY_S / m->interval_s);
        uint32_t sum = 0;
        bool ok = false;
        if (st->pday == d && (st->pday_bits & (want | VEE_DAY_BROKEN)) == want &&
            st->pday_n == per_day) {
            sum = st->pday_sum;
            ok = true;
        } else if (st->day == d && (st->day_bits & (want | VEE_DAY_BROKEN)) == want &&
                   st->day_n == per_day) {
            sum = st->day_sum;
            ok = true;
        }
        if (ok && diff >= 0) {
            double tol = c->t->sum_tol_kwh_per_interval * 100.0 * per_day +
                         c->t->sum_tol_pct / 100.0 * (double)diff;
            value = sum;
            thr = (int64_t)tol;
            c->aux[VEE_BIT_SUM_MISMATCH][0] = diff;
            c->aux[VEE_BIT_SUM_MISMATCH][1] = per_day;
            cond = (double)iabs64((int64_t)sum - diff) > tol;
        }
    }
    if (in->freeze_fwd >= 0 && in->freeze_fwd < mod &&
        (!(st->have & VEE_ST_FREEZE) || in->freeze_at > st->freeze_at)) {
        st->freeze_at = in->freeze_at;
        st->freeze_fwd = in->freeze_fwd;
        st->have |= VEE_ST_FREEZE;
    }
    rule(c, VEE_BIT_SUM_MISMATCH, cond, value, thr);
}

/* Identity or meter-clear evidence of a new meter (vee.md METER_EXCHANGED). */
static bool exchange_seen(struct ctx *c)
{
    const struct vee_input *in = c->in;
    const struct vee_state *st = c->st;
    int64_t mod = modulus(c->m);
    if (in->exchanged)
        return true;
    if ((in->present & VEE_HAS_SERIAL) && (st->have & VEE_ST_SERIAL) &&
        in->serial != st->serial)
        return true;
    /* register restarted near zero together with a meter-clear event */
    if ((in->present & VEE_HAS_FWD) && (st->have & VEE_ST_FWD) && in->fwd < st->fwd &&
        in->fwd < mod / 10 && (in->present & VEE_HAS_CLEAR_COUNT) &&
        (st->have & VEE_ST_CLEAR) && in->clear_count != st->clear)
        return true;
    return false;
}

/* ---- entry point ---------------------------------------------------------- */

static int check_input(const struct vee_meter_info *m, const struct vee_input *in)
{
    int64_t mod = modulus(m);
    if (in->source > VEE_SRC_RELEASED || (in->present & ~VEE_HAS_ALL))
        return AH_EINVAL;
    if ((in->present & VEE_HAS_FWD) && (in->fwd < 0 || in->fwd >= mod))
        return AH_EINVAL;
    if ((in->present & VEE_HAS_REV) && (in->rev < 0 || in->rev >= mod))
        return AH_EINVAL;
    if ((in->present & VEE_HAS_FREEZE) && (in->freeze_fwd < 0 || in->freeze_fwd >= mod))
        return AH_EINVAL;
    /* keep every time computation far from int64 overflow (year ±290000) */
    const int64_t lim = (int64_t)1 << 53;
    if (in->end < -lim || in->end > lim || in->freeze_at < -lim || in->freeze_at > lim)
        return AH_EINVAL;
    if ((in->present & VEE_HAS_CLOCK) &&
        (in->meter_clock_ms < -lim || in->meter_clock_ms > lim ||
         in->headend_clock_ms < -lim || in->headend_clock_ms > lim))
        return AH_EINVAL;
    return AH_OK;
}

static uint32_t info_flags(const struct vee_input *in)
{
    uint32_t f = 0;
    if (in->source == VEE_SRC_BACKFILL)
        f |= VEE_F_BACKFILLED;
    if (in->source == VEE_SRC_RELEASED)
        f |= VEE_F_RELEASED;
    return f;
}

/* TIME_INVALID reasons (aux[0]) */
enum { TI_FUTURE = 1, TI_BEFORE_INSTALL = 2, TI_OFF_GRID = 3, TI_CLOCK_SUSPECT = 4 };

int vee_eval(const struct vee_meter_info *m, const struct vee_thresholds *t,
             struct vee_state *st, const struct vee_input *in, int64_t headend_now,
             struct vee_result *out)
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
    if ((st->have & VEE_ST_SEQ) && in->end <= st->last_end)
        return AH_ERANGE;

    struct ctx c = {.m = m, .t = t, .st = st, .in = in, .out = out};

    /* Timestamps that cannot be right are not sequenced: the register
     * baseline and the day stay where they were. */
    int64_t local = in->end + m->tz_offset_s;
    int reason = 0;
    int64_t ti_thr = 0;
    if (in->end > headend_now + t->clock_drift_s) {
        reason = TI_FUTURE;
        ti_thr = headend_now + t->clock_drift_s;
    } else if (m->install_time > 0 && in->end <= m->install_time) {
        reason = TI_BEFORE_INSTALL;
        ti_thr = m->install_time;
    } else if (local - floor_div(local, m->interval_s) * m->interval_s != 0) {
        reason = TI_OFF_GRID;
        ti_thr = m->interval_s;
    }
    if (reason) {
        c.aux[VEE_BIT_TIME_INVALID][0] = reason;
        rule(&c, VEE_BIT_TIME_INVALID, 1, in->end, ti_thr);
        return AH_OK;
    }

    /* a new meter: new baseline, the old meter's episodes end */
    if ((st->have & (VEE_ST_FWD | VEE_ST_SERIAL | VEE_ST_CLEAR)) && exchange_seen(&c)) {
        close_all(&c);
        out->flags |= VEE_F_METER_EXCHANGED;
        forget(st, VEE_ST_FWD | VEE_ST_REV | VEE_ST_COVER | VEE_ST_CLEAR | VEE_ST_DRIFT |
                       VEE_ST_SERIAL);
        if (st->day_bits & VEE_DAY_VALID)
            st->day_bits |= VEE_DAY_BROKEN;
    }

    rule_clock(&c);
    if (st->have & VEE_ST_DRIFT) {
        int64_t d = st->drift_s;
        int cond = iabs64(d) > t->clock_suspect_s;
        c.aux[VEE_BIT_TIME_INVALID][0] = cond ? TI_CLOCK_SUSPECT : 0;
        rule(&c, VEE_BIT_TIME_INVALID, cond, d, t->clock_suspect_s);
    } else {
        rule(&c, VEE_BIT_TIME_INVALID, 0, 0, 0);
    }
    rule_status(&c);
    rule_cover(&c);

    struct elec e;
    elec_eval(&c, &e);
    bool lost = rule_phase_loss(&c, &e);
    rule_vunbal(&c, lost);
    rule_imbalance(&c, &e);

    /* ---- registers ---- */
    int64_t adv_f = -1, adv_r = -1;
    uint32_t span = 0;
    int rev_cond = -1;
    int64_t rev_val = 0, rev_thr = 0;
    int64_t *raux = c.aux[VEE_BIT_REVERSED];
    raux[1] = (in->present & VEE_HAS_FWD) ? in->fwd : -1;
    raux[2] = (in->present & VEE_HAS_REV) ? in->rev : -1;
    if ((in->present & VEE_HAS_FWD) && (st->have & VEE_ST_FWD)) {
        int64_t k = (in->end - st->reg_end) / m->interval_s;
        span = k > UINT32_MAX ? UINT32_MAX : (uint32_t)(k < 1 ? 1 : k);
        int64_t d = in->fwd - st->fwd;
        if (d < 0) {
            int64_t w = vee_wrap_advance(m, t, st->fwd, in->fwd, span);
            if (w >= 0) {
                d = w;
                out->flags |= VEE_F_ROLLOVER;
            } else {
                rev_cond = 1;
                rev_val = d;
                raux[0] = 1;
            }
        }
        if (d >= 0)
            adv_f = d;
        if ((in->present & VEE_HAS_REV) && (st->have & VEE_ST_REV)) {
            adv_r = vee_wrap_advance(m, t, st->rev, in->rev, span);
        }
    }
    out->advance = adv_f;
    out->span = span;
    /* reverse flow evidence runs on every read of a one-way meter */
    bool flow_rev = false;
    if (!m->bidirectional && e.neg_known) {
        if (e.neg_flow) {
            if (st->neg_run < 255)
                st->neg_run++;
        } else {
            st->neg_run = 0;
        }
        flow_rev = st->neg_run >= t->reverse_flow_intervals;
    }
    if (rev_cond < 0 && !m->bidirectional) {
        double rmin = t->reverse_min_kwh * 100.0 * (double)(span ? span : 1);
        if (adv_r >= 0 && (double)adv_r > rmin) {
            rev_cond = 1;
            rev_val = adv_r;
            rev_thr = (int64_t)rmin;
            raux[0] = 2;
        } else if (flow_rev) {
            rev_cond = 1;
            rev_val = e.neg_value;
            rev_thr = -e.is_ma;
            raux[0] = 3;
        } else if (adv_r >= 0 || e.neg_known || adv_f >= 0) {
            rev_cond = 0;
        }
    } else if (rev_cond < 0 && adv_f >= 0) {
        rev_cond = 0; /* a prosumer's export is not a fault */
    }
    rule(&c, VEE_BIT_REVERSED, rev_cond, rev_val, rev_thr);

    /* JUMPING: a gap of k intervals may hold k intervals' energy */
    if (adv_f >= 0 || adv_r >= 0) {
        int64_t emax = vee_emax(m);
        int64_t adv = adv_f > adv_r ? adv_f : adv_r;
        double lim = t->jump_factor * (double)emax * (double)span;
        c.aux[VEE_BIT_JUMPING][0] = span;
        c.aux[VEE_BIT_JUMPING][1] = emax;
        rule(&c, VEE_BIT_JUMPING, (double)adv > lim, adv, (int64_t)lim);
    } else {
        rule(&c, VEE_BIT_JUMPING, -1, 0, 0);
    }

    /* STOPPED / CREEPING on the total throughput, so that energy going to
     * the reverse register (export, reversed CT) is not "stopped" */
    int64_t thr_adv = adv_f;
    if (adv_f >= 0 && adv_r >= 0)
        thr_adv = adv_f + adv_r;
    if (thr_adv >= 0 && e.load_known) {
        int64_t *sa = c.aux[VEE_BIT_STOPPED];
        sa[0] = e.imax_abs;
        sa[1] = (in->present & VEE_HAS_P) ? in->p_total : 0;
        sa[2] = thr_adv;
        rule(&c, VEE_BIT_STOPPED, thr_adv == 0 && e.load, st->run[VEE_BIT_STOPPED] + 1,
             t->stopped_intervals);
    } else {
        rule(&c, VEE_BIT_STOPPED, -1, 0, 0);
    }
    /* Import and export both advancing in one interval prove that energy
     * flowed both ways (a prosumer's net flow crossed zero): a current near
     * zero at the read is that balance, not a register running with no load. */
    bool two_way = m->bidirectional && adv_f > 0 && adv_r > 0;
    if (thr_adv >= 0 && e.have_i && !two_way) {
        int64_t *ca = c.aux[VEE_BIT_CREEPING];
        ca[0] = thr_adv;
        ca[1] = e.imax_abs;
        ca[2] = e.is_ma;
        rule(&c, VEE_BIT_CREEPING, thr_adv > 0 && e.below_is,
             st->run[VEE_BIT_CREEPING] + 1, t->creeping_intervals);
    } else {
        rule(&c, VEE_BIT_CREEPING, -1, 0, 0);
    }

    rule_spike(&c, adv_f, span);

    /* daily accounting: only reads that carry the forward register */
    bool drop_judged = false;
    if (in->present & VEE_HAS_FWD) {
        if (st->have & VEE_ST_FWD)
            drop_judged = add_to_day(&c, adv_f, span, e.load);
        else if (st->day_bits & VEE_DAY_VALID)
            st->day_bits |= VEE_DAY_BROKEN; /* first read or new meter */
    }
    if (!drop_judged)
        rule(&c, VEE_BIT_DROP, -1, 0, 0);
    rule_sum(&c);

    /* ---- baseline for the next read ---- */
    if (in->present & VEE_HAS_FWD) {
        st->fwd = in->fwd;
        st->reg_end = in->end;
        st->have |= VEE_ST_FWD;
        if (in->present & VEE_HAS_REV) {
            st->rev = in->rev;
            st->have |= VEE_ST_REV;
        } else {
            forget(st, VEE_ST_REV);
        }
    }
    if (in->present & VEE_HAS_SERIAL) {
        st->serial = in->serial;
        st->have |= VEE_ST_SERIAL;
    }
    if (in->present & VEE_HAS_CLEAR_COUNT) {
        st->clear = in->clear_count;
        st->have |= VEE_ST_CLEAR;
    }
    st->last_end = in->end;
    st->have |= VEE_ST_SEQ;
    return AH_OK;
}
