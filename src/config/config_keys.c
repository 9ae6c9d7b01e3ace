/*
 * config_keys — the config as data (STYLE 10): value types and their one
 * parser, cfg_set_value(), and one table {key, type, offset, min, max,
 * default} per YAML section plus the inventory's column table. The loaders
 * (config_yaml.c, config.c) only walk these tables.
 */
#include "config_int.h"

#include "ah_err.h"
#include "ah_tz.h"
#include "dialin.h"
#include "readplan.h"
#include "vee_district.h"

#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Enums are stored through memcpy of an int (cfg_set_value): make sure they are. */
_Static_assert(sizeof(enum cfg_link_type) == sizeof(int), "enum size");
_Static_assert(sizeof(enum link_parity) == sizeof(int), "enum size");
_Static_assert(sizeof(enum ah_log_level) == sizeof(int), "enum size");
_Static_assert(sizeof(enum ah_log_format) == sizeof(int), "enum size");
_Static_assert(sizeof(enum cfg_proto) == sizeof(int), "enum size");
_Static_assert(sizeof(enum cfg_wiring) == sizeof(int), "enum size");
_Static_assert(sizeof(enum cfg_class) == sizeof(int), "enum size");
_Static_assert(sizeof(enum cfg_role) == sizeof(int), "enum size");

/* ---- names ------------------------------------------------------------ */

const char *const cfg_link_type_names[] = {"dlt645-tcp", "dlt645-listen", "dlt645-serial",
                                           "modbus-tcp", "modbus-rtu",    NULL};
static const char *const parity_names[] = {"none", "even", "odd", NULL};
static const char *const log_level_names[] = {"debug", "info", "warn", "error", NULL};
static const char *const log_format_names[] = {"text", "json", NULL}; /* ah_log_format */
const char *const cfg_proto_names[] = {"dlt645-2007", "dlt645-1997", "modbus", NULL};
static const char *const wiring_names[] = {"1P2W", "3P3W", "3P4W", NULL};
static const char *const class_names[] = {"A", "B", "C", NULL};
static const char *const role_names[] = {"customer", "district", NULL};

const char *cfg_link_type_name(enum cfg_link_type t)
{
    return (unsigned)t <= CFG_LINK_MODBUS_RTU ? cfg_link_type_names[t] : "?";
}

const char *cfg_proto_name(enum cfg_proto p)
{
    return (unsigned)p <= CFG_PROTO_MODBUS ? cfg_proto_names[p] : "?";
}

const char *cfg_wiring_name(enum cfg_wiring w)
{
    return (unsigned)w <= CFG_WIRING_3P4W ? wiring_names[w] : "?";
}

bool cfg_proto_is_dlt645(enum cfg_proto p)
{
    return p == CFG_PROTO_DLT645_2007 || p == CFG_PROTO_DLT645_1997;
}

bool cfg_link_is_dlt645(enum cfg_link_type t)
{
    return t == CFG_LINK_DLT645_TCP || t == CFG_LINK_DLT645_LISTEN ||
           t == CFG_LINK_DLT645_SERIAL;
}

/* ---- value types ------------------------------------------------------ */

static bool is_id_char(char ch)
{
    return isalnum((unsigned char)ch) || ch == '_' || ch == '.' || ch == '-';
}

static bool check_hostport(const char *s, bool allow_star, char *err, size_t errlen)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s) {
        snprintf(err, errlen, "'%s' is not host:port", s);
        return false;
    }
    size_t hl = (size_t)(colon - s);
    if (s[0] == '[') {
        if (hl < 3 || s[hl - 1] != ']') {
            snprintf(err, errlen, "'%s': IPv6 host must be [addr]:port", s);
            return false;
        }
    } else if (memchr(s, ':', hl)) {
        snprintf(err, errlen, "'%s': write an IPv6 host as [addr]:port", s);
        return false;
    }
    for (size_t i = 0; i < hl; i++)
        if (isspace((unsigned char)s[i]) || (s[i] == '*' && !allow_star)) {
            snprintf(err, errlen, "'%s': bad host", s);
            return false;
        }
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (!isdigit((unsigned char)colon[1]) || *end || errno || port < 1 || port > 65535) {
        snprintf(err, errlen, "'%s': port must be 1..65535", s);
        return false;
    }
    return true;
}

