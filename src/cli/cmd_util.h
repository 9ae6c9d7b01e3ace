/*
 * cmd_util — shared pieces of the amihead subcommands: strict number
 * parsing (no atoi: a typo is an error, not a zero), result printing, and
 * the preamble of the commands that read the store beside a running
 * head-end (query, stats, events, districts, release): options, config,
 * read-only store, meter lookup.
 */
#ifndef AH_CMD_UTIL_H
#define AH_CMD_UTIL_H

#include "dlt645.h"
#include "link.h"
#include "store.h"

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decimal in [min, max]. 0 ok, -1 otherwise. */
int cmd_parse_long(const char *s, long min, long max, long *out);
/* Exactly `digits` hex digits. 0 ok, -1 otherwise. */
int cmd_parse_hex(const char *s, int digits, unsigned long *out);
/* "none" | "even" | "odd". 0 ok, -1 otherwise. */
int cmd_parse_parity(const char *s, enum link_parity *out);

/* raw / 10^dec as a JSON number (integer when dec == 0). Caller owns. */
json_t *cmd_json_scaled(int64_t raw, uint8_t dec);
/* Dump JSON with enough precision to print every decimal exactly. Caller
 * frees the string. */
char *cmd_json_dumps(const json_t *j);

/* Print {"addr","di","name","value","unit"} (JSON, one line) or a human
 * line. Takes ownership of value. Returns the exit code (0). */
int cmd_print_result(const char *addr, uint32_t di, enum dlt645_proto proto,
                     const char *name, const char *unit, json_t *value, bool json);
/* Decode a read payload through the DI table and print it. Unknown DIs print
 * as hex ("raw"). Returns the exit code (0, or 1 on a payload that does not
 * fit its DI). */
int cmd_print_values(const char *addr, uint32_t di, enum dlt645_proto proto,
                     const uint8_t *p, size_t len, bool json);

/* json_dumps flags that print every stored decimal exactly (cmd_json_dumps). */
#define CMD_JSON_EXACT (JSON_COMPACT | JSON_REAL_PRECISION(15) | JSON_ENCODE_ANY)

/* Print j dumped with json_dumps flags as one line on stdout (nothing when
 * it does not dump). Borrowed. */
void cmd_print_json_line(const json_t *j, size_t flags);

/* Returned by cmd_parse and by a command's own option handler: go on. Any
 * other value is the exit code to return now. */
#define CMD_GO (-1)

/*
 * One run of a store-reading command. The command sets name, usage, help,
 * need_meter and the from/to defaults, then calls cmd_parse, cmd_open, and
 * cmd_close once done (also after a failed cmd_open).
 */
struct cmd_ctx {
    const char *name;  /* "query": every message starts "amihead query: " */
    const char *usage; /* to stderr on a usage error (exit 2) */
    const char *help;  /* to stdout for --help (exit 0); NULL: usage */
    bool need_meter;   /* --meter is required */
    /* from the command line */
    const char *file;              /* -c, --config */
    const char *meter;             /* --meter, NULL when not given */
    int64_t from, to;              /* --from / --to as UTC seconds; defaults kept */
    const char *from_txt, *to_txt; /* as given, NULL when not */
    bool json;                     /* --json */
    /* from cmd_open */
    struct cfg *cfg;
    store_t *st;        /* NULL unless opened */
    uint32_t meter_idx; /* from cmd_find_meter */
};

/* A command's handler of its own options (letters other than c m f t j h):
 * CMD_GO, or an exit code after printing why. */
typedef int (*cmd_opt_fn)(struct cmd_ctx *x, int opt, const char *arg, void *u);

/*
 * getopt_long over argv with the command's option table and short options.
 * Handles the shared letters present in the table: 'c' --config, 'm'
 * --meter, 'f' --from and 't' --to (ah_time_parse_zone, then
 * cmd_resolve_times; "bad time" and a reversed range are exit 2),
 * 'j' --json, 'h' --help (exit 0); passes other letters to own (may be
 * NULL). Unknown options, a missing -c (or --meter when need_meter) and
 * operands print usage and give 2. Returns CMD_GO or the exit code.
 */
int cmd_parse(struct cmd_ctx *x, int argc, char **argv, const char *shortopts,
              const struct option *opts, cmd_opt_fn own, void *u);

/* --from / --to text into x->from / x->to (cmd_parse calls it): a time
 * without zone is local in headend.timezone, which loads the config into
 * x->cfg; a reversed range is a usage error naming both. CMD_GO or the exit
 * code after printing why. */
int cmd_resolve_times(struct cmd_ctx *x);
/* A time option of command cmd into ms: without zone it is local time in
 * c's headend.timezone (UTC when c is NULL), said on stderr. CMD_GO, or 2
 * after printing the formats accepted. */
struct cfg;
int cmd_time_arg(const char *cmd, const struct cfg *c, const char *opt, const char *txt,
                 int64_t *ms);
/* Whether meter is a row of the loaded inventory. */
bool cmd_in_inventory(const struct cmd_ctx *x, const char *meter);

/* Load and check a config like check-config: every diag message to stderr;
 * NULL (after printing) on error. Caller owns the result (cfg_destroy).
 * cmd names the command in messages. */
struct cfg *cmd_load_config(const char *cmd, const char *file);

/* Load x->file (diagnostics to stderr, cmd_load_config) and, with
 * open_store, open its store read-only without creating it. 0 ok, else the
 * exit code (1) after printing why. */
int cmd_open(struct cmd_ctx *x, bool open_store);
/* x->meter's index in the open store into x->meter_idx. 0 ok, else 1 after
 * printing "meter ID is not in the inventory FILE" or "meter ID <missing>
 * <storage.path>". */
int cmd_find_meter(struct cmd_ctx *x, const char *missing);
/* Exclusive upper end (seconds) of the --to window for the store's
 * iterators: everything when --to was left at INT64_MAX. */
uint64_t cmd_until(const struct cmd_ctx *x);
/* Print "amihead NAME: <ah_strerror(rc)>"; returns the exit code 1. */
int cmd_fail(const struct cmd_ctx *x, int rc);
/* Close the store and destroy the config; NULLs both, safe to repeat. */
void cmd_close(struct cmd_ctx *x);

#endif /* AH_CMD_UTIL_H */
