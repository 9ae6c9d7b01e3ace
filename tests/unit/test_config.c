/*
 * test_config — amihead.yaml + meters.csv loading (docs/config.md).
 *
 * Each case writes its fixtures into a fresh temp directory, loads them
 * and checks values, defaults, or the exact "FILE:LINE: key:" prefix of
 * each problem.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ah_err.h"
#include "config.h"
#include "dlt645.h"
#include "mbmap.h"
#include "vee.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct fx {
    char dir[64];
    char yaml[128];
    char csv[128];
    struct cfg_diag diag;
    struct cfg *c;
};

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
    struct fx *x = calloc(1, sizeof *x);
    if (!x)
        return -1;
    snprintf(x->dir, sizeof x->dir, "/tmp/ah_test_config.XXXXXX");
    if (!mkdtemp(x->dir)) {
        free(x);
        return -1;
    }
    snprintf(x->yaml, sizeof x->yaml, "%s/amihead.yaml", x->dir);
    snprintf(x->csv, sizeof x->csv, "%s/meters.csv", x->dir);
    cfg_diag_init(&x->diag);
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    struct fx *x = *state;
    cfg_destroy(&x->c);
    unlink(x->yaml);
    unlink(x->csv);
    rmdir(x->dir);
    free(x);
    return 0;
}

static int load(struct fx *x, const char *yaml, const char *csv)
{
    write_file(x->yaml, yaml);
    if (csv)
        write_file(x->csv, csv);
    cfg_destroy(&x->c);
    cfg_diag_init(&x->diag);
    return cfg_load(x->yaml, &x->c, &x->diag);
}

static void dump(const struct fx *x)
{
    for (size_t i = 0; i < x->diag.n; i++)
        fprintf(stderr, "  | %s\n", x->diag.msg[i]);
}

/* Does a message start with "<dir>/<file>:<line>: <key>: " and contain
 * `words`? */
static bool has_msg(const struct fx *x, const char *file, unsigned line, const char *key,
                    const char *words)
{
    char prefix[256];
    snprintf(prefix, sizeof prefix, "%s/%s:%u: %s: ", x->dir, file, line, key);
    for (size_t i = 0; i < x->diag.n; i++)
        if (!strncmp(x->diag.msg[i], prefix, strlen(prefix)) &&
            strstr(x->diag.msg[i] + strlen(prefix), words))
            return true;
    return false;
}

#define assert_msg(x, file, line, key, words)                                            \
    do {                                                                                 \
        if (!has_msg(x, file, line, key, words)) {                                       \
            fprintf(stderr, "missing: %s:%u: %s: ...%s\n", file, line, key, words);      \
            dump(x);                                                                     \
            fail();                                                                      \
        }                                                                                \
    } while (0)

static const char *CSV_HEADER =
    "meter_id,protocol,link,address,unit_id,map,wiring,ct,pt,rated_current,"
    "max_current,nominal_voltage,district,class,role,bidirectional\n";

/* Minimal YAML: only what is required, so every default shows. */
static const char *YAML_MIN = "inventory: meters.csv\n" /* 1 */
                              "storage:\n"              /* 2 */
                              "  path: /var/lib/amihead\n"
                              "schedule:\n" /* 4 */
                              "  timeout_ms: 1500\n"
                              "links:\n" /* 6 */
                              "  - name: c0\n"
                              "    type: dlt645-tcp\n"
                              "    endpoint: 127.0.0.1:7000\n"
                              "  - name: bus1\n" /* 10 */
                              "    type: dlt645-serial\n"
                              "    device: /dev/ttyUSB0\n"
                              "    retries: 5\n"
                              "  - name: rtu1\n" /* 14 */
                              "    type: modbus-rtu\n"
                              "    device: /dev/ttyUSB1\n";

static char *csv_of(const char *rows)
{
    static char buf[16384];
    snprintf(buf, sizeof buf, "%s%s", CSV_HEADER, rows);
    return buf;
}

static const char *ROWS_GOOD =
    "# district D1\n"                                                           /* 2 */
    "D1-M,dlt645-2007,c0,000000000101,,,3P4W,80,1,1.5,6,220,D1,A,district,no\n" /* 3 */
    "D1-001,dlt645-1997,bus1,123456789012,,,1P2W,1,1,5,60,220,D1,C,customer,yes\n"
    "\n"
    "\"D1-002\",modbus,rtu1,,7,sdm630,3P3W,15,100,1.5,6,100,D1,B,customer,no\n"; /* 6 */

