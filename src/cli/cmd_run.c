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
 *
 * Service duties (issue 18): the metrics registry and its HTTP endpoint
 * live here, across reloads; sd_notify READY=1 / RELOADING=1 / STOPPING=1,
 * WATCHDOG=1 and STATUS= from the scheduler's loop (so a hung loop stops
 * the pings); SIGHUP reloads amihead.yaml and the inventory:
 *
 *   SIGHUP -> load + check the new config
 *               refused: its messages are logged, the old one runs on
 *               valid:   wait (bounded) until no link is inside a cycle,
 *                        leave the loop, commit what is queued (pipe_stop
 *                        persists every meter's validation state), start
 *                        the pipeline and the scheduler on the new config
 *                        with the same store, publisher and registry
 *
 * The store, the outbox and its sequence, and the publisher are kept; a
 * change of storage, export, security or metrics needs a restart (logged).
 */
#include "cmd_run.h"
#include "cmd_util.h"
#include "probe.h"

#include "ah_clock.h"
#include "ah_err.h"
#include "ah_log.h"
#include "colstat.h"
#include "config.h"
#include "metrics.h"
#include "pipeline.h"
#include "pub.h"
#include "report.h"
#include "scheduler.h"
#include "store.h"

#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <systemd/sd-daemon.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* leave_flag makes sched_run return; the other two say why. */
static volatile sig_atomic_t leave_flag, term_flag, hup_flag;

static void on_signal(int sig)
{
    if (sig == SIGHUP) {
        hup_flag = 1;
        return; /* the loop's tick picks it up between cycles */
    }
    term_flag = 1;
    leave_flag = 1;
}

/* Meters per synced registration write: a city (1.56 M meters) is ~24
 * writes instead of 1.56 M fsyncs, and the log says how far it got. */
#define REGISTER_CHUNK 65536

static int register_meters(const struct cfg *c, store_t *st, uint32_t *midx)
{
    const char **ids = malloc(REGISTER_CHUNK * sizeof *ids);
    if (!ids) {
        ah_log(AH_LOG_ERROR, "run", "registering meters: %s", ah_strerror(AH_ENOMEM));
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
            ah_log(AH_LOG_ERROR, "run", "registering meters %zu..%zu: %s (%s)", i + 1,
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
        "                   [--log-level L] [--log-format F]\n"
        "  -c, --config FILE   amihead.yaml (docs/config.md)\n"
        "  --time-scale X      simulated seconds per real second (1)\n"
        "  --epoch T           head-end clock at start, e.g. 2025-03-14T00:00:00Z (now)\n"
        "  --until T           stop when the head-end clock reaches T (forever)\n"
        "  --log-level L       debug | info | warn | error (overrides "
        "headend.log_level)\n"
        "  --log-format F      text | json (overrides headend.log_format)\n"
        "SIGTERM / SIGINT stop it after committing what it has read; SIGHUP reloads\n"
        "the config and the inventory (docs/operations.md "
        "\"Reload\").\n" AH_TIME_FORMATS);
}

/* Everything a config is running on; swapped whole by a reload. */
struct run {
    const char *file;
    struct cfg *cfg;
    store_t *st;
    pub_t *pub;
    struct ah_clock *clk;
    met_t *met;
    char reldir[CFG_PATH_MAX + 16];

    pthread_mutex_t mu;     /* pipe/sch/col swap vs the HTTP thread's collectors */
    pthread_mutex_t cfg_mu; /* cfg swap and destroy vs a /report rendering from it
                               (its own lock, so a long report never stalls a scrape) */
    uint32_t *midx;
    pipe_t *pipe;
    sched_t *sch;
    colstat_t *col;
    struct pipe_stats base; /* counters of the pipelines before the last reload */
    struct sched_stats sbase;

    atomic_bool ready;
    atomic_ulong cycles;
    struct cfg *next;    /* a checked config waiting for the loop to leave */
    int64_t next_since;  /* mono ms it has waited */
    int64_t last_notify; /* mono ms of the last WATCHDOG/STATUS */
    int64_t watchdog_ms; /* 0: systemd's watchdog off */
    struct met_series *reloads, *reload_fail;
    bool cli_level, cli_format; /* --log-level / --log-format win over a reload */
};

/* The config as cmd_load_config, its messages through the log. */
static struct cfg *reload_config(const char *file)
{
    struct cfg_diag *d = malloc(sizeof *d);
    if (!d)
        return NULL;
    cfg_diag_init(d);
    struct cfg *c = NULL;
    int rc = cfg_load(file, &c, d);
    for (size_t i = 0; i < d->n; i++)
        ah_log(rc ? AH_LOG_ERROR : AH_LOG_WARN, "reload", "%s", d->msg[i]);
    if (rc == AH_ECONFIG)
        ah_log(AH_LOG_ERROR, "reload",
               "%s: %zu error(s), %zu warning(s): refused, the running config is kept",
               file, d->n_errors, d->n_warnings);
    else if (rc)
        ah_log(AH_LOG_ERROR, "reload", "%s: %s: refused, the running config is kept",
               file, ah_strerror(rc));
    free(d);
    return rc ? NULL : c;
}

/* What a reload cannot change while the store and sockets stay open. */
static void reload_warn_fixed(const struct cfg *o, const struct cfg *n)
{
    if (strcmp(o->storage.path, n->storage.path) != 0)
        ah_log(AH_LOG_WARN, "reload", "storage.path changed: takes effect at restart");
    if (strcmp(o->export.pub, n->export.pub) != 0 ||
        strcmp(o->export.replay, n->export.replay) != 0 ||
        o->security.enabled != n->security.enabled)
        ah_log(AH_LOG_WARN, "reload", "export/security changed: take effect at restart");
    if (strcmp(o->metrics.listen, n->metrics.listen) != 0)
        ah_log(AH_LOG_WARN, "reload", "metrics.listen changed: takes effect at restart");
}

static bool on_tick(sched_t *sch, void *arg);

/* Start the pipeline, scheduler and collection ratios on r->cfg. */
static int run_start(struct run *r)
{
    const struct cfg *c = r->cfg;
    uint32_t *midx = malloc((c->n_meters ? c->n_meters : 1) * sizeof *midx);
    if (!midx)
        return AH_ENOMEM;
    int rrc = register_meters(c, r->st, midx);
    if (rrc != AH_OK) {
        free(midx);
        return rrc;
    }
    struct pipe_vee pv = {c, midx, r->pub, r->clk, r->reldir, 0};
    pipe_t *pipe = NULL;
    int rc = pipe_start_vee(r->st, c->storage.sync, &pv, &pipe);
    if (rc != AH_OK) {
        ah_log(AH_LOG_ERROR, "run", "pipeline: %s", ah_strerror(rc));
        free(midx);
        return rc;
    }
    sched_t *sch = NULL;
    rc = sched_new_met(c, r->clk, pipe, midx, r->met, &sch);
    if (rc != AH_OK) {
        ah_log(AH_LOG_ERROR, "run", "scheduler: %s", ah_strerror(rc));
        pipe_stop(&pipe);
        free(midx);
        return rc;
    }
    sched_set_tick(sch, on_tick, r);
    pipe_set_metrics(pipe, r->met); /* store full, commit errors, replay drops */
    colstat_t *col = NULL;
    if (colstat_start(c, midx, pipe, r->met, r->clk, &col) != AH_OK)
        ah_log(AH_LOG_WARN, "run", "collection ratios: %s (running without)",
               ah_strerror(AH_ENOMEM));
    pthread_mutex_lock(&r->mu);
    r->midx = midx;
    r->pipe = pipe;
    r->sch = sch;
    r->col = col;
    pthread_mutex_unlock(&r->mu);
    return AH_OK;
}

/* Stop what run_start started; AH_OK or the pipeline's last commit error. */
static int run_stop(struct run *r)
{
    pthread_mutex_lock(&r->mu);
    colstat_t *col = r->col;
    sched_t *sch = r->sch;
    pipe_t *pipe = r->pipe;
    r->col = NULL;
    r->sch = NULL;
    r->pipe = NULL;
    pthread_mutex_unlock(&r->mu);
    colstat_stop(&col);
    if (sch) {
        const struct sched_stats *ss = sched_stats(sch);
        r->sbase.cycles += ss->cycles;
        r->sbase.overruns += ss->overruns;
        r->sbase.requests += ss->requests;
        r->sbase.timeouts += ss->timeouts;
        r->sbase.meter_errors += ss->meter_errors;
        r->sbase.reads += ss->reads;
        r->sbase.link_drops += ss->link_drops;
        r->sbase.reconnects += ss->reconnects;
        r->sbase.backed_off += ss->backed_off;
    }
    sched_destroy(&sch);
    int rc = AH_OK;
    if (pipe) {
        struct pipe_stats ps;
        pipe_get_stats(pipe, &ps);
        rc = pipe_stop(&pipe);
        pthread_mutex_lock(&r->mu);
        r->base.pushed += ps.pushed;
        r->base.written += ps.written;
        r->base.batches += ps.batches;
        r->base.commit_errors += ps.commit_errors + (rc != AH_OK);
        pthread_mutex_unlock(&r->mu);
    }
    free(r->midx);
    r->midx = NULL;
    return rc;
}

static void notify_status(struct run *r)
{
    const struct sched_stats *ss = sched_stats(r->sch);
    unsigned long cycles = r->sbase.cycles + ss->cycles;
    atomic_store(&r->cycles, cycles);
    struct met_series *ratio = met_series(r->met, "amihead_collection_ratio", NULL,
                                          MET_GAUGE, "window=\"interval\"");
    sd_notifyf(
        0, "WATCHDOG=1\nSTATUS=cycle %lu, %lu reads, completeness %.2f%% (last interval)",
        cycles, r->sbase.reads + ss->reads, 100.0 * met_get(ratio));
}

/* The scheduler loop's tick: watchdog, status, readiness, SIGHUP. */
static bool on_tick(sched_t *sch, void *arg)
{
    struct run *r = arg;
    int64_t mono = ah_mono_ms();
    int64_t every = r->watchdog_ms ? r->watchdog_ms / 3 : 1000;
    if (every > 1000)
        every = 1000;
    if (mono - r->last_notify >= every) {
        r->last_notify = mono;
        notify_status(r);
    }
    if (!atomic_load(&r->ready) && sched_stats(sch)->cycles > 0)
        atomic_store(&r->ready, true);
    if (hup_flag && !r->next) {
        hup_flag = 0;
        sd_notify(0, "RELOADING=1\nSTATUS=reloading");
        ah_log(AH_LOG_INFO, "reload", "SIGHUP: reading %s", r->file);
        r->next = reload_config(r->file);
        if (!r->next) {
            met_add(r->reload_fail, 1);
            sd_notify(0, "READY=1");
            return false;
        }
        r->next_since = mono;
    }
    /* leave between cycles, or after 30 s real: a cycle cut short only
     * leaves gaps the new scheduler's backfill reads at once */
    if (r->next && (sched_idle(sch) || mono - r->next_since > 30000))
        return true;
    return false;
}

/* Swap to r->next (checked). On a failed start the old config runs on. */
static int run_reload(struct run *r)
{
    struct cfg *old = r->cfg, *nc = r->next;
    r->next = NULL;
    atomic_store(&r->ready, false);
    reload_warn_fixed(old, nc);
    size_t added = 0, removed = 0;
    for (size_t i = 0; i < nc->n_meters; i++) {
        size_t j = 0;
        while (j < old->n_meters && strcmp(old->meters[j].id, nc->meters[i].id) != 0)
            j++;
        added += j == old->n_meters;
    }
    removed = old->n_meters + added - nc->n_meters;
    int rc = run_stop(r);
    if (rc != AH_OK)
        ah_log(AH_LOG_ERROR, "reload", "commit before the reload: %s", ah_strerror(rc));
    pthread_mutex_lock(&r->cfg_mu);
    r->cfg = nc;
    pthread_mutex_unlock(&r->cfg_mu);
    rc = run_start(r);
    if (rc != AH_OK) {
        ah_log(AH_LOG_ERROR, "reload",
               "new config did not start (%s): the old one runs on", ah_strerror(rc));
        met_add(r->reload_fail, 1);
        pthread_mutex_lock(&r->cfg_mu);
        r->cfg = old;
        pthread_mutex_unlock(&r->cfg_mu);
        cfg_destroy(&nc);
        rc = run_start(r);
    } else {
        if (!r->cli_level)
            ah_log_set_level(nc->headend.log_level);
        if (!r->cli_format)
            ah_log_set_format(nc->headend.log_format);
        ah_log(AH_LOG_INFO, "reload",
               "%zu links, %zu meters (%zu added, %zu removed); store, sequence and "
               "validation state kept",
               nc->n_links, nc->n_meters, added, removed);
        met_add(r->reloads, 1);
        pthread_mutex_lock(&r->cfg_mu); /* a /report may still be reading it */
        cfg_destroy(&old);
        pthread_mutex_unlock(&r->cfg_mu);
    }
    sd_notify(0, "READY=1\nSTATUS=reloaded");
    return rc;
}

/* /metrics collector: values owned by the pipeline and the publisher. */
static void collect(met_t *m, void *arg)
{
    struct run *r = arg;
    struct pipe_stats ps = {0};
    pthread_mutex_lock(&r->mu);
    if (r->pipe)
        pipe_get_stats(r->pipe, &ps);
    struct pipe_stats b = r->base;
    pthread_mutex_unlock(&r->mu);
    met_set(met_series(m, "amihead_pipeline_reads_total",
                       "Interval reads handed to the writer", MET_COUNTER, NULL),
            (double)(b.pushed + ps.pushed));
    met_set(met_series(m, "amihead_store_reads_written_total",
                       "Interval reads committed to the store", MET_COUNTER, NULL),
            (double)(b.written + ps.written));
    met_set(met_series(m, "amihead_store_batches_total", "Store write batches committed",
                       MET_COUNTER, NULL),
            (double)(b.batches + ps.batches));
    /* failed commits: amihead_store_commit_errors_total, the writer's own */
    met_set(met_series(m, "amihead_publish_backlog",
                       "Reads read but not yet stored and published", MET_GAUGE, NULL),
            (double)((ps.pushed - ps.written)));
    uint64_t next = pub_next_seq(r->pub);
    met_set(met_series(m, "amihead_published_messages_total",
                       "Messages published (the sequence, continued across restarts)",
                       MET_COUNTER, NULL),
            (double)(next ? next - 1 : 0));
    struct pub_counters pc;
    pub_get_counters(r->pub, &pc);
    met_set(met_series(m, "amihead_replay_requests_total",
                       "Replay requests answered (refusals included)", MET_COUNTER, NULL),
            (double)pc.replay_requests);
    met_set(met_series(m, "amihead_replay_refused_total",
                       "Replay requests refused (bad, expired, unavailable)", MET_COUNTER,
                       NULL),
            (double)pc.replay_refused);
    met_set(met_series(m, "amihead_replay_messages_total",
                       "Outbox messages sent in replay replies", MET_COUNTER, NULL),
            (double)pc.replay_messages);
    met_set(met_series(m, "amihead_outbox_bytes", "Bytes held in the replay outbox",
                       MET_GAUGE, NULL),
            (double)pub_outbox_bytes(r->pub));
    met_set(met_series(m, "amihead_ready", "1 when the store is open and cycles run",
                       MET_GAUGE, NULL),
            atomic_load(&r->ready) ? 1 : 0);
}

/* GET /report[?day=D|D..D]: the report (report.h) from a read-only view
 * of the store; the default day is yesterday on the head-end clock. */
static char *report_page(void *arg, const char *day, size_t *len, const char **type)
{
    struct run *r = arg;
    struct ah_buf b;
    ah_buf_init(&b, REPORT_MAX_BYTES);
    pthread_mutex_lock(&r->cfg_mu);
    const struct cfg *c = r->cfg;
    int64_t d0, d1;
    int rc = AH_OK;
    if (day) {
        rc = report_parse_days(day, &d0, &d1);
    } else {
        d0 = (ah_clock_now_ms(r->clk) / 1000 + c->headend.tz_offset_s) / 86400 - 1;
        d1 = d0;
    }
    store_t *ro = NULL;
    struct store_opts so = {.read_only = true, .no_create = true};
    if (rc == AH_OK)
        rc = store_open(c->storage.path, &so, &ro);
    if (rc == AH_OK)
        rc = report_render(c, ro, d0, d1, &b);
    pthread_mutex_unlock(&r->cfg_mu);
    store_close(&ro);
    if (rc != AH_OK) {
        ah_log(AH_LOG_WARN, "report", "/report?day=%s: %s", day ? day : "",
               ah_strerror(rc));
        ah_buf_free(&b);
        return NULL;
    }
    char *body = (char *)b.data; /* ownership passes to the HTTP response */
    *len = b.len;
    *type = "text/html; charset=utf-8";
    return body;
}

static bool is_ready(void *arg, char *why, size_t cap)
{
    struct run *r = arg;
    if (!atomic_load(&r->ready)) {
        snprintf(why, cap, "not ready: %s",
                 atomic_load(&r->cycles) ? "reloading" : "no cycle has run yet");
        return false;
    }
    snprintf(why, cap, "ready: store open, %lu cycles", atomic_load(&r->cycles));
    return true;
}

/* The command line of `amihead run`. */
struct run_args {
    const char *file;
    double scale;
    const char *epoch_txt, *until_txt; /* read once the config gives the zone */
    bool have_level, have_format;
    enum ah_log_level level;
    enum ah_log_format format;
};

/* Parse argv into *a. -1: go on; else the exit status (0 for --help). */
static int run_parse_args(int argc, char **argv, struct run_args *a)
{
    static const struct option opts[] = {{"config", required_argument, 0, 'c'},
                                         {"time-scale", required_argument, 0, 's'},
                                         {"epoch", required_argument, 0, 'e'},
                                         {"until", required_argument, 0, 'u'},
                                         {"help", no_argument, 0, 'h'},
                                         {"log-level", required_argument, 0, 'l'},
                                         {"log-format", required_argument, 0, 'f'},
                                         {0, 0, 0, 0}};
    *a = (struct run_args){.scale = 1.0, .level = AH_LOG_INFO, .format = AH_LOG_TEXT};
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (o) {
        case 'c':
            a->file = optarg;
            break;
        case 'l':
            if (ah_log_parse_level(optarg, &a->level) != AH_OK) {
                fprintf(stderr,
                        "amihead run: --log-level wants debug|info|warn|error|off, got "
                        "'%s'\n",
                        optarg);
                return 2;
            }
            a->have_level = true;
            break;
        case 'f':
            if (ah_log_parse_format(optarg, &a->format) != AH_OK) {
                fprintf(stderr, "amihead run: --log-format wants text|json, got '%s'\n",
                        optarg);
                return 2;
            }
            a->have_format = true;
            break;
        case 's': {
            char *end;
            a->scale = strtod(optarg, &end);
            if (*end || !(a->scale > 0) || a->scale > 1e6) {
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
                fprintf(stderr, "amihead run: bad time '%s'\n%s", optarg,
                        AH_TIME_FORMATS);
                return 2;
            }
            if (o == 'e')
                a->epoch_txt = optarg;
            else
                a->until_txt = optarg;
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
    if (!a->file || optind != argc) {
        usage(stderr);
        return 2;
    }
    return -1;
}

/* Open the store read-write; on failure say why (a probe of the directory
 * names the usual causes better than RocksDB does). */
static int run_open_store(struct run *r)
{
    const struct cfg *c = r->cfg;
    struct store_opts so = {.headend_id = c->headend.id,
                            .reserve_bytes = (uint64_t)c->storage.reserve_mb << 20};
    int rc = store_open(c->storage.path, &so, &r->st);
    if (rc != AH_OK) {
        char why[512];
        if (probe_dir(c->storage.path, why, sizeof why) != 0)
            fprintf(stderr, "amihead run: store %s: %s\n", c->storage.path, why);
        else
            fprintf(stderr, "amihead run: store %s: %s (%s)\n", c->storage.path,
                    ah_strerror(rc), store_last_error(NULL));
    }
    return rc;
}

/* Bind the publisher and its replay socket; on failure name the endpoint. */
static int run_open_pub(struct run *r)
{
    const struct cfg *c = r->cfg;
    struct pub_opts po = {
        .endpoint = c->export.pub[0] ? c->export.pub : NULL,
        .replay = c->export.replay[0] ? c->export.replay : NULL,
        .headend_id = c->headend.id[0] ? c->headend.id : NULL,
        .retention_ms = (int64_t)c->export.retention_days * 86400 * 1000,
        .retention_bytes = (uint64_t)c->export.retention_mb << 20,
        .server_secret_key = c->security.enabled ? c->security.server_secret_key : NULL,
        .client_keys_dir = c->security.enabled ? c->security.client_keys_dir : NULL,
        .clock = r->clk,
    };
    int rc = pub_new(r->st, &po, &r->pub);
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
    }
    return rc;
}

/* The metrics registry, its pages and (when configured) its listener.
 * r->met may be set on failure: the caller destroys it. */
static int run_start_metrics(struct run *r)
{
    const struct cfg *c = r->cfg;
    r->met = met_new();
    if (!r->met)
        return AH_ENOMEM;
    r->reloads = met_series(r->met, "amihead_reloads_total",
                            "Configurations reloaded (SIGHUP)", MET_COUNTER, NULL);
    r->reload_fail = met_series(r->met, "amihead_reload_failures_total",
                                "Reloads refused (invalid config) or failed to start",
                                MET_COUNTER, NULL);
    met_add_collector(r->met, collect, r);
    met_set_ready(r->met, is_ready, r);
    met_add_page(r->met, "/report", report_page, r);
    /* a busy metrics port is an error like a busy publish port: an
     * operator who configured it expects it to be there */
    if (c->metrics.listen[0]) {
        int mport = 0;
        int rc = met_serve(r->met, c->metrics.listen, &mport);
        if (rc != AH_OK) {
            char why[512];
            if (rc != AH_EBUSY || probe_listen(c->metrics.listen, why, sizeof why) == 0)
                snprintf(why, sizeof why, "%s", ah_strerror(rc));
            fprintf(stderr, "amihead run: metrics.listen %s: %s (%s)\n",
                    c->metrics.listen, why, ah_strerror(rc));
            return rc;
        }
        ah_log(AH_LOG_INFO, "run", "metrics on http://%s/metrics (port %d)",
               c->metrics.listen, mport);
    }
    return AH_OK;
}

static void run_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: epoll_wait returns EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a vanished concentrator is a link error, not a death */
}

/* Cycles until --until, a signal or an error, a reload between two runs
 * of the scheduler; then the summary line. */
static int run_loop(struct run *r, int64_t until)
{
    int rc;
    uint64_t wd_us = 0;
    if (sd_watchdog_enabled(0, &wd_us) > 0)
        r->watchdog_ms = (int64_t)(wd_us / 1000);
    ah_log(AH_LOG_INFO, "run", "%zu links, %zu meters; store %s", r->cfg->n_links,
           r->cfg->n_meters, r->cfg->storage.path);
    sd_notifyf(0, "READY=1\nMAINPID=%lu\nSTATUS=running: %zu links, %zu meters",
               (unsigned long)getpid(), r->cfg->n_links, r->cfg->n_meters);
    for (;;) {
        rc = sched_run(r->sch, until, &leave_flag);
        if (rc != AH_OK || term_flag || !r->next)
            break;
        if (run_reload(r) != AH_OK) {
            rc = AH_EIO;
            break;
        }
    }
    sd_notify(0, "STOPPING=1\nSTATUS=stopping");
    if (r->next)
        cfg_destroy(&r->next);
    const struct sched_stats *ss = sched_stats(r->sch);
    struct sched_stats t = r->sbase;
    ah_log(AH_LOG_INFO, "run",
           "stopping: %lu cycles, %lu overruns, %lu requests, %lu timeouts, %lu meter "
           "errors, "
           "%lu reads, %lu link drops, %lu reconnects, %lu backed off",
           t.cycles + ss->cycles, t.overruns + ss->overruns, t.requests + ss->requests,
           t.timeouts + ss->timeouts, t.meter_errors + ss->meter_errors,
           t.reads + ss->reads, t.link_drops + ss->link_drops,
           t.reconnects + ss->reconnects, t.backed_off + ss->backed_off);
    return rc;
}

int cmd_run(int argc, char **argv)
{
    struct run_args a;
    int64_t epoch = -1, until = -1;
    int ex = run_parse_args(argc, argv, &a);
    if (ex >= 0)
        return ex;
    struct cfg *c = cmd_load_config("run", a.file);
    if (!c)
        return 1;
    /* a time without zone is local in headend.timezone, as in every command */
    if ((a.epoch_txt &&
         cmd_time_arg("run", c, "--epoch", a.epoch_txt, &epoch) != CMD_GO) ||
        (a.until_txt &&
         cmd_time_arg("run", c, "--until", a.until_txt, &until) != CMD_GO)) {
        cfg_destroy(&c);
        return 2;
    }
    ah_log_set_level(a.have_level ? a.level : c->headend.log_level);
    ah_log_set_format(a.have_format ? a.format : c->headend.log_format);

    int status = 1;
    struct ah_clock clk;
    ah_clock_init(&clk, epoch, a.scale);
    ah_clock_set_default(&clk);
    struct run r = {.file = a.file,
                    .cfg = c,
                    .clk = &clk,
                    .cli_level = a.have_level,
                    .cli_format = a.have_format};
    pthread_mutex_init(&r.mu, NULL);
    pthread_mutex_init(&r.cfg_mu, NULL);

    if (run_open_store(&r) != AH_OK)
        goto out_cfg;
    if (run_open_pub(&r) != AH_OK)
        goto out_store;
    if (run_start_metrics(&r) != AH_OK)
        goto out_met;
    pipe_release_dir(c->storage.path, r.reldir, sizeof r.reldir);
    if (run_start(&r) != AH_OK) {
        fprintf(stderr, "amihead run: could not start (see the log)\n");
        goto out_met;
    }
    run_install_signals();
    status = run_loop(&r, until) == AH_OK ? 0 : 1;
    met_stop(r.met); /* no scrape may see the pipeline go */
    {
        int prc = run_stop(&r);
        if (prc != AH_OK) {
            fprintf(stderr, "amihead run: last store commit failed: %s\n",
                    ah_strerror(prc));
            status = 1;
        }
    }
out_met:
    met_destroy(&r.met);
    pub_destroy(&r.pub);
out_store:
    store_close(&r.st);
out_cfg:
    cfg_destroy(&r.cfg);
    pthread_mutex_destroy(&r.mu);
    pthread_mutex_destroy(&r.cfg_mu);
    return status;
}
