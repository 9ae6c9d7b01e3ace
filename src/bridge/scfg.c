/*
 * scfg — table-driven flat YAML (scfg.h). A value is set through its
 * key's slot type; the file's line is kept for the error message.
 */
#include "scfg.h"

#include "ah_err.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

static bool seg_ok(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || strchr("_.:-", *s)))
            return false;
    return true;
}

/* Set one value; on error writes the reason into err. */
static int set_slot(const struct scfg_key *k, const char *s, void *base, char *err,
                    size_t errlen)
{
    char *field = (char *)base + k->offset;
    if (k->type == SCFG_STR || k->type == SCFG_SEG) {
        if (strlen(s) >= k->size) {
            snprintf(err, errlen, "longer than %zu characters", k->size - 1);
            return AH_ERANGE;
        }
        if (k->type == SCFG_SEG && !seg_ok(s)) {
            snprintf(err, errlen, "'%s': use 1..%zu of [A-Za-z0-9_.:-]", s, k->size - 1);
            return AH_EINVAL;
        }
        memcpy(field, s, strlen(s) + 1);
        return AH_OK;
    }
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end) {
        snprintf(err, errlen, "'%s' is not an integer", s);
        return AH_EINVAL;
    }
    if (v < k->min || v > k->max) {
        snprintf(err, errlen, "%lld not in %" PRId64 "..%" PRId64, v, k->min, k->max);
        return AH_ERANGE;
    }
    int64_t iv = v;
    memcpy(field, &iv, sizeof iv);
    return AH_OK;
}

int scfg_defaults(const struct scfg_key *keys, size_t n, void *base)
{
    char err[128];
    for (size_t i = 0; i < n; i++)
        if (keys[i].def && set_slot(&keys[i], keys[i].def, base, err, sizeof err))
            return AH_ECONFIG;
    return AH_OK;
}

int scfg_load(const char *path, const struct scfg_key *keys, size_t n, void *base)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return AH_EIO;
    }
    yaml_parser_t p;
    yaml_document_t doc;
    int rc = AH_OK;
    bool seen[64] = {0};
    if (n > 64 || !yaml_parser_initialize(&p)) {
        fclose(f);
        return AH_ENOMEM;
    }
    yaml_parser_set_input_file(&p, f);
    if (!yaml_parser_load(&p, &doc)) {
        fprintf(stderr, "%s:%zu: %s\n", path, p.problem_mark.line + 1,
                p.problem ? p.problem : "YAML error");
        rc = AH_ECONFIG;
        goto out_parser;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || root->type != YAML_MAPPING_NODE) {
        fprintf(stderr, "%s: expected a mapping of key: value\n", path);
        rc = AH_ECONFIG;
        goto out_doc;
    }
    for (yaml_node_pair_t *pr = root->data.mapping.pairs.start;
         pr < root->data.mapping.pairs.top; pr++) {
        yaml_node_t *kn = yaml_document_get_node(&doc, pr->key);
        yaml_node_t *vn = yaml_document_get_node(&doc, pr->value);
        unsigned line = (unsigned)kn->start_mark.line + 1;
        const char *key =
            kn->type == YAML_SCALAR_NODE ? (const char *)kn->data.scalar.value : "?";
        size_t i = 0;
        while (i < n && strcmp(keys[i].key, key))
            i++;
        if (i == n) {
            fprintf(stderr, "%s:%u: %s: unknown key\n", path, line, key);
            rc = AH_ECONFIG;
            continue;
        }
        if (vn->type != YAML_SCALAR_NODE) {
            fprintf(stderr, "%s:%u: %s: expected a scalar value\n", path, line, key);
            rc = AH_ECONFIG;
            continue;
        }
        char err[160];
        if (set_slot(&keys[i], (const char *)vn->data.scalar.value, base, err,
                     sizeof err)) {
            fprintf(stderr, "%s:%u: %s: %s\n", path, line, key, err);
            rc = AH_ECONFIG;
        }
        seen[i] = true;
    }
    for (size_t i = 0; i < n; i++) {
        char err[160];
        if (seen[i])
            continue;
        if (!keys[i].def) {
            fprintf(stderr, "%s: %s: required (%s)\n", path, keys[i].key, keys[i].help);
            rc = AH_ECONFIG;
        } else if (set_slot(&keys[i], keys[i].def, base, err, sizeof err)) {
            rc = AH_ECONFIG;
        }
    }
out_doc:
    yaml_document_delete(&doc);
out_parser:
    yaml_parser_delete(&p);
    fclose(f);
    return rc;
}
