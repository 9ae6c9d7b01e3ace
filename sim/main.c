/*
 * amisim — fleet simulator of AMI concentrators and meters (issue 3).
 *
 * main runs four phases, one function each: parse the command line (one
 * table of options, each with the setter of its value type), build the
 * fleet and its faults, then either write files only (--series, or truth /
 * config without endpoints) or serve: open every endpoint, write the
 * truth / config files naming them, print one line per endpoint and
 * "ready", and run the event loop until SIGTERM/SIGINT.
 * Usage and file formats: docs/amisim.md.
 */
#include "ah_clock.h"
#include "ah_err.h"
#include "ah_log.h"
#include "sim_fleet.h"
#include "sim_modbus.h"
#include "sim_net.h"
#include "sim_truth.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static volatile sig_atomic_t stop_flag, stats_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void on_usr1(int sig)
{
    (void)sig;
    stats_flag = 1;
}

static void usage(FILE *o)
{
    fprintf(
        o,
        "usage: amisim --concentrators N --meters M [--port-base P] [options]\n"
        "  --bind ADDR            listen address (127.0.0.1)\n"
        "  --dial HOST:PORT       concentrators dial in to a head-end instead\n"
        "  --seed S               fleet seed (1)\n"
        "  --epoch T              simulated start, 2025-03-14T00:00:00Z or epoch s "
        "(now)\n"
        "  --time-scale X         simulated seconds per real second (1)\n"
        "  --tz-offset H          meters' local time offset from UTC, hours (8)\n"
        "  --history-days D       days of 15-min load records in meter memory (10)\n"
        "  --loss PCT             technical loss of every district (2..6 %% by seed)\n"
        "  --dlt1997-every N      every N-th customer meter speaks DL/T 645-1997 (0)\n"
        "  --no-datetime-every N  every N-th customer meter lacks 0400010C (0)\n"
        "  --pv-districts N       every N-th district (the N-th, 2N-th...) has 40 %% PV\n"
        "                         prosumers whose export matters in its balance (0)\n"
        "  --faults none|default|FILE   fault schedule (none)\n"
        "  --truth FILE           write ground truth JSON\n"
        "  --truth-series FROM,TO include every meter's registers per interval\n"
        "  --series FROM,TO       print registers as JSON lines and exit\n"
        "  --series-meter ADDR    ... of one meter only\n"
        "  --write-config DIR     write amihead.yaml + meters.csv for this fleet\n"
        "  --pty                  one pseudo-terminal per concentrator\n"
        "  --baud B               pty line rate (2400)\n"
        "  --td-ms MS             pty response delay Td, 20..500 (50)\n"
        "  --modbus-tcp-base P2   Modbus TCP meters on P2, P2+1, ...\n"
        "  --modbus-rtu           Modbus RTU meters, one pseudo-terminal each\n"
        "  --modbus-meters K      number of Modbus meters (2: sdm630, dtsu666, ...)\n"
        "  --log-level L          debug|info|warn|error (warn)\n");
}

/* Everything the command line sets, with the defaults of usage(). */
struct sim_args {
    unsigned long nconc, per, port, seed, hist, every97, every_nodt, baud, td, mbtcp, mbn,
        pvd;
    long tz_h;
    int32_t loss_ppm; /* -1: by seed */
    double scale;
    int64_t epoch_ms;                /* -1: now */
    int64_t ts_range[2], s_range[2]; /* --truth-series, --series FROM,TO */
    const char *bind, *dial, *faults, *truth, *wconf, *smeter;
    bool pty, mbrtu, series;
};

static const struct sim_args args_default = {
    .nconc = 1,
    .per = 4,
    .seed = 1,
    .hist = 10,
    .baud = 2400,
    .td = 50,
    .mbn = 2,
    .tz_h = 8,
    .loss_ppm = -1,
    .scale = 1.0,
    .epoch_ms = -1,
    .bind = "127.0.0.1",
    .faults = "none",
};

/* One command-line option: its name, the setter of its value type, where
 * the value lands in struct sim_args and, for numbers, its bounds. A
 * setter returns 0, or -1 for a bad value. */
struct sim_opt {
    const char *name;
    int (*set)(const struct sim_opt *o, const char *arg, struct sim_args *a);
    size_t off;
    unsigned long min, max;
};

#define FIELD(a, o, type) ((type *)(void *)((char *)(a) + (o)->off))

static int parse_u(const char *s, unsigned long min, unsigned long max,
                   unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max || s[0] == '-')
        return -1;
    *out = v;
    return 0;
}

