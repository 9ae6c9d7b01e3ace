/*
 * report_page — the report's HTML (see report_int.h): output with escaping,
 * one table writer for every table, inline SVG charts, and one function per
 * section of the page, in page order. Nothing here reads the store.
 */
#include "report_int.h"

#include "ah_date.h"
#include "report.h"
#include "ah_clock.h"
#include "ah_err.h"
#include "vee_district.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- output ------------------------------------------------------------ */

struct rep {
    struct ah_buf *b;
    int err;
};

static void out(struct rep *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
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
        case '<':
            out(r, "&lt;");
            break;
        case '>':
            out(r, "&gt;");
            break;
        case '&':
            out(r, "&amp;");
            break;
        case '"':
            out(r, "&quot;");
            break;
        case '\'':
            out(r, "&#39;");
            break;
        default:
            r->err = ah_buf_append(r->b, s, 1);
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
void report_fmt_local(int64_t utc_s, int64_t tz, bool with_time, char *buf, size_t cap)
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
                        const struct series *s, size_t ns, size_t nb,
                        const char *const *xl, double lo, double hi, bool pct,
                        const double *hl, size_t nh)
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
        out(r, "\" stroke=\"%s\" fill=\"%s\"><polyline fill=\"none\" points=\"", col,
            col);
        for (size_t i = 0; i < nb; i++)
            if (!isnan(s[j].v[i]))
                out(r, "%.1f,%.1f ", sx(i, nb), sy(s[j].v[i], lo, hi));
        out(r, "\"/>");
        for (size_t i = 0; i < nb; i++)
            if (!isnan(s[j].v[i]))
                out(r, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\"/>", sx(i, nb),
                    sy(s[j].v[i], lo, hi));
        out(r, "<text class=\"legend\" x=\"%.1f\" y=\"%.1f\" stroke=\"none\">",
            CW - MR + 10, MT + 14.0 * (double)(j + 1));
        esc(r, s[j].name);
        out(r, "</text></g>\n");
    }
    out(r, "</svg></figure>\n");
}

/* An event's time as its body wrote it (ISO 8601 UTC, pipe_ev). */
struct evtime {
    char s[32];
};

static struct evtime evtime(int64_t utc_s)
{
    struct evtime t;
    ah_time_format(utc_s * 1000, t.s, sizeof t.s);
    return t;
}

