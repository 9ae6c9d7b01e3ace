/*
 * config_int — what the config's files share and nobody else may use: the
 * key table types, the tables, the loader's state. config.h is the contract;
 * this header is the config's own furniture (src/config/ only).
 *
 *   config.c        entry points, diagnostics, the inventory CSV and its checks
 *   config_keys.c   value types and their parsers, every key and column table
 *   config_yaml.c   the YAML document: sections, links, cross-key checks
 */
#ifndef AH_CONFIG_INT_H
#define AH_CONFIG_INT_H

#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* ---- value types (config_keys.c) -------------------------------------- */

enum cfg_type {
    CFG_T_STR,      /* any text that fits */
    CFG_T_ID,       /* [A-Za-z0-9_.-]{1,32}: ends up in topics and keys */
    CFG_T_PATH,     /* non-empty file or device path */
    CFG_T_HOSTPORT, /* host:port, [v6]:port */
    CFG_T_ZMQ,      /* tcp://host:port | ipc://path */
    CFG_T_INT,
    CFG_T_DOUBLE,
    CFG_T_BOOL,     /* true | false */
    CFG_T_YESNO,    /* yes | no (the CSV's spelling) */
    CFG_T_ENUM,     /* one of names[]; stored as its index */
    CFG_T_HHMM,     /* "HH:MM" local time → minutes after midnight */
    CFG_T_ADDR645,  /* DL/T 645 address, 12 decimal digits */
    CFG_T_MBMAP,    /* a built-in Modbus register map */
    CFG_T_TZ,       /* a zoneinfo name */
    CFG_T_READPLAN, /* "group=cadence,…" (readplan.h), a struct readplan layer */
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

#define LT(t)     (1u << (t))
#define LT_TCP    (LT(CFG_LINK_DLT645_TCP) | LT(CFG_LINK_MODBUS_TCP))
#define LT_SERIAL (LT(CFG_LINK_DLT645_SERIAL) | LT(CFG_LINK_MODBUS_RTU))
#define LT_LISTEN LT(CFG_LINK_DLT645_LISTEN)

#define NKEYS(t) (sizeof(t) / sizeof((t)[0]))
#define MAX_KEYS 32 /* most keys of one table (validation) */

/* Parse s as key k's type into the field at base + k->off. 0, or -1 with the
 * reason in err. */
int cfg_set_value(const struct cfg_key *k, const char *s, void *base, char *err,
                  size_t errlen);

/* The tables, in their documented order. */
extern const struct cfg_key cfg_headend_keys[];
extern const size_t cfg_headend_nkeys;
extern const struct cfg_key cfg_storage_keys[];
extern const size_t cfg_storage_nkeys;
extern const struct cfg_key cfg_schedule_keys[];
extern const size_t cfg_schedule_nkeys;
extern const struct cfg_key cfg_link_keys[];
extern const size_t cfg_link_nkeys;
extern const struct cfg_key cfg_export_keys[];
extern const size_t cfg_export_nkeys;
extern const struct cfg_key cfg_security_keys[];
extern const size_t cfg_security_nkeys;
extern const struct cfg_key cfg_metrics_keys[];
extern const size_t cfg_metrics_nkeys;
extern const struct cfg_key cfg_validation_keys[];
extern const size_t cfg_validation_nkeys;
extern const struct cfg_key cfg_inventory_key;
extern const char *const cfg_link_type_names[];
extern const char *const cfg_proto_names[];

/* Indices into cfg_link_keys and cfg_validation_keys that loaders name. */
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
enum { VK_CLOCK_DRIFT = 9, VK_CLOCK_SUSPECT = 10, VK_LOSS_MIN = 23, VK_LOSS_MAX = 24 };

/* One inventory row as the column table writes it. */
struct meter_row {
    struct cfg_meter m;
    char id[CFG_NAME_MAX], district[CFG_NAME_MAX]; /* kept by strs_add/intern */
    char link[CFG_NAME_MAX];
};
extern const struct cfg_key cfg_meter_cols[];
enum { MC_ID, MC_PROTO, MC_LINK, MC_ADDR, MC_UNIT, MC_MAP, MC_N = 16 };

/* ---- loader state (config.c) ------------------------------------------ */

struct loader {
    struct cfg *c;
    struct cfg_diag *d;
    const char *yfile; /* YAML path for messages */
    bool nomem;
    size_t cap_meters;
    const char **dist; /* district intern table (open addressing), load only */
    size_t dist_cap, dist_n;
};

/* qsort tie-break on pointers (not indices): no global context, and ties
 * fall back to file order, which is array order. */
int cfg_cmp_ptr_order(const void *x, const void *y);

/* One error at file:line for key (printf-style message). */
void cfg_err_at(struct loader *L, const char *file, unsigned line, const char *key,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* The inventory CSV (config.c): load it into L->c, then the cross checks
 * (ids, bus addresses, districts) and the validator's view of each meter. */
void cfg_load_inventory(struct loader *L, unsigned yaml_line);
void cfg_check_inventory(struct loader *L);
void cfg_check_vee_meters(struct loader *L);

/* The YAML document (config_yaml.c), the inventory loaded from it. */
void cfg_load_yaml(struct loader *L, FILE *fp);

#endif /* AH_CONFIG_INT_H */
