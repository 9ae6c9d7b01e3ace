/*
 * bench_pipeline — decoded reads through the whole pipeline (validation,
 * one RocksDB batch per step, ZeroMQ publish to a live subscriber) for
 * 10,000 meters x 20 intervals, next to two ceilings measured in the same
 * run with the same records and message sizes: RocksDB WriteBatch(1000) of
 * the same reads with no other work, and a bare ZeroMQ PUB->SUB of messages
 * as long as the ones the subscriber received. Goal: >= 0.6 of the RocksDB
 * ceiling and >= 150 k reads/s. Last line: JSON figures for make bench.
 */
#include "ah_clock.h"
#include "ah_err.h"
#include "config.h"
#include "pipeline.h"
#include "pub.h"
#include "store.h"
#include "sub.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

enum {
    NLINK = 40,
    PER_LINK = 250,
    NMETER = NLINK * PER_LINK,
    STEPS = 20,
    ZMSGS = 300000
};
static const int64_t T0 = 1741910400; /* 2025-03-14 00:00 UTC */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    socklen_t l = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) ||
        getsockname(fd, (struct sockaddr *)&a, &l))
        return -1;
    close(fd);
    return ntohs(a.sin_port);
}

struct counter {
    char endpoint[64];
    atomic_int stop;
    atomic_ulong msgs, bytes;
};

static void *sub_thread(void *arg)
{
    struct counter *c = arg;
    struct sub_opts o = {.endpoint = c->endpoint, .rcvhwm = 1000000};
    sub_t *s = NULL;
    if (sub_new(&o, &s) != AH_OK)
        return NULL;
    struct sub_msg m;
    while (!atomic_load(&c->stop))
        if (sub_next(s, 100, &m) == AH_OK) {
            atomic_fetch_add(&c->msgs, 1);
            atomic_fetch_add(&c->bytes, m.body_len);
        }
    sub_destroy(&s);
    return NULL;
}

static void fill(struct pipe_read *r, uint32_t meter, int k)
{
    memset(r, 0, sizeof *r);
    r->meter = meter;
    r->read.end = (uint64_t)(T0 + (int64_t)k * 900);
    r->read.source = 0;
    r->read.present = AH_READ_HAS_IMP_TOTAL | AH_READ_HAS_IMP_TARIFFS;
    r->read.ct = r->read.pt = 1;
    r->read.imp_total = 100000 + (int64_t)meter * 7 + k * 3;
    r->read.imp_tariff[0] = r->read.imp_total;
    r->read.meter_clock_ms = r->read.headend_clock_ms =
        (int64_t)r->read.end * 1000 + 5000;
}

