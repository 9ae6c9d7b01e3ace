/*
 * test_pipeline — the writer thread with validation on a real store (no
 * publisher): a stopped meter's reads, held while the run builds up, are
 * re-flagged from the episode's start; one event per episode transition;
 * a new pipeline on the same store resumes the meter's state (no second
 * start); an operator release request in the spool is applied, kept with
 * who and why, and removed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HEAP_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define HEAP_ASAN 1
#endif
#ifdef HEAP_ASAN
#include <sanitizer/allocator_interface.h>
#else
#include <malloc.h>
#endif

#include "ah_clock.h"
#include "ah_err.h"
#include "config.h"
#include "pipe_rel.h"
#include "pipeline.h"
#include "store.h"
#include "vee.h"
#include "ut_forge.h"

/* 2025-03-14T00:00:00Z */
#define T0   1741910400LL
#define STEP 900
/* k-th interval end of the series: well before the head-end clock */
#define END(k) ((uint64_t)(T0 - 40 * STEP + (k)*STEP))

struct fx {
    char dir[64], yaml[96], csv[96], store[96];
    struct cfg *c;
    store_t *st;
    uint32_t midx[2];
    struct ah_clock clk;
};

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    struct fx *x = calloc(1, sizeof *x);
    assert_non_null(x);
    snprintf(x->dir, sizeof x->dir, "/tmp/test_pipeline.XXXXXX");
    assert_non_null(mkdtemp(x->dir));
    snprintf(x->yaml, sizeof x->yaml, "%s/amihead.yaml", x->dir);
    snprintf(x->csv, sizeof x->csv, "%s/meters.csv", x->dir);
    snprintf(x->store, sizeof x->store, "%s/store", x->dir);
    char y[1024];
    snprintf(y, sizeof y,
             "headend:\n  id: hx-test\n  timezone: UTC\n"
             "inventory: meters.csv\n"
             "storage:\n  path: %s\n  sync: false\n"
             "schedule:\n  interval_min: 15\n  backfill_days: 1\n"
             "links:\n  - name: c0\n    type: dlt645-tcp\n    endpoint: 127.0.0.1:1\n",
             x->store);
    write_text(x->yaml, y);
    write_text(x->csv,
               "meter_id,protocol,link,address,unit_id,map,wiring,ct,pt,rated_current,"
               "max_current,nominal_voltage,district,class,role,bidirectional\n"
               "000001000001,dlt645-2007,c0,000001000001,,,1P2W,1,1,5.0,60.0,220.0,d1,C,"
               "customer,no\n"
               "000001000000,dlt645-2007,c0,000001000000,,,3P4W,50,1,1.5,6.0,220.0,d1,B,"
               "district,no\n");
    struct cfg_diag *d = malloc(sizeof *d);
    assert_non_null(d);
    cfg_diag_init(d);
    int rc = cfg_load(x->yaml, &x->c, d);
    for (size_t i = 0; i < d->n; i++)
        fprintf(stderr, "%s\n", d->msg[i]);
    free(d);
    assert_int_equal(rc, AH_OK);
    assert_int_equal(store_open(x->store, NULL, &x->st), AH_OK);
    for (size_t i = 0; i < 2; i++)
        assert_int_equal(store_meter_index(x->st, x->c->meters[i].id, true, &x->midx[i]),
                         AH_OK);
    ah_clock_init(&x->clk, T0 * 1000, 1.0);
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    struct fx *x = *state;
    store_close(&x->st);
    cfg_destroy(&x->c);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", x->dir);
    assert_int_equal(system(cmd), 0);
    free(x);
    return 0;
}

/* Meter states kept loaded between batches (0: the default). */
static size_t resident_max;

static pipe_t *start(struct fx *x, char *reldir, size_t cap)
{
    assert_int_equal(pipe_release_dir(x->store, reldir, cap), AH_OK);
    struct pipe_vee v = {x->c, x->midx, NULL, &x->clk, reldir, resident_max};
    pipe_t *p = NULL;
    assert_int_equal(pipe_start_vee(x->st, false, &v, &p), AH_OK);
    return p;
}

/* Meter 000001000001 at interval k: 2 A flowing at 220 V, forward register
 * fwd (0.01 kWh). */
static void push(pipe_t *p, const struct fx *x, int k, int64_t fwd)
{
    struct pipe_read r;
    memset(&r, 0, sizeof r);
    r.meter = x->midx[0];
    r.read.end = END(k);
    r.read.source = AH_READ_LIVE;
    r.read.ct = 1;
    r.read.pt = 1;
    r.read.present = AH_READ_HAS_IMP_TOTAL | AH_READ_HAS_EXP_TOTAL |
                     AH_READ_HAS_VOLTAGE(0) | AH_READ_HAS_CURRENT(0);
    r.read.imp_total = fwd;
    r.read.voltage[0] = 2200;
    r.read.current[0] = 2000;
    assert_int_equal(pipe_push(p, &r), AH_OK);
}

