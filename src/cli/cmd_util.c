/* cmd_util — parsing and printing shared by the subcommands. */
#include "cmd_util.h"

#include "dlt645_di.h"

#include "ah_clock.h"
#include "ah_err.h"
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cmd_parse_long(const char *s, long min, long max, long *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int cmd_parse_hex(const char *s, int digits, unsigned long *out)
{
    if (!s || (int)strlen(s) != digits)
        return -1;
    unsigned long v = 0;
    for (int i = 0; i < digits; i++) {
        char ch = s[i];
        unsigned d;
        if (ch >= '0' && ch <= '9')
            d = (unsigned)(ch - '0');
        else if (ch >= 'a' && ch <= 'f')
            d = (unsigned)(ch - 'a' + 10);
        else if (ch >= 'A' && ch <= 'F')
            d = (unsigned)(ch - 'A' + 10);
        else
            return -1;
        v = v << 4 | d;
    }
    *out = v;
    return 0;
}

int cmd_parse_parity(const char *s, enum link_parity *out)
{
    if (!strcmp(s, "none"))
        *out = LINK_PARITY_NONE;
    else if (!strcmp(s, "even"))
        *out = LINK_PARITY_EVEN;
    else if (!strcmp(s, "odd"))
        *out = LINK_PARITY_ODD;
    else
        return -1;
    return 0;
}

json_t *cmd_json_scaled(int64_t raw, uint8_t dec)
{
    if (dec == 0)
        return json_integer((json_int_t)raw);
    double div = 1.0;
    for (uint8_t i = 0; i < dec; i++)
        div *= 10.0;
    return json_real((double)raw / div);
}

char *cmd_json_dumps(const json_t *j)
{
    /* 15 significant digits print every register (≤ 10 digits) exactly and
     * without float noise: 12345.67, not 12345.670000000000073. */
    return json_dumps(j, CMD_JSON_EXACT);
}

void cmd_print_json_line(const json_t *j, size_t flags)
{
    char *txt = json_dumps(j, flags);
    if (txt)
        printf("%s\n", txt);
    free(txt);
}

static int cmd_print_result_items(const char *addr, uint32_t di, enum dlt645_proto proto,
                                  const char *name, const char *unit, json_t *value,
                                  const struct dlt645_value *vals, size_t n, bool json);

static void fmt_tm(const struct dlt645_value *v, char *buf, size_t cap)
{
    const struct dlt645_tm *t = &v->tm;
    size_t n = 0;
    buf[0] = '\0';
    if (v->tm_fields & DLT645_TM_DATE)
        n += (size_t)snprintf(buf + n, cap - n, "20%02u-%02u-%02u", t->year, t->mon,
                              t->day);
    if (v->tm_fields & DLT645_TM_HM)
        n += (size_t)snprintf(buf + n, cap - n, "%s%02u:%02u", n ? "T" : "", t->hour,
                              t->min);
    if ((v->tm_fields & DLT645_TM_SEC) && n < cap)
        n += (size_t)snprintf(buf + n, cap - n, "%s%02u",
                              (v->tm_fields & DLT645_TM_HM) ? ":" : "", t->sec);
    (void)n;
}

static json_t *value_json(uint32_t di, const struct dlt645_value *v)
{
    char ts[40];
    switch (v->kind) {
    case DLT645_V_NUM: {
        json_t *num = cmd_json_scaled(v->raw, v->decimals);
        if (!v->has_tm)
            return num;
        fmt_tm(v, ts, sizeof ts);
        return json_pack("{s:o,s:s}", "value", num, "time", ts);
    }
    case DLT645_V_TIME:
        fmt_tm(v, ts, sizeof ts);
        if (v->tm_fields & DLT645_TM_WDAY) {
            return json_pack("{s:s,s:i}", "date", ts, "weekday", v->tm.wday);
        }
        return json_string(ts);
    case DLT645_V_BITS: {
        json_t *set = json_array();
        for (unsigned b = 0; b < 32; b++) {
            if (!(v->bits & (1u << b)))
                continue;
            const char *nm = dlt645_status_bit_name(di, b);
            char tmp[16];
            if (!nm) {
                snprintf(tmp, sizeof tmp, "bit%u", b);
                nm = tmp;
            }
            json_array_append_new(set, json_string(nm));
        }
        return json_pack("{s:I,s:o}", "word", (json_int_t)v->bits, "set", set);
    }
    case DLT645_V_TEXT:
        return json_string(v->text);
    case DLT645_V_NA:
    default:
        return json_null();
    }
}

int cmd_print_result(const char *addr, uint32_t di, enum dlt645_proto proto,
                     const char *name, const char *unit, json_t *value, bool json)
{
    return cmd_print_result_items(addr, di, proto, name, unit, value, NULL, 0, json);
}

/* Blocks also name their items ("items", parallel to "value") so that a
 * summary of counts and minutes is not an unlabelled list. */
static int cmd_print_result_items(const char *addr, uint32_t di, enum dlt645_proto proto,
                                  const char *name, const char *unit, json_t *value,
                                  const struct dlt645_value *vals, size_t n, bool json)
{
    char di_txt[9];
    snprintf(di_txt, sizeof di_txt, "%0*X", proto == DLT645_1997 ? 4 : 8, di);
    json_t *o = json_pack("{s:s,s:s,s:s,s:o,s:s}", "addr", addr, "di", di_txt, "name",
                          name, "value", value, "unit", unit ? unit : "");
    if (vals) {
        json_t *items = json_array();
        for (size_t i = 0; i < n; i++) {
            json_t *it = json_pack("{s:s,s:s}", "name", vals[i].name, "unit",
                                   vals[i].unit ? vals[i].unit : "");
            json_array_append_new(items, it);
        }
        json_object_set_new(o, "items", items);
    }
    if (json) {
        char *s = cmd_json_dumps(o);
        puts(s);
        free(s);
    } else {
        char *s = cmd_json_dumps(value);
        printf("%s %s %s = %s%s%s\n", addr, di_txt, name, s, unit && *unit ? " " : "",
               unit ? unit : "");
        free(s);
    }
    json_decref(o);
    return 0;
}

static void hex(const uint8_t *p, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 3 < cap; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s%02X", i ? " " : "", p[i]);
    out[o] = '\0';
}

int cmd_print_values(const char *addr, uint32_t di, enum dlt645_proto proto,
                     const uint8_t *p, size_t len, bool json)
{
    static struct dlt645_value vals[256];
    size_t n = 0;
    char name[DLT645_NAME_MAX] = "unknown";
    const char *unit = "";
    dlt645_di_describe(di, proto, name, sizeof name, &unit);

    uint8_t isz, idec;
    bool isign;
    const char *cunit;
    if (proto == DLT645_2007 && dlt645_curve_item(di, &isz, &idec, &isign, &cunit)) {
        struct dlt645_tm start;
        int rc = dlt645_curve_decode(di, p, len, &start, vals, 256, &n);
        if (rc != AH_OK) {
            fprintf(stderr, "amihead read: meter %s: curve %08X does not decode: %s\n",
                    addr, di, ah_strerror(rc));
            return 1;
        }
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, value_json(di, &vals[i]));
        return cmd_print_result(addr, di, proto, name, cunit, arr, json);
    }

    int rc = dlt645_decode(di, proto, p, len, vals, 256, &n);
    if (rc == AH_ENOTSUP) {
        char h[3 * 200 * 8 + 1];
        hex(p, len, h, sizeof h);
        return cmd_print_result(addr, di, proto, "unknown", "",
                                json_pack("{s:s}", "raw", h), json);
    }
    if (rc != AH_OK) {
        fprintf(stderr,
                "amihead read: meter %s: reply to DI %0*X does not fit its format "
                "(%zu bytes): %s\n",
                addr, proto == DLT645_1997 ? 4 : 8, di, len, ah_strerror(rc));
        return 1;
    }
    json_t *value;
    if (n == 1) {
        value = value_json(di, &vals[0]);
        if (vals[0].unit)
            unit = vals[0].unit;
    } else {
        value = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(value, value_json(di, &vals[i]));
    }
    int rc2 = cmd_print_result_items(addr, di, proto, name, unit, value,
                                     n > 1 ? vals : NULL, n, json);
    return rc2;
}

