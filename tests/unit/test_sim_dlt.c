/*
 * test_sim_dlt — the simulated concentrator's DL/T 645 answers, frame in,
 * frame out, decoded with the head-end's own codec: 13H, energy, ERR 02,
 * silence, load records with 12H follow-up, 1997 reads, and each meter
 * fault as the answers show it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ah_err.h"
#include "dlt645.h"
#include "dlt645_di.h"
#include "sim_dlt.h"
#include "sim_fleet.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EPOCH 1741910400LL /* 2025-03-14T00:00:00Z */
#define TZ    (8 * 3600)
#define H     3600

static struct sim_fleet *fleet_new(uint32_t every97)
{
    struct sim_fleet *f = malloc(sizeof *f);
    struct sim_fleet_opts o = {.seed = 9,
                               .nconc = 2,
                               .per = 60,
                               .tz_s = TZ,
                               .history_days = 10,
                               .epoch_s = EPOCH,
                               .loss_ppm = -1,
                               .dlt1997_every = every97};
    assert_int_equal(sim_fleet_init(f, &o), 0);
    return f;
}

static void fleet_drop(struct sim_fleet *f)
{
    sim_fleet_free(f);
    free(f);
}

/* Send a request through sim_dlt_handle; parse the reply (0 = silence). */
static int exchange(const struct sim_fleet *f, struct sim_dlt_session *s, uint32_t conc,
                    int64_t now, const uint8_t *req, int reqlen, struct dlt645_frame *rep)
{
    struct dlt645_parser p;
    struct dlt645_frame in;
    enum dlt645_parse_status st;
    dlt645_parser_init(&p);
    size_t used = dlt645_parse(&p, req, (size_t)reqlen, &in, &st);
    assert_int_equal(st, DLT645_FRAME_OK);
    assert_int_equal(used, (size_t)reqlen);
    uint8_t out[SIM_DLT_REPLY_MAX];
    int n = sim_dlt_handle(f, conc, now, &in, s, out, sizeof out);
    assert_true(n >= 0);
    if (n == 0)
        return 0;
    dlt645_parser_init(&p);
    used = dlt645_parse(&p, out, (size_t)n, rep, &st);
    assert_int_equal(st, DLT645_FRAME_OK);
    return n;
}

static struct dlt645_addr addr_of(uint32_t conc, uint32_t idx)
{
    char d[13];
    struct dlt645_addr a;
    sim_fleet_meter_addr(conc, idx, d);
    assert_int_equal(dlt645_addr_parse(d, &a), 0);
    return a;
}

/* Read one value (or block) of a 2007 DI; returns the number of values. */
static size_t read_values(const struct sim_fleet *f, uint32_t idx, int64_t now,
                          uint32_t di, struct dlt645_value *v, size_t max)
{
    struct sim_dlt_session s;
    struct dlt645_frame rep;
    struct dlt645_reply r;
    uint8_t req[64];
    struct dlt645_addr a = addr_of(0, idx);
    sim_dlt_session_init(&s);
    int n = dlt645_req_read(req, sizeof req, &a, di);
    assert_true(exchange(f, &s, 0, now, req, n, &rep) > 0);
    assert_int_equal(dlt645_reply_classify(&rep, DLT645_2007, &a, DLT645_F_READ, di, &r),
                     0);
    assert_int_equal(r.kind, DLT645_R_DATA);
    size_t cnt = 0;
    assert_int_equal(
        dlt645_decode(di, DLT645_2007, r.payload, r.payload_len, v, max, &cnt), 0);
    return cnt;
}

static int64_t read_num(const struct sim_fleet *f, uint32_t idx, int64_t now, uint32_t di)
{
    struct dlt645_value v[16];
    assert_true(read_values(f, idx, now, di, v, 16) >= 1);
    assert_int_equal(v[0].kind, DLT645_V_NUM);
    return v[0].raw;
}

