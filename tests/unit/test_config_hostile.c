/*
 * test_config_hostile — every YAML key fed a set of hostile values
 * (issue 17 item 2). cfg_load must answer each with a clear error or a
 * config that holds together, never a crash: a rejected value used to
 * leave its field at 0 and schedule.interval_min 0 then divided the
 * cross-checks by zero (SIGFPE in check-config and run).
 *
 * The key list comes from config itself (cfg_key_at), so a key added
 * later is fed the same values without touching this file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ah_err.h"
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char dir[64], yaml_path[128], csv_path[128];

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
}

/* The base config, one line per key: "section key value"; links are
 * "links.N key value". A hostile value replaces the key's line where the
 * key is there, else it is added to the first link / its section. */
static const char *const base[][3] = {
    {"headend", "id", "h1"},
    {"headend", "timezone", "UTC"},
    {"storage", "path", "store"},
    {"schedule", "interval_min", "15"},
    {"schedule", "stagger_s", "60"},
    {"links.0", "name", "c0"},
    {"links.0", "type", "dlt645-tcp"},
    {"links.0", "endpoint", "127.0.0.1:7000"},
    {"links.1", "name", "l0"},
    {"links.1", "type", "dlt645-listen"},
    {"links.1", "listen", "127.0.0.1:7100"},
    {"links.1", "address", "\"000000000002\""},
    {"links.2", "name", "b0"},
    {"links.2", "type", "dlt645-serial"},
    {"links.2", "device", "/dev/ttyUSB0"},
    {"export", "pub", "tcp://127.0.0.1:5556"},
    {"metrics", "listen", "127.0.0.1:9464"},
};
#define NBASE (sizeof base / sizeof base[0])

static const char *const sections[] = {"headend",  "storage", "schedule",  "export",
                                       "security", "metrics", "validation"};

static const char *CSV = "meter_id,protocol,link,address,unit_id,map,wiring,ct,pt,"
                         "rated_current,max_current,nominal_voltage,district,class,"
                         "role,bidirectional\n"
                         "M0,dlt645-2007,c0,000000000101,,,3P4W,1,1,1.5,6,220,D1,A,"
                         "district,no\n"
                         "M1,dlt645-2007,l0,000000000102,,,1P2W,1,1,5,60,220,D1,C,"
                         "customer,no\n"
                         "M2,dlt645-2007,b0,000000000103,,,1P2W,1,1,5,60,220,D1,C,"
                         "customer,no\n";

/* Hostile scalars as YAML text: numbers out of every range, non-numbers
 * that strtod or strtol would half-take, NUL and invalid UTF-8 through
 * escapes, empty, null, collections where a scalar belongs, huge text. */
static const char *const hostile[] = {
    "0",
    "-1",
    "61",
    "-15",
    "15.5",
    "1e1",
    "1e999",
    "-1e999",
    ".nan",
    ".inf",
    "-.inf",
    "nan",
    "inf",
    "0x10",
    "010",
    "+7",
    "7 ",
    "\" 7\"",
    "\"\"",
    "~",
    "null",
    "99999999999999999999",
    "-9223372036854775808",
    "2147483648",
    "-2147483649",
    "4294967296",
    "[1, 2]",
    "{a: 1}",
    "\"\\0\"",
    "\"a\\0b\"",
    "\"\\xff\\xfe\"",
    "\"*\"",
    "\":\"",
    "\"[::1]:0\"",
    "\"[::1]:9464\"",
    "\"localhost:99999\"",
    "\"tcp://\"",
    "\"ipc://\"",
    "\"tcp://*:0\"",
    "\"/\"",
    "\"../../../../etc/passwd\"",
    "\"23:60\"",
    "\"24:00\"",
    "\"-1:00\"",
    "\"00000000000A\"",
    "\"AAAAAAAAAAAA\"",
    "true",
    "yes",
    "\"dlt645-listen\"",
    "\"modbus-rtu\"",
    NULL, /* the long value is built at run time */
};

static char *long_value(void)
{
    static char v[5003];
    v[0] = '"';
    memset(v + 1, 'x', 5000);
    v[5001] = '"';
    v[5002] = 0;
    return v;
}

