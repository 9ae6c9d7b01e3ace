/*
 * amisim — fleet simulator of AMI concentrators and meters (issue 3).
 *
 * main parses the command line, builds the fleet and its faults, writes
 * the truth / config files, opens every endpoint, prints one line per
 * endpoint and "ready", then runs the event loop until SIGTERM/SIGINT.
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

enum {
    O_CONC = 1000,
    O_METERS,
    O_PORT,
    O_BIND,
    O_DIAL,
    O_SEED,
    O_EPOCH,
    O_SCALE,
    O_TZ,
    O_HIST,
    O_LOSS,
    O_97,
    O_NODT,
    O_PVD,
    O_FAULTS,
    O_TRUTH,
    O_TSERIES,
    O_SERIES,
    O_SMETER,
    O_WCONF,
    O_PTY,
    O_BAUD,
    O_TD,
    O_MBTCP,
    O_MBRTU,
    O_MBN,
    O_LOG,
    O_HELP
};

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"concentrators", required_argument, 0, O_CONC},
        {"meters", required_argument, 0, O_METERS},
        {"port-base", required_argument, 0, O_PORT},
        {"bind", required_argument, 0, O_BIND},
        {"dial", required_argument, 0, O_DIAL},
        {"seed", required_argument, 0, O_SEED},
        {"epoch", required_argument, 0, O_EPOCH},
        {"time-scale", required_argument, 0, O_SCALE},
        {"tz-offset", required_argument, 0, O_TZ},
        {"history-days", required_argument, 0, O_HIST},
        {"loss", required_argument, 0, O_LOSS},
        {"dlt1997-every", required_argument, 0, O_97},
        {"no-datetime-every", required_argument, 0, O_NODT},
        {"pv-districts", required_argument, 0, O_PVD},
        {"faults", required_argument, 0, O_FAULTS},
        {"truth", required_argument, 0, O_TRUTH},
        {"truth-series", required_argument, 0, O_TSERIES},
        {"series", required_argument, 0, O_SERIES},
        {"series-meter", required_argument, 0, O_SMETER},
        {"write-config", required_argument, 0, O_WCONF},
        {"pty", no_argument, 0, O_PTY},
        {"baud", required_argument, 0, O_BAUD},
        {"td-ms", required_argument, 0, O_TD},
        {"modbus-tcp-base", required_argument, 0, O_MBTCP},
        {"modbus-rtu", no_argument, 0, O_MBRTU},
        {"modbus-meters", required_argument, 0, O_MBN},
        {"log-level", required_argument, 0, O_LOG},
        {"help", no_argument, 0, O_HELP},
        {0, 0, 0, 0},
    };
    unsigned long nconc = 1, per = 4, port = 0, seed = 1, hist = 10, every97 = 0,
                  every_nodt = 0, baud = 2400, td = 50, mbtcp = 0, mbn = 2, pvd = 0, u;
    long tz_h = 8;
    int32_t loss_ppm = -1;
    double scale = 1.0;
    int64_t epoch_ms = -1, ts_from = 0, ts_to = 0, s_from = 0, s_to = 0;
    const char *bind_addr = "127.0.0.1", *dial = NULL, *faults = "none", *truth = NULL,
               *wconf = NULL, *smeter = NULL;
    bool pty = false, mbrtu = false, series = false;
    int c;
    ah_log_set_level(AH_LOG_WARN);
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        const char *a = optarg;
        int bad = 0;
        switch (c) {
        case O_CONC:
            bad = parse_u(a, 1, 99999, &nconc);
            break;
        case O_METERS:
            bad = parse_u(a, 0, 999998, &per);
            break;
        case O_PORT:
            bad = parse_u(a, 1, 65535, &port);
            break;
        case O_BIND:
            bind_addr = a;
            break;
        case O_DIAL:
            dial = a;
            break;
        case O_SEED:
            bad = parse_u(a, 0, ~0UL, &seed);
            break;
        case O_EPOCH:
            bad = ah_time_parse(a, &epoch_ms) < 0;
            break;
        case O_SCALE: {
            char *end;
            scale = strtod(a, &end);
            bad = end == a || *end || !(scale > 0 && scale <= 1e6);
            break;
        }
        case O_TZ: {
            char *end;
            tz_h = strtol(a, &end, 10);
            bad = end == a || *end || tz_h < -12 || tz_h > 14;
            break;
        }
        case O_HIST:
            bad = parse_u(a, 1, 62, &hist);
            break;
        case O_LOSS: {
            char *end;
            double p = strtod(a, &end);
            bad = end == a || *end || p < 0 || p >= 50;
            loss_ppm = (int32_t)(p * 10000.0 + 0.5);
            break;
        }
        case O_97:
            bad = parse_u(a, 0, 1000000, &every97);
            break;
        case O_NODT:
            bad = parse_u(a, 0, 1000000, &every_nodt);
            break;
        case O_PVD:
            bad = parse_u(a, 0, 99999, &pvd);
            break;
        case O_FAULTS:
            faults = a;
            break;
        case O_TRUTH:
            truth = a;
            break;
        case O_TSERIES:
            bad = parse_range(a, &ts_from, &ts_to);
            break;
        case O_SERIES:
            series = true;
            bad = parse_range(a, &s_from, &s_to);
            break;
        case O_SMETER:
            smeter = a;
            break;
        case O_WCONF:
            wconf = a;
            break;
        case O_PTY:
            pty = true;
            break;
        case O_BAUD:
            bad = parse_u(a, 300, 115200, &baud);
            break;
        case O_TD:
            bad = parse_u(a, 20, 500, &td);
            break;
        case O_MBTCP:
            bad = parse_u(a, 1, 65535, &mbtcp);
            break;
        case O_MBRTU:
            mbrtu = true;
            break;
        case O_MBN:
            bad = parse_u(a, 0, 64, &mbn);
            break;
        case O_LOG: {
            enum ah_log_level lvl;
            bad = ah_log_parse_level(a, &lvl) < 0;
            if (!bad)
                ah_log_set_level(lvl);
            break;
        }
        case 'h':
        case O_HELP:
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
        if (bad) {
            fprintf(stderr, "amisim: bad value for --%s: '%s'\n", opts[c - O_CONC].name,
                    a);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "amisim: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    (void)u;

    struct ah_clock clk;
    if (ah_clock_init(&clk, epoch_ms, scale) < 0) {
        fprintf(stderr, "amisim: bad clock\n");
        return 2;
    }
    ah_clock_set_default(&clk);
    unsigned mb_count = (mbtcp || mbrtu) ? (unsigned)mbn : 0;

    struct sim_fleet f;
    struct sim_fleet_opts fo = {.seed = seed,
                                .nconc = (uint32_t)nconc,
                                .per = (uint32_t)per,
                                .tz_s = (int32_t)(tz_h * 3600),
                                .history_days = (uint32_t)hist,
                                .dlt1997_every = (uint32_t)every97,
                                .no_dt_every = (uint32_t)every_nodt,
                                .pv_every = (uint32_t)pvd,
                                .epoch_s = clk.epoch_ms / 1000,
                                .loss_ppm = loss_ppm,
                                .modbus_count = mb_count};
    int rc = sim_fleet_init(&f, &fo);
    if (rc < 0) {
        fprintf(stderr, "amisim: fleet: %s\n", ah_strerror(rc));
        return 1;
    }
    int status = 1;
    struct sim_net *net = NULL;
    struct sim_modbus *mb = NULL;
    if (!strcmp(faults, "default")) {
        rc = sim_fleet_default_faults(&f);
    } else if (strcmp(faults, "none")) {
        char err[512];
        rc = sim_fleet_load_faults(&f, faults, err, sizeof err);
        if (rc < 0)
            fprintf(stderr, "amisim: %s\n", err);
    }
    if (rc < 0)
        goto out;
    if (series) {
        rc = sim_truth_series(&f, stdout, s_from, s_to, smeter);
        status = rc < 0 ? 1 : 0;
        goto out;
    }
    if (!port && !dial && !pty && !mbtcp && !mbrtu) {
        /* files only: what a fleet would look like, without serving it */
        struct sim_endpoints ep0 = {.bind = bind_addr, .baud = (unsigned)baud};
        if (!truth && !wconf) {
            fprintf(stderr,
                    "amisim: nothing to serve: give --port-base, --dial, --pty or "
                    "a Modbus option\n");
            status = 2;
            goto out;
        }
        if (truth && (rc = sim_truth_write(&f, &ep0, truth, ts_from, ts_to)) < 0)
            fprintf(stderr, "amisim: truth %s: %s\n", truth, ah_strerror(rc));
        else if (wconf && (rc = sim_write_config(&f, &ep0, wconf)) < 0)
            fprintf(stderr, "amisim: write-config %s: %s\n", wconf, ah_strerror(rc));
        else if (wconf)
            fprintf(stderr,
                    "amisim: %s/amihead.yaml names %s:%u.. as the concentrators: serve "
                    "them with amisim --port-base %u and the same fleet options\n",
                    wconf, bind_addr, sim_config_port_base(&ep0),
                    sim_config_port_base(&ep0));
        status = rc < 0 ? 1 : 0;
        goto out;
    }

    /* every concentrator holds a listener (or pty): raise the fd limit */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGUSR1, on_usr1); /* print the pty line counters */

    struct sim_net_opts no = {.bind = bind_addr,
                              .port_base = (unsigned)port,
                              .dial = dial,
                              .pty = pty,
                              .baud = (unsigned)baud,
                              .td_ms = (unsigned)td,
                              .stats_flag = &stats_flag};
    rc = sim_net_new(&net, &f, &clk, &no, stdout);
    if (rc < 0) {
        fprintf(stderr, "amisim: endpoints: %s\n", ah_strerror(rc));
        goto out;
    }
    struct sim_modbus_opts mo = {
        .bind = bind_addr, .tcp_base = (unsigned)mbtcp, .rtu = mbrtu, .count = mb_count};
    if (mb_count) {
        rc = sim_modbus_start(&mb, &f, &clk, &mo, stdout);
        if (rc < 0) {
            fprintf(stderr, "amisim: modbus: %s\n", ah_strerror(rc));
            goto out;
        }
    }
    struct sim_endpoints ep = {.bind = bind_addr,
                               .port_base = (unsigned)port,
                               .dial = dial,
                               .pty_paths = pty ? sim_net_pty_paths(net) : NULL,
                               .baud = (unsigned)baud,
                               .modbus_tcp_base = (unsigned)mbtcp,
                               .modbus_count = mb_count,
                               .modbus_rtu_paths = mb ? sim_modbus_rtu_paths(mb) : NULL};
    if (truth && (rc = sim_truth_write(&f, &ep, truth, ts_from, ts_to)) < 0) {
        fprintf(stderr, "amisim: truth %s: %s\n", truth, ah_strerror(rc));
        goto out;
    }
    if (wconf && (rc = sim_write_config(&f, &ep, wconf)) < 0) {
        fprintf(stderr, "amisim: write-config %s: %s\n", wconf, ah_strerror(rc));
        goto out;
    }
    printf("ready\n");
    fflush(stdout);
    rc = sim_net_run(net, &stop_flag);
    status = rc < 0 ? 1 : 0;
out:
    sim_modbus_stop(&mb);
    sim_net_destroy(&net);
    sim_fleet_free(&f);
    return status;
}
