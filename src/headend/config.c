/*
 * config — amihead.yaml + meters.csv → struct cfg (see config.h).
 *
 * Layout: value parsers keyed by type; one key table per YAML section and
 * one column table for the CSV, all read by the same set_value(); then the
 * cross-field checks. Nothing here opens a link, a socket or the store.
 */
#include "config.h"

#include "ah_err.h"
#include "dialin.h"
#include "vee_district.h"

#include <csv.h>
#include <yaml.h>

#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Enums are stored through memcpy of an int (set_value): make sure they are. */
_Static_assert(sizeof(enum cfg_link_type) == sizeof(int), "enum size");
_Static_assert(sizeof(enum link_parity) == sizeof(int), "enum size");
_Static_assert(sizeof(enum ah_log_level) == sizeof(int), "enum size");
_Static_assert(sizeof(enum ah_log_format) == sizeof(int), "enum size");
_Static_assert(sizeof(enum cfg_proto) == sizeof(int), "enum size");
_Static_assert(sizeof(enum cfg_wiring) == sizeof(int), "enum size");
_Static_assert(sizeof(enum cfg_class) == sizeof(int), "enum size");
_Static_assert(sizeof(enum cfg_role) == sizeof(int), "enum size");

/* ---- diagnostics ------------------------------------------------------ */

void cfg_diag_init(struct cfg_diag *d)
{
    memset(d, 0, sizeof *d);
}

static void diag_vadd(struct cfg_diag *d, bool warning, const char *file, unsigned line,
                      const char *key, const char *fmt, va_list ap)
{
    if (warning)
        d->n_warnings++;
    else
        d->n_errors++;
    if (d->n >= CFG_DIAG_MAX) {
        d->dropped++;
        return;
    }
    char *m = d->msg[d->n];
    const char *w = warning ? "warning: " : "";
    int n = line ? snprintf(m, CFG_DIAG_LEN, "%s:%u: %s: %s", file, line, key, w)
                 : snprintf(m, CFG_DIAG_LEN, "%s: %s: %s", file, key, w);
    if (n >= 0 && n < CFG_DIAG_LEN)
        vsnprintf(m + n, CFG_DIAG_LEN - (size_t)n, fmt, ap); /* truncation is fine */
    d->is_warning[d->n] = warning;
    d->n++;
}

void cfg_diag_add(struct cfg_diag *d, bool warning, const char *file, unsigned line,
                  const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vadd(d, warning, file, line, key, fmt, ap);
    va_end(ap);
}

/* ---- names ------------------------------------------------------------ */

static const char *const link_type_names[] = {
    "dlt645-tcp", "dlt645-listen", "dlt645-serial", "modbus-tcp", "modbus-rtu", NULL};
static const char *const parity_names[] = {"none", "even", "odd", NULL};
static const char *const log_level_names[] = {"debug", "info", "warn", "error", NULL};
static const char *const log_format_names[] = {"text", "json", NULL}; /* ah_log_format */
static const char *const proto_names[] = {"dlt645-2007", "dlt645-1997", "modbus", NULL};
static const char *const wiring_names[] = {"1P2W", "3P3W", "3P4W", NULL};
static const char *const class_names[] = {"A", "B", "C", NULL};
static const char *const role_names[] = {"customer", "district", NULL};

const char *cfg_link_type_name(enum cfg_link_type t)
{
    return (unsigned)t <= CFG_LINK_MODBUS_RTU ? link_type_names[t] : "?";
}

