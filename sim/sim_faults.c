/*
 * sim_faults — fault schedules: the documented default mix and JSON specs.
 *
 * Reads the spec file (the only I/O of this module) and turns it into
 * struct sim_fault entries of the fleet. Spec format: docs/amisim.md.
 */
#include "sim_fleet.h"

#include "ah_clock.h"
#include "ah_err.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FOREVER (INT64_MAX / 4)

static struct sim_fault mk(int type, uint32_t conc, uint32_t meter, int64_t from,
                           int64_t to)
{
    struct sim_fault ft;
    memset(&ft, 0, sizeof ft);
    ft.type = (uint8_t)type;
    ft.conc = conc;
    ft.meter = meter;
    ft.from = from;
    ft.to = to;
    return ft;
}

/* What a fault needs of its meter to be a fault at all. */
#define PICK_3P4W   1u /* phase imbalance: three phases */
#define PICK_VACANT 2u /* creeping shows best where nothing is drawn */
#define PICK_LOAD                                                                        \
    4u                 /* a stopped, reversed or bypassed meter in a vacant home         \
                          loses no energy and shows nothing: not a fault */
#define PICK_ONEWAY 8u /* reversed CT on a PV prosumer is export to every rule */

/* Pick a meter for a fault: from `start` on, the first unused meter that
 * has every property of `want` (PICK_*). */
static int pick(const struct sim_fleet *f, uint32_t k, uint32_t start, unsigned want,
                uint32_t *out)
{
    for (uint32_t n = 0; n < f->per; n++) {
        uint32_t j = (start + n) % f->per;
        const struct sim_meter *m = sim_fleet_meter(f, k, j);
        if (m->fault >= 0)
            continue;
        if ((want & PICK_3P4W) && m->wiring != SIM_3P4W)
            continue;
        double s = 0;
        for (int t = 0; t < SIM_TARIFFS; t++)
            s += m->mean[SIM_IMP][t];
        if ((want & PICK_VACANT) && s > 0)
            continue;
        /* a load that moves the register by at least 2 digits (0.02 kWh
         * secondary) per quarter hour on average: below that a healthy
         * register stands still for intervals and no rule on 15-minute
         * registers can tell a stop (a 10 kV customer with a small load
         * behind PT 100 × CT 60 is such a meter) */
        if ((want & PICK_LOAD) && s < 2.0 * SIM_IPD)
            continue;
        if ((want & PICK_ONEWAY) && m->pv)
            continue;
        *out = j;
        return 0;
    }
    return -1;
}

/* The thief: the district's biggest free consumer (primary energy). Theft
 * is found by the district's line loss, whose day-to-day resolution is a
 * fraction of the loss itself (20 % of a 2–6 % loss); stealing pays, and
 * shows, where the consumption is large — a household stealing a few kWh in
 * a district of hundreds of MWh is below what any loss rule can see. */
static int pick_biggest(const struct sim_fleet *f, uint32_t k, uint32_t *out)
{
    double best = 0;
    int found = -1;
    for (uint32_t j = 0; j < f->per; j++) {
        const struct sim_meter *m = sim_fleet_meter(f, k, j);
        double s = 0;
        for (int t = 0; t < SIM_TARIFFS; t++)
            s += m->mean[SIM_IMP][t];
        s *= (double)m->ct * m->pt;
        if (m->fault < 0 && s > best) {
            best = s;
            *out = j;
            found = 0;
        }
    }
    return found;
}

static unsigned needs_of(int type)
{
    switch (type) {
    case SIM_F_STOPPED:
    case SIM_F_BACKWARDS:
    case SIM_F_PHASE_LOSS:
    case SIM_F_THEFT:
        return PICK_LOAD;
    case SIM_F_REVERSED:
        return PICK_LOAD | PICK_ONEWAY;
    case SIM_F_IMBALANCE:
        return PICK_3P4W | PICK_LOAD;
    default:
        return 0;
    }
}