static int parse_time_s(const char *s, int64_t *out)
{
    int64_t ms;
    if (ah_time_parse(s, &ms) < 0)
        return -1;
    *out = ms / 1000;
    return 0;
}

static int parse_range(const char *s, int64_t *a, int64_t *b)
{
    char buf[128];
    const char *comma = strchr(s, ',');
    if (!comma || (size_t)(comma - s) >= sizeof buf)
        return -1;
    memcpy(buf, s, (size_t)(comma - s));
    buf[comma - s] = '\0';
    return parse_time_s(buf, a) < 0 || parse_time_s(comma + 1, b) < 0 || *b < *a ? -1 : 0;
}

static int set_ulong(const struct sim_opt *o, const char *arg, struct sim_args *a)
{
    return parse_u(arg, o->min, o->max, FIELD(a, o, unsigned long));
}

static int set_str(const struct sim_opt *o, const char *arg, struct sim_args *a)
{
    *FIELD(a, o, const char *) = arg;
    return 0;
}

/* An option without a value: sets its bool. */
static int set_flag(const struct sim_opt *o, const char *arg, struct sim_args *a)
{
    (void)arg;
    *FIELD(a, o, bool) = true;
    return 0;
}

static int set_epoch(const struct sim_opt *o, const char *arg, struct sim_args *a)
{
    return ah_time_parse(arg, FIELD(a, o, int64_t)) < 0 ? -1 : 0;
}

/* Simulated seconds per real second: (0, 10^6]. */
static int set_scale(const struct sim_opt *o, const char *arg, struct sim_args *a)
{
    char *end;
    double x = strtod(arg, &end);
    *FIELD(a, o, double) = x;
    return end == arg || *end || !(x > 0 && x <= 1e6) ? -1 : 0;
}

/* Whole hours east of UTC, as time zones go: -12..+14. */
static int set_tz(const struct sim_opt *o, const char *arg, struct sim_args *a)
{
    char *end;
    long h = strtol(arg, &end, 10);
    *FIELD(a, o, long) = h;
    return end == arg || *end || h < -12 || h > 14 ? -1 : 0;
}

/* Technical loss in percent, 0 <= p < 50, kept in ppm. */
static int set_loss(const struct sim_opt *o, const char *arg, struct sim_args *a)
{
    char *end;
    double p = strtod(arg, &end);
    if (end == arg || *end || p < 0 || p >= 50)
        return -1;
    *FIELD(a, o, int32_t) = (int32_t)(p * 10000.0 + 0.5);
    return 0;
}

/* FROM,TO: two times, FROM <= TO, into an int64_t[2]. */
static int set_range(const struct sim_opt *o, const char *arg, struct sim_args *a)
{
    int64_t *r = FIELD(a, o, int64_t);
    return parse_range(arg, &r[0], &r[1]);
}

static int set_series(const struct sim_opt *o, const char *arg, struct sim_args *a)
{
    a->series = true;
    return set_range(o, arg, a);
}

/* The level takes effect at once, so later options' errors log by it. */
static int set_log(const struct sim_opt *o, const char *arg, struct sim_args *a)
{
    enum ah_log_level lvl;
    (void)o, (void)a;
    if (ah_log_parse_level(arg, &lvl) < 0)
        return -1;
    ah_log_set_level(lvl);
    return 0;
}

#define OFF(x) offsetof(struct sim_args, x)

/* In usage() order; "help" last (no setter). */
static const struct sim_opt sim_opts[] = {
    {"concentrators", set_ulong, OFF(nconc), 1, 99999},
    {"meters", set_ulong, OFF(per), 0, 999998},
    {"port-base", set_ulong, OFF(port), 1, 65535},
    {"bind", set_str, OFF(bind), 0, 0},
    {"dial", set_str, OFF(dial), 0, 0},
    {"seed", set_ulong, OFF(seed), 0, ULONG_MAX},
    {"epoch", set_epoch, OFF(epoch_ms), 0, 0},
    {"time-scale", set_scale, OFF(scale), 0, 0},
    {"tz-offset", set_tz, OFF(tz_h), 0, 0},
    {"history-days", set_ulong, OFF(hist), 1, 62},
    {"loss", set_loss, OFF(loss_ppm), 0, 0},
    {"dlt1997-every", set_ulong, OFF(every97), 0, 1000000},
    {"no-datetime-every", set_ulong, OFF(every_nodt), 0, 1000000},
    {"pv-districts", set_ulong, OFF(pvd), 0, 99999},
    {"faults", set_str, OFF(faults), 0, 0},
    {"truth", set_str, OFF(truth), 0, 0},
    {"truth-series", set_range, OFF(ts_range), 0, 0},
    {"series", set_series, OFF(s_range), 0, 0},
    {"series-meter", set_str, OFF(smeter), 0, 0},
    {"write-config", set_str, OFF(wconf), 0, 0},
    {"pty", set_flag, OFF(pty), 0, 0},
    {"baud", set_ulong, OFF(baud), 300, 115200},
    {"td-ms", set_ulong, OFF(td), 20, 500},
    {"modbus-tcp-base", set_ulong, OFF(mbtcp), 1, 65535},
    {"modbus-rtu", set_flag, OFF(mbrtu), 0, 0},
    {"modbus-meters", set_ulong, OFF(mbn), 0, 64},
    {"log-level", set_log, 0, 0, 0},
    {"help", NULL, 0, 0, 0},
};

