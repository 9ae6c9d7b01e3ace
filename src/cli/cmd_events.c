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
#include "cmd_util.h"
#include "store.h"
#include "vee.h"

#include <jansson.h>
#include <stdio.h>
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
        cmd_print_json_line(o, JSON_COMPACT | JSON_SORT_KEYS);
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

/* Event types beside the validation rules (vee_flag_name). A --type that
 * is none of them and matches nothing is a typo, said as such. */
static const char *const other_types[] = {
    "GAP",        "RELEASE", "DAILY",     "LINE_LOSS", "LINE_LOSS_SWING",
    "INCOMPLETE", "PARTIAL", "NO_ENERGY", "LINK_DOWN", "LINK_UP"};

static bool known_type(const char *t)
{
    for (unsigned b = 0; b < 32; b++)
        if (vee_flag_name(b) && !strcasecmp(vee_flag_name(b), t))
            return true;
    for (size_t i = 0; i < sizeof other_types / sizeof other_types[0]; i++)
        if (!strcasecmp(other_types[i], t))
            return true;
    return false;
}

static void print_types(FILE *f)
{
    size_t col = 2;
    fputs("  ", f);
    for (unsigned b = 0; b < 32 + sizeof other_types / sizeof other_types[0]; b++) {
        const char *n = b < 32 ? vee_flag_name(b) : other_types[b - 32];
        if (!n)
            continue;
        if (col + strlen(n) + 2 > 78) {
            fputs("\n  ", f);
            col = 2;
        }
        col += (size_t)fprintf(f, "%s ", n);
    }
    fputs("\n", f);
}

static const char usage_text[] =
    "usage: amihead events -c FILE [--meter ID] [--type T] [--from T] [--to T] [--json]\n"
    "  events with from <= time <= to; --type one of the types below\n";

static int events_opt(struct cmd_ctx *x, int opt, const char *arg, void *u)
{
    (void)x;
    (void)opt; /* 'y', the one letter of its own */
    *(const char **)u = arg;
    return CMD_GO;
}

int cmd_events(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, 0, 'c'}, {"meter", required_argument, 0, 'm'},
        {"type", required_argument, 0, 'y'},   {"from", required_argument, 0, 'f'},
        {"to", required_argument, 0, 't'},     {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    struct cmd_ctx x = {
        .name = "events", .usage = usage_text, .from = 0, .to = INT64_MAX};
    const char *type = NULL;
    int status = cmd_parse(&x, argc, argv, "c:m:h", opts, events_opt, &type);
    if (status == 0 || status == 2) { /* --help or a usage error: name the types */
        FILE *f = status ? stderr : stdout;
        fputs("event types:\n", f);
        print_types(f);
    }
    if (status != CMD_GO)
        return status;
    status = cmd_open(&x, true);
    if (status == 0 && x.meter)
        status = cmd_find_meter(&x, "is not in");
    if (status == 0) {
        struct ectx e = {x.st, x.meter != NULL, x.meter_idx, type, x.json, 0};
        int rc =
            store_events_each(x.st, (uint64_t)x.from, cmd_until(&x), print_event, &e);
        if (rc != AH_OK) {
            status = cmd_fail(&x, rc);
        } else if (e.n == 0 && type && !known_type(type)) {
            fprintf(stderr,
                    "amihead events: no events: '%s' is not an event type; the "
                    "types are:\n",
                    type);
            print_types(stderr);
            status = 1;
        }
    }
    cmd_close(&x);
    return status;
}
