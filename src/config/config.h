/*
 * config — amihead.yaml and the meter inventory CSV (docs/config.md).
 *
 * One table per YAML section and one for the CSV columns ({key, type,
 * offset, min, max, default}, nginx ngx_command_t style) drive parsing,
 * defaults and range checks; cross-field rules (link type fields, protocol
 * vs link, districts, duplicates) run after the tables. Every problem is
 * collected as "FILE:LINE: key: message" so one check-config run lists them
 * all. YAML goes through libyaml (document API, marks give lines), CSV
 * through libcsv: this module writes no parser of its own and never atoi.
 *
 * It must not open links, the store or sockets: loading a config has no
 * side effect beyond reading the two files (and checking that the security
 * key files exist).
 */
#ifndef AH_CONFIG_H
#define AH_CONFIG_H

#include "ah_log.h"
#include "dialin.h"
#include "dlt645.h"
#include "link.h"
#include "mbmap.h"
#include "readplan.h"
#include "vee.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CFG_NAME_MAX     33  /* ids: [A-Za-z0-9_.-]{1,32} + NUL */
#define CFG_PATH_MAX     256 /* file and device paths + NUL */
#define CFG_HOSTPORT_MAX 128 /* "host:port", "tcp://host:port" + NUL */
#define CFG_MAX_LINKS    20000
#define CFG_MAX_METERS   2000000 /* hard cap on the inventory (STYLE.md §6) */

/* ---- diagnostics ------------------------------------------------------ */

#define CFG_DIAG_MAX 64  /* messages kept; the rest are only counted */
#define CFG_DIAG_LEN 320 /* one "FILE:LINE: key: message" */

/* Bounded list of problems. Warnings do not make cfg_load fail. */
struct cfg_diag {
    size_t n;          /* messages kept in msg[] */
    size_t n_errors;   /* all errors, kept or not */
    size_t n_warnings; /* all warnings, kept or not */
    size_t dropped;    /* messages past CFG_DIAG_MAX */
    bool is_warning[CFG_DIAG_MAX];
    char msg[CFG_DIAG_MAX][CFG_DIAG_LEN];
};