static void good_config_loads_values_and_defaults(void **state)
{
    struct fx *x = *state;
    int rc = load(x, YAML_MIN, csv_of(ROWS_GOOD));
    if (rc)
        dump(x);
    assert_int_equal(rc, 0);
    assert_int_equal(x->diag.n_errors, 0);
    assert_int_equal(x->diag.n_warnings, 0);
    const struct cfg *c = x->c;

    /* defaults from the key tables */
    assert_string_equal(c->headend.id, "amihead");
    assert_string_equal(c->headend.timezone, "");
    assert_int_equal(c->headend.log_level, AH_LOG_INFO);
    assert_true(c->storage.sync);
    assert_int_equal(c->schedule.interval_min, 15);
    assert_int_equal(c->schedule.backfill_days, 3);
    assert_int_equal(c->schedule.stagger_s, 60);
    assert_int_equal(c->schedule.daily_freeze_after, 5);
    assert_int_equal(c->schedule.timeout_ms, 1500);
    assert_int_equal(c->schedule.retries, 2);
    assert_int_equal(c->schedule.backoff_after, 3);
    assert_int_equal(c->schedule.backoff_max_cycles, 8);
    assert_string_equal(c->export.pub, "tcp://127.0.0.1:5556");
    assert_string_equal(c->export.replay, "tcp://127.0.0.1:5557");
    assert_int_equal(c->export.retention_days, 35);
    assert_int_equal(c->export.retention_mb, 2048);
    assert_false(c->security.enabled);
    assert_string_equal(c->metrics.listen, "127.0.0.1:9464");
    assert_int_equal(c->validation.stopped_intervals, 4);
    assert_true(c->validation.jump_factor == 1.2);
    assert_true(c->validation.line_loss_min_pct == -1.0);
    assert_true(c->validation.phase_loss_pct == 78.0);

    /* the inventory path is relative to the YAML file */
    assert_string_equal(c->inventory, x->csv);

    /* links: per-type serial defaults, schedule's timeout/retries inherited */
    assert_int_equal(c->n_links, 3);
    const struct cfg_link *l = cfg_link_find(c, "c0");
    assert_non_null(l);
    assert_int_equal(l->type, CFG_LINK_DLT645_TCP);
    assert_string_equal(l->endpoint, "127.0.0.1:7000");
    assert_int_equal(l->timeout_ms, 1500);
    assert_int_equal(l->retries, 2);
    assert_int_equal(l->line, 7);
    assert_int_equal(l->n_meters, 1);
    l = cfg_link_find(c, "bus1");
    assert_non_null(l);
    assert_int_equal(l->baud, 2400); /* DL/T 645: 2400 8E1 */
    assert_int_equal(l->parity, LINK_PARITY_EVEN);
    assert_int_equal(l->stop_bits, 1);
    assert_int_equal(l->retries, 5);
    l = cfg_link_find(c, "rtu1");
    assert_non_null(l);
    assert_int_equal(l->baud, 9600); /* Modbus meters: 9600 8N1 */
    assert_int_equal(l->parity, LINK_PARITY_NONE);
    assert_null(cfg_link_find(c, "c9"));

    /* meters, with their source lines past the comment and blank lines */
    assert_int_equal(c->n_meters, 3);
    assert_int_equal(c->n_districts, 1);
    const struct cfg_meter *m = cfg_meter_find(c, "D1-M");
    assert_non_null(m);
    assert_int_equal(m->line, 3);
    assert_int_equal(m->proto, CFG_PROTO_DLT645_2007);
    assert_string_equal(c->links[m->link].name, "c0");
    char a[13];
    dlt645_addr_format(&m->addr, a);
    assert_string_equal(a, "000000000101");
    assert_int_equal(m->wiring, CFG_WIRING_3P4W);
    assert_int_equal(m->ct, 80);
    assert_int_equal(m->pt, 1);
    assert_true(m->rated_current == 1.5);
    assert_true(m->max_current == 6.0);
    assert_true(m->nominal_voltage == 220.0);
    assert_string_equal(m->district, "D1");
    assert_int_equal(m->cls, CFG_CLASS_A);
    assert_int_equal(m->role, CFG_ROLE_DISTRICT);
    assert_false(m->bidirectional);
    assert_null(m->map);

    m = cfg_meter_find(c, "D1-001");
    assert_non_null(m);
    assert_int_equal(m->line, 4);
    assert_int_equal(m->proto, CFG_PROTO_DLT645_1997);
    dlt645_addr_format(&m->addr, a);
    assert_string_equal(a, "123456789012");
    assert_true(m->bidirectional);
    assert_int_equal(m->cls, CFG_CLASS_C);

    m = cfg_meter_find(c, "D1-002");
    assert_non_null(m);
    assert_int_equal(m->line, 6);
    assert_int_equal(m->proto, CFG_PROTO_MODBUS);
    assert_int_equal(m->unit_id, 7);
    assert_ptr_equal(m->map, mbmap_find("sdm630"));
    assert_int_equal(m->wiring, CFG_WIRING_3P3W);
    assert_int_equal(m->pt, 100);
    assert_null(cfg_meter_find(c, "D1-003"));
}

static void example_config_is_valid(void **state)
{
    (void)state;
    struct cfg_diag d;
    cfg_diag_init(&d);
    struct cfg *c = NULL;
    int rc = cfg_load(AH_VECTORS_DIR "/../../examples/amihead.yaml", &c, &d);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "  | %s\n", d.msg[i]);
    assert_int_equal(rc, 0);
    assert_int_equal(d.n, 0);
    assert_true(c->n_links >= 4);
    assert_true(c->n_meters >= 10);
    cfg_destroy(&c);
    assert_null(c);
    cfg_destroy(&c); /* NULL is fine */
}

