/*
 * config — amihead.yaml + meters.csv → struct cfg (see config.h).
 *
 * This file: the entry points, diagnostics, the inventory CSV (one row per
 * meter, read by the same cfg_set_value as the YAML keys) and its cross
 * checks. Key tables live in config_keys.c, the YAML document in
 * config_yaml.c (config_int.h lists what they share). Nothing here opens a
 * link, a socket or the store.
 */
#include "config_int.h"

#include "ah_err.h"
#include "vee_district.h"

#include <csv.h>

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

void cfg_err_at(struct loader *L, const char *file, unsigned line, const char *key,
                const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vadd(L->d, false, file, line, key, fmt, ap);
    va_end(ap);
}

/* ---- sorting ---------------------------------------------------------- */

/* Sorting pointers (not indices) keeps qsort free of global context; ties
 * fall back to file order, which is array order. */
int cfg_cmp_ptr_order(const void *x, const void *y)
{
    return (const char *)x < (const char *)y ? -1 : (const char *)x > (const char *)y;
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
    int col_key[CSV_COLS_MAX]; /* header column → cfg_meter_cols index */
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
        cfg_err_at(L, x->file, x->rec_line, "header", "%zu columns, expected %d", x->nf,
                   MC_N);
        x->header_bad = true;
        return;
    }
    for (size_t i = 0; i < x->nf; i++) {
        x->col_key[i] = -1;
        for (int k = 0; k < MC_N; k++)
            if (!strcmp(x->f[i], cfg_meter_cols[k].key))
                x->col_key[i] = k;
        if (x->col_key[i] < 0) {
            cfg_err_at(L, x->file, x->rec_line, "header", "unknown column '%s'", x->f[i]);
            x->header_bad = true;
        } else if (seen[x->col_key[i]]) {
            cfg_err_at(L, x->file, x->rec_line, "header", "column '%s' appears twice",
                       x->f[i]);
            x->header_bad = true;
        } else
            seen[x->col_key[i]] = true;
    }
    for (int k = 0; k < MC_N; k++)
        if (!seen[k]) {
            cfg_err_at(L, x->file, x->rec_line, "header", "missing column '%s'",
                       cfg_meter_cols[k].key);
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
_Static_assert(sizeof(void *) != 8 || sizeof(struct cfg_meter) == 96,
               "cfg_meter packing");

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

/* Each column of the row into r, through the column table's parsers.
 * present: the field is non-empty; has: it also parsed. Every bad field is
 * reported, not only the first; false when any was bad. */
static bool row_fields(struct csv_ctx *x, struct meter_row *r, bool *present, bool *has)
{
    struct loader *L = x->L;
    bool ok = true;
    char err[200];
    for (size_t i = 0; i < x->n_cols; i++) {
        const struct cfg_key *k = &cfg_meter_cols[x->col_key[i]];
        if (x->too_long[i]) {
            cfg_err_at(L, x->file, x->rec_line, k->key,
                       "value too long or holding a NUL byte");
            ok = false;
            continue;
        }
        if (!x->f[i][0]) {
            if (k->flags & CFG_REQ) {
                cfg_err_at(L, x->file, x->rec_line, k->key, "value missing");
                ok = false;
            }
            continue;
        }
        present[x->col_key[i]] = true;
        if (cfg_set_value(k, x->f[i], r, err, sizeof err)) {
            cfg_err_at(L, x->file, x->rec_line, k->key, "%s", err);
            ok = false;
        } else
            has[x->col_key[i]] = true;
    }
    return ok;
}

/* The columns a protocol needs and those it must leave empty: a DL/T 645
 * meter is addressed by address, a Modbus one by unit_id and map. */
static bool row_proto_fits(struct csv_ctx *x, const struct meter_row *r,
                           const struct cfg_link *lk, const bool *present)
{
    struct loader *L = x->L;
    const char *F = x->file;
    unsigned ln = x->rec_line;
    const char *pn = cfg_proto_names[r->m.proto];
    bool ok = true;
    if (lk && !link_fits(r->m.proto, lk->type)) {
        cfg_err_at(L, F, ln, "protocol", "%s meter on %s link '%s'", pn,
                   cfg_link_type_name(lk->type), lk->name);
        ok = false;
    }
    if (cfg_proto_is_dlt645(r->m.proto)) {
        if (!present[MC_ADDR]) {
            cfg_err_at(L, F, ln, "address", "required for a %s meter", pn);
            ok = false;
        }
        if (present[MC_UNIT] || present[MC_MAP]) {
            cfg_err_at(L, F, ln, present[MC_UNIT] ? "unit_id" : "map",
                       "must be empty for a %s meter", pn);
            ok = false;
        }
    } else {
        if (present[MC_ADDR]) {
            cfg_err_at(L, F, ln, "address", "must be empty for a modbus meter");
            ok = false;
        }
        if (!present[MC_UNIT] || !present[MC_MAP]) {
            cfg_err_at(L, F, ln, !present[MC_UNIT] ? "unit_id" : "map",
                       "required for a modbus meter");
            ok = false;
        }
    }
    return ok;
}

/* Rules across columns, only where the columns themselves parsed (a bad
 * link name is one error, not one per rule that needs the link). *lk: the
 * meter's link, NULL when the link column did not parse. */
static bool row_cross_check(struct csv_ctx *x, const struct meter_row *r,
                            const bool *present, const bool *has,
                            const struct cfg_link **lk)
{
    struct loader *L = x->L;
    bool ok = true;
    *lk = NULL;
    if (has[MC_LINK]) {
        *lk = cfg_link_find(L->c, r->link);
        if (!*lk) {
            cfg_err_at(L, x->file, x->rec_line, "link", "unknown link '%s'", r->link);
            ok = false;
        }
    }
    if (has[MC_PROTO] && !row_proto_fits(x, r, *lk, present))
        ok = false;
    if (r->m.rated_current > 0 && r->m.max_current > 0 &&
        r->m.max_current < r->m.rated_current) {
        cfg_err_at(L, x->file, x->rec_line, "max_current",
                   "Imax %g A below rated current Ib %g A", r->m.max_current,
                   r->m.rated_current);
        ok = false;
    }
    return ok;
}

/* A good row joins the inventory; the table grows by doubling up to
 * CFG_MAX_METERS, and a failure stops the file (x->stop). */
static void row_append(struct csv_ctx *x, struct meter_row *r, const struct cfg_link *lk)
{
    struct loader *L = x->L;
    struct cfg *c = L->c;
    if (c->n_meters == CFG_MAX_METERS) {
        cfg_err_at(L, x->file, x->rec_line, "row", "more than %d meters", CFG_MAX_METERS);
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
    r->m.link = (size_t)(lk - c->links);
    r->m.id = strs_add(c, r->id);
    r->m.district = district_intern(L, r->district);
    if (!r->m.id || !r->m.district) {
        L->nomem = true;
        x->stop = true;
        return;
    }
    c->meters[c->n_meters++] = r->m;
}

/* One inventory row: its fields, then the rules across them, then the
 * table; a row with any error is reported whole and not added. */
static void csv_row(struct csv_ctx *x)
{
    if (x->nf != x->n_cols) {
        cfg_err_at(x->L, x->file, x->rec_line, "row", "%zu fields, the header has %zu",
                   x->nf, x->n_cols);
        return;
    }
    struct meter_row r;
    memset(&r, 0, sizeof r);
    r.m.line = x->rec_line;
    bool present[MC_N] = {0}, has[MC_N] = {0};
    const struct cfg_link *lk;
    bool ok = row_fields(x, &r, present, has);
    if (!row_cross_check(x, &r, present, has, &lk))
        ok = false;
    if (ok)
        row_append(x, &r, lk);
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

void cfg_load_inventory(struct loader *L, unsigned yaml_line)
{
    const char *F = L->c->inventory;
    FILE *fp = fopen(F, "r");
    if (!fp) {
        cfg_err_at(L, L->yfile, yaml_line, "inventory", "cannot open %s: %s", F,
                   strerror(errno));
        return;
    }
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode) ||
        st.st_size > CSV_FILE_MAX) {
        cfg_err_at(L, L->yfile, yaml_line, "inventory",
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
            cfg_err_at(L, F, x->line, "csv", "line longer than %d bytes",
                       CSV_LINE_MAX - 1);
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
            cfg_err_at(L, F, x->line, "csv", "%s", csv_strerror(csv_error(&p)));
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
        cfg_err_at(L, F, x->rec_line, "csv", "%s", csv_strerror(csv_error(&p)));
    if (!x->have_header && !L->nomem)
        cfg_err_at(L, F, 1, "header", "the header line is missing (empty inventory)");
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
    return r ? r : cfg_cmp_ptr_order(p, q);
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
    return cfg_cmp_ptr_order(p, q);
}

static int cmp_meter_district(const void *a, const void *b)
{
    METER_PAIR(a, b);
    int r = strcmp(p->district, q->district);
    return r ? r : cfg_cmp_ptr_order(p, q);
}

/* Meter ids are unique: c->by_id sorted by id (the lookup table it stays),
 * every repeat reported at its own line. */
static void inv_check_ids(struct loader *L)
{
    struct cfg *c = L->c;
    size_t n = c->n_meters;
    for (size_t i = 0; i < n; i++)
        c->by_id[i] = &c->meters[i];
    qsort(c->by_id, n, sizeof *c->by_id, cmp_meter_id);
    for (size_t i = 1; i < n; i++) {
        const struct cfg_meter *a = c->by_id[i - 1];
        const struct cfg_meter *b = c->by_id[i];
        if (!strcmp(a->id, b->id))
            cfg_err_at(L, c->inventory, b->line, "meter_id",
                       "duplicate meter id '%s' (first at line %u)", b->id, a->line);
    }
}

/* Two meters answering to one address on one bus would both reply. ix: n
 * slots of scratch. */
static void inv_check_bus(struct loader *L, const struct cfg_meter **ix)
{
    struct cfg *c = L->c;
    const char *F = c->inventory;
    size_t n = c->n_meters;
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
            cfg_err_at(L, F, b->line, "unit_id",
                       "unit %d already used on link '%s' by meter '%s' (line %u)",
                       b->unit_id, c->links[b->link].name, a->id, a->line);
        else {
            char t[13];
            dlt645_addr_format(&b->addr, t);
            cfg_err_at(L, F, b->line, "address",
                       "%s already used on link '%s' by meter '%s' (line %u)", t,
                       c->links[b->link].name, a->id, a->line);
        }
    }
}

/* Line loss needs the transformer's own meter: two make the loss ambiguous
 * (error); none only disables line loss for that district, collection
 * still works, so it is a warning. Counts the districts. ix: scratch. */
static void inv_check_districts(struct loader *L, const struct cfg_meter **ix)
{
    struct cfg *c = L->c;
    const char *F = c->inventory;
    size_t n = c->n_meters;
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
                    cfg_err_at(
                        L, F, m->line, "role",
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
}

/* Meters per link; a link no meter uses is a warning at its YAML line. */
static void inv_count_links(struct loader *L)
{
    struct cfg *c = L->c;
    for (size_t i = 0; i < c->n_meters; i++)
        c->links[c->meters[i].link].n_meters++;
    for (size_t i = 0; i < c->n_links; i++)
        if (!c->links[i].n_meters)
            cfg_diag_add(L->d, true, L->yfile, c->links[i].line, "links.name",
                         "no meter in %s uses link '%s'", c->inventory, c->links[i].name);
}

void cfg_check_inventory(struct loader *L)
{
    struct cfg *c = L->c;
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
    inv_check_ids(L);
    inv_check_bus(L, ix);
    inv_check_districts(L, ix);
    free((void *)ix);
    inv_count_links(L);
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
void cfg_check_vee_meters(struct loader *L)
{
    const struct cfg *c = L->c;
    if (c->schedule.interval_min < 1 || 60 % c->schedule.interval_min)
        return; /* reported on schedule.interval_min; every row would repeat it */
    struct vee_meter_info vi;
    for (size_t i = 0; i < c->n_meters; i++)
        if (cfg_vee_meter_info(c, &c->meters[i], &vi) != AH_OK)
            cfg_err_at(L, c->inventory, c->meters[i].line, "row",
                       "ratings rejected by the validator (vee_meter_info_check)");
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
        cfg_err_at(&L, path, 0, "config", "cannot open: %s", strerror(errno));
    else {
        cfg_load_yaml(&L, fp);
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
