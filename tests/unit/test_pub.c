/*
 * test_pub — the export end to end on a real RocksDB store (fresh mkdtemp
 * directory) and real ZeroMQ sockets over ipc: messages are published only
 * after their batch is committed, and a subscriber (sub_, the algorithm of
 * `amihead tail`) ends with every message exactly once, in sequence order,
 * when it connects late, when it is too slow for the PUB high-water mark,
 * and across a restart of the head-end. CURVE keeps out an unknown key;
 * hostile replay requests get an error reply and the endpoint keeps
 * serving.
 *
 * `test_pub --drive ...` is the publishing head-end stand-in of the
 * integration tests (tests/integration/it_export_*.py) until `amihead run`
 * exists; see drive() below.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <ftw.h>
#include <jansson.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "ah_clock.h"
#include "ah_err.h"
#include "ah_log.h"
#include "pub.h"
#include "store.h"
#include "sub.h"
#include "wire.h"

/* 2023-11-14 16:00:00 UTC, 00:00 in UTC+8; 15-minute intervals. */
#define T0   1699977600ull
#define STEP 900u

struct fx {
    char dir[64];
    char db[96], ep[96], rp[96];
    store_t *s;
    pub_t *p;
    uint64_t n_reads; /* reads staged so far, for distinct interval ends */
};

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void fx_open_pub(struct fx *f, const struct pub_opts *extra)
{
    struct pub_opts o = extra ? *extra : (struct pub_opts){0};
    o.endpoint = f->ep;
    o.replay = f->rp;
    assert_int_equal(pub_new(f->s, &o, &f->p), AH_OK);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_pub.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof f->db, "%s/db", f->dir);
    snprintf(f->ep, sizeof f->ep, "ipc://%s/pub.ipc", f->dir);
    snprintf(f->rp, sizeof f->rp, "ipc://%s/replay.ipc", f->dir);
    struct store_opts so = {.headend_id = "hx-sz-01"};
    assert_int_equal(store_open(f->db, &so, &f->s), AH_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    pub_destroy(&f->p);
    store_close(&f->s);
    nftw(f->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* One batch of n messages cycling through the four topics, committed with
 * the store, then published. Returns the last sequence. */
static uint64_t publish_batch(struct fx *f, unsigned n)
{
    static const char *const flags[] = {"LINE_LOSS_SWING"};
    struct wire_item ev[] = {{"delta_kwh", 0, 2}, {"current_a", 1523, 3}};
    uint64_t seq = 0;
    store_batch_begin(f->s);
    pub_drop(f->p);
    for (unsigned i = 0; i < n; i++) {
        int rc;
        switch (i % 4) {
        case 0: {
            struct ah_read r = {.source = AH_READ_LIVE,
                                .present = AH_READ_HAS_IMP_TOTAL |
                                           AH_READ_HAS_VOLTAGE(0) |
                                           AH_READ_HAS_CURRENT(0),
                                .ct = 1,
                                .pt = 1,
                                .imp_total = 1234567 + (int64_t)f->n_reads,
                                .voltage = {2201},
                                .current = {5123}};
            uint64_t end = T0 + STEP * ++f->n_reads;
            r.end = end;
            assert_int_equal(store_batch_put_read(f->s, 1, &r), AH_OK);
            struct wire_read w = {"000012345678", "D01", &r};
            rc = pub_stage_read(f->p, &w, &seq);
            break;
        }
        case 1: {
            struct wire_anomaly a = {"000012345679", "D01", "STOPPED", WIRE_EP_START,
                                     T0 + STEP,      1,     ev,        2};
            rc = pub_stage_anomaly(f->p, &a, &seq);
            break;
        }
        case 2: {
            struct wire_gap g = {"000012345680", "D02", T0,
                                 T0 + 3 * STEP,  STEP,  "no-answer"};
            rc = pub_stage_gap(f->p, &g, &seq);
            break;
        }
        default: {
            struct wire_daily d = {"D01", 2023,    11,      15,  true,  96,
                                   96,    1250000, 1190000, 480, flags, 1};
            rc = pub_stage_daily(f->p, &d, &seq);
            break;
        }
        }
        assert_int_equal(rc, AH_OK);
    }
    assert_int_equal(store_batch_commit(f->s, false), AH_OK);
    pub_committed(f->p, store_next_seq(f->s));
    return seq;
}

static sub_t *subscribe(struct fx *f, uint64_t from, int rcvhwm)
{
    struct sub_opts o = {.endpoint = f->ep,
                         .replay = f->rp,
                         .from_seq = from,
                         .rcvhwm = rcvhwm,
                         .idle_ms = 200};
    sub_t *s = NULL;
    assert_int_equal(sub_new(&o, &s), AH_OK);
    return s;
}

/* Every message first..last exactly once and in order, each body naming
 * its own sequence number and the head-end. */
static void expect_all(sub_t *s, uint64_t first, uint64_t last)
{
    for (uint64_t want = first; want <= last; want++) {
        struct sub_msg m;
        int rc = sub_next(s, 10000, &m);
        if (rc != AH_OK)
            fail_msg("waiting for seq %llu: %s", (unsigned long long)want,
                     ah_strerror(rc));
        assert_int_equal(m.seq, want);
        json_t *j = json_loadb(m.body, m.body_len, 0, NULL);
        assert_non_null(j);
        assert_int_equal(json_integer_value(json_object_get(j, "seq")), (json_int_t)want);
        assert_string_equal(json_string_value(json_object_get(j, "headend")), "hx-sz-01");
        json_decref(j);
    }
    struct sub_msg m;
    assert_int_equal(sub_next(s, 300, &m), AH_ETIMEDOUT); /* nothing twice */
}

/* (1) Connected after 150 messages: replay brings them, live brings the
 * rest. */
static void test_late_subscriber_gets_missed_messages_by_replay(void **state)
{
    struct fx *f = *state;
    fx_open_pub(f, NULL);
    for (int b = 0; b < 3; b++)
        publish_batch(f, 50);
    assert_int_equal(pub_next_seq(f->p), 151);
    sub_t *s = subscribe(f, 1, 0);
    usleep(200 * 1000);
    assert_int_equal(publish_batch(f, 50), 200);
    expect_all(s, 1, 200);
    assert_true(sub_replayed(s) >= 150);
    assert_int_equal(sub_lost(s), 0);
    sub_destroy(&s);
}

/* (2) PUB and SUB high-water marks of one message: most of 2000 messages
 * are dropped by ZeroMQ, all come back through replay. */
static void test_slow_subscriber_recovers_hwm_drops_by_replay(void **state)
{
    struct fx *f = *state;
    struct pub_opts o = {.sndhwm = 1};
    fx_open_pub(f, &o);
    sub_t *s = subscribe(f, 1, 1);
    usleep(300 * 1000);
    for (int b = 0; b < 20; b++)
        publish_batch(f, 100);
    expect_all(s, 1, 2000);
    assert_true(sub_replayed(s) > 0);
    assert_int_equal(sub_lost(s), 0);
    sub_destroy(&s);
}

/* (3) Close store and publisher, reopen: the sequence goes on from 31. */
static void test_sequence_continues_gapless_after_restart(void **state)
{
    struct fx *f = *state;
    fx_open_pub(f, NULL);
    assert_int_equal(publish_batch(f, 30), 30);
    pub_destroy(&f->p);
    store_close(&f->s);
    assert_int_equal(store_open(f->db, NULL, &f->s), AH_OK);
    fx_open_pub(f, NULL);
    assert_int_equal(pub_next_seq(f->p), 31);
    sub_t *s = subscribe(f, 1, 0);
    usleep(200 * 1000);
    assert_int_equal(publish_batch(f, 30), 60);
    expect_all(s, 1, 60);
    sub_destroy(&s);
}

/* A failed-then-dropped batch hands its numbers out again: no hole. */
static void test_dropped_batch_leaves_no_hole(void **state)
{
    struct fx *f = *state;
    fx_open_pub(f, NULL);
    publish_batch(f, 4);
    store_batch_begin(f->s);
    pub_drop(f->p);
    struct wire_gap g = {"000012345680", "D02", T0, T0, STEP, "no-answer"};
    uint64_t seq;
    assert_int_equal(pub_stage_gap(f->p, &g, &seq), AH_OK);
    assert_int_equal(seq, 5);
    store_batch_begin(f->s); /* dropped, never committed, never published */
    pub_drop(f->p);
    assert_int_equal(pub_next_seq(f->p), 5);
    assert_int_equal(publish_batch(f, 4), 8);
    sub_t *s = subscribe(f, 1, 0);
    expect_all(s, 1, 8);
    sub_destroy(&s);
}

/* ---- raw replay requests ------------------------------------------------ */

/* Send frames on a fresh DEALER, return the reply header (caller frees) and
 * the number of frames, or NULL when no reply came within ms. */
static json_t *ask(void *ctx, const char *ep, const char *const *frames,
                   const size_t *lens, int n, int ms, int *nframes)
{
    void *d = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(d, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal(zmq_connect(d, ep), 0);
    for (int i = 0; i < n; i++)
        assert_true(zmq_send(d, frames[i], lens[i], i + 1 < n ? ZMQ_SNDMORE : 0) >= 0);
    zmq_pollitem_t it = {d, 0, ZMQ_POLLIN, 0};
    json_t *hdr = NULL;
    *nframes = 0;
    if (zmq_poll(&it, 1, ms) == 1) {
        int more = 1;
        while (more) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            assert_true(zmq_msg_recv(&m, d, 0) >= 0);
            if (*nframes == 0)
                hdr = json_loadb(zmq_msg_data(&m), zmq_msg_size(&m), 0, NULL);
            (*nframes)++;
            more = zmq_msg_more(&m);
            zmq_msg_close(&m);
        }
    }
    zmq_close(d);
    return hdr;
}

static void expect_status(void *ctx, const char *ep, const char *req, size_t len,
                          const char *status)
{
    int nf;
    const char *fr[] = {req};
    json_t *h = ask(ctx, ep, fr, &len, 1, 3000, &nf);
    if (!h)
        fail_msg("no reply to '%.*s'", (int)len, req);
    assert_string_equal(json_string_value(json_object_get(h, "status")), status);
    if (strcmp(status, "ok"))
        assert_non_null(json_string_value(json_object_get(h, "error")));
    json_decref(h);
}

/* (5) Hostile and malformed requests: an error reply each, and the endpoint
 * keeps serving. */
static void test_hostile_replay_requests_get_errors(void **state)
{
    struct fx *f = *state;
    fx_open_pub(f, NULL);
    publish_batch(f, 100);
    void *ctx = zmq_ctx_new();
    expect_status(ctx, f->rp, "replay 1 99999999", 17, "too-large");
    expect_status(ctx, f->rp, "replay 10 5", 11, "invalid");
    expect_status(ctx, f->rp, "replay 0 3", 10, "invalid");
    expect_status(ctx, f->rp, "replay 90 120", 13, "not-yet");
    expect_status(ctx, f->rp, "replay 1 18446744073709551616", 29, "bad-request");
    expect_status(ctx, f->rp, "replay -1 3", 11, "bad-request");
    expect_status(ctx, f->rp, "replay 1 3\n", 11, "bad-request");
    expect_status(ctx, f->rp, "\x00\xff\x68\x00garbage", 11, "bad-request");
    expect_status(ctx, f->rp, "", 0, "bad-request");

    int nf;
    const char *three[] = {"replay 1 2", "replay 3 4", "x"};
    size_t lens[] = {10, 10, 1};
    json_t *h = ask(ctx, f->rp, three, lens, 3, 3000, &nf);
    assert_non_null(h);
    assert_string_equal(json_string_value(json_object_get(h, "status")), "bad-request");
    json_decref(h);

    /* Over PUB_REQ_FRAME_MAX: libzmq drops the connection, nothing back. */
    char *big = calloc(1, 64 * 1024);
    memcpy(big, "replay ", 7);
    size_t bl = 64 * 1024;
    const char *bf[] = {big};
    assert_null(ask(ctx, f->rp, bf, &bl, 1, 500, &nf));
    free(big);

    /* ... and a well-formed request is still served, from a REQ peer too. */
    const char *ok[] = {"replay 98 100"};
    size_t okl = 13;
    h = ask(ctx, f->rp, ok, &okl, 1, 3000, &nf);
    assert_non_null(h);
    assert_string_equal(json_string_value(json_object_get(h, "status")), "ok");
    assert_int_equal(json_integer_value(json_object_get(h, "count")), 3);
    assert_int_equal(nf, 1 + 2 * 3);
    json_decref(h);

    void *req = zmq_socket(ctx, ZMQ_REQ);
    int zero = 0;
    zmq_setsockopt(req, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal(zmq_connect(req, f->rp), 0);
    assert_int_equal(zmq_send(req, "info", 4, 0), 4);
    char buf[256];
    int n = zmq_recv(req, buf, sizeof buf - 1, 0);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_non_null(strstr(buf, "\"next\":101"));
    assert_non_null(strstr(buf, "\"oldest\":1"));
    zmq_close(req);
    zmq_ctx_term(ctx);
}

/* Retention by size: old messages go, a request for them says "expired"
 * with the oldest retained, and a subscriber from 1 counts the loss. */
static void test_expired_range_is_refused_and_counted(void **state)
{
    struct fx *f = *state;
    struct pub_opts o = {.retention_bytes = 20000};
    fx_open_pub(f, &o);
    for (int b = 0; b < 10; b++)
        publish_batch(f, 20);
    assert_true(pub_outbox_bytes(f->p) <= 20000);
    uint64_t oldest = store_outbox_first_seq(f->s);
    assert_true(oldest > 1);
    void *ctx = zmq_ctx_new();
    expect_status(ctx, f->rp, "replay 1 5", 10, "expired");
    zmq_ctx_term(ctx);
    sub_t *s = subscribe(f, 1, 0);
    expect_all(s, oldest, 200);
    assert_int_equal(sub_lost(s), oldest - 1);
    sub_destroy(&s);
}

/* Retention by age on the publisher's clock. */
static void test_retention_by_age(void **state)
{
    struct fx *f = *state;
    struct ah_clock c;
    ah_clock_init(&c, (int64_t)T0 * 1000, 1.0);
    struct pub_opts o = {.retention_ms = 60 * 1000, .clock = &c};
    fx_open_pub(f, &o);
    publish_batch(f, 10);
    c.epoch_ms += 61 * 1000; /* a minute later */
    publish_batch(f, 10);
    assert_int_equal(pub_retention_run(f->p), AH_OK);
    assert_int_equal(store_outbox_first_seq(f->s), 11);
}

/* ---- CURVE -------------------------------------------------------------- */

/* (4) Only a key in the allow-list directory gets anything. */
static void test_curve_unknown_key_gets_nothing(void **state)
{
    struct fx *f = *state;
    char keys[128], clients[128], secret[160], line[64];
    snprintf(keys, sizeof keys, "%s/keys", f->dir);
    snprintf(clients, sizeof clients, "%s/clients", f->dir);
    assert_int_equal(mkdir(keys, 0700), 0);
    assert_int_equal(mkdir(clients, 0700), 0);
    char spk[41], good_pk[41], good_sk[41], bad_pk[41], bad_sk[41];
    assert_int_equal(pub_keygen(keys, "server", spk, NULL), AH_OK);
    assert_int_equal(pub_keygen(keys, "server", NULL, NULL), AH_EBUSY); /* no overwrite */
    assert_int_equal(pub_keygen(clients, "billing", good_pk, good_sk), AH_OK);
    assert_int_equal(pub_keygen(NULL, NULL, bad_pk, bad_sk), AH_OK);
    snprintf(secret, sizeof secret, "%s/server.key_secret", keys);
    /* the allow-list holds only billing.key; the secret file beside it is
     * not a .key and is ignored */
    assert_true(pub_key_allowed(clients, good_pk));
    assert_false(pub_key_allowed(clients, bad_pk));
    snprintf(line, sizeof line, "%s", spk);

    struct pub_opts o = {.server_secret_key = secret, .client_keys_dir = clients};
    fx_open_pub(f, &o);
    publish_batch(f, 10);

    struct sub_opts bo = {.endpoint = f->ep,
                          .replay = f->rp,
                          .from_seq = 1,
                          .server_key = line,
                          .public_key = bad_pk,
                          .secret_key = bad_sk,
                          .replay_timeout_ms = 500,
                          .idle_ms = 200};
    sub_t *bad = NULL;
    assert_int_equal(sub_new(&bo, &bad), AH_OK);
    struct sub_opts go = bo;
    go.public_key = good_pk;
    go.secret_key = good_sk;
    sub_t *good = NULL;
    assert_int_equal(sub_new(&go, &good), AH_OK);
    usleep(300 * 1000);
    publish_batch(f, 10);

    expect_all(good, 1, 20);
    struct sub_msg m;
    assert_int_equal(sub_next(bad, 1500, &m), AH_ETIMEDOUT);
    sub_destroy(&bad);
    sub_destroy(&good);

    /* Without any key at all the handshake fails as well. */
    void *ctx = zmq_ctx_new();
    int nf;
    const char *fr[] = {"info"};
    size_t l = 4;
    assert_null(ask(ctx, f->rp, fr, &l, 1, 800, &nf));
    zmq_ctx_term(ctx);
}

static void test_curve_misconfiguration_is_refused(void **state)
{
    struct fx *f = *state;
    char bogus[128];
    snprintf(bogus, sizeof bogus, "%s/bogus.key_secret", f->dir);
    FILE *fp = fopen(bogus, "w");
    fputs("not a key\n", fp);
    fclose(fp);
    struct pub_opts o = {.endpoint = f->ep,
                         .replay = f->rp,
                         .server_secret_key = bogus,
                         .client_keys_dir = f->dir};
    assert_int_equal(pub_new(f->s, &o, &f->p), AH_EINVAL);
    o.client_keys_dir = NULL; /* a key without an allow-list */
    assert_int_equal(pub_new(f->s, &o, &f->p), AH_EINVAL);
    assert_null(f->p);
}

/* ---- the integration tests' publisher ----------------------------------- */

static volatile sig_atomic_t drive_stop;
static void on_term(int sig)
{
    (void)sig;
    drive_stop = 1;
}

/*
 * test_pub --drive DB PUB_EP REPLAY_EP BATCHES PER_BATCH DELAY_MS
 *          [SECRET_KEY CLIENT_KEYS_DIR]
 * Publishes BATCHES batches of PER_BATCH messages (the four topics in
 * turn), printing "committed LAST_SEQ" after each commit, then "done" and
 * keeps serving replay until SIGTERM or stdin closes.
 */
static int drive(int argc, char **argv)
{
    if (argc != 8 && argc != 10) {
        fprintf(stderr,
                "usage: test_pub --drive DB PUB REPLAY BATCHES PER_BATCH DELAY_MS "
                "[SECRET CLIENTS]\n");
        return 2;
    }
    ah_log_set_level(AH_LOG_WARN);
    struct fx fx = {0};
    struct fx *f = &fx;
    snprintf(f->ep, sizeof f->ep, "%s", argv[3]);
    snprintf(f->rp, sizeof f->rp, "%s", argv[4]);
    struct store_opts so = {.headend_id = "hx-sz-01"};
    if (store_open(argv[2], &so, &f->s) != AH_OK) {
        fprintf(stderr, "store_open: %s\n", store_last_error(NULL));
        return 1;
    }
    struct pub_opts o = {.endpoint = argv[3], .replay = argv[4]};
    if (argc == 10) {
        o.server_secret_key = argv[8];
        o.client_keys_dir = argv[9];
    }
    if (pub_new(f->s, &o, &f->p) != AH_OK)
        return 1;
    signal(SIGTERM, on_term);
    f->n_reads = pub_next_seq(f->p); /* distinct interval ends after a restart */
    long batches = strtol(argv[5], NULL, 10), per = strtol(argv[6], NULL, 10);
    long delay = strtol(argv[7], NULL, 10);
    for (long b = 0; b < batches && !drive_stop; b++) {
        uint64_t last = publish_batch(f, (unsigned)per);
        printf("committed %llu\n", (unsigned long long)last);
        fflush(stdout);
        usleep((useconds_t)delay * 1000);
    }
    printf("done\n");
    fflush(stdout);
    char c;
    while (!drive_stop && read(0, &c, 1) > 0)
        ;
    pub_destroy(&f->p);
    store_close(&f->s);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--drive"))
        return drive(argc, argv);
    ah_log_set_level(AH_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_late_subscriber_gets_missed_messages_by_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_subscriber_recovers_hwm_drops_by_replay,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_sequence_continues_gapless_after_restart,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_dropped_batch_leaves_no_hole, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_hostile_replay_requests_get_errors, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_expired_range_is_refused_and_counted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_retention_by_age, setup, teardown),
        cmocka_unit_test_setup_teardown(test_curve_unknown_key_gets_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_curve_misconfiguration_is_refused, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