/* Each YAML mistake is named by file, line and dotted key. */
static void yaml_mistakes_name_file_line_and_key(void **state)
{
    struct fx *x = *state;
    const char *y = "headend:\n"                 /* 1 */
                    "  log_levl: info\n"         /* 2 unknown key */
                    "inventory: meters.csv\n"    /* 3 */
                    "storage:\n"                 /* 4 path missing */
                    "  sync: yes\n"              /* 5 wrong type (true|false) */
                    "schedule:\n"                /* 6 */
                    "  interval_min: 7\n"        /* 7 does not divide 60 */
                    "  retries: 11\n"            /* 8 out of range */
                    "  timeout_ms: 1e3\n"        /* 9 not an integer */
                    "  backfill_days: 3\n"       /* 10 */
                    "  backfill_days: 4\n"       /* 11 duplicate */
                    "links:\n"                   /* 12 */
                    "  - name: c0\n"             /* 13 endpoint missing */
                    "    type: dlt645-tcp\n"     /* 14 */
                    "  - name: c0\n"             /* 15 duplicate name */
                    "    type: modbus-tcp\n"     /* 16 */
                    "    endpoint: host\n"       /* 17 no port */
                    "    baud: 9600\n"           /* 18 not for TCP */
                    "  - name: d1\n"             /* 19 */
                    "    type: dlt645-listen\n"  /* 20 address missing */
                    "    listen: 0.0.0.0:7100\n" /* 21 */
                    "  - name: s1\n"             /* 22 */
                    "    type: dlt645-serial\n"  /* 23 */
                    "    device: /dev/ttyS0\n"   /* 24 */
                    "    parity: mark\n"         /* 25 bad enum */
                    "export:\n"                  /* 26 */
                    "  pub: udp://x:1\n";        /* 27 */
    int rc = load(x, y, csv_of(""));
    assert_int_equal(rc, AH_ECONFIG);
    assert_null(x->c);
    assert_msg(x, "amihead.yaml", 2, "headend.log_levl", "unknown key");
    assert_msg(x, "amihead.yaml", 4, "storage.path", "required key missing");
    assert_msg(x, "amihead.yaml", 5, "storage.sync", "'yes' is not true or false");
    assert_msg(x, "amihead.yaml", 7, "schedule.interval_min", "does not divide the hour");
    assert_msg(x, "amihead.yaml", 8, "schedule.retries", "11 out of range 0..10");
    assert_msg(x, "amihead.yaml", 9, "schedule.timeout_ms", "not an integer");
    assert_msg(x, "amihead.yaml", 11, "schedule.backfill_days", "duplicate key");
    assert_msg(x, "amihead.yaml", 13, "links[c0].endpoint", "required for a dlt645-tcp");
    assert_msg(x, "amihead.yaml", 15, "links.name", "duplicate link name 'c0'");
    assert_msg(x, "amihead.yaml", 17, "links[c0].endpoint", "not host:port");
    assert_msg(x, "amihead.yaml", 18, "links[c0].baud", "not used by a modbus-tcp link");
    assert_msg(x, "amihead.yaml", 19, "links[d1].address",
               "required for a dlt645-listen");
    assert_msg(x, "amihead.yaml", 25, "links[s1].parity", "'mark' is not one of");
    assert_msg(x, "amihead.yaml", 27, "export.pub", "not tcp://host:port");
    assert_int_equal(x->diag.n_errors, 14);
}

static void yaml_syntax_error_has_line(void **state)
{
    struct fx *x = *state;
    int rc = load(x, "storage:\n  path: /x\nlinks: [\n  a: b\n", NULL);
    assert_int_equal(rc, AH_ECONFIG);
    assert_int_equal(x->diag.n_errors, 1);
    assert_non_null(strstr(x->diag.msg[0], "amihead.yaml:"));
    assert_non_null(strstr(x->diag.msg[0], ": yaml: "));
}

static void missing_files_are_reported(void **state)
{
    struct fx *x = *state;
    struct cfg_diag d;
    cfg_diag_init(&d);
    struct cfg *c = NULL;
    assert_int_equal(cfg_load("/nonexistent/amihead.yaml", &c, &d), AH_ECONFIG);
    assert_null(c);
    assert_non_null(strstr(d.msg[0], "/nonexistent/amihead.yaml: config: cannot open"));

    /* YAML fine, inventory absent */
    assert_int_equal(load(x, YAML_MIN, NULL), AH_ECONFIG);
    assert_msg(x, "amihead.yaml", 1, "inventory", "cannot open");
}

static void csv_header_must_have_exactly_the_columns(void **state)
{
    struct fx *x = *state;
    int rc =
        load(x, YAML_MIN,
             "meter_id,protocol,link,address,unit_id,map,wiring,ct,pt,rated_current,"
             "max_current,nominal_voltage,district,class,role,bidi,role\n"
             "X,dlt645-2007,c0,000000000001,,,1P2W,1,1,5,60,220,D,C,customer,no,x\n");
    assert_int_equal(rc, AH_ECONFIG);
    assert_msg(x, "meters.csv", 1, "header", "unknown column 'bidi'");
    assert_msg(x, "meters.csv", 1, "header", "column 'role' appears twice");
    assert_msg(x, "meters.csv", 1, "header", "missing column 'bidirectional'");

    /* a data line first is no header */
    rc = load(x, YAML_MIN,
              "X,dlt645-2007,c0,000000000001,,,1P2W,1,1,5,60,220,D,C,customer,no\n");
    assert_int_equal(rc, AH_ECONFIG);
    assert_msg(x, "meters.csv", 1, "header", "unknown column 'X'");

    rc = load(x, YAML_MIN, "# only a comment\n");
    assert_int_equal(rc, AH_ECONFIG);
    assert_msg(x, "meters.csv", 1, "header", "missing");
}

