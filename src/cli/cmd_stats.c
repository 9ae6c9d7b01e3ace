/*
 * cmd_stats — `amihead stats -c FILE [--from T] [--to T] [--json]`:
 * completeness of the store per district and per link: the intervals the
 * window expects of each meter, how many are stored, and the percentage.
 * Opens the store read-only, so it runs beside a live head-end.
 *
 * The window is interval ends from <= end <= to; by default it is the
 * backfill window (schedule.backfill_days) ending at the last interval
 * boundary of the wall clock — give --to when the head-end ran on a
 * simulated clock.
 */
#include "cmd_run.h"

#include "ah_clock.h"
#include "ah_date.h"
#include "ah_err.h"
#include "cmd_util.h"
#include "config.h"
#include "cadence.h"
#include "store.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tally {
    const char *name; /* borrowed from the config */
    uint64_t expected, collected;
    size_t meters;
};

static struct tally *tally_find(struct tally *t, size_t *n, const char *name)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp(t[i].name, name))
            return &t[i];
    t[*n].name = name;
    return &t[(*n)++];
}

static double pct(const struct tally *t)
{
    return t->expected ? 100.0 * (double)t->collected / (double)t->expected : 100.0;
}

static void print_group(const char *kind, const struct tally *t, size_t n, bool json)
{
    for (size_t i = 0; i < n; i++) {
        if (json) {
            json_t *o = json_object();
            json_object_set_new(o, kind, json_string(t[i].name));
            json_object_set_new(o, "meters", json_integer((json_int_t)t[i].meters));
            json_object_set_new(o, "expected", json_integer((json_int_t)t[i].expected));
            json_object_set_new(o, "collected", json_integer((json_int_t)t[i].collected));
            json_object_set_new(o, "completeness_pct", json_real(pct(&t[i])));
            cmd_print_json_line(o, JSON_COMPACT);
            json_decref(o);
        } else {
            printf("%-8s %-20s meters %6zu expected %10llu collected %10llu  %7.3f %%\n",
                   kind, t[i].name, t[i].meters, (unsigned long long)t[i].expected,
                   (unsigned long long)t[i].collected, pct(&t[i]));
        }
    }
}

int cmd_stats(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, 0, 'c'}, {"from", required_argument, 0, 'f'},
        {"to", required_argument, 0, 't'},     {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    struct cmd_ctx x = {.name = "stats",
                        .usage =
                            "usage: amihead stats -c FILE [--from T] [--to T] [--json]\n",
                        .from = -1,
                        .to = -1};
    int status = cmd_parse(&x, argc, argv, "c:h", opts, NULL, NULL);
    if (status != CMD_GO)
        return status;
    struct tally *dist = NULL, *links = NULL;
    status = cmd_open(&x, true);
    if (status != 0)
        goto out_free;
    status = 1;
    const struct cfg *c = x.cfg;
    int64_t from = x.from, to = x.to;
    int64_t step = (int64_t)c->schedule.interval_min * 60;
    if (to < 0)
        to = ah_date_floor(ah_wall_ms() / 1000, step);
    if (from < 0) {
        int64_t f, t;
        cadence_window(to, step, c->schedule.backfill_days, &f, &t);
        from = f;
    }
    dist = calloc(c->n_meters + 1, sizeof *dist);
    links = calloc(c->n_links + 1, sizeof *links);
    size_t nd = 0, nl = 0;
    if (!dist || !links) {
        cmd_fail(&x, AH_ENOMEM);
        goto out_free;
    }
    uint64_t lo = (uint64_t)ah_date_floor(from + step - 1, step);
    uint64_t hi = (uint64_t)to + 1;
    uint64_t expected = lo < hi ? (hi - lo + (uint64_t)step - 1) / (uint64_t)step : 0;
    for (size_t i = 0; i < c->n_meters; i++) {
        const struct cfg_meter *m = &c->meters[i];
        uint64_t collected = 0;
        uint32_t idx;
        if (store_meter_index(x.st, m->id, false, &idx) == AH_OK && expected) {
            uint64_t dummy;
            size_t missing = 0;
            int rc = store_missing_intervals(x.st, idx, lo, hi, (uint64_t)step, &dummy, 0,
                                             &missing);
            if (rc != AH_OK) {
                fprintf(stderr, "amihead stats: meter %s: %s\n", m->id, ah_strerror(rc));
                goto out_free;
            }
            collected = expected - missing;
        }
        struct tally *d = tally_find(dist, &nd, m->district);
        struct tally *l = tally_find(links, &nl, c->links[m->link].name);
        d->expected += expected;
        d->collected += collected;
        d->meters++;
        l->expected += expected;
        l->collected += collected;
        l->meters++;
    }
    if (!x.json) {
        char a[32], b[32];
        ah_time_format((int64_t)lo * 1000, a, sizeof a);
        ah_time_format(to * 1000, b, sizeof b);
        printf("interval ends %s .. %s, every %lld s\n", a, b, (long long)step);
    }
    print_group("district", dist, nd, x.json);
    print_group("link", links, nl, x.json);
    status = 0;
out_free:
    free(links);
    free(dist);
    cmd_close(&x);
    return status;
}