static void read_address_and_energy(void **state)
{
    (void)state;
    struct sim_fleet *f = fleet_new(0);
    struct sim_dlt_session s;
    struct dlt645_frame rep;
    uint8_t req[64];
    sim_dlt_session_init(&s);
    int n = dlt645_req_read_addr(req, sizeof req);
    assert_true(exchange(f, &s, 1, EPOCH, req, n, &rep) > 0);
    assert_int_equal(rep.ctrl, 0x93);
    char d[13];
    dlt645_addr_format(&rep.addr, d);
    assert_string_equal(d, "000000000002");
    assert_memory_equal(rep.data, rep.addr.b, 6);

    struct sim_regs g;
    sim_fleet_regs(f, 0, 3, EPOCH + 100, &g, NULL);
    assert_int_equal(read_num(f, 3, EPOCH + 100, 0x00010000),
                     sim_regs_total(&g, SIM_IMP));
    struct dlt645_value v[8];
    assert_int_equal(read_values(f, 3, EPOCH + 100, 0x0001FF00, v, 8), 5);
    assert_int_equal(v[1].raw + v[2].raw + v[3].raw + v[4].raw, v[0].raw);
    fleet_drop(f);
}

/* Issue 13: the meter clock rolls over at local midnight between two
 * requests (date read at 23:59:59, time at 00:00:01 belong to different
 * days), 0400010C gives both of one moment, and with --no-datetime-every
 * N every N-th customer meter answers it ERR 02. */
static void clock_registers_and_datetime_item(void **state)
{
    (void)state;
    struct sim_fleet *f = fleet_new(0);
    f->no_dt_every = 2;
    const int64_t midnight = EPOCH + 86400 - TZ; /* local 03-15 00:00 */
    struct dlt645_value v[2];
    assert_int_equal(read_values(f, 0, midnight - 1, 0x04000101u, v, 2), 1);
    assert_int_equal(v[0].tm.day, 14);
    assert_int_equal(read_values(f, 0, midnight + 1, 0x04000102u, v, 2), 1);
    assert_int_equal(v[0].tm.hour * 3600 + v[0].tm.min * 60 + v[0].tm.sec, 1);
    assert_int_equal(read_values(f, 0, midnight - 1, 0x0400010Cu, v, 2), 1);
    assert_int_equal(v[0].tm.day, 14);
    assert_int_equal(v[0].tm.hour, 23);
    assert_int_equal(v[0].tm.sec, 59);
    uint8_t out[256];
    assert_int_equal(
        sim_dlt_payload(f, 0, 1, midnight, 0x0400010Cu, NULL, 0, out, sizeof out),
        AH_ENOTSUP);
    assert_true(
        sim_dlt_payload(f, 0, 1, midnight, 0x04000102u, NULL, 0, out, sizeof out) > 0);
    assert_true(sim_dlt_payload(f, 0, SIM_DISTRICT_IDX, midnight, 0x0400010Cu, NULL, 0,
                                out, sizeof out) > 0);
    fleet_drop(f);
}

static void unsupported_di_err02_and_silences(void **state)
{
    (void)state;
    struct sim_fleet *f = fleet_new(0);
    struct sim_dlt_session s;
    struct dlt645_frame rep;
    uint8_t req[64];
    sim_dlt_session_init(&s);
    struct dlt645_addr a = addr_of(0, 0);
    int n = dlt645_req_read(req, sizeof req, &a, 0x0F0F0F0F);
    assert_true(exchange(f, &s, 0, EPOCH, req, n, &rep) > 0);
    assert_int_equal(rep.ctrl, 0xD1);
    assert_int_equal(rep.len, 1);
    assert_int_equal(rep.data[0], DLT645_ERR_NO_DATA);
    /* another concentrator's meter, a stranger, the broadcast address */
    n = dlt645_req_read(req, sizeof req, &a, 0x00010000);
    assert_int_equal(exchange(f, &s, 1, EPOCH, req, n, &rep), 0);
    struct dlt645_addr x;
    dlt645_addr_parse("000009000001", &x);
    n = dlt645_req_read(req, sizeof req, &x, 0x00010000);
    assert_int_equal(exchange(f, &s, 0, EPOCH, req, n, &rep), 0);
    n = dlt645_req_read(req, sizeof req, &dlt645_addr_broadcast, 0x00010000);
    assert_int_equal(exchange(f, &s, 0, EPOCH, req, n, &rep), 0);
    fleet_drop(f);
}

