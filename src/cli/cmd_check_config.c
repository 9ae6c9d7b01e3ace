/*
 * cmd_check_config — print what config found in amihead.yaml and the
 * inventory. Option parsing and printing only; every rule lives in config.
 */
#include "cmd_check_config.h"
#include "readplan.h"

#include "ah_err.h"
#include "config.h"
#include "probe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: amihead check-config -c FILE\n\n"
               "Checks amihead.yaml and the meter inventory it names; prints every\n"
               "problem as FILE:LINE: key: message and exits 1 if there is an error.\n");
}

/* What the config cannot check by reading it: the store folder can be
 * created and written, the ports to listen on are free. Warnings only: a
 * port may be busy because this very head-end is running. */
static size_t probe_config(const char *file, const struct cfg *c)
{
    char why[512];
    size_t n = 0;
    if (probe_dir(c->storage.path, why, sizeof why) != 0) {
        fprintf(stderr, "%s: warning: storage.path %s: %s\n", file, c->storage.path, why);
        n++;
    }
    const struct {
        const char *key, *addr;
    } ports[] = {{"export.pub", c->export.pub},
                 {"export.replay", c->export.replay},
                 {"metrics.listen", c->metrics.listen}};
    for (size_t i = 0; i < sizeof ports / sizeof ports[0]; i++)
        if (ports[i].addr[0] && probe_listen(ports[i].addr, why, sizeof why) != 0) {
            fprintf(stderr, "%s: warning: %s %s: %s\n", file, ports[i].key, ports[i].addr,
                    why);
            n++;
        }
    for (size_t i = 0; i < c->n_links; i++)
        if (c->links[i].type == CFG_LINK_DLT645_LISTEN &&
            probe_listen(c->links[i].listen, why, sizeof why) != 0) {
            fprintf(stderr, "%s: warning: link %s listen %s: %s\n", file,
                    c->links[i].name, c->links[i].listen, why);
            n++;
        }
    return n;
}

/* A link's expected answer time without timeouts: links[].round_trip_ms,
 * else a 4G concentrator 500 ms, a TCP one 200 ms, a serial bus the air
 * time of a request and a one-frame reply (16 + 120 bytes, 11 bits each)
 * plus a 100 ms response delay (protocols.md §1.5). */
static double link_round_trip_s(const struct cfg_link *l)
{
    if (l->round_trip_ms > 0)
        return l->round_trip_ms / 1000.0;
    if (l->type == CFG_LINK_DLT645_LISTEN)
        return 0.5;
    if (l->type == CFG_LINK_DLT645_SERIAL && l->baud > 0)
        return 136.0 * 11.0 / l->baud + 0.1;
    return 0.2;
}

/* Issue 16 item 1: each DL/T 645 link's live requests per cycle under its
 * meters' read plans, and whether they fit the interval at the link's
 * round trip. Returns the warnings printed. */
static size_t plan_report(const char *file, const struct cfg *c)
{
    size_t warn = 0;
    double interval_s = c->schedule.interval_min * 60.0;
    for (size_t k = 0; k < c->n_links; k++) {
        const struct cfg_link *l = &c->links[k];
        if (l->type != CFG_LINK_DLT645_TCP && l->type != CFG_LINK_DLT645_SERIAL &&
            l->type != CFG_LINK_DLT645_LISTEN)
            continue;
        double req = 0;
        size_t n = 0;
        for (size_t i = 0; i < c->n_meters; i++) {
            const struct cfg_meter *m = &c->meters[i];
            if (m->link != k || m->proto != CFG_PROTO_DLT645_2007)
                continue;
            const struct readplan *layers[] = {&c->schedule.read_plan[0],
                                               &c->schedule.read_plan[1 + m->cls],
                                               &l->read_plan};
            struct readplan rp;
            readplan_resolve(&rp, layers, 3);
            req += readplan_requests_per_cycle(&rp, c->schedule.interval_min, false);
            n++;
        }
        if (!n)
            continue;
        double rtt = link_round_trip_s(l), busy = req * rtt;
        printf("link %s: %zu meters x %.2f requests per %d-minute cycle (read plan) = "
               "%.0f, x %.0f ms round trip = %.1f s, %.1f %% of the interval\n",
               l->name, n, req / (double)n, c->schedule.interval_min, req, rtt * 1000.0,
               busy, 100.0 * busy / interval_s);
        if (busy > interval_s) {
            fprintf(
                stderr,
                "%s:%u: warning: links[%s]: %.0f requests x %.0f ms = %.0f s do not fit "
                "the %.0f s interval: read fewer groups (read_plan) or split the "
                "link\n",
                file, l->line, l->name, req, rtt * 1000.0, busy, interval_s);
            warn++;
        }
    }
    return warn;
}

int cmd_check_config(int argc, char **argv)
{
    const char *file = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        }
        if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc)
            file = argv[++i];
        else {
            fprintf(stderr, "amihead check-config: unexpected argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!file) {
        usage(stderr);
        return 2;
    }

    struct cfg_diag *d = malloc(sizeof *d); /* ~20 KiB: keep it off the stack */
    if (!d) {
        fprintf(stderr, "amihead check-config: %s\n", ah_strerror(AH_ENOMEM));
        return 1;
    }
    cfg_diag_init(d);
    struct cfg *c = NULL;
    int rc = cfg_load(file, &c, d);
    for (size_t i = 0; i < d->n; i++)
        fprintf(stderr, "%s\n", d->msg[i]);
    if (d->dropped)
        fprintf(stderr, "... and %zu more problems not shown\n", d->dropped);
    int status = 0;
    if (rc == AH_ECONFIG) {
        fprintf(stderr, "%s: %zu error%s, %zu warning%s\n", file, d->n_errors,
                d->n_errors == 1 ? "" : "s", d->n_warnings,
                d->n_warnings == 1 ? "" : "s");
        status = 1;
    } else if (rc) {
        fprintf(stderr, "amihead check-config: %s\n", ah_strerror(rc));
        status = 1;
    } else {
        size_t warn = probe_config(file, c) + plan_report(file, c);
        printf("ok: %zu links, %zu meters, %zu districts%s\n", c->n_links, c->n_meters,
               c->n_districts, warn ? " (see the warnings)" : "");
    }
    cfg_destroy(&c);
    free(d);
    return status;
}
