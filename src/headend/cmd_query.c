/*
 * cmd_query — `amihead query -c FILE --meter ID [--from T] [--to T] [--json]`:
 * the stored interval reads of one meter, oldest first, one line each.
 * Opens the store read-only, so it runs beside a live head-end.
 *
 * Registers are printed as primary values (secondary × CT × PT, DESIGN.md
 * §5) with the secondary values the meter registered beside them.
 */
#include "cmd_run.h"

#include "ah_clock.h"
#include "ah_err.h"
#include "cmd_util.h"
#include "config.h"
#include "store.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *source_name(uint8_t s)
{
    switch (s) {
    case STORE_REC_LIVE:
        return "live";
    case STORE_REC_BACKFILL:
        return "backfill";
    case STORE_REC_RELEASED:
        return "released";
    default:
        return "unknown";
    }
}

struct qctx {
    const char *meter;
    bool json;
};

static const char *const reactive_names[STORE_REC_NREACTIVE] = {
    "reactive_comb1_kvarh", "reactive_comb2_kvarh", "reactive_q1_kvarh",
    "reactive_q2_kvarh",    "reactive_q3_kvarh",    "reactive_q4_kvarh"};

static void put_energy(json_t *prim, json_t *sec, const char *name, int64_t raw,
                       int64_t mult)
{
    json_object_set_new(prim, name, cmd_json_scaled(raw * mult, 2));
    json_object_set_new(sec, name, cmd_json_scaled(raw, 2));
}

static int print_read(void *vctx, uint32_t meter, uint64_t end, const struct store_rec *r)
{
    (void)meter;
    struct qctx *q = vctx;
    char when[32];
    ah_time_format((int64_t)end * 1000, when, sizeof when);
    int64_t mult = (int64_t)r->ct * (int64_t)r->pt;
    json_t *o = json_object();
    json_object_set_new(o, "meter", json_string(q->meter));
    json_object_set_new(o, "interval_end", json_string(when));
    json_t *prim = json_object(), *sec = json_object();
    if (r->present & STORE_REC_HAS_IMP_TOTAL)
        put_energy(prim, sec, "import_kwh", r->imp_total, mult);
    if (r->present & STORE_REC_HAS_EXP_TOTAL)
        put_energy(prim, sec, "export_kwh", r->exp_total, mult);
    for (int i = 0; i < STORE_REC_NREACTIVE; i++)
        if (r->present & STORE_REC_HAS_REACTIVE(i))
            put_energy(prim, sec, reactive_names[i], r->reactive[i], mult);
    json_object_set_new(prim, "secondary", sec);
    json_object_set_new(o, "registers", prim);
    json_object_set_new(o, "ct", json_integer(r->ct));
    json_object_set_new(o, "pt", json_integer(r->pt));
    json_object_set_new(o, "quality", json_integer(r->quality));
    json_object_set_new(o, "source", json_string(source_name(r->source)));
    if (r->present & STORE_REC_HAS_METER_CLOCK) {
        char mc[32];
        ah_time_format(r->meter_clock_ms, mc, sizeof mc);
        json_object_set_new(o, "meter_clock", json_string(mc));
    }
    if (q->json) {
        char *txt = cmd_json_dumps(o);
        if (txt)
            printf("%s\n", txt);
        free(txt);
    } else {
        printf(
            "%s %s import %lld.%02lld kWh export %lld.%02lld kWh (x%lld) quality %u %s\n",
            q->meter, when, (long long)(r->imp_total / 100),
            (long long)(r->imp_total % 100), (long long)(r->exp_total / 100),
            (long long)(r->exp_total % 100), (long long)mult, r->quality,
            source_name(r->source));
    }
    json_decref(o);
    return 0;
}

int cmd_query(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, 0, 'c'},
                                         {"meter", required_argument, 0, 'm'},
                                         {"from", required_argument, 0, 'f'},
                                         {"to", required_argument, 0, 't'},
                                         {"json", no_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *file = NULL, *meter = NULL;
    int64_t from = 0, to = INT64_MAX;
    bool json = false;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "c:m:h", opts, NULL)) != -1) {
        switch (o) {
        case 'c':
            file = optarg;
            break;
        case 'm':
            meter = optarg;
            break;
        case 'f':
        case 't': {
            int64_t t;
            if (ah_time_parse(optarg, &t) != AH_OK || t < 0) {
                fprintf(stderr, "amihead query: bad time '%s'\n", optarg);
                return 2;
            }
            if (o == 'f')
                from = t / 1000;
            else
                to = t / 1000;
            break;
        }
        case 'j':
            json = true;
            break;
        case 'h':
            printf(
                "usage: amihead query -c FILE --meter ID [--from T] [--to T] [--json]\n"
                "  interval reads with from <= interval end <= to (UTC)\n");
            return 0;
        default:
            fprintf(stderr, "usage: amihead query -c FILE --meter ID [--from T] [--to T] "
                            "[--json]\n");
            return 2;
        }
    }
    if (!file || !meter || optind != argc) {
        fprintf(stderr,
                "usage: amihead query -c FILE --meter ID [--from T] [--to T] [--json]\n");
        return 2;
    }
    struct cfg *c = cmd_run_load_config("query", file);
    if (!c)
        return 1;
    int status = 1;
    store_t *st = NULL;
    struct store_opts so = {.read_only = true, .no_create = true};
    int rc = store_open(c->storage.path, &so, &st);
    if (rc != AH_OK) {
        fprintf(stderr, "amihead query: store %s: %s\n", c->storage.path,
                ah_strerror(rc));
        goto out_cfg;
    }
    uint32_t idx;
    rc = store_meter_index(st, meter, false, &idx);
    if (rc != AH_OK) {
        fprintf(stderr, "amihead query: meter %s has no reads in %s\n", meter,
                c->storage.path);
        goto out_store;
    }
    struct qctx q = {meter, json};
    uint64_t hi = to == INT64_MAX ? UINT64_MAX : (uint64_t)to + 1;
    rc = store_reads_each(st, idx, (uint64_t)from, hi, print_read, &q);
    if (rc != AH_OK) {
        fprintf(stderr, "amihead query: %s\n", ah_strerror(rc));
        goto out_store;
    }
    status = 0;
out_store:
    store_close(&st);
out_cfg:
    cfg_destroy(&c);
    return status;
}
