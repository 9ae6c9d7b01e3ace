/*
 * cmd_report — `amihead report -c FILE --day D|D..D [-o FILE]`: the HTML
 * report (report.h) of local days of the store, beside a running head-end
 * (the store is opened read-only). Without -o the page goes to stdout.
 * The running head-end serves the same page at /report?day=D on its
 * metrics listener (cmd_run).
 */
#include "cmd_report.h"

#include "ah_clock.h"
#include "ah_err.h"
#include "cmd_util.h"
#include "config.h"
#include "report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct opts {
    const char *days, *out;
};

static int on_opt(struct cmd_ctx *x, int opt, const char *arg, void *u)
{
    (void)x;
    struct opts *o = u;
    if (opt == 'd')
        o->days = arg;
    else if (opt == 'o')
        o->out = arg;
    return CMD_GO;
}

int cmd_report_default_day(const struct cfg *c, int64_t *day)
{
    /* yesterday of the head-end's zone by the wall clock */
    *day = (ah_wall_ms() / 1000 + c->headend.tz_offset_s) / 86400 - 1;
    return AH_OK;
}

int cmd_report(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, 0, 'c'},
                                         {"day", required_argument, 0, 'd'},
                                         {"out", required_argument, 0, 'o'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    struct cmd_ctx x = {
        .name = "report",
        .usage =
            "usage: amihead report -c FILE [--day YYYY-MM-DD[..YYYY-MM-DD]] [-o FILE]\n",
        .help =
            "usage: amihead report -c FILE [--day YYYY-MM-DD[..YYYY-MM-DD]] [-o FILE]\n"
            "  one self-contained HTML page (inline SVG, no network) of local days\n"
            "  (headend.timezone): collection per district and link, gaps and\n"
            "  backfill, line loss against its limits with the swing list, anomalies\n"
            "  with their evidence, clock drift, link outages. --day: a day or a\n"
            "  range of at most 31 days (default: yesterday). -o, --out FILE:\n"
            "  write there instead of stdout.\n",
        .from = -1,
        .to = -1};
    struct opts o = {0};
    int status = cmd_parse(&x, argc, argv, "c:d:o:h", opts, on_opt, &o);
    if (status != CMD_GO)
        return status;
    int64_t d0, d1;
    if (o.days) {
        int rc = report_parse_days(o.days, &d0, &d1);
        if (rc != AH_OK) {
            fprintf(stderr,
                    "amihead report: --day wants YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD "
                    "(at most %d days), got '%s'\n",
                    REPORT_MAX_DAYS, o.days);
            return 2;
        }
    }
    status = cmd_open(&x, true);
    if (status != 0)
        goto out;
    status = 1;
    if (!o.days) {
        cmd_report_default_day(x.cfg, &d0);
        d1 = d0;
    }
    struct ah_buf b;
    ah_buf_init(&b, REPORT_MAX_BYTES);
    int rc = report_render(x.cfg, x.st, d0, d1, &b);
    if (rc != AH_OK) {
        cmd_fail(&x, rc);
        ah_buf_free(&b);
        goto out;
    }
    FILE *f = o.out ? fopen(o.out, "w") : stdout;
    if (!f) {
        fprintf(stderr, "amihead report: %s: cannot write\n", o.out);
        ah_buf_free(&b);
        goto out;
    }
    bool ok = fwrite(b.data, 1, b.len, f) == b.len;
    if (o.out)
        ok = fclose(f) == 0 && ok;
    else
        ok = fflush(f) == 0 && ok;
    ah_buf_free(&b);
    if (!ok) {
        fprintf(stderr, "amihead report: %s: write failed\n", o.out ? o.out : "stdout");
        goto out;
    }
    status = 0;
out:
    cmd_close(&x);
    return status;
}