static int copy_str(const struct cfg_key *k, const char *s, void *field, char *err,
                    size_t errlen)
{
    size_t n = strlen(s);
    if (n >= k->size) {
        snprintf(err, errlen, "longer than %zu characters", k->size - 1);
        return -1;
    }
    memcpy(field, s, n + 1);
    return 0;
}

/*
 * Parse text s as k's type into base + k->off. 0 ok; -1 with a message in
 * err. Defaults go through here too, so they obey the same ranges.
 */
/* ---- one setter per value type (nginx's ngx_conf_set_*_slot) ----------
 * Each parses s for key k into field, or says why not in err. */

typedef int (*cfg_setter)(const struct cfg_key *k, const char *s, void *field, char *err,
                          size_t errlen);

static int set_id(const struct cfg_key *k, const char *s, void *field, char *err,
                  size_t errlen)
{
    size_t n = strlen(s);
    bool ok = n >= 1 && n <= 32;
    for (size_t i = 0; ok && i < n; i++)
        ok = is_id_char(s[i]);
    if (!ok) {
        snprintf(err, errlen, "'%s' is not [A-Za-z0-9_.-]{1,32}", s);
        return -1;
    }
    return copy_str(k, s, field, err, errlen);
}

static int set_hostport(const struct cfg_key *k, const char *s, void *field, char *err,
                        size_t errlen)
{
    if (*s && !check_hostport(s, false, err, errlen))
        return -1;
    return copy_str(k, s, field, err, errlen);
}

static int set_zmq(const struct cfg_key *k, const char *s, void *field, char *err,
                   size_t errlen)
{
    if (!strncmp(s, "tcp://", 6)) {
        if (!check_hostport(s + 6, true, err, errlen))
            return -1;
    } else if (strncmp(s, "ipc://", 6) || !s[6]) {
        snprintf(err, errlen, "'%s' is not tcp://host:port or ipc://path", s);
        return -1;
    }
    return copy_str(k, s, field, err, errlen);
}

static int set_int(const struct cfg_key *k, const char *s, void *field, char *err,
                   size_t errlen)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (isspace((unsigned char)*s) || *end || errno == ERANGE || end == s) {
        snprintf(err, errlen, "'%s' is not an integer", s);
        return -1;
    }
    if ((double)v < k->min || (double)v > k->max) {
        snprintf(err, errlen, "%ld out of range %.0f..%.0f", v, k->min, k->max);
        return -1;
    }
    int iv = (int)v;
    memcpy(field, &iv, sizeof iv);
    return 0;
}

static int set_double(const struct cfg_key *k, const char *s, void *field, char *err,
                      size_t errlen)
{
    /* strtod would also take "inf", "nan" and hex floats: not here. */
    bool plain = *s != 0;
    for (const char *p = s; plain && *p; p++)
        plain = isdigit((unsigned char)*p) || strchr("+-.eE", *p);
    char *end;
    errno = 0;
    double v = plain ? strtod(s, &end) : 0;
    if (!plain || *end || errno == ERANGE || !isfinite(v)) {
        snprintf(err, errlen, "'%s' is not a number", s);
        return -1;
    }
    if (v < k->min || v > k->max) {
        snprintf(err, errlen, "%g out of range %g..%g", v, k->min, k->max);
        return -1;
    }
    memcpy(field, &v, sizeof v);
    return 0;
}

