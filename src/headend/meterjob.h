/*
 * meterjob — the DL/T 645-2007 live job of one meter as data (issue 15
 * item 3): which data identifiers, in which order, which read-plan group
 * each belongs to (readplan.h), and where the job goes after an answer or
 * after an ERR (the meter lacks the item), step by step. Also the pure
 * conversion of a decoded load record into the store's record. Pure: no
 * I/O, no clock, no allocation; the scheduler runs these jobs on links.
 *
 *   DT ──ERR──► T1 ─► DATE ─► T2 ─┐            (0400010C, else time,
 *    │           └─ERR─┴─ERR──────┤             date, time: docs/
 *    └──────────────────────────► V ─► I ─► STATUS ─► COVER ─┬─► TERMINAL ─┐
 *                                                            └ERR──────────┤
 *      ┌──────────────────────────────────────────────────────► CLEARED ◄──┘
 *      └─► FRZ_T ─► FRZ_E ─► NUMBER ─► LIVE ─► DONE
 *            └─ERR────────────►┘
 *
 * A group the read plan does not want this cycle is skipped whole
 * (mjob_skip); the scheduler adds what the table cannot say: T2 is read
 * once more when time, date, time straddled midnight, a short backlog of
 * LR steps comes before LIVE, and LR steps move through the gap list.
 */
#ifndef AH_METERJOB_H
#define AH_METERJOB_H

#include "dlt645.h"
#include "dlt645_di.h"
#include "readplan.h"
#include "store_rec.h"

#include <stdbool.h>
#include <stdint.h>

enum mjob_step {
    MJOB_DT, /* 0400010C: date and time of one moment */
    MJOB_T1, /* without 0400010C: time, date, time (sched_clock_consistent) */
    MJOB_DATE,
    MJOB_T2,
    MJOB_V,
    MJOB_I,
    MJOB_STATUS,
    MJOB_COVER,
    MJOB_TERMINAL,
    MJOB_CLEARED,
    MJOB_FRZ_T,
    MJOB_FRZ_E,
    MJOB_NUMBER,
    MJOB_LIVE, /* 06000001 N=1 at the live record (sched_live_end) */
    MJOB_LR,   /* backfill: 06000001 with N at each run of gaps */
    MJOB_DONE
};

/* DL/T 645-2007 data identifiers of the job (protocols.md §2.5–§2.9). */
#define MJOB_DI_DATE     0x04000101u /* YYMMDDWW */
#define MJOB_DI_TIME     0x04000102u /* hhmmss */
#define MJOB_DI_DATETIME 0x0400010Cu /* YYMMDDWWhhmmss in one item [EXT] (§2.7) */
#define MJOB_DI_VOLTAGE  0x0201FF00u /* phase voltages block */
#define MJOB_DI_CURRENT  0x0202FF00u /* phase currents block */
#define MJOB_DI_LOAD_REC 0x06000001u /* load records, N blocks from a given time */
#define MJOB_DI_STATUS   0x040005FFu /* status words 1..7 block (§2.5) */
#define MJOB_DI_FRZ_TIME 0x05060001u /* last daily freeze: time YYMMDDhhmm (§2.8) */
#define MJOB_DI_FRZ_FWD  0x05060101u /* last daily freeze: forward active block */
#define MJOB_DI_COVER    0x03300D00u /* meter cover opened: total count (§2.6) */
#define MJOB_DI_TERMINAL 0x03300E00u /* terminal cover opened: total count */
#define MJOB_DI_CLEARED  0x03300100u /* meter cleared: total count */
#define MJOB_DI_NUMBER   0x04000402u /* meter number, the identity (§2.5) */

/* Group of the steps that are none of the plan's (LIVE, LR, DONE). */
#define MJOB_NO_GROUP RP_NGROUPS

struct mjob_step_def {
    enum mjob_step step;
    uint32_t di;
    unsigned group; /* enum readplan_group, or MJOB_NO_GROUP */
    enum mjob_step next_ok, next_err;
};

/* The table row of step st (st < MJOB_DONE), else NULL. */
const struct mjob_step_def *mjob_def(enum mjob_step st);

/* The step after st: after an answer (ok) or an ERR (!ok). */
enum mjob_step mjob_next(enum mjob_step st, bool ok);

/* From st, past every step of a group not in due (1 << group) — the first
 * step of the next group wanted, or LIVE. Steps of no group stay. */
enum mjob_step mjob_skip(enum mjob_step st, unsigned due);

/* Scale raw with dec decimals to want decimals (exact when want >= dec). */
int64_t mjob_rescale(int64_t raw, int dec, int want);

/* Copy what a decoded load record holds into o (present bits set only
 * for the items the meter measured: FF-filled ones stay absent, §2.9). */
void mjob_lr_to_rec(const struct dlt645_load_record *r, struct store_rec *o);

#endif /* AH_METERJOB_H */