int cmd_parse(struct cmd_ctx *x, int argc, char **argv, const char *shortopts,
              const struct option *opts, cmd_opt_fn own, void *u)
{
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
        int rc = CMD_GO;
        switch (o) {
        case 'c':
            x->file = optarg;
            break;
        case 'm':
            x->meter = optarg;
            break;
        case 'f':
        case 't': {
            /* checked now, converted once the config names the local zone */
            int64_t t;
            bool zone;
            if (ah_time_parse_zone(optarg, 0, &t, &zone) != AH_OK || t < 0) {
                fprintf(stderr, "amihead %s: bad time '%s'\n%s", x->name, optarg,
                        AH_TIME_FORMATS);
                return 2;
            }
            if (o == 'f')
                x->from_txt = optarg;
            else
                x->to_txt = optarg;
            break;
        }
        case 'j':
            x->json = true;
            break;
        case 'h':
            fputs(x->help ? x->help : x->usage, stdout);
            for (const struct option *op = opts; op->name; op++)
                if (op->val == 'f') /* a command taking times says which */
                    fputs(AH_TIME_FORMATS, stdout);
            return 0;
        default:
            /* '?': an unknown option or a missing argument; getopt returns
             * no other letter that is not in the command's own table */
            if (o == '?' || !own) {
                fputs(x->usage, stderr);
                return 2;
            }
            rc = own(x, o, optarg, u);
            break;
        }
        if (rc != CMD_GO)
            return rc;
    }
    if (!x->file || (x->need_meter && !x->meter) || optind != argc) {
        fputs(x->usage, stderr);
        return 2;
    }
    return cmd_resolve_times(x);
}