/* true | false (YAML), yes | no (the CSV's spelling) */
static int set_bool(const struct cfg_key *k, const char *s, void *field, char *err,
                    size_t errlen)
{
    const char *t = k->type == CFG_T_BOOL ? "true" : "yes";
    const char *f = k->type == CFG_T_BOOL ? "false" : "no";
    bool v;
    if (!strcmp(s, t))
        v = true;
    else if (!strcmp(s, f))
        v = false;
    else {
        snprintf(err, errlen, "'%s' is not %s or %s", s, t, f);
        return -1;
    }
    memcpy(field, &v, sizeof v);
    return 0;
}

static int set_enum(const struct cfg_key *k, const char *s, void *field, char *err,
                    size_t errlen)
{
    for (int i = 0; k->names[i]; i++)
        if (!strcmp(s, k->names[i])) {
            memcpy(field, &i, sizeof i);
            return 0;
        }
    int n = snprintf(err, errlen, "'%s' is not one of", s);
    for (int i = 0; k->names[i] && n > 0 && (size_t)n < errlen; i++)
        n += snprintf(err + n, errlen - (size_t)n, "%s%s", i ? " | " : " ", k->names[i]);
    return -1;
}

/* "HH:MM" local time → minutes after midnight */
static int set_hhmm(const struct cfg_key *k, const char *s, void *field, char *err,
                    size_t errlen)
{
    (void)k;
    bool ok = strlen(s) == 5 && s[2] == ':';
    for (int i = 0; ok && i < 5; i++)
        ok = i == 2 || isdigit((unsigned char)s[i]);
    int hh = ok ? (s[0] - '0') * 10 + (s[1] - '0') : 0;
    int mm = ok ? (s[3] - '0') * 10 + (s[4] - '0') : 0;
    if (!ok || hh > 23 || mm > 59) {
        snprintf(err, errlen, "'%s' is not a time HH:MM", s);
        return -1;
    }
    int v = hh * 60 + mm;
    memcpy(field, &v, sizeof v);
    return 0;
}

static int set_addr645(const struct cfg_key *k, const char *s, void *field, char *err,
                       size_t errlen)
{
    (void)k;
    bool ok = strlen(s) == 12;
    for (size_t i = 0; ok && i < 12; i++)
        ok = isdigit((unsigned char)s[i]);
    struct dlt645_addr a;
    if (!ok || dlt645_addr_parse(s, &a) != 0) {
        snprintf(err, errlen, "'%s' is not a DL/T 645 address (12 decimal digits)", s);
        return -1;
    }
    memcpy(field, &a, sizeof a);
    return 0;
}

static int set_mbmap(const struct cfg_key *k, const char *s, void *field, char *err,
                     size_t errlen)
{
    (void)k;
    const struct mbmap *m = mbmap_find(s);
    if (!m) {
        int n = snprintf(err, errlen, "unknown Modbus map '%s' (known:", s);
        const struct mbmap *x;
        for (size_t i = 0; (x = mbmap_at(i)) && n > 0 && (size_t)n < errlen; i++)
            n += snprintf(err + n, errlen - (size_t)n, " %s", x->name);
        if (n > 0 && (size_t)n < errlen)
            snprintf(err + n, errlen - (size_t)n, ")");
        return -1;
    }
    memcpy(field, &m, sizeof m);
    return 0;
}

static int set_tz(const struct cfg_key *k, const char *s, void *field, char *err,
                  size_t errlen)
{
    bool ok = *s && *s != '/' && !strstr(s, "..");
    for (const char *p = s; ok && *p; p++)
        ok = is_id_char(*p) || *p == '/' || *p == '+';
    if (!ok || !ah_tz_exists(s)) {
        snprintf(err, errlen, "unknown time zone '%s'", s);
        return -1;
    }
    return copy_str(k, s, field, err, errlen);
}

/* A read plan layer (readplan.h): parsed here, checked against the
 * interval once the schedule is known (check_read_plans). */