static uint32_t quality(struct fx *x, int k)
{
    struct ah_read r;
    assert_int_equal(store_get_read(x->st, x->midx[0], END(k), &r), AH_OK);
    return r.quality;
}

struct evs {
    int stopped_start, stopped_cleared, release;
    uint64_t start_t;
    char last[512];
};

static int count_ev(void *vctx, uint64_t t, uint32_t meter, uint16_t type,
                    const uint8_t *bytes, size_t len)
{
    (void)meter;
    struct evs *e = vctx;
    char s[512];
    snprintf(s, sizeof s, "%.*s", (int)len, (const char *)bytes);
    if (type == VEE_BIT_STOPPED && strstr(s, "\"state\":\"start\"")) {
        e->stopped_start++;
        e->start_t = t;
        snprintf(e->last, sizeof e->last, "%s", s);
    } else if (type == VEE_BIT_STOPPED && strstr(s, "\"state\":\"cleared\"")) {
        e->stopped_cleared++;
    } else if (type == PIPE_EV_RELEASE) {
        e->release++;
        snprintf(e->last, sizeof e->last, "%s", s);
    }
    return 0;
}

/* An operator's request to release intervals from..to-1 of meter
 * 000001000001, dropped into the spool as `amihead release` does (its
 * codec, pipe_rel); its path in req. */
static void drop_request(const char *reldir, const char *name, int from, int to,
                         const char *reason, const char *op, char *req, size_t cap)
{
    mkdir(reldir, 0750);
    const struct pipe_rel_req rq = {"000001000001",     reason,           op,
                                    (int64_t)END(from), (int64_t)END(to), T0};
    char *text = NULL;
    assert_int_equal(pipe_rel_build(&rq, &text), AH_OK);
    snprintf(req, cap, "%s/%s.req", reldir, name);
    write_text(req, text);
    free(text);
}

/* Wait up to tenths × 0.1 s for the writer to take the request at req. */
static void wait_taken(const char *req, int tenths)
{
    for (int i = 0; i < tenths && access(req, F_OK) == 0; i++)
        usleep(100 * 1000);
    assert_int_not_equal(access(req, F_OK), 0);
}

static void test_stopped_meter_held_reflagged_resumed_released(void **state)
{
    struct fx *x = *state;
    char reldir[256];
    pipe_t *p = start(x, reldir, sizeof reldir);
    /* four intervals at 0.25 kWh each, then the register stands still while
     * 2 A flows: STOPPED after stopped_intervals (4) reads, since the first */
    int64_t fwd = 1234500;
    for (int k = 0; k < 4; k++)
        push(p, x, k, fwd += 25);
    for (int k = 4; k < 10; k++)
        push(p, x, k, fwd);
    assert_int_equal(pipe_stop(&p), AH_OK);

    for (int k = 0; k < 4; k++)
        assert_int_equal(quality(x, k) & VEE_FAULT_MASK, 0);
    /* k 4..6 were held while the run built up and re-flagged from since */
    for (int k = 4; k < 10; k++)
        assert_true(quality(x, k) & VEE_F_STOPPED);
    struct evs e = {0};
    assert_int_equal(store_events_each(x->st, 0, UINT64_MAX, count_ev, &e), AH_OK);
    assert_int_equal(e.stopped_start, 1);
    assert_int_equal(e.start_t, END(7));
    assert_non_null(strstr(e.last, "\"since\":\"2025-03-13T15:00:00Z\"")); /* END(4) */

    /* a new pipeline on the same store resumes: still stopped, no new start;
     * then the register moves again and the episode clears after 4 reads */
    p = start(x, reldir, sizeof reldir);
    push(p, x, 10, fwd);
    push(p, x, 11, fwd);
    for (int k = 12; k < 17; k++)
        push(p, x, k, fwd += 30);
    assert_int_equal(pipe_stop(&p), AH_OK);
    memset(&e, 0, sizeof e);
    assert_int_equal(store_events_each(x->st, 0, UINT64_MAX, count_ev, &e), AH_OK);
    assert_int_equal(e.stopped_start, 1);
    assert_int_equal(e.stopped_cleared, 1);
    assert_true(quality(x, 11) & VEE_F_STOPPED);

    /* the operator releases intervals 4..7 through the spool */
    char req[512];
    drop_request(reldir, "1-1", 4, 8, "meter checked on site", "li.wei", req, sizeof req);
    p = start(x, reldir, sizeof reldir);
    wait_taken(req, 50);
    assert_int_equal(pipe_stop(&p), AH_OK);
    for (int k = 4; k < 8; k++) {
        struct ah_read r;
        assert_int_equal(store_get_read(x->st, x->midx[0], END(k), &r), AH_OK);
        assert_true(r.quality & VEE_F_RELEASED);
        assert_true(r.quality & VEE_F_STOPPED); /* what was found stays */
        assert_int_equal(r.source, AH_READ_RELEASED);
        assert_true(vee_is_billable(r.quality));
    }
    assert_false(quality(x, 8) & VEE_F_RELEASED);
    memset(&e, 0, sizeof e);
    assert_int_equal(store_events_each(x->st, 0, UINT64_MAX, count_ev, &e), AH_OK);
    assert_int_equal(e.release, 1);
    assert_non_null(strstr(e.last, "\"operator\":\"li.wei\""));
    assert_non_null(strstr(e.last, "\"released\":4"));
}

