/*
 * config_yaml — the YAML document (see config.h): sections through their
 * key tables (config_keys.c), the links list, the time zone, relative
 * paths, then the rules that span keys (ports, timeouts, validation). The
 * inventory it names is read by config.c.
 */
#include "config_int.h"
#include "readplan.h"

#include "ah_err.h"
#include "ah_tz.h"
#include "dialin.h"

#include <yaml.h>

#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- YAML nodes ------------------------------------------------------- */

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
        cfg_err_at(L, L->yfile, sec_line, prefix, "expected a mapping of keys");
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
                cfg_err_at(L, L->yfile, yline(kn), prefix, "key must be a plain word");
                continue;
            }
            const char *k = yscalar(kn);
            snprintf(kname, sizeof kname, "%s.%s", prefix, k);
            size_t i = 0;
            while (i < nkeys && strcmp(keys[i].key, k))
                i++;
            if (i == nkeys) {
                cfg_err_at(L, L->yfile, yline(kn), kname, "unknown key");
                continue;
            }
            if (lines[i]) {
                cfg_err_at(L, L->yfile, yline(kn), kname,
                           "duplicate key (first at line %u)", lines[i]);
                continue;
            }
            lines[i] = yline(kn);
            bool bad = vn->type != YAML_SCALAR_NODE;
            if (bad)
                cfg_err_at(L, L->yfile, yline(vn), kname, "expected a single value");
            else if (strlen(yscalar(vn)) != vn->data.scalar.length) {
                /* "a\0b" would be read as "a": refuse, do not truncate. */
                cfg_err_at(L, L->yfile, yline(vn), kname, "value contains a NUL byte");
                bad = true;
            } else if (cfg_set_value(&keys[i], yscalar(vn), base, err, sizeof err)) {
                cfg_err_at(L, L->yfile, yline(vn), kname, "%s", err);
                bad = true;
            }
            /* The cross-checks still run on this section (and divide by
             * some of its values): a refused value leaves the default,
             * never 0 (issue 17: interval_min 0 → SIGFPE). */
            if (bad && keys[i].def)
                (void)cfg_set_value(&keys[i], keys[i].def, base, err, sizeof err);
        }
    }
    for (size_t i = 0; i < nkeys; i++) {
        if (lines[i])
            continue;
        snprintf(kname, sizeof kname, "%s.%s", prefix, keys[i].key);
        if (keys[i].flags & CFG_REQ)
            cfg_err_at(L, L->yfile, sec_line, kname, "required key missing");
        else if (keys[i].def &&
                 cfg_set_value(&keys[i], keys[i].def, base, err, sizeof err))
            cfg_err_at(L, L->yfile, sec_line, kname, "internal: bad default: %s", err);
    }
}

/* ---- links ------------------------------------------------------------ */

static int cmp_link_name(const void *a, const void *b)
{
    const struct cfg_link *x = *(const struct cfg_link *const *)a;
    const struct cfg_link *y = *(const struct cfg_link *const *)b;
    int r = strcmp(x->name, y->name);
    return r ? r : cfg_cmp_ptr_order(x, y);
}

/* ---- one line, one link ------------------------------------------------- */

/* Sort keys for the checks that one endpoint, device or dial-in concentrator
 * belongs to one link: the key, then file order (cfg_cmp_ptr_order), so the
 * first link of a run of equals is the one named in the messages. O(n log n)
 * where comparing every pair was quadratic (20,000 links: 2e8 compares). */
static int cmp_link_endpoint(const void *a, const void *b)
{
    const struct cfg_link *x = *(const struct cfg_link *const *)a;
    const struct cfg_link *y = *(const struct cfg_link *const *)b;
    int r = strcmp(x->endpoint, y->endpoint);
    return r ? r : cfg_cmp_ptr_order(x, y);
}

static int cmp_link_device(const void *a, const void *b)
{
    const struct cfg_link *x = *(const struct cfg_link *const *)a;
    const struct cfg_link *y = *(const struct cfg_link *const *)b;
    int r = strcmp(x->device, y->device);
    return r ? r : cfg_cmp_ptr_order(x, y);
}

/* dial-in links first, by listen address and concentrator address */
static int cmp_link_dialin(const void *a, const void *b)
{
    const struct cfg_link *x = *(const struct cfg_link *const *)a;
    const struct cfg_link *y = *(const struct cfg_link *const *)b;
    bool xl = x->type == CFG_LINK_DLT645_LISTEN, yl = y->type == CFG_LINK_DLT645_LISTEN;
    if (xl != yl)
        return xl ? -1 : 1;
    int r = strcmp(x->listen, y->listen);
    if (!r)
        r = memcmp(&x->address, &y->address, sizeof x->address);
    return r ? r : cfg_cmp_ptr_order(x, y);
}