/* N load records from local time `local` through 11H + 12H follow-ups. */
static size_t records(const struct sim_fleet *f, uint32_t idx, int64_t now, int64_t local,
                      unsigned nrec, struct dlt645_load_record *out)
{
    struct sim_dlt_session s;
    struct dlt645_frame rep;
    struct dlt645_reply r;
    struct dlt645_reasm ra;
    struct dlt645_tm tm;
    uint8_t req[64];
    struct dlt645_addr a = addr_of(0, idx);
    sim_dlt_session_init(&s);
    dlt645_reasm_init(&ra);
    sim_dlt_tm(local, &tm);
    int n = dlt645_req_read_n_time(req, sizeof req, &a, 0x06000001, (uint8_t)nrec, &tm);
    assert_true(exchange(f, &s, 0, now, req, n, &rep) > 0);
    assert_int_equal(
        dlt645_reply_classify(&rep, DLT645_2007, &a, DLT645_F_READ, 0x06000001, &r), 0);
    assert_int_equal(dlt645_reasm_add(&ra, r.payload, r.payload_len), 0);
    uint8_t seq = 0;
    while (r.kind == DLT645_R_DATA_MORE) {
        n = dlt645_req_read_next(req, sizeof req, &a, 0x06000001, ++seq);
        assert_true(exchange(f, &s, 0, now, req, n, &rep) > 0);
        assert_int_equal(dlt645_reply_classify(&rep, DLT645_2007, &a, DLT645_F_READ_NEXT,
                                               0x06000001, &r),
                         0);
        assert_int_equal(r.seq, seq);
        assert_int_equal(dlt645_reasm_add(&ra, r.payload, r.payload_len), 0);
    }
    size_t off = 0, k = 0;
    while (off < ra.len && k < nrec) {
        size_t used;
        assert_int_equal(dlt645_lr_decode(ra.data + off, ra.len - off, &out[k], &used),
                         0);
        off += used;
        k++;
    }
    assert_int_equal(off, ra.len);
    return k;
}

static void load_records_follow_up_match_registers(void **state)
{
    (void)state;
    struct sim_fleet *f = fleet_new(0);
    struct dlt645_load_record r[6];
    int64_t t0 = EPOCH - 2 * H;
    assert_int_equal(records(f, 5, EPOCH, t0 + TZ, 6, r), 6);
    for (int i = 0; i < 6; i++) {
        struct sim_regs g;
        sim_fleet_regs(f, 0, 5, t0 + 900 * i, &g, NULL);
        assert_int_equal(r[i].e_fwd, sim_regs_total(&g, SIM_IMP));
        assert_int_equal(r[i].t.min, (i * 15) % 60);
        if (i)
            assert_true(r[i].e_fwd >= r[i - 1].e_fwd);
    }
    fleet_drop(f);
}

static void meter_1997_answers_01h_only(void **state)
{
    (void)state;
    struct sim_fleet *f = fleet_new(2); /* indices 1, 3, 5 … speak 1997 */
    struct sim_dlt_session s;
    struct dlt645_frame rep;
    struct dlt645_reply r;
    uint8_t req[64];
    sim_dlt_session_init(&s);
    struct dlt645_addr a = addr_of(0, 1);
    int n = dlt645_req_read(req, sizeof req, &a, 0x00010000);
    assert_int_equal(exchange(f, &s, 0, EPOCH, req, n, &rep), 0);
    n = dlt645_req_read_1997(req, sizeof req, &a, 0x9010);
    assert_true(exchange(f, &s, 0, EPOCH, req, n, &rep) > 0);
    assert_int_equal(rep.ctrl, 0x81);
    assert_int_equal(
        dlt645_reply_classify(&rep, DLT645_1997, &a, DLT645_97_READ, 0x9010, &r), 0);
    struct dlt645_value v[2];
    size_t cnt;
    assert_int_equal(
        dlt645_decode(0x9010, DLT645_1997, r.payload, r.payload_len, v, 2, &cnt), 0);
    struct sim_regs g;
    sim_fleet_regs(f, 0, 1, EPOCH, &g, NULL);
    assert_int_equal(v[0].raw, sim_regs_total(&g, SIM_IMP));
    fleet_drop(f);
}

/* ---- faults, as the answers show them --------------------------------- */

static uint32_t busy(const struct sim_fleet *f, bool three)
{
    for (uint32_t j = 0; j < f->per; j++) {
        const struct sim_meter *m = sim_fleet_meter(f, 0, j);
        double s = m->mean[0][0] + m->mean[0][1] + m->mean[0][2] + m->mean[0][3];
        if (m->fault < 0 && !m->pv && s > 300 && (!three || m->wiring == SIM_3P4W) &&
            m->proto == 2007)
            return j;
    }
    fail();
    return 0;
}