/* A duplicate of a stored read changes nothing. */
static void test_duplicate_read_ignored(void **state)
{
    struct fx *x = *state;
    char reldir[256];
    pipe_t *p = start(x, reldir, sizeof reldir);
    push(p, x, 0, 1000);
    push(p, x, 1, 1010);
    assert_int_equal(pipe_stop(&p), AH_OK);
    p = start(x, reldir, sizeof reldir);
    push(p, x, 1, 999999); /* the same interval again, other bytes */
    assert_int_equal(pipe_stop(&p), AH_OK);
    struct ah_read r;
    assert_int_equal(store_get_read(x->st, x->midx[0], END(1), &r), AH_OK);
    assert_int_equal(r.imp_total, 1010);
}

/* Issue 13 defect 6: live reads come before the backfill of an outage, so
 * a backfilled interval older than the meter's last validated read comes
 * late; it is stored (the validator cannot sequence it), not dropped as a
 * duplicate of itself. */
static void test_late_backfill_stored(void **state)
{
    struct fx *x = *state;
    char reldir[256];
    pipe_t *p = start(x, reldir, sizeof reldir);
    push(p, x, 0, 1000);
    push(p, x, 3, 1030); /* the live read after an outage */
    assert_int_equal(pipe_stop(&p), AH_OK);
    p = start(x, reldir, sizeof reldir);
    push(p, x, 1, 1010); /* backfill of the outage, later */
    push(p, x, 2, 1020);
    push(p, x, 2, 1020); /* twice in one batch: stored once */
    assert_int_equal(pipe_stop(&p), AH_OK);
    struct ah_read r;
    assert_int_equal(store_get_read(x->st, x->midx[0], END(1), &r), AH_OK);
    assert_int_equal(r.imp_total, 1010);
    assert_int_equal(store_get_read(x->st, x->midx[0], END(2), &r), AH_OK);
    assert_int_equal(r.imp_total, 1020);
    assert_int_equal(store_get_read(x->st, x->midx[0], END(3), &r), AH_OK);
    assert_int_equal(r.imp_total, 1030);
    assert_true(vee_is_billable(quality(x, 1)) && vee_is_billable(quality(x, 2)));

    /* Issue 15: a late read is judged before billing sees it. Its register
     * lies far above the read after it (an impossible jump, then a fall):
     * before, it was stored and published clean (the validator could not
     * sequence it); now it carries JUMPING and REVERSED and stays back. */
    p = start(x, reldir, sizeof reldir);
    push(p, x, 5, 1050);
    push(p, x, 6, 1060);
    assert_int_equal(pipe_stop(&p), AH_OK);
    p = start(x, reldir, sizeof reldir);
    push(p, x, 4, 99999900);
    assert_int_equal(pipe_stop(&p), AH_OK);
    assert_int_equal(quality(x, 4) & (VEE_F_JUMPING | VEE_F_REVERSED),
                     VEE_F_JUMPING | VEE_F_REVERSED);
    assert_false(vee_is_billable(quality(x, 4)));
}

static void push_src(pipe_t *p, const struct fx *x, int k, int64_t fwd, uint8_t kind,
                     uint8_t source)
{
    struct pipe_read r;
    memset(&r, 0, sizeof r);
    r.meter = x->midx[0];
    r.read.end = END(k);
    r.kind = kind;
    r.read.source = source;
    r.read.ct = 1;
    r.read.pt = 1;
    r.read.present = AH_READ_HAS_IMP_TOTAL;
    r.read.imp_total = fwd;
    assert_int_equal(pipe_push(p, &r), AH_OK);
}

/* Issue 13 defect 6 with validation in order: a live read of a meter whose
 * backlog is still coming (PIPE_DEFER) waits, stored; the backlog,
 * over several batches and a restart, is validated in order before it when
 * the scheduler says the backlog is in (PIPE_FLUSH): a jump inside the
 * backlog is JUMPING, which a late backfill (not sequenced) would not be. */