static int set_readplan(const struct cfg_key *k, const char *s, void *field, char *err,
                        size_t errlen)
{
    (void)k;
    struct readplan rp;
    if (readplan_parse(s, &rp, err, errlen) < 0)
        return -1;
    memcpy(field, &rp, sizeof rp);
    return 0;
}

static const cfg_setter setters[] = {
    [CFG_T_STR] = copy_str,          [CFG_T_ID] = set_id,
    [CFG_T_PATH] = copy_str,         [CFG_T_HOSTPORT] = set_hostport,
    [CFG_T_ZMQ] = set_zmq,           [CFG_T_INT] = set_int,
    [CFG_T_DOUBLE] = set_double,     [CFG_T_BOOL] = set_bool,
    [CFG_T_YESNO] = set_bool,        [CFG_T_ENUM] = set_enum,
    [CFG_T_HHMM] = set_hhmm,         [CFG_T_ADDR645] = set_addr645,
    [CFG_T_MBMAP] = set_mbmap,       [CFG_T_TZ] = set_tz,
    [CFG_T_READPLAN] = set_readplan,
};

int cfg_set_value(const struct cfg_key *k, const char *s, void *base, char *err,
                  size_t errlen)
{
    void *field = (char *)base + k->off;
    if (!*s && !(k->flags & CFG_EMPTY_OK) && k->type != CFG_T_STR) {
        snprintf(err, errlen, "empty value");
        return -1;
    }
    if ((size_t)k->type >= sizeof setters / sizeof setters[0] || !setters[k->type]) {
        snprintf(err, errlen, "internal: bad key type");
        return -1;
    }
    return setters[k->type](k, s, field, err, errlen);
}

/* ---- key tables ------------------------------------------------------- */

const struct cfg_key cfg_headend_keys[] = {
    KEY("id", CFG_T_ID, struct cfg_headend, id, .def = "amihead"),
    KEY("timezone", CFG_T_TZ, struct cfg_headend, timezone),
    KEY("log_level", CFG_T_ENUM, struct cfg_headend, log_level, .def = "info",
        .names = log_level_names),
    KEY("log_format", CFG_T_ENUM, struct cfg_headend, log_format, .def = "text",
        .names = log_format_names),
};

const struct cfg_key cfg_storage_keys[] = {
    KEY("path", CFG_T_PATH, struct cfg_storage, path, .flags = CFG_REQ),
    KEY("sync", CFG_T_BOOL, struct cfg_storage, sync, .def = "true"),
    KEY("reserve_mb", CFG_T_INT, struct cfg_storage, reserve_mb, .min = 0, .max = 1048576,
        .def = "64"),
};

const struct cfg_key cfg_schedule_keys[] = {
    KEY("interval_min", CFG_T_INT, struct cfg_schedule, interval_min, .min = 1, .max = 60,
        .def = "15"),
    KEY("backfill_days", CFG_T_INT, struct cfg_schedule, backfill_days, .min = 0,
        .max = 62, .def = "3"),
    KEY("stagger_s", CFG_T_INT, struct cfg_schedule, stagger_s, .min = 0, .max = 3599,
        .def = "60"),
    KEY("daily_freeze_after", CFG_T_HHMM, struct cfg_schedule, daily_freeze_after,
        .def = "00:05"),
    KEY("timeout_ms", CFG_T_INT, struct cfg_schedule, timeout_ms, .min = 10, .max = 60000,
        .def = "2000"),
    KEY("retries", CFG_T_INT, struct cfg_schedule, retries, .min = 0, .max = 10,
        .def = "2"),
    KEY("backoff_after", CFG_T_INT, struct cfg_schedule, backoff_after, .min = 1,
        .max = 100, .def = "3"),
    KEY("backoff_max_cycles", CFG_T_INT, struct cfg_schedule, backoff_max_cycles,
        .min = 1, .max = 1000, .def = "8"),
    /* read plan layers (readplan.h), checked against interval_min
     * (check_read_plans); their lines follow the eight keys above */
    KEY("read_plan", CFG_T_READPLAN, struct cfg_schedule, read_plan[0], .def = "",
        .flags = CFG_EMPTY_OK),
    KEY("read_plan_class_a", CFG_T_READPLAN, struct cfg_schedule, read_plan[1], .def = "",
        .flags = CFG_EMPTY_OK),
    KEY("read_plan_class_b", CFG_T_READPLAN, struct cfg_schedule, read_plan[2], .def = "",
        .flags = CFG_EMPTY_OK),
    KEY("read_plan_class_c", CFG_T_READPLAN, struct cfg_schedule, read_plan[3], .def = "",
        .flags = CFG_EMPTY_OK),
};

