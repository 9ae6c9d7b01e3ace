/*
 * cmd_check_config — print what config found in amihead.yaml and the
 * inventory. Option parsing and printing only; every rule lives in config.
 */
#include "cmd_check_config.h"

#include "ah_err.h"
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: amihead check-config -c FILE\n\n"
               "Checks amihead.yaml and the meter inventory it names; prints every\n"
               "problem as FILE:LINE: key: message and exits 1 if there is an error.\n");
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
        printf("ok: %zu links, %zu meters, %zu districts\n", c->n_links, c->n_meters,
               c->n_districts);
    }
    cfg_destroy(&c);
    free(d);
    return status;
}