static void test_deferred_live_read(void **state)
{
    struct fx *x = *state;
    char reldir[256];
    pipe_t *p = start(x, reldir, sizeof reldir);
    push_src(p, x, 0, 1000, 0, AH_READ_LIVE);
    push_src(p, x, 10, 101090, PIPE_DEFER, AH_READ_LIVE);
    push_src(p, x, 1, 1010, 0, AH_READ_BACKFILL);
    assert_int_equal(pipe_stop(&p), AH_OK);
    assert_int_equal(quality(x, 10), 0); /* stored, not judged yet */
    p = start(x, reldir, sizeof reldir); /* a restart: the deferred read reloads */
    for (int k = 2; k <= 9; k++)
        push_src(p, x, k, k < 5 ? 1000 + 10 * k : 101000 + 10 * k, 0, AH_READ_BACKFILL);
    struct pipe_read fl;
    memset(&fl, 0, sizeof fl);
    fl.meter = x->midx[0];
    fl.read.end = UINT64_MAX;
    fl.kind = PIPE_FLUSH;
    assert_int_equal(pipe_push(p, &fl), AH_OK);
    assert_int_equal(pipe_stop(&p), AH_OK);
    assert_true(quality(x, 5) & VEE_F_JUMPING);
    assert_false(quality(x, 4) & VEE_F_JUMPING);
    assert_false(quality(x, 10) & VEE_F_JUMPING);
    struct ah_read r;
    assert_int_equal(store_get_read(x->st, x->midx[0], END(10), &r), AH_OK);
    assert_int_equal(r.imp_total, 101090);
}

/* A meter's first reads all deferred (no validated read yet: the first
 * cycle's backlog is the whole window) when the head-end stops (kill -9,
 * SIGHUP's new pipeline): the restarted pipeline must still validate them
 * in order before a newer read, else they stay stored unjudged and are
 * never published (it_run_crash, it_run_reload: the window's first read). */
static void test_first_reads_deferred_over_restart(void **state)
{
    struct fx *x = *state;
    char reldir[256];
    pipe_t *p = start(x, reldir, sizeof reldir);
    push_src(p, x, 10, 101100, PIPE_DEFER, AH_READ_LIVE);
    uint64_t gaps[16];
    size_t n = 11; /* the backlog comes in a later batch than the live read */
    for (int i = 0; i < 1000 && n != 10; i++) {
        assert_int_equal(
            pipe_missing_intervals(p, x->midx[0], END(0), END(11), STEP, gaps, 16, &n),
            AH_OK);
        if (n != 10)
            usleep(10000);
    }
    assert_int_equal(n, 10);
    for (int k = 0; k <= 9; k++)
        push_src(p, x, k, k < 5 ? 1000 + 10 * k : 101000 + 10 * k, 0, AH_READ_BACKFILL);
    assert_int_equal(pipe_stop(&p), AH_OK);
    assert_int_equal(quality(x, 0), VEE_F_BACKFILLED); /* stored, not judged yet */
    p = start(x, reldir, sizeof reldir);               /* the flush never came */
    push_src(p, x, 11, 101110, 0, AH_READ_LIVE);       /* the backlog is in */
    assert_int_equal(pipe_stop(&p), AH_OK);
    assert_true(quality(x, 5) & VEE_F_JUMPING); /* judged, in order */
    assert_false(quality(x, 4) & VEE_F_JUMPING);
    assert_false(quality(x, 10) & VEE_F_JUMPING);
    assert_false(quality(x, 11) & VEE_F_JUMPING);
}

/* Lazy meter state: clean reads do not write their meter's state, so a
 * head-end killed after committing them has a state older than its reads;
 * the next start replays them through the validator, to the very state a
 * head-end that never stopped has (byte for byte). */
static void lazy_reads(struct fx *x, int from, int to)
{
    char reldir[256];
    pipe_t *p = start(x, reldir, sizeof reldir);
    for (int k = from; k < to; k++)
        push(p, x, k, 1234500 + 25 * k + (k % 3) * 7);
    assert_int_equal(pipe_stop(&p), AH_OK);
}

/* Meter 0's stored state after reads 0..8 through one head-end that stops
 * cleanly, on a store of its own (the reference of the two tests below). */
static size_t ref_state(struct fx *x, uint8_t *want, size_t cap)
{
    char ref[128];
    snprintf(ref, sizeof ref, "%s/ref", x->dir);
    store_t *main_st = x->st;
    assert_int_equal(store_open(ref, NULL, &x->st), AH_OK);
    uint32_t idx[2];
    for (size_t i = 0; i < 2; i++)
        assert_int_equal(store_meter_index(x->st, x->c->meters[i].id, true, &idx[i]),
                         AH_OK);
    assert_true(idx[0] == x->midx[0] && idx[1] == x->midx[1]);
    lazy_reads(x, 0, 9);
    size_t wl = 0;
    assert_int_equal(store_get_meter_state(x->st, x->midx[0], want, cap, &wl), AH_OK);
    store_close(&x->st);
    x->st = main_st;
    return wl;
}

