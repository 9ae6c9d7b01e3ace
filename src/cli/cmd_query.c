/*
 * cmd_query — `amihead query -c FILE --meter ID [--from T] [--to T] [--json]`:
 * the stored interval reads of one meter, oldest first, one line each;
 * `--all` instead of --meter: every meter's, meter by meter (one process for
 * a fleet: tests score 20,000 meters with it); `--outbox`: every published
 * message kept in the outbox, as `amihead tail` prints them.
 * Opens the store read-only, so it runs beside a live head-end.
 *
 * Registers are printed as primary values (secondary × CT × PT, DESIGN.md
 * §5) with the secondary values the meter registered beside them.
 */
#include "cmd_run.h"

#include "ah_clock.h"
#include "ah_err.h"
#include "cmd_util.h"
#include "store.h"
#include "vee.h"
#include "wire.h"

#include <jansson.h>
#include <stdio.h>

static const char *source_name(uint8_t s)
{
    switch (s) {
    case AH_READ_LIVE:
        return "live";
    case AH_READ_BACKFILL:
        return "backfill";
    case AH_READ_RELEASED:
        return "released";
    default:
        return "unknown";
    }
}

struct qctx {
    const char *meter;
    bool json;
    bool csv;
};

/* raw / 100 with exactly two decimals: the register's own digits */
static void put_centi(int64_t raw)
{
    uint64_t mag = raw < 0 ? (uint64_t)0 - (uint64_t)raw : (uint64_t)raw;
    printf(",%s%llu.%02llu", raw < 0 ? "-" : "", (unsigned long long)(mag / 100),
           (unsigned long long)(mag % 100));
}

#define CSV_HEADER                                                                       \
    "meter,interval_end,interval_end_s,source,quality,present,import_kwh,export_kwh,ct," \
    "pt\n"

/* --csv: one row of raw fields, for bulk use (a fleet's reads in one
 * process): registers secondary in kWh, quality and present as numbers. */
static void print_csv(const char *meter, const char *when, uint64_t end,
                      const struct ah_read *r)
{
    printf("%s,%s,%llu,%s,%u,%u", meter, when, (unsigned long long)end,
           source_name(r->source), (unsigned)r->quality, (unsigned)r->present);
    put_centi(r->imp_total);
    put_centi(r->exp_total);
    printf(",%u,%u\n", (unsigned)r->ct, (unsigned)r->pt);
}

static const char *const reactive_names[AH_READ_NREACTIVE] = {
    "reactive_comb1_kvarh", "reactive_comb2_kvarh", "reactive_q1_kvarh",
    "reactive_q2_kvarh",    "reactive_q3_kvarh",    "reactive_q4_kvarh"};

static void put_energy(json_t *prim, json_t *sec, const char *name, int64_t raw,
                       int64_t mult)
{
    json_object_set_new(prim, name, cmd_json_scaled(raw * mult, 2));
    json_object_set_new(sec, name, cmd_json_scaled(raw, 2));
}

static int print_read(void *vctx, uint32_t meter, const struct ah_read *r)
{
    (void)meter;
    struct qctx *q = vctx;
    char when[32];
    ah_time_format((int64_t)r->end * 1000, when, sizeof when);
    if (q->csv) {
        print_csv(q->meter, when, r->end, r);
        return 0;
    }
    int64_t mult = (int64_t)r->ct * (int64_t)r->pt;
    json_t *o = json_object();
    json_object_set_new(o, "meter", json_string(q->meter));
    json_object_set_new(o, "interval_end", json_string(when));
    json_t *prim = json_object(), *sec = json_object();
    if (r->present & AH_READ_HAS_IMP_TOTAL)
        put_energy(prim, sec, "import_kwh", r->imp_total, mult);
    if (r->present & AH_READ_HAS_EXP_TOTAL)
        put_energy(prim, sec, "export_kwh", r->exp_total, mult);
    for (int i = 0; i < AH_READ_NREACTIVE; i++)
        if (r->present & AH_READ_HAS_REACTIVE(i))
            put_energy(prim, sec, reactive_names[i], r->reactive[i], mult);
    json_object_set_new(prim, "secondary", sec);
    json_object_set_new(o, "registers", prim);
    json_object_set_new(o, "ct", json_integer(r->ct));
    json_object_set_new(o, "pt", json_integer(r->pt));
    json_object_set_new(o, "quality", json_integer(r->quality));
    /* the same bits by name, so an operator need not decode the mask */
    json_t *flags = json_array();
    char names[512] = "";
    size_t nl = 0;
    for (unsigned b = 0; b < 32; b++) {
        const char *nm = (r->quality >> b) & 1u ? vee_flag_name(b) : NULL;
        if (!nm)
            continue;
        json_array_append_new(flags, json_string(nm));
        int k = snprintf(names + nl, sizeof names - nl, "%s%s", nl ? "+" : "", nm);
        if (k > 0 && (size_t)k < sizeof names - nl)
            nl += (size_t)k;
    }
    json_object_set_new(o, "flags", flags);
    json_object_set_new(o, "clean", json_boolean(vee_is_clean(r->quality)));
    json_object_set_new(o, "source", json_string(source_name(r->source)));
    if (r->present & AH_READ_HAS_METER_CLOCK) {
        char mc[32];
        ah_time_format(r->meter_clock_ms, mc, sizeof mc);
        json_object_set_new(o, "meter_clock", json_string(mc));
    }
    if (q->json) {
        cmd_print_json_line(o, CMD_JSON_EXACT);
    } else {
        printf("%s %s import %lld.%02lld kWh export %lld.%02lld kWh (x%lld) %s %s %s\n",
               q->meter, when, (long long)(r->imp_total / 100),
               (long long)(r->imp_total % 100), (long long)(r->exp_total / 100),
               (long long)(r->exp_total % 100), (long long)mult,
               vee_is_clean(r->quality) ? "clean" : "SUSPECT", names[0] ? names : "-",
               source_name(r->source));
    }
    json_decref(o);
    return 0;
}