void cfg_diag_init(struct cfg_diag *d);
/* Record "FILE:LINE: key: message" (line 0 → "FILE: key: message"). */
void cfg_diag_add(struct cfg_diag *d, bool warning, const char *file, unsigned line,
                  const char *key, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* ---- the configuration -------------------------------------------------- */

enum cfg_link_type {
    CFG_LINK_DLT645_TCP,    /* head-end connects to a concentrator */
    CFG_LINK_DLT645_LISTEN, /* concentrator dials in (4G behind NAT) */
    CFG_LINK_DLT645_SERIAL, /* RS-485 port of this box */
    CFG_LINK_MODBUS_TCP,
    CFG_LINK_MODBUS_RTU,
};

struct cfg_link {
    char name[CFG_NAME_MAX];
    enum cfg_link_type type;
    char endpoint[CFG_HOSTPORT_MAX]; /* dlt645-tcp, modbus-tcp: "host:port" */
    char listen[CFG_HOSTPORT_MAX];   /* dlt645-listen: "host:port" */
    struct dlt645_addr address;      /* dlt645-listen: concentrator's 13H address */
    char device[CFG_PATH_MAX];       /* dlt645-serial, modbus-rtu */
    int baud;                        /* serial: 300..115200 */
    enum link_parity parity;         /* serial */
    int stop_bits;                   /* serial: 1 or 2 */
    int timeout_ms;                  /* per attempt; schedule's unless overridden */
    int retries;                     /* schedule's unless overridden */
    char allow[256];                 /* dlt645-listen: allowed sources, "" any */
    struct dialin_allow allow_net;   /* ... parsed (dialin.h) */
    unsigned line;                   /* line of "- name:" in the YAML file */
    size_t n_meters;                 /* inventory rows on this link */
    struct readplan read_plan;       /* override layer of this link's meters */
    int round_trip_ms;               /* expected answer time, 0: by type (check-config) */
};

enum cfg_proto { CFG_PROTO_DLT645_2007, CFG_PROTO_DLT645_1997, CFG_PROTO_MODBUS };
enum cfg_wiring { CFG_WIRING_1P2W, CFG_WIRING_3P3W, CFG_WIRING_3P4W };
enum cfg_class { CFG_CLASS_A, CFG_CLASS_B, CFG_CLASS_C };
enum cfg_role { CFG_ROLE_CUSTOMER, CFG_ROLE_DISTRICT };

/* One inventory row (docs/config.md "meters.csv"). */
struct cfg_meter {
    char id[CFG_NAME_MAX];
    enum cfg_proto proto;
    size_t link;             /* index into cfg.links */
    struct dlt645_addr addr; /* DL/T 645 meters */
    int unit_id;             /* Modbus: 1..247; 0 for DL/T 645 */
    const struct mbmap *map; /* Modbus: borrowed static map; NULL for DL/T 645 */
    enum cfg_wiring wiring;
    int ct;                 /* CT ratio 1..10000 */
    int pt;                 /* PT ratio 1..10000 */
    double rated_current;   /* Ib, A (secondary) */
    double max_current;     /* Imax, A, >= rated_current */
    double nominal_voltage; /* Un, V (secondary), 57.7..1000 */
    char district[CFG_NAME_MAX];
    enum cfg_class cls;
    enum cfg_role role;
    bool bidirectional; /* PV prosumer: export is not a fault */
    unsigned line;      /* source line in the CSV */
};

struct cfg {
    char file[CFG_PATH_MAX]; /* the YAML path as given */

    struct cfg_headend {
        char id[CFG_HOSTPORT_MAX];
        char timezone[64]; /* "" = the box's TZ */
        enum ah_log_level log_level;
        enum ah_log_format log_format; /* text | json */
        /* Meters' wall time - UTC, s; fixed (zones with daylight saving are
         * refused), taken at load: from the zone's TZif footer for a named
         * zone, from localtime_r of the process TZ for "". */
        int32_t tz_offset_s;
    } headend;

    char inventory[CFG_PATH_MAX]; /* resolved against the YAML's directory */

    struct cfg_storage {
        char path[CFG_PATH_MAX];
        bool sync;
        int reserve_mb; /* free space kept on its file system, 0..1048576 */
    } storage;

    struct cfg_schedule {
        int interval_min;       /* 1..60, divides 60 */
        int backfill_days;      /* 0..62 */
        int stagger_s;          /* 0..3599, below the interval */
        int daily_freeze_after; /* minutes after local midnight */
        int timeout_ms;         /* 10..60000 */
        int retries;            /* 0..10 */
        int backoff_after;      /* failed cycles in a row, 1..100 */
        int backoff_max_cycles; /* 1..1000 */
        /* read plan layers: [0] all meters, [1..3] classes A..C (readplan.h) */
        struct readplan read_plan[4];
    } schedule;

    struct cfg_link *links; /* n_links entries, caller of cfg_load owns via cfg */
    size_t n_links;

    struct cfg_export {
        char pub[CFG_HOSTPORT_MAX]; /* ZeroMQ endpoint, tcp:// or ipc:// */
        char replay[CFG_HOSTPORT_MAX];
        int retention_days; /* 1..3650 */
        int retention_mb;   /* 16..1048576 */
    } export;

    struct cfg_security {
        bool enabled; /* both keys given */
        char server_secret_key[CFG_PATH_MAX];
        char client_keys_dir[CFG_PATH_MAX];
    } security;

    struct cfg_metrics {
        char listen[CFG_HOSTPORT_MAX]; /* "" = no metrics endpoint */
    } metrics;

    /* Thresholds of reference/vee.md: every field of struct vee_thresholds
     * is a `validation:` key of the same name (docs/config.md). */
    struct vee_thresholds validation;

    struct cfg_meter *meters; /* n_meters rows in file order */
    size_t n_meters;
    size_t n_districts; /* distinct district ids */

    /* private to config.c: meter indices sorted by id, links sorted by name */
    const struct cfg_meter **by_id;
    const struct cfg_link **link_by_name;
};

/*
 * Load and check `path` and the inventory it names. Every problem goes to
 * diag (initialised by the caller with cfg_diag_init). Returns 0 with *out
 * set (caller owns, cfg_destroy) when there is no error — warnings allowed
 * — or AH_ECONFIG with *out NULL when there is at least one, AH_ENOMEM when
 * memory runs out.
 */
int cfg_load(const char *path, struct cfg **out, struct cfg_diag *diag);
/* Free and set *c = NULL; accepts NULL and *c == NULL. */
void cfg_destroy(struct cfg **c);

/* Borrowed pointers into c, NULL when absent (binary search). */
const struct cfg_link *cfg_link_find(const struct cfg *c, const char *name);
const struct cfg_meter *cfg_meter_find(const struct cfg *c, const char *id);

/*
 * The validator's view of the config (src/validation/vee.h). Both return
 * AH_OK, or AH_EINVAL when the result fails vee_thresholds_check /
 * vee_meter_info_check (cfg_load already refused such configs) or an
 * argument is NULL. *out is fully written on AH_OK.
 *
 * cfg_vee_meter_info: Ib / Imax in mA and Un in 0.1 V (rounded), interval
 * from schedule.interval_min, tz offset from headend.timezone, install time
 * 0 (the inventory has none), register modulus 1e8 (XXXXXX.XX kWh wraps at
 * 999999.99, protocols.md §2.3) for DL/T 645 meters and the validator's
 * default for Modbus meters. m: a row of c (borrowed).
 */
int cfg_vee_thresholds(const struct cfg *c, struct vee_thresholds *out);
int cfg_vee_meter_info(const struct cfg *c, const struct cfg_meter *m,
                       struct vee_meter_info *out);

/*
 * The i-th YAML key (0-based) of every section: *section "headend", ...,
 * "links" (a key of each link), "" for the top-level "inventory". Static
 * strings. 0, or AH_ENOENT past the last key.
 */
int cfg_key_at(size_t i, const char **section, const char **key);

/* Text as written in the files ("dlt645-tcp", "modbus", "3P4W", ...). */
const char *cfg_link_type_name(enum cfg_link_type t);
const char *cfg_proto_name(enum cfg_proto p);
const char *cfg_wiring_name(enum cfg_wiring w);
/* True for the DL/T 645 protocols / link types. */
bool cfg_proto_is_dlt645(enum cfg_proto p);
bool cfg_link_is_dlt645(enum cfg_link_type t);

#endif /* AH_CONFIG_H */