static void test_lazy_state_replayed_after_crash(void **state)
{
    struct fx *x = *state;
    /* the reference: the same reads, one head-end that stops cleanly */
    uint8_t want[1024], got[1024];
    size_t wl = ref_state(x, want, sizeof want), gl = 0;
    store_close(&x->st);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char reldir[256];
        if (store_open(x->store, NULL, &x->st) != AH_OK)
            _exit(2);
        pipe_t *p = start(x, reldir, sizeof reldir);
        for (int k = 0; k < 8; k++)
            push(p, x, k, 1234500 + 25 * k + (k % 3) * 7);
        struct pipe_stats ps = {0};
        for (int i = 0; i < 2000 && ps.written < 8; i++) {
            usleep(5000);
            pipe_get_stats(p, &ps);
        }
        _exit(ps.written == 8 ? 0 : 3); /* no pipe_stop: a crash */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(store_open(x->store, NULL, &x->st), AH_OK);
    assert_int_equal(store_get_meter_state(x->st, x->midx[0], got, sizeof got, &gl),
                     AH_OK);
    assert_true(gl != wl || memcmp(got, want, wl) != 0); /* the crash left it behind */
    lazy_reads(x, 8, 9);
    assert_int_equal(store_get_meter_state(x->st, x->midx[0], got, sizeof got, &gl),
                     AH_OK);
    assert_int_equal(gl, wl);
    assert_memory_equal(got, want, wl);
    for (int k = 0; k < 9; k++)
        assert_int_equal(quality(x, k) & VEE_FAULT_MASK, 0);
}

/* Issue 15: a batch whose build fails loses none of its reads. Meter 0's
 * stored reads hold a damaged record after its state (a disk that flipped
 * bits), so loading its state fails: the batch is split, meter 1's read is
 * validated and stored as ever, meter 0's is stored as collected (before:
 * both dropped, the batch abandoned). */

static void push_at(pipe_t *p, const struct fx *x, int i, uint64_t end, int64_t fwd,
                    int64_t freeze_at, int64_t freeze_fwd);

static void test_failed_build_drops_no_read(void **state)
{
    struct fx *x = *state;
    lazy_reads(x, 0, 4); /* meter 0's state: last_end END(3) */
    store_close(&x->st);
    uint8_t k[STORE_REC_READ_KEY_LEN];
    store_rec_read_key(k, x->midx[0], END(4));
    ut_forge(x->store, "reads", k, sizeof k, "bits flipped", 12);
    assert_int_equal(store_open(x->store, NULL, &x->st), AH_OK);
    char reldir[256];
    pipe_t *p = start(x, reldir, sizeof reldir);
    push(p, x, 5, 1234700);
    push_at(p, x, 1, END(5), 500000, 0, 0);
    assert_int_equal(pipe_stop(&p), AH_OK);
    struct ah_read r;
    assert_int_equal(store_get_read(x->st, x->midx[1], END(5), &r), AH_OK);
    assert_int_equal(store_get_read(x->st, x->midx[0], END(5), &r), AH_OK);
    assert_int_equal(r.imp_total, 1234700);
}

/* Issue 16: with room for one loaded state, two meters read in turn are
 * written back and read again at every batch; meter 0 ends in the very
 * state of a run that kept it loaded, and a STOPPED run held across the
 * batches is judged as ever. */
static void wait_written(pipe_t *p, unsigned long n)
{
    struct pipe_stats ps = {0};
    for (int i = 0; i < 5000 && ps.written < n; i++) {
        usleep(2000);
        pipe_get_stats(p, &ps);
    }
    assert_true(ps.written >= n);
}

/* The release spool is looked into once a second, not at every batch (a
 * backfill runs thousands of batches a second, each a failed openat), and
 * a request dropped into it is still applied within a few seconds. */
/* issue 15 (it_run_vee_pub under load): a release for one meter releases
 * that meter's suspect reads only. Meter 1 (its neighbour in the reads
 * key order) has suspect reads in the same intervals (its forward register
 * runs backwards: REVERSED); after meter 0's release they are stored as
 * they were, not RELEASED, and the event counts meter 0's reads only. */
static void test_release_touches_no_other_meter(void **state)
{
    struct fx *x = *state;
    char reldir[256];
    pipe_t *p = start(x, reldir, sizeof reldir);
    int64_t fwd = 1234500;
    for (int k = 0; k < 10; k++) {
        push(p, x, k, k < 4 ? fwd += 25 : fwd); /* STOPPED from k 4 */
        push_at(p, x, 1, END(k), 500000 - 1000 * k, 0, 0);
    }
    assert_int_equal(pipe_stop(&p), AH_OK);
    char req[512];
    drop_request(reldir, "3-3", 0, 40, "meter checked on site", "li.wei", req,
                 sizeof req);
    p = start(x, reldir, sizeof reldir);
    wait_taken(req, 50);
    assert_int_equal(pipe_stop(&p), AH_OK);
    for (int k = 0; k < 10; k++) {
        struct ah_read r;
        assert_int_equal(store_get_read(x->st, x->midx[0], END(k), &r), AH_OK);
        assert_int_equal((r.quality & VEE_F_RELEASED) != 0, k >= 4);
        assert_int_equal(store_get_read(x->st, x->midx[1], END(k), &r), AH_OK);
        assert_false(r.quality & VEE_F_RELEASED);
        assert_int_equal(r.source, AH_READ_BACKFILL);
        if (k > 0)
            assert_true(r.quality & VEE_F_REVERSED);
    }
    struct evs e = {0};
    assert_int_equal(store_events_each(x->st, 0, UINT64_MAX, count_ev, &e), AH_OK);
    assert_int_equal(e.release, 1);
    assert_non_null(strstr(e.last, "\"released\":6"));
}