/* Per-type keys: `only` says which link types may use a key, `need` which
 * must. Serial defaults depend on the type and are filled in afterwards. */
const struct cfg_key cfg_link_keys[] = {
    KEY("name", CFG_T_ID, struct cfg_link, name, .flags = CFG_REQ),
    KEY("type", CFG_T_ENUM, struct cfg_link, type, .names = cfg_link_type_names,
        .flags = CFG_REQ),
    KEY("endpoint", CFG_T_HOSTPORT, struct cfg_link, endpoint, .only = LT_TCP,
        .need = LT_TCP),
    KEY("listen", CFG_T_HOSTPORT, struct cfg_link, listen, .only = LT_LISTEN,
        .need = LT_LISTEN),
    KEY("address", CFG_T_ADDR645, struct cfg_link, address, .only = LT_LISTEN,
        .need = LT_LISTEN),
    KEY("device", CFG_T_PATH, struct cfg_link, device, .only = LT_SERIAL,
        .need = LT_SERIAL),
    KEY("baud", CFG_T_INT, struct cfg_link, baud, .min = 300, .max = 115200,
        .only = LT_SERIAL),
    KEY("parity", CFG_T_ENUM, struct cfg_link, parity, .names = parity_names,
        .only = LT_SERIAL),
    KEY("stop_bits", CFG_T_INT, struct cfg_link, stop_bits, .min = 1, .max = 2,
        .only = LT_SERIAL),
    KEY("timeout_ms", CFG_T_INT, struct cfg_link, timeout_ms, .min = 10, .max = 60000),
    KEY("retries", CFG_T_INT, struct cfg_link, retries, .min = 0, .max = 10),
    KEY("allow", CFG_T_STR, struct cfg_link, allow, .only = LT_LISTEN),
    KEY("read_plan", CFG_T_READPLAN, struct cfg_link, read_plan, .def = "",
        .flags = CFG_EMPTY_OK),
    KEY("round_trip_ms", CFG_T_INT, struct cfg_link, round_trip_ms, .min = 0,
        .max = 60000, .def = "0"),
};

const struct cfg_key cfg_export_keys[] = {
    KEY("pub", CFG_T_ZMQ, struct cfg_export, pub, .def = "tcp://127.0.0.1:5556"),
    KEY("replay", CFG_T_ZMQ, struct cfg_export, replay, .def = "tcp://127.0.0.1:5557"),
    KEY("retention_days", CFG_T_INT, struct cfg_export, retention_days, .min = 1,
        .max = 3650, .def = "35"),
    KEY("retention_mb", CFG_T_INT, struct cfg_export, retention_mb, .min = 16,
        .max = 1048576, .def = "2048"),
};

const struct cfg_key cfg_security_keys[] = {
    KEY("server_secret_key", CFG_T_PATH, struct cfg_security, server_secret_key),
    KEY("client_keys_dir", CFG_T_PATH, struct cfg_security, client_keys_dir),
};

const struct cfg_key cfg_metrics_keys[] = {
    KEY("listen", CFG_T_HOSTPORT, struct cfg_metrics, listen, .def = "127.0.0.1:9464",
        .flags = CFG_EMPTY_OK),
};

