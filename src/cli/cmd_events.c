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
#include "pipe_ev.h"
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

/* One line: time, type, state, whom it is about, its evidence. */
static void print_text(const char *when, const struct pipe_ev *ev)
{
    const char *who = NULL, *state = NULL;
    switch (ev->kind) {
    case PIPE_EVK_RULE:
        who = ev->u.rule.meter;
        state = ev->u.rule.started ? "start" : "cleared";
        break;
    case PIPE_EVK_GAP:
        who = ev->u.gap.meter;
        break;
    case PIPE_EVK_RELEASE:
        who = ev->u.release.meter;
        break;
    case PIPE_EVK_DAY:
        who = ev->u.day.district;
        break;
    case PIPE_EVK_LINK:
        state = ev->type == PIPE_EV_LINK_UP ? "cleared" : "start";
        break;
    }
    printf("%s %-17s %-7s %s", when, ev->name, state ? state : "-", who ? who : "-");
    if (ev->kind == PIPE_EVK_RULE)
        printf(" value %lld threshold %lld", (long long)ev->u.rule.value,
               (long long)ev->u.rule.threshold);
    if (ev->kind == PIPE_EVK_DAY && ev->u.day.loss_valid)
        printf(" loss %.2f %%", ev->u.day.loss_pct);
    if (ev->kind == PIPE_EVK_RELEASE)
        printf(" by %s: %s", ev->u.release.op, ev->u.release.reason);
    printf("\n");
}

static int print_event(void *vctx, uint64_t t, uint32_t meter, uint16_t type,
                       const uint8_t *bytes, size_t len)
{
    struct ectx *e = vctx;
    if (e->by_meter && meter != e->meter)
        return 0;
    struct pipe_ev ev;
    bool parsed = pipe_ev_parse(type, bytes, len, &ev) == AH_OK;
    if (e->type && (!parsed || strcasecmp(ev.name, e->type) != 0)) {
        if (parsed)
            pipe_ev_free(&ev);
        return 0;
    }
    char when[32];
    ah_time_format((int64_t)t * 1000, when, sizeof when);
    if (e->json) {
        /* the body as stored (fields of other versions too), with its time */
        json_t *o = json_loadb((const char *)bytes, len, 0, NULL);
        if (json_is_object(o)) {
            json_object_set_new(o, "time", json_string(when));
            cmd_print_json_line(o, JSON_COMPACT | JSON_SORT_KEYS);
            e->n++;
        }
        json_decref(o);
    } else if (parsed) {
        print_text(when, &ev);
        e->n++;
    } else {
        json_t *o = json_loadb((const char *)bytes, len, 0, NULL);
        if (json_is_object(o)) { /* not written by this version */
            printf("%s ? - - (a body this version cannot read)\n", when);
            e->n++;
        }
        json_decref(o);
    }
    if (parsed)
        pipe_ev_free(&ev);
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