static void test_release_spool_once_a_second(void **state)
{
    struct fx *x = *state;
    char reldir[256];
    pipe_t *p = start(x, reldir, sizeof reldir);
    int64_t t0 = ah_mono_ms();
    for (int k = 0; k < 40; k++) { /* one batch each */
        push(p, x, k, 1234500 + 25 * k);
        wait_written(p, (unsigned long)(k + 1));
    }
    struct pipe_stats ps;
    pipe_get_stats(p, &ps);
    int64_t secs = (ah_mono_ms() - t0) / 1000;
    assert_true(ps.batches >= 40);
    if (ps.release_scans > (unsigned long)secs + 2)
        fail_msg("%lu looks into the spool in %lld s (%lu batches)", ps.release_scans,
                 (long long)secs, ps.batches);
    char req[512];
    drop_request(reldir, "2-2", 0, 2, "r", "o", req, sizeof req);
    wait_taken(req, 100); /* idle: the writer wakes */
    assert_int_equal(pipe_stop(&p), AH_OK);
}

static void test_states_evicted_and_reloaded(void **state)
{
    struct fx *x = *state;
    uint8_t want[1024], got[1024];
    size_t wl = ref_state(x, want, sizeof want), gl = 0;

    resident_max = 1;
    char reldir[256];
    pipe_t *p = start(x, reldir, sizeof reldir);
    for (int k = 0; k < 9; k++) {
        push(p, x, k, 1234500 + 25 * k + (k % 3) * 7);
        wait_written(p, (unsigned long)(2 * k + 1));
        push_at(p, x, 1, END(k), 500000 + 100 * k, 0, 0); /* evicts meter 0 */
        wait_written(p, (unsigned long)(2 * k + 2));
    }
    struct pipe_stats ps;
    pipe_get_stats(p, &ps);
    assert_true(ps.evictions >= 16); /* one of the two at every batch but the first */
    assert_int_equal(pipe_stop(&p), AH_OK);
    assert_int_equal(store_get_meter_state(x->st, x->midx[0], got, sizeof got, &gl),
                     AH_OK);
    assert_int_equal(gl, wl);
    assert_memory_equal(got, want, wl);

    /* a run of STOPPED reads, one batch each, a second meter in between */
    p = start(x, reldir, sizeof reldir);
    for (int k = 9; k < 16; k++) {
        push(p, x, k, 1234500 + 25 * 8 + 14);
        wait_written(p, (unsigned long)(2 * (k - 9) + 1));
        push_at(p, x, 1, END(k), 501000 + 100 * k, 0, 0);
        wait_written(p, (unsigned long)(2 * (k - 9) + 2));
    }
    assert_int_equal(pipe_stop(&p), AH_OK);
    resident_max = 0;
    struct evs e = {0};
    assert_int_equal(store_events_each(x->st, 0, UINT64_MAX, count_ev, &e), AH_OK);
    assert_int_equal(e.stopped_start, 1);
    for (int k = 9; k < 16; k++)
        assert_true(quality(x, k) & VEE_F_STOPPED);
}

/* One read of meter i (0 customer, 1 district meter) at end with the
 * forward register fwd; freeze_at > 0 adds a daily freeze. */
static void push_at(pipe_t *p, const struct fx *x, int i, uint64_t end, int64_t fwd,
                    int64_t freeze_at, int64_t freeze_fwd)
{
    struct pipe_read r;
    memset(&r, 0, sizeof r);
    r.meter = x->midx[i];
    r.read.end = end;
    r.read.source = AH_READ_BACKFILL;
    r.read.ct = i ? 50 : 1;
    r.read.pt = 1;
    r.read.present = AH_READ_HAS_IMP_TOTAL;
    r.read.imp_total = fwd;
    if (freeze_at) {
        r.read.present |= AH_READ_HAS_FREEZE;
        r.read.freeze_at = freeze_at;
        r.read.freeze_fwd = freeze_fwd;
    }
    assert_int_equal(pipe_push(p, &r), AH_OK);
}

struct daily {
    int n;
    char last[2048];
};

