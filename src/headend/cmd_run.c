/*
 * cmd_run — `amihead run -c FILE [--time-scale X --epoch T] [--until T]`:
 * load the config (refusing a bad one like check-config), open the store,
 * register the meters, start the pipeline's writer thread and run the
 * scheduler's loop until --until on the head-end clock or SIGTERM/SIGINT,
 * then commit what is queued and exit 0.
 *
 * The publisher (pub_) is made here from export/security and handed to the
 * pipeline, which validates, stores and publishes in one batch.
 *
 * It must not poll or write the store itself: sched_ and pipe_ do.
 */
#include "cmd_run.h"
#include "cmd_util.h"
#include "probe.h"

#include "ah_clock.h"
#include "ah_err.h"
#include "ah_log.h"
#include "config.h"
#include "pipeline.h"
#include "pub.h"
#include "scheduler.h"
#include "store.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

struct cfg *cmd_run_load_config(const char *cmd, const char *file)
{
    struct cfg_diag *d = malloc(sizeof *d); /* ~20 KiB: keep it off the stack */
    if (!d) {
        fprintf(stderr, "amihead %s: %s\n", cmd, ah_strerror(AH_ENOMEM));
        return NULL;
    }
    cfg_diag_init(d);
    struct cfg *c = NULL;
    int rc = cfg_load(file, &c, d);
    for (size_t i = 0; i < d->n; i++)
        fprintf(stderr, "%s\n", d->msg[i]);
    if (d->dropped)
        fprintf(stderr, "... and %zu more problems not shown\n", d->dropped);
    if (rc == AH_ECONFIG)
        fprintf(stderr, "%s: %zu error%s, %zu warning%s\n", file, d->n_errors,
                d->n_errors == 1 ? "" : "s", d->n_warnings,
                d->n_warnings == 1 ? "" : "s");
    else if (rc)
        fprintf(stderr, "amihead %s: %s: %s\n", cmd, file, ah_strerror(rc));
    free(d);
    return rc ? NULL : c;
}

/* Meters per synced registration write: a city (1.56 M meters) is ~24
 * writes instead of 1.56 M fsyncs, and the log says how far it got. */
#define REGISTER_CHUNK 65536

static int register_meters(const struct cfg *c, store_t *st, uint32_t *midx)
{
    const char **ids = malloc(REGISTER_CHUNK * sizeof *ids);
    if (!ids) {
        fprintf(stderr, "amihead run: registering meters: %s\n", ah_strerror(AH_ENOMEM));
        return AH_ENOMEM;
    }
    int64_t t0 = ah_mono_ms(), last = t0;
    int rc = AH_OK;
    for (size_t i = 0; i < c->n_meters && rc == AH_OK; i += REGISTER_CHUNK) {
        size_t n = c->n_meters - i < REGISTER_CHUNK ? c->n_meters - i : REGISTER_CHUNK;
        for (size_t j = 0; j < n; j++)
            ids[j] = c->meters[i + j].id;
        rc = store_meters_register(st, ids, n, midx + i);
        if (rc != AH_OK) {
            fprintf(stderr, "amihead run: registering meters %zu..%zu: %s (%s)\n", i + 1,
                    i + n, ah_strerror(rc), store_last_error(st));
        } else if (ah_mono_ms() - last >= 1000 && i + n < c->n_meters) {
            last = ah_mono_ms();
            ah_log(AH_LOG_INFO, "run", "registering meters: %zu of %zu", i + n,
                   c->n_meters);
        }
    }
    if (rc == AH_OK)
        ah_log(AH_LOG_INFO, "run", "%zu meters registered in %.1f s", c->n_meters,
               (double)(ah_mono_ms() - t0) / 1000.0);
    free(ids);
    return rc;
}

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: amihead run -c FILE [--time-scale X --epoch T] [--until T]\n"
        "  -c, --config FILE   amihead.yaml (docs/config.md)\n"
        "  --time-scale X      simulated seconds per real second (1)\n"
        "  --epoch T           head-end clock at start, e.g. 2025-03-14T00:00:00Z (now)\n"
        "  --until T           stop when the head-end clock reaches T (forever)\n"
        "SIGTERM / SIGINT stop it after committing what it has read.\n" AH_TIME_FORMATS);
}

int cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, 0, 'c'}, {"time-scale", required_argument, 0, 's'},
        {"epoch", required_argument, 0, 'e'},  {"until", required_argument, 0, 'u'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    const char *file = NULL;
    double scale = 1.0;
    int64_t epoch = -1, until = -1;
    const char *epoch_txt = NULL, *until_txt = NULL;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (o) {
        case 'c':
            file = optarg;
            break;
        case 's': {
            char *end;
            scale = strtod(optarg, &end);
            if (*end || !(scale > 0) || scale > 1e6) {
                fprintf(stderr,
                        "amihead run: --time-scale wants a number > 0, got '%s'\n",
                        optarg);
                return 2;
            }
            break;
        }
        case 'e':
        case 'u': {
            int64_t t;
            bool zone;
            if (ah_time_parse_zone(optarg, 0, &t, &zone) != AH_OK) {
                fprintf(stderr, "amihead run: bad time '%s'\n%s", optarg, AH_TIME_FORMATS);
                return 2;
            }
            if (o == 'e')
                epoch_txt = optarg;
            else
                until_txt = optarg;
            break;
        }
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!file || optind != argc) {
        usage(stderr);
        return 2;
    }
    struct cfg *c = cmd_run_load_config("run", file);
    if (!c)
        return 1;
    /* a time without zone is local in headend.timezone, as in every command */
    if ((epoch_txt && cmd_time_arg("run", c, "--epoch", epoch_txt, &epoch) != CMD_GO) ||
        (until_txt && cmd_time_arg("run", c, "--until", until_txt, &until) != CMD_GO)) {
        cfg_destroy(&c);
        return 2;
    }
    ah_log_set_level(c->headend.log_level);

    int status = 1;
    struct ah_clock clk;
    ah_clock_init(&clk, epoch, scale);
    ah_clock_set_default(&clk);

    store_t *st = NULL;
    struct store_opts so = {.headend_id = c->headend.id};
    int rc = store_open(c->storage.path, &so, &st);
    if (rc != AH_OK) {
        char why[512];
        if (probe_dir(c->storage.path, why, sizeof why) != 0)
            fprintf(stderr, "amihead run: store %s: %s\n", c->storage.path, why);
        else
            fprintf(stderr, "amihead run: store %s: %s (%s)\n", c->storage.path,
                    ah_strerror(rc), store_last_error(NULL));
        goto out_cfg;
    }
    uint32_t *midx = malloc((c->n_meters ? c->n_meters : 1) * sizeof *midx);
    if (!midx)
        goto out_store;
    if (register_meters(c, st, midx) != AH_OK)
        goto out_midx;
    pub_t *pub = NULL;
    struct pub_opts po = {
        .endpoint = c->export.pub[0] ? c->export.pub : NULL,
        .replay = c->export.replay[0] ? c->export.replay : NULL,
        .headend_id = c->headend.id[0] ? c->headend.id : NULL,
        .retention_ms = (int64_t)c->export.retention_days * 86400 * 1000,
        .retention_bytes = (uint64_t)c->export.retention_mb << 20,
        .server_secret_key = c->security.enabled ? c->security.server_secret_key : NULL,
        .client_keys_dir = c->security.enabled ? c->security.client_keys_dir : NULL,
        .clock = &clk,
    };
    rc = pub_new(st, &po, &pub);
    if (rc != AH_OK) {
        const char *ep = po.endpoint ? po.endpoint : PUB_DEFAULT_ENDPOINT;
        const char *rp = po.replay ? po.replay : PUB_DEFAULT_REPLAY;
        char why[512];
        if (probe_listen(ep, why, sizeof why) != 0)
            fprintf(stderr, "amihead run: export.pub %s: %s\n", ep, why);
        else if (probe_listen(rp, why, sizeof why) != 0)
            fprintf(stderr, "amihead run: export.replay %s: %s\n", rp, why);
        else
            fprintf(stderr, "amihead run: export %s / %s: %s\n", ep, rp, ah_strerror(rc));
        goto out_midx;
    }
    char reldir[CFG_PATH_MAX + 16];
    pipe_release_dir(c->storage.path, reldir, sizeof reldir);
    struct pipe_vee pv = {c, midx, pub, &clk, reldir};
    pipe_t *pipe = NULL;
    rc = pipe_start_vee(st, c->storage.sync, &pv, &pipe);
    if (rc != AH_OK) {
        fprintf(stderr, "amihead run: pipeline: %s\n", ah_strerror(rc));
        goto out_pub;
    }
    sched_t *sch = NULL;
    rc = sched_new(c, &clk, pipe, midx, &sch);
    if (rc != AH_OK) {
        fprintf(stderr, "amihead run: scheduler: %s\n", ah_strerror(rc));
        goto out_pipe;
    }
    /* ---- metrics (owned by the links helper: sched_ keeps the registry) */
    if (c->metrics.listen[0]) {
        int mport = 0;
        rc = sched_serve_metrics(sch, c->metrics.listen, &mport);
        /* metrics never stop collection (metrics.h): a busy port is logged */
        char why[512];
        if (rc != AH_OK && probe_listen(c->metrics.listen, why, sizeof why) != 0)
            ah_log(AH_LOG_ERROR, "run", "metrics.listen %s: %s (collecting without)",
                   c->metrics.listen, why);
        else if (rc != AH_OK)
            ah_log(AH_LOG_ERROR, "run", "metrics on %s: %s (collecting without)",
                   c->metrics.listen, ah_strerror(rc));
        else
            ah_log(AH_LOG_INFO, "run", "metrics on http://%s/metrics (port %d)",
                   c->metrics.listen, mport);
    }
    /* ---- end of metrics */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: epoll_wait returns EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a vanished concentrator is a link error, not a death */

    ah_log(AH_LOG_INFO, "run", "%zu links, %zu meters; store %s", c->n_links, c->n_meters,
           c->storage.path);
    rc = sched_run(sch, until, &stop_flag);
    const struct sched_stats *ss = sched_stats(sch);
    ah_log(AH_LOG_INFO, "run",
           "stopping: %lu cycles, %lu overruns, %lu requests, %lu timeouts, %lu meter "
           "errors, "
           "%lu reads, %lu link drops, %lu reconnects, %lu backed off",
           ss->cycles, ss->overruns, ss->requests, ss->timeouts, ss->meter_errors,
           ss->reads, ss->link_drops, ss->reconnects, ss->backed_off);
    status = rc == AH_OK ? 0 : 1;
    sched_destroy(&sch);
out_pipe : {
    int prc = pipe_stop(&pipe);
    if (prc != AH_OK) {
        fprintf(stderr, "amihead run: last store commit failed: %s\n", ah_strerror(prc));
        status = 1;
    }
}
out_pub:
    pub_destroy(&pub);
out_midx:
    free(midx);
out_store:
    store_close(&st);
out_cfg:
    cfg_destroy(&c);
    return status;
}