struct cfg *cmd_load_config(const char *cmd, const char *file)
{
    struct cfg_diag *d = malloc(sizeof *d); /* ~20 KiB: keep it off the stack */
    if (!d) {
        fprintf(stderr, "amihead %s: %s\n", cmd, ah_strerror(AH_ENOMEM));
        return NULL;
    }
    cfg_diag_init(d);
    struct cfg *c = NULL;
    int rc = cfg_load(file, &c, d);
    for (size_t i = 0; i < d->n; i++)
        fprintf(stderr, "%s\n", d->msg[i]);
    if (d->dropped)
        fprintf(stderr, "... and %zu more problems not shown\n", d->dropped);
    if (rc == AH_ECONFIG)
        fprintf(stderr, "%s: %zu error%s, %zu warning%s\n", file, d->n_errors,
                d->n_errors == 1 ? "" : "s", d->n_warnings,
                d->n_warnings == 1 ? "" : "s");
    else if (rc)
        fprintf(stderr, "amihead %s: %s: %s\n", cmd, file, ah_strerror(rc));
    free(d);
    return rc ? NULL : c;
}

int cmd_time_arg(const char *cmd, const struct cfg *c, const char *opt, const char *txt,
                 int64_t *ms)
{
    bool zone;
    int32_t off = c ? c->headend.tz_offset_s : 0;
    if (ah_time_parse_zone(txt, off, ms, &zone) != AH_OK || *ms < 0) {
        fprintf(stderr, "amihead %s: bad time '%s'\n%s", cmd, txt, AH_TIME_FORMATS);
        return 2;
    }
    if (!zone) { /* said once on stderr, so nobody has to guess */
        char utc[32];
        ah_time_format(*ms, utc, sizeof utc);
        fprintf(stderr, "amihead %s: %s '%s' is local time in %s (UTC%+03d:%02d): %s\n",
                cmd, opt, txt,
                c && c->headend.timezone[0] ? c->headend.timezone : "the box's zone",
                off / 3600, (off < 0 ? -off : off) % 3600 / 60, utc);
    }
    return CMD_GO;
}

/* One of --from / --to into seconds. */
static int resolve_time(struct cmd_ctx *x, const char *opt, const char *txt, int64_t *out)
{
    int64_t ms;
    int rc = cmd_time_arg(x->name, x->cfg, opt, txt, &ms);
    if (rc == CMD_GO)
        *out = ms / 1000;
    return rc;
}

