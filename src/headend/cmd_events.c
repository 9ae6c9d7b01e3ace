/*
 * cmd_events — `amihead events -c FILE [--meter ID] [--type T] [--from T]
 * [--to T] [--json]`: the events the pipeline stored (docs/operations.md
 * "Events"): one per episode transition of a meter rule (start, cleared)
 * with its evidence and threshold, gaps, releases and district days.
 * Opens the store read-only, so it runs beside a live head-end.
 *
 * It must not write the store or judge anything: it prints what is stored.
 */
#include "cmd_run.h"
#include "cmd_vee.h"

#include "ah_clock.h"
#include "ah_err.h"
#include "config.h"
#include "store.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct ectx {
    store_t *st;
    bool by_meter;
    uint32_t meter;
    const char *type;
    bool json;
    unsigned long n;
};

static int print_event(void *vctx, uint64_t t, uint32_t meter, uint16_t type,
                       const uint8_t *bytes, size_t len)
{
    (void)type;
    struct ectx *e = vctx;
    if (e->by_meter && meter != e->meter)
        return 0;
    json_t *o = json_loadb((const char *)bytes, len, 0, NULL);
    if (!o)
        return 0; /* not written by this head-end's pipeline */
    const char *ty = json_string_value(json_object_get(o, "type"));
    if (e->type && (!ty || strcasecmp(ty, e->type) != 0)) {
        json_decref(o);
        return 0;
    }
    char when[32];
    ah_time_format((int64_t)t * 1000, when, sizeof when);
    json_object_set_new(o, "time", json_string(when));
    if (e->json) {
        char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        if (s)
            printf("%s\n", s);
        free(s);
    } else {
        const char *who = json_string_value(json_object_get(o, "meter"));
        if (!who)
            who = json_string_value(json_object_get(o, "district"));
        const char *state = json_string_value(json_object_get(o, "state"));
        printf("%s %-17s %-7s %s", when, ty ? ty : "?", state ? state : "-",
               who ? who : "-");
        json_t *v = json_object_get(o, "value"), *th = json_object_get(o, "threshold");
        if (json_is_integer(v) && json_is_integer(th))
            printf(" value %lld threshold %lld", (long long)json_integer_value(v),
                   (long long)json_integer_value(th));
        json_t *l = json_object_get(o, "loss_pct");
        if (json_is_number(l))
            printf(" loss %.2f %%", json_number_value(l));
        const char *reason = json_string_value(json_object_get(o, "reason"));
        if (reason)
            printf(" by %s: %s",
                   json_string_value(json_object_get(o, "operator"))
                       ? json_string_value(json_object_get(o, "operator"))
                       : "?",
                   reason);
        printf("\n");
    }
    json_decref(o);
    e->n++;
    return 0;
}

static const char usage_text[] =
    "usage: amihead events -c FILE [--meter ID] [--type T] [--from T] [--to T] [--json]\n"
    "  events with from <= time <= to (UTC); T for --type: STOPPED, REVERSED, ...,\n"
    "  GAP, RELEASE, DAILY, LINE_LOSS, LINE_LOSS_SWING, INCOMPLETE\n";

int cmd_events(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, 0, 'c'}, {"meter", required_argument, 0, 'm'},
        {"type", required_argument, 0, 'y'},   {"from", required_argument, 0, 'f'},
        {"to", required_argument, 0, 't'},     {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    const char *file = NULL, *meter = NULL, *type = NULL;
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
        case 'y':
            type = optarg;
            break;
        case 'f':
        case 't': {
            int64_t t;
            if (ah_time_parse(optarg, &t) != AH_OK || t < 0) {
                fprintf(stderr, "amihead events: bad time '%s'\n", optarg);
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
            fputs(usage_text, stdout);
            return 0;
        default:
            fputs(usage_text, stderr);
            return 2;
        }
    }
    if (!file || optind != argc) {
        fputs(usage_text, stderr);
        return 2;
    }
    struct cfg *c = cmd_run_load_config("events", file);
    if (!c)
        return 1;
    int status = 1;
    store_t *st = NULL;
    struct store_opts so = {.read_only = true, .no_create = true};
    int rc = store_open(c->storage.path, &so, &st);
    if (rc != AH_OK) {
        fprintf(stderr, "amihead events: store %s: %s\n", c->storage.path,
                ah_strerror(rc));
        goto out_cfg;
    }
    struct ectx e = {st, false, 0, type, json, 0};
    if (meter) {
        rc = store_meter_index(st, meter, false, &e.meter);
        if (rc != AH_OK) {
            fprintf(stderr, "amihead events: meter %s is not in %s\n", meter,
                    c->storage.path);
            goto out_store;
        }
        e.by_meter = true;
    }
    uint64_t hi = to == INT64_MAX ? UINT64_MAX : (uint64_t)to + 1;
    rc = store_events_each(st, (uint64_t)from, hi, print_event, &e);
    if (rc != AH_OK) {
        fprintf(stderr, "amihead events: %s\n", ah_strerror(rc));
        goto out_store;
    }
    status = 0;
out_store:
    store_close(&st);
out_cfg:
    cfg_destroy(&c);
    return status;
}
