/*
 * test_meterjob — the live job as data (issue 15 item 3): the order of the
 * DIs, what an ERR means at each step, how the read plan skips whole
 * groups, and a load record from the reference's bytes into the store's
 * record with its FF-filled items absent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "ah_err.h"
#include "dlt645.h"
#include "dlt645_di.h"
#include "meterjob.h"
#include "ut_hex.h"

/* Walk the job from `from` with the answers in ok[] (true = data, false =
 * ERR); the DIs asked go to out. Returns how many. */
static size_t walk(enum mjob_step from, unsigned due, const bool *ok, size_t n,
                   uint32_t *out)
{
    size_t k = 0;
    enum mjob_step st = mjob_skip(from, due);
    while (st < MJOB_LIVE && k < n) {
        out[k] = mjob_def(st)->di;
        st = mjob_skip(mjob_next(st, ok[k]), due);
        k++;
    }
    assert_int_equal(st, MJOB_LIVE);
    return k;
}

static void full_job_in_order(void **state)
{
    (void)state;
    const bool ok[16] = {true, true, true, true, true, true, true, true, true, true};
    uint32_t di[16];
    unsigned all = (1u << RP_NGROUPS) - 1;
    size_t n = walk(MJOB_DT, all, ok, 16, di);
    const uint32_t want[] = {0x0400010C, 0x0201FF00, 0x0202FF00, 0x040005FF, 0x03300D00,
                             0x03300E00, 0x03300100, 0x05060001, 0x05060101, 0x04000402};
    assert_int_equal(n, sizeof want / sizeof want[0]);
    assert_memory_equal(di, want, sizeof want);
    assert_int_equal(mjob_def(MJOB_LIVE)->di, 0x06000001u);
    assert_int_equal(mjob_next(MJOB_LIVE, true), MJOB_DONE);
    assert_null(mjob_def(MJOB_DONE));
}

static void errors_per_step(void **state)
{
    (void)state;
    /* no 0400010C: time, date, time */
    assert_int_equal(mjob_next(MJOB_DT, false), MJOB_T1);
    assert_int_equal(mjob_next(MJOB_T1, true), MJOB_DATE);
    assert_int_equal(mjob_next(MJOB_DATE, true), MJOB_T2);
    assert_int_equal(mjob_next(MJOB_T2, true), MJOB_V);
    /* a clock read that fails midway leaves the clock unread */
    assert_int_equal(mjob_next(MJOB_T1, false), MJOB_V);
    assert_int_equal(mjob_next(MJOB_DATE, false), MJOB_V);
    /* no first cover count: the pair is skipped, the clear count read */
    assert_int_equal(mjob_next(MJOB_COVER, false), MJOB_CLEARED);
    assert_int_equal(mjob_next(MJOB_TERMINAL, false), MJOB_CLEARED);
    /* no freeze time: its energy is not asked, the meter number is */
    assert_int_equal(mjob_next(MJOB_FRZ_T, false), MJOB_NUMBER);
    assert_int_equal(mjob_next(MJOB_FRZ_E, false), MJOB_NUMBER);
    /* a meter that lacks V still gets I asked */
    assert_int_equal(mjob_next(MJOB_V, false), MJOB_I);
}

static void plan_skips_groups(void **state)
{
    (void)state;
    const bool ok[16] = {true, true, true, true, true, true, true, true, true, true};
    uint32_t di[16];
    /* a cycle of the default plan's usual kind: the load record alone */
    assert_int_equal(mjob_skip(MJOB_DT, 0), MJOB_LIVE);
    assert_int_equal(mjob_skip(MJOB_T1, 0), MJOB_LIVE);
    /* hourly slot: clock and V, I */
    size_t n = walk(MJOB_DT, 1u << RP_CLOCK | 1u << RP_INSTANT, ok, 16, di);
    assert_int_equal(n, 3);
    assert_int_equal(di[0], 0x0400010Cu);
    assert_int_equal(di[2], 0x0202FF00u);
    /* status and events pulled forward, no clock: starts at 040005FF */
    n = walk(MJOB_DT, 1u << RP_STATUS | 1u << RP_EVENTS, ok, 16, di);
    assert_int_equal(n, 4);
    assert_int_equal(di[0], 0x040005FFu);
    assert_int_equal(di[3], 0x03300100u);
    /* a meter without 0400010C in a clock cycle: time, date, time */
    n = walk(MJOB_T1, 1u << RP_CLOCK, ok, 16, di);
    assert_int_equal(n, 3);
    assert_int_equal(di[0], 0x04000102u);
    assert_int_equal(di[1], 0x04000101u);
    assert_int_equal(di[2], 0x04000102u);
    /* LIVE and LR are no group's: never skipped */
    assert_int_equal(mjob_skip(MJOB_LR, 0), MJOB_LR);
    assert_int_equal(mjob_skip(MJOB_LIVE, 0), MJOB_LIVE);
}