enum shared_key { SHARED_ENDPOINT, SHARED_DEVICE, SHARED_DIALIN };

/* Does link b share a's line (its key is set and equal)? */
static bool shares(enum shared_key k, const struct cfg_link *a, const struct cfg_link *b)
{
    switch (k) {
    case SHARED_ENDPOINT:
        return *b->endpoint && !strcmp(a->endpoint, b->endpoint);
    case SHARED_DEVICE:
        return *b->device && !strcmp(a->device, b->device);
    case SHARED_DIALIN:
        return a->type == CFG_LINK_DLT645_LISTEN && b->type == CFG_LINK_DLT645_LISTEN &&
               *b->listen && !strcmp(a->listen, b->listen) &&
               dlt645_addr_eq(&a->address, &b->address);
    }
    return false;
}

static void report_shared(struct loader *L, enum shared_key k, const struct cfg_link *a,
                          const struct cfg_link *b)
{
    if (k == SHARED_DIALIN)
        cfg_err_at(L, L->yfile, b->line, "links.address",
                   "concentrator address already expected on %s by link '%s' (line %u)",
                   b->listen, a->name, a->line);
    else
        cfg_err_at(L, L->yfile, b->line,
                   k == SHARED_ENDPOINT ? "links.endpoint" : "links.device",
                   "%s already used by link '%s' (line %u)",
                   k == SHARED_ENDPOINT ? b->endpoint : b->device, a->name, a->line);
}

/* One endpoint or device belongs to one link, and one concentrator address
 * to one dial-in link per listen address: each later link of a run of
 * equals is reported against the first. Messages come in file order. */
static void check_shared(struct loader *L, size_t n)
{
    static int (*const cmp[])(const void *, const void *) = {
        [SHARED_ENDPOINT] = cmp_link_endpoint,
        [SHARED_DEVICE] = cmp_link_device,
        [SHARED_DIALIN] = cmp_link_dialin,
    };
    const struct cfg_link **v = malloc((n ? n : 1) * sizeof *v);
    const struct cfg_link **first = malloc((n ? n : 1) * sizeof *first);
    if (!v || !first) {
        L->nomem = true;
        goto out;
    }
    /* first[i]: the link that link i shares a line with, per key in turn */
    for (enum shared_key k = SHARED_ENDPOINT; k <= SHARED_DIALIN; k++) {
        for (size_t i = 0; i < n; i++) {
            v[i] = &L->c->links[i];
            first[i] = NULL;
        }
        qsort(v, n, sizeof *v, cmp[k]);
        for (size_t i = 1, f = 0; i < n; i++) {
            if (shares(k, v[f], v[i]))
                first[v[i] - L->c->links] = v[f];
            else
                f = i;
        }
        for (size_t i = 0; i < n; i++)
            if (first[i])
                report_shared(L, k, first[i], &L->c->links[i]);
    }
out:
    free(v);
    free(first);
}

/* "links[NAME]" when the item's name is readable, else "links[i]": what
 * messages about link i call it. */
static void link_prefix(yaml_document_t *doc, yaml_node_t *item, size_t i, char *prefix,
                        size_t cap)
{
    snprintf(prefix, cap, "links[%zu]", i);
    if (!item || item->type != YAML_MAPPING_NODE)
        return;
    for (yaml_node_pair_t *p = item->data.mapping.pairs.start;
         p < item->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(doc, p->value);
        if (kn && vn && kn->type == YAML_SCALAR_NODE && vn->type == YAML_SCALAR_NODE &&
            !strcmp(yscalar(kn), "name") && vn->data.scalar.length > 0 &&
            vn->data.scalar.length <= 32)
            snprintf(prefix, cap, "links[%s]", yscalar(vn));
    }
}

/* Keys a link of its type may not have or must have (`only`, `need`). */
static void link_type_keys(struct loader *L, const struct cfg_link *l, const char *prefix,
                           const unsigned lines[MAX_KEYS])
{
    unsigned bit = LT(l->type);
    for (size_t k = 0; k < cfg_link_nkeys; k++) {
        char kname[96];
        snprintf(kname, sizeof kname, "%s.%s", prefix, cfg_link_keys[k].key);
        if (lines[k] && cfg_link_keys[k].only && !(cfg_link_keys[k].only & bit))
            cfg_err_at(L, L->yfile, lines[k], kname, "not used by a %s link",
                       cfg_link_type_names[l->type]);
        else if (!lines[k] && (cfg_link_keys[k].need & bit))
            cfg_err_at(L, L->yfile, l->line, kname, "required for a %s link",
                       cfg_link_type_names[l->type]);
    }
}