/* One bad inventory, every row a different rule; all reported in one go. */
static void csv_row_rules_all_reported_at_once(void **state)
{
    struct fx *x = *state;
    const char *rows =
        /* 2 */
        "D1-M,dlt645-2007,c0,000000000101,,,3P4W,80,1,1.5,6,220,D1,A,district,no\n"
        /* 3 */ "A1,dlt645-2007,c0,12345678901,,,1P2W,1,1,5,60,220,D1,C,customer,no\n"
        /* 4 */ "A2,dlt645-2007,c9,000000000002,,,1P2W,1,1,5,60,220,D1,C,customer,no\n"
        /* 5 */ "A3,modbus,rtu1,,248,sdm630,3P4W,1,1,5,60,220,D1,C,customer,no\n"
        /* 6 */ "A4,modbus,rtu1,,3,sdm999,3P4W,1,1,5,60,220,D1,C,customer,no\n"
        /* 7 */ "A5,modbus,c0,,3,sdm630,3P4W,1,1,5,60,220,D1,C,customer,no\n"
        /* 8 */ "A6,dlt645-2007,c0,000000000006,,,3P5W,1,1,5,60,220,D1,C,customer,no\n"
        /* 9 */ "A7,dlt645-2007,c0,000000000007,,,1P2W,0,10001,5,60,220,D1,C,customer,"
        "no\n"
        /* 10 */ "A8,dlt645-2007,c0,000000000008,,,1P2W,1,1,10,5,220,D1,C,customer,no\n"
        /* 11 */ "A9,dlt645-2007,c0,000000000009,,,1P2W,1,1,5,60,20,D1,D,customer,maybe\n"
        /* 12 */ "D1-M,dlt645-2007,c0,000000000012,,,1P2W,1,1,5,60,220,D1,C,customer,no\n"
        /* 13 */ "B1,dlt645-2007,c0,000000000101,,,1P2W,1,1,5,60,220,D1,C,customer,no\n"
        /* 14 */ "B2,modbus,rtu1,,1,dtsu666,3P4W,1,1,5,60,220,D1,C,customer,no\n"
        /* 15 */ "B3,modbus,rtu1,,1,dtsu666,3P4W,1,1,5,60,220,D1,C,customer,no\n"
        /* 16 */ "B4,dlt645-2007,c0,000000000016,,,1P2W,1,1,5,60,220,D1,C,district,no\n"
        /* 17 */ "B5,dlt645-2007,bus1,000000000017,5,,1P2W,1,1,5,60,220,D1,C,customer,"
        "no\n"
        /* 18 */ "B6,modbus,rtu1,000000000018,4,sdm120,1P2W,1,1,5,60,220,D1,C,customer,"
        "no\n"
        /* 19 */ "B7,modbus,rtu1,,,sdm120,1P2W,1,1,5,60,220,D1,C,customer,no\n"
        /* 20 */ "B8,dlt645-2007,bus1,,,,1P2W,1,1,5,60,220,D1,C,customer,no\n"
        /* 21 */
        "bad id!,dlt645-2007,bus1,000000000021,,,1P2W,1,1,5,60,220,D1,C,customer,no\n"
        /* 22 */ "B9,dlt645-2007,bus1,000000000022,,,1P2W,1,1,5,60,220,D1,C,customer\n"
        /* 23 */ "C1,dlt645-2007,bus1,000000000023,,,1P2W,1,1,5,60,220,D1,C,boss,no\n";
    int rc = load(x, YAML_MIN, csv_of(rows));
    assert_int_equal(rc, AH_ECONFIG);
    const char *F = "meters.csv";
    assert_msg(x, F, 3, "address", "'12345678901' is not a DL/T 645 address");
    assert_msg(x, F, 4, "link", "unknown link 'c9'");
    assert_msg(x, F, 5, "unit_id", "248 out of range 1..247");
    assert_msg(x, F, 6, "map", "unknown Modbus map 'sdm999'");
    assert_msg(x, F, 7, "protocol", "modbus meter on dlt645-tcp link 'c0'");
    assert_msg(x, F, 8, "wiring", "'3P5W' is not one of 1P2W | 3P3W | 3P4W");
    assert_msg(x, F, 9, "ct", "0 out of range 1..10000");
    assert_msg(x, F, 9, "pt", "10001 out of range 1..10000");
    assert_msg(x, F, 10, "max_current", "below rated current");
    assert_msg(x, F, 11, "nominal_voltage", "20 out of range 57.7..1000");
    assert_msg(x, F, 11, "class", "'D' is not one of A | B | C");
    assert_msg(x, F, 11, "bidirectional", "'maybe' is not yes or no");
    assert_msg(x, F, 12, "meter_id", "duplicate meter id 'D1-M' (first at line 2)");
    assert_msg(x, F, 13, "address",
               "000000000101 already used on link 'c0' by meter 'D1-M'");
    assert_msg(x, F, 15, "unit_id", "unit 1 already used on link 'rtu1' by meter 'B2'");
    assert_msg(x, F, 16, "role", "district 'D1' already has its district meter 'D1-M'");
    assert_msg(x, F, 17, "unit_id", "must be empty for a dlt645-2007 meter");
    assert_msg(x, F, 18, "address", "must be empty for a modbus meter");
    assert_msg(x, F, 19, "unit_id", "required for a modbus meter");
    assert_msg(x, F, 20, "address", "required for a dlt645-2007 meter");
    assert_msg(x, F, 21, "meter_id", "is not [A-Za-z0-9_.-]{1,32}");
    assert_msg(x, F, 22, "row", "15 fields, the header has 16");
    assert_msg(x, F, 23, "role", "'boss' is not one of customer | district");
    assert_true(x->diag.n_errors >= 23);
    assert_int_equal(x->diag.dropped, 0);
}