/* One load record block as protocols.md §2.9 lays it out: a single-phase
 * meter, classes 1 and 4 enabled, phases B and C FF-filled. */
static void load_record_to_rec(void **state)
{
    (void)state;
    struct dlt645_load_record in, out;
    memset(&in, 0, sizeof in);
    in.t = (struct dlt645_tm){.year = 25, .mon = 3, .day = 14, .hour = 0, .min = 15};
    in.classes = 0x09; /* classes 1 and 4 */
    in.volt[0] = 2301;
    in.curr[0] = 5123;
    in.freq = 5002;
    in.e_fwd = 1234567;
    in.e_rev = 0;
    in.na = 1ull << DLT645_LR_UB | 1ull << DLT645_LR_UC | 1ull << DLT645_LR_IB |
            1ull << DLT645_LR_IC;
    uint8_t buf[128];
    int len = dlt645_lr_encode(&in, buf, sizeof buf);
    assert_true(len > 0);
    assert_int_equal(buf[0], 0xA0);
    assert_int_equal(buf[len - 1], 0xE5);
    size_t used = 0;
    assert_int_equal(dlt645_lr_decode(buf, (size_t)len, &out, &used), 0);
    assert_int_equal(used, (size_t)len);
    struct ah_read r;
    memset(&r, 0, sizeof r);
    mjob_lr_to_rec(&out, &r);
    assert_true(r.present & AH_READ_HAS_VOLTAGE(0));
    assert_false(r.present & AH_READ_HAS_VOLTAGE(1));
    assert_false(r.present & AH_READ_HAS_CURRENT(2));
    assert_int_equal(r.voltage[0], 2301);
    assert_int_equal(r.current[0], 5123);
    assert_true(r.present & AH_READ_HAS_IMP_TOTAL);
    assert_int_equal(r.imp_total, 1234567);
    /* class 2 disabled: no power items at all */
    assert_false(r.present & AH_READ_HAS_P(0));
    assert_int_equal(mjob_rescale(2301, 1, 3), 230100);
    assert_int_equal(mjob_rescale(1234567, 3, 2), 123456);
}

/* 2025-03-14T00:00:00Z */
#define T0 1741910400LL

static void test_meter_local_time(void **state)
{
    (void)state;
    /* the interval ending 2025-03-14T00:00Z is 08:00 on a UTC+8 meter */
    struct dlt645_tm tm;
    mjob_s_to_tm(T0 + 8 * 3600, &tm);
    assert_int_equal(tm.year, 25);
    assert_int_equal(tm.mon, 3);
    assert_int_equal(tm.day, 14);
    assert_int_equal(tm.hour, 8);
    assert_int_equal(tm.min, 0);
    assert_int_equal(tm.wday, 5); /* a Friday */
    assert_int_equal(mjob_tm_to_s(&tm), T0 + 8 * 3600);
    /* 2024-02-29 23:45 and the step over the leap day */
    struct dlt645_tm leap = {24, 2, 29, 23, 45, 0, 0};
    int64_t s = mjob_tm_to_s(&leap);
    mjob_s_to_tm(s + 900, &tm);
    assert_int_equal(tm.mon, 3);
    assert_int_equal(tm.day, 1);
    assert_int_equal(tm.hour, 0);
    /* every 15 minutes over 2000..2099 round-trips */
    for (int64_t t = 946684800; t < 4102444800; t += 900 * 97 + 60) {
        mjob_s_to_tm(t, &tm);
        assert_int_equal(mjob_tm_to_s(&tm), t);
    }
}

