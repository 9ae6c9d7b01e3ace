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
#include "pipeline.h"
#include "store.h"

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
    static const char *const ek[] = {"district_energy",  "customers_energy",
                                     "district_reverse", "customers_export",
                                     "supply",           "sales"};
    static const char *const en[] = {"district_kwh",         "customers_kwh",
                                     "district_reverse_kwh", "customers_export_kwh",
                                     "supply_kwh",           "sales_kwh"};
    for (int i = 0; i < 6; i++) {
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
        cmd_print_json_line(o, CMD_JSON_EXACT);
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
        json_array_foreach(json_object_get(o, "unknown"), k, f)
        {
            printf("  %s day energy unknown: %s\n",
                   json_string_value(json_object_get(f, "meter")),
                   json_string_value(json_object_get(f, "reason")));
        }
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

static int districts_opt(struct cmd_ctx *x, int opt, const char *arg, void *u)
{
    (void)x;
    (void)opt; /* 'd', the one letter of its own */
    int y, m, dd;
    char tail;
    if (strlen(arg) != 10 || sscanf(arg, "%4d-%2d-%2d%c", &y, &m, &dd, &tail) != 3 ||
        m < 1 || m > 12 || dd < 1 || dd > 31) {
        fprintf(stderr, "amihead districts: --day wants YYYY-MM-DD, got '%s'\n", arg);
        return 2;
    }
    *(const char **)u = arg;
    return CMD_GO;
}

int cmd_districts(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, 0, 'c'},
                                         {"day", required_argument, 0, 'd'},
                                         {"json", no_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    struct cmd_ctx x = {.name = "districts", .usage = usage_text};
    const char *day = NULL;
    int status = cmd_parse(&x, argc, argv, "c:h", opts, districts_opt, &day);
    if (status != CMD_GO)
        return status;
    status = cmd_open(&x, true);
    if (status == 0) {
        struct dctx d = {day, x.json, 0};
        int rc = store_events_each(x.st, 0, UINT64_MAX, print_day, &d);
        if (rc != AH_OK)
            status = cmd_fail(&x, rc);
    }
    cmd_close(&x);
    return status;
}