static uint32_t inject(struct sim_fleet *f, int type, bool three, int64_t from,
                       int64_t to, double p, int32_t arg)
{
    uint32_t j = busy(f, three);
    struct sim_fault ft = {.type = (uint8_t)type,
                           .conc = 0,
                           .meter = j,
                           .from = from,
                           .to = to,
                           .p = p,
                           .arg = arg};
    assert_int_equal(sim_fleet_add_fault(f, &ft), 0);
    return j;
}

#define NOW     (EPOCH + 60)
#define W0      (EPOCH - 6 * H)
#define FOREVER (INT64_MAX / 4)

static void faults_in_answers(void **state)
{
    (void)state;
    struct sim_fleet *f = fleet_new(0);
    uint32_t stopped = inject(f, SIM_F_STOPPED, false, W0, EPOCH - 2 * H, 0, 0);
    uint32_t rev = inject(f, SIM_F_REVERSED, false, W0, FOREVER, 0, 0);
    uint32_t back = inject(f, SIM_F_BACKWARDS, false, W0, FOREVER, 0, 0);
    uint32_t creep = inject(f, SIM_F_CREEPING, false, W0, FOREVER, 0, 0);
    uint32_t imb = inject(f, SIM_F_IMBALANCE, true, W0, FOREVER, 0, 0);
    uint32_t loss = inject(f, SIM_F_PHASE_LOSS, true, W0, FOREVER, 0, 2);
    uint32_t drift = inject(f, SIM_F_CLOCK_DRIFT, false, W0, FOREVER, 0, 600);
    uint32_t theft = inject(f, SIM_F_THEFT, false, W0, FOREVER, 0.4, 0);
    uint32_t miss = inject(f, SIM_F_MISSING, false, W0, EPOCH + H, 0, 0);
    const struct sim_meter *mj = sim_fleet_meter(f, 0, busy(f, false));
    double jump = (double)(5 * sim_meter_emax(mj)) / 100.0;
    uint32_t jmp = inject(f, SIM_F_JUMPING, false, EPOCH - 30, FOREVER, jump, 0);
    struct dlt645_value v[16];
    struct dlt645_load_record r[8];

    /* stopped: records frozen while current flows */
    assert_int_equal(records(f, stopped, NOW, W0 + 900 + TZ, 4, r), 4);
    assert_int_equal(r[0].e_fwd, r[3].e_fwd);
    assert_true(r[1].curr[0] != 0 || r[1].curr[1] != 0);
    /* reversed CT: negative current, reverse register grows, SW1 D4 */
    assert_true(read_num(f, rev, NOW, 0x02020100) < 0);
    assert_true(read_num(f, rev, NOW, 0x00020000) > read_num(f, rev, W0, 0x00020000));
    read_values(f, rev, NOW, 0x04000501, v, 1);
    assert_true(v[0].bits & 0x10);
    /* backwards: the forward register decreases */
    assert_true(read_num(f, back, NOW, 0x00010000) < read_num(f, back, W0, 0x00010000));
    /* creeping: advances with no current */
    assert_int_equal(read_num(f, creep, NOW, 0x02020100), 0);
    assert_true(read_num(f, creep, NOW, 0x00010000) >
                read_num(f, creep, W0 + 3 * H, 0x00010000));
    /* imbalance: currents 75/18/7 */
    assert_int_equal(read_values(f, imb, NOW, 0x0202FF00, v, 3), 3);
    assert_true(v[0].raw > 3 * v[1].raw && v[1].raw > v[2].raw);
    /* phase loss C: Uc near 0 under load, SW6 D0 */
    assert_int_equal(read_values(f, loss, NOW, 0x0201FF00, v, 3), 3);
    assert_true(v[2].raw < 100 && v[0].raw > 2000);
    assert_true(read_num(f, loss, NOW, 0x02020300) != 0);
    read_values(f, loss, NOW, 0x04000506, v, 1);
    assert_true(v[0].bits & 1);
    /* clock drift: the meter's time is 600 s ahead */
    read_values(f, drift, NOW, 0x04000102, v, 1);
    int64_t shown = v[0].tm.hour * 3600 + v[0].tm.min * 60 + v[0].tm.sec;
    assert_int_equal(shown, (NOW + TZ + 600) % 86400);
    /* theft: a cover-open event, 40 % of the truth registered */
    assert_int_equal(read_num(f, theft, NOW, 0x03300D00), 1);
    struct sim_regs a, b, ta, tb;
    sim_fleet_regs(f, 0, theft, W0, &a, &ta);
    sim_fleet_regs(f, 0, theft, NOW, &b, &tb);
    int64_t adv =
        read_num(f, theft, NOW, 0x00010000) - read_num(f, theft, W0, 0x00010000);
    int64_t tadv = sim_regs_total(&tb, SIM_IMP) - sim_regs_total(&ta, SIM_IMP);
    assert_true(llabs(adv * 10 - tadv * 4) <= 40);
    /* missing: silent while unpowered; power-down event afterwards */
    struct sim_dlt_session s;
    struct dlt645_frame rep;
    uint8_t req[64];
    struct dlt645_addr am = addr_of(0, miss);
    sim_dlt_session_init(&s);
    int n = dlt645_req_read(req, sizeof req, &am, 0x00010000);
    assert_int_equal(exchange(f, &s, 0, NOW, req, n, &rep), 0);
    assert_true(read_num(f, miss, EPOCH + 2 * H, 0x03110000) >= 1);
    /* jumping: one read to the next differs by more than 1.2 × Emax */
    int64_t j0 = read_num(f, jmp, EPOCH - 60, 0x00010000);
    int64_t j1 = read_num(f, jmp, EPOCH, 0x00010000);
    assert_true((double)(j1 - j0) >
                1.2 * (double)sim_meter_emax(sim_fleet_meter(f, 0, jmp)));
    fleet_drop(f);
}