/* Defaults that depend on the link's type or on the schedule section. */
static void link_defaults(struct loader *L, struct cfg_link *l,
                          const unsigned lines[MAX_KEYS])
{
    const struct cfg *c = L->c;
    unsigned bit = LT(l->type);
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
    if (lines[LK_ALLOW] && dialin_allow_parse(l->allow, &l->allow_net, aerr, sizeof aerr))
        cfg_err_at(L, L->yfile, lines[LK_ALLOW], "links.allow", "%s", aerr);
}

/* One item of the links list into links[i]. */
static void parse_link(struct loader *L, yaml_document_t *doc, yaml_node_t *seq, size_t i)
{
    yaml_node_t *item = yaml_document_get_node(doc, seq->data.sequence.items.start[i]);
    struct cfg_link *l = &L->c->links[i];
    l->line = item ? yline(item) : 0;
    l->type = (enum cfg_link_type) - 1;
    char prefix[64];
    link_prefix(doc, item, i, prefix, sizeof prefix);
    if (!item || item->type != YAML_MAPPING_NODE) {
        cfg_err_at(L, L->yfile, l->line, prefix, "expected a mapping of keys");
        return;
    }
    unsigned lines[MAX_KEYS];
    parse_section(L, doc, item, cfg_link_keys, cfg_link_nkeys, l, prefix, l->line, lines);
    if (!lines[LK_TYPE] || (unsigned)l->type > CFG_LINK_MODBUS_RTU)
        return; /* already reported; the per-type rules need a type */
    link_type_keys(L, l, prefix, lines);
    link_defaults(L, l, lines);
}

static void parse_links(struct loader *L, yaml_document_t *doc, yaml_node_t *seq)
{
    struct cfg *c = L->c;
    if (seq->type != YAML_SEQUENCE_NODE) {
        cfg_err_at(L, L->yfile, yline(seq), "links", "expected a list of links");
        return;
    }
    size_t n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    if (n == 0) {
        cfg_err_at(L, L->yfile, yline(seq), "links", "at least one link is required");
        return;
    }
    if (n > CFG_MAX_LINKS) {
        cfg_err_at(L, L->yfile, yline(seq), "links", "%zu links, at most %d", n,
                   CFG_MAX_LINKS);
        return;
    }
    c->links = calloc(n, sizeof *c->links);
    if (!c->links) {
        L->nomem = true;
        return;
    }
    c->n_links = n;
    for (size_t i = 0; i < n; i++)
        parse_link(L, doc, seq, i);

    /* Names are unique; one endpoint or device belongs to one link, else
     * two sessions would talk over one half-duplex line (DESIGN.md §3):
     * check_shared. */
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
            cfg_err_at(L, L->yfile, b->line, "links.name",
                       "duplicate link name '%s' (first at line %u)", b->name, a->line);
    }
    check_shared(L, n);
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