static struct dlt645_tm tm_of(int y, int mo, int d, int h, int mi, int sec)
{
    struct dlt645_tm t;
    memset(&t, 0, sizeof t);
    t.year = (uint8_t)(y - 2000);
    t.mon = (uint8_t)mo;
    t.day = (uint8_t)d;
    t.hour = (uint8_t)h;
    t.min = (uint8_t)mi;
    t.sec = (uint8_t)sec;
    return t;
}

/* Issue 13 defect 3: time, date, time read around local midnight. The
 * date of 2025-03-15 read between 23:59:50 and 00:00:20 may be either
 * day's: refused (the old read, date then time, gave a clock one day
 * off). A triple clear of midnight gives the date of its second time. */
static void test_clock_consistent(void **state)
{
    (void)state;
    int64_t local = 0;
    struct dlt645_tm t1 = tm_of(2025, 3, 14, 23, 59, 50);
    struct dlt645_tm date = tm_of(2025, 3, 15, 0, 0, 0);
    struct dlt645_tm t2 = tm_of(2025, 3, 15, 0, 0, 20);
    assert_false(mjob_clock_consistent(&t1, &date, &t2, &local));
    /* the date read just before midnight, the times straddling it */
    struct dlt645_tm d14 = tm_of(2025, 3, 14, 0, 0, 0);
    assert_false(mjob_clock_consistent(&t1, &d14, &t2, &local));
    /* clear of midnight: 00:00:20, date, 00:00:50 */
    struct dlt645_tm t3 = tm_of(2025, 3, 15, 0, 0, 50);
    assert_true(mjob_clock_consistent(&t2, &date, &t3, &local));
    assert_int_equal(local, T0 + 86400 + 50); /* local seconds of 03-15 00:00:50 */
    /* the same second twice is one moment */
    assert_true(mjob_clock_consistent(&t3, &date, &t3, &local));
    /* an hour apart is no read of one moment; a bad date is refused */
    struct dlt645_tm t4 = tm_of(2025, 3, 15, 1, 0, 50);
    assert_false(mjob_clock_consistent(&t3, &date, &t4, &local));
    struct dlt645_tm bad = tm_of(2025, 13, 15, 0, 0, 0);
    assert_false(mjob_clock_consistent(&t2, &bad, &t3, &local));
}

/* Issue 13 defect 4: the live record of a meter job is the meter's newest
 * on its own clock, and the status words and V, I read beside it are filed
 * with it only when they were read in its successor interval on that
 * clock. Head-end clock T0 + 600 (10 min into an interval). */
static void test_live_end(void **state)
{
    (void)state;
    bool attach = false;
    const int64_t he = T0 + 600;
    /* no meter clock: the head-end's interval */
    assert_int_equal(mjob_live_end(he, false, 0, 900, 300, 3600, &attach), T0);
    assert_true(attach);
    /* a healthy clock (20 s slow) */
    assert_int_equal(mjob_live_end(he, true, he - 20, 900, 300, 3600, &attach), T0);
    assert_true(attach);
    /* 20 min slow: its newest record is the one before, on its own grid */
    assert_int_equal(mjob_live_end(he, true, he - 1200, 900, 300, 3600, &attach),
                     T0 - 900);
    assert_true(attach);
    /* 4 min fast, read at T0 + 600 (meter: T0 + 840): still T0 */
    assert_int_equal(mjob_live_end(he, true, he + 240, 900, 300, 3600, &attach), T0);
    assert_true(attach);
    /* 25 min fast: its newest record would be in the head-end's future;
     * the head-end's interval, and what was read live is not filed with
     * it (it was read two intervals later on the meter's clock) */
    assert_int_equal(mjob_live_end(he, true, he + 1500, 900, 300, 3600, &attach), T0);
    assert_false(attach);
    /* 2 h slow: a broken clock, not a slow one */
    assert_int_equal(mjob_live_end(he, true, he - 7200, 900, 300, 3600, &attach), T0);
    assert_false(attach);
    /* a late cycle: the head-end is 40 min past the cycle's boundary; the
     * live record is the interval of the read, not the cycle's */
    assert_int_equal(mjob_live_end(T0 + 2400, true, T0 + 2400, 900, 300, 3600, &attach),
                     T0 + 1800);
    assert_true(attach);
}

