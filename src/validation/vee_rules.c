/*
 * vee_rules — the meter rules of reference/vee.md, one function each, and
 * the episode machinery that turns per-read verdicts into flags and
 * start/end transitions (see vee_int.h). Pure like vee.c: no I/O, no clock,
 * no allocation, no logging.
 */
#include "vee_int.h"

#include <string.h>

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

/* ---- meter arithmetic --------------------------------------------------- */

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

/* ---- episodes ----------------------------------------------------------- */

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

static void push_trans(struct vee_ctx *c, unsigned bit, bool started, int64_t since,
                       int64_t value, int64_t threshold)
{
    struct vee_result *o = c->out;
    if (o->ntrans >= VEE_MAX_TRANSITIONS)
        return; /* cannot happen: each rule moves at most twice per read */
    struct vee_transition *tr = &o->trans[o->ntrans++];
    tr->bit = (uint8_t)bit;
    tr->started = started;
    tr->since = since;
    tr->at = c->end;
    tr->value = value;
    tr->threshold = threshold;
    memcpy(tr->aux, c->aux[bit], sizeof tr->aux);
}

/*
 * Feed one rule's verdict on this read: cond 1 met, 0 not met, -1 not
 * judgeable (data missing or outside the rule's domain), which breaks a run
 * but does not count towards clearing.
 */
void vee_rule(struct vee_ctx *c, unsigned bit, int cond, int64_t value, int64_t threshold)
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
            int64_t since = c->end - (int64_t)(st->run[bit] - 1) * c->m->interval_s;
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
void vee_close_all(struct vee_ctx *c)
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

void vee_rule_clock(struct vee_ctx *c)
{
    const struct ah_read *in = c->in;
    struct vee_state *st = c->st;
    if (in->present & AH_READ_HAS_METER_CLOCK) {
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
        vee_rule(c, VEE_BIT_CLOCK_DRIFT, -1, 0, 0);
        return;
    }
    /* between clock reads the last reading stands: the meter's interval
     * stamps are made by that clock */
    int64_t drift = st->drift_s;
    vee_rule(c, VEE_BIT_CLOCK_DRIFT, iabs64(drift) > c->t->clock_drift_s, drift,
             c->t->clock_drift_s);
}

