/*
 * cmd_util — shared pieces of the amihead subcommands: strict number
 * parsing (no atoi: a typo is an error, not a zero) and result printing.
 */
#ifndef AH_CMD_UTIL_H
#define AH_CMD_UTIL_H

#include "dlt645.h"
#include "link.h"

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

#endif /* AH_CMD_UTIL_H */