/* Build the YAML with section.key set to `value` (raw YAML text). */
static void build_yaml(char *out, size_t cap, const char *section, const char *key,
                       const char *value)
{
    size_t n = 0;
#define PUT(...) n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, __VA_ARGS__)
    bool placed = false;
    if (!*section)
        PUT("inventory: %s\n", value);
    else
        PUT("inventory: meters.csv\n");
    for (size_t s = 0; s < sizeof sections / sizeof sections[0]; s++) {
        PUT("%s:\n", sections[s]);
        bool any = false;
        for (size_t i = 0; i < NBASE; i++) {
            if (strcmp(base[i][0], sections[s]))
                continue;
            bool mine = !strcmp(section, sections[s]) && !strcmp(key, base[i][1]);
            PUT("  %s: %s\n", base[i][1], mine ? value : base[i][2]);
            placed |= mine;
            any = true;
        }
        if (!strcmp(section, sections[s]) && !placed) {
            PUT("  %s: %s\n", key, value);
            placed = any = true;
        }
        if (!any)
            PUT("  {}\n"); /* an empty mapping, not null */
    }
    PUT("links:\n");
    bool in_links = !strcmp(section, "links");
    bool link_has = false;
    for (size_t i = 0; i < NBASE; i++)
        if (!strncmp(base[i][0], "links.", 6) && in_links && !strcmp(key, base[i][1]))
            link_has = true;
    for (int l = 0; l < 3; l++) {
        char tag[16];
        snprintf(tag, sizeof tag, "links.%d", l);
        bool first = true;
        for (size_t i = 0; i < NBASE; i++) {
            if (strcmp(base[i][0], tag))
                continue;
            bool mine = in_links && !strcmp(key, base[i][1]);
            PUT("  %s %s: %s\n", first ? "-" : " ", base[i][1],
                mine ? value : base[i][2]);
            first = false;
        }
        if (in_links && !link_has && l == 0)
            PUT("    %s: %s\n", key, value);
    }
#undef PUT
    assert_true(n < cap);
}

static void every_key_every_hostile_value(void **state)
{
    (void)state;
    static char y[16384];
    struct cfg_diag *d = malloc(sizeof *d);
    assert_non_null(d);
    const char *section, *key;
    size_t n_keys = 0, n_runs = 0, n_refused = 0;
    for (size_t k = 0; cfg_key_at(k, &section, &key) == AH_OK; k++, n_keys++) {
        for (size_t h = 0;; h++) {
            const char *v = hostile[h] ? hostile[h] : long_value();
            build_yaml(y, sizeof y, section, key, v);
            write_file(yaml_path, y);
            cfg_diag_init(d);
            struct cfg *c = NULL;
            int rc = cfg_load(yaml_path, &c, d);
            n_runs++;
            if (rc != AH_OK && rc != AH_ECONFIG) {
                fprintf(stderr, "%s.%s = %s: rc %d\n", section, key, v, rc);
                fail();
            }
            /* A NUL inside a value would cut it short unseen. */
            if (strstr(v, "\\0") && rc != AH_ECONFIG) {
                fprintf(stderr, "%s.%s = %s accepted\n", section, key, v);
                fail();
            }
            if (rc == AH_ECONFIG) {
                n_refused++;
                assert_null(c);
                assert_true(d->n_errors > 0);
            } else {
                /* Accepted: it must hold together for the modules that
                 * divide by it and hand it to the validator. */
                assert_non_null(c);
                assert_true(c->schedule.interval_min >= 1 &&
                            60 % c->schedule.interval_min == 0);
                struct vee_thresholds t;
                assert_int_equal(cfg_vee_thresholds(c, &t), AH_OK);
                for (size_t m = 0; m < c->n_meters; m++) {
                    struct vee_meter_info vi;
                    assert_int_equal(cfg_vee_meter_info(c, &c->meters[m], &vi), AH_OK);
                }
                cfg_destroy(&c);
            }
            if (!hostile[h])
                break;
        }
    }
    fprintf(stderr, "%zu keys x %zu values: %zu runs, %zu refused\n", n_keys,
            sizeof hostile / sizeof hostile[0], n_runs, n_refused);
    assert_true(n_keys > 50);
    free(d);
}

/* The issue's own list for schedule.interval_min, each named by key. */
static void interval_min_refused_without_sigfpe(void **state)
{
    (void)state;
    static char y[16384];
    static const char *const bad[] = {"0", "61", "-15", "15.5", "1e1", ".nan", "7", "-0"};
    struct cfg_diag *d = malloc(sizeof *d);
    assert_non_null(d);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        build_yaml(y, sizeof y, "schedule", "interval_min", bad[i]);
        write_file(yaml_path, y);
        cfg_diag_init(d);
        struct cfg *c = NULL;
        assert_int_equal(cfg_load(yaml_path, &c, d), AH_ECONFIG);
        bool named = false;
        for (size_t m = 0; m < d->n; m++)
            named |= strstr(d->msg[m], "schedule.interval_min") != NULL;
        if (!named)
            for (size_t m = 0; m < d->n; m++)
                fprintf(stderr, "  | %s\n", d->msg[m]);
        assert_true(named);
    }
    free(d);
}

