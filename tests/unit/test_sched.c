/*
 * test_sched — the engine against the real parts: which intervals of the
 * backfill window a cycle asks for (through the pipeline's writer on a real
 * store), a serial port that hangs up; the Modbus
 * link threads' register-to-record mapping (mbpoll_to_read) and the
 * non-blocking connect and listening socket the loop uses (link_).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <math.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>

#include "ah_clock.h"
#include "ah_err.h"
#include "cadence.h"
#include "config.h"
#include "link.h"
#include "mbmap.h"
#include "mbpoll.h"
#include "pipeline.h"
#include "scheduler.h"
#include "dlt645.h"
#include "store.h"
#include "store_rec.h"
#include "ut_forge.h"

/* 2025-03-14T00:00:00Z */
#define T0 1741910400LL

/* A cycle asks only for the intervals of its window the store lacks, and a
 * read pushed through the pipeline is no longer asked for once written. */
static void test_backfill_asks_only_gaps(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_sched.XXXXXX";
    assert_non_null(mkdtemp(dir));
    store_t *st = NULL;
    assert_int_equal(store_open(dir, NULL, &st), AH_OK);
    uint32_t m;
    assert_int_equal(store_meter_index(st, "000001000001", true, &m), AH_OK);
    pipe_t *p = NULL;
    assert_int_equal(pipe_start(st, false, &p), AH_OK);

    int64_t from, to;
    cadence_window(T0 + 420, 900, 1, &from, &to);
    uint64_t gaps[SCHED_BACKFILL_PER_CYCLE];
    size_t n = 0;
    assert_int_equal(pipe_missing_intervals(p, m, (uint64_t)from, (uint64_t)to, 900, gaps,
                                            SCHED_BACKFILL_PER_CYCLE, &n),
                     AH_OK);
    assert_int_equal(n, 97);
    assert_int_equal(gaps[0], (uint64_t)(T0 - 86400));
    assert_int_equal(gaps[96], (uint64_t)T0);

    /* every interval but 23:00 and 23:15 of the previous day arrives */
    for (size_t i = 0; i < 97; i++) {
        if (gaps[i] == (uint64_t)(T0 - 3600) || gaps[i] == (uint64_t)(T0 - 2700))
            continue;
        struct pipe_read r;
        memset(&r, 0, sizeof r);
        r.meter = m;
        r.read.end = gaps[i];
        r.read.source = AH_READ_BACKFILL;
        r.read.ct = r.read.pt = 1;
        r.read.present = AH_READ_HAS_IMP_TOTAL;
        r.read.imp_total = 5737040 + (int64_t)i;
        assert_int_equal(pipe_push(p, &r), AH_OK);
    }
    assert_int_equal(pipe_stop(&p), AH_OK); /* drains the queue */
    assert_null(p);
    assert_int_equal(pipe_start(st, false, &p), AH_OK);
    assert_int_equal(pipe_missing_intervals(p, m, (uint64_t)from, (uint64_t)to, 900, gaps,
                                            SCHED_BACKFILL_PER_CYCLE, &n),
                     AH_OK);
    assert_int_equal(n, 2);
    assert_int_equal(gaps[0], (uint64_t)(T0 - 3600));
    assert_int_equal(gaps[1], (uint64_t)(T0 - 2700));
    struct pipe_stats ps;
    pipe_get_stats(p, &ps);
    assert_int_equal(ps.pushed, 0);
    assert_int_equal(pipe_stop(&p), AH_OK);
    struct ah_read got;
    assert_int_equal(store_get_read(st, m, (uint64_t)T0, &got), AH_OK);
    assert_int_equal(got.imp_total, 5737040 + 96);
    store_close(&st);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static size_t qty_index(const struct mbmap *m, const char *name)
{
    for (size_t i = 0; i < m->n_qty; i++)
        if (strcmp(m->qty[i].name, name) == 0)
            return i;
    fail_msg("map %s has no %s", m->name, name);
    return 0;
}

/* An SDM630 read as the meter's display shows it (protocols.md §4.2):
 * 230.1 V, 5.25 A, 1203.5 W, PF 0.982 on L1, 50.02 Hz, import 12345.67 kWh,
 * export 0.5 kWh; the record holds 0.01 kWh, 0.1 V, mA, 0.1 W, 0.001, 0.01 Hz. */
static void test_modbus_sdm630_to_record(void **state)
{
    (void)state;
    const struct mbmap *m = mbmap_find("sdm630");
    assert_non_null(m);
    double v[MBMAP_MAX_QTY];
    for (size_t i = 0; i < MBMAP_MAX_QTY; i++)
        v[i] = NAN; /* quantities the meter did not give stay absent */
    v[qty_index(m, "voltage_l1")] = 230.1;
    v[qty_index(m, "current_l1")] = 5.25;
    v[qty_index(m, "active_power_l1")] = 1203.5;
    v[qty_index(m, "power_factor_l1")] = 0.982;
    v[qty_index(m, "active_power_total")] = -150.0;
    v[qty_index(m, "frequency")] = 50.02;
    v[qty_index(m, "import_active_energy")] = 12345.67;
    v[qty_index(m, "export_active_energy")] = 0.5;
    struct ah_read r;
    memset(&r, 0, sizeof r);
    mbpoll_to_read(m, v, &r);
    assert_int_equal(r.voltage[0], 2301);
    assert_int_equal(r.current[0], 5250);
    assert_int_equal(r.p[AH_READ_A], 12035);
    assert_int_equal(r.p[AH_READ_TOTAL], -1500);
    assert_int_equal(r.pf[AH_READ_A], 982);
    assert_int_equal(r.freq, 5002);
    assert_int_equal(r.imp_total, 1234567);
    assert_int_equal(r.exp_total, 50);
    uint64_t want = AH_READ_HAS_VOLTAGE(0) | AH_READ_HAS_CURRENT(0) |
                    AH_READ_HAS_P(AH_READ_A) | AH_READ_HAS_P(AH_READ_TOTAL) |
                    AH_READ_HAS_PF(AH_READ_A) | AH_READ_HAS_FREQ | AH_READ_HAS_IMP_TOTAL |
                    AH_READ_HAS_EXP_TOTAL;
    assert_int_equal(r.present, want);
    assert_int_equal(r.voltage[1], 0); /* L2 was NaN: absent, stored as 0 */
}

/* The loop's TCP connect never blocks: to a listener it is connected at
 * once or settles writable; to a closed port it fails, at once or when
 * settled. */
static void test_nonblocking_connect(void **state)
{
    (void)state;
    int port = 0;
    int lfd = link_listen_tcp("127.0.0.1:0", &port);
    assert_true(lfd >= 0);
    assert_true(port > 0);
    char hp[64];
    snprintf(hp, sizeof hp, "127.0.0.1:%d", port);
    link_t *l = link_new_tcp(hp);
    assert_non_null(l);
    int rc = link_connect_start(l);
    assert_true(rc == AH_OK || rc == AH_EAGAIN);
    if (rc == AH_EAGAIN) {
        struct pollfd pfd = {.fd = link_fd(l), .events = POLLOUT};
        assert_int_equal(poll(&pfd, 1, 2000), 1);
        assert_int_equal(link_connect_finish(l), AH_OK);
    }
    struct pollfd lp = {.fd = lfd, .events = POLLIN};
    assert_int_equal(poll(&lp, 1, 2000), 1);
    int afd = accept(lfd, NULL, NULL);
    assert_true(afd >= 0);
    const uint8_t hello[] = {0xFE, 0xFE, 0x68};
    assert_int_equal(link_write_all(l, hello, sizeof hello, 1000), AH_OK);
    uint8_t got[8];
    assert_int_equal(read(afd, got, sizeof got), 3);
    close(afd);
    link_destroy(&l);
    close(lfd);

    /* the listener is gone: the port refuses */
    l = link_new_tcp(hp);
    rc = link_connect_start(l);
    if (rc == AH_EAGAIN) {
        struct pollfd pfd = {.fd = link_fd(l), .events = POLLOUT};
        assert_int_equal(poll(&pfd, 1, 2000), 1);
        rc = link_connect_finish(l);
    }
    assert_int_equal(rc, AH_ECONNREFUSED);
    assert_int_equal(link_fd(l), -1);
    link_destroy(&l);
}

/* ---- issue 15 Fix: a serial port that hangs up ---------------------- */

/* The config of a one-meter serial link on the pty slave dev, in dir:
 * storage dir/store, no backfill, 10 s timeouts; extra: more schedule
 * lines. */
static struct cfg *pty_config(const char *dir, const char *dev, const char *extra)
{
    char yaml[PATH_MAX + 32], csv[PATH_MAX + 32];
    snprintf(yaml, sizeof yaml, "%s/amihead.yaml", dir);
    snprintf(csv, sizeof csv, "%s/meters.csv", dir);
    FILE *f = fopen(yaml, "w");
    assert_non_null(f);
    fprintf(f,
            "inventory: meters.csv\nstorage:\n  path: %s/store\n  sync: false\n"
            "schedule:\n  timeout_ms: 10000\n  retries: 0\n  backfill_days: 0\n"
            "  stagger_s: 0\n%sexport:\n  pub: tcp://127.0.0.1:1\n"
            "  replay: tcp://127.0.0.1:2\nmetrics:\n  listen: \"\"\n"
            "links:\n  - name: bus1\n    type: dlt645-serial\n    device: %s\n",
            dir, extra, dev);
    fclose(f);
    f = fopen(csv, "w");
    assert_non_null(f);
    fprintf(f, "meter_id,protocol,link,address,unit_id,map,wiring,ct,pt,rated_current,"
               "max_current,nominal_voltage,district,class,role,bidirectional\n"
               "000001000001,dlt645-2007,bus1,000001000001,,,1P2W,1,1,5.0,60.0,220.0,"
               "d0,C,customer,no\n");
    fclose(f);
    struct cfg_diag d;
    cfg_diag_init(&d);
    struct cfg *cfg = NULL;
    int rc = cfg_load(yaml, &cfg, &d);
    if (rc != AH_OK)
        fail_msg("config: %s", d.n ? d.msg[0] : ah_strerror(rc));
    return cfg;
}

struct hup_ctx {
    int master;
    unsigned ticks;
};

/* The first pass of the loop (the port is open): the adapter is pulled. */
static bool hup_tick(sched_t *s, void *arg)
{
    (void)s;
    struct hup_ctx *h = arg;
    if (++h->ticks == 2 && h->master >= 0) {
        close(h->master);
        h->master = -1;
    }
    return false;
}

/* A pty whose master closes: epoll reports HUP while read() returns 0 (a
 * USB adapter pulled). The link must go down at once, not leave the loop
 * spinning on the hang-up until a write fails (the request's timeout here
 * is 10 s, the run 1.5 s). */
static void test_serial_hangup_drops_link(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_sched_hup.XXXXXX";
    assert_non_null(mkdtemp(dir));
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    assert_true(master >= 0);
    assert_int_equal(grantpt(master), 0);
    assert_int_equal(unlockpt(master), 0);
    struct cfg *cfg = pty_config(dir, ptsname(master), "");
    store_t *st = NULL;
    assert_int_equal(store_open(cfg->storage.path, NULL, &st), AH_OK);
    uint32_t m;
    assert_int_equal(store_meter_index(st, "000001000001", true, &m), AH_OK);
    pipe_t *p = NULL;
    assert_int_equal(pipe_start(st, false, &p), AH_OK);
    struct ah_clock clk;
    assert_int_equal(ah_clock_init(&clk, T0 * 1000, 1.0), 0);
    sched_t *s = NULL;
    assert_int_equal(sched_new(cfg, &clk, p, &m, &s), AH_OK);
    struct hup_ctx h = {master, 0};
    sched_set_tick(s, hup_tick, &h);
    volatile sig_atomic_t stop = 0;
    assert_int_equal(sched_run(s, T0 * 1000 + 1500, &stop), AH_OK);
    const struct sched_stats *ss = sched_stats(s);
    assert_true(ss->link_drops >= 1);
    assert_int_equal(ss->timeouts, 0);
    sched_destroy(&s);
    assert_int_equal(pipe_stop(&p), AH_OK);
    store_close(&st);
    cfg_destroy(&cfg);
    if (h.master >= 0)
        close(h.master);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* The gap query of a live job fails (a reads key of the wrong length in
 * the meter's window, a damaged store): the job must still ask for its
 * live record. Before, it set n = 1 over a gap list the query never
 * filled, and asked for a stale gaps[0] (here 1970-01-01) instead. */
struct live_ctx {
    int master;
    uint8_t buf[512];
    size_t n;
};

/* Collect what the head-end sends; stop once a load-record request is in. */
static bool live_tick(sched_t *s, void *arg)
{
    (void)s;
    struct live_ctx *c = arg;
    ssize_t r = read(c->master, c->buf + c->n, sizeof c->buf - c->n);
    if (r > 0)
        c->n += (size_t)r;
    struct dlt645_parser ps;
    dlt645_parser_init(&ps);
    struct dlt645_frame f;
    enum dlt645_parse_status st;
    uint32_t di;
    for (size_t off = 0, used = 1; off < c->n && used > 0; off += used) {
        used = dlt645_parse(&ps, c->buf + off, c->n - off, &f, &st);
        if (st == DLT645_FRAME_OK && dlt645_frame_di(&f, &di) == AH_OK &&
            di == 0x06000001u)
            return true;
        if (st == DLT645_NEED_MORE)
            break;
    }
    return c->n == sizeof c->buf;
}

static void test_live_record_asked_when_gap_query_fails(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_sched_gapq.XXXXXX";
    assert_non_null(mkdtemp(dir));
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK);
    assert_true(master >= 0);
    assert_int_equal(grantpt(master), 0);
    assert_int_equal(unlockpt(master), 0);
    struct cfg *cfg = pty_config(dir, ptsname(master),
                                 "  read_plan: \"clock=off,instant=off,status=off,"
                                 "events=off,freeze=off\"\n");
    store_t *st = NULL;
    assert_int_equal(store_open(cfg->storage.path, NULL, &st), AH_OK);
    uint32_t m;
    assert_int_equal(store_meter_index(st, "000001000001", true, &m), AH_OK);
    store_close(&st);
    /* the live record of a cycle at T0 is T0 (backfill_days 0: the window
     * is that one interval): a 13-byte key right after its own */
    uint8_t k[STORE_REC_READ_KEY_LEN + 1] = {0};
    store_rec_read_key(k, m, (uint64_t)T0);
    ut_forge(cfg->storage.path, "reads", k, sizeof k, "x", 1);

    assert_int_equal(store_open(cfg->storage.path, NULL, &st), AH_OK);
    pipe_t *p = NULL;
    assert_int_equal(pipe_start(st, false, &p), AH_OK);
    uint64_t gaps[4];
    size_t n = 0;
    assert_int_not_equal(
        pipe_missing_intervals(p, m, (uint64_t)T0, (uint64_t)T0 + 900, 900, gaps, 4, &n),
        AH_OK);
    struct ah_clock clk;
    assert_int_equal(ah_clock_init(&clk, T0 * 1000 + 100, 1.0), 0);
    sched_t *s = NULL;
    assert_int_equal(sched_new(cfg, &clk, p, &m, &s), AH_OK);
    struct live_ctx c = {master, {0}, 0};
    sched_set_tick(s, live_tick, &c);
    volatile sig_atomic_t stop = 0;
    assert_int_equal(sched_run(s, T0 * 1000 + 5000, &stop), AH_OK);
    sched_destroy(&s);
    assert_int_equal(pipe_stop(&p), AH_OK);
    store_close(&st);
    cfg_destroy(&cfg);
    close(master);

    /* the request the meter got: the load record at T0 (local UTC) */
    const struct dlt645_tm t0 = {25, 3, 14, 0, 0, 0, 0};
    struct dlt645_addr a;
    assert_int_equal(dlt645_addr_parse("000001000001", &a), AH_OK);
    uint8_t want[64];
    int wn = dlt645_req_read_n_time(want, sizeof want, &a, 0x06000001u, 1, &t0);
    assert_true(wn > 4);
    bool found = false;
    for (size_t i = 0; i + (size_t)wn - 4 <= c.n && !found; i++)
        found = memcmp(c.buf + i, want + 4, (size_t)wn - 4) == 0; /* without FE×4 */
    if (!found) {
        char hex[3 * sizeof c.buf + 1] = "";
        for (size_t i = 0; i < c.n; i++)
            snprintf(hex + 3 * i, 4, "%02X ", c.buf[i]);
        fail_msg("no request for the live record at T0; sent: %s", hex);
    }
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serial_hangup_drops_link),
        cmocka_unit_test(test_live_record_asked_when_gap_query_fails),
        cmocka_unit_test(test_backfill_asks_only_gaps),
        cmocka_unit_test(test_modbus_sdm630_to_record),
        cmocka_unit_test(test_nonblocking_connect),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