static int find_daily_ev(void *vctx, uint64_t t, uint32_t meter, uint16_t type,
                         const uint8_t *bytes, size_t len)
{
    (void)t;
    (void)meter;
    struct daily *d = vctx;
    if (type == PIPE_EV_DAILY && len < sizeof d->last &&
        memmem(bytes, len, "2025-03-14", 10)) {
        d->n++;
        memcpy(d->last, bytes, len);
        d->last[len] = '\0';
    }
    return 0;
}

/* Issue 13 defect 2: a customer meter whose memory lost the load record
 * of the day's closing midnight, and most of the day's intervals, still
 * has a day energy: the daily freeze 05060101 of that midnight stands in
 * for the boundary, and the day is judged at once (not when the boundary
 * leaves the backfill window), from the two boundary registers. */
static void test_freeze_is_a_day_boundary(void **state)
{
    struct fx *x = *state;
    const int64_t D0 = T0, D1 = T0 + 86400;
    /* the head-end clock runs 300x from D1 + 1000 s: a pipeline tick (one
     * interval of head-end time) every 3 s; D0 leaves the one-day backfill
     * window at D1 + 30 min */
    ah_clock_init(&x->clk, (D1 + 1000) * 1000, 300.0);
    char rel[128];
    pipe_t *p = start(x, rel, sizeof rel);
    /* district meter: 00:00 to 00:00, 5 kWh secondary x CT 50 = 250 kWh */
    push_at(p, x, 1, (uint64_t)D0, 100000, 0, 0);
    push_at(p, x, 1, (uint64_t)(D0 + 43200), 100260, 0, 0);
    push_at(p, x, 1, (uint64_t)D1, 100500, 0, 0);
    /* customer: 00:00, one record at noon, then nothing until 00:15 of the
     * next day, whose live read brings the freeze of D1: 240 kWh */
    push_at(p, x, 0, (uint64_t)D0, 500000, 0, 0);
    push_at(p, x, 0, (uint64_t)(D0 + 43200), 512000, 0, 0);
    push_at(p, x, 0, (uint64_t)(D1 + STEP), 524100, D1, 524000);
    struct timespec ts = {4, 500 * 1000 * 1000};
    nanosleep(&ts, NULL);
    assert_int_equal(pipe_stop(&p), AH_OK);
    struct daily d = {0, ""};
    assert_int_equal(store_events_each(x->st, 0, UINT64_MAX, find_daily_ev, &d), AH_OK);
    fprintf(stderr, "  %s\n", d.last);
    assert_int_equal(d.n, 1);
    /* read back with the events codec, as amihead districts does */
    struct pipe_ev ev;
    assert_int_equal(
        pipe_ev_parse(PIPE_EV_DAILY, (const uint8_t *)d.last, strlen(d.last), &ev),
        AH_OK);
    assert_string_equal(ev.date, "2025-03-14");
    assert_int_equal(ev.u.day.customers_energy, 24000);
    assert_int_equal(ev.u.day.district_energy, 25000);
    assert_true(ev.u.day.loss_valid && ev.u.day.loss_pct == 4.0);
    assert_int_equal(ev.u.day.flags, 0);
    pipe_ev_free(&ev);
}

/* Bytes the process has allocated now (ASan's count under the sanitisers). */
static size_t heap_in_use(void)
{
#ifdef HEAP_ASAN
    return __sanitizer_get_current_allocated_bytes();
#else
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
#endif
}

/* Wait until the writer has stored the read of interval k. */
static void wait_stored(pipe_t *p, const struct fx *x, int k)
{
    uint64_t gaps[1];
    size_t n = 1;
    for (int i = 0; i < 1000 && n; i++) {
        assert_int_equal(
            pipe_missing_intervals(p, x->midx[0], END(k), END(k) + 1, STEP, gaps, 1, &n),
            AH_OK);
        if (n)
            usleep(10000);
    }
    assert_int_equal(n, 0);
}

/* make soak: a meter waiting for its backlog keeps its deferred reads in
 * memory. The buffer was allocated for the most it can hold (608 reads,
 * 185 KB) at the first one, so a fleet whose collection fell behind held
 * 180 KB per meter (4,862 of 5,250 meters, 876 MB, with 11,420 reads
 * deferred in all) and RSS climbed day after day. One deferred read must
 * cost about one read. */
static void test_deferred_read_costs_its_size(void **state)
{
    struct fx *x = *state;
    char reldir[256];
    pipe_t *p = start(x, reldir, sizeof reldir);
    push_src(p, x, 0, 1000, 0, AH_READ_LIVE);
    push_src(p, x, 1, 1010, 0, AH_READ_LIVE);
    wait_stored(p, x, 1);
    size_t before = heap_in_use();
    push_src(p, x, 10, 1100, PIPE_DEFER, AH_READ_LIVE);
    wait_stored(p, x, 10);
    size_t after = heap_in_use();
    print_message("one deferred read: %zd bytes more on the heap\n",
                  (ssize_t)after - (ssize_t)before);
    assert_true(after < before + 32 * 1024);
    assert_int_equal(pipe_stop(&p), AH_OK);
}