const char *cfg_proto_name(enum cfg_proto p)
{
    return (unsigned)p <= CFG_PROTO_MODBUS ? proto_names[p] : "?";
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

enum cfg_type {
    CFG_T_STR,      /* any text that fits */
    CFG_T_ID,       /* [A-Za-z0-9_.-]{1,32}: ends up in topics and keys */
    CFG_T_PATH,     /* non-empty file or device path */
    CFG_T_HOSTPORT, /* host:port, [v6]:port */
    CFG_T_ZMQ,      /* tcp://host:port | ipc://path */
    CFG_T_INT,
    CFG_T_DOUBLE,
    CFG_T_BOOL,    /* true | false */
    CFG_T_YESNO,   /* yes | no (the CSV's spelling) */
    CFG_T_ENUM,    /* one of names[]; stored as its index */
    CFG_T_HHMM,    /* "HH:MM" local time → minutes after midnight */
    CFG_T_ADDR645, /* DL/T 645 address, 12 decimal digits */
    CFG_T_MBMAP,   /* a built-in Modbus register map */
    CFG_T_TZ,      /* a zoneinfo name */
};

#define CFG_REQ      1u /* must be present (YAML) / non-empty (CSV) */
#define CFG_EMPTY_OK 2u /* "" is a valid value (e.g. metrics.listen: "" = off) */

struct cfg_key {
    const char *key;
    enum cfg_type type;
    size_t off;  /* offset of the field in the section's struct */
    size_t size; /* size of the field (string capacity) */
    double min, max;
    const char *def;          /* default, parsed like a value; NULL = none */
    const char *const *names; /* CFG_T_ENUM */
    unsigned flags;
    unsigned only; /* links: link types using the key (bit per type), 0 = all */
    unsigned need; /* links: link types requiring the key */
};

#define FSIZE(st, f) sizeof(((st *)0)->f)
#define KEY(k, t, st, f, ...)                                                            \
    {                                                                                    \
        .key = k, .type = t, .off = offsetof(st, f), .size = FSIZE(st, f), __VA_ARGS__   \
    }

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

static bool tz_exists(const char *name)
{
    const char *dir = getenv("TZDIR");
    if (!dir || !*dir)
        dir = "/usr/share/zoneinfo";
    struct stat st;
    if (stat(dir, &st) != 0)
        return true; /* no zoneinfo database here to check against */
    char p[CFG_PATH_MAX * 2];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
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
static int set_value(const struct cfg_key *k, const char *s, void *base, char *err,
                     size_t errlen)
{
    void *field = (char *)base + k->off;
    if (!*s && !(k->flags & CFG_EMPTY_OK) && k->type != CFG_T_STR) {
        snprintf(err, errlen, "empty value");
        return -1;
    }
    switch (k->type) {
    case CFG_T_STR:
    case CFG_T_PATH:
        return copy_str(k, s, field, err, errlen);
    case CFG_T_ID: {
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
    case CFG_T_HOSTPORT:
        if (*s && !check_hostport(s, false, err, errlen))
            return -1;
        return copy_str(k, s, field, err, errlen);
    case CFG_T_ZMQ:
        if (!strncmp(s, "tcp://", 6)) {
            if (!check_hostport(s + 6, true, err, errlen))
                return -1;
        } else if (strncmp(s, "ipc://", 6) || !s[6]) {
            snprintf(err, errlen, "'%s' is not tcp://host:port or ipc://path", s);
            return -1;
        }
        return copy_str(k, s, field, err, errlen);
    case CFG_T_INT: {
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
    case CFG_T_DOUBLE: {
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
    case CFG_T_BOOL:
    case CFG_T_YESNO: {
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
    case CFG_T_ENUM:
        for (int i = 0; k->names[i]; i++)
            if (!strcmp(s, k->names[i])) {
                memcpy(field, &i, sizeof i);
                return 0;
            }
        {
            int n = snprintf(err, errlen, "'%s' is not one of", s);
            for (int i = 0; k->names[i] && n > 0 && (size_t)n < errlen; i++)
                n += snprintf(err + n, errlen - (size_t)n, "%s%s", i ? " | " : " ",
                              k->names[i]);
        }
        return -1;
    case CFG_T_HHMM: {
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
    case CFG_T_ADDR645: {
        bool ok = strlen(s) == 12;
        for (size_t i = 0; ok && i < 12; i++)
            ok = isdigit((unsigned char)s[i]);
        struct dlt645_addr a;
        if (!ok || dlt645_addr_parse(s, &a) != 0) {
            snprintf(err, errlen, "'%s' is not a DL/T 645 address (12 decimal digits)",
                     s);
            return -1;
        }
        memcpy(field, &a, sizeof a);
        return 0;
    }
    case CFG_T_MBMAP: {
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
    case CFG_T_TZ: {
        bool ok = *s && *s != '/' && !strstr(s, "..");
        for (const char *p = s; ok && *p; p++)
            ok = is_id_char(*p) || *p == '/' || *p == '+';
        if (!ok || !tz_exists(s)) {
            snprintf(err, errlen, "unknown time zone '%s'", s);
            return -1;
        }
        return copy_str(k, s, field, err, errlen);
    }
    }
    snprintf(err, errlen, "internal: bad key type");
    return -1;
}

/* ---- key tables ------------------------------------------------------- */

#define LT(t)     (1u << (t))
#define LT_TCP    (LT(CFG_LINK_DLT645_TCP) | LT(CFG_LINK_MODBUS_TCP))
#define LT_SERIAL (LT(CFG_LINK_DLT645_SERIAL) | LT(CFG_LINK_MODBUS_RTU))
#define LT_LISTEN LT(CFG_LINK_DLT645_LISTEN)

static const struct cfg_key headend_keys[] = {
    KEY("id", CFG_T_ID, struct cfg_headend, id, .def = "amihead"),
    KEY("timezone", CFG_T_TZ, struct cfg_headend, timezone),
    KEY("log_level", CFG_T_ENUM, struct cfg_headend, log_level, .def = "info",
        .names = log_level_names),
    KEY("log_format", CFG_T_ENUM, struct cfg_headend, log_format, .def = "text",
        .names = log_format_names),
};

static const struct cfg_key storage_keys[] = {
    KEY("path", CFG_T_PATH, struct cfg_storage, path, .flags = CFG_REQ),
    KEY("sync", CFG_T_BOOL, struct cfg_storage, sync, .def = "true"),
    KEY("reserve_mb", CFG_T_INT, struct cfg_storage, reserve_mb, .min = 0, .max = 1048576,
        .def = "64"),
};

static const struct cfg_key schedule_keys[] = {
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
};

/* Per-type keys: `only` says which link types may use a key, `need` which
 * must. Serial defaults depend on the type and are filled in afterwards. */
static const struct cfg_key link_keys[] = {
    KEY("name", CFG_T_ID, struct cfg_link, name, .flags = CFG_REQ),
    KEY("type", CFG_T_ENUM, struct cfg_link, type, .names = link_type_names,
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
};
enum {
    LK_NAME,
    LK_TYPE,
    LK_ENDPOINT,
    LK_LISTEN,
    LK_ADDRESS,
    LK_DEVICE,
    LK_BAUD,
    LK_PARITY,
    LK_STOP,
    LK_TIMEOUT,
    LK_RETRIES,
    LK_ALLOW
};

static const struct cfg_key export_keys[] = {
    KEY("pub", CFG_T_ZMQ, struct cfg_export, pub, .def = "tcp://127.0.0.1:5556"),
    KEY("replay", CFG_T_ZMQ, struct cfg_export, replay, .def = "tcp://127.0.0.1:5557"),
    KEY("retention_days", CFG_T_INT, struct cfg_export, retention_days, .min = 1,
        .max = 3650, .def = "35"),
    KEY("retention_mb", CFG_T_INT, struct cfg_export, retention_mb, .min = 16,
        .max = 1048576, .def = "2048"),
};

static const struct cfg_key security_keys[] = {
    KEY("server_secret_key", CFG_T_PATH, struct cfg_security, server_secret_key),
    KEY("client_keys_dir", CFG_T_PATH, struct cfg_security, client_keys_dir),
};

static const struct cfg_key metrics_keys[] = {
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
static const struct cfg_key validation_keys[] = {
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
enum { VK_CLOCK_DRIFT = 9, VK_CLOCK_SUSPECT = 10, VK_LOSS_MIN = 23, VK_LOSS_MAX = 24 };

/* CSV columns, in the documented order (the header may order them freely). */
struct meter_row {
    struct cfg_meter m;
    char id[CFG_NAME_MAX], district[CFG_NAME_MAX]; /* kept by rows_strings */
    char link[CFG_NAME_MAX];
};

static const struct cfg_key meter_cols[] = {
    KEY("meter_id", CFG_T_ID, struct meter_row, id, .flags = CFG_REQ),
    KEY("protocol", CFG_T_ENUM, struct meter_row, m.proto, .names = proto_names,
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
enum { MC_ID, MC_PROTO, MC_LINK, MC_ADDR, MC_UNIT, MC_MAP, MC_N = 16 };
_Static_assert(sizeof meter_cols / sizeof meter_cols[0] == MC_N, "column count");

#define NKEYS(t) (sizeof(t) / sizeof((t)[0]))
#define MAX_KEYS 32 /* most keys of one table (validation) */
_Static_assert(NKEYS(validation_keys) <= MAX_KEYS, "MAX_KEYS");

/* ---- loader state ----------------------------------------------------- */

struct loader {
    struct cfg *c;
    struct cfg_diag *d;
    const char *yfile; /* YAML path for messages */
    bool nomem;
    size_t cap_meters;
    const char **dist; /* district intern table (open addressing), load only */
    size_t dist_cap, dist_n;
};

static void err_at(struct loader *L, const char *file, unsigned line, const char *key,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void err_at(struct loader *L, const char *file, unsigned line, const char *key,
                   const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vadd(L->d, false, file, line, key, fmt, ap);
    va_end(ap);
}

static unsigned yline(const yaml_node_t *n)
{
    return (unsigned)n->start_mark.line + 1; /* libyaml counts from 0 */
}

static const char *yscalar(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

/* A plain empty scalar is YAML null: "security:" with nothing under it. */
static bool ynull(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.length == 0 &&
           n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/*
 * Apply one key table to a YAML mapping (or to nothing, for an absent
 * section: defaults only). lines[i] gets the line of key i, 0 when absent.
 * `prefix` names the section in messages ("schedule", "links[c0]").
 */
static void parse_section(struct loader *L, yaml_document_t *doc, yaml_node_t *map,
                          const struct cfg_key *keys, size_t nkeys, void *base,
                          const char *prefix, unsigned key_line, unsigned lines[MAX_KEYS])
{
    char kname[96], err[200];
    memset(lines, 0, MAX_KEYS * sizeof lines[0]);
    unsigned sec_line = key_line ? key_line : map ? yline(map) : 0;
    if (map && map->type != YAML_MAPPING_NODE && !ynull(map)) {
        err_at(L, L->yfile, sec_line, prefix, "expected a mapping of keys");
        map = NULL;
    }
    if (map && map->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
             p < map->data.mapping.pairs.top; p++) {
            yaml_node_t *kn = yaml_document_get_node(doc, p->key);
            yaml_node_t *vn = yaml_document_get_node(doc, p->value);
            if (!kn || !vn)
                continue;
            if (kn->type != YAML_SCALAR_NODE) {
                err_at(L, L->yfile, yline(kn), prefix, "key must be a plain word");
                continue;
            }
            const char *k = yscalar(kn);
            snprintf(kname, sizeof kname, "%s.%s", prefix, k);
            size_t i = 0;
            while (i < nkeys && strcmp(keys[i].key, k))
                i++;
            if (i == nkeys) {
                err_at(L, L->yfile, yline(kn), kname, "unknown key");
                continue;
            }
            if (lines[i]) {
                err_at(L, L->yfile, yline(kn), kname, "duplicate key (first at line %u)",
                       lines[i]);
                continue;
            }
            lines[i] = yline(kn);
            bool bad = vn->type != YAML_SCALAR_NODE;
            if (bad)
                err_at(L, L->yfile, yline(vn), kname, "expected a single value");
            else if (strlen(yscalar(vn)) != vn->data.scalar.length) {
                /* "a\0b" would be read as "a": refuse, do not truncate. */
                err_at(L, L->yfile, yline(vn), kname, "value contains a NUL byte");
                bad = true;
            } else if (set_value(&keys[i], yscalar(vn), base, err, sizeof err)) {
                err_at(L, L->yfile, yline(vn), kname, "%s", err);
                bad = true;
            }
            /* The cross-checks still run on this section (and divide by
             * some of its values): a refused value leaves the default,
             * never 0 (issue 17: interval_min 0 → SIGFPE). */
            if (bad && keys[i].def)
                (void)set_value(&keys[i], keys[i].def, base, err, sizeof err);
        }
    }
    for (size_t i = 0; i < nkeys; i++) {
        if (lines[i])
            continue;
        snprintf(kname, sizeof kname, "%s.%s", prefix, keys[i].key);
        if (keys[i].flags & CFG_REQ)
            err_at(L, L->yfile, sec_line, kname, "required key missing");
        else if (keys[i].def && set_value(&keys[i], keys[i].def, base, err, sizeof err))
            err_at(L, L->yfile, sec_line, kname, "internal: bad default: %s", err);
    }
}

/* ---- links ------------------------------------------------------------ */

/* Sorting pointers (not indices) keeps qsort free of global context; ties
 * fall back to file order, which is array order. */
static int cmp_ptr_order(const void *x, const void *y)
{
    return (const char *)x < (const char *)y ? -1 : (const char *)x > (const char *)y;
}

static int cmp_link_name(const void *a, const void *b)
{
    const struct cfg_link *x = *(const struct cfg_link *const *)a;
    const struct cfg_link *y = *(const struct cfg_link *const *)b;
    int r = strcmp(x->name, y->name);
    return r ? r : cmp_ptr_order(x, y);
}

static void parse_links(struct loader *L, yaml_document_t *doc, yaml_node_t *seq)
{
    struct cfg *c = L->c;
    if (seq->type != YAML_SEQUENCE_NODE) {
        err_at(L, L->yfile, yline(seq), "links", "expected a list of links");
        return;
    }
    size_t n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    if (n == 0) {
        err_at(L, L->yfile, yline(seq), "links", "at least one link is required");
        return;
    }
    if (n > CFG_MAX_LINKS) {
        err_at(L, L->yfile, yline(seq), "links", "%zu links, at most %d", n,
               CFG_MAX_LINKS);
        return;
    }
    c->links = calloc(n, sizeof *c->links);
    if (!c->links) {
        L->nomem = true;
        return;
    }
    c->n_links = n;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item =
            yaml_document_get_node(doc, seq->data.sequence.items.start[i]);
        struct cfg_link *l = &c->links[i];
        l->line = item ? yline(item) : 0;
        l->type = (enum cfg_link_type) - 1;
        /* Name the link in messages when its name is readable. */
        char prefix[64];
        snprintf(prefix, sizeof prefix, "links[%zu]", i);
        if (item && item->type == YAML_MAPPING_NODE)
            for (yaml_node_pair_t *p = item->data.mapping.pairs.start;
                 p < item->data.mapping.pairs.top; p++) {
                yaml_node_t *kn = yaml_document_get_node(doc, p->key);
                yaml_node_t *vn = yaml_document_get_node(doc, p->value);
                if (kn && vn && kn->type == YAML_SCALAR_NODE &&
                    vn->type == YAML_SCALAR_NODE && !strcmp(yscalar(kn), "name") &&
                    vn->data.scalar.length > 0 && vn->data.scalar.length <= 32)
                    snprintf(prefix, sizeof prefix, "links[%s]", yscalar(vn));
            }
        if (!item || item->type != YAML_MAPPING_NODE) {
            err_at(L, L->yfile, l->line, prefix, "expected a mapping of keys");
            continue;
        }
        unsigned lines[MAX_KEYS];
        parse_section(L, doc, item, link_keys, NKEYS(link_keys), l, prefix, l->line,
                      lines);
        if (!lines[LK_TYPE] || (unsigned)l->type > CFG_LINK_MODBUS_RTU)
            continue; /* already reported; the per-type rules need a type */
        unsigned bit = LT(l->type);
        for (size_t k = 0; k < NKEYS(link_keys); k++) {
            char kname[96];
            snprintf(kname, sizeof kname, "%s.%s", prefix, link_keys[k].key);
            if (lines[k] && link_keys[k].only && !(link_keys[k].only & bit))
                err_at(L, L->yfile, lines[k], kname, "not used by a %s link",
                       link_type_names[l->type]);
            else if (!lines[k] && (link_keys[k].need & bit))
                err_at(L, L->yfile, l->line, kname, "required for a %s link",
                       link_type_names[l->type]);
        }
        /* DL/T 645 lines are 2400 8E1 by convention (protocols.md §1.1);
         * Modbus meters ship as 9600 8N1 (protocols.md §4.2, §4.3). */
        bool dlt = l->type == CFG_LINK_DLT645_SERIAL;
        /* A refused value (reported) left 0: take the default as well. */
        if (!lines[LK_BAUD] || !l->baud)
            l->baud = (bit & LT_SERIAL) ? (dlt ? 2400 : 9600) : 0;
        if (!lines[LK_PARITY])
            l->parity = dlt ? LINK_PARITY_EVEN : LINK_PARITY_NONE;
        if (!lines[LK_STOP] || !l->stop_bits)
            l->stop_bits = 1;
        if (!lines[LK_TIMEOUT] || !l->timeout_ms)
            l->timeout_ms = c->schedule.timeout_ms;
        if (!lines[LK_RETRIES])
            l->retries = c->schedule.retries;
        char aerr[160];
        if (lines[LK_ALLOW] &&
            dialin_allow_parse(l->allow, &l->allow_net, aerr, sizeof aerr))
            err_at(L, L->yfile, lines[LK_ALLOW], "links.allow", "%s", aerr);
    }

    /* Names are unique; one endpoint or device belongs to one link, else
     * two sessions would talk over one half-duplex line (DESIGN.md §3). */
    c->link_by_name = malloc(n * sizeof *c->link_by_name);
    if (!c->link_by_name) {
        L->nomem = true;
        return;
    }
    for (size_t i = 0; i < n; i++)
        c->link_by_name[i] = &c->links[i];
    qsort(c->link_by_name, n, sizeof *c->link_by_name, cmp_link_name);
    for (size_t i = 1; i < n; i++) {
        const struct cfg_link *a = c->link_by_name[i - 1];
        const struct cfg_link *b = c->link_by_name[i];
        if (*b->name && !strcmp(a->name, b->name))
            err_at(L, L->yfile, b->line, "links.name",
                   "duplicate link name '%s' (first at line %u)", b->name, a->line);
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++) {
            const struct cfg_link *a = &c->links[j], *b = &c->links[i];
            if (*b->endpoint && !strcmp(a->endpoint, b->endpoint))
                err_at(L, L->yfile, b->line, "links.endpoint",
                       "%s already used by link '%s' (line %u)", b->endpoint, a->name,
                       a->line);
            if (*b->device && !strcmp(a->device, b->device))
                err_at(L, L->yfile, b->line, "links.device",
                       "%s already used by link '%s' (line %u)", b->device, a->name,
                       a->line);
            if (a->type == CFG_LINK_DLT645_LISTEN && b->type == CFG_LINK_DLT645_LISTEN &&
                *b->listen && !strcmp(a->listen, b->listen) &&
                dlt645_addr_eq(&a->address, &b->address))
                err_at(L, L->yfile, b->line, "links.address",
                       "concentrator address already expected on %s by link '%s' "
                       "(line %u)",
                       b->listen, a->name, a->line);
        }
}

const struct cfg_link *cfg_link_find(const struct cfg *c, const char *name)
{
    if (!c || !c->link_by_name)
        return NULL;
    size_t lo = 0, hi = c->n_links;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct cfg_link *l = c->link_by_name[mid];
        int r = strcmp(name, l->name);
        if (!r)
            return l;
        if (r < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* ---- inventory CSV ---------------------------------------------------- */

#define CSV_FIELD_MAX 96
#define CSV_COLS_MAX  24

struct csv_ctx {
    struct loader *L;
    const char *file;
    unsigned line;     /* physical line being fed */
    unsigned rec_line; /* line where the current record began */
    bool at_start;     /* the next line begins a record */
    bool have_header;
    bool header_bad;
    int col_key[CSV_COLS_MAX]; /* header column → meter_cols index */
    size_t n_cols;
    size_t nf; /* fields in the current record */
    bool too_long[CSV_COLS_MAX];
    char f[CSV_COLS_MAX][CSV_FIELD_MAX];
    bool stop; /* meter cap reached */
};

static void csv_on_field(void *s, size_t len, void *data)
{
    struct csv_ctx *x = data;
    if (x->nf < CSV_COLS_MAX) {
        /* a NUL would end the value early unseen: as bad as too long */
        x->too_long[x->nf] = len >= CSV_FIELD_MAX || (len && memchr(s, 0, len));
        size_t n = x->too_long[x->nf] ? CSV_FIELD_MAX - 1 : len;
        if (n)
            memcpy(x->f[x->nf], s, n);
        x->f[x->nf][n] = 0;
    }
    x->nf++;
}

static void csv_header(struct csv_ctx *x)
{
    struct loader *L = x->L;
    bool seen[MC_N] = {0};
    x->n_cols = x->nf;
    x->have_header = true;
    if (x->nf > CSV_COLS_MAX) {
        err_at(L, x->file, x->rec_line, "header", "%zu columns, expected %d", x->nf,
               MC_N);
        x->header_bad = true;
        return;
    }
    for (size_t i = 0; i < x->nf; i++) {
        x->col_key[i] = -1;
        for (int k = 0; k < MC_N; k++)
            if (!strcmp(x->f[i], meter_cols[k].key))
                x->col_key[i] = k;
        if (x->col_key[i] < 0) {
            err_at(L, x->file, x->rec_line, "header", "unknown column '%s'", x->f[i]);
            x->header_bad = true;
        } else if (seen[x->col_key[i]]) {
            err_at(L, x->file, x->rec_line, "header", "column '%s' appears twice",
                   x->f[i]);
            x->header_bad = true;
        } else
            seen[x->col_key[i]] = true;
    }
    for (int k = 0; k < MC_N; k++)
        if (!seen[k]) {
            err_at(L, x->file, x->rec_line, "header", "missing column '%s'",
                   meter_cols[k].key);
            x->header_bad = true;
        }
}

static bool link_fits(enum cfg_proto p, enum cfg_link_type t)
{
    return cfg_proto_is_dlt645(p) == cfg_link_is_dlt645(t);
}

/* ---- row strings: ids back to back, districts once ---------------------- */

/* Blocks never move once allocated, so rows keep pointers into them. */
struct cfg_strs {
    struct cfg_strs *next;
    size_t used, cap;
    char b[];
};
#define STRS_BLOCK (1u << 20)
_Static_assert(sizeof(void *) != 8 || sizeof(struct cfg_meter) == 96, "cfg_meter packing");

static const char *strs_add(struct cfg *c, const char *s)
{
    size_t n = strlen(s) + 1;
    if (!c->strs || c->strs->cap - c->strs->used < n) {
        struct cfg_strs *b = malloc(sizeof *b + STRS_BLOCK);
        if (!b)
            return NULL;
        b->next = c->strs;
        b->used = 0;
        b->cap = STRS_BLOCK;
        c->strs = b;
    }
    char *at = c->strs->b + c->strs->used;
    memcpy(at, s, n);
    c->strs->used += n;
    return at;
}

static size_t str_hash(const char *s)
{
    size_t h = 14695981039346656037u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

/* The one copy of district s (1.56 M meters name ~6,000 districts). */
static const char *district_intern(struct loader *L, const char *s)
{
    if (L->dist_n * 2 >= L->dist_cap) {
        size_t cap = L->dist_cap ? L->dist_cap * 2 : 256;
        const char **t = calloc(cap, sizeof *t);
        if (!t)
            return NULL;
        for (size_t i = 0; i < L->dist_cap; i++)
            if (L->dist[i]) {
                size_t j = str_hash(L->dist[i]) & (cap - 1);
                while (t[j])
                    j = (j + 1) & (cap - 1);
                t[j] = L->dist[i];
            }
        free((void *)L->dist);
        L->dist = t;
        L->dist_cap = cap;
    }
    size_t j = str_hash(s) & (L->dist_cap - 1);
    for (; L->dist[j]; j = (j + 1) & (L->dist_cap - 1))
        if (!strcmp(L->dist[j], s))
            return L->dist[j];
    const char *at = strs_add(L->c, s);
    if (at) {
        L->dist[j] = at;
        L->dist_n++;
    }
    return at;
}

static void csv_row(struct csv_ctx *x)
{
    struct loader *L = x->L;
    struct cfg *c = L->c;
    const char *F = x->file;
    unsigned ln = x->rec_line;
    if (x->nf != x->n_cols) {
        err_at(L, F, ln, "row", "%zu fields, the header has %zu", x->nf, x->n_cols);
        return;
    }
    struct meter_row r;
    memset(&r, 0, sizeof r);
    r.m.line = ln;
    /* present: the field is non-empty; has: it also parsed */
    bool ok = true, present[MC_N] = {0}, has[MC_N] = {0};
    char err[200];
    for (size_t i = 0; i < x->n_cols; i++) {
        const struct cfg_key *k = &meter_cols[x->col_key[i]];
        if (x->too_long[i]) {
            err_at(L, F, ln, k->key, "value too long or holding a NUL byte");
            ok = false;
            continue;
        }
        if (!x->f[i][0]) {
            if (k->flags & CFG_REQ) {
                err_at(L, F, ln, k->key, "value missing");
                ok = false;
            }
            continue;
        }
        present[x->col_key[i]] = true;
        if (set_value(k, x->f[i], &r, err, sizeof err)) {
            err_at(L, F, ln, k->key, "%s", err);
            ok = false;
        } else
            has[x->col_key[i]] = true;
    }
    /* Cross-column rules only where the columns themselves parsed. */
    const struct cfg_link *lk = NULL;
    if (has[MC_LINK]) {
        lk = cfg_link_find(c, r.link);
        if (!lk) {
            err_at(L, F, ln, "link", "unknown link '%s'", r.link);
            ok = false;
        }
    }
    if (has[MC_PROTO]) {
        bool dlt = cfg_proto_is_dlt645(r.m.proto);
        const char *pn = proto_names[r.m.proto];
        if (lk && !link_fits(r.m.proto, lk->type)) {
            err_at(L, F, ln, "protocol", "%s meter on %s link '%s'", pn,
                   cfg_link_type_name(lk->type), lk->name);
            ok = false;
        }
        if (dlt) {
            if (!present[MC_ADDR]) {
                err_at(L, F, ln, "address", "required for a %s meter", pn);
                ok = false;
            }
            if (present[MC_UNIT] || present[MC_MAP]) {
                err_at(L, F, ln, present[MC_UNIT] ? "unit_id" : "map",
                       "must be empty for a %s meter", pn);
                ok = false;
            }
        } else {
            if (present[MC_ADDR]) {
                err_at(L, F, ln, "address", "must be empty for a modbus meter");
                ok = false;
            }
            if (!present[MC_UNIT] || !present[MC_MAP]) {
                err_at(L, F, ln, !present[MC_UNIT] ? "unit_id" : "map",
                       "required for a modbus meter");
                ok = false;
            }
        }
    }
    if (r.m.rated_current > 0 && r.m.max_current > 0 &&
        r.m.max_current < r.m.rated_current) {
        err_at(L, F, ln, "max_current", "Imax %g A below rated current Ib %g A",
               r.m.max_current, r.m.rated_current);
        ok = false;
    }
    if (!ok)
        return;
    if (c->n_meters == CFG_MAX_METERS) {
        err_at(L, F, ln, "row", "more than %d meters", CFG_MAX_METERS);
        x->stop = true;
        return;
    }
    if (c->n_meters == L->cap_meters) {
        size_t cap = L->cap_meters ? L->cap_meters * 2 : 64;
        if (cap > CFG_MAX_METERS)
            cap = CFG_MAX_METERS;
        struct cfg_meter *m = realloc(c->meters, cap * sizeof *m);
        if (!m) {
            L->nomem = true;
            x->stop = true;
            return;
        }
        c->meters = m;
        L->cap_meters = cap;
    }
    r.m.link = (size_t)(lk - c->links);
    r.m.id = strs_add(c, r.id);
    r.m.district = district_intern(L, r.district);
    if (!r.m.id || !r.m.district) {
        L->nomem = true;
        x->stop = true;
        return;
    }
    c->meters[c->n_meters++] = r.m;
}

static void csv_on_record(int term, void *data)
{
    (void)term;
    struct csv_ctx *x = data;
    if (!x->stop && !x->L->nomem) {
        if (!x->have_header)
            csv_header(x);
        else if (!x->header_bad)
            csv_row(x);
    }
    x->nf = 0;
    x->at_start = true;
}

/* Only at a record start: libcsv has no comments, so "#" lines and blank
 * lines are dropped before it sees them. */
static bool skip_line(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return *s == '#' || *s == '\n' || *s == '\r' || !*s;
}

/* Bounds on the inventory file (STYLE.md §6: every buffer has a maximum):
 * `inventory: /dev/zero` once grew memory until killed. */
#define CSV_LINE_MAX 4096
#define CSV_FILE_MAX ((off_t)CFG_MAX_METERS * 512)

/* One line into buf (with its '\n'), NULs included: its length, 0 at end
 * of file, -1 when longer than cap - 1 (the rest of the line is left). */
static ssize_t read_line(FILE *fp, char *buf, size_t cap)
{
    size_t n = 0;
    int ch;
    while (n + 1 < cap && (ch = getc(fp)) != EOF) {
        buf[n++] = (char)ch;
        if (ch == '\n')
            break;
    }
    buf[n] = '\0';
    if (n + 1 == cap && buf[n - 1] != '\n')
        return -1;
    return (ssize_t)n;
}

static void load_inventory(struct loader *L, unsigned yaml_line)
{
    const char *F = L->c->inventory;
    FILE *fp = fopen(F, "r");
    if (!fp) {
        err_at(L, L->yfile, yaml_line, "inventory", "cannot open %s: %s", F,
               strerror(errno));
        return;
    }
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode) ||
        st.st_size > CSV_FILE_MAX) {
        err_at(L, L->yfile, yaml_line, "inventory",
               "%s is not a regular file of at most %lld MB", F,
               (long long)(CSV_FILE_MAX >> 20));
        fclose(fp);
        return;
    }
    struct csv_parser p;
    const unsigned char opts = CSV_STRICT | CSV_STRICT_FINI;
    if (csv_init(&p, opts) != 0) {
        fclose(fp);
        L->nomem = true;
        return;
    }
    struct csv_ctx *x = calloc(1, sizeof *x);
    if (!x) {
        csv_free(&p);
        fclose(fp);
        L->nomem = true;
        return;
    }
    x->L = L;
    x->file = F;
    x->at_start = true;
    char *buf = malloc(CSV_LINE_MAX);
    if (!buf)
        L->nomem = true;
    ssize_t len = 0;
    while (!x->stop && !L->nomem && (len = read_line(fp, buf, CSV_LINE_MAX)) != 0) {
        x->line++;
        if (len < 0) {
            err_at(L, F, x->line, "csv", "line longer than %d bytes", CSV_LINE_MAX - 1);
            break;
        }
        /* Excel's "CSV UTF-8" starts the file with a byte order mark */
        if (x->line == 1 && len >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3)) {
            memmove(buf, buf + 3, (size_t)len - 2);
            len -= 3;
        }
        if (x->at_start) {
            if (skip_line(buf))
                continue;
            x->rec_line = x->line;
            x->at_start = false;
        }
        size_t n = (size_t)len;
        if (csv_parse(&p, buf, n, csv_on_field, csv_on_record, x) != n) {
            err_at(L, F, x->line, "csv", "%s", csv_strerror(csv_error(&p)));
            /* Resynchronise at the next line: later rows still get checked. */
            csv_free(&p);
            if (csv_init(&p, opts) != 0) {
                L->nomem = true;
                break;
            }
            x->nf = 0;
            x->at_start = true;
        }
    }
    if (!x->stop && !L->nomem && csv_fini(&p, csv_on_field, csv_on_record, x) != 0)
        err_at(L, F, x->rec_line, "csv", "%s", csv_strerror(csv_error(&p)));
    if (!x->have_header && !L->nomem)
        err_at(L, F, 1, "header", "the header line is missing (empty inventory)");
    free(buf);
    csv_free(&p);
    free(x);
    fclose(fp);
}

/* ---- inventory cross checks ------------------------------------------- */

#define METER_PAIR(a, b)                                                                 \
    const struct cfg_meter *p = *(const struct cfg_meter *const *)(a);                   \
    const struct cfg_meter *q = *(const struct cfg_meter *const *)(b)

static int cmp_meter_id(const void *a, const void *b)
{
    METER_PAIR(a, b);
    int r = strcmp(p->id, q->id);
    return r ? r : cmp_ptr_order(p, q);
}

/* (link, DL/T 645 address | Modbus unit), then file order */
static int cmp_meter_bus(const void *a, const void *b)
{
    METER_PAIR(a, b);
    if (p->link != q->link)
        return p->link < q->link ? -1 : 1;
    int r = memcmp(p->addr.b, q->addr.b, sizeof p->addr.b);
    if (r)
        return r;
    if (p->unit_id != q->unit_id)
        return p->unit_id < q->unit_id ? -1 : 1;
    return cmp_ptr_order(p, q);
}

static int cmp_meter_district(const void *a, const void *b)
{
    METER_PAIR(a, b);
    int r = strcmp(p->district, q->district);
    return r ? r : cmp_ptr_order(p, q);
}

static void check_inventory(struct loader *L)
{
    struct cfg *c = L->c;
    const char *F = c->inventory;
    size_t n = c->n_meters;
    if (!n)
        return;
    if (L->cap_meters > n) {
        /* the rows' array grew by doubling: give the slack back (up to half
         * of it, 50 MB at 1.56 M meters) before anything points into it */
        struct cfg_meter *m = realloc(c->meters, n * sizeof *m);
        if (m) {
            c->meters = m;
            L->cap_meters = n;
        }
    }
    const struct cfg_meter **ix = malloc(n * sizeof *ix);
    c->by_id = malloc(n * sizeof *c->by_id);
    if (!ix || !c->by_id) {
        free((void *)ix);
        L->nomem = true;
        return;
    }
    for (size_t i = 0; i < n; i++)
        c->by_id[i] = &c->meters[i];
    qsort(c->by_id, n, sizeof *c->by_id, cmp_meter_id);
    for (size_t i = 1; i < n; i++) {
        const struct cfg_meter *a = c->by_id[i - 1];
        const struct cfg_meter *b = c->by_id[i];
        if (!strcmp(a->id, b->id))
            err_at(L, F, b->line, "meter_id",
                   "duplicate meter id '%s' (first at line %u)", b->id, a->line);
    }

    /* Two meters answering to one address on one bus would both reply. */
    for (size_t i = 0; i < n; i++)
        ix[i] = &c->meters[i];
    qsort(ix, n, sizeof *ix, cmp_meter_bus);
    for (size_t i = 1; i < n; i++) {
        const struct cfg_meter *a = ix[i - 1];
        const struct cfg_meter *b = ix[i];
        if (a->link != b->link || memcmp(&a->addr, &b->addr, sizeof a->addr) ||
            a->unit_id != b->unit_id)
            continue;
        if (b->proto == CFG_PROTO_MODBUS)
            err_at(L, F, b->line, "unit_id",
                   "unit %d already used on link '%s' by meter '%s' (line %u)",
                   b->unit_id, c->links[b->link].name, a->id, a->line);
        else {
            char t[13];
            dlt645_addr_format(&b->addr, t);
            err_at(L, F, b->line, "address",
                   "%s already used on link '%s' by meter '%s' (line %u)", t,
                   c->links[b->link].name, a->id, a->line);
        }
    }

    /* Line loss needs the transformer's own meter: two make the loss
     * ambiguous (error); none only disables line loss for that district,
     * collection still works, so it is a warning. */
    for (size_t i = 0; i < n; i++)
        ix[i] = &c->meters[i];
    qsort(ix, n, sizeof *ix, cmp_meter_district);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        const struct cfg_meter *dm = NULL, *first_cust = NULL;
        while (j < n && !strcmp(ix[j]->district, ix[i]->district)) {
            const struct cfg_meter *m = ix[j];
            if (m->role == CFG_ROLE_DISTRICT) {
                if (dm)
                    err_at(L, F, m->line, "role",
                           "district '%s' already has its district meter '%s' (line %u)",
                           m->district, dm->id, dm->line);
                else
                    dm = m;
            } else if (!first_cust)
                first_cust = m;
            j++;
        }
        if (!dm && first_cust)
            cfg_diag_add(L->d, true, F, first_cust->line, "role",
                         "district '%s' has customers but no role=district meter; "
                         "its line loss cannot be computed",
                         first_cust->district);
        c->n_districts++;
        i = j;
    }
    free((void *)ix);

    for (size_t i = 0; i < n; i++)
        c->links[c->meters[i].link].n_meters++;
    for (size_t i = 0; i < c->n_links; i++)
        if (!c->links[i].n_meters)
            cfg_diag_add(L->d, true, L->yfile, c->links[i].line, "links.name",
                         "no meter in %s uses link '%s'", F, c->links[i].name);
}

const struct cfg_meter *cfg_meter_find(const struct cfg *c, const char *id)
{
    if (!c || !c->by_id)
        return NULL;
    size_t lo = 0, hi = c->n_meters;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct cfg_meter *m = c->by_id[mid];
        int r = strcmp(id, m->id);
        if (!r)
            return m;
        if (r < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* ---- the validator's view ---------------------------------------------- */

int cfg_vee_thresholds(const struct cfg *c, struct vee_thresholds *out)
{
    if (!c || !out)
        return AH_EINVAL;
    *out = c->validation;
    return vee_thresholds_check(out);
}

int cfg_vee_meter_info(const struct cfg *c, const struct cfg_meter *m,
                       struct vee_meter_info *out)
{
    if (!c || !m || !out)
        return AH_EINVAL;
    memset(out, 0, sizeof *out);
    switch (m->wiring) {
    case CFG_WIRING_1P2W:
        out->wiring = VEE_1P2W;
        break;
    case CFG_WIRING_3P3W:
        out->wiring = VEE_3P3W;
        break;
    case CFG_WIRING_3P4W:
        out->wiring = VEE_3P4W;
        break;
    default:
        return AH_EINVAL;
    }
    out->bidirectional = m->bidirectional;
    if (m->ct < 1 || m->pt < 1)
        return AH_EINVAL;
    out->ct = (uint32_t)m->ct;
    out->pt = (uint32_t)m->pt;
    /* The CSV ranges (0.01..10000 A, 57.7..1000 V) keep these in uint32. */
    if (!(m->rated_current > 0 && m->max_current <= 10000 && m->nominal_voltage > 0 &&
          m->nominal_voltage <= 1000))
        return AH_EINVAL;
    out->ib_ma = (uint32_t)lround(m->rated_current * 1000.0);
    out->imax_ma = (uint32_t)lround(m->max_current * 1000.0);
    out->un_dv = (uint32_t)lround(m->nominal_voltage * 10.0);
    out->interval_s = (uint32_t)(c->schedule.interval_min * 60);
    out->tz_offset_s = c->headend.tz_offset_s;
    out->install_time = 0; /* meters.csv has no installation date */
    /* XXXXXX.XX kWh (protocols.md §2.3): 999999.99 + 0.01 wraps to 0. Modbus
     * maps carry floats without a documented wrap: the validator's default. */
    out->reg_modulus = cfg_proto_is_dlt645(m->proto) ? VEE_REG_MODULUS_DEFAULT : 0;
    return vee_meter_info_check(out);
}

/* Rows that pass the column table must also pass the validator's check. */
static void check_vee_meters(struct loader *L)
{
    const struct cfg *c = L->c;
    if (c->schedule.interval_min < 1 || 60 % c->schedule.interval_min)
        return; /* reported on schedule.interval_min; every row would repeat it */
    struct vee_meter_info vi;
    for (size_t i = 0; i < c->n_meters; i++)
        if (cfg_vee_meter_info(c, &c->meters[i], &vi) != AH_OK)
            err_at(L, c->inventory, c->meters[i].line, "row",
                   "ratings rejected by the validator (vee_meter_info_check)");
}

/* ---- time zone offset ------------------------------------------------- */

/*
 * The validator and scheduler need one fixed offset (meter wall time - UTC).
 * Switching TZ to ask localtime_r about another zone changes the whole
 * process's time zone under any thread that formats a time, so a named zone
 * is read from its TZif file instead: the footer of a version 2+ file
 * (RFC 8536 §3.3) is the POSIX TZ string for times after the last
 * transition, i.e. today's rule. "STD offset" alone means no daylight
 * saving; anything after it (a DST name and rule) is refused.
 */
static bool tz_posix_fixed(const char *tz, int32_t *off)
{
    const char *p = tz;
    if (*p == '<') { /* quoted name: <+08>, <-03> (POSIX XBD 8.3) */
        while (*p && *p != '>')
            p++;
        if (*p != '>' || p - tz < 4)
            return false;
        p++;
    } else {
        while (isalpha((unsigned char)*p))
            p++;
        if (p - tz < 3)
            return false;
    }
    int sign = 1;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    long part[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        if (!isdigit((unsigned char)*p))
            return false;
        long v = 0;
        int nd = 0;
        while (isdigit((unsigned char)*p) && nd < 3) {
            v = v * 10 + (*p++ - '0');
            nd++;
        }
        part[i] = v;
        if (*p != ':' || i == 2)
            break;
        p++;
    }
    if (*p || part[0] > 24 || part[1] > 59 || part[2] > 59)
        return false; /* trailing text: a DST rule follows */
    /* POSIX offsets count west of Greenwich: "CST-8" is UTC+8. */
    long west = part[0] * 3600 + part[1] * 60 + part[2];
    *off = (int32_t)(-sign * west);
    return true;
}

static int tz_zone_offset(const char *zone, int32_t *off, char *err, size_t errlen)
{
    const char *dir = getenv("TZDIR");
    if (!dir || !*dir)
        dir = "/usr/share/zoneinfo";
    char path[CFG_PATH_MAX * 2];
    snprintf(path, sizeof path, "%s/%s", dir, zone);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot read %.120s: %s", path, strerror(errno));
        return -1;
    }
    char head[5] = {0}, tail[128];
    size_t n = fread(head, 1, sizeof head, f);
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    size_t want =
        size > (long)sizeof tail - 1 ? sizeof tail - 1 : (size_t)(size < 0 ? 0 : size);
    size_t got = 0;
    if (size > 0 && fseek(f, -(long)want, SEEK_END) == 0)
        got = fread(tail, 1, want, f);
    fclose(f);
    if (n != 5 || memcmp(head, "TZif", 4) || head[4] < '2' || got < 2 ||
        tail[got - 1] != '\n') {
        snprintf(err, errlen, "%.120s is not a TZif version 2+ file", path);
        return -1;
    }
    tail[got - 1] = 0;
    const char *nl = memrchr(tail, '\n', got - 1); /* the data before holds NULs */
    const char *tz = nl ? nl + 1 : NULL;
    if (!tz || !*tz) {
        snprintf(err, errlen, "zone '%s' has no rule for present-day times", zone);
        return -1;
    }
    if (!tz_posix_fixed(tz, off)) {
        snprintf(err, errlen,
                 "zone '%s' observes daylight saving time (%s); amihead needs a fixed "
                 "UTC offset",
                 zone, tz);
        return -1;
    }
    return 0;
}

/*
 * The box's own zone (headend.timezone ""): localtime_r needs no TZ switch
 * here. Sampled over a year from now: differing offsets mean DST.
 */
static int tz_local_offset(int32_t *off, char *err, size_t errlen)
{
    tzset(); /* pick up TZ as it is now (localtime_r may not) */
    time_t now = time(NULL);
    long first = 0;
    for (int k = 0; k <= 12; k++) {
        time_t t = now + (time_t)k * 30 * 86400;
        struct tm tm;
        if (!localtime_r(&t, &tm)) {
            snprintf(err, errlen, "localtime_r failed for the box's time zone");
            return -1;
        }
        if (k == 0)
            first = tm.tm_gmtoff;
        else if (tm.tm_gmtoff != first) {
            snprintf(err, errlen,
                     "not set, and the box's time zone observes daylight saving "
                     "time; name a zone with a fixed UTC offset");
            return -1;
        }
    }
    *off = (int32_t)first;
    return 0;
}

static void load_tz_offset(struct loader *L, unsigned line)
{
    struct cfg_headend *h = &L->c->headend;
    char err[200];
    int rc = *h->timezone ? tz_zone_offset(h->timezone, &h->tz_offset_s, err, sizeof err)
                          : tz_local_offset(&h->tz_offset_s, err, sizeof err);
    if (rc)
        err_at(L, L->yfile, line, "headend.timezone", "%s", err);
    else if (h->tz_offset_s < -14 * 3600 || h->tz_offset_s > 14 * 3600)
        err_at(L, L->yfile, line, "headend.timezone", "UTC offset %d s beyond ±14 h",
               (int)h->tz_offset_s);
}

/* ---- YAML document ---------------------------------------------------- */

/* Relative paths in the YAML are relative to the YAML file's directory. */
static bool resolve_path(const char *yaml_path, char *p, size_t cap)
{
    if (!*p || p[0] == '/')
        return true;
    const char *slash = strrchr(yaml_path, '/');
    if (!slash)
        return true;
    char tmp[CFG_PATH_MAX];
    int n = snprintf(tmp, sizeof tmp, "%.*s/%s", (int)(slash - yaml_path), yaml_path, p);
    if (n < 0 || (size_t)n >= cap || (size_t)n >= sizeof tmp)
        return false;
    memcpy(p, tmp, (size_t)n + 1);
    return true;
}

enum {
    SEC_HEADEND,
    SEC_INVENTORY,
    SEC_STORAGE,
    SEC_SCHEDULE,
    SEC_LINKS,
    SEC_EXPORT,
    SEC_SECURITY,
    SEC_METRICS,
    SEC_VALIDATION,
    SEC_N
};
static const char *const section_names[SEC_N] = {"headend",  "inventory", "storage",
                                                 "schedule", "links",     "export",
                                                 "security", "metrics",   "validation"};

static const struct cfg_key inventory_key = {.key = "inventory",
                                             .type = CFG_T_PATH,
                                             .off = offsetof(struct cfg, inventory),
                                             .size = FSIZE(struct cfg, inventory)};

/*
 * Cross-key rules of `validation:`, then the validator's own check as the
 * last word: the key table is meant to accept only what vee accepts, and a
 * config that passes here must never make vee_eval refuse every read.
 * errors_before: diag error count before the section was parsed.
 */
static void check_validation(struct loader *L, const unsigned val_lines[MAX_KEYS],
                             unsigned sec_line, size_t errors_before)
{
    const struct vee_thresholds *v = &L->c->validation;
    if (v->clock_suspect_s <= v->clock_drift_s)
        err_at(L, L->yfile,
               val_lines[VK_CLOCK_SUSPECT] ? val_lines[VK_CLOCK_SUSPECT]
                                           : val_lines[VK_CLOCK_DRIFT],
               "validation.clock_suspect_s", "%d must be above clock_drift_s (%d)",
               v->clock_suspect_s, v->clock_drift_s);
    if (v->line_loss_min_pct >= v->line_loss_max_pct)
        err_at(L, L->yfile,
               val_lines[VK_LOSS_MIN] ? val_lines[VK_LOSS_MIN] : val_lines[VK_LOSS_MAX],
               "validation.line_loss_min_pct", "%g must be below line_loss_max_pct (%g)",
               v->line_loss_min_pct, v->line_loss_max_pct);
    /* A value already reported left its field unset: no second message. */
    if (L->d->n_errors == errors_before && vee_thresholds_check(v) != AH_OK)
        err_at(L, L->yfile, sec_line, "validation",
               "thresholds rejected by the validator (vee_thresholds_check; "
               "ranges in docs/validation.md)");
}

static void check_cross(struct loader *L, unsigned sched_lines[MAX_KEYS],
                        unsigned exp_lines[MAX_KEYS], unsigned sec_lines[MAX_KEYS],
                        unsigned sec_line)
{
    struct cfg *c = L->c;
    const struct cfg_schedule *s = &c->schedule;
    if (sched_lines[0] && 60 % s->interval_min)
        err_at(L, L->yfile, sched_lines[0], "schedule.interval_min",
               "%d does not divide the hour", s->interval_min);
    if (s->stagger_s >= s->interval_min * 60)
        err_at(L, L->yfile, sched_lines[2], "schedule.stagger_s",
               "%d s is not shorter than the %d min interval", s->stagger_s,
               s->interval_min);
    if (!strcmp(c->export.pub, c->export.replay))
        err_at(L, L->yfile, exp_lines[1], "export.replay", "same endpoint as export.pub");

    struct cfg_security *sec = &c->security;
    bool k = *sec->server_secret_key, d = *sec->client_keys_dir;
    if (k != d)
        err_at(L, L->yfile, sec_line,
               k ? "security.client_keys_dir" : "security.server_secret_key",
               "CURVE needs both server_secret_key and client_keys_dir");
    sec->enabled = k && d;
    struct stat st;
    if (k &&
        (!resolve_path(L->yfile, sec->server_secret_key, sizeof sec->server_secret_key) ||
         stat(sec->server_secret_key, &st) || !S_ISREG(st.st_mode)))
        err_at(L, L->yfile, sec_lines[0], "security.server_secret_key",
               "%s is not a readable file", sec->server_secret_key);
    if (d &&
        (!resolve_path(L->yfile, sec->client_keys_dir, sizeof sec->client_keys_dir) ||
         stat(sec->client_keys_dir, &st) || !S_ISDIR(st.st_mode)))
        err_at(L, L->yfile, sec_lines[1], "security.client_keys_dir",
               "%s is not a directory", sec->client_keys_dir);
}

/* "host:port" / "[v6]:port" → host (brackets kept) and port; 0 when it
 * is not one (already reported by its key). */
static int split_port(const char *hp, char *host, size_t cap)
{
    const char *colon = strrchr(hp, ':');
    if (!colon || (size_t)(colon - hp) >= cap)
        return 0;
    memcpy(host, hp, (size_t)(colon - hp));
    host[colon - hp] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    return *end || port < 1 || port > 65535 ? 0 : (int)port;
}

static bool hosts_overlap(const char *a, const char *b)
{
    static const char *const any[] = {"*", "0.0.0.0", "[::]", "[*]"};
    for (size_t i = 0; i < sizeof any / sizeof any[0]; i++)
        if (!strcmp(a, any[i]) || !strcmp(b, any[i]))
            return true;
    return !strcmp(a, b);
}

/*
 * What `run` would only find when binding (issue 17 item 9): the metrics
 * endpoint takes an IPv4 literal (metrics.c binds AF_INET), and no two of
 * metrics, export.pub, export.replay share a TCP port on overlapping
 * hosts.
 */
static void check_ports(struct loader *L, const unsigned exp_lines[MAX_KEYS],
                        unsigned met_line)
{
    const struct cfg *c = L->c;
    char mh[CFG_HOSTPORT_MAX] = "", h[CFG_HOSTPORT_MAX];
    int mport = 0;
    if (*c->metrics.listen && (mport = split_port(c->metrics.listen, mh, sizeof mh))) {
        struct in_addr a;
        if (inet_pton(AF_INET, mh, &a) != 1) {
            err_at(L, L->yfile, met_line, "metrics.listen",
                   "'%s' is not an IPv4 address: the metrics endpoint binds IPv4 "
                   "literals only (e.g. 127.0.0.1:9464)",
                   mh);
            mport = 0;
        }
    }
    const char *eps[2] = {c->export.pub, c->export.replay};
    const char *names[2] = {"export.pub", "export.replay"};
    for (int i = 0; i < 2 && mport; i++) {
        if (strncmp(eps[i], "tcp://", 6))
            continue;
        int port = split_port(eps[i] + 6, h, sizeof h);
        if (port == mport && hosts_overlap(h, mh))
            err_at(L, L->yfile, exp_lines[i], names[i],
                   "%s uses port %d of metrics.listen (%s)", eps[i], port,
                   c->metrics.listen);
    }
}

/* Deepest nesting of collections a config may have (it needs 4). */
#define CFG_YAML_DEPTH_MAX 32

/*
 * Refuse deep nesting before libyaml builds the document: its scanner
 * rechecks every open flow level at each token, so "[[[[...]]]]" 32,000
 * deep took 4 s (quadratic, issue 17 item 9). An event pass stops at the
 * first level too deep. true: go on with the load.
 */
static bool yaml_depth_ok(struct loader *L, FILE *fp)
{
    yaml_parser_t ps;
    if (!yaml_parser_initialize(&ps)) {
        L->nomem = true;
        return false;
    }
    yaml_parser_set_input_file(&ps, fp);
    int depth = 0;
    bool ok = true, done = false;
    while (!done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&ps, &ev))
            break; /* the load below reports the syntax error */
        if (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT) {
            if (++depth > CFG_YAML_DEPTH_MAX) {
                err_at(L, L->yfile, (unsigned)ev.start_mark.line + 1, "yaml",
                       "nested deeper than %d levels", CFG_YAML_DEPTH_MAX);
                ok = false;
                done = true;
            }
        } else if (ev.type == YAML_SEQUENCE_END_EVENT ||
                   ev.type == YAML_MAPPING_END_EVENT) {
            depth--;
        } else if (ev.type == YAML_STREAM_END_EVENT)
            done = true;
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&ps);
    rewind(fp);
    return ok;
}

static void load_yaml(struct loader *L, FILE *fp)
{
    struct cfg *c = L->c;
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_depth_ok(L, fp))
        return;
    if (!yaml_parser_initialize(&parser)) {
        L->nomem = true;
        return;
    }
    yaml_parser_set_input_file(&parser, fp);
    if (!yaml_parser_load(&parser, &doc)) {
        err_at(L, L->yfile, (unsigned)parser.problem_mark.line + 1, "yaml", "%s%s%s",
               parser.problem ? parser.problem : "syntax error",
               parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        return;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || root->type != YAML_MAPPING_NODE) {
        err_at(L, L->yfile, root ? yline(root) : 1, "yaml",
               root ? "the top level must be a mapping of sections"
                    : "empty configuration");
        goto out;
    }
    yaml_node_t *sec[SEC_N] = {0};
    unsigned sec_key_line[SEC_N] = {0};
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
         p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(&doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(&doc, p->value);
        if (!kn || !vn)
            continue;
        if (kn->type != YAML_SCALAR_NODE) {
            err_at(L, L->yfile, yline(kn), "yaml", "key must be a plain word");
            continue;
        }
        int i = 0;
        while (i < SEC_N && strcmp(section_names[i], yscalar(kn)))
            i++;
        if (i == SEC_N)
            err_at(L, L->yfile, yline(kn), yscalar(kn), "unknown section");
        else if (sec[i])
            err_at(L, L->yfile, yline(kn), yscalar(kn),
                   "duplicate section (first at line %u)", sec_key_line[i]);
        else {
            sec[i] = vn;
            sec_key_line[i] = yline(kn);
        }
    }

    unsigned lines[MAX_KEYS], sched_lines[MAX_KEYS], val_lines[MAX_KEYS],
        exp_lines[MAX_KEYS], sec_lines[MAX_KEYS];
    parse_section(L, &doc, sec[SEC_HEADEND], headend_keys, NKEYS(headend_keys),
                  &c->headend, "headend", sec_key_line[SEC_HEADEND], lines);
    if (!lines[1] || *c->headend.timezone) /* a refused zone is reported already */
        load_tz_offset(L, lines[1] ? lines[1] : sec_key_line[SEC_HEADEND]);
    parse_section(L, &doc, sec[SEC_STORAGE], storage_keys, NKEYS(storage_keys),
                  &c->storage, "storage", sec_key_line[SEC_STORAGE], lines);
    if (!resolve_path(L->yfile, c->storage.path, sizeof c->storage.path))
        err_at(L, L->yfile, lines[0], "storage.path", "path too long");
    parse_section(L, &doc, sec[SEC_SCHEDULE], schedule_keys, NKEYS(schedule_keys),
                  &c->schedule, "schedule", sec_key_line[SEC_SCHEDULE], sched_lines);
    parse_section(L, &doc, sec[SEC_EXPORT], export_keys, NKEYS(export_keys), &c->export,
                  "export", sec_key_line[SEC_EXPORT], exp_lines);
    parse_section(L, &doc, sec[SEC_SECURITY], security_keys, NKEYS(security_keys),
                  &c->security, "security", sec_key_line[SEC_SECURITY], sec_lines);
    parse_section(L, &doc, sec[SEC_METRICS], metrics_keys, NKEYS(metrics_keys),
                  &c->metrics, "metrics", sec_key_line[SEC_METRICS], lines);
    unsigned met_line = lines[0] ? lines[0] : sec_key_line[SEC_METRICS];
    size_t errors_before = L->d->n_errors;
    parse_section(L, &doc, sec[SEC_VALIDATION], validation_keys, NKEYS(validation_keys),
                  &c->validation, "validation", sec_key_line[SEC_VALIDATION], val_lines);
    check_validation(L, val_lines, sec_key_line[SEC_VALIDATION], errors_before);
    check_cross(L, sched_lines, exp_lines, sec_lines, sec_key_line[SEC_SECURITY]);
    check_ports(L, exp_lines, met_line);

    /* Links after schedule: they inherit its timeout and retries. */
    if (sec[SEC_LINKS])
        parse_links(L, &doc, sec[SEC_LINKS]);
    else
        err_at(L, L->yfile, 0, "links", "required section missing");

    yaml_node_t *inv = sec[SEC_INVENTORY];
    char err[200];
    if (!inv)
        err_at(L, L->yfile, 0, "inventory", "required key missing");
    else if (inv->type != YAML_SCALAR_NODE ||
             strlen(yscalar(inv)) != inv->data.scalar.length)
        err_at(L, L->yfile, yline(inv), "inventory", "expected a file name");
    else if (set_value(&inventory_key, yscalar(inv), c, err, sizeof err))
        err_at(L, L->yfile, yline(inv), "inventory", "%s", err);
    else if (!resolve_path(L->yfile, c->inventory, sizeof c->inventory))
        err_at(L, L->yfile, yline(inv), "inventory", "path too long");
    else if (c->links && !L->nomem) {
        load_inventory(L, yline(inv));
        if (!L->nomem) {
            check_inventory(L);
            check_vee_meters(L);
        }
    }
out:
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
}

/* ---- key list --------------------------------------------------------- */

/* Every YAML key, for tests that feed each one hostile values: one table
 * per section, links as "links.KEY", the top-level "inventory". */
static const struct {
    const char *section;
    const struct cfg_key *keys;
    size_t n;
} key_sections[] = {
    {"headend", headend_keys, NKEYS(headend_keys)},
    {"storage", storage_keys, NKEYS(storage_keys)},
    {"schedule", schedule_keys, NKEYS(schedule_keys)},
    {"links", link_keys, NKEYS(link_keys)},
    {"export", export_keys, NKEYS(export_keys)},
    {"security", security_keys, NKEYS(security_keys)},
    {"metrics", metrics_keys, NKEYS(metrics_keys)},
    {"validation", validation_keys, NKEYS(validation_keys)},
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

/* ---- entry points ----------------------------------------------------- */

int cfg_load(const char *path, struct cfg **out, struct cfg_diag *diag)
{
    *out = NULL;
    struct cfg *c = calloc(1, sizeof *c);
    if (!c)
        return AH_ENOMEM;
    struct loader L = {.c = c, .d = diag, .yfile = path};
    size_t errors_before = diag->n_errors;
    snprintf(c->file, sizeof c->file, "%s", path);
    FILE *fp = fopen(path, "r");
    if (!fp)
        err_at(&L, path, 0, "config", "cannot open: %s", strerror(errno));
    else {
        load_yaml(&L, fp);
        fclose(fp);
    }
    free((void *)L.dist);
    int rc = L.nomem ? AH_ENOMEM : diag->n_errors > errors_before ? AH_ECONFIG : 0;
    if (rc)
        cfg_destroy(&c);
    *out = c;
    return rc;
}

void cfg_destroy(struct cfg **pc)
{
    if (!pc || !*pc)
        return;
    struct cfg *c = *pc;
    free(c->links);
    free(c->meters);
    free(c->by_id);
    free(c->link_by_name);
    while (c->strs) {
        struct cfg_strs *b = c->strs;
        c->strs = b->next;
        free(b);
    }
    free(c);
    *pc = NULL;
}