/* A clock that jumps forward (clock_drift starting: +30 min) passes over
 * the grid times in between: a real meter writes no record for them, and
 * each record it writes holds the registers of the moment its clock showed
 * the stamp, never older than the record before. */
static void clock_jump_skips_records(void **state)
{
    (void)state;
    struct sim_fleet *f = fleet_new(0);
    int64_t jump = EPOCH - 4 * H;
    uint32_t j = inject(f, SIM_F_CLOCK_DRIFT, false, jump, FOREVER, 0, 1800);
    struct dlt645_load_record r[10];
    size_t n = records(f, j, NOW, jump - H + TZ, 10, r);
    assert_int_equal(n, 10);
    for (size_t i = 0; i < n; i++) {
        struct tm b = {.tm_year = r[i].t.year + 100,
                       .tm_mon = r[i].t.mon - 1,
                       .tm_mday = r[i].t.day,
                       .tm_hour = r[i].t.hour,
                       .tm_min = r[i].t.min};
        int64_t stamp = (int64_t)timegm(&b) - TZ; /* the stamp as UTC */
        /* nothing stamped inside the jump */
        assert_false(stamp >= jump && stamp < jump + 1800);
        int64_t when = stamp >= jump ? stamp - 1800 : stamp;
        struct sim_regs g;
        sim_fleet_regs(f, 0, j, when, &g, NULL);
        assert_int_equal(r[i].e_fwd, sim_regs_total(&g, SIM_IMP) % SIM_REG_WRAP);
        if (i)
            assert_true(r[i].e_fwd >= r[i - 1].e_fwd);
    }
    /* four before the jump, the first after it stamped jump + 30 min */
    assert_int_equal(r[3].t.min, 45);
    assert_int_equal(r[4].t.min, 30);
    fleet_drop(f);
}

/* Load-record firmware (issue 16 item 2): most meters send the N blocks
 * asked for through 12H follow-ups; lr_single refuses N > 1 with ERR 02
 * (N = 1 works), lr_truncate sends at most `blocks` whatever N says. */
/* A healthy busy meter other than a and b. */
static uint32_t plain_of(const struct sim_fleet *f, uint32_t a, uint32_t b)
{
    for (uint32_t j = 0; j < f->per; j++) {
        const struct sim_meter *m = sim_fleet_meter(f, 0, j);
        if (j != a && j != b && m->fault < 0 && m->proto == 2007)
            return j;
    }
    fail();
    return 0;
}