static bool load_names(const char *yaml, const char *key, const char *words)
{
    write_file(yaml_path, yaml);
    struct cfg_diag *d = malloc(sizeof *d);
    assert_non_null(d);
    cfg_diag_init(d);
    struct cfg *c = NULL;
    int rc = cfg_load(yaml_path, &c, d);
    bool found = false;
    for (size_t m = 0; m < d->n; m++)
        found |= strstr(d->msg[m], key) && strstr(d->msg[m], words);
    if (!found || rc != AH_ECONFIG)
        for (size_t m = 0; m < d->n; m++)
            fprintf(stderr, "  | %s\n", d->msg[m]);
    cfg_destroy(&c);
    free(d);
    return found && rc == AH_ECONFIG;
}

/* Issue 17 item 9: what check-config passed and run then failed on, or
 * what made the loader itself misbehave. */
static void edge_cases_found_at_check_time(void **state)
{
    (void)state;
    static char y[16384];
    /* the metrics endpoint binds IPv4 literals only */
    build_yaml(y, sizeof y, "metrics", "listen", "localhost:9464");
    assert_true(load_names(y, "metrics.listen", "not an IPv4 address"));
    build_yaml(y, sizeof y, "metrics", "listen", "\"[::1]:9464\"");
    assert_true(load_names(y, "metrics.listen", "not an IPv4 address"));
    /* export.pub on the metrics port */
    build_yaml(y, sizeof y, "export", "pub", "tcp://127.0.0.1:9464");
    assert_true(load_names(y, "export.pub", "uses port 9464 of metrics.listen"));
    build_yaml(y, sizeof y, "export", "pub", "\"tcp://*:9464\"");
    assert_true(load_names(y, "export.pub", "uses port 9464 of metrics.listen"));

    /* inventory: a device that never ends, an endless line, a NUL */
    build_yaml(y, sizeof y, "", "inventory", "/dev/zero");
    assert_true(load_names(y, "inventory", "not a regular file"));
    char inv[160];
    snprintf(inv, sizeof inv, "%s/long.csv", dir);
    FILE *f = fopen(inv, "w");
    assert_non_null(f);
    fputs(CSV, f);
    for (int i = 0; i < 100000; i++)
        fputc('x', f);
    fputc('\n', f);
    fclose(f);
    build_yaml(y, sizeof y, "", "inventory", "long.csv");
    assert_true(load_names(y, "csv", "line longer than 4095 bytes"));
    f = fopen(inv, "w");
    assert_non_null(f);
    fputs(CSV, f);
    static const char row[] = "M9,dlt645-2007,c0,000000000109,,,1P2W,1,1,5,60,220,D\0X,C,"
                              "customer,no\n";
    fwrite(row, 1, sizeof row - 1, f);
    fclose(f);
    assert_true(load_names(y, "district", "NUL byte"));
    unlink(inv);

    /* deeply nested YAML: refused at once, not after quadratic seconds */
    static char deep[80000];
    int n = snprintf(deep, sizeof deep, "inventory: meters.csv\nlinks: ");
    for (int i = 0; i < 32000; i++)
        deep[n++] = '[';
    for (int i = 0; i < 32000; i++)
        deep[n++] = ']';
    deep[n++] = '\n';
    deep[n] = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_true(load_names(deep, "yaml", "nested deeper than 32 levels"));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr, "32000-deep YAML refused in %.3f s\n",
            (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
}

int main(void)
{
    setenv("TZ", "UTC0", 1);
    snprintf(dir, sizeof dir, "/tmp/ah_test_cfg_hostile.XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    snprintf(yaml_path, sizeof yaml_path, "%s/amihead.yaml", dir);
    snprintf(csv_path, sizeof csv_path, "%s/meters.csv", dir);
    FILE *f = fopen(csv_path, "w");
    if (!f || fputs(CSV, f) < 0 || fclose(f))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(interval_min_refused_without_sigfpe),
        cmocka_unit_test(every_key_every_hostile_value),
        cmocka_unit_test(edge_cases_found_at_check_time),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(yaml_path);
    unlink(csv_path);
    rmdir(dir);
    return rc;
}