void vee_rule_status(struct vee_ctx *c)
{
    const struct ah_read *in = c->in;
    if (!(in->present & AH_READ_HAS_STATUS)) {
        vee_rule(c, VEE_BIT_STATUS_FAULT, -1, 0, 0);
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
    vee_rule(c, VEE_BIT_STATUS_FAULT, word != 0, word, 0);
}

void vee_rule_cover(struct vee_ctx *c)
{
    const struct ah_read *in = c->in;
    struct vee_state *st = c->st;
    if (!(in->present & AH_READ_HAS_COVER)) {
        vee_rule(c, VEE_BIT_COVER_OPEN, -1, 0, 0);
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
    vee_rule(c, VEE_BIT_COVER_OPEN, cond, in->cover_count, old);
}

/* ---- electrical rules (instantaneous values) ----------------------------- */

void vee_elec_eval(struct vee_ctx *c, struct vee_elec *e)
{
    const struct ah_read *in = c->in;
    unsigned pm = phase_mask(c->m);
    memset(e, 0, sizeof *e);
    e->is_ma = start_current_ma(c->m);
    e->have_i = true;
    int64_t pis = power_at(c->m, e->is_ma);
    for (unsigned ph = 0; ph < 3; ph++) {
        if (!(pm & (1u << ph)))
            continue;
        if (!(in->present & AH_READ_HAS_CURRENT(ph))) {
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
    bool have_p = (in->present & AH_READ_HAS_P(AH_READ_TOTAL)) != 0;
    int64_t p = in->p[AH_READ_TOTAL];
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
    if (in->present & AH_READ_HAS_STATUS) {
        unsigned sw2 = in->status[1];
        e->neg_known = 1;
        if ((in->status[0] & SW1_P_REVERSE) || (sw2 & pm & 7u))
            e->neg_flow = true;
    }
}

void vee_rule_imbalance(struct vee_ctx *c, const struct vee_elec *e)
{
    const struct ah_read *in = c->in;
    int64_t *aux = c->aux[VEE_BIT_PHASE_IMBALANCE];
    /* 3P4W only: 1P2W has one phase, 3P3W has no B current by design */
    if (c->m->wiring != VEE_3P4W || !e->have_i) {
        vee_rule(c, VEE_BIT_PHASE_IMBALANCE, -1, 0, 0);
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
        vee_rule(c, VEE_BIT_PHASE_IMBALANCE, -1, 0, 0);
        return;
    }
    double pct = (double)(hi - lo) * 100.0 / (double)hi;
    vee_rule(c, VEE_BIT_PHASE_IMBALANCE, pct > c->t->imbalance_pct, (int64_t)(pct * 10.0),
             (int64_t)(c->t->imbalance_pct * 10.0));
}

static bool all_voltages(const struct vee_ctx *c)
{
    unsigned pm = phase_mask(c->m);
    for (unsigned ph = 0; ph < 3; ph++)
        if ((pm & (1u << ph)) && !(c->in->present & AH_READ_HAS_VOLTAGE(ph)))
            return false;
    return true;
}

/* Phase loss first: a lost phase is diagnosed as such, not as unbalance. */
bool vee_rule_phase_loss(struct vee_ctx *c, const struct vee_elec *e)
{
    const struct ah_read *in = c->in;
    const struct vee_meter_info *m = c->m;
    unsigned pm = phase_mask(m);
    double un = (double)m->un_dv;
    int cond = -1;
    int64_t value = 0, thr = 0;
    int64_t *aux = c->aux[VEE_BIT_PHASE_LOSS];
    for (unsigned ph = 0; ph < 3 && cond <= 0; ph++) {
        if (!(pm & (1u << ph)))
            continue;
        bool hv = (in->present & AH_READ_HAS_VOLTAGE(ph)) != 0;
        bool hi = (in->present & AH_READ_HAS_CURRENT(ph)) != 0;
        bool others_loaded = false;
        for (unsigned o = 0; o < 3; o++)
            if (o != ph && (pm & (1u << o)) && (in->present & AH_READ_HAS_CURRENT(o)) &&
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
        } else if (in->present & AH_READ_HAS_STATUS) {
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
            aux[2] = (in->present & AH_READ_HAS_STATUS) ? in->status[3 + ph] : -1;
        }
    }
    vee_rule(c, VEE_BIT_PHASE_LOSS, cond, value, thr);
    return cond > 0;
}

void vee_rule_vunbal(struct vee_ctx *c, bool phase_lost)
{
    const struct ah_read *in = c->in;
    unsigned pm = phase_mask(c->m);
    if (c->m->wiring == VEE_1P2W || phase_lost || !all_voltages(c)) {
        vee_rule(c, VEE_BIT_VOLTAGE_UNBALANCE, -1, 0, 0);
        return;
    }
    int64_t sum = 0, n = 0;
    int64_t *aux = c->aux[VEE_BIT_VOLTAGE_UNBALANCE];
    for (unsigned ph = 0; ph < 3; ph++) {
        aux[ph] = (in->present & AH_READ_HAS_VOLTAGE(ph)) ? in->voltage[ph] : 0;
        if (pm & (1u << ph)) {
            sum += in->voltage[ph];
            n++;
        }
    }
    if (sum <= 0) {
        vee_rule(c, VEE_BIT_VOLTAGE_UNBALANCE, -1, 0, 0);
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
    vee_rule(c, VEE_BIT_VOLTAGE_UNBALANCE, pct > c->t->voltage_unbalance_pct,
             (int64_t)(pct * 10.0), (int64_t)(c->t->voltage_unbalance_pct * 10.0));
}

/* ---- register rules ----------------------------------------------------- */

/* Close the day in progress: DROP is judged once, on complete days only. */
static void close_day(struct vee_ctx *c, bool judge_here)
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
        vee_rule(c, VEE_BIT_DROP, cond, value, thr);
    st->pday = st->day;
    st->pday_sum = st->day_sum;
    st->pday_n = st->day_n;
    st->pday_bits = st->day_bits;
}

/* Account the forward advance of this read to its day. */
bool vee_add_to_day(struct vee_ctx *c, int64_t adv, uint32_t span, bool load)
{
    struct vee_state *st = c->st;
    const struct vee_meter_info *m = c->m;
    int64_t end = c->end;
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

void vee_rule_spike(struct vee_ctx *c, int64_t adv, uint32_t span)
{
    struct vee_state *st = c->st;
    const struct vee_meter_info *m = c->m;
    if (adv < 0 || span != 1) {
        /* a span over a gap has no time of day to compare with */
        vee_rule(c, VEE_BIT_SPIKE, -1, 0, 0);
        return;
    }
    unsigned s = slot_of(m, c->end);
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
    vee_rule(c, VEE_BIT_SPIKE, cond, adv, thr);
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
void vee_rule_sum(struct vee_ctx *c)
{
    const struct ah_read *in = c->in;
    struct vee_state *st = c->st;
    const struct vee_meter_info *m = c->m;
    if (!(in->present & AH_READ_HAS_FREEZE)) {
        vee_rule(c, VEE_BIT_SUM_MISMATCH, -1, 0, 0);
        return;
    }
    int cond = -1;
    int64_t value = 0, thr = 0;
    int64_t mod = modulus(m);
    if ((st->have & VEE_ST_FREEZE) && in->freeze_at - st->freeze_at == DAY_S) {
        int32_t d = day_of(m, in->freeze_at);
        int64_t diff = vee_wrap_advance(m, c->t, st->freeze_fwd, in->freeze_fwd,
                                        DAY_S / m->interval_s);
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
    vee_rule(c, VEE_BIT_SUM_MISMATCH, cond, value, thr);
}

/* Identity or meter-clear evidence of a new meter (vee.md METER_EXCHANGED). */
bool vee_exchange_seen(struct vee_ctx *c)
{
    const struct ah_read *in = c->in;
    const struct vee_state *st = c->st;
    int64_t mod = modulus(c->m);
    if (c->exchanged)
        return true;
    if ((in->present & AH_READ_HAS_SERIAL) && (st->have & VEE_ST_SERIAL) &&
        in->serial != st->serial)
        return true;
    /* register restarted near zero together with a meter-clear event */
    if ((in->present & AH_READ_HAS_IMP_TOTAL) && (st->have & VEE_ST_FWD) &&
        in->imp_total < st->fwd && in->imp_total < mod / 10 &&
        (in->present & AH_READ_HAS_CLEAR_COUNT) && (st->have & VEE_ST_CLEAR) &&
        in->clear_count != st->clear)
        return true;
    return false;
}

/* ---- register rules on the advance ---------------------------------------- */

void vee_advance(struct vee_ctx *c, struct vee_adv *a)
{
    const struct ah_read *in = c->in;
    struct vee_state *st = c->st;
    int64_t *raux = c->aux[VEE_BIT_REVERSED];
    memset(a, 0, sizeof *a);
    a->fwd = a->rev = -1;
    a->rev_cond = -1;
    raux[1] = (in->present & AH_READ_HAS_IMP_TOTAL) ? in->imp_total : -1;
    raux[2] = (in->present & AH_READ_HAS_EXP_TOTAL) ? in->exp_total : -1;
    if (!(in->present & AH_READ_HAS_IMP_TOTAL) || !(st->have & VEE_ST_FWD))
        return;
    int64_t k = (c->end - st->reg_end) / c->m->interval_s;
    a->span = k > UINT32_MAX ? UINT32_MAX : (uint32_t)(k < 1 ? 1 : k);
    int64_t d = in->imp_total - st->fwd;
    if (d < 0) {
        int64_t w = vee_wrap_advance(c->m, c->t, st->fwd, in->imp_total, a->span);
        if (w >= 0) {
            d = w;
            c->out->flags |= VEE_F_ROLLOVER;
        } else { /* the forward register ran backwards */
            a->rev_cond = 1;
            a->rev_val = d;
            raux[0] = 1;
        }
    }
    if (d >= 0)
        a->fwd = d;
    if ((in->present & AH_READ_HAS_EXP_TOTAL) && (st->have & VEE_ST_REV))
        a->rev = vee_wrap_advance(c->m, c->t, st->rev, in->exp_total, a->span);
}

void vee_rule_reversed(struct vee_ctx *c, const struct vee_elec *e, struct vee_adv *a)
{
    const struct vee_meter_info *m = c->m;
    struct vee_state *st = c->st;
    int64_t *raux = c->aux[VEE_BIT_REVERSED];
    /* reverse flow evidence runs on every read of a one-way meter */
    bool flow_rev = false;
    if (!m->bidirectional && e->neg_known) {
        if (e->neg_flow) {
            if (st->neg_run < 255)
                st->neg_run++;
        } else {
            st->neg_run = 0;
        }
        flow_rev = st->neg_run >= c->t->reverse_flow_intervals;
    }
    if (a->rev_cond < 0 && !m->bidirectional) {
        double rmin = c->t->reverse_min_kwh * 100.0 * (double)(a->span ? a->span : 1);
        if (a->rev >= 0 && (double)a->rev > rmin) {
            a->rev_cond = 1;
            a->rev_val = a->rev;
            a->rev_thr = (int64_t)rmin;
            raux[0] = 2;
        } else if (flow_rev) {
            a->rev_cond = 1;
            a->rev_val = e->neg_value;
            a->rev_thr = -e->is_ma;
            raux[0] = 3;
        } else if (a->rev >= 0 || e->neg_known || a->fwd >= 0) {
            a->rev_cond = 0;
        }
    } else if (a->rev_cond < 0 && a->fwd >= 0) {
        a->rev_cond = 0; /* a prosumer's export is not a fault */
    }
    vee_rule(c, VEE_BIT_REVERSED, a->rev_cond, a->rev_val, a->rev_thr);
}

/* JUMPING: a gap of k intervals may hold k intervals' energy */
void vee_rule_jumping(struct vee_ctx *c, const struct vee_adv *a)
{
    if (a->fwd < 0 && a->rev < 0) {
        vee_rule(c, VEE_BIT_JUMPING, -1, 0, 0);
        return;
    }
    int64_t emax = vee_emax(c->m);
    int64_t adv = a->fwd > a->rev ? a->fwd : a->rev;
    double lim = c->t->jump_factor * (double)emax * (double)a->span;
    c->aux[VEE_BIT_JUMPING][0] = a->span;
    c->aux[VEE_BIT_JUMPING][1] = emax;
    vee_rule(c, VEE_BIT_JUMPING, (double)adv > lim, adv, (int64_t)lim);
}

void vee_rule_stopped_creeping(struct vee_ctx *c, const struct vee_elec *e,
                               const struct vee_adv *a)
{
    const struct ah_read *in = c->in;
    struct vee_state *st = c->st;
    /* on the total throughput, so that energy going to the reverse register
     * (export, reversed CT) is not "stopped" */
    int64_t thr_adv = a->fwd;
    if (a->fwd >= 0 && a->rev >= 0)
        thr_adv = a->fwd + a->rev;
    if (thr_adv >= 0 && e->load_known) {
        int64_t *sa = c->aux[VEE_BIT_STOPPED];
        sa[0] = e->imax_abs;
        sa[1] = (in->present & AH_READ_HAS_P(AH_READ_TOTAL)) ? in->p[AH_READ_TOTAL] : 0;
        sa[2] = thr_adv;
        vee_rule(c, VEE_BIT_STOPPED, thr_adv == 0 && e->load,
                 st->run[VEE_BIT_STOPPED] + 1, c->t->stopped_intervals);
    } else {
        vee_rule(c, VEE_BIT_STOPPED, -1, 0, 0);
    }
    /* Import and export both advancing in one interval prove that energy
     * flowed both ways (a prosumer's net flow crossed zero): a current near
     * zero at the read is that balance, not a register running with no load. */
    bool two_way = c->m->bidirectional && a->fwd > 0 && a->rev > 0;
    if (thr_adv >= 0 && e->have_i && !two_way) {
        int64_t *ca = c->aux[VEE_BIT_CREEPING];
        ca[0] = thr_adv;
        ca[1] = e->imax_abs;
        ca[2] = e->is_ma;
        vee_rule(c, VEE_BIT_CREEPING, thr_adv > 0 && e->below_is,
                 st->run[VEE_BIT_CREEPING] + 1, c->t->creeping_intervals);
    } else {
        vee_rule(c, VEE_BIT_CREEPING, -1, 0, 0);
    }
}
