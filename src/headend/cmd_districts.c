/*
 * cmd_districts — `amihead districts -c FILE [--day D] [--json]`: the
 * district days the pipeline judged (reference/vee.md district rules):
 * energy of the district meter and of its customers, loss rate, flags
 * (LINE_LOSS, LINE_LOSS_SWING, INCOMPLETE, NO_ENERGY) and the customers
 * whose consumption moved most. Opens the store read-only.
 *
 * It must not judge anything itself: the DAILY events hold the verdicts.
 */
#include "cmd_run.h"
#include "cmd_vee.h"

#include "ah_clock.h"
#include "ah_err.h"
#include "cmd_util.h"
#include "config.h"
#include "pipeline.h"
#include "store.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dctx {
    const char *day; /* "YYYY-MM-DD" or NULL */
    bool json;
    unsigned long n;
};

static int print_day(void *vctx, uint64_t t, uint32_t meter, uint16_t type,
                     const uint8_t *bytes, size_t len)
{
    (void)t;
    (void)meter;
    struct dctx *d = vctx;
    if (type != PIPE_EV_DAILY)
        return 0;
    json_t *o = json_loadb((const char *)bytes, len, 0, NULL);
    if (!o)
        return 0;
    const char *day = json_string_value(json_object_get(o, "day"));
    if (d->day && (!day || strcmp(day, d->day) != 0)) {
        json_decref(o);
        return 0;
    }
    json_object_del(o, "type");
    json_object_del(o, "day_number");
    /* energies as kWh (primary, exact decimals) */
    static const char *const ek[] = {"district_energy", "customers_energy"};
    static const char *const en[] = {"district_kwh", "customers_kwh"};
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(o, ek[i]);
        if (json_is_integer(v))
            json_object_set_new(o, en[i], cmd_json_scaled(json_integer_value(v), 2));
        json_object_del(o, ek[i]);
    }
    json_t *cu = json_object_get(o, "customers");
    size_t i;
    json_t *c;
    json_array_foreach(cu, i, c)
    {
        static const char *const ck[] = {"energy", "previous", "change"};
        for (int k = 0; k < 3; k++) {
            json_t *v = json_object_get(c, ck[k]);
            char name[16];
            snprintf(name, sizeof name, "%s_kwh", ck[k]);
            if (json_is_integer(v))
                json_object_set_new(c, name, cmd_json_scaled(json_integer_value(v), 2));
            json_object_del(c, ck[k]);
        }
    }
    if (d->json) {
        char *s = cmd_json_dumps(o);
        if (s)
            printf("%s\n", s);
        free(s);
    } else {
        const char *dist = json_string_value(json_object_get(o, "district"));
        printf("%s %s", day ? day : "?", dist ? dist : "?");
        json_t *l = json_object_get(o, "loss_pct");
        if (json_is_number(l))
            printf(" loss %.2f %%", json_number_value(l));
        else
            printf(" loss -");
        json_t *fl = json_object_get(o, "flags"), *f;
        size_t k;
        json_array_foreach(fl, k, f) printf(" %s", json_string_value(f));
        printf("\n");
        json_array_foreach(cu, k, c)
        {
            char *ch = cmd_json_dumps(json_object_get(c, "change_kwh"));
            printf("  %s change %s kWh\n", json_string_value(json_object_get(c, "meter")),
                   ch ? ch : "?");
            free(ch);
        }
    }
    json_decref(o);
    d->n++;
    return 0;
}

static const char usage_text[] =
    "usage: amihead districts -c FILE [--day YYYY-MM-DD] [--json]\n"
    "  district days judged by the head-end (local days of headend.timezone)\n";

int cmd_districts(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, 0, 'c'},
                                         {"day", required_argument, 0, 'd'},
                                         {"json", no_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *file = NULL, *day = NULL;
    bool json = false;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (o) {
        case 'c':
            file = optarg;
            break;
        case 'd': {
            int y, m, dd;
            char tail;
            if (strlen(optarg) != 10 ||
                sscanf(optarg, "%4d-%2d-%2d%c", &y, &m, &dd, &tail) != 3 || m < 1 ||
                m > 12 || dd < 1 || dd > 31) {
                fprintf(stderr, "amihead districts: --day wants YYYY-MM-DD, got '%s'\n",
                        optarg);
                return 2;
            }
            day = optarg;
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
    struct cfg *c = cmd_run_load_config("districts", file);
    if (!c)
        return 1;
    int status = 1;
    store_t *st = NULL;
    struct store_opts so = {.read_only = true, .no_create = true};
    int rc = store_open(c->storage.path, &so, &st);
    if (rc != AH_OK) {
        fprintf(stderr, "amihead districts: store %s: %s\n", c->storage.path,
                ah_strerror(rc));
        goto out_cfg;
    }
    struct dctx d = {day, json, 0};
    rc = store_events_each(st, 0, UINT64_MAX, print_day, &d);
    if (rc != AH_OK) {
        fprintf(stderr, "amihead districts: %s\n", ah_strerror(rc));
        goto out_store;
    }
    status = 0;
out_store:
    store_close(&st);
out_cfg:
    cfg_destroy(&c);
    return status;
}
