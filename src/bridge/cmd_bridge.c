/*
 * cmd_bridge — option parsing, signals and the final summary of the two
 * scale-out commands (cmd_bridge.h). Both run until SIGTERM / SIGINT.
 */
#include "cmd_bridge.h"

#include "ah_err.h"
#include "ah_log.h"
#include "bridge.h"
#include "scfg.h"
#include "sink.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void usage(FILE *f, const char *cmd, const struct scfg_key *keys, size_t n)
{
    fprintf(f, "usage: amihead %s -c FILE.yaml [--log-level debug|info|warn|error]\n\n",
            cmd);
    fprintf(f, "Keys of FILE.yaml (docs/scale-out.md):\n");
    for (size_t i = 0; i < n; i++)
        fprintf(f, "  %-16s %-24s %s\n", keys[i].key,
                keys[i].def ? keys[i].def : "(required)", keys[i].help);
}

/* Shared option parsing. Returns -1 to go on, else an exit code. */
static int parse(int argc, char **argv, const struct scfg_key *keys, size_t n, void *cfg)
{
    const char *path = NULL;
    ah_log_set_level(AH_LOG_INFO);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout, argv[0], keys, n);
            return 0;
        }
        if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc) {
            path = argv[++i];
        } else if (!strcmp(argv[i], "--log-level") && i + 1 < argc) {
            enum ah_log_level lvl;
            if (ah_log_parse_level(argv[++i], &lvl)) {
                fprintf(stderr, "amihead %s: bad log level '%s'\n", argv[0], argv[i]);
                return 2;
            }
            ah_log_set_level(lvl);
        } else {
            fprintf(stderr, "amihead %s: unexpected argument '%s'\n", argv[0], argv[i]);
            usage(stderr, argv[0], keys, n);
            return 2;
        }
    }
    if (!path) {
        usage(stderr, argv[0], keys, n);
        return 2;
    }
    if (scfg_load(path, keys, n, cfg))
        return 1;
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    return -1;
}

int cmd_bridge(int argc, char **argv)
{
    struct bridge_cfg c = {0};
    int rc = parse(argc, argv, bridge_keys, bridge_nkeys, &c);
    if (rc >= 0)
        return rc;
    struct bridge_stats st = {0};
    rc = bridge_run(&c, &stop_flag, &st);
    fprintf(stderr,
            "bridge %s: %" PRIu64 " batches, %" PRIu64 " messages, %" PRIu64
            " duplicates, %" PRIu64 " resyncs, %" PRIu64 " retries, %" PRIu64
            " lost, %" PRIu64 " to Kafka%s%s\n",
            c.headend, st.batches, st.messages, st.duplicates, st.resyncs, st.retries,
            st.lost, st.kafka, rc ? ": " : "", rc ? ah_strerror(rc) : "");
    return rc ? 1 : 0;
}

int cmd_sink(int argc, char **argv)
{
    struct sink_cfg c = {0};
    int rc = parse(argc, argv, sink_keys, sink_nkeys, &c);
    if (rc >= 0)
        return rc;
    struct sink_stats st = {0};
    rc = sink_run(&c, &stop_flag, &st);
    fprintf(stderr,
            "sink: %" PRIu64 " batches applied, %" PRIu64 " rows, %" PRIu64
            " duplicates, %" PRIu64 " early, %" PRIu64 " rejected, %" PRIu64
            " reconnects%s%s\n",
            st.applied, st.rows, st.duplicates, st.early, st.rejected, st.reconnects,
            rc ? ": " : "", rc ? ah_strerror(rc) : "");
    return rc ? 1 : 0;
}