/* A district without its transformer meter still collects: warning only. */
static void district_without_district_meter_is_a_warning(void **state)
{
    struct fx *x = *state;
    const char *rows =
        "D1-M,dlt645-2007,c0,000000000101,,,3P4W,80,1,1.5,6,220,D1,A,district,no\n"
        "D2-001,dlt645-2007,bus1,000000000201,,,1P2W,1,1,5,60,220,D2,C,customer,no\n"
        "D2-002,modbus,rtu1,,1,sdm120,1P2W,1,1,5,60,230,D2,C,customer,no\n";
    int rc = load(x, YAML_MIN, csv_of(rows));
    if (rc)
        dump(x);
    assert_int_equal(rc, 0);
    assert_non_null(x->c);
    assert_int_equal(x->diag.n_errors, 0);
    assert_int_equal(x->diag.n_warnings, 1);
    assert_true(x->diag.is_warning[0]);
    assert_msg(x, "meters.csv", 3, "role", "warning: district 'D2' has customers but no");
    assert_int_equal(x->c->n_districts, 2);
}

static void csv_quote_error_is_reported_and_parsing_goes_on(void **state)
{
    struct fx *x = *state;
    const char *rows =
        "\"A\"x,dlt645-2007,c0,000000000101,,,3P4W,80,1,1.5,6,220,D1,A,district,no\n"
        "A2,dlt645-2007,c0,000000000102,,,1P2W,1,1,5,60,220,D1,Q,customer,no\n";
    int rc = load(x, YAML_MIN, csv_of(rows));
    assert_int_equal(rc, AH_ECONFIG);
    assert_msg(x, "meters.csv", 2, "csv", "");
    assert_msg(x, "meters.csv", 3, "class", "'Q'");
}

static void security_needs_both_keys_that_exist(void **state)
{
    struct fx *x = *state;
    char y[1024];
    snprintf(y, sizeof y,
             "%s"
             "security:\n"                            /* 17 */
             "  server_secret_key: nonexistent.key\n" /* 18 */
             "metrics:\n"                             /* 19 */
             "  listen: \"\"\n",                      /* 20: metrics off */
             YAML_MIN);
    const char *rows =
        "D1-M,dlt645-2007,c0,000000000101,,,3P4W,80,1,1.5,6,220,D1,A,district,no\n"
        "D1-1,dlt645-2007,bus1,000000000102,,,3P4W,80,1,1.5,6,220,D1,A,customer,no\n"
        "D1-2,modbus,rtu1,,1,sdm120,1P2W,1,1,5,60,230,D1,C,customer,no\n";
    assert_int_equal(load(x, y, csv_of(rows)), AH_ECONFIG);
    assert_msg(x, "amihead.yaml", 17, "security.client_keys_dir", "needs both");
    assert_msg(x, "amihead.yaml", 18, "security.server_secret_key",
               "nonexistent.key is not a readable file");
    assert_int_equal(x->diag.n_errors, 2);
}

/* More problems than the list holds: the rest are counted. */
static void diag_list_is_bounded(void **state)
{
    struct fx *x = *state;
    static char rows[12000];
    rows[0] = 0;
    size_t n = 0;
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(rows + n, sizeof rows - n,
                              "M%d,dlt645-2007,c0,000000000101,,,1P2W,1,1,5,60,220,D1,X,"
                              "customer,no\n",
                              i);
    assert_int_equal(load(x, YAML_MIN, csv_of(rows)), AH_ECONFIG);
    assert_int_equal(x->diag.n, CFG_DIAG_MAX);
    assert_int_equal(x->diag.n_errors, 100);
    assert_int_equal(x->diag.dropped, 100 - CFG_DIAG_MAX);
}

/* ---- validation: the thresholds and meter info the validator gets ---- */

/* Every field of struct vee_thresholds; *_I ints, *_D doubles. */
#define VEE_THRESHOLD_FIELDS(I, D)                                                       \
    I(stopped_intervals)                                                                 \
    I(creeping_intervals)                                                                \
    D(imbalance_pct)                                                                     \
    I(imbalance_intervals)                                                               \
    D(imbalance_min_load_pct)                                                            \
    D(voltage_unbalance_pct)                                                             \
    I(voltage_unbalance_intervals)                                                       \
    D(phase_loss_pct)                                                                    \
    D(phase_loss_dead_pct)                                                               \
    I(clock_drift_s)                                                                     \
    I(clock_suspect_s)                                                                   \
    D(jump_factor)                                                                       \
    D(spike_factor)                                                                      \
    D(spike_min_kwh)                                                                     \
    I(spike_min_days)                                                                    \
    D(drop_factor)                                                                       \
    D(drop_min_mean_kwh)                                                                 \
    I(drop_min_days)                                                                     \
    D(reverse_min_kwh)                                                                   \
    I(reverse_flow_intervals)                                                            \
    D(sum_tol_kwh_per_interval)                                                          \
    D(sum_tol_pct)                                                                       \
    I(clear_intervals)                                                                   \
    D(line_loss_min_pct)                                                                 \
    D(line_loss_max_pct)                                                                 \
    D(line_loss_swing_pct)                                                               \
    D(line_loss_swing_floor_pct)                                                         \
    I(line_loss_top_k)