/* Batched catch-up (issue 16 item 2): runs of consecutive gaps, and what
 * a short answer says about the meter. */
static void test_lr_run_and_learn(void **state)
{
    (void)state;
    const int64_t st = 900;
    uint64_t g[12];
    for (int i = 0; i < 12; i++)
        g[i] = 1000 * 900 + (uint64_t)(i < 5 ? i : i + 3) * 900; /* a hole after 5 */
    assert_int_equal(mjob_lr_run(g, 12, 0, st, 9), 5);
    assert_int_equal(mjob_lr_run(g, 12, 2, st, 9), 3);
    assert_int_equal(mjob_lr_run(g, 12, 5, st, 9), 7);
    assert_int_equal(mjob_lr_run(g, 12, 5, st, 4), 4);
    assert_int_equal(mjob_lr_run(g, 12, 11, st, 9), 1);
    assert_int_equal(mjob_lr_run(g, 12, 12, st, 9), 0);

    int64_t t = 1000 * 900, run_end = t + 8 * 900, newest = t + 96 * 900;
    /* all nine: nothing learned */
    assert_int_equal(mjob_lr_learn(9, 9, 9, run_end, run_end, newest), 9);
    /* two of nine, ending inside the run, newer records exist: truncates */
    assert_int_equal(mjob_lr_learn(9, 9, 2, t + 900, run_end, newest), 2);
    /* fewer because the meter's memory ends there: no limit */
    assert_int_equal(mjob_lr_learn(9, 9, 2, t + 900, run_end, run_end), 9);
    /* fewer, but the last one lies past the run (holes skipped): fine */
    assert_int_equal(mjob_lr_learn(9, 9, 3, run_end + 900, run_end, newest), 9);
    /* never raised by an answer */
    assert_int_equal(mjob_lr_learn(2, 9, 5, t + 4 * 900, run_end, newest), 2);
    assert_int_equal(mjob_lr_learn(9, 9, 0, t, run_end, newest), 9);
}

/* ---- the job driven by bytes (protocols.md §3.1 worked frames) -------- */

#define TZ 28800 /* UTC+8: meters speak local time */
#define HE 5000  /* head-end clock (ms) of every answer below */

static const char *ADDR = "123456789012";

/* A reply frame (bytes) to the request of step st, parsed and matched as
 * the session does: the payload after the DI into out; *err the ERR word of
 * an abnormal reply (-1: a normal one). */
static size_t reply_payload(const uint8_t *fr, size_t len, enum mjob_step st,
                            uint8_t *out, int *err)
{
    struct dlt645_parser ps;
    struct dlt645_frame f;
    enum dlt645_parse_status pst;
    struct dlt645_addr a;
    struct dlt645_reply rep;
    dlt645_parser_init(&ps);
    assert_int_equal(dlt645_parse(&ps, fr, len, &f, &pst), len);
    assert_int_equal(pst, DLT645_FRAME_OK);
    assert_int_equal(dlt645_addr_parse(ADDR, &a), AH_OK);
    assert_int_equal(
        dlt645_reply_classify(&f, DLT645_2007, &a, DLT645_F_READ, mjob_def(st)->di, &rep),
        AH_OK);
    *err = rep.kind == DLT645_R_ERROR ? rep.err : -1;
    if (rep.kind == DLT645_R_ERROR)
        return 0;
    assert_int_equal(rep.kind, DLT645_R_DATA);
    memcpy(out, rep.payload, rep.payload_len);
    return rep.payload_len;
}

/* Feed the reply frame (hex) to step st into v; returns mjob_on_answer's
 * result. */
static int answer_hex(struct mjob_vals *v, enum mjob_step st, const char *hex)
{
    uint8_t fr[256], p[256];
    int err;
    size_t n = reply_payload(fr, ut_unhex(hex, fr), st, p, &err);
    assert_int_equal(err, -1);
    return mjob_on_answer(v, st, p, n, TZ, HE);
}

