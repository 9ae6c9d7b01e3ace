/*
 * meterjob — the DL/T 645-2007 live job of one meter as data (issue 15
 * item 3), sans-I/O: a table {step, DI, read-plan group (readplan.h),
 * handler, next after an answer, next after an ERR}. Bytes out: the request
 * of a step (mjob_request, mjob_req_frame). Bytes in: the data of its
 * answer, decoded by the step's handler into the job's values
 * (mjob_on_answer), then the next step (mjob_after). Also the meter's time
 * (clock-read and time-base rules), the catch-up runs and the conversion of
 * a decoded load record into the store's record. Pure: no I/O, no clock,
 * no allocation; the scheduler runs these jobs on links (sessions, timers,
 * the gap lists of the store, fairness) and files what they read.
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
 * (mjob_skip); T2 is read once more when time, date, time straddled
 * midnight (mjob_after). The scheduler adds what needs the store: a short
 * backlog of LR steps comes before LIVE, and LR steps move through the gap
 * list.
 */
#ifndef AH_METERJOB_H
#define AH_METERJOB_H

#include "dlt645.h"
#include "dlt645_di.h"
#include "readplan.h"
#include "store_rec.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum mjob_step {
    MJOB_DT, /* 0400010C: date and time of one moment */
    MJOB_T1, /* without 0400010C: time, date, time (mjob_clock_consistent) */
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
    MJOB_LIVE, /* 06000001 N=1 at the live record (mjob_live_end) */
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

/*
 * What a meter job has read so far beside its load records, decoded from
 * the answers' bytes (mjob_on_answer). Units: voltage 0.1 V, current mA,
 * freeze energy 0.01 kWh; times UTC (the meter's local time less tz_s).
 */
struct mjob_vals {
    /* the meter clock: clock_ms (UTC ms) when the head-end clock read
     * clock_at_ms, from 0400010C or from time, date, time (t1, date) */
    bool have_clock;
    int64_t clock_ms, clock_at_ms;
    bool have_date;
    struct dlt645_tm t1, date;
    bool clock_again;   /* time, date, time straddled midnight: read them again */
    bool clock_redone;  /* ... and they were read again in this job */
    uint8_t v_ph, i_ph; /* 1 << phase: volt[phase] / curr[phase] read */
    int32_t volt[3], curr[3];
    bool have_status; /* all seven status words */
    uint16_t status[7];
    bool have_cover;   /* both cover counts (meter, terminal) */
    bool have_cleared; /* the meter-cleared count */
    uint32_t cover, terminal, cleared;
    bool have_number; /* 04000402 as a decimal number */
    uint64_t number;
    bool have_frz_t, have_frz; /* the last daily freeze: its time, its energy */
    int64_t frz_at, frz_fwd;
};

/* One step's handler: the decoded items (nv >= 1) of an answer into v.
 * tz_s: meter local − UTC; he_ms: head-end clock of the moment the meter
 * answered. */
struct mjob_step_def {
    enum mjob_step step;
    uint32_t di;
    unsigned group; /* enum readplan_group, or MJOB_NO_GROUP */
    void (*on_data)(struct mjob_vals *v, const struct dlt645_value *val, size_t nv,
                    int64_t tz_s, int64_t he_ms); /* NULL: load records */
    enum mjob_step next_ok, next_err;
};

/* The table row of step st (st < MJOB_DONE), else NULL. */
const struct mjob_step_def *mjob_def(enum mjob_step st);

/* The step after st: after an answer (ok) or an ERR (!ok). */
enum mjob_step mjob_next(enum mjob_step st, bool ok);

/* From st, past every step of a group not in due (1 << group) — the first
 * step of the next group wanted, or LIVE. Steps of no group stay. */
enum mjob_step mjob_skip(enum mjob_step st, unsigned due);

/* ---- bytes in: answers ------------------------------------------------- */