#define CHECK_I(f)                                                                       \
    if (a->f != b->f) {                                                                  \
        fprintf(stderr, "%s: %d != %d\n", #f, a->f, b->f);                               \
        same = false;                                                                    \
    }
#define CHECK_D(f)                                                                       \
    if (!(a->f == b->f)) {                                                               \
        fprintf(stderr, "%s: %g != %g\n", #f, a->f, b->f);                               \
        same = false;                                                                    \
    }

static bool thresholds_equal(const struct vee_thresholds *a,
                             const struct vee_thresholds *b)
{
    bool same = true;
    VEE_THRESHOLD_FIELDS(CHECK_I, CHECK_D)
    return same;
}

#define NAME_OF(f) #f,
static const char *const threshold_names[] = {VEE_THRESHOLD_FIELDS(NAME_OF, NAME_OF)};

static const char *ROWS_D1 =
    "D1-M,dlt645-2007,c0,000000000101,,,3P4W,80,1,1.5,6,220,D1,A,district,no\n"
    "D1-001,dlt645-1997,bus1,123456789012,,,1P2W,1,1,5,60,220,D1,C,customer,yes\n"
    "D1-002,modbus,rtu1,,7,sdm630,3P3W,15,100,1.5,6,100,D1,B,customer,no\n";

/* Without a validation section the validator gets exactly its defaults. */
static void validation_defaults_are_the_validators(void **state)
{
    struct fx *x = *state;
    int rc = load(x, YAML_MIN, csv_of(ROWS_D1));
    if (rc)
        dump(x);
    assert_int_equal(rc, 0);
    struct vee_thresholds t, d = vee_thresholds_default();
    memset(&t, 0xA5, sizeof t);
    assert_int_equal(cfg_vee_thresholds(x->c, &t), AH_OK);
    assert_true(thresholds_equal(&t, &d));
    assert_int_equal(cfg_vee_thresholds(NULL, &t), AH_EINVAL);
}

/* The example names every threshold, each at its default. */
static void example_lists_every_threshold_at_its_default(void **state)
{
    (void)state;
    const char *path = AH_VECTORS_DIR "/../../examples/amihead.yaml";
    static char text[16384];
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    const char *sec = strstr(text, "\nvalidation:");
    assert_non_null(sec);
    for (size_t i = 0; i < sizeof threshold_names / sizeof threshold_names[0]; i++) {
        char key[64];
        snprintf(key, sizeof key, "\n  %s:", threshold_names[i]);
        if (!strstr(sec, key)) {
            fprintf(stderr, "examples/amihead.yaml lacks validation.%s\n",
                    threshold_names[i]);
            fail();
        }
    }
    struct cfg_diag d;
    cfg_diag_init(&d);
    struct cfg *c = NULL;
    assert_int_equal(cfg_load(path, &c, &d), 0);
    struct vee_thresholds t, def = vee_thresholds_default();
    assert_int_equal(cfg_vee_thresholds(c, &t), AH_OK);
    assert_true(thresholds_equal(&t, &def));
    assert_int_equal(c->headend.tz_offset_s, 8 * 3600); /* Asia/Shanghai */
    cfg_destroy(&c);
}

/* Values the validator would refuse never get past the loader. */
static void validation_out_of_range_named_by_line(void **state)
{
    struct fx *x = *state;
    char y[2048];
    snprintf(y, sizeof y,
             "%s"
             "validation:\n"                     /* 17 */
             "  stopped_intervals: 255\n"        /* 18 run counters saturate */
             "  drop_min_days: 15\n"             /* 19 ring holds 14 days */
             "  line_loss_top_k: 17\n"           /* 20 at most 16 listed */
             "  drop_factor: 1.5\n"              /* 21 */
             "  spike_factor: 0.5\n"             /* 22 */
             "  clock_drift_s: 600\n"            /* 23 */
             "  clock_suspect_s: 600\n"          /* 24 not above drift */
             "  line_loss_min_pct: 12\n"         /* 25 not below max (10) */
             "  voltage_unbalance_interval: 4\n" /* 26 typo */
             "  reverse_min_kwh: nan\n",         /* 27 */
             YAML_MIN);
    assert_int_equal(load(x, y, csv_of(ROWS_D1)), AH_ECONFIG);
    const char *F = "amihead.yaml";
    assert_msg(x, F, 18, "validation.stopped_intervals", "255 out of range 1..254");
    assert_msg(x, F, 19, "validation.drop_min_days", "15 out of range 1..14");
    assert_msg(x, F, 20, "validation.line_loss_top_k", "17 out of range 0..16");
    assert_msg(x, F, 21, "validation.drop_factor", "1.5 out of range 0..1");
    assert_msg(x, F, 22, "validation.spike_factor", "0.5 out of range 1..1000");
    assert_msg(x, F, 24, "validation.clock_suspect_s",
               "600 must be above clock_drift_s (600)");
    assert_msg(x, F, 25, "validation.line_loss_min_pct",
               "12 must be below line_loss_max_pct (10)");
    assert_msg(x, F, 26, "validation.voltage_unbalance_interval", "unknown key");
    assert_msg(x, F, 27, "validation.reverse_min_kwh", "'nan' is not a number");
    assert_int_equal(x->diag.n_errors, 9);

    /* the edges themselves are accepted, and the validator agrees */
    snprintf(y, sizeof y,
             "%s"
             "validation:\n"
             "  stopped_intervals: 254\n"
             "  drop_min_days: 14\n"
             "  line_loss_top_k: 0\n"
             "  drop_factor: 1\n"
             "  clock_drift_s: 1\n"
             "  clock_suspect_s: 2\n"
             "  line_loss_min_pct: -100\n"
             "  line_loss_max_pct: 100\n",
             YAML_MIN);
    int rc = load(x, y, csv_of(ROWS_D1));
    if (rc)
        dump(x);
    assert_int_equal(rc, 0);
    struct vee_thresholds t;
    assert_int_equal(cfg_vee_thresholds(x->c, &t), AH_OK);
    assert_int_equal(t.stopped_intervals, 254);
    assert_int_equal(t.drop_min_days, 14);
    assert_int_equal(t.line_loss_top_k, 0);
    assert_true(t.drop_factor == 1.0);
    assert_int_equal(t.clock_suspect_s, 2);
    assert_int_equal(t.creeping_intervals, 4); /* untouched keys keep defaults */
}

static const char *YAML_SHANGHAI_HEAD = "headend:\n"
                                        "  timezone: Asia/Shanghai\n";

static void meter_info_for_validator(void **state)
{
    struct fx *x = *state;
    char y[2048];
    snprintf(y, sizeof y, "%s%s", YAML_SHANGHAI_HEAD, YAML_MIN);
    int rc = load(x, y, csv_of(ROWS_D1));
    if (rc)
        dump(x);
    assert_int_equal(rc, 0);
    struct vee_meter_info vi;

    /* District meter: 3P4W 220/380 V, 1.5(6) A behind an 80/1 (400/5) CT */
    memset(&vi, 0xA5, sizeof vi);
    assert_int_equal(cfg_vee_meter_info(x->c, cfg_meter_find(x->c, "D1-M"), &vi), AH_OK);
    assert_int_equal(vi.wiring, VEE_3P4W);
    assert_false(vi.bidirectional);
    assert_int_equal(vi.ct, 80);
    assert_int_equal(vi.pt, 1);
    assert_int_equal(vi.ib_ma, 1500);
    assert_int_equal(vi.imax_ma, 6000);
    assert_int_equal(vi.un_dv, 2200);
    assert_int_equal(vi.interval_s, 900);
    assert_int_equal(vi.tz_offset_s, 8 * 3600);
    assert_int_equal(vi.install_time, 0);
    assert_int_equal(vi.reg_modulus, 100000000); /* 999999.99 kWh + 0.01 */
    /* Emax, secondary: 220 V × 6 A × 3 phases × 0.25 h = 0.99 kWh */
    assert_int_equal(vee_emax(&vi), 99);

    /* Household PV prosumer: 1P2W 220 V 5(60) A direct, DL/T 645-1997 */
    assert_int_equal(cfg_vee_meter_info(x->c, cfg_meter_find(x->c, "D1-001"), &vi),
                     AH_OK);
    assert_int_equal(vi.wiring, VEE_1P2W);
    assert_true(vi.bidirectional);
    assert_int_equal(vi.ct, 1);
    assert_int_equal(vi.pt, 1);
    assert_int_equal(vi.ib_ma, 5000);
    assert_int_equal(vi.imax_ma, 60000);
    assert_int_equal(vi.un_dv, 2200);
    assert_int_equal(vi.interval_s, 900);
    assert_int_equal(vi.tz_offset_s, 8 * 3600);
    assert_int_equal(vi.reg_modulus, 100000000);
    /* 220 V × 60 A × 0.25 h = 3.3 kWh */
    assert_int_equal(vee_emax(&vi), 330);

    /* Modbus 3P3W 100 V line behind 15× CT and 100× PT: validator's modulus */
    assert_int_equal(cfg_vee_meter_info(x->c, cfg_meter_find(x->c, "D1-002"), &vi),
                     AH_OK);
    assert_int_equal(vi.wiring, VEE_3P3W);
    assert_int_equal(vi.ct, 15);
    assert_int_equal(vi.pt, 100);
    assert_int_equal(vi.un_dv, 1000);
    assert_int_equal(vi.reg_modulus, 0);

    assert_int_equal(cfg_vee_meter_info(x->c, NULL, &vi), AH_EINVAL);
}

/* The offset is fixed at load; zones with daylight saving are refused. */
static void timezone_offset_fixed_or_refused(void **state)
{
    struct fx *x = *state;
    static const struct {
        const char *zone;
        int32_t off;
    } ok[] = {
        {"Asia/Shanghai", 8 * 3600},
        {"Asia/Kolkata", 5 * 3600 + 1800}, /* IST-5:30 */
        {"Etc/GMT+5", -5 * 3600},          /* <-05>5 */
        {"UTC", 0},
    };
    char y[2048];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        snprintf(y, sizeof y, "headend:\n  timezone: %s\n%s", ok[i].zone, YAML_MIN);
        int rc = load(x, y, csv_of(ROWS_D1));
        if (rc)
            dump(x);
        assert_int_equal(rc, 0);
        assert_int_equal(x->c->headend.tz_offset_s, ok[i].off);
    }

    snprintf(y, sizeof y, "headend:\n  timezone: Europe/Berlin\n%s", YAML_MIN);
    assert_int_equal(load(x, y, csv_of(ROWS_D1)), AH_ECONFIG);
    assert_msg(x, "amihead.yaml", 2, "headend.timezone",
               "'Europe/Berlin' observes daylight saving time (CET-1CEST");
    assert_int_equal(x->diag.n_errors, 1);

    /* No zone named: the box's TZ, asked through localtime_r. */
    const char *saved = getenv("TZ");
    char keep[128] = "";
    if (saved)
        snprintf(keep, sizeof keep, "%s", saved);
    setenv("TZ", "CST-8", 1);
    assert_int_equal(load(x, YAML_MIN, csv_of(ROWS_D1)), 0);
    assert_int_equal(x->c->headend.tz_offset_s, 8 * 3600);
    setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
    assert_int_equal(load(x, YAML_MIN, csv_of(ROWS_D1)), AH_ECONFIG);
    /* no headend section: the message names the file only */
    char want[256];
    snprintf(want, sizeof want, "%s: headend.timezone: not set, and the box's", x->yaml);
    assert_int_equal(x->diag.n_errors, 1);
    assert_non_null(strstr(x->diag.msg[0], want));
    if (saved)
        setenv("TZ", keep, 1);
    else
        unsetenv("TZ");
    tzset();
}

/* One line, one link (review of issue 15: sorted, no longer every pair):
 * each later link sharing an endpoint, a device or a dial-in concentrator is
 * named against the first, in file order. */
static void shared_lines_name_the_first_link(void **state)
{
    struct fx *x = *state;
    const char *yaml = "inventory: meters.csv\n" /* 1 */
                       "storage:\n  path: /x\n"  /* 2 */
                       "links:\n"                /* 4 */
                       "  - {name: a, type: dlt645-tcp, endpoint: 10.0.0.1:1}\n"
                       "  - {name: b, type: dlt645-serial, device: /dev/ttyS0}\n"
                       "  - {name: c, type: dlt645-tcp, endpoint: 10.0.0.1:1}\n"
                       "  - {name: d, type: modbus-rtu, device: /dev/ttyS0}\n"
                       "  - {name: e, type: dlt645-tcp, endpoint: 10.0.0.1:1}\n"
                       "  - {name: f, type: dlt645-listen, listen: '0.0.0.0:7000',"
                       " address: '000000000001'}\n" /* 10 */
                       "  - {name: g, type: dlt645-listen, listen: '0.0.0.0:7000',"
                       " address: '000000000002'}\n"
                       "  - {name: h, type: dlt645-listen, listen: '0.0.0.0:7000',"
                       " address: '000000000001'}\n";
    assert_int_equal(load(x, yaml, CSV_HEADER), AH_ECONFIG);
    const char *Y = "amihead.yaml";
    assert_msg(x, Y, 7, "links.endpoint", "10.0.0.1:1 already used by link 'a' (line 5)");
    assert_msg(x, Y, 9, "links.endpoint", "10.0.0.1:1 already used by link 'a' (line 5)");
    assert_msg(x, Y, 8, "links.device", "/dev/ttyS0 already used by link 'b' (line 6)");
    assert_msg(
        x, Y, 12, "links.address",
        "concentrator address already expected on 0.0.0.0:7000 by link 'f' (line 10)");
    assert_false(has_msg(x, Y, 11, "links.address", "already expected"));
    assert_false(has_msg(x, Y, 5, "links.endpoint", "already used"));
}

int main(void)
{
    /* headend.timezone "" means the box's zone: make it one without DST. */
    setenv("TZ", "UTC0", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(good_config_loads_values_and_defaults, setup,
                                        teardown),
        cmocka_unit_test(example_config_is_valid),
        cmocka_unit_test_setup_teardown(yaml_mistakes_name_file_line_and_key, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(yaml_syntax_error_has_line, setup, teardown),
        cmocka_unit_test_setup_teardown(shared_lines_name_the_first_link, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(missing_files_are_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(csv_header_must_have_exactly_the_columns, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(csv_row_rules_all_reported_at_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(district_without_district_meter_is_a_warning,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(csv_quote_error_is_reported_and_parsing_goes_on,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(security_needs_both_keys_that_exist, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(diag_list_is_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(validation_defaults_are_the_validators, setup,
                                        teardown),
        cmocka_unit_test(example_lists_every_threshold_at_its_default),
        cmocka_unit_test_setup_teardown(validation_out_of_range_named_by_line, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(meter_info_for_validator, setup, teardown),
        cmocka_unit_test_setup_teardown(timezone_offset_fixed_or_refused, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