/*
 * Every field of struct vee_thresholds, in its order. Ranges are those
 * vee_thresholds_check accepts (counts 1..254: the validator's run counters
 * saturate at 255), narrowed where a value would make a rule meaningless
 * (a 0 % imbalance or phase-loss threshold). Defaults are
 * vee_thresholds_default()'s; test_config compares them field by field.
 */
#define VK(k, t, lo, hi, d)                                                              \
    KEY(#k, t, struct vee_thresholds, k, .min = (lo), .max = (hi), .def = (d))
const struct cfg_key cfg_validation_keys[] = {
    VK(stopped_intervals, CFG_T_INT, 1, 254, "4"),
    VK(creeping_intervals, CFG_T_INT, 1, 254, "4"),
    VK(imbalance_pct, CFG_T_DOUBLE, 1, 100, "20"),
    VK(imbalance_intervals, CFG_T_INT, 1, 254, "4"),
    VK(imbalance_min_load_pct, CFG_T_DOUBLE, 0, 100, "10"),
    VK(voltage_unbalance_pct, CFG_T_DOUBLE, 0.1, 100, "4"),
    VK(voltage_unbalance_intervals, CFG_T_INT, 1, 254, "4"),
    VK(phase_loss_pct, CFG_T_DOUBLE, 1, 100, "78"),
    VK(phase_loss_dead_pct, CFG_T_DOUBLE, 1, 100, "60"),
    VK(clock_drift_s, CFG_T_INT, 1, 86400, "300"),
    VK(clock_suspect_s, CFG_T_INT, 2, 2678400, "3600"),
    VK(jump_factor, CFG_T_DOUBLE, 1, 100, "1.2"),
    VK(spike_factor, CFG_T_DOUBLE, 1, 1000, "10"),
    VK(spike_min_kwh, CFG_T_DOUBLE, 0, 1e6, "1"),
    VK(spike_min_days, CFG_T_INT, 1, 254, "7"),
    VK(drop_factor, CFG_T_DOUBLE, 0, 1, "0.2"),
    VK(drop_min_mean_kwh, CFG_T_DOUBLE, 0, 1e7, "5"),
    VK(drop_min_days, CFG_T_INT, 1, VEE_DAYS, "7"),
    VK(reverse_min_kwh, CFG_T_DOUBLE, 0, 1e6, "0.05"),
    VK(reverse_flow_intervals, CFG_T_INT, 1, 254, "2"),
    VK(sum_tol_kwh_per_interval, CFG_T_DOUBLE, 0, 1000, "0.02"),
    VK(sum_tol_pct, CFG_T_DOUBLE, 0, 100, "0.5"),
    VK(clear_intervals, CFG_T_INT, 1, 254, "4"),
    VK(line_loss_min_pct, CFG_T_DOUBLE, -100, 100, "-1"),
    VK(line_loss_max_pct, CFG_T_DOUBLE, -100, 100, "10"),
    VK(line_loss_swing_pct, CFG_T_DOUBLE, 0, 1000, "20"),
    VK(line_loss_swing_floor_pct, CFG_T_DOUBLE, 0, 100, "1"),
    VK(line_loss_top_k, CFG_T_INT, 0, VEE_DISTRICT_TOP_MAX, "10"),
};
#undef VK

const struct cfg_key cfg_meter_cols[] = {
    KEY("meter_id", CFG_T_ID, struct meter_row, id, .flags = CFG_REQ),
    KEY("protocol", CFG_T_ENUM, struct meter_row, m.proto, .names = cfg_proto_names,
        .flags = CFG_REQ),
    KEY("link", CFG_T_ID, struct meter_row, link, .flags = CFG_REQ),
    KEY("address", CFG_T_ADDR645, struct meter_row, m.addr),
    KEY("unit_id", CFG_T_INT, struct meter_row, m.unit_id, .min = 1, .max = 247),
    KEY("map", CFG_T_MBMAP, struct meter_row, m.map),
    KEY("wiring", CFG_T_ENUM, struct meter_row, m.wiring, .names = wiring_names,
        .flags = CFG_REQ),
    KEY("ct", CFG_T_INT, struct meter_row, m.ct, .min = 1, .max = 10000,
        .flags = CFG_REQ),
    KEY("pt", CFG_T_INT, struct meter_row, m.pt, .min = 1, .max = 10000,
        .flags = CFG_REQ),
    KEY("rated_current", CFG_T_DOUBLE, struct meter_row, m.rated_current, .min = 0.01,
        .max = 10000, .flags = CFG_REQ),
    KEY("max_current", CFG_T_DOUBLE, struct meter_row, m.max_current, .min = 0.01,
        .max = 10000, .flags = CFG_REQ),
    KEY("nominal_voltage", CFG_T_DOUBLE, struct meter_row, m.nominal_voltage, .min = 57.7,
        .max = 1000, .flags = CFG_REQ),
    KEY("district", CFG_T_ID, struct meter_row, district, .flags = CFG_REQ),
    KEY("class", CFG_T_ENUM, struct meter_row, m.cls, .names = class_names,
        .flags = CFG_REQ),
    KEY("role", CFG_T_ENUM, struct meter_row, m.role, .names = role_names,
        .flags = CFG_REQ),
    KEY("bidirectional", CFG_T_YESNO, struct meter_row, m.bidirectional,
        .flags = CFG_REQ),
};
_Static_assert(sizeof cfg_meter_cols / sizeof cfg_meter_cols[0] == MC_N, "column count");

_Static_assert(NKEYS(cfg_validation_keys) <= MAX_KEYS, "MAX_KEYS");

const struct cfg_key cfg_inventory_key = {.key = "inventory",
                                          .type = CFG_T_PATH,
                                          .off = offsetof(struct cfg, inventory),
                                          .size = FSIZE(struct cfg, inventory)};

const size_t cfg_headend_nkeys = NKEYS(cfg_headend_keys);
const size_t cfg_storage_nkeys = NKEYS(cfg_storage_keys);
const size_t cfg_schedule_nkeys = NKEYS(cfg_schedule_keys);
const size_t cfg_link_nkeys = NKEYS(cfg_link_keys);
const size_t cfg_export_nkeys = NKEYS(cfg_export_keys);
const size_t cfg_security_nkeys = NKEYS(cfg_security_keys);
const size_t cfg_metrics_nkeys = NKEYS(cfg_metrics_keys);
const size_t cfg_validation_nkeys = NKEYS(cfg_validation_keys);

/* ---- key list --------------------------------------------------------- */

/* Every YAML key, for tests that feed each one hostile values: one table
 * per section, links as "links.KEY", the top-level "inventory". */
static const struct {
    const char *section;
    const struct cfg_key *keys;
    size_t n;
} key_sections[] = {
    {"headend", cfg_headend_keys, cfg_headend_nkeys},
    {"storage", cfg_storage_keys, cfg_storage_nkeys},
    {"schedule", cfg_schedule_keys, cfg_schedule_nkeys},
    {"links", cfg_link_keys, cfg_link_nkeys},
    {"export", cfg_export_keys, cfg_export_nkeys},
    {"security", cfg_security_keys, cfg_security_nkeys},
    {"metrics", cfg_metrics_keys, cfg_metrics_nkeys},
    {"validation", cfg_validation_keys, cfg_validation_nkeys},
};

int cfg_key_at(size_t i, const char **section, const char **key)
{
    for (size_t s = 0; s < sizeof key_sections / sizeof key_sections[0]; s++) {
        if (i < key_sections[s].n) {
            *section = key_sections[s].section;
            *key = key_sections[s].keys[i].key;
            return 0;
        }
        i -= key_sections[s].n;
    }
    if (i == 0) {
        *section = "";
        *key = "inventory";
        return 0;
    }
    return AH_ENOENT;
}