/* The meter's reply frame to step st carrying plain data bytes d (built by
 * the codec the simulator uses), fed to the job. */
static int answer_data(struct mjob_vals *v, enum mjob_step st, const uint8_t *d, size_t n)
{
    uint8_t fr[256], p[256];
    struct dlt645_addr a;
    int err;
    assert_int_equal(dlt645_addr_parse(ADDR, &a), AH_OK);
    int len = dlt645_reply_read(fr, sizeof fr, 0, &a, mjob_def(st)->di, false, d, n);
    assert_true(len > 0);
    size_t pn = reply_payload(fr, (size_t)len, st, p, &err);
    assert_int_equal(err, -1);
    return mjob_on_answer(v, st, p, pn, TZ, HE);
}

/* Without 0400010C: §3.1 #9r (15:09:26) and #8r (25-03-14), then the
 * second time 15:09:30: the meter clock is 2025-03-14 15:09:30 local. */
static void clock_from_worked_frames(void **state)
{
    (void)state;
    struct mjob_vals v;
    memset(&v, 0, sizeof v);
    unsigned teach;
    assert_int_equal(
        answer_hex(&v, MJOB_T1,
                   "68 12 90 78 56 34 12 68 91 07 35 34 33 37 59 3C 48 CE 16"),
        AH_OK);
    assert_int_equal(v.t1.hour, 15);
    assert_int_equal(v.t1.sec, 26);
    assert_int_equal(mjob_after(&v, MJOB_T1, true, &teach), MJOB_DATE);
    assert_int_equal(
        answer_hex(&v, MJOB_DATE,
                   "68 12 90 78 56 34 12 68 91 08 34 34 33 37 38 47 36 58 FE 16"),
        AH_OK);
    assert_true(v.have_date);
    assert_int_equal(v.date.day, 14);
    assert_false(v.have_clock);
    assert_int_equal(mjob_after(&v, MJOB_DATE, true, &teach), MJOB_T2);
    const uint8_t t2[] = {0x30, 0x09, 0x15}; /* ss mm hh */
    assert_int_equal(answer_data(&v, MJOB_T2, t2, sizeof t2), AH_OK);
    assert_true(v.have_clock);
    assert_int_equal(v.clock_ms, (T0 + 15 * 3600 + 9 * 60 + 30 - TZ) * 1000);
    assert_int_equal(v.clock_at_ms, HE);
    assert_int_equal(mjob_after(&v, MJOB_T2, true, &teach), MJOB_V);
    assert_int_equal(teach, 0);
    /* 0400010C: the same moment in one item (ss mm hh WW DD MM YY) */
    struct mjob_vals w;
    memset(&w, 0, sizeof w);
    const uint8_t dt[] = {0x30, 0x09, 0x15, 0x05, 0x14, 0x03, 0x25};
    assert_int_equal(answer_data(&w, MJOB_DT, dt, sizeof dt), AH_OK);
    assert_true(w.have_clock);
    assert_int_equal(w.clock_ms, v.clock_ms);
}

/* Time, date, time around local midnight: read once more, then clear of
 * it; §3.1 #5r (ERR 02) to 0400010C says the meter lacks the item. */