/* The gap pass of a large inventory spreads over batches: a meter never
 * seen gets its state written by the first pass, and 1.56 M meters' states
 * in one batch held ~1 GB (twice while it committed). */
static void test_gap_pass_batched(void **state)
{
    (void)state;
    enum { NL = 100, PER = 250, N = NL * PER };
    struct fx x = {0};
    snprintf(x.dir, sizeof x.dir, "/tmp/test_pipeline.XXXXXX");
    assert_non_null(mkdtemp(x.dir));
    snprintf(x.yaml, sizeof x.yaml, "%s/amihead.yaml", x.dir);
    snprintf(x.csv, sizeof x.csv, "%s/meters.csv", x.dir);
    snprintf(x.store, sizeof x.store, "%s/store", x.dir);
    FILE *f = fopen(x.yaml, "w");
    assert_non_null(f);
    fprintf(f,
            "headend:\n  id: hx-test\n  timezone: UTC\ninventory: meters.csv\n"
            "storage:\n  path: %s\n  sync: false\n"
            "schedule:\n  interval_min: 15\n  backfill_days: 1\nlinks:\n",
            x.store);
    for (int l = 0; l < NL; l++)
        fprintf(f, "  - name: c%d\n    type: dlt645-tcp\n    endpoint: 127.1.0.%d:1\n", l,
                l + 1);
    fclose(f);
    f = fopen(x.csv, "w");
    assert_non_null(f);
    fprintf(f, "meter_id,protocol,link,address,unit_id,map,wiring,ct,pt,rated_current,"
               "max_current,nominal_voltage,district,class,role,bidirectional\n");
    for (int l = 0; l < NL; l++)
        for (int j = 0; j < PER; j++)
            fprintf(f,
                    "%06d%06d,dlt645-2007,c%d,%06d%06d,,,1P2W,1,1,5.0,60.0,220.0,d%d,C,%"
                    "s,no\n",
                    l + 1, j, l, l + 1, j, l, j ? "customer" : "district");
    fclose(f);
    struct cfg_diag *d = malloc(sizeof *d);
    assert_non_null(d);
    cfg_diag_init(d);
    assert_int_equal(cfg_load(x.yaml, &x.c, d), AH_OK);
    free(d);
    assert_int_equal(store_open(x.store, NULL, &x.st), AH_OK);
    uint32_t *midx = malloc(N * sizeof *midx);
    const char **ids = malloc(N * sizeof *ids);
    assert_non_null(midx);
    assert_non_null(ids);
    for (size_t i = 0; i < N; i++)
        ids[i] = x.c->meters[i].id;
    assert_int_equal(store_meters_register(x.st, ids, N, midx), AH_OK);
    ah_clock_init(&x.clk, T0 * 1000, 1.0);
    char reldir[512];
    assert_int_equal(pipe_release_dir(x.store, reldir, sizeof reldir), AH_OK);
    struct pipe_vee v = {x.c, midx, NULL, &x.clk, reldir, 0};
    pipe_t *p = NULL;
    assert_int_equal(pipe_start_vee(x.st, false, &v, &p), AH_OK);
    /* the pass runs on its own (the writer wakes when idle); done when the
     * last meter's state is stored */
    uint8_t buf[1024];
    size_t len = 0;
    int rc = AH_ENOENT;
    for (int i = 0; i < 1200 && rc == AH_ENOENT; i++) {
        usleep(50000);
        rc = store_get_meter_state(x.st, midx[N - 1], buf, sizeof buf, &len);
    }
    assert_int_equal(rc, AH_OK);
    assert_int_equal(store_get_meter_state(x.st, midx[0], buf, sizeof buf, &len), AH_OK);
    struct pipe_stats ps;
    pipe_get_stats(p, &ps);
    assert_int_equal(pipe_stop(&p), AH_OK);
    fprintf(stderr, "gap pass of %d meters: largest batch %lu puts\n", N, ps.max_batch);
    assert_true(ps.max_batch > 0);
    /* unbatched, the pass was one batch of all 25,000 states (25,200 puts) */
    assert_true(ps.max_batch <= 10000 + 64);
    free(ids);
    free(midx);
    struct fx *px = malloc(sizeof *px);
    assert_non_null(px);
    *px = x;
    void *st = px;
    teardown(&st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_stopped_meter_held_reflagged_resumed_released, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_read_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_late_backfill_stored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deferred_live_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_reads_deferred_over_restart, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_freeze_is_a_day_boundary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deferred_read_costs_its_size, setup,
                                        teardown),
        cmocka_unit_test(test_gap_pass_batched),
        cmocka_unit_test_setup_teardown(test_lazy_state_replayed_after_crash, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_failed_build_drops_no_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_touches_no_other_meter, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_release_spool_once_a_second, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_states_evicted_and_reloaded, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