/*
 * The data of an answer to step st (the payload after the DI, 12H
 * follow-ups joined: sess_payload) decoded into v by the step's handler.
 * AH_OK; AH_EFRAME when the bytes do not fit the step's DI (v unchanged);
 * AH_EINVAL for a step of load records (the caller decodes those).
 */
int mjob_on_answer(struct mjob_vals *v, enum mjob_step st, const uint8_t *p, size_t n,
                   int64_t tz_s, int64_t he_ms);

/* What the live job reads before it is done (mjob_live_plan). */
struct mjob_live_plan {
    bool live_missing; /* the store lacks the live record: read it */
    size_t backlog;    /* intervals missing before it in the window */
    bool inline_gaps;  /* 0 < backlog <= inline_max: read them first, oldest
                          first, so the pipeline validates in order */
    bool defer;        /* a longer backlog: the live read waits in the
                          pipeline until backfill has read it */
};

/*
 * The live job's plan from the gap list of its window up to and with its
 * live record live_end (UTC s): gaps[0..n) ascending as the store answered,
 * n > cap when the list was cut at cap (the live record, the newest, is
 * then missing too). inline_max: the longest backlog read in the live job
 * (SCHED_INLINE_GAPS).
 */
void mjob_live_plan(const uint64_t *gaps, size_t n, size_t cap, int64_t live_end,
                    size_t inline_max, struct mjob_live_plan *out);

/* What a request for load records (06000001, protocols.md §2.9) wants. */
struct mjob_lr_want {
    int64_t asked; /* the interval asked for first (UTC s) */
    int64_t top;   /* the newest interval an answer may hold (UTC s) */
    int64_t step;  /* interval length (s) */
    int64_t tz_s;  /* meter local − UTC */
    int64_t slack; /* the meter's known clock offset (s, >= 0) */
};

/* What one record block of the answer is. */
enum mjob_lr_kind {
    MJOB_LR_READ,     /* an interval's record: file it */
    MJOB_LR_INVALID,  /* marked invalid (E0 E0 start code) */
    MJOB_LR_OFF_GRID, /* not an interval end, or past top */
    MJOB_LR_STALE,    /* stamped before asked, beyond the clock's slack: the
                         meter answers records at or after the time asked,
                         so it is no answer whatever its registers say */
};

struct mjob_lr_rec {
    struct dlt645_load_record r;
    int64_t end; /* its interval end (UTC s) */
    enum mjob_lr_kind kind;
};

/*
 * The next record block of a load-record answer (p, n bytes: the payload
 * after the DI, follow-ups joined) from *off: decoded into *out, *off moved
 * past it. AH_OK; AH_EAGAIN when no block is left; AH_EFRAME (or the
 * decoder's error) for bytes that are no block: the rest is unusable.
 */
int mjob_lr_next(const uint8_t *p, size_t n, size_t *off, const struct mjob_lr_want *w,
                 struct mjob_lr_rec *out);

/* What an answer taught beyond the table (mjob_after). */
#define MJOB_TEACH_NO_DT       1u /* no 0400010C: time, date, time from now on */
#define MJOB_TEACH_CLOCK_AGAIN 2u /* time, date, time straddled midnight: again */

/*
 * The step after st was answered (ok: data; !ok: ERR), with what the
 * answer says beyond the table in *teach (MJOB_TEACH_*): T2 goes back to T1
 * once when the three straddled local midnight.
 */
enum mjob_step mjob_after(struct mjob_vals *v, enum mjob_step st, bool ok,
                          unsigned *teach);

/* ---- bytes out: requests ----------------------------------------------- */

/* The request of one step: a DI, and for load records N blocks from a
 * meter-local time (protocols.md §2.9: DI + N + mm hh DD MM YY). */
struct mjob_req {
    uint32_t di;
    bool with_time;
    uint8_t n;
    struct dlt645_tm t;
};