/* A jump a rule must see: five times the most a healthy meter can
 * register in 15 minutes. */
static double jump_kwh(const struct sim_meter *m)
{
    return (double)(5 * sim_meter_emax(m)) / 100.0;
}

int sim_fleet_default_faults(struct sim_fleet *f)
{
    int64_t e = f->epoch_s, h = 3600;
    int rc;
    for (uint32_t k = 0; k < f->nconc; k++) {
        /* link faults everywhere, a little of each */
        static const struct {
            int type;
            double p;
            int32_t arg;
        } lk[] = {
            {SIM_F_NO_REPLY, 0.005, 0}, {SIM_F_JUNK, 0.005, 0},
            {SIM_F_BAD_CS, 0.003, 0},   {SIM_F_TRUNCATED, 0.002, 0},
            {SIM_F_LATE, 0.002, 6000},  {SIM_F_DISCONNECT, 0.001, 0},
        };
        for (size_t i = 0; i < sizeof lk / sizeof lk[0]; i++) {
            struct sim_fault ft = mk(lk[i].type, k, SIM_LINK_METER, -FOREVER, FOREVER);
            ft.p = lk[i].p;
            ft.arg = lk[i].arg;
            if ((rc = sim_fleet_add_fault(f, &ft)) < 0)
                return rc;
        }
        if (k == (f->nconc > 1 ? 1u : 0u)) {
            struct sim_fault ft =
                mk(SIM_F_OFFLINE, k, SIM_LINK_METER, e + 3 * h, e + 5 * h);
            ft.p = 1;
            if ((rc = sim_fleet_add_fault(f, &ft)) < 0)
                return rc;
        }
        /* meter faults on every fourth concentrator, one meter per type */
        if (k % 4 != 0 || f->per == 0)
            continue;
        uint32_t step = f->per / 10 ? f->per / 10 : 1;
        for (int t = 0; t <= SIM_F_MISSING; t++) {
            uint32_t start = ((uint32_t)t * step + 1 + k / 4) % f->per, j;
            unsigned want = needs_of(t);
            if (t == SIM_F_CREEPING && pick(f, k, start, PICK_VACANT, &j) == 0)
                want = PICK_VACANT;
            if (t == SIM_F_THEFT ? pick_biggest(f, k, &j) < 0
                                 : pick(f, k, start, want, &j) < 0)
                continue;
            const struct sim_meter *m = sim_fleet_meter(f, k, j);
            int64_t from = e + 2 * h + t * 1800;
            struct sim_fault ft = mk(t, k, j, from, from + 6 * h);
            switch (t) {
            case SIM_F_JUMPING:
                ft.to = FOREVER;
                ft.p = jump_kwh(m);
                break;
            case SIM_F_PHASE_LOSS:
            case SIM_F_IMBALANCE:
                ft.arg = m->wiring == SIM_3P4W ? 1 : 0;
                break;
            case SIM_F_CLOCK_DRIFT:
                ft.from = e - 86400;
                ft.to = FOREVER;
                ft.arg = 480;
                ft.p = 60;
                break;
            case SIM_F_THEFT:
                ft.to = FOREVER;
                ft.p = 0.4;
                break;
            case SIM_F_MISSING:
                ft.to = from + 2 * h;
                break;
            default:
                break;
            }
            if ((rc = sim_fleet_add_fault(f, &ft)) < 0)
                return rc;
        }
    }
    return AH_OK;
}