/* --all: every registered meter in turn */
struct all_ctx {
    struct cmd_ctx *x;
    bool json, csv;
};

static int print_meter(void *vctx, uint32_t idx, const char *meter_id)
{
    struct all_ctx *a = vctx;
    struct qctx q = {meter_id, a->json, a->csv};
    return store_reads_each(a->x->st, idx, (uint64_t)a->x->from, cmd_until(a->x),
                            print_read, &q);
}

/* --outbox: "SEQ TOPIC BODY", the lines `amihead tail` prints */
static int print_outbox(void *vctx, uint64_t seq, const uint8_t *bytes, size_t len)
{
    (void)vctx;
    struct wire_outbox_view v;
    int rc = wire_outbox_decode(bytes, len, &v);
    if (rc != AH_OK)
        return rc;
    printf("%llu %.*s %.*s\n", (unsigned long long)seq, (int)v.topic_len, v.topic,
           (int)v.body_len, v.body);
    return 0;
}

enum { Q_METER, Q_ALL, Q_OUTBOX };

struct qopts {
    int what;
    bool csv;
};

static int query_opt(struct cmd_ctx *x, int opt, const char *arg, void *u)
{
    (void)x;
    (void)arg;
    struct qopts *o = u;
    if (opt == 'v') {
        o->csv = true;
        return CMD_GO;
    }
    if (o->what != Q_METER) {
        fprintf(stderr, "amihead query: --all and --outbox exclude each other\n");
        return 2;
    }
    o->what = opt == 'a' ? Q_ALL : Q_OUTBOX;
    return CMD_GO;
}

#define QUERY_USAGE                                                                      \
    "usage: amihead query -c FILE (--meter ID | --all) [--from T] [--to T] [--json | "   \
    "--csv]\n"                                                                           \
    "       amihead query -c FILE --outbox\n"

int cmd_query(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, 0, 'c'}, {"meter", required_argument, 0, 'm'},
        {"all", no_argument, 0, 'a'},          {"outbox", no_argument, 0, 'o'},
        {"from", required_argument, 0, 'f'},   {"to", required_argument, 0, 't'},
        {"json", no_argument, 0, 'j'},         {"csv", no_argument, 0, 'v'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    struct cmd_ctx x = {
        .name = "query",
        .usage = QUERY_USAGE,
        .help = QUERY_USAGE
        "  interval reads with from <= interval end <= to, of one meter or of\n"
        "  every meter in the store (--all); --outbox: every message the outbox\n"
        "  keeps, 'SEQ TOPIC BODY' a line, as amihead tail prints them. --csv: a\n"
        "  header, then meter,interval_end,interval_end_s,source,quality,present,\n"
        "  import_kwh,export_kwh,ct,pt a read (secondary kWh, exact)\n",
        .from = 0,
        .to = INT64_MAX};
    struct qopts o = {Q_METER, false};
    int status = cmd_parse(&x, argc, argv, "c:m:h", opts, query_opt, &o);
    if (status != CMD_GO)
        return status;
    int what = o.what;
    if ((what == Q_METER) != (x.meter != NULL) ||
        (o.csv && (x.json || what == Q_OUTBOX))) {
        fputs(x.usage, stderr);
        return 2;
    }
    status = cmd_open(&x, true);
    if (status == 0 && what == Q_METER)
        status = cmd_find_meter(&x, "has no reads in");
    if (status == 0 && o.csv)
        fputs(CSV_HEADER, stdout);
    if (status == 0) {
        struct qctx q = {x.meter, x.json, o.csv};
        struct all_ctx a = {&x, x.json, o.csv};
        int rc = what == Q_ALL ? store_meters_each(x.st, print_meter, &a)
                 : what == Q_OUTBOX
                     ? store_outbox_each(x.st, 1, UINT64_MAX, print_outbox, NULL)
                     : store_reads_each(x.st, x.meter_idx, (uint64_t)x.from,
                                        cmd_until(&x), print_read, &q);
        if (rc != AH_OK)
            status = cmd_fail(&x, rc);
    }
    cmd_close(&x);
    return status;
}