/* The request of step st; for MJOB_LIVE and MJOB_LR the load records from
 * at (UTC s; tz_s: meter local − UTC), n blocks (1..SCHED_LR_BLOCKS_MAX). */
void mjob_request(enum mjob_step st, int64_t at, unsigned n, int64_t tz_s,
                  struct mjob_req *rq);

/* Its DL/T 645-2007 frame to meter a, preamble included (what the session
 * writes for it): bytes written or a negative ah_err. */
int mjob_req_frame(const struct mjob_req *rq, const struct dlt645_addr *a, uint8_t *out,
                   size_t cap);

/* ---- the meter's time and the catch-up requests (pure) ---------------- */

/* Meter-local broken-down time <-> seconds of local wall time since
 * 1970-01-01 00:00 (no zone involved; civil dates: ah_date). year 0..99 =
 * 2000..2099. */
int64_t mjob_tm_to_s(const struct dlt645_tm *tm);
void mjob_s_to_tm(int64_t s, struct dlt645_tm *tm);

/*
 * The clock-read rule (docs/validation.md "Reading the meter clock"), for a
 * meter without 0400010C: time t1, date, time t2 read in this order. The
 * pair (date, t2) is consistent when the time did not pass local midnight
 * between t1 and t2 (t1 <= t2, less than an hour apart): then the date was
 * read on t2's day. Writes t2's local seconds (mjob_tm_to_s) to *local_s.
 * false: the three straddle midnight (or are absurd), read them again.
 */
bool mjob_clock_consistent(const struct dlt645_tm *t1, const struct dlt645_tm *date,
                           const struct dlt645_tm *t2, int64_t *local_s);

/*
 * The time-base rule (docs/validation.md "One time base per interval"):
 * the interval end (UTC s) of the load record a meter job reads as its
 * live record, and whether what the job read live (status words, V, I)
 * belongs to it. Interval keys are the meter's own load-record stamps.
 * he_s: head-end clock when the meter clock was read; meter_s (UTC s, valid
 * when have_clock): the meter clock read then. The live record is the
 * meter's newest on its own clock, floor(meter_s), when the meter is at
 * most ahead_s ahead (a record stamped further ahead would lie in the
 * head-end's future) and at most behind_s behind (beyond that its clock is
 * broken, not slow); else floor(he_s). *attach: the live values were read
 * within that interval's successor on the meter's clock (always, without a
 * meter clock), so they are filed with it and with no older interval.
 */
int64_t mjob_live_end(int64_t he_s, bool have_clock, int64_t meter_s, int64_t step,
                      int64_t ahead_s, int64_t behind_s, bool *attach);

/*
 * Blocks to ask for at gaps[gi] (UTC s, ascending, n gaps): the run of
 * consecutive intervals (step s apart) starting there, at most max.
 */
unsigned mjob_lr_run(const uint64_t *gaps, size_t n, size_t gi, int64_t step,
                     unsigned max);

/*
 * What a reply of `got` blocks (the newest stamped last_end, UTC s) to a
 * request of `asked` blocks covering intervals up to run_end says about the
 * meter's firmware, when its newest record is at or after `newest`:
 * returns the blocks per request to use from now on (<= cur). A meter that
 * sent fewer than asked while it holds newer records than the last one
 * sent truncates: got is its limit. Fewer because its memory ends there is
 * no truncation.
 */
unsigned mjob_lr_learn(unsigned cur, unsigned asked, unsigned got, int64_t last_end,
                       int64_t run_end, int64_t newest);

/* Scale raw with dec decimals to want decimals (exact when want >= dec). */
int64_t mjob_rescale(int64_t raw, int dec, int want);

/* Copy what a decoded load record holds into o (present bits set only
 * for the items the meter measured: FF-filled ones stay absent, §2.9). */
void mjob_lr_to_rec(const struct dlt645_load_record *r, struct ah_read *o);

#endif /* AH_METERJOB_H */