#define NOPTS    (sizeof sim_opts / sizeof sim_opts[0])
#define OPT_BASE 1000 /* getopt_long's value of sim_opts[i] is OPT_BASE + i */
#define RUN      (-1) /* args_parse: go on (else the exit status) */

/* Phase 1: the command line into *a. RUN, or the exit status (0 after
 * --help, 2 for a bad option or value, named on stderr). */
static int args_parse(int argc, char **argv, struct sim_args *a)
{
    struct option lo[NOPTS + 1];
    for (size_t i = 0; i < NOPTS; i++)
        lo[i] = (struct option){sim_opts[i].name,
                                sim_opts[i].set == set_flag || !sim_opts[i].set
                                    ? no_argument
                                    : required_argument,
                                NULL, OPT_BASE + (int)i};
    lo[NOPTS] = (struct option){0, 0, 0, 0};
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        const struct sim_opt *o =
            c >= OPT_BASE && c < OPT_BASE + (int)NOPTS ? &sim_opts[c - OPT_BASE] : NULL;
        if (c == 'h' || (o && !o->set)) {
            usage(stdout);
            return 0;
        }
        if (!o) {
            usage(stderr);
            return 2;
        }
        if (o->set(o, optarg, a) < 0) {
            fprintf(stderr, "amisim: bad value for --%s: '%s'\n", o->name, optarg);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "amisim: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    return RUN;
}

static unsigned modbus_count(const struct sim_args *a)
{
    return (a->mbtcp || a->mbrtu) ? (unsigned)a->mbn : 0;
}

/* Phase 2: the fleet and its fault schedule. 0, or the exit status with
 * the fleet freed. */
static int fleet_build(const struct sim_args *a, const struct ah_clock *clk,
                       struct sim_fleet *f)
{
    struct sim_fleet_opts fo = {.seed = a->seed,
                                .nconc = (uint32_t)a->nconc,
                                .per = (uint32_t)a->per,
                                .tz_s = (int32_t)(a->tz_h * 3600),
                                .history_days = (uint32_t)a->hist,
                                .dlt1997_every = (uint32_t)a->every97,
                                .no_dt_every = (uint32_t)a->every_nodt,
                                .pv_every = (uint32_t)a->pvd,
                                .epoch_s = clk->epoch_ms / 1000,
                                .loss_ppm = a->loss_ppm,
                                .modbus_count = modbus_count(a)};
    int rc = sim_fleet_init(f, &fo);
    if (rc < 0) {
        fprintf(stderr, "amisim: fleet: %s\n", ah_strerror(rc));
        return 1;
    }
    if (!strcmp(a->faults, "default")) {
        rc = sim_fleet_default_faults(f);
    } else if (strcmp(a->faults, "none")) {
        char err[512];
        rc = sim_fleet_load_faults(f, a->faults, err, sizeof err);
        if (rc < 0)
            fprintf(stderr, "amisim: %s\n", err);
    }
    if (rc < 0) {
        sim_fleet_free(f);
        return 1;
    }
    return 0;
}

static bool serving(const struct sim_args *a)
{
    return a->port || a->dial || a->pty || a->mbtcp || a->mbrtu;
}

/* Phase 3a: files only, what a fleet would look like without serving it.
 * The exit status. */
static int files_write(const struct sim_args *a, const struct sim_fleet *f)
{
    struct sim_endpoints ep0 = {.bind = a->bind, .baud = (unsigned)a->baud};
    int rc = 0;
    if (!a->truth && !a->wconf) {
        fprintf(stderr, "amisim: nothing to serve: give --port-base, --dial, --pty or "
                        "a Modbus option\n");
        return 2;
    }
    if (a->truth &&
        (rc = sim_truth_write(f, &ep0, a->truth, a->ts_range[0], a->ts_range[1])) < 0)
        fprintf(stderr, "amisim: truth %s: %s\n", a->truth, ah_strerror(rc));
    else if (a->wconf && (rc = sim_write_config(f, &ep0, a->wconf)) < 0)
        fprintf(stderr, "amisim: write-config %s: %s\n", a->wconf, ah_strerror(rc));
    else if (a->wconf)
        fprintf(stderr,
                "amisim: %s/amihead.yaml names %s:%u.. as the concentrators: serve "
                "them with amisim --port-base %u and the same fleet options\n",
                a->wconf, a->bind, sim_config_port_base(&ep0),
                sim_config_port_base(&ep0));
    return rc < 0 ? 1 : 0;
}

/* Every concentrator holds a listener (or pty): raise the fd limit; a
 * head-end that goes away must not kill us (SIGPIPE). */
static void process_setup(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGUSR1, on_usr1); /* print the pty line counters */
}

