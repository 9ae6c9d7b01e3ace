/*
 * scaleout_bench — figures of the scale-out path (docs/scale-out.md
 * "Sizing"), each next to a JetStream ceiling measured in the same run with
 * the same message sizes. Run by bench/scaleout.py, which starts the real
 * servers (3 nats-server nodes, R3 stream; PostgreSQL 15) and passes
 * AH_NATS_URLS and AH_PG_CONNINFO.
 *
 *   ceiling  one batch of 256 read bodies in flight, js_Publish + ack,
 *            R3 file stream: the most a one-in-flight bridge could do
 *   bridge   bridge_run catching up N reads from a real export (store +
 *            pub_: replay endpoint, 1000 per request) into JetStream
 *   sink     sink_run draining the same N reads into PostgreSQL
 *
 * The city's share: 150 M reads a day is ~1.7 k reads/s; the goal is 20x.
 */
#include "ah_err.h"
#include "ah_clock.h"
#include "ah_log.h"
#include "bridge.h"
#include "jsb.h"
#include "jsx.h"
#include "pub.h"
#include "scfg.h"
#include "sink.h"
#include "sinkdb.h"
#include "store.h"
#include "wire.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CITY_READS_S 1736.0 /* 150e6 / 86400 */

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A full three-phase interval read, as a commercial meter reports it. */
static void make_rec(struct ah_read *r, uint64_t i)
{
    memset(r, 0, sizeof *r);
    r->source = AH_READ_LIVE;
    r->present = AH_READ_HAS_IMP_TOTAL | AH_READ_HAS_IMP_TARIFFS | AH_READ_HAS_EXP_TOTAL |
                 AH_READ_HAS_VOLTAGE(0) | AH_READ_HAS_VOLTAGE(1) |
                 AH_READ_HAS_VOLTAGE(2) | AH_READ_HAS_CURRENT(0) |
                 AH_READ_HAS_CURRENT(1) | AH_READ_HAS_CURRENT(2) | AH_READ_HAS_PF(0) |
                 AH_READ_HAS_FREQ;
    r->ct = 50;
    r->pt = 1;
    r->imp_total = 1234567 + (int64_t)i;
    for (int t = 0; t < 4; t++)
        r->imp_tariff[t] = 300000 + t;
    r->exp_total = 12;
    r->voltage[0] = 2201;
    r->voltage[1] = 2199;
    r->voltage[2] = 2204;
    r->current[0] = r->current[1] = r->current[2] = 5123;
    r->pf[0] = 985;
    r->freq = 5000;
}

struct runner {
    pthread_t t;
    volatile sig_atomic_t stop;
    const void *cfg;
    int rc;
};

static void *bridge_thread(void *a)
{
    struct runner *r = a;
    r->rc = bridge_run(r->cfg, &r->stop, NULL);
    return NULL;
}

static void *sink_thread(void *a)
{
    struct runner *r = a;
    r->rc = sink_run(r->cfg, &r->stop, NULL);
    return NULL;
}