static void load_record_firmware_limits(void **state)
{
    (void)state;
    struct sim_fleet *f = fleet_new(0);
    uint32_t single = inject(f, SIM_F_LR_SINGLE, false, W0, FOREVER, 0, 0);
    uint32_t trunc = inject(f, SIM_F_LR_TRUNCATE, false, W0, FOREVER, 0, 2);
    uint32_t plain = busy(f, false);
    struct dlt645_load_record r[9];
    int64_t t0 = EPOCH - 4 * H + TZ;

    struct sim_dlt_session s;
    struct dlt645_frame rep;
    struct dlt645_reply rr;
    struct dlt645_tm tm;
    uint8_t req[64];
    struct dlt645_addr a = addr_of(0, single);
    sim_dlt_session_init(&s);
    sim_dlt_tm(t0, &tm);
    int n = dlt645_req_read_n_time(req, sizeof req, &a, 0x06000001, 9, &tm);
    assert_true(exchange(f, &s, 0, NOW, req, n, &rep) > 0);
    assert_int_equal(
        dlt645_reply_classify(&rep, DLT645_2007, &a, DLT645_F_READ, 0x06000001, &rr), 0);
    assert_int_equal(rr.kind, DLT645_R_ERROR);
    assert_int_equal(rr.err, DLT645_ERR_NO_DATA);
    assert_int_equal(records(f, single, NOW, t0, 1, r), 1);

    /* a follow-up asked again (its reply lost) is the same chunk again */
    a = addr_of(0, plain_of(f, single, trunc));
    sim_dlt_session_init(&s);
    n = dlt645_req_read_n_time(req, sizeof req, &a, 0x06000001, 9, &tm);
    assert_true(exchange(f, &s, 0, NOW, req, n, &rep) > 0);
    uint8_t first[DLT645_MAX_DATA];
    size_t first_len = 0;
    for (int k = 0; k < 2; k++) {
        n = dlt645_req_read_next(req, sizeof req, &a, 0x06000001, 1);
        assert_true(exchange(f, &s, 0, NOW, req, n, &rep) > 0);
        assert_int_equal(dlt645_reply_classify(&rep, DLT645_2007, &a, DLT645_F_READ_NEXT,
                                               0x06000001, &rr),
                         0);
        assert_int_equal(rr.kind, DLT645_R_DATA_MORE);
        assert_int_equal(rr.seq, 1);
        if (k == 0) {
            memcpy(first, rr.payload, rr.payload_len);
            first_len = rr.payload_len;
        } else {
            assert_int_equal(rr.payload_len, first_len);
            assert_memory_equal(rr.payload, first, first_len);
        }
    }

    assert_int_equal(records(f, trunc, NOW, t0, 9, r), 2);
    assert_int_equal(r[1].t.min, 15);
    assert_int_equal(records(f, plain, NOW, t0, 9, r), 9);
    assert_int_equal(r[8].t.hour, (r[0].t.hour + 2) % 24);
    fleet_drop(f);
}

/* sim_dlt_payload of a meter the fleet does not have says so (AH_ENOENT):
 * it used to look up the clock offset of the missing meter first and
 * crash on the NULL meter. */
static void payload_of_unknown_meter(void **state)
{
    (void)state;
    struct sim_fleet *f = fleet_new(0);
    uint8_t out[256];
    assert_int_equal(
        sim_dlt_payload(f, 0, 60, EPOCH, 0x00010000u, NULL, 0, out, sizeof out),
        AH_ENOENT);
    assert_int_equal(
        sim_dlt_payload(f, 2, 0, EPOCH, 0x04000102u, NULL, 0, out, sizeof out),
        AH_ENOENT);
    assert_true(sim_dlt_payload(f, 1, 59, EPOCH, 0x00010000u, NULL, 0, out, sizeof out) >
                0);
    fleet_drop(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(read_address_and_energy),
        cmocka_unit_test(clock_registers_and_datetime_item),
        cmocka_unit_test(unsupported_di_err02_and_silences),
        cmocka_unit_test(load_records_follow_up_match_registers),
        cmocka_unit_test(meter_1997_answers_01h_only),
        cmocka_unit_test(faults_in_answers),
        cmocka_unit_test(clock_jump_skips_records),
        cmocka_unit_test(load_record_firmware_limits),
        cmocka_unit_test(payload_of_unknown_meter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