static void load_tz_offset(struct loader *L, unsigned line)
{
    struct cfg_headend *h = &L->c->headend;
    char err[200];
    int rc = *h->timezone
                 ? ah_tz_zone_offset(h->timezone, &h->tz_offset_s, err, sizeof err)
                 : ah_tz_local_offset(&h->tz_offset_s, err, sizeof err);
    if (rc)
        cfg_err_at(L, L->yfile, line, "headend.timezone", "%s", err);
    else if (h->tz_offset_s < -14 * 3600 || h->tz_offset_s > 14 * 3600)
        cfg_err_at(L, L->yfile, line, "headend.timezone", "UTC offset %d s beyond ±14 h",
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
        cfg_err_at(L, L->yfile,
                   val_lines[VK_CLOCK_SUSPECT] ? val_lines[VK_CLOCK_SUSPECT]
                                               : val_lines[VK_CLOCK_DRIFT],
                   "validation.clock_suspect_s", "%d must be above clock_drift_s (%d)",
                   v->clock_suspect_s, v->clock_drift_s);
    if (v->line_loss_min_pct >= v->line_loss_max_pct)
        cfg_err_at(
            L, L->yfile,
            val_lines[VK_LOSS_MIN] ? val_lines[VK_LOSS_MIN] : val_lines[VK_LOSS_MAX],
            "validation.line_loss_min_pct", "%g must be below line_loss_max_pct (%g)",
            v->line_loss_min_pct, v->line_loss_max_pct);
    /* A value already reported left its field unset: no second message. */
    if (L->d->n_errors == errors_before && vee_thresholds_check(v) != AH_OK)
        cfg_err_at(L, L->yfile, sec_line, "validation",
                   "thresholds rejected by the validator (vee_thresholds_check; "
                   "ranges in docs/validation.md)");
}

/* Read plan layers fit the interval (readplan_check); the lines of the
 * schedule's four keys follow its eight others in cfg_schedule_keys. */
static void check_read_plans(struct loader *L, unsigned sched_lines[MAX_KEYS])
{
    static const char *const keys[4] = {"read_plan", "read_plan_class_a",
                                        "read_plan_class_b", "read_plan_class_c"};
    const struct cfg *c = L->c;
    char err[200], kname[96];
    for (int i = 0; i < 4; i++) {
        snprintf(kname, sizeof kname, "schedule.%s", keys[i]);
        if (readplan_check(&c->schedule.read_plan[i], c->schedule.interval_min, err,
                           sizeof err) < 0)
            cfg_err_at(L, L->yfile, sched_lines[8 + i], kname, "%s", err);
    }
    for (size_t k = 0; k < c->n_links; k++) {
        snprintf(kname, sizeof kname, "links[%s].read_plan", c->links[k].name);
        if (readplan_check(&c->links[k].read_plan, c->schedule.interval_min, err,
                           sizeof err) < 0)
            cfg_err_at(L, L->yfile, c->links[k].line, kname, "%s", err);
    }
}

static void check_cross(struct loader *L, unsigned sched_lines[MAX_KEYS],
                        unsigned exp_lines[MAX_KEYS], unsigned sec_lines[MAX_KEYS],
                        unsigned sec_line)
{
    struct cfg *c = L->c;
    const struct cfg_schedule *s = &c->schedule;
    if (sched_lines[0] && 60 % s->interval_min)
        cfg_err_at(L, L->yfile, sched_lines[0], "schedule.interval_min",
                   "%d does not divide the hour", s->interval_min);
    if (s->stagger_s >= s->interval_min * 60)
        cfg_err_at(L, L->yfile, sched_lines[2], "schedule.stagger_s",
                   "%d s is not shorter than the %d min interval", s->stagger_s,
                   s->interval_min);
    if (!strcmp(c->export.pub, c->export.replay))
        cfg_err_at(L, L->yfile, exp_lines[1], "export.replay",
                   "same endpoint as export.pub");

    struct cfg_security *sec = &c->security;
    bool k = *sec->server_secret_key, d = *sec->client_keys_dir;
    if (k != d)
        cfg_err_at(L, L->yfile, sec_line,
                   k ? "security.client_keys_dir" : "security.server_secret_key",
                   "CURVE needs both server_secret_key and client_keys_dir");
    sec->enabled = k && d;
    struct stat st;
    if (k &&
        (!resolve_path(L->yfile, sec->server_secret_key, sizeof sec->server_secret_key) ||
         stat(sec->server_secret_key, &st) || !S_ISREG(st.st_mode)))
        cfg_err_at(L, L->yfile, sec_lines[0], "security.server_secret_key",
                   "%s is not a readable file", sec->server_secret_key);
    if (d &&
        (!resolve_path(L->yfile, sec->client_keys_dir, sizeof sec->client_keys_dir) ||
         stat(sec->client_keys_dir, &st) || !S_ISDIR(st.st_mode)))
        cfg_err_at(L, L->yfile, sec_lines[1], "security.client_keys_dir",
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
            cfg_err_at(L, L->yfile, met_line, "metrics.listen",
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
            cfg_err_at(L, L->yfile, exp_lines[i], names[i],
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
                cfg_err_at(L, L->yfile, (unsigned)ev.start_mark.line + 1, "yaml",
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

/* The top-level keys of root: each known section's node and key line. */
static void find_sections(struct loader *L, yaml_document_t *doc, yaml_node_t *root,
                          yaml_node_t *sec[SEC_N], unsigned sec_key_line[SEC_N])
{
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
         p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(doc, p->value);
        if (!kn || !vn)
            continue;
        if (kn->type != YAML_SCALAR_NODE) {
            cfg_err_at(L, L->yfile, yline(kn), "yaml", "key must be a plain word");
            continue;
        }
        int i = 0;
        while (i < SEC_N && strcmp(section_names[i], yscalar(kn)))
            i++;
        if (i == SEC_N)
            cfg_err_at(L, L->yfile, yline(kn), yscalar(kn), "unknown section");
        else if (sec[i])
            cfg_err_at(L, L->yfile, yline(kn), yscalar(kn),
                       "duplicate section (first at line %u)", sec_key_line[i]);
        else {
            sec[i] = vn;
            sec_key_line[i] = yline(kn);
        }
    }
}

/* `inventory: FILE`, resolved against the YAML's folder, then the CSV it
 * names with its checks (config.c). */
static void load_inventory_key(struct loader *L, yaml_node_t *inv)
{
    struct cfg *c = L->c;
    char err[200];
    if (!inv)
        cfg_err_at(L, L->yfile, 0, "inventory", "required key missing");
    else if (inv->type != YAML_SCALAR_NODE ||
             strlen(yscalar(inv)) != inv->data.scalar.length)
        cfg_err_at(L, L->yfile, yline(inv), "inventory", "expected a file name");
    else if (cfg_set_value(&cfg_inventory_key, yscalar(inv), c, err, sizeof err))
        cfg_err_at(L, L->yfile, yline(inv), "inventory", "%s", err);
    else if (!resolve_path(L->yfile, c->inventory, sizeof c->inventory))
        cfg_err_at(L, L->yfile, yline(inv), "inventory", "path too long");
    else if (c->links && !L->nomem) {
        cfg_load_inventory(L, yline(inv));
        if (!L->nomem) {
            cfg_check_inventory(L);
            cfg_check_vee_meters(L);
        }
    }
}

void cfg_load_yaml(struct loader *L, FILE *fp)
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
        cfg_err_at(L, L->yfile, (unsigned)parser.problem_mark.line + 1, "yaml", "%s%s%s",
                   parser.problem ? parser.problem : "syntax error",
                   parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        return;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || root->type != YAML_MAPPING_NODE) {
        cfg_err_at(L, L->yfile, root ? yline(root) : 1, "yaml",
                   root ? "the top level must be a mapping of sections"
                        : "empty configuration");
        goto out;
    }
    yaml_node_t *sec[SEC_N] = {0};
    unsigned sec_key_line[SEC_N] = {0};
    find_sections(L, &doc, root, sec, sec_key_line);

    unsigned lines[MAX_KEYS], sched_lines[MAX_KEYS], val_lines[MAX_KEYS],
        exp_lines[MAX_KEYS], sec_lines[MAX_KEYS];
    parse_section(L, &doc, sec[SEC_HEADEND], cfg_headend_keys, cfg_headend_nkeys,
                  &c->headend, "headend", sec_key_line[SEC_HEADEND], lines);
    if (!lines[1] || *c->headend.timezone) /* a refused zone is reported already */
        load_tz_offset(L, lines[1] ? lines[1] : sec_key_line[SEC_HEADEND]);
    parse_section(L, &doc, sec[SEC_STORAGE], cfg_storage_keys, cfg_storage_nkeys,
                  &c->storage, "storage", sec_key_line[SEC_STORAGE], lines);
    if (!resolve_path(L->yfile, c->storage.path, sizeof c->storage.path))
        cfg_err_at(L, L->yfile, lines[0], "storage.path", "path too long");
    parse_section(L, &doc, sec[SEC_SCHEDULE], cfg_schedule_keys, cfg_schedule_nkeys,
                  &c->schedule, "schedule", sec_key_line[SEC_SCHEDULE], sched_lines);
    parse_section(L, &doc, sec[SEC_EXPORT], cfg_export_keys, cfg_export_nkeys, &c->export,
                  "export", sec_key_line[SEC_EXPORT], exp_lines);
    parse_section(L, &doc, sec[SEC_SECURITY], cfg_security_keys, cfg_security_nkeys,
                  &c->security, "security", sec_key_line[SEC_SECURITY], sec_lines);
    parse_section(L, &doc, sec[SEC_METRICS], cfg_metrics_keys, cfg_metrics_nkeys,
                  &c->metrics, "metrics", sec_key_line[SEC_METRICS], lines);
    unsigned met_line = lines[0] ? lines[0] : sec_key_line[SEC_METRICS];
    size_t errors_before = L->d->n_errors;
    parse_section(L, &doc, sec[SEC_VALIDATION], cfg_validation_keys, cfg_validation_nkeys,
                  &c->validation, "validation", sec_key_line[SEC_VALIDATION], val_lines);
    check_validation(L, val_lines, sec_key_line[SEC_VALIDATION], errors_before);
    check_cross(L, sched_lines, exp_lines, sec_lines, sec_key_line[SEC_SECURITY]);
    check_ports(L, exp_lines, met_line);

    /* Links after schedule: they inherit its timeout and retries. */
    if (sec[SEC_LINKS])
        parse_links(L, &doc, sec[SEC_LINKS]);
    else
        cfg_err_at(L, L->yfile, 0, "links", "required section missing");
    check_read_plans(L, sched_lines);

    load_inventory_key(L, sec[SEC_INVENTORY]);
out:
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
}