static void clock_midnight_and_err(void **state)
{
    (void)state;
    struct mjob_vals v;
    memset(&v, 0, sizeof v);
    unsigned teach;
    const uint8_t t1[] = {0x50, 0x59, 0x23}, d[] = {0x06, 0x15, 0x03, 0x25},
                  t2[] = {0x20, 0x00, 0x00}, t3[] = {0x50, 0x00, 0x00};
    assert_int_equal(answer_data(&v, MJOB_T1, t1, 3), AH_OK);
    assert_int_equal(answer_data(&v, MJOB_DATE, d, 4), AH_OK);
    assert_int_equal(answer_data(&v, MJOB_T2, t2, 3), AH_OK);
    assert_false(v.have_clock);
    assert_int_equal(mjob_after(&v, MJOB_T2, true, &teach), MJOB_T1);
    assert_int_equal(teach, MJOB_TEACH_CLOCK_AGAIN);
    assert_int_equal(answer_data(&v, MJOB_T1, t2, 3), AH_OK);
    assert_int_equal(answer_data(&v, MJOB_DATE, d, 4), AH_OK);
    assert_int_equal(answer_data(&v, MJOB_T2, t3, 3), AH_OK);
    assert_true(v.have_clock);
    assert_int_equal(v.clock_ms, (T0 + 86400 + 50 - TZ) * 1000);
    /* once again is all: a second straddle goes on without a clock */
    assert_int_equal(mjob_after(&v, MJOB_T2, true, &teach), MJOB_V);
    assert_int_equal(teach, 0);

    uint8_t fr[64], p[64];
    int err;
    size_t n = reply_payload(fr, ut_unhex("68 12 90 78 56 34 12 68 D1 01 35 8D 16", fr),
                             MJOB_DT, p, &err);
    assert_int_equal(n, 0);
    assert_int_equal(err, DLT645_ERR_NO_DATA);
    assert_int_equal(mjob_after(&v, MJOB_DT, false, &teach), MJOB_T1);
    assert_int_equal(teach, MJOB_TEACH_NO_DT);
}

/* V, I, status words, event counts, the freeze and the meter number, each
 * from its reply's bytes; a reply that does not fit its DI changes nothing. */
static void values_from_bytes(void **state)
{
    (void)state;
    struct mjob_vals v;
    memset(&v, 0, sizeof v);
    const uint8_t volt[] = {0x01, 0x23, 0x98, 0x22, 0x00, 0x23}; /* XXX.X */
    assert_int_equal(answer_data(&v, MJOB_V, volt, sizeof volt), AH_OK);
    assert_int_equal(v.v_ph, 7);
    assert_int_equal(v.volt[0], 2301);
    assert_int_equal(v.volt[1], 2298);
    /* §3.1 #3r's −1.234 A, then 5.000 and 0.010 A (XXX.XXX, sign bit) */
    const uint8_t curr[] = {0x34, 0x12, 0x80, 0x00, 0x50, 0x00, 0x10, 0x00, 0x00};
    assert_int_equal(answer_data(&v, MJOB_I, curr, sizeof curr), AH_OK);
    assert_int_equal(v.i_ph, 7);
    assert_int_equal(v.curr[0], -1234);
    assert_int_equal(v.curr[1], 5000);
    assert_int_equal(v.curr[2], 10);
    const uint8_t st[14] = {0x04, 0x00, [2] = 0x01};
    assert_int_equal(answer_data(&v, MJOB_STATUS, st, sizeof st), AH_OK);
    assert_true(v.have_status);
    assert_int_equal(v.status[0], 4);
    assert_int_equal(v.status[1], 1);
    const uint8_t three[] = {0x03, 0x00, 0x00}, two[] = {0x02, 0x00, 0x00};
    assert_int_equal(answer_data(&v, MJOB_COVER, three, 3), AH_OK);
    assert_false(v.have_cover); /* the pair needs the terminal's count */
    assert_int_equal(answer_data(&v, MJOB_TERMINAL, two, 3), AH_OK);
    assert_true(v.have_cover);
    assert_int_equal(v.cover, 3);
    assert_int_equal(v.terminal, 2);
    assert_int_equal(answer_data(&v, MJOB_CLEARED, two, 3), AH_OK);
    assert_true(v.have_cleared);
    /* the freeze's energy without its time is unplaced */
    const uint8_t fwd[20] = {0x67, 0x45, 0x23, 0x01};
    assert_int_equal(answer_data(&v, MJOB_FRZ_E, fwd, sizeof fwd), AH_OK);
    assert_false(v.have_frz);
    const uint8_t at[] = {0x00, 0x00, 0x14, 0x03, 0x25}; /* mm hh DD MM YY */
    assert_int_equal(answer_data(&v, MJOB_FRZ_T, at, sizeof at), AH_OK);
    assert_int_equal(answer_data(&v, MJOB_FRZ_E, fwd, sizeof fwd), AH_OK);
    assert_true(v.have_frz);
    assert_int_equal(v.frz_at, T0 - TZ);
    assert_int_equal(v.frz_fwd, 1234567);
    const uint8_t num[] = {0x34, 0x12, 0x00, 0x00, 0x00, 0x00};
    assert_int_equal(answer_data(&v, MJOB_NUMBER, num, sizeof num), AH_OK);
    assert_true(v.have_number);
    assert_int_equal(v.number, 1234);
    /* five bytes are no voltage block: refused, nothing changed */
    struct mjob_vals before = v;
    assert_int_equal(answer_data(&v, MJOB_V, volt, 5), AH_EFRAME);
    assert_memory_equal(&before, &v, sizeof v);
    assert_int_equal(mjob_on_answer(&v, MJOB_LIVE, volt, 6, TZ, HE), AH_EINVAL);
}