int main(void)
{
    const char *urls = getenv("AH_NATS_URLS"), *pg = getenv("AH_PG_CONNINFO");
    if (!urls || !pg) {
        printf("skipped: run through bench/scaleout.py (starts nats-server x3 and "
               "PostgreSQL)\n");
        return 0;
    }
    uint64_t n = 100000;
    const char *ns = getenv("AH_BENCH_READS");
    if (ns && jsb_parse_u64(ns, &n) != AH_OK)
        n = 100000;
    setvbuf(stdout, NULL, _IOLBF, 0);
    ah_log_set_level(AH_LOG_WARN);

    /* a real export holding n reads */
    char dir[] = "/tmp/scaleout_bench.XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char db[128], ep[128], rp[128];
    snprintf(db, sizeof db, "%s/store", dir);
    snprintf(ep, sizeof ep, "ipc://%s/pub", dir);
    snprintf(rp, sizeof rp, "ipc://%s/replay", dir);
    struct store_opts so = {.headend_id = "bench"};
    store_t *st = NULL;
    pub_t *p = NULL;
    struct pub_opts po = {.endpoint = ep, .replay = rp, .headend_id = "bench"};
    if (store_open(db, &so, &st) || pub_new(st, &po, &p)) {
        fprintf(stderr, "store/pub failed\n");
        return 1;
    }
    size_t body_bytes = 0;
    for (uint64_t i = 0; i < n;) {
        store_batch_begin(st);
        pub_drop(p);
        for (uint64_t k = 0; k < 1000 && i < n; k++, i++) {
            char meter[16];
            snprintf(meter, sizeof meter, "%012" PRIu64, 1000000 + i % 5000);
            struct ah_read r;
            make_rec(&r, i);
            r.end = 1741910400ull + 900 * (i / 5000);
            struct wire_read w = {meter, "d0001", &r};
            if (pub_stage_read(p, &w, NULL))
                return 1;
        }
        if (store_batch_commit(st, false))
            return 1;
        pub_committed(p, store_next_seq(st));
    }

    /* ceiling: the same bodies, 256 a message, one in flight */
    char *buf = malloc(JSB_PAYLOAD_MAX);
    struct jsb b;
    jsb_init(&b, buf, JSB_PAYLOAD_MAX);
    {
        struct ah_read r;
        make_rec(&r, 0);
        r.end = 1741910400ull;
        struct wire_head h = {"bench", 1, 1741910400000ll};
        struct wire_read w = {"000001000001", "d0001", &r};
        char topic[WIRE_TOPIC_MAX + 1], body[WIRE_BODY_MAX];
        size_t tl, bl;
        for (uint64_t i = 1; i <= 256; i++) {
            h.seq = i;
            wire_encode_read(&h, &w, topic, sizeof topic, &tl, body, sizeof body, &bl);
            jsb_append(&b, i, body, bl);
            body_bytes += bl;
        }
    }
    size_t len = jsb_finish(&b);
    struct jsx_opts jo = {.urls = urls,
                          .stream = "CEIL",
                          .subjects = "ceil.>",
                          .replicas = 3,
                          .timeout_ms = 5000,
                          .name = "bench"};
    jsx_t *js = NULL;
    if (jsx_connect(&jo, &js) || jsx_ensure_stream(js))
        return 1;
    uint64_t msgs = n / 256 + 1;
    int64_t t0 = ah_mono_ms();
    for (uint64_t i = 0; i < msgs; i++) {
        char id[64];
        snprintf(id, sizeof id, "ceil-%" PRIu64, i);
        while (jsx_publish_plain(js, "ceil.x", id, buf, len) != AH_OK)
            nap_ms(10);
    }
    double ceil_s = (double)(msgs * 256) * 1000.0 / (double)(ah_mono_ms() - t0 + 1);
    printf("jetstream ceiling (R3, 256 reads of %zu B/msg, 1 in flight): %.0f reads/s\n",
           body_bytes / 256, ceil_s);

    /* bridge: catch up n reads from the export */
    struct bridge_cfg bc = {0};
    scfg_defaults(bridge_keys, bridge_nkeys, &bc);
    snprintf(bc.headend, sizeof bc.headend, "bench");
    snprintf(bc.feed, sizeof bc.feed, "%s", ep);
    snprintf(bc.replay, sizeof bc.replay, "%s", rp);
    snprintf(bc.js.nats, sizeof bc.js.nats, "%s", urls);
    jsx_t *ami = NULL;
    struct jsx_opts ao = {.urls = urls,
                          .stream = "AMI",
                          .subjects = "ami.feed.>",
                          .replicas = 3,
                          .timeout_ms = 5000,
                          .name = "bench"};
    if (jsx_connect(&ao, &ami) || jsx_ensure_stream(ami))
        return 1;
    /* steady state: from the first batch stored to the last (connecting and
     * the first replay round trip are not the bridge's throughput) */
    struct runner br = {.cfg = &bc};
    pthread_create(&br.t, NULL, bridge_thread, &br);
    uint64_t last = 0, sseq = 0, first_seen = 0;
    for (;;) {
        if (jsx_last(ami, "ami.feed.bench", &sseq, &last) == AH_OK && !first_seen) {
            first_seen = last;
            t0 = ah_mono_ms();
        }
        if (last >= n)
            break;
        nap_ms(5);
    }
    double bridge_s = (double)(n - first_seen) * 1000.0 / (double)(ah_mono_ms() - t0 + 1);
    br.stop = 1;
    pthread_join(br.t, NULL);
    printf("bridge (replay -> JetStream): %.0f reads/s = %.2f x ceiling, %.0f x the "
           "city's 1.7 k reads/s\n",
           bridge_s, bridge_s / ceil_s, bridge_s / CITY_READS_S);

    /* sink: drain them into PostgreSQL */
    struct sink_cfg sc = {0};
    scfg_defaults(sink_keys, sink_nkeys, &sc);
    snprintf(sc.js.nats, sizeof sc.js.nats, "%s", urls);
    snprintf(sc.postgres, sizeof sc.postgres, "%s", pg);
    sinkdb_t *sdb = NULL;
    if (sinkdb_open(pg, &sdb))
        return 1;
    struct runner sr = {.cfg = &sc};
    pthread_create(&sr.t, NULL, sink_thread, &sr);
    for (last = 0, first_seen = 0;
         sinkdb_cursor(sdb, "bench", &last) == AH_OK && last < n;) {
        if (last && !first_seen) {
            first_seen = last;
            t0 = ah_mono_ms();
        }
        nap_ms(5);
    }
    double sink_s = (double)(n - first_seen) * 1000.0 / (double)(ah_mono_ms() - t0 + 1);
    sr.stop = 1;
    pthread_join(sr.t, NULL);
    printf("sink (JetStream -> PostgreSQL): %.0f rows/s = %.2f x ceiling, %.0f x the "
           "city's 1.7 k reads/s\n",
           sink_s, sink_s / ceil_s, sink_s / CITY_READS_S);
    printf("headroom over 1.7 k reads/s: %.0f x (goal >= 20 x): %s\n",
           (bridge_s < sink_s ? bridge_s : sink_s) / CITY_READS_S,
           (bridge_s < sink_s ? bridge_s : sink_s) >= 20 * CITY_READS_S ? "met"
                                                                        : "NOT met");
    sinkdb_destroy(&sdb);
    jsx_destroy(&js);
    jsx_destroy(&ami);
    pub_destroy(&p);
    store_close(&st);
    free(buf);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