static const char *nz(const char *s)
{
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

/* One table's opening: its id, data-rows (and data-total unless it is
 * SIZE_MAX) and a head row; text columns are left-aligned. Every table of the
 * page but the summary opens here, so their markup cannot drift apart. */
struct col {
    const char *head;
    bool text;
};

static void table_open(struct rep *r, const char *id, size_t rows, size_t total,
                       const struct col *cols, size_t n)
{
    out(r, "<table id=\"%s\" data-rows=\"%zu\"", id, rows);
    if (total != SIZE_MAX)
        out(r, " data-total=\"%zu\"", total);
    out(r, "><tr>");
    for (size_t i = 0; i < n; i++)
        out(r, "<th%s>%s</th>", cols[i].text ? " class=\"l\"" : "", cols[i].head);
    out(r, "</tr>\n");
}

#define NCOLS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- sections ------------------------------------------------------------ */

static void put_head(struct rep *r, const struct view *v)
{
    const struct cfg *c = v->c;
    uint64_t tot_exp = 0, tot_got = 0;
    for (size_t k = 0; k < v->nb; k++) {
        tot_exp += v->gb[k][0] + v->gb[k][1] + v->gb[k][2];
        tot_got += v->gb[k][0] + v->gb[k][1];
    }
    char d0[40], d1[40];
    report_fmt_local(v->start, v->tz, false, d0, sizeof d0);
    report_fmt_local(v->end - 1, v->tz, false, d1, sizeof d1);
    const char *sep = v->days > 1 ? " .. " : "", *last = v->days > 1 ? d1 : "";
    out(r, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
           "<title>amihead report ");
    esc(r, c->headend.id);
    out(r, " %s%s%s</title><style>%s</style></head><body>\n", d0, sep, last, css);
    out(r, "<h1>amihead report: ");
    esc(r, c->headend.id);
    out(r, ", %s%s%s</h1>\n", d0, sep, last);
    out(r,
        "<table class=\"summary\" id=\"table-summary\" data-rows=\"5\">"
        "<tr><th class=\"l\">local days</th><td>%s .. %s (UTC%+lld:%02lld)</td></tr>"
        "<tr><th class=\"l\">meters / links / districts</th><td>%zu / %zu / %zu</td></tr>"
        "<tr><th class=\"l\">intervals due</th><td>%llu (%zu per meter, every %lld "
        "min)</td></tr>"
        "<tr><th class=\"l\">collected</th><td>%llu (%.4f %%)</td></tr>"
        "<tr><th class=\"l\">anomaly transitions / district days</th><td>%zu / "
        "%zu</td></tr></table>\n",
        d0, d1, (long long)(v->tz / 3600), (long long)(llabs(v->tz) % 3600 / 60), v->nm,
        v->nl, v->nd, (unsigned long long)tot_exp, v->due, (long long)(v->step / 60),
        (unsigned long long)tot_got,
        tot_exp ? 100.0 * (double)tot_got / (double)tot_exp : 100.0, v->lists[1].n,
        v->lists[0].n);
}

static void put_collection(struct rep *r, const struct view *v)
{
    size_t nd = v->nd, nb = v->nb;
    double lo = 1.0;
    for (size_t j = 0; j < nd + v->nl; j++) {
        v->ser[j].name = j < nd ? v->dnames[j] : v->c->links[j - nd].name;
        double *val = v->vals + j * nb;
        v->ser[j].v = val;
        const struct cnt *cc = j < nd ? &v->dc[j * nb] : &v->lc[(j - nd) * nb];
        for (size_t k = 0; k < nb; k++) {
            val[k] = cc[k].exp ? (double)cc[k].got / (double)cc[k].exp : NAN;
            if (!isnan(val[k]) && val[k] < lo)
                lo = val[k];
        }
    }
    lo = lo > 0.95 ? 0.95 : floor(lo * 10) / 10;
    out(r,
        "<h2 id=\"collection\">Collection ratio</h2>\n<p class=\"note\">Share of the "
        "intervals due that are stored, per %s; backfilled reads count.</p>\n",
        v->bucket_s < 86400 ? "hour" : "day");
    chart_lines(r, "chart-collection-district", "Per district", v->ser, nd, nb,
                (const char *const *)v->xl, lo, 1.0, true, NULL, 0);
    size_t nlm = 0;
    for (size_t j = 0; j < v->nl; j++)
        if (v->lmeters[j])
            v->ser[nd + nlm++] = v->ser[nd + j];
    chart_lines(r, "chart-collection-link", "Per link", v->ser + nd, nlm, nb,
                (const char *const *)v->xl, lo, 1.0, true, NULL, 0);
}

static void put_gaps_chart(struct rep *r, const struct view *v)
{
    size_t nb = v->nb;
    out(r, "<h2 id=\"gaps\">Gaps and backfill</h2>\n");
    chart_open(r, "chart-gaps", "Intervals per bucket: live, backfilled, missing", nb,
               "buckets");
    uint64_t gmax = 1;
    for (size_t k = 0; k < nb; k++)
        if (v->gb[k][0] + v->gb[k][1] + v->gb[k][2] > gmax)
            gmax = v->gb[k][0] + v->gb[k][1] + v->gb[k][2];
    axes(r, nb, (const char *const *)v->xl, 0, (double)gmax, false);
    double bw = (CW - ML - MR) / (double)(nb ? nb : 1) * 0.7;
    static const char *const cls[3] = {"live", "backfill", "missing"};
    for (size_t k = 0; k < nb; k++) {
        double y = sy(0, 0, (double)gmax);
        out(r, "<g class=\"bucket\">");
        for (int q = 0; q < 3; q++) {
            if (!v->gb[k][q])
                continue;
            double h = (double)v->gb[k][q] / (double)gmax * (CH - MT - MB);
            y -= h;
            out(r,
                "<rect class=\"bar %s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                "height=\"%.1f\"><title>%s %s: %llu</title></rect>",
                cls[q], sx(k, nb) - bw / 2, y, bw, h, v->xl[k], cls[q],
                (unsigned long long)v->gb[k][q]);
        }
        out(r, "</g>\n");
    }
    out(r, "</svg></figure>\n");
}

/* Meters with a missing or backfilled interval, worst first (most missing,
 * then most backfilled); the first REPORT_GAP_ROWS (a first start
 * backfills every meter). Then the gaps announced. */
static int put_gap_tables(struct rep *r, const struct view *v)
{
    const struct cfg *c = v->c;
    const struct meter_sum *ms = v->ms;
    size_t ngm = 0;
    size_t *worst = calloc(v->nm + 1, sizeof *worst);
    if (!worst)
        return AH_ENOMEM;
    for (size_t i = 0; i < v->nm; i++)
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
    static const struct col gap_cols[] = {{"meter", true},
                                          {"district", true},
                                          {"link", true},
                                          {"missing", false},
                                          {"backfilled", false}};
    table_open(r, "table-gaps", shown, ngm, gap_cols, NCOLS(gap_cols));
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
        out(r,
            "<p class=\"note\">… and %zu more meters with backfilled intervals "
            "(amihead stats, amihead query).</p>\n",
            ngm - shown);
    free(worst);
    size_t ng = v->lists[2].n;
    out(r, "<p>Gaps announced (intervals that left the backfill window unread):</p>");
    static const struct col ev_cols[] = {
        {"meter", true}, {"first", true}, {"last", true}, {"intervals", false}};
    table_open(r, "table-gap-events", ng, SIZE_MAX, ev_cols, NCOLS(ev_cols));
    for (size_t i = 0; i < ng; i++) {
        const struct pipe_ev_gap *g = &v->lists[2].e[i].u.gap;
        struct evtime first = evtime(g->first), last = evtime(g->last);
        const char *t[] = {g->meter, first.s, last.s};
        row_start(r, t, 3);
        out(r, "<td>%lld</td></tr>\n", (long long)g->intervals);
    }
    out(r, "</table>\n");
    return AH_OK;
}

/* Per district and day, the loss rate against its limits. */
static int put_lineloss_chart(struct rep *r, const struct view *v)
{
    int64_t days = v->days;
    size_t nd = v->nd, ndaily = v->lists[0].n;
    double *lv = v->vals + (nd + v->nl) * v->nb;
    double llo = v->thr.line_loss_min_pct - 1, lhi = v->thr.line_loss_max_pct + 2;
    char **dl = calloc((size_t)days + 1, sizeof *dl);
    if (!dl)
        return AH_ENOMEM;
    int rc = AH_OK;
    for (int64_t d = 0; d < days && rc == AH_OK; d++) {
        if (!(dl[d] = malloc(40)))
            rc = AH_ENOMEM;
        else
            report_fmt_local(v->start + d * 86400, v->tz, false, dl[d], 40);
    }
    for (size_t j = 0; j < nd && rc == AH_OK; j++) {
        v->ser[j].name = v->dnames[j];
        v->ser[j].v = lv + j * (size_t)days;
        for (int64_t d = 0; d < days; d++)
            lv[j * (size_t)days + (size_t)d] = NAN;
    }
    for (size_t i = 0; i < ndaily && rc == AH_OK; i++) {
        const struct pipe_ev *ev = &v->lists[0].e[i];
        const struct pipe_ev_day *o = &ev->u.day;
        for (size_t j = 0; o->loss_valid && j < nd; j++) {
            if (strcmp(v->dnames[j], o->district) != 0)
                continue;
            for (int64_t d = 0; d < days; d++)
                if (!strcmp(dl[d], ev->date)) {
                    double x = o->loss_pct;
                    lv[j * (size_t)days + (size_t)d] = x;
                    if (x - 1 < llo)
                        llo = floor(x - 1);
                    if (x + 1 > lhi)
                        lhi = ceil(x + 1);
                }
        }
    }
    if (rc == AH_OK) {
        out(r,
            "<h2 id=\"lineloss\">Line loss per district and day</h2>\n<p class=\"note\">"
            "(district energy − customers' energy) / district energy; limits %.1f %% .. "
            "%.1f %% (validation.line_loss_min_pct / _max_pct).</p>\n",
            v->thr.line_loss_min_pct, v->thr.line_loss_max_pct);
        double hl[2] = {v->thr.line_loss_min_pct, v->thr.line_loss_max_pct};
        chart_lines(r, "chart-lineloss", "Loss rate, %", v->ser, nd, (size_t)days,
                    (const char *const *)dl, llo, lhi, false, hl, 2);
    }
    for (int64_t d = 0; d < days; d++)
        free(dl[d]);
    free(dl);
    return rc;
}

static void put_lineloss_row(struct rep *r, const struct pipe_ev *ev)
{
    const struct pipe_ev_day *o = &ev->u.day;
    const char *t[] = {o->district, ev->date};
    row_start(r, t, 2);
    out(r, "<td>%s</td><td>%lld / %lld</td><td>%.2f</td><td>%.2f</td>",
        o->complete ? "yes" : "no", (long long)o->collected, (long long)o->expected,
        (double)o->district_energy / 100.0, (double)o->customers_energy / 100.0);
    if (o->loss_valid)
        out(r, "<td%s>%.2f</td>", o->flags ? " class=\"bad\"" : "", o->loss_pct);
    else
        out(r, "<td>–</td>");
    out(r, "<td class=\"l\">");
    const char *sep = "";
    for (uint32_t f = 1; f <= VEE_DIST_PARTIAL; f <<= 1)
        if (o->flags & f) {
            out(r, "%s", sep);
            esc(r, pipe_ev_day_flag_name(f));
            sep = ", ";
        }
    out(r, "</td></tr>\n");
}

/* The district days, then the customers listed for a swing. */
static void put_lineloss_tables(struct rep *r, const struct view *v)
{
    const struct pipe_ev *daily = v->lists[0].e;
    size_t ndaily = v->lists[0].n, nswing = 0;
    for (size_t i = 0; i < ndaily; i++)
        nswing += daily[i].u.day.nmovers;
    static const struct col day_cols[] = {
        {"district", true},      {"day", true},
        {"complete", false},     {"collected / expected", false},
        {"district kWh", false}, {"customers kWh", false},
        {"loss %", false},       {"flags", true}};
    table_open(r, "table-lineloss", ndaily, SIZE_MAX, day_cols, NCOLS(day_cols));
    for (size_t i = 0; i < ndaily; i++)
        put_lineloss_row(r, &daily[i]);
    out(r, "</table>\n<p>Customers listed for a swing (largest change against their "
           "month):</p>\n");
    static const struct col swing_cols[] = {
        {"district", true}, {"day", true},           {"meter", true},
        {"kWh", false},     {"previous kWh", false}, {"change kWh", false}};
    table_open(r, "table-swing", nswing, SIZE_MAX, swing_cols, NCOLS(swing_cols));
    for (size_t i = 0; i < ndaily; i++) {
        const struct pipe_ev_day *o = &daily[i].u.day;
        for (size_t k = 0; k < o->nmovers; k++) {
            const struct pipe_ev_mover *m = &o->movers[k];
            const char *t[] = {o->district, daily[i].date, m->meter};
            row_start(r, t, 3);
            out(r, "<td>%.2f</td><td>%.2f</td><td>%+.2f</td></tr>\n",
                (double)m->energy / 100.0, (double)m->previous / 100.0,
                (double)m->change / 100.0);
        }
    }
    out(r, "</table>\n");
}

static void put_anomalies(struct rep *r, const struct view *v)
{
    size_t na = v->lists[1].n;
    out(r,
        "<h2 id=\"anomalies\">Anomalies</h2>\n<p class=\"note\">Episode transitions with "
        "their evidence: value and threshold in the rule's unit, aux as the rule "
        "defines it (docs/validation.md).</p>\n");
    static const struct col cols[] = {
        {"at", true},     {"meter", true},      {"district", true},
        {"rule", true},   {"state", true},      {"since", true},
        {"value", false}, {"threshold", false}, {"aux", false}};
    table_open(r, "table-anomalies", na, SIZE_MAX, cols, NCOLS(cols));
    for (size_t i = 0; i < na; i++) {
        const struct pipe_ev *ev = &v->lists[1].e[i];
        /* a link's outage has no meter, district or evidence: blank, 0 */
        static const struct pipe_ev_rule none;
        const struct pipe_ev_rule *o = ev->kind == PIPE_EVK_RULE ? &ev->u.rule : &none;
        bool started =
            ev->kind == PIPE_EVK_RULE ? o->started : ev->type == PIPE_EV_LINK_DOWN;
        int64_t since = ev->kind == PIPE_EVK_RULE ? o->since : ev->u.link.since;
        struct evtime at = evtime(ev->kind == PIPE_EVK_RULE ? o->at : ev->u.link.at),
                      from = evtime(since);
        const char *t[] = {at.s, nz(o->meter), nz(o->district)};
        row_start(r, t, 3);
        out(r, "<td class=\"l%s\">", started ? " bad" : "");
        esc(r, ev->name);
        out(r, "</td>");
        const char *t2[] = {started ? "start" : "cleared", from.s};
        for (size_t k = 0; k < 2; k++) {
            out(r, "<td class=\"l\">");
            esc(r, t2[k]);
            out(r, "</td>");
        }
        out(r, "<td>%lld</td><td>%lld</td><td>%lld, %lld, %lld</td></tr>\n",
            (long long)o->value, (long long)o->threshold, (long long)o->aux[0],
            (long long)o->aux[1], (long long)o->aux[2]);
    }
    out(r, "</table>\n");
}

/* Meters off by a minute or more, worst first. */
static int put_drift(struct rep *r, const struct view *v)
{
    const struct meter_sum *ms = v->ms;
    size_t *order = calloc(v->nm + 1, sizeof *order), ndr = 0, nclock = 0;
    if (!order)
        return AH_ENOMEM;
    for (size_t i = 0; i < v->nm; i++) {
        if (ms[i].has_clock && fabs(ms[i].drift_s) >= 60)
            order[ndr++] = i;
        nclock += ms[i].has_clock;
    }
    for (size_t i = 1; i < ndr; i++) /* insertion sort: a handful of meters */
        for (size_t j = i;
             j > 0 && fabs(ms[order[j]].drift_s) > fabs(ms[order[j - 1]].drift_s); j--) {
            size_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    out(r,
        "<h2 id=\"drift\">Clock drift</h2>\n<p class=\"note\">Meters whose clock was "
        "60 s or more off the head-end's at a read (%zu of %zu meters with a clock "
        "read); a read is flagged CLOCK_DRIFT beyond %d s.</p>\n",
        ndr, nclock, v->thr.clock_drift_s);
    double dmax = 60;
    for (size_t i = 0; i < ndr; i++)
        if (fabs(ms[order[i]].drift_s) > dmax)
            dmax = fabs(ms[order[i]].drift_s);
    double dh = ndr ? 22.0 * (double)ndr + MT + MB : 60;
    out(r,
        "<figure><figcaption>Largest offset per meter, s</figcaption>\n<svg "
        "class=\"chart\" "
        "id=\"chart-drift\" data-bars=\"%zu\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" "
        "height=\"%.0f\" xmlns=\"http://www.w3.org/2000/svg\" role=\"img\">\n",
        ndr, CW, dh, CW, dh);
    for (size_t i = 0; i < ndr; i++) {
        const struct meter_sum *m = &ms[order[i]];
        double w = fabs(m->drift_s) / dmax * (CW - 2 * ML - MR);
        double y = MT + 22.0 * (double)i;
        out(r, "<text class=\"ylab\" x=\"%.1f\" y=\"%.1f\">", 2 * ML - 4, y + 14);
        esc(r, v->c->meters[order[i]].id);
        out(r,
            "</text><rect class=\"bar drift\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
            "height=\"16\"/><text class=\"legend\" x=\"%.1f\" y=\"%.1f\">%+.0f "
            "s</text>\n",
            2 * ML, y, w, 2 * ML + w + 4, y + 13, m->drift_s);
    }
    out(r, "</svg></figure>\n");
    static const struct col cols[] = {
        {"meter", true}, {"district", true}, {"offset s", false}};
    table_open(r, "table-drift", ndr, SIZE_MAX, cols, NCOLS(cols));
    for (size_t i = 0; i < ndr; i++) {
        const char *t[] = {v->c->meters[order[i]].id, v->c->meters[order[i]].district};
        row_start(r, t, 2);
        out(r, "<td%s>%+.0f</td></tr>\n",
            fabs(ms[order[i]].drift_s) > v->thr.clock_drift_s ? " class=\"bad\"" : "",
            ms[order[i]].drift_s);
    }
    out(r, "</table>\n");
    free(order);
    return AH_OK;
}

/* ---- link outages: due intervals in which the head-end ran (some link was
 * read live then: a day recovered by the first start's backfill is no
 * outage) but no meter of the link was read live, whatever backfill
 * recovered afterwards */

static bool down(const struct view *v, const bool *running, size_t li, size_t k)
{
    return running[k] && !v->llive[li * v->n_iv + k];
}

/* The run of down intervals starting at k of link li (k starts one): its
 * last interval, or SIZE_MAX when k does not start a run. */
static size_t run_at(const struct view *v, const bool *running, size_t li, size_t k)
{
    if (!v->lmeters[li] || !down(v, running, li, k) || (k && down(v, running, li, k - 1)))
        return SIZE_MAX;
    size_t e = k;
    while (e + 1 < v->due && down(v, running, li, e + 1))
        e++;
    return e;
}

static void put_outage_chart(struct rep *r, const struct view *v, const bool *running,
                             size_t nout)
{
    size_t nlanes = 0, lane = 0;
    for (size_t li = 0; li < v->nl; li++)
        nlanes += v->lmeters[li] > 0;
    out(r, "<h2 id=\"outages\">Link outages</h2>\n<p class=\"note\">Runs of intervals in "
           "which the head-end ran (another link was read live) but no meter of the link "
           "was read in its own cycle.</p>\n");
    double lh = 26.0 * (double)nlanes + MT + MB;
    out(r,
        "<figure><figcaption>Outages per link</figcaption>\n<svg class=\"chart\" "
        "id=\"chart-outages\" data-outages=\"%zu\" viewBox=\"0 0 %.0f %.0f\" "
        "width=\"%.0f\" height=\"%.0f\" xmlns=\"http://www.w3.org/2000/svg\" "
        "role=\"img\">\n",
        nout, CW, lh, CW, lh);
    double x0 = ML + 40, xw = CW - ML - 40 - MR, n_iv = (double)v->n_iv;
    for (size_t li = 0; li < v->nl; li++) {
        if (!v->lmeters[li])
            continue;
        double y = MT + 26.0 * (double)lane++;
        out(r, "<g class=\"lane\" data-link=\"");
        esc(r, v->c->links[li].name);
        out(r, "\"><text class=\"ylab\" x=\"%.1f\" y=\"%.1f\">", x0 - 4, y + 14);
        esc(r, v->c->links[li].name);
        out(r,
            "</text><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"18\" "
            "fill=\"#eef6ee\"/>",
            x0, y, xw);
        for (size_t k = 0, e; k < v->due; k++)
            if ((e = run_at(v, running, li, k)) != SIZE_MAX)
                out(r,
                    "<rect class=\"outage\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                    "height=\"18\"/>",
                    x0 + xw * (double)k / n_iv, y,
                    fmax(2.0, xw * (double)(e - k + 1) / n_iv));
        out(r, "</g>\n");
    }
    for (size_t k = 0; k<v->nb; k += v->nb> 8 ? (v->nb + 7) / 8 : 1)
        out(r, "<text class=\"xlab\" x=\"%.1f\" y=\"%.1f\">%s</text>\n",
            x0 + xw * (double)(k * v->per_b) / n_iv, lh - MB + 16, v->xl[k]);
    out(r, "</svg></figure>\n");
}

static int put_outages(struct rep *r, const struct view *v)
{
    bool *running = calloc(v->n_iv + 1, sizeof *running);
    if (!running)
        return AH_ENOMEM;
    for (size_t li = 0; li < v->nl; li++)
        for (size_t k = 0; k < v->due; k++)
            running[k] = running[k] || v->llive[li * v->n_iv + k];
    size_t nout = 0;
    for (size_t li = 0; li < v->nl; li++)
        for (size_t k = 0; k < v->due; k++)
            nout += run_at(v, running, li, k) != SIZE_MAX;
    put_outage_chart(r, v, running, nout);
    static const struct col cols[] = {{"link", true},
                                      {"from (interval end)", true},
                                      {"to", true},
                                      {"intervals", false},
                                      {"meters", false},
                                      {"reads backfilled", false},
                                      {"reads still missing", false}};
    table_open(r, "table-outages", nout, SIZE_MAX, cols, NCOLS(cols));
    for (size_t li = 0; li < v->nl; li++) {
        for (size_t k = 0, e; k < v->due; k++) {
            if ((e = run_at(v, running, li, k)) == SIZE_MAX)
                continue;
            uint64_t back = 0;
            for (size_t q = k; q <= e; q++)
                back += v->lback[li * v->n_iv + q];
            uint64_t want = (uint64_t)(e - k + 1) * v->lmeters[li];
            char a[40], z[40];
            report_fmt_local(v->start + (int64_t)(k + 1) * v->step, v->tz, true, a,
                             sizeof a);
            report_fmt_local(v->start + (int64_t)(e + 1) * v->step, v->tz, true, z,
                             sizeof z);
            out(r, "<tr><td class=\"l\">");
            esc(r, v->c->links[li].name);
            out(r,
                "</td><td class=\"l\">%s</td><td class=\"l\">%s</td><td>%zu</td>"
                "<td>%zu</td><td>%llu</td><td%s>%llu</td></tr>\n",
                a, z, e - k + 1, v->lmeters[li], (unsigned long long)back,
                want > back ? " class=\"bad\"" : "", (unsigned long long)(want - back));
        }
    }
    free(running);
    out(r, "</table>\n");
    return AH_OK;
}

/* The page, section by section (report_int.h). */
int report_page(struct ah_buf *b, struct view *v)
{
    struct rep R = {b, 0}, *r = &R;
    put_head(r, v);
    put_collection(r, v);
    put_gaps_chart(r, v);
    int rc = put_gap_tables(r, v);
    if (rc == AH_OK)
        rc = put_lineloss_chart(r, v);
    if (rc == AH_OK) {
        put_lineloss_tables(r, v);
        put_anomalies(r, v);
        rc = put_drift(r, v);
    }
    if (rc == AH_OK)
        rc = put_outages(r, v);
    if (rc != AH_OK)
        return rc;
    out(r, "<p class=\"note\">Made by amihead from its store; times are local "
           "(headend.timezone). No script, no network.</p>\n</body></html>\n");
    return R.err;
}
