/*
 * readplan — which DL/T 645 reads a meter's cycle makes, as data (issue 16
 * item 1). Pure: no I/O, no allocation, no logging.
 *
 * The live job of a meter reads groups of data identifiers; each group has
 * a cadence in minutes (a multiple of the interval that divides a day):
 *
 *   group     DIs                               default
 *   clock     0400010C (or time, date, time)    hourly, and every cycle
 *                                               while the last read showed
 *                                               a drift (or none is known)
 *   instant   0201FF00 V, 0202FF00 I            hourly
 *   status    040005FF status words 1..7        daily, and the next cycle
 *                                               after a live record that
 *                                               says something changed
 *   events    03300D00, 03300E00, 03300100      daily, as status
 *   freeze    05060001 + 05060101, 04000402     once a day after
 *                                               schedule.daily_freeze_after
 *
 * The load record (06000001) is read every interval: it is the reading.
 * The load record carries V, I (class 1) itself, so a cycle without the
 * instant group still validates phase loss and imbalance; a skipped group
 * is "not read this interval" (its rules do not run), never "missing".
 *
 * A meter's slot inside a cadence is its index modulo the cadence, so an
 * hourly group costs a quarter of the meters each 15-minute cycle rather
 * than every meter once an hour (a 4G link's budget is per cycle).
 *
 * Config (docs/config.md "Read plan"): a spec string
 * "group=cadence[,group=cadence…]" — cadence "every" (each interval),
 * "hourly", "daily", "off", or minutes "30m" / hours "2h"; the one word
 * "every" sets clock, instant, status and events to every interval (the
 * behaviour before read plans). Specs apply over each other: defaults,
 * schedule.read_plan, schedule.read_plan_class_X (the meter's class),
 * links[].read_plan.
 */
#ifndef AH_READPLAN_H
#define AH_READPLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum readplan_group { RP_CLOCK, RP_INSTANT, RP_STATUS, RP_EVENTS, RP_FREEZE, RP_NGROUPS };

#define READPLAN_UNSET (-1)
#define READPLAN_OFF   0

/* Minutes between reads per group: READPLAN_OFF never, READPLAN_UNSET
 * inherits (an override layer). */
struct readplan {
    int16_t min[RP_NGROUPS];
};

/* Group names as the config writes them ("clock", …). */
const char *readplan_group_name(enum readplan_group g);

/* The defaults of the table above. */
void readplan_defaults(struct readplan *rp);
/* A layer with every group READPLAN_UNSET. */
void readplan_unset(struct readplan *rp);

/*
 * Parse spec into *rp (every group first READPLAN_UNSET, then the groups
 * the spec names). "" is an empty layer. 0 or -1 with a message in err.
 */
int readplan_parse(const char *spec, struct readplan *rp, char *err, size_t errlen);

/* *out = base with every group over sets replaced (out may be base). */
void readplan_apply(struct readplan *out, const struct readplan *base,
                    const struct readplan *over);

/* *out = the defaults with each of the n layers applied in order (NULL
 * entries skipped): the plan of one meter. */
void readplan_resolve(struct readplan *out, const struct readplan *const *layers,
                      size_t n);

/* Every set cadence fits interval_min: a multiple of it that divides a
 * day; freeze only daily or off. 0 or -1 with a message naming the group. */
int readplan_check(const struct readplan *rp, int interval_min, char *err, size_t errlen);

/*
 * Whether group g (cadence set, not UNSET) is read in the cycle of
 * interval number `cycle` (interval end / step) by the meter with slot
 * `slot` (its index). last: interval number of its last read of the group,
 * 0 never. A slot the meter missed (link down, backed off, a cycle that
 * did not reach it) is made up in its next cycle. Not for RP_FREEZE (the
 * freeze has its own daily time).
 */
bool readplan_due(const struct readplan *rp, enum readplan_group g, int interval_min,
                  int64_t cycle, uint32_t slot, int64_t last);

/*
 * Requests one meter's live job makes per cycle on average under rp
 * (interval_min), with 0400010C answered (clock 1 request, else 3) and a
 * load record of one frame: what check-config multiplies by the meters of
 * a link.
 */
double readplan_requests_per_cycle(const struct readplan *rp, int interval_min,
                                   bool clock_3);

struct ah_read;
/*
 * The live record says something changed at the meter, so its status
 * words and event counters are read in the next cycle whatever their
 * cadence: a measured phase voltage below low_dv (0.1 V; the phase-loss
 * threshold), or current flowing backwards on a meter not bidirectional.
 */
bool readplan_record_alarm(const struct ah_read *r, double low_dv, bool bidirectional);

#endif /* AH_READPLAN_H */
