/*
 * report — one self-contained HTML page over a range of local days (see
 * report.h). Three passes over the store: the newest stored interval (so a
 * report of today does not call the future a gap), every meter's reads
 * (collection, backfill, outages, clock drift), then the events (district
 * days, anomalies, gaps that left the backfill window).
 */
#include "report.h"

#include "ah_clock.h"
#include "ah_date.h"
#include "ah_err.h"
#include "config.h"
#include "vee.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- output ------------------------------------------------------------ */

struct rep {
    struct ah_buf *b;
    int err;
};

static void out(struct rep *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out(struct rep *r, const char *fmt, ...)
{
    if (r->err)
        return;
    char small[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        r->err = AH_EINVAL;
        return;
    }
    if ((size_t)n < sizeof small) {
        r->err = ah_buf_append(r->b, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        r->err = AH_ENOMEM;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    r->err = ah_buf_append(r->b, big, (size_t)n);
    free(big);
}

/* Text from the config or the store into HTML (element or attribute). */
static void esc(struct rep *r, const char *s)
{
    for (; s && *s && !r->err; s++) {
        switch (*s) {
        case '<': out(r, "&lt;"); break;
        case '>': out(r, "&gt;"); break;
        case '&': out(r, "&amp;"); break;
        case '"': out(r, "&quot;"); break;
        case '\'': out(r, "&#39;"); break;
        default: r->err = ah_buf_append(r->b, s, 1);
        }
    }
}

/* "<tr>" and one left-aligned, escaped text cell per t[i]; the caller adds
 * the number cells and "</tr>". */
static void row_start(struct rep *r, const char *const *t, size_t n)
{
    out(r, "<tr>");
    for (size_t i = 0; i < n; i++) {
        out(r, "<td class=\"l\">");
        esc(r, t[i]);
        out(r, "</td>");
    }
}

static const char *const palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                      "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                                      "#bcbd22", "#17becf"};
#define NPAL (sizeof palette / sizeof palette[0])

/* local wall time of UTC s as "MM-DD hh:mm" / "YYYY-MM-DD" */
static void fmt_local(int64_t utc_s, int64_t tz, bool with_time, char *buf, size_t cap)
{
    struct ah_date t;
    ah_date_from_s(utc_s + tz, &t);
    if (with_time)
        snprintf(buf, cap, "%02d-%02d %02d:%02d", t.mon, t.day, t.hour, t.min);
    else
        snprintf(buf, cap, "%04lld-%02d-%02d", (long long)t.year, t.mon, t.day);
}

/* ---- charts ------------------------------------------------------------ */

#define CW 900.0 /* chart width, user units */
#define CH 280.0
#define ML 56.0
#define MR 170.0
#define MT 16.0
#define MB 36.0

struct series {
    const char *name;
    const double *v; /* nb values; NAN = nothing to show */
};

static double sx(size_t i, size_t nb)
{
    double w = CW - ML - MR;
    return nb > 1 ? ML + w * (double)i / (double)(nb - 1) : ML + w / 2;
}

static double sy(double v, double lo, double hi)
{
    if (v < lo)
        v = lo;
    if (v > hi)
        v = hi;
    return MT + (hi - v) / (hi - lo) * (CH - MT - MB);
}

static void chart_open(struct rep *r, const char *id, const char *title, size_t n,
                       const char *what)
{
    out(r,
        "<figure><figcaption>%s</figcaption>\n<svg class=\"chart\" id=\"%s\" "
        "data-%s=\"%zu\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" "
        "xmlns=\"http://www.w3.org/2000/svg\" role=\"img\">\n",
        title, id, what, n, CW, CH, CW, CH);
}

static void axes(struct rep *r, size_t nb, const char *const *xl, double lo, double hi,
                 bool pct)
{
    for (int k = 0; k <= 4; k++) {
        double v = lo + (hi - lo) * k / 4;
        double y = sy(v, lo, hi);
        out(r,
            "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
            "<text class=\"ylab\" x=\"%.1f\" y=\"%.1f\">%.*f%s</text>\n",
            ML, y, CW - MR, y, ML - 4, y + 4, pct ? 2 : 1, pct ? v * 100 : v,
            pct ? "%" : "");
    }
    size_t every = nb > 8 ? (nb + 7) / 8 : 1;
    for (size_t i = 0; i < nb; i += every)
        out(r, "<text class=\"xlab\" x=\"%.1f\" y=\"%.1f\">%s</text>\n", sx(i, nb),
            CH - MB + 16, xl[i]);
}

static void chart_lines(struct rep *r, const char *id, const char *title,
                        const struct series *s, size_t ns, size_t nb, const char *const *xl,
                        double lo, double hi, bool pct, const double *hl, size_t nh)
{
    chart_open(r, id, title, ns, "series");
    axes(r, nb, xl, lo, hi, pct);
    for (size_t k = 0; k < nh; k++)
        out(r,
            "<line class=\"threshold\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
            "<text class=\"thlab\" x=\"%.1f\" y=\"%.1f\">limit %.1f%%</text>\n",
            ML, sy(hl[k], lo, hi), CW - MR, sy(hl[k], lo, hi), ML + 4,
            sy(hl[k], lo, hi) - 4, hl[k]);
    for (size_t j = 0; j < ns; j++) {
        const char *col = palette[j % NPAL];
        out(r, "<g class=\"series\" data-name=\"");
        esc(r, s[j].name);
        out(r, "\" stroke=\"%s\" fill=\"%s\"><polyline fill=\"none\" points=\"", col, col);
        for (size_t i = 0; i < nb; i++)
            if (!isnan(s[j].v[i]))
                out(r, "%.1f,%.1f ", sx(i, nb), sy(s[j].v[i], lo, hi));
        out(r, "\"/>");
        for (size_t i = 0; i < nb; i++)
            if (!isnan(s[j].v[i]))
                out(r, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\"/>", sx(i, nb),
                    sy(s[j].v[i], lo, hi));
        out(r, "<text class=\"legend\" x=\"%.1f\" y=\"%.1f\" stroke=\"none\">", CW - MR + 10,
            MT + 14.0 * (double)(j + 1));
        esc(r, s[j].name);
        out(r, "</text></g>\n");
    }
    out(r, "</svg></figure>\n");
}

/* ---- data -------------------------------------------------------------- */

struct cnt {
    uint64_t exp, got;
};

struct meter_sum {
    uint32_t missing, backfilled;
    bool has_clock;
    double drift_s; /* largest |meter − head-end| seen, with its sign */
};

struct pass {
    int64_t start, step;
    size_t n_iv;
    uint8_t *st; /* per interval of the meter in hand: 0 none, 1 live, 2 backfill */
    struct meter_sum *ms;
    uint64_t newest;
};

static int on_newest(void *ctx, uint32_t meter, uint64_t end, const struct store_rec *rec)
{
    (void)meter;
    (void)rec;
    struct pass *p = ctx;
    if (end > p->newest)
        p->newest = end;
    return 0;
}

static int on_read(void *ctx, uint32_t meter, uint64_t end, const struct store_rec *rec)
{
    (void)meter;
    struct pass *p = ctx;
    int64_t off = (int64_t)end - p->start;
    if (off <= 0 || off % p->step)
        return 0;
    size_t k = (size_t)(off / p->step) - 1;
    if (k >= p->n_iv)
        return 0;
    p->st[k] = rec->source == STORE_REC_LIVE ? 1 : 2;
    if (rec->present & STORE_REC_HAS_METER_CLOCK) {
        double d = (double)(rec->meter_clock_ms - rec->headend_clock_ms) / 1000.0;
        if (!p->ms->has_clock || fabs(d) > fabs(p->ms->drift_s))
            p->ms->drift_s = d;
        p->ms->has_clock = true;
    }
    return 0;
}

struct ev_ctx {
    json_t **lists;
    int64_t from_day, to_day;
};

static int on_event(void *ctx, uint64_t t, uint32_t meter, uint16_t type,
                    const uint8_t *bytes, size_t len)
{
    (void)t;
    (void)meter;
    (void)type;
    struct ev_ctx *e = ctx;
    json_t **lists = e->lists; /* daily, anomalies, gaps */
    json_t *o = json_loadb((const char *)bytes, len, 0, NULL);
    if (!o)
        return 0; /* an event that does not parse is not the report's business */
    const char *ty = json_string_value(json_object_get(o, "type"));
    json_int_t dn = json_integer_value(json_object_get(o, "day_number"));
    if (ty && !strcmp(ty, "DAILY")) {
        if (dn >= e->from_day && dn <= e->to_day) /* a day before the range ends in it */
            json_array_append(lists[0], o);
    }
    else if (json_object_get(o, "state"))
        json_array_append(lists[1], o);
    else if (ty && !strcmp(ty, "GAP"))
        json_array_append(lists[2], o);
    json_decref(o);
    return 0;
}

static size_t name_index(const char **names, size_t *n, const char *name)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp(names[i], name))
            return i;
    names[*n] = name;
    return (*n)++;
}

static const char *jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* ---- the page ---------------------------------------------------------- */

static const char css[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}"
    "h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ccc;margin-top:32px}"
    "table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;"
    "padding:3px 8px;text-align:right}th{background:#f3f3f3}td.l,th.l{text-align:left}"
    "figure{margin:8px 0}figcaption{font-weight:600;margin-bottom:4px}"
    ".grid{stroke:#e5e5e5}.threshold{stroke:#d62728;stroke-dasharray:6 4}"
    ".ylab{font-size:11px;text-anchor:end;fill:#555}.xlab{font-size:11px;"
    "text-anchor:middle;fill:#555}.legend,.thlab{font-size:12px}.live{fill:#2ca02c}"
    ".backfill{fill:#ff7f0e}.missing{fill:#d62728}.outage{fill:#d62728}"
    ".drift{fill:#9467bd}.bad{color:#b00;font-weight:600}.summary td{text-align:left}"
    ".note{color:#666}";

int report_render(const struct cfg *c, store_t *st, int64_t from_day, int64_t to_day,
                  struct ah_buf *b)
{
    struct rep R = {b, 0}, *r = &R;
    int64_t tz = c->headend.tz_offset_s;
    int64_t step = (int64_t)c->schedule.interval_min * 60;
    int64_t days = to_day - from_day + 1;
    if (days < 1 || days > REPORT_MAX_DAYS || step <= 0)
        return AH_EINVAL;
    int64_t start = from_day * 86400 - tz, end = (to_day + 1) * 86400 - tz;
    size_t n_iv = (size_t)((end - start) / step);
    int64_t bucket_s = days <= 2 ? 3600 : 86400;
    size_t per_b = (size_t)(bucket_s / step ? bucket_s / step : 1);
    size_t nb = (n_iv + per_b - 1) / per_b;
    size_t nm = c->n_meters, nl = c->n_links;
    struct vee_thresholds thr;
    if (cfg_vee_thresholds(c, &thr) != AH_OK)
        return AH_EINVAL;

    int rc = AH_ENOMEM;
    struct pass P = {start, step, n_iv, NULL, NULL, 0};
    const char **dnames = calloc(nm + 1, sizeof *dnames);
    size_t *dist_of = calloc(nm + 1, sizeof *dist_of);
    uint32_t *midx = calloc(nm + 1, sizeof *midx);
    bool *known = calloc(nm + 1, sizeof *known);
    struct meter_sum *ms = calloc(nm + 1, sizeof *ms);
    struct cnt *dc = calloc((nm + 1) * nb, sizeof *dc);
    struct cnt *lc = calloc((nl + 1) * nb, sizeof *lc);
    uint64_t(*gb)[3] = calloc(nb, sizeof *gb); /* live, backfill, missing */
    uint32_t *llive = calloc((nl + 1) * n_iv, sizeof *llive);
    uint32_t *lback = calloc((nl + 1) * n_iv, sizeof *lback);
    size_t *lmeters = calloc(nl + 1, sizeof *lmeters);
    P.st = malloc(n_iv);
    json_t *lists[3] = {json_array(), json_array(), json_array()};
    char **xl = calloc(nb + 1, sizeof *xl);
    double *vals = calloc((nm + nl + 1) * (nb + (size_t)days + 1), sizeof *vals);
    struct series *ser = calloc(nm + nl + 1, sizeof *ser);
    if (!dnames || !dist_of || !midx || !known || !ms || !dc || !lc || !gb || !llive ||
        !lback || !lmeters || !P.st || !lists[0] || !lists[1] || !lists[2] || !xl ||
        !vals || !ser)
        goto out;
    size_t nd = 0;
    for (size_t i = 0; i < nm; i++) {
        dist_of[i] = name_index(dnames, &nd, c->meters[i].district);
        lmeters[c->meters[i].link]++;
        known[i] = store_meter_index(st, c->meters[i].id, false, &midx[i]) == AH_OK;
    }
    /* pass 1: the newest interval stored, the report's horizon */
    for (size_t i = 0; i < nm; i++)
        if (known[i] && (rc = store_reads_each(st, midx[i], (uint64_t)start + 1,
                                               (uint64_t)end + 1, on_newest, &P)) != AH_OK)
            goto out;
    size_t due = P.newest > (uint64_t)start ? (size_t)(((int64_t)P.newest - start) / step)
                                            : 0; /* intervals 0..due-1 are due */
    if (due > n_iv)
        due = n_iv;
    /* pass 2: every meter's reads */
    for (size_t i = 0; i < nm; i++) {
        memset(P.st, 0, n_iv);
        P.ms = &ms[i];
        if (known[i] && (rc = store_reads_each(st, midx[i], (uint64_t)start + 1,
                                               (uint64_t)end + 1, on_read, &P)) != AH_OK)
            goto out;
        size_t li = c->meters[i].link, di = dist_of[i];
        for (size_t k = 0; k < due; k++) {
            size_t bk = k / per_b;
            dc[di * nb + bk].exp++;
            lc[li * nb + bk].exp++;
            if (P.st[k]) {
                dc[di * nb + bk].got++;
                lc[li * nb + bk].got++;
            }
            gb[bk][P.st[k] == 1 ? 0 : P.st[k] == 2 ? 1 : 2]++;
            ms[i].missing += !P.st[k];
            ms[i].backfilled += P.st[k] == 2;
            llive[li * n_iv + k] += (uint32_t)(P.st[k] == 1);
            lback[li * n_iv + k] += (uint32_t)(P.st[k] == 2);
        }
    }
    /* pass 3: events stamped inside the range (a district day at its end) */
    struct ev_ctx ec = {lists, from_day, to_day};
    rc = store_events_each(st, (uint64_t)start, (uint64_t)end + 1, on_event, &ec);
    if (rc != AH_OK)
        goto out;
    rc = AH_ENOMEM;

    uint64_t tot_exp = 0, tot_got = 0;
    for (size_t k = 0; k < nb; k++) {
        tot_exp += gb[k][0] + gb[k][1] + gb[k][2];
        tot_got += gb[k][0] + gb[k][1];
    }
    char d0[40], d1[40];
    fmt_local(start, tz, false, d0, sizeof d0);
    fmt_local(end - 1, tz, false, d1, sizeof d1);
    out(r, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
           "<title>amihead report ");
    esc(r, c->headend.id);
    out(r, " %s%s%s</title><style>%s</style></head><body>\n", d0, days > 1 ? " .. " : "",
        days > 1 ? d1 : "", css);
    out(r, "<h1>amihead report: ");
    esc(r, c->headend.id);
    out(r, ", %s%s%s</h1>\n", d0, days > 1 ? " .. " : "", days > 1 ? d1 : "");
    out(r,
        "<table class=\"summary\" id=\"table-summary\" data-rows=\"5\">"
        "<tr><th class=\"l\">local days</th><td>%s .. %s (UTC%+lld:%02lld)</td></tr>"
        "<tr><th class=\"l\">meters / links / districts</th><td>%zu / %zu / %zu</td></tr>"
        "<tr><th class=\"l\">intervals due</th><td>%llu (%zu per meter, every %lld "
        "min)</td></tr>"
        "<tr><th class=\"l\">collected</th><td>%llu (%.4f %%)</td></tr>"
        "<tr><th class=\"l\">anomaly transitions / district days</th><td>%zu / "
        "%zu</td></tr></table>\n",
        d0, d1, (long long)(tz / 3600), (long long)(llabs(tz) % 3600 / 60), nm, nl, nd,
        (unsigned long long)tot_exp, due, (long long)(step / 60),
        (unsigned long long)tot_got,
        tot_exp ? 100.0 * (double)tot_got / (double)tot_exp : 100.0,
        json_array_size(lists[1]), json_array_size(lists[0]));

    /* ---- collection over time */
    for (size_t k = 0; k < nb; k++) {
        xl[k] = malloc(40);
        if (!xl[k])
            goto out;
        fmt_local(start + (int64_t)(k * per_b) * step, tz, bucket_s < 86400, xl[k], 40);
    }
    double lo = 1.0;
    for (size_t j = 0; j < nd + nl; j++) {
        ser[j].name = j < nd ? dnames[j] : c->links[j - nd].name;
        double *v = vals + j * nb;
        ser[j].v = v;
        const struct cnt *cc = j < nd ? &dc[j * nb] : &lc[(j - nd) * nb];
        for (size_t k = 0; k < nb; k++) {
            v[k] = cc[k].exp ? (double)cc[k].got / (double)cc[k].exp : NAN;
            if (!isnan(v[k]) && v[k] < lo)
                lo = v[k];
        }
    }
    lo = lo > 0.95 ? 0.95 : floor(lo * 10) / 10;
    out(r, "<h2 id=\"collection\">Collection ratio</h2>\n<p class=\"note\">Share of the "
           "intervals due that are stored, per %s; backfilled reads count.</p>\n",
        bucket_s < 86400 ? "hour" : "day");
    chart_lines(r, "chart-collection-district", "Per district", ser, nd, nb,
                (const char *const *)xl, lo, 1.0, true, NULL, 0);
    size_t nlm = 0;
    for (size_t j = 0; j < nl; j++)
        if (lmeters[j])
            ser[nd + nlm++] = ser[nd + j];
    chart_lines(r, "chart-collection-link", "Per link", ser + nd, nlm, nb,
                (const char *const *)xl, lo, 1.0, true, NULL, 0);

    /* ---- gaps and backfill */
    out(r, "<h2 id=\"gaps\">Gaps and backfill</h2>\n");
    chart_open(r, "chart-gaps", "Intervals per bucket: live, backfilled, missing", nb,
               "buckets");
    uint64_t gmax = 1;
    for (size_t k = 0; k < nb; k++)
        if (gb[k][0] + gb[k][1] + gb[k][2] > gmax)
            gmax = gb[k][0] + gb[k][1] + gb[k][2];
    axes(r, nb, (const char *const *)xl, 0, (double)gmax, false);
    double bw = (CW - ML - MR) / (double)(nb ? nb : 1) * 0.7;
    for (size_t k = 0; k < nb; k++) {
        double y = sy(0, 0, (double)gmax);
        out(r, "<g class=\"bucket\">");
        static const char *const cls[3] = {"live", "backfill", "missing"};
        for (int q = 0; q < 3; q++) {
            if (!gb[k][q])
                continue;
            double h = (double)gb[k][q] / (double)gmax * (CH - MT - MB);
            y -= h;
            out(r,
                "<rect class=\"bar %s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                "height=\"%.1f\"><title>%s %s: %llu</title></rect>",
                cls[q], sx(k, nb) - bw / 2, y, bw, h, xl[k], cls[q],
                (unsigned long long)gb[k][q]);
        }
        out(r, "</g>\n");
    }
    out(r, "</svg></figure>\n");
    /* worst first: most missing, then most backfilled; the first
     * REPORT_GAP_ROWS (a first start backfills every meter) */
    size_t ngm = 0;
    size_t *worst = calloc(nm + 1, sizeof *worst);
    if (!worst)
        goto out;
    for (size_t i = 0; i < nm; i++)
        if (ms[i].missing || ms[i].backfilled)
            worst[ngm++] = i;
    for (size_t i = 1; i < ngm; i++)
        for (size_t j = i; j > 0; j--) {
            const struct meter_sum *a = &ms[worst[j]], *z = &ms[worst[j - 1]];
            if (a->missing < z->missing ||
                (a->missing == z->missing && a->backfilled <= z->backfilled))
                break;
            size_t t = worst[j];
            worst[j] = worst[j - 1];
            worst[j - 1] = t;
        }
    size_t shown = ngm < REPORT_GAP_ROWS ? ngm : REPORT_GAP_ROWS;
    out(r,
        "<table id=\"table-gaps\" data-rows=\"%zu\" data-total=\"%zu\"><tr>"
        "<th class=\"l\">meter</th><th class=\"l\">district</th><th class=\"l\">link</th>"
        "<th>missing</th><th>backfilled</th></tr>\n",
        shown, ngm);
    for (size_t w = 0; w < shown; w++) {
        size_t i = worst[w];
        const char *t[] = {c->meters[i].id, c->meters[i].district,
                           c->links[c->meters[i].link].name};
        row_start(r, t, 3);
        out(r, "<td%s>%u</td><td>%u</td></tr>\n", ms[i].missing ? " class=\"bad\"" : "",
            ms[i].missing, ms[i].backfilled);
    }
    out(r, "</table>\n");
    if (shown < ngm)
        out(r, "<p class=\"note\">… and %zu more meters with backfilled intervals "
               "(amihead stats, amihead query).</p>\n", ngm - shown);
    free(worst);
    size_t ng = json_array_size(lists[2]);
    out(r,
        "<p>Gaps announced (intervals that left the backfill window unread):</p>"
        "<table id=\"table-gap-events\" data-rows=\"%zu\"><tr><th class=\"l\">meter</th>"
        "<th class=\"l\">first</th><th class=\"l\">last</th><th>intervals</th></tr>\n",
        ng);
    for (size_t i = 0; i < ng; i++) {
        json_t *o = json_array_get(lists[2], i);
        const char *t[] = {jstr(o, "meter"), jstr(o, "first"), jstr(o, "last")};
        row_start(r, t, 3);
        out(r, "<td>%lld</td></tr>\n",
            (long long)json_integer_value(json_object_get(o, "intervals")));
    }
    out(r, "</table>\n");

    /* ---- line loss */
    size_t ndaily = json_array_size(lists[0]);
    double *lv = vals + (nd + nl) * nb;
    double llo = thr.line_loss_min_pct - 1, lhi = thr.line_loss_max_pct + 2;
    char **dl = calloc((size_t)days + 1, sizeof *dl);
    if (!dl)
        goto out;
    for (int64_t d = 0; d < days; d++) {
        dl[d] = malloc(40);
        if (!dl[d]) {
            for (int64_t e = 0; e < d; e++)
                free(dl[e]);
            free(dl);
            goto out;
        }
        fmt_local(start + d * 86400, tz, false, dl[d], 40);
    }
    for (size_t j = 0; j < nd; j++) {
        ser[j].name = dnames[j];
        ser[j].v = lv + j * (size_t)days;
        for (int64_t d = 0; d < days; d++)
            lv[j * (size_t)days + (size_t)d] = NAN;
    }
    for (size_t i = 0; i < ndaily; i++) {
        json_t *o = json_array_get(lists[0], i);
        json_t *l = json_object_get(o, "loss_pct");
        const char *day = jstr(o, "day");
        for (size_t j = 0; l && j < nd; j++) {
            if (strcmp(dnames[j], jstr(o, "district")) != 0)
                continue;
            for (int64_t d = 0; d < days; d++)
                if (!strcmp(dl[d], day)) {
                    double v = json_number_value(l);
                    lv[j * (size_t)days + (size_t)d] = v;
                    if (v - 1 < llo)
                        llo = floor(v - 1);
                    if (v + 1 > lhi)
                        lhi = ceil(v + 1);
                }
        }
    }
    out(r, "<h2 id=\"lineloss\">Line loss per district and day</h2>\n<p class=\"note\">"
           "(district energy − customers' energy) / district energy; limits %.1f %% .. "
           "%.1f %% (validation.line_loss_min_pct / _max_pct).</p>\n",
        thr.line_loss_min_pct, thr.line_loss_max_pct);
    double hl[2] = {thr.line_loss_min_pct, thr.line_loss_max_pct};
    chart_lines(r, "chart-lineloss", "Loss rate, %", ser, nd, (size_t)days,
                (const char *const *)dl, llo, lhi, false, hl, 2);
    for (int64_t d = 0; d < days; d++)
        free(dl[d]);
    free(dl);
    size_t nswing = 0;
    for (size_t i = 0; i < ndaily; i++)
        nswing += json_array_size(json_object_get(json_array_get(lists[0], i), "customers"));
    out(r,
        "<table id=\"table-lineloss\" data-rows=\"%zu\"><tr><th class=\"l\">district</th>"
        "<th class=\"l\">day</th><th>complete</th><th>collected / expected</th>"
        "<th>district kWh</th><th>customers kWh</th><th>loss %%</th>"
        "<th class=\"l\">flags</th></tr>\n",
        ndaily);
    for (size_t i = 0; i < ndaily; i++) {
        json_t *o = json_array_get(lists[0], i);
        json_t *l = json_object_get(o, "loss_pct");
        json_t *fl = json_object_get(o, "flags");
        const char *t[] = {jstr(o, "district"), jstr(o, "day")};
        row_start(r, t, 2);
        out(r, "<td>%s</td><td>%lld / %lld</td><td>%.2f</td><td>%.2f</td>",
            json_is_true(json_object_get(o, "complete")) ? "yes" : "no",
            (long long)json_integer_value(json_object_get(o, "collected")),
            (long long)json_integer_value(json_object_get(o, "expected")),
            (double)json_integer_value(json_object_get(o, "district_energy")) / 100.0,
            (double)json_integer_value(json_object_get(o, "customers_energy")) / 100.0);
        if (l)
            out(r, "<td%s>%.2f</td>", json_array_size(fl) ? " class=\"bad\"" : "",
                json_number_value(l));
        else
            out(r, "<td>–</td>");
        out(r, "<td class=\"l\">");
        for (size_t f = 0; f < json_array_size(fl); f++) {
            out(r, "%s", f ? ", " : "");
            esc(r, json_string_value(json_array_get(fl, f)));
        }
        out(r, "</td></tr>\n");
    }
    out(r, "</table>\n<p>Customers listed for a swing (largest change against their "
           "month):</p>\n");
    out(r,
        "<table id=\"table-swing\" data-rows=\"%zu\"><tr><th class=\"l\">district</th>"
        "<th class=\"l\">day</th><th class=\"l\">meter</th><th>kWh</th>"
        "<th>previous kWh</th><th>change kWh</th></tr>\n",
        nswing);
    for (size_t i = 0; i < ndaily; i++) {
        json_t *o = json_array_get(lists[0], i), *cu = json_object_get(o, "customers");
        for (size_t k = 0; k < json_array_size(cu); k++) {
            json_t *m = json_array_get(cu, k);
            const char *t[] = {jstr(o, "district"), jstr(o, "day"), jstr(m, "meter")};
            row_start(r, t, 3);
            out(r, "<td>%.2f</td><td>%.2f</td><td>%+.2f</td></tr>\n",
                (double)json_integer_value(json_object_get(m, "energy")) / 100.0,
                (double)json_integer_value(json_object_get(m, "previous")) / 100.0,
                (double)json_integer_value(json_object_get(m, "change")) / 100.0);
        }
    }
    out(r, "</table>\n");

    /* ---- anomalies */
    size_t na = json_array_size(lists[1]);
    out(r,
        "<h2 id=\"anomalies\">Anomalies</h2>\n<p class=\"note\">Episode transitions with "
        "their evidence: value and threshold in the rule's unit, aux as the rule "
        "defines it (docs/validation.md).</p>\n<table id=\"table-anomalies\" "
        "data-rows=\"%zu\"><tr><th class=\"l\">at</th><th class=\"l\">meter</th>"
        "<th class=\"l\">district</th><th class=\"l\">rule</th><th class=\"l\">state</th>"
        "<th class=\"l\">since</th><th>value</th><th>threshold</th><th>aux</th></tr>\n",
        na);
    for (size_t i = 0; i < na; i++) {
        json_t *o = json_array_get(lists[1], i), *aux = json_object_get(o, "aux");
        const char *t[] = {jstr(o, "at"), jstr(o, "meter"), jstr(o, "district")};
        row_start(r, t, 3);
        out(r, "<td class=\"l%s\">", !strcmp(jstr(o, "state"), "start") ? " bad" : "");
        esc(r, jstr(o, "type"));
        out(r, "</td>");
        const char *t2[] = {jstr(o, "state"), jstr(o, "since")};
        for (size_t k = 0; k < 2; k++) {
            out(r, "<td class=\"l\">");
            esc(r, t2[k]);
            out(r, "</td>");
        }
        out(r, "<td>%lld</td><td>%lld</td><td>%lld, %lld, %lld</td></tr>\n",
            (long long)json_integer_value(json_object_get(o, "value")),
            (long long)json_integer_value(json_object_get(o, "threshold")),
            (long long)json_integer_value(json_array_get(aux, 0)),
            (long long)json_integer_value(json_array_get(aux, 1)),
            (long long)json_integer_value(json_array_get(aux, 2)));
    }
    out(r, "</table>\n");

    /* ---- clock drift: meters off by a minute or more, worst first */
    size_t *order = calloc(nm + 1, sizeof *order), ndr = 0;
    if (!order)
        goto out;
    for (size_t i = 0; i < nm; i++)
        if (ms[i].has_clock && fabs(ms[i].drift_s) >= 60)
            order[ndr++] = i;
    for (size_t i = 1; i < ndr; i++) /* insertion sort: a handful of meters */
        for (size_t j = i; j > 0 && fabs(ms[order[j]].drift_s) > fabs(ms[order[j - 1]].drift_s);
             j--) {
            size_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    size_t nclock = 0;
    for (size_t i = 0; i < nm; i++)
        nclock += ms[i].has_clock;
    out(r, "<h2 id=\"drift\">Clock drift</h2>\n<p class=\"note\">Meters whose clock was "
           "60 s or more off the head-end's at a read (%zu of %zu meters with a clock "
           "read); a read is flagged CLOCK_DRIFT beyond %d s.</p>\n",
        ndr, nclock, thr.clock_drift_s);
    double dmax = 60;
    for (size_t i = 0; i < ndr; i++)
        if (fabs(ms[order[i]].drift_s) > dmax)
            dmax = fabs(ms[order[i]].drift_s);
    double dh = ndr ? 22.0 * (double)ndr + MT + MB : 60;
    out(r,
        "<figure><figcaption>Largest offset per meter, s</figcaption>\n<svg class=\"chart\" "
        "id=\"chart-drift\" data-bars=\"%zu\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" "
        "height=\"%.0f\" xmlns=\"http://www.w3.org/2000/svg\" role=\"img\">\n",
        ndr, CW, dh, CW, dh);
    for (size_t i = 0; i < ndr; i++) {
        const struct meter_sum *m = &ms[order[i]];
        double w = fabs(m->drift_s) / dmax * (CW - 2 * ML - MR);
        double y = MT + 22.0 * (double)i;
        out(r, "<text class=\"ylab\" x=\"%.1f\" y=\"%.1f\">", 2 * ML - 4, y + 14);
        esc(r, c->meters[order[i]].id);
        out(r,
            "</text><rect class=\"bar drift\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
            "height=\"16\"/><text class=\"legend\" x=\"%.1f\" y=\"%.1f\">%+.0f s</text>\n",
            2 * ML, y, w, 2 * ML + w + 4, y + 13, m->drift_s);
    }
    out(r, "</svg></figure>\n<table id=\"table-drift\" data-rows=\"%zu\"><tr>"
           "<th class=\"l\">meter</th><th class=\"l\">district</th><th>offset s</th></tr>\n",
        ndr);
    for (size_t i = 0; i < ndr; i++) {
        const char *t[] = {c->meters[order[i]].id, c->meters[order[i]].district};
        row_start(r, t, 2);
        out(r, "<td%s>%+.0f</td></tr>\n",
            fabs(ms[order[i]].drift_s) > thr.clock_drift_s ? " class=\"bad\"" : "",
            ms[order[i]].drift_s);
    }
    out(r, "</table>\n");
    free(order);

    /* ---- link outages: due intervals in which no meter of the link was
     * read live (whatever backfill recovered afterwards) */
    /* the head-end was running at k when some link was read live then: a
     * day recovered by the first start's backfill is no outage */
    bool *running = calloc(n_iv + 1, sizeof *running);
    if (!running)
        goto out;
    for (size_t li = 0; li < nl; li++)
        for (size_t k = 0; k < due; k++)
            running[k] = running[k] || llive[li * n_iv + k];
#define DOWN(li, k) (running[k] && !llive[(li) * n_iv + (k)])
    size_t nout = 0, nlanes = 0;
    for (size_t li = 0; li < nl; li++)
        for (size_t k = 0; lmeters[li] && k < due; k++)
            if (DOWN(li, k) && (k == 0 || !DOWN(li, k - 1)))
                nout++;
    for (size_t li = 0; li < nl; li++)
        nlanes += lmeters[li] > 0;
    out(r, "<h2 id=\"outages\">Link outages</h2>\n<p class=\"note\">Runs of intervals in "
           "which the head-end ran (another link was read live) but no meter of the link "
           "was read in its own cycle.</p>\n");
    double lh = 26.0 * (double)nlanes + MT + MB;
    out(r,
        "<figure><figcaption>Outages per link</figcaption>\n<svg class=\"chart\" "
        "id=\"chart-outages\" data-outages=\"%zu\" viewBox=\"0 0 %.0f %.0f\" "
        "width=\"%.0f\" height=\"%.0f\" xmlns=\"http://www.w3.org/2000/svg\" role=\"img\">\n",
        nout, CW, lh, CW, lh);
    size_t lane = 0;
    double x0 = ML + 40, xw = CW - ML - 40 - MR;
    for (size_t li = 0; li < nl; li++) {
        if (!lmeters[li])
            continue;
        double y = MT + 26.0 * (double)lane++;
        out(r, "<g class=\"lane\" data-link=\"");
        esc(r, c->links[li].name);
        out(r, "\"><text class=\"ylab\" x=\"%.1f\" y=\"%.1f\">", x0 - 4, y + 14);
        esc(r, c->links[li].name);
        out(r,
            "</text><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"18\" "
            "fill=\"#eef6ee\"/>",
            x0, y, xw);
        for (size_t k = 0; k < due; k++) {
            if (!DOWN(li, k) || (k && DOWN(li, k - 1)))
                continue;
            size_t e = k;
            while (e + 1 < due && DOWN(li, e + 1))
                e++;
            out(r,
                "<rect class=\"outage\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                "height=\"18\"/>",
                x0 + xw * (double)k / (double)n_iv, y,
                fmax(2.0, xw * (double)(e - k + 1) / (double)n_iv));
        }
        out(r, "</g>\n");
    }
    for (size_t k = 0; k < nb; k += nb > 8 ? (nb + 7) / 8 : 1)
        out(r, "<text class=\"xlab\" x=\"%.1f\" y=\"%.1f\">%s</text>\n",
            x0 + xw * (double)(k * per_b) / (double)n_iv, lh - MB + 16, xl[k]);
    out(r, "</svg></figure>\n<table id=\"table-outages\" data-rows=\"%zu\"><tr>"
           "<th class=\"l\">link</th><th class=\"l\">from (interval end)</th>"
           "<th class=\"l\">to</th><th>intervals</th><th>meters</th>"
           "<th>reads backfilled</th><th>reads still missing</th></tr>\n",
        nout);
    for (size_t li = 0; li < nl; li++) {
        for (size_t k = 0; lmeters[li] && k < due; k++) {
            if (!DOWN(li, k) || (k && DOWN(li, k - 1)))
                continue;
            size_t e = k;
            uint64_t back = lback[li * n_iv + k];
            while (e + 1 < due && DOWN(li, e + 1))
                back += lback[li * n_iv + ++e];
            uint64_t want = (uint64_t)(e - k + 1) * lmeters[li];
            char a[40], z[40];
            fmt_local(start + (int64_t)(k + 1) * step, tz, true, a, sizeof a);
            fmt_local(start + (int64_t)(e + 1) * step, tz, true, z, sizeof z);
            out(r, "<tr><td class=\"l\">");
            esc(r, c->links[li].name);
            out(r,
                "</td><td class=\"l\">%s</td><td class=\"l\">%s</td><td>%zu</td>"
                "<td>%zu</td><td>%llu</td><td%s>%llu</td></tr>\n",
                a, z, e - k + 1, lmeters[li], (unsigned long long)back,
                want > back ? " class=\"bad\"" : "", (unsigned long long)(want - back));
        }
    }
#undef DOWN
    free(running);
    out(r, "</table>\n<p class=\"note\">Made by amihead from its store; times are local "
           "(headend.timezone). No script, no network.</p>\n</body></html>\n");
    rc = R.err;
out:
    for (size_t k = 0; xl && k < nb; k++)
        free(xl[k]);
    free(xl);
    free(vals);
    free(ser);
    for (int q = 0; q < 3; q++)
        json_decref(lists[q]);
    free(P.st);
    free(lmeters);
    free(lback);
    free(llive);
    free(gb);
    free(lc);
    free(dc);
    free(ms);
    free(known);
    free(midx);
    free(dist_of);
    free(dnames);
    return rc;
}

/* ---- days -------------------------------------------------------------- */

static int parse_day(const char *s, size_t n, int64_t *day)
{
    char buf[32];
    if (n != 10)
        return AH_EINVAL;
    memcpy(buf, s, n);
    memcpy(buf + n, "T00:00:00Z", 11);
    int64_t ms;
    if (ah_time_parse(buf, &ms) != AH_OK || ms % 86400000)
        return AH_EINVAL;
    char back[40]; /* a date that does not exist (02-30) must not roll over */
    ah_time_format(ms, back, sizeof back);
    if (strncmp(back, s, 10) != 0)
        return AH_EINVAL;
    *day = ms / 86400000;
    return AH_OK;
}

int report_parse_days(const char *spec, int64_t *from_day, int64_t *to_day)
{
    if (!spec)
        return AH_EINVAL;
    const char *dots = strstr(spec, "..");
    int rc = parse_day(spec, dots ? (size_t)(dots - spec) : strlen(spec), from_day);
    if (rc)
        return rc;
    *to_day = *from_day;
    if (dots && (rc = parse_day(dots + 2, strlen(dots + 2), to_day)) != AH_OK)
        return rc;
    if (*to_day < *from_day)
        return AH_EINVAL;
    return *to_day - *from_day + 1 > REPORT_MAX_DAYS ? AH_ERANGE : AH_OK;
}