/* "+2h30m", "-1d", "+90s" relative to the epoch, or an absolute time. */
static int parse_when(const struct sim_fleet *f, json_t *v, int64_t dflt, int64_t *out)
{
    if (!v) {
        *out = dflt;
        return 0;
    }
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return 0;
    }
    if (!json_is_string(v))
        return AH_EINVAL;
    const char *s = json_string_value(v);
    if (s[0] == '+' || s[0] == '-') {
        int64_t sign = s[0] == '-' ? -1 : 1, total = 0;
        const char *p = s + 1;
        if (!*p)
            return AH_EINVAL;
        while (*p) {
            char *end;
            long long n = strtoll(p, &end, 10);
            if (end == p || n < 0)
                return AH_EINVAL;
            int64_t mul = *end == 'd'   ? 86400
                          : *end == 'h' ? 3600
                          : *end == 'm' ? 60
                          : *end == 's' ? 1
                                        : 0;
            if (!mul)
                return AH_EINVAL;
            total += (int64_t)n * mul;
            p = end + 1;
        }
        *out = f->epoch_s + sign * total;
        return 0;
    }
    int64_t ms;
    if (ah_time_parse(s, &ms) < 0)
        return AH_EINVAL;
    *out = ms / 1000;
    return 0;
}

static int parse_meter(const struct sim_fleet *f, const char *s, uint32_t *conc,
                       uint32_t *idx)
{
    const char *colon = strchr(s, ':');
    if (!colon)
        return sim_fleet_find(f, s, conc, idx) < 0 || strlen(s) != 12 ? AH_EINVAL : 0;
    char *end;
    unsigned long c = strtoul(s, &end, 10);
    if (end != colon)
        return AH_EINVAL;
    *conc = (uint32_t)c;
    if (!strcmp(colon + 1, "district") || !strcmp(colon + 1, "d")) {
        *idx = SIM_DISTRICT_IDX;
        return 0;
    }
    unsigned long j = strtoul(colon + 1, &end, 10);
    if (*end || end == colon + 1)
        return AH_EINVAL;
    *idx = (uint32_t)j;
    return 0;
}

/* The parameter keys of meter faults, each into p (a JSON number) or arg
 * (an integer), with the default when the key is absent (docs/amisim.md). */
static const struct {
    int type;
    const char *key;
    bool to_arg;
    double dflt;
} meter_params[] = {
    {SIM_F_THEFT, "fraction", false, 0.4},
    {SIM_F_HOLES, "share", false, 0.3},
    {SIM_F_DECREASE, "kwh", false, 213.0},
    {SIM_F_JUMPING, "kwh", false, 0}, /* default: jump_kwh() of the meter */
    {SIM_F_CLOCK_DRIFT, "rate_s_per_day", false, 60},
    {SIM_F_CLOCK_DRIFT, "offset_s", true, 480},
    {SIM_F_LR_TRUNCATE, "blocks", true, 2},
};

static void meter_fault_params(json_t *o, const struct sim_meter *m, struct sim_fault *ft)
{
    for (size_t i = 0; i < sizeof meter_params / sizeof meter_params[0]; i++) {
        if (meter_params[i].type != ft->type)
            continue;
        json_t *v = json_object_get(o, meter_params[i].key);
        double d = meter_params[i].dflt;
        if (meter_params[i].to_arg)
            ft->arg = json_is_integer(v) ? (int32_t)json_integer_value(v) : (int32_t)d;
        else
            ft->p = json_is_number(v)           ? json_number_value(v)
                    : ft->type == SIM_F_JUMPING ? jump_kwh(m)
                                                : d;
    }
}

/* The phase a meter fault acts on: "A".."C" or 0..2; by default B of a
 * three-phase meter, the only phase of a single-phase one. */
static int meter_fault_phase(json_t *o, const struct sim_meter *m, struct sim_fault *ft)
{
    json_t *ph = json_object_get(o, "phase");
    if (json_is_string(ph)) {
        const char *p = json_string_value(ph);
        if (strlen(p) != 1 || p[0] < 'A' || p[0] > 'C')
            return AH_EINVAL;
        ft->arg = p[0] - 'A';
    } else if (json_is_integer(ph)) {
        ft->arg = (int32_t)json_integer_value(ph);
    } else if (ph) {
        return AH_EINVAL;
    } else {
        ft->arg = m->wiring == SIM_3P4W ? 1 : 0;
    }
    return AH_OK;
}

/* The meter, phase and parameters of a meter fault; NULL, or the key that
 * is wrong. */