static int resolve_times(struct cmd_ctx *x);

int cmd_resolve_times(struct cmd_ctx *x)
{
    int rc = resolve_times(x);
    if (rc != CMD_GO) /* the command returns at once: no cmd_close */
        cfg_destroy(&x->cfg);
    return rc;
}

static int resolve_times(struct cmd_ctx *x)
{
    bool local = false;
    int64_t ms;
    bool zone;
    if (x->from_txt && ah_time_parse_zone(x->from_txt, 0, &ms, &zone) == AH_OK && !zone)
        local = true;
    if (x->to_txt && ah_time_parse_zone(x->to_txt, 0, &ms, &zone) == AH_OK && !zone)
        local = true;
    if (local && !x->cfg) {
        x->cfg = cmd_load_config(x->name, x->file);
        if (!x->cfg)
            return 1;
    }
    int rc;
    if (x->from_txt && (rc = resolve_time(x, "--from", x->from_txt, &x->from)) != CMD_GO)
        return rc;
    if (x->to_txt && (rc = resolve_time(x, "--to", x->to_txt, &x->to)) != CMD_GO)
        return rc;
    if (x->from_txt && x->to_txt && x->from > x->to) {
        fprintf(stderr,
                "amihead %s: --from %s is after --to %s: the range is reversed, nothing "
                "lies in it\n",
                x->name, x->from_txt, x->to_txt);
        return 2;
    }
    return CMD_GO;
}

int cmd_open(struct cmd_ctx *x, bool open_store)
{
    if (!x->cfg) /* cmd_parse loads it already for a local time */
        x->cfg = cmd_load_config(x->name, x->file);
    if (!x->cfg)
        return 1;
    if (!open_store)
        return 0;
    /* read-only: the running head-end is the store's one writer */
    struct store_opts so = {.read_only = true, .no_create = true};
    int rc = store_open(x->cfg->storage.path, &so, &x->st);
    if (rc != AH_OK) {
        struct stat st;
        if (stat(x->cfg->storage.path, &st) != 0 && errno == ENOENT)
            fprintf(stderr,
                    "amihead %s: store %s does not exist (has amihead run stored "
                    "anything with this config?)\n",
                    x->name, x->cfg->storage.path);
        else if (access(x->cfg->storage.path, R_OK | X_OK) != 0 && errno == EACCES)
            fprintf(stderr,
                    "amihead %s: store %s: permission denied (amihead runs as uid "
                    "%u)\n",
                    x->name, x->cfg->storage.path, (unsigned)geteuid());
        else
            fprintf(stderr, "amihead %s: store %s: %s\n", x->name, x->cfg->storage.path,
                    ah_strerror(rc));
        return 1;
    }
    return 0;
}

bool cmd_in_inventory(const struct cmd_ctx *x, const char *meter)
{
    for (size_t i = 0; i < x->cfg->n_meters; i++)
        if (!strcmp(x->cfg->meters[i].id, meter))
            return true;
    return false;
}

int cmd_find_meter(struct cmd_ctx *x, const char *missing)
{
    if (!cmd_in_inventory(x, x->meter)) {
        fprintf(stderr, "amihead %s: meter %s is not in the inventory %s\n", x->name,
                x->meter, x->cfg->inventory);
        return 1;
    }
    if (store_meter_index(x->st, x->meter, false, &x->meter_idx) != AH_OK) {
        fprintf(stderr, "amihead %s: meter %s %s %s\n", x->name, x->meter, missing,
                x->cfg->storage.path);
        return 1;
    }
    return 0;
}

uint64_t cmd_until(const struct cmd_ctx *x)
{
    return x->to == INT64_MAX ? UINT64_MAX : (uint64_t)x->to + 1;
}

int cmd_fail(const struct cmd_ctx *x, int rc)
{
    fprintf(stderr, "amihead %s: %s\n", x->name, ah_strerror(rc));
    return 1;
}

void cmd_close(struct cmd_ctx *x)
{
    store_close(&x->st);
    cfg_destroy(&x->cfg);
}
