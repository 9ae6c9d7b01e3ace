/*
 * scfg — the flat YAML files of the scale-out commands (bridge.yaml,
 * sink.yaml; docs/scale-out.md). One table per file {key, type, offset,
 * size or min/max, default} drives parsing, defaults and range checks
 * (STYLE.md §10); every problem is printed as "FILE:LINE: key: message"
 * and all of them are listed before the load fails. YAML goes through
 * libyaml; no atoi.
 *
 * Must not: open sockets or databases — loading a file has no side effect.
 */
#ifndef AH_SCFG_H
#define AH_SCFG_H

#include <stddef.h>
#include <stdint.h>

enum scfg_type { SCFG_STR, SCFG_INT, SCFG_SEG };

/* One key. For SCFG_STR / SCFG_SEG, size is the field's char array size
 * (SEG: a topic segment, [A-Za-z0-9_.:-]); for SCFG_INT the field is an
 * int64_t in [min, max]. def is the default text, NULL = required. */
struct scfg_key {
    const char *key;
    enum scfg_type type;
    size_t offset;
    size_t size;
    int64_t min, max;
    const char *def;
    const char *help;
};

/* Fill base from the mapping in path through keys[0..n). Unknown keys,
 * missing required keys, bad values: each printed to stderr, then
 * AH_ECONFIG. AH_EIO when the file cannot be read. */
int scfg_load(const char *path, const struct scfg_key *keys, size_t n, void *base);

/* Defaults only (for tests and the bench). AH_ECONFIG if a key has none. */
int scfg_defaults(const struct scfg_key *keys, size_t n, void *base);

#endif /* AH_SCFG_H */