/* Same-run ZeroMQ ceiling: PUB -> SUB over loopback TCP, len-byte messages. */
static double zmq_ceiling(size_t len)
{
    int port = free_port();
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", port);
    void *ctx = zmq_ctx_new();
    void *pub = zmq_socket(ctx, ZMQ_PUB), *sub = zmq_socket(ctx, ZMQ_SUB);
    int hwm = 0;
    zmq_setsockopt(pub, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(sub, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_bind(pub, ep);
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0);
    zmq_connect(sub, ep);
    char *buf = calloc(1, len + 1);
    char rb[65536];
    /* wait until the subscription has reached the publisher */
    for (;;) {
        zmq_send(pub, buf, len, 0);
        if (zmq_recv(sub, rb, sizeof rb, ZMQ_DONTWAIT) >= 0)
            break;
        usleep(1000);
    }
    while (zmq_recv(sub, rb, sizeof rb, ZMQ_DONTWAIT) >= 0)
        ;
    double t = now_s();
    int got = 0;
    for (int i = 0; i < ZMSGS; i++) {
        zmq_send(pub, buf, len, 0);
        while (zmq_recv(sub, rb, sizeof rb, ZMQ_DONTWAIT) >= 0)
            got++;
    }
    while (got < ZMSGS && zmq_recv(sub, rb, sizeof rb, 0) >= 0)
        got++;
    t = now_s() - t;
    free(buf);
    zmq_close(pub);
    zmq_close(sub);
    zmq_ctx_term(ctx);
    return ZMSGS / t;
}

/* One run through the real pipeline: nlink x PER_LINK meters (the first of
 * each link a district meter) x steps intervals, fresh store in dir. Fills
 * the rate and what the subscriber received; *midx_out (caller frees) is
 * the store's meter index of each meter, for the ceiling's same keys. */
struct run {
    double rate;
    unsigned long msgs;
    size_t msg_len;
    uint32_t *midx;
};

static int pipe_run(const char *dir, int nlink, int steps, struct run *out)
{
    size_t nmeter = (size_t)nlink * PER_LINK;
    char path[256], store[256];
    snprintf(path, sizeof path, "%s/meters.csv", dir);
    snprintf(store, sizeof store, "%s/store", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return 1;
    fprintf(f, "meter_id,protocol,link,address,unit_id,map,wiring,ct,pt,rated_current,"
               "max_current,nominal_voltage,district,class,role,bidirectional\n");
    for (int l = 0; l < nlink; l++)
        for (int j = 0; j < PER_LINK; j++)
            fprintf(f,
                    "%06d%06d,dlt645-2007,c%d,%06d%06d,,,1P2W,1,1,5.0,60.0,220.0,d%d,C,%"
                    "s,no\n",
                    l + 1, j, l, l + 1, j, l, j ? "customer" : "district");
    fclose(f);
    int pport = free_port(), rport = free_port();
    snprintf(path, sizeof path, "%s/amihead.yaml", dir);
    f = fopen(path, "w");
    if (!f)
        return 1;
    fprintf(f,
            "headend:\n  id: bench\n  timezone: UTC\n  log_level: error\ninventory: "
            "meters.csv\n"
            "storage:\n  path: %s\n  sync: false\n"
            "schedule:\n  interval_min: 15\n  backfill_days: 1\nlinks:\n",
            store);
    for (int l = 0; l < nlink; l++)
        fprintf(f, "  - name: c%d\n    type: dlt645-tcp\n    endpoint: 127.1.%d.%d:1\n",
                l, l / 250, l % 250 + 1);
    fprintf(f, "export:\n  pub: tcp://127.0.0.1:%d\n  replay: tcp://127.0.0.1:%d\n",
            pport, rport);
    fclose(f);

    struct cfg_diag *d = calloc(1, sizeof *d);
    cfg_diag_init(d);
    struct cfg *c = NULL;
    if (cfg_load(path, &c, d) != AH_OK) {
        for (size_t i = 0; i < d->n; i++)
            fprintf(stderr, "%s\n", d->msg[i]);
        return 1;
    }
    free(d);
    ah_log_set_level(AH_LOG_ERROR);
    store_t *st = NULL;
    if (store_open(store, NULL, &st) != AH_OK)
        return 1;
    uint32_t *midx = malloc(nmeter * sizeof *midx);
    const char **ids = malloc(nmeter * sizeof *ids);
    for (size_t i = 0; i < nmeter; i++)
        ids[i] = c->meters[i].id;
    if (store_meters_register(st, ids, nmeter, midx) != AH_OK)
        return 1;
    struct ah_clock clk;
    ah_clock_init(&clk, (T0 + (steps + 1) * 900) * 1000, 1.0);
    struct counter cnt = {0};
    snprintf(cnt.endpoint, sizeof cnt.endpoint, "tcp://127.0.0.1:%d", pport);
    char pep[64], rep[64];
    snprintf(pep, sizeof pep, "tcp://127.0.0.1:%d", pport);
    snprintf(rep, sizeof rep, "tcp://127.0.0.1:%d", rport);
    struct pub_opts po = {
        .endpoint = pep, .replay = rep, .sndhwm = 1000000, .clock = &clk};
    pub_t *pub = NULL;
    if (pub_new(st, &po, &pub) != AH_OK)
        return 1;
    pthread_t th;
    pthread_create(&th, NULL, sub_thread, &cnt);
    usleep(500000); /* the subscriber connects before the first message */
    char reldir[300];
    pipe_release_dir(store, reldir, sizeof reldir);
    struct pipe_vee pv = {c, midx, pub, &clk, reldir, 0};
    pipe_t *p = NULL;
    if (pipe_start_vee(st, false, &pv, &p) != AH_OK)
        return 1;
    double t = now_s();
    struct pipe_read r;
    for (int k = 1; k <= steps; k++)
        for (size_t i = 0; i < nmeter; i++) {
            fill(&r, midx[i], k);
            if (pipe_push(p, &r) != AH_OK)
                return 1;
        }
    if (pipe_stop(&p) != AH_OK) /* commits what is queued */
        return 1;
    double run_s = now_s() - t;
    usleep(300000);
    atomic_store(&cnt.stop, 1);
    pthread_join(th, NULL);
    out->rate = (double)nmeter * steps / run_s;
    out->msgs = atomic_load(&cnt.msgs);
    unsigned long bytes = atomic_load(&cnt.bytes);
    out->msg_len = out->msgs ? bytes / out->msgs : 200;
    out->midx = midx;
    pub_destroy(&pub);
    store_close(&st);
    cfg_destroy(&c);
    free(ids);
    return 0;
}

static int rm_rf(const char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}

/* A city's day (issue 16): 150 M interval reads (1.56 M meters x 96) must
 * pass the pipeline in < 17 minutes. Run one day of reads of three fleets
 * (~1 M, 2 M, 4 M reads), each on a fresh store, and extrapolate only
 * when the rate stays flat as the store grows (spread <= 15 %, the largest
 * run no slower than 0.85 of the smallest): the figure is then the
 * largest run's rate carried to 150 M. */
static int city_day(void)
{
    static const int links[] = {42, 84, 167}; /* x 250 meters x 96 = 1.0, 2.0, 4.0 M */
    double rate[3], lo = 1e18, hi = 0, sum = 0;
    for (int i = 0; i < 3; i++) {
        char dir[] = "/tmp/bench_cityday.XXXXXX";
        if (!mkdtemp(dir))
            return 1;
        struct run o;
        if (pipe_run(dir, links[i], 96, &o) != 0)
            return 1;
        free(o.midx);
        rm_rf(dir);
        rate[i] = o.rate;
        lo = rate[i] < lo ? rate[i] : lo;
        hi = rate[i] > hi ? rate[i] : hi;
        sum += rate[i];
        printf("city-day: %d meters x 96 intervals = %.2f M reads: %.0f reads/s\n",
               links[i] * PER_LINK, links[i] * PER_LINK * 96 / 1e6, rate[i]);
        fflush(stdout);
    }
    double spread = (hi - lo) / (sum / 3);
    bool flat = spread <= 0.15 && rate[2] >= 0.85 * rate[0];
    double min = 150e6 / rate[2] / 60;
    printf(
        "city-day: rate spread %.1f %% across sizes (%s); 150 M reads at the 4 M run's "
        "%.0f reads/s: %.1f minutes = %.2f x the 17-minute goal\n",
        spread * 100, flat ? "flat: extrapolated" : "NOT flat: no extrapolation", rate[2],
        min, min / 17);
    printf("{\"cityday_minutes\": {\"value\": %.1f, \"unit\": \"min for 150 M reads\", "
           "\"goal\": \"< 17\", \"ok\": %s}, \"cityday_vs_goal\": {\"value\": %.2f, "
           "\"unit\": \"x 17 min\", \"goal\": \"< 1\", \"ok\": %s}, "
           "\"cityday_rate_spread\": {\"value\": %.3f, \"unit\": \"(max-min)/mean\", "
           "\"goal\": \"<= 0.15\", \"ok\": %s}}\n",
           min, flat && min < 17 ? "true" : "false", min / 17,
           flat && min < 17 ? "true" : "false", spread, flat ? "true" : "false");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--city-day") == 0)
        return city_day();
    char dir[] = "/tmp/bench_pipeline.XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char store[256];
    struct run o;
    if (pipe_run(dir, NLINK, STEPS, &o) != 0)
        return 1;
    uint32_t *midx = o.midx;
    double reads = (double)NMETER * STEPS, rate = o.rate, t;
    unsigned long msgs = o.msgs;
    size_t msg_len = o.msg_len;
    store_t *st = NULL;
    struct pipe_read r;

    /* RocksDB ceiling: the same reads, WriteBatch(1000), nothing else */
    snprintf(store, sizeof store, "%s/ceiling", dir);
    if (store_open(store, NULL, &st) != AH_OK)
        return 1;
    t = now_s();
    size_t inb = 0;
    store_batch_begin(st);
    for (int k = 1; k <= STEPS; k++)
        for (size_t i = 0; i < NMETER; i++) {
            fill(&r, midx[i], k);
            store_batch_put_read(st, r.meter, &r.read);
            if (++inb == 1000) {
                store_batch_commit(st, false);
                store_batch_begin(st);
                inb = 0;
            }
        }
    store_batch_commit(st, false);
    double rdb = reads / (now_s() - t);
    store_close(&st);
    double zq = zmq_ceiling(msg_len);
    printf(
        "pipeline: %.0f reads/s (%lu published messages of %zu B to a live subscriber); "
        "RocksDB WriteBatch(1000) ceiling %.0f reads/s, ratio %.2f (goal >= 0.6); "
        "ZeroMQ PUB->SUB ceiling %.0f msgs/s of %zu B, ratio %.2f\n",
        rate, msgs, msg_len, rdb, rate / rdb, zq, msg_len,
        (double)msgs / (reads / rate) / zq);
    bool ok = rate / rdb >= 0.6 && rate >= 150000;
    printf("{\"pipeline_reads\": {\"value\": %.0f, \"unit\": \"reads/s\", \"goal\": \">= "
           "150000\", \"ok\": %s}, \"pipeline_vs_rocksdb\": {\"value\": %.2f, \"unit\": "
           "\"x ceiling\", \"goal\": \">= 0.6\", \"ok\": %s}, \"ceiling_rocksdb\": "
           "{\"value\": "
           "%.0f, \"unit\": \"puts/s\", \"goal\": \"report\", \"ok\": true}, "
           "\"ceiling_zeromq\": {\"value\": %.0f, \"unit\": \"msgs/s\", \"goal\": "
           "\"report\", "
           "\"ok\": true}}\n",
           rate, rate >= 150000 ? "true" : "false", rate / rdb, ok ? "true" : "false",
           rdb, zq);
    free(midx);
    return rm_rf(dir);
}