static const char *meter_fault_parse(const struct sim_fleet *f, json_t *o,
                                     struct sim_fault *ft)
{
    json_t *jm = json_object_get(o, "meter");
    if (!json_is_string(jm) ||
        parse_meter(f, json_string_value(jm), &ft->conc, &ft->meter) < 0)
        return "meter";
    const struct sim_meter *m = sim_fleet_meter(f, ft->conc, ft->meter);
    if (!m)
        return "meter";
    if (meter_fault_phase(o, m, ft) < 0)
        return "phase";
    meter_fault_params(o, m, ft);
    return NULL;
}

/* The concentrator, probability and delays of a link fault; NULL, or the
 * key that is wrong. */
static const char *link_fault_parse(json_t *o, struct sim_fault *ft)
{
    json_t *jc = json_object_get(o, "concentrator");
    if (!json_is_integer(jc) || json_integer_value(jc) < 0)
        return "concentrator";
    ft->conc = (uint32_t)json_integer_value(jc);
    ft->p = ft->type == SIM_F_OFFLINE ? 1.0 : 0.02;
    if (json_is_number(json_object_get(o, "p")))
        ft->p = json_number_value(json_object_get(o, "p"));
    ft->arg = ft->type == SIM_F_LATE ? 6000 : 0;
    if (json_is_integer(json_object_get(o, "delay_ms")))
        ft->arg = (int32_t)json_integer_value(json_object_get(o, "delay_ms"));
    if (ft->type == SIM_F_LATENCY) {
        /* a 4G round trip: every request, 300..1000 ms (issue 13) */
        json_t *lo = json_object_get(o, "min_ms"), *hi = json_object_get(o, "max_ms");
        if ((lo && !json_is_integer(lo)) || (hi && !json_is_integer(hi)))
            return "min_ms/max_ms";
        ft->p = json_is_number(json_object_get(o, "p")) ? ft->p : 1.0;
        ft->arg = lo ? (int32_t)json_integer_value(lo) : 300;
        ft->arg2 = hi ? (int32_t)json_integer_value(hi) : 1000;
    }
    return NULL;
}

/* One entry of the spec into *ft; NULL, or what is wrong with it. */
static const char *fault_parse(const struct sim_fleet *f, json_t *o, struct sim_fault *ft)
{
    json_t *jt = json_object_get(o, "type");
    int type = json_is_string(jt) ? sim_fault_parse_type(json_string_value(jt)) : -1;
    if (type < 0)
        return "type";
    *ft = mk(type, 0, SIM_LINK_METER, 0, 0);
    if (parse_when(f, json_object_get(o, "from"), -FOREVER, &ft->from) < 0 ||
        parse_when(f, json_object_get(o, "to"), FOREVER, &ft->to) < 0)
        return "from/to";
    return type < SIM_F_FIRST_LINK ? meter_fault_parse(f, o, ft)
                                   : link_fault_parse(o, ft);
}

int sim_fleet_load_faults(struct sim_fleet *f, const char *path, char *err, size_t cap)
{
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) {
        snprintf(err, cap, "%s:%d: %s", path, je.line, je.text);
        return AH_ECONFIG;
    }
    json_t *arr = json_is_array(root) ? root : json_object_get(root, "faults");
    int rc = AH_OK;
    if (!json_is_array(arr)) {
        snprintf(err, cap, "%s: expected {\"faults\": [...]}", path);
        rc = AH_ECONFIG;
        goto out;
    }
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o)
    {
        struct sim_fault ft;
        const char *what = fault_parse(f, o, &ft);
        if (!what && sim_fleet_add_fault(f, &ft) < 0)
            what = "fault (unknown meter, second fault on a meter, bad window or "
                   "parameter)";
        if (what) {
            snprintf(err, cap, "%s: faults[%zu]: bad %s", path, i, what);
            rc = AH_ECONFIG;
            break;
        }
    }
out:
    json_decref(root);
    return rc;
}
