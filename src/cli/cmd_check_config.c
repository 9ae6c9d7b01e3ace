/*
 * cmd_check_config — print what config found in amihead.yaml and the
 * inventory. Option parsing and printing only; every rule lives in config.
 */
#include "cmd_check_config.h"

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
            fprintf(stderr, "%s: warning: link %s listen %s: %s\n", file, c->links[i].name,
                    c->links[i].listen, why);
            n++;
        }
    return n;
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
        size_t warn = probe_config(file, c);
        printf("ok: %zu links, %zu meters, %zu districts%s\n", c->n_links, c->n_meters,
               c->n_districts, warn ? " (see the warnings)" : "");
    }
    cfg_destroy(&c);
    free(d);
    return status;
}