/* Phase 3b: open the endpoints, write the files that name them, say
 * "ready" and run until a signal. The exit status. */
static int serve(const struct sim_args *a, struct sim_fleet *f, struct ah_clock *clk)
{
    struct sim_net *net = NULL;
    struct sim_modbus *mb = NULL;
    unsigned mb_count = modbus_count(a);
    int rc, status = 1;
    process_setup();
    struct sim_net_opts no = {.bind = a->bind,
                              .port_base = (unsigned)a->port,
                              .dial = a->dial,
                              .pty = a->pty,
                              .baud = (unsigned)a->baud,
                              .td_ms = (unsigned)a->td,
                              .stats_flag = &stats_flag};
    rc = sim_net_new(&net, f, clk, &no, stdout);
    if (rc < 0) {
        fprintf(stderr, "amisim: endpoints: %s\n", ah_strerror(rc));
        goto out;
    }
    struct sim_modbus_opts mo = {.bind = a->bind,
                                 .tcp_base = (unsigned)a->mbtcp,
                                 .rtu = a->mbrtu,
                                 .count = mb_count};
    if (mb_count && (rc = sim_modbus_start(&mb, f, clk, &mo, stdout)) < 0) {
        fprintf(stderr, "amisim: modbus: %s\n", ah_strerror(rc));
        goto out;
    }
    struct sim_endpoints ep = {.bind = a->bind,
                               .port_base = (unsigned)a->port,
                               .dial = a->dial,
                               .pty_paths = a->pty ? sim_net_pty_paths(net) : NULL,
                               .baud = (unsigned)a->baud,
                               .modbus_tcp_base = (unsigned)a->mbtcp,
                               .modbus_count = mb_count,
                               .modbus_rtu_paths = mb ? sim_modbus_rtu_paths(mb) : NULL};
    if (a->truth &&
        (rc = sim_truth_write(f, &ep, a->truth, a->ts_range[0], a->ts_range[1])) < 0) {
        fprintf(stderr, "amisim: truth %s: %s\n", a->truth, ah_strerror(rc));
        goto out;
    }
    if (a->wconf && (rc = sim_write_config(f, &ep, a->wconf)) < 0) {
        fprintf(stderr, "amisim: write-config %s: %s\n", a->wconf, ah_strerror(rc));
        goto out;
    }
    printf("ready\n");
    fflush(stdout);
    rc = sim_net_run(net, &stop_flag);
    status = rc < 0 ? 1 : 0;
out:
    sim_modbus_stop(&mb);
    sim_net_destroy(&net);
    return status;
}

int main(int argc, char **argv)
{
    struct sim_args a = args_default;
    ah_log_set_level(AH_LOG_WARN);
    int status = args_parse(argc, argv, &a);
    if (status != RUN)
        return status;
    struct ah_clock clk;
    if (ah_clock_init(&clk, a.epoch_ms, a.scale) < 0) {
        fprintf(stderr, "amisim: bad clock\n");
        return 2;
    }
    ah_clock_set_default(&clk);
    struct sim_fleet f;
    if ((status = fleet_build(&a, &clk, &f)) != 0)
        return status;
    if (a.series)
        status = sim_truth_series(&f, stdout, a.s_range[0], a.s_range[1], a.smeter) < 0
                     ? 1
                     : 0;
    else if (!serving(&a))
        status = files_write(&a, &f);
    else
        status = serve(&a, &f, &clk);
    sim_fleet_free(&f);
    return status;
}
