/*
 * amihead — collector head-end for AMI data concentrators.
 *
 * main only dispatches subcommands; each lives in its own cmd_*.c.
 */
#include "cmd.h"
#include "cmd_bridge.h"
#include "cmd_check_config.h"
#include "cmd_export.h"
#include "cmd_report.h"
#include "cmd_vee.h"
#include "cmd_run.h"

#include <stdio.h>
#include <string.h>

static const struct cmd commands[] = {
    {"read", cmd_read, "read one DI / Modbus map from one meter"},
    {"check-config", cmd_check_config, "check amihead.yaml and the meter inventory"},
    {"run", cmd_run, "poll the meters and store their reads"},
    {"query", cmd_query, "stored interval reads of one meter"},
    {"stats", cmd_stats, "completeness per district and link"},
    {"events", cmd_events, "validation episodes, gaps, releases, district days"},
    {"districts", cmd_districts, "district days: loss rate, flags, customers listed"},
    {"release", cmd_release, "release suspect reads of a meter to billing"},
    {"keygen", cmd_keygen, "make a CURVE key pair for the export endpoints"},
    {"tail", cmd_tail, "print the export in sequence order, filling gaps by replay"},
    {"report", cmd_report, "HTML report of local days: collection, loss, anomalies"},
    {"ports", cmd_ports, "list serial ports with their USB details"},
    {"version", cmd_version, "print the version"},
    {"bridge", cmd_bridge,
     "feed this head-end's export into NATS JetStream, exactly once"},
    {"sink", cmd_sink, "JetStream feed of all head-ends into PostgreSQL"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: amihead <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-13s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n'amihead <command> --help' or 'amihead help <command>' for the options "
               "of a command;\n'amihead --version' for the version.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V"))
        return cmd_version(1, argv + 1);
    if (!strcmp(argv[1], "help")) {
        /* `amihead help run` is `amihead run --help` */
        if (argc < 3) {
            usage(stdout);
            return 0;
        }
        static char help_opt[] = "--help";
        char *hv[] = {argv[2], help_opt, NULL};
        for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
            if (!strcmp(argv[2], commands[i].name))
                return commands[i].fn(2, hv);
        fprintf(stderr, "amihead help: unknown command '%s'\n", argv[2]);
        usage(stderr);
        return 2;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "amihead: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