/* One answer to 06000001 N=5 from 00:15 (one frame; 12H follow-ups are the
 * session's): the record asked, one marked invalid, one off the interval
 * grid, one stamped before the request (issue 17 item 6) and the next
 * interval's; then the end of the answer, and bytes that are no block. */
static void load_records_from_bytes(void **state)
{
    (void)state;
    struct dlt645_load_record in;
    memset(&in, 0, sizeof in);
    in.classes = 0x08; /* class 4: energies */
    in.na = 1ull << DLT645_LR_E_CR1 | 1ull << DLT645_LR_E_CR2;
    const uint8_t hm[5][2] = {{0, 15}, {0, 30}, {0, 37}, {0, 0}, {0, 30}};
    uint8_t data[600];
    size_t len = 0;
    for (int i = 0; i < 5; i++) {
        in.t = (struct dlt645_tm){
            .year = 25, .mon = 3, .day = 14, .hour = hm[i][0], .min = hm[i][1]};
        if (i == 3)
            in.t.day = 13; /* the day before: 24 h early */
        in.invalid = i == 1;
        in.e_fwd = 1000 + i;
        int k = dlt645_lr_encode(&in, data + len, sizeof data - len);
        assert_true(k > 0);
        len += (size_t)k;
    }
    uint8_t fr[700], p[700];
    struct dlt645_addr a;
    int err;
    assert_int_equal(dlt645_addr_parse(ADDR, &a), AH_OK);
    int fl = dlt645_reply_read(fr, sizeof fr, 0, &a, MJOB_DI_LOAD_REC, false, data, len);
    assert_true(fl > 0);
    size_t n = reply_payload(fr, (size_t)fl, MJOB_LR, p, &err);
    assert_int_equal(n, len);
    const struct mjob_lr_want w = {.asked = T0 - TZ + 900,
                                   .top = T0 - TZ + 3600,
                                   .step = 900,
                                   .tz_s = TZ,
                                   .slack = 60};
    const enum mjob_lr_kind want[5] = {MJOB_LR_READ, MJOB_LR_INVALID, MJOB_LR_OFF_GRID,
                                       MJOB_LR_STALE, MJOB_LR_READ};
    size_t off = 0;
    struct mjob_lr_rec lr;
    for (int i = 0; i < 5; i++) {
        assert_int_equal(mjob_lr_next(p, n, &off, &w, &lr), AH_OK);
        assert_int_equal(lr.kind, want[i]);
        assert_int_equal(lr.r.e_fwd, 1000 + i);
    }
    assert_int_equal(lr.end, T0 - TZ + 1800);
    assert_int_equal(mjob_lr_next(p, n, &off, &w, &lr), AH_EAGAIN);
    /* past top (a record of the head-end's future) is off the grid too */
    struct mjob_lr_want early = w;
    early.top = T0 - TZ + 900;
    off = 0;
    for (int i = 0; i < 5; i++)
        assert_int_equal(mjob_lr_next(p, n, &off, &early, &lr), AH_OK);
    assert_int_equal(lr.kind, MJOB_LR_OFF_GRID);
    /* a block cut short is no block */
    off = 0;
    assert_true(mjob_lr_next(p, 20, &off, &w, &lr) < 0);
    assert_int_equal(off, 0);
}

/* Which records the live job reads: the live record when the store lacks
 * it, a short backlog first, a long one left to backfill (its live read
 * deferred); a list cut at its cap lacks the live record too. */
static void live_plan(void **state)
{
    (void)state;
    const int64_t live = T0;
    uint64_t g[8] = {0};
    struct mjob_live_plan pl;
    mjob_live_plan(g, 0, 8, live, 4, &pl); /* all stored */
    assert_false(pl.live_missing);
    assert_int_equal(pl.backlog, 0);
    assert_false(pl.inline_gaps || pl.defer);
    g[0] = (uint64_t)live;
    mjob_live_plan(g, 1, 8, live, 4, &pl); /* only the live record */
    assert_true(pl.live_missing);
    assert_int_equal(pl.backlog, 0);
    assert_false(pl.inline_gaps || pl.defer);
    for (int i = 0; i < 5; i++)
        g[i] = (uint64_t)(live - (4 - i) * 900);
    mjob_live_plan(g, 5, 8, live, 4, &pl); /* four before it: inline */
    assert_true(pl.live_missing);
    assert_int_equal(pl.backlog, 4);
    assert_true(pl.inline_gaps);
    assert_false(pl.defer);
    mjob_live_plan(g, 4, 8, live, 4, &pl); /* four old gaps, the live read stored */
    assert_false(pl.live_missing);
    assert_int_equal(pl.backlog, 4);
    assert_true(pl.inline_gaps);
    for (int i = 0; i < 6; i++)
        g[i] = (uint64_t)(live - (5 - i) * 900);
    mjob_live_plan(g, 6, 8, live, 4, &pl); /* five before it: backfill's */
    assert_int_equal(pl.backlog, 5);
    assert_false(pl.inline_gaps);
    assert_true(pl.defer);
    mjob_live_plan(g, 9, 8, live, 4, &pl); /* cut at the cap */
    assert_true(pl.live_missing);
    assert_int_equal(pl.backlog, 8);
    assert_true(pl.defer);
}

/* The job's requests are the reference's bytes: §3.1 #10 (06000001 N=1
 * from 2025-03-14 00:00 local), #12 and #13 (the daily freeze). */
static void requests_are_worked_frames(void **state)
{
    (void)state;
    struct dlt645_addr a;
    assert_int_equal(dlt645_addr_parse(ADDR, &a), AH_OK);
    struct {
        enum mjob_step st;
        const char *hex;
    } c[] = {
        {MJOB_LIVE,
         "FE FE FE FE 68 12 90 78 56 34 12 68 11 0A 34 33 33 39 34 33 33 47 36 "
         "58 E3 16"},
        {MJOB_FRZ_T, "FE FE FE FE 68 12 90 78 56 34 12 68 11 04 34 33 39 38 73 16"},
        {MJOB_FRZ_E, "FE FE FE FE 68 12 90 78 56 34 12 68 11 04 34 34 39 38 74 16"},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        struct mjob_req rq;
        uint8_t want[64], got[64];
        size_t wn = ut_unhex(c[i].hex, want);
        mjob_request(c[i].st, T0 - TZ, 1, TZ, &rq);
        int n = mjob_req_frame(&rq, &a, got, sizeof got);
        assert_int_equal(n, (int)wn);
        assert_memory_equal(got, want, wn);
    }
    /* a catch-up run: N blocks from the first gap's local time */
    struct mjob_req rq;
    mjob_request(MJOB_LR, T0 - TZ + 900, 9, TZ, &rq);
    assert_int_equal(rq.di, MJOB_DI_LOAD_REC);
    assert_true(rq.with_time);
    assert_int_equal(rq.n, 9);
    assert_int_equal(rq.t.hour, 0);
    assert_int_equal(rq.t.min, 15);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_job_in_order),
        cmocka_unit_test(errors_per_step),
        cmocka_unit_test(plan_skips_groups),
        cmocka_unit_test(load_record_to_rec),
        cmocka_unit_test(test_meter_local_time),
        cmocka_unit_test(test_clock_consistent),
        cmocka_unit_test(test_live_end),
        cmocka_unit_test(test_lr_run_and_learn),
        cmocka_unit_test(clock_from_worked_frames),
        cmocka_unit_test(clock_midnight_and_err),
        cmocka_unit_test(values_from_bytes),
        cmocka_unit_test(requests_are_worked_frames),
        cmocka_unit_test(load_records_from_bytes),
        cmocka_unit_test(live_plan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
