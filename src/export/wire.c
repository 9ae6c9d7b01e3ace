/*
 * wire — topics, JSON bodies, outbox records and replay requests of the
 * ZeroMQ export (docs/wire-format.md). Pure: it must not do I/O, allocate,
 * log or read a clock; callers pass the publish time.
 *
 * JSON is written by hand into the caller's buffer: every string written is
 * either a fixed key or a checked segment (wire_segment_ok), so nothing ever
 * needs escaping, and every decimal is printed exactly from its scaled
 * integer (billing must see 12345.67, never 12345.669999).
 */
#include "wire.h"

#include "ah_date.h"
#include "ah_err.h"

#include <string.h>

/* Year 10000 starts here: beyond it an ISO 8601 date needs 5 digits. */
#define WIRE_TIME_MAX_S 253402300800ull

/* ---- a bounded JSON writer --------------------------------------------- */

struct jw {
    char *p;
    size_t cap;
    size_t len;
    bool overflow;
};

static void jw_raw(struct jw *w, const char *s, size_t n)
{
    if (w->overflow || n > w->cap - w->len) {
        w->overflow = true;
        return;
    }
    memcpy(w->p + w->len, s, n);
    w->len += n;
}

static void jw_str(struct jw *w, const char *s)
{
    jw_raw(w, s, strlen(s));
}

static void jw_u64(struct jw *w, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[sizeof tmp - 1 - n] = (char)('0' + v % 10);
        v /= 10;
        n++;
    } while (v);
    jw_raw(w, tmp + sizeof tmp - n, n);
}

/* Left-padded with zeros to width digits. */
static void jw_u64w(struct jw *w, uint64_t v, unsigned width)
{
    char tmp[20];
    size_t n = 0;
    while (v || n < width) {
        tmp[sizeof tmp - 1 - n] = (char)('0' + v % 10);
        v /= 10;
        n++;
        if (n == sizeof tmp)
            break;
    }
    jw_raw(w, tmp + sizeof tmp - n, n);
}

/* raw / 10^dec, exactly. */
static void jw_dec(struct jw *w, int64_t raw, uint8_t dec)
{
    uint64_t mag = raw < 0 ? (uint64_t)0 - (uint64_t)raw : (uint64_t)raw;
    uint64_t scale = 1;
    for (uint8_t i = 0; i < dec; i++)
        scale *= 10;
    if (raw < 0)
        jw_raw(w, "-", 1);
    jw_u64(w, mag / scale);
    if (dec) {
        jw_raw(w, ".", 1);
        jw_u64w(w, mag % scale, dec);
    }
}

/* "YYYY-MM-DDTHH:MM:SS[.mmm]Z" from UTC ms (ah_date: proleptic Gregorian). */
static void jw_time_ms(struct jw *w, int64_t ms, bool with_ms)
{
    int64_t secs = ms / 1000;
    int64_t msec = ms % 1000;
    if (msec < 0) {
        msec += 1000;
        secs--;
    }
    struct ah_date c;
    ah_date_from_s(secs, &c);
    jw_raw(w, "\"", 1);
    jw_u64w(w, (uint64_t)c.year, 4);
    jw_raw(w, "-", 1);
    jw_u64w(w, (uint64_t)c.mon, 2);
    jw_raw(w, "-", 1);
    jw_u64w(w, (uint64_t)c.day, 2);
    jw_raw(w, "T", 1);
    jw_u64w(w, (uint64_t)c.hour, 2);
    jw_raw(w, ":", 1);
    jw_u64w(w, (uint64_t)c.min, 2);
    jw_raw(w, ":", 1);
    jw_u64w(w, (uint64_t)c.sec, 2);
    if (with_ms) {
        jw_raw(w, ".", 1);
        jw_u64w(w, (uint64_t)msec, 3);
    }
    jw_raw(w, "Z\"", 2);
}

static void jw_key(struct jw *w, const char *k)
{
    jw_raw(w, ",\"", 2);
    jw_str(w, k);
    jw_raw(w, "\":", 2);
}

static void jw_kstr(struct jw *w, const char *k, const char *v)
{
    jw_key(w, k);
    jw_raw(w, "\"", 1);
    jw_str(w, v);
    jw_raw(w, "\"", 1);
}

static void jw_ku64(struct jw *w, const char *k, uint64_t v)
{
    jw_key(w, k);
    jw_u64(w, v);
}

static bool time_ok_ms(int64_t ms)
{
    return ms >= 0 && (uint64_t)ms / 1000 < WIRE_TIME_MAX_S;
}

bool wire_segment_ok(const char *s)
{
    if (!s)
        return false;
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (n >= WIRE_SEG_MAX)
            return false;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':' || c == '-'))
            return false;
    }
    return n > 0;
}

/* "{"v":1,"type":T,"headend":H,"seq":N,"published":P" */
static int head_begin(struct jw *w, const struct wire_head *h, const char *type)
{
    if (!h || !wire_segment_ok(h->headend) || h->seq == 0 || !time_ok_ms(h->published_ms))
        return AH_EINVAL;
    jw_str(w, "{\"v\":");
    jw_u64(w, WIRE_SCHEMA_VERSION);
    jw_kstr(w, "type", type);
    jw_kstr(w, "headend", h->headend);
    jw_ku64(w, "seq", h->seq);
    jw_key(w, "published");
    jw_time_ms(w, h->published_ms, true);
    return AH_OK;
}

/* Topic "a/b[/c]" into topic; all parts already checked segments. */
static int topic_write(char *topic, size_t tcap, size_t *tlen, const char *a,
                       const char *b, const char *c)
{
    struct jw w = {topic, tcap, 0, false};
    jw_str(&w, a);
    jw_raw(&w, "/", 1);
    jw_str(&w, b);
    if (c) {
        jw_raw(&w, "/", 1);
        jw_str(&w, c);
    }
    jw_raw(&w, "", 1); /* the NUL */
    if (w.overflow)
        return AH_EOVERFLOW;
    *tlen = w.len - 1;
    return AH_OK;
}

static int body_end(struct jw *w, size_t *blen)
{
    jw_raw(w, "}", 1);
    if (w->overflow)
        return AH_EOVERFLOW;
    *blen = w->len;
    return AH_OK;
}

/* ---- seq of a received body -------------------------------------------- */

/* Skip `"<segment>"` (wire.h: [A-Za-z0-9_.:-]) at *i. */
static bool skip_seg(const char *b, size_t bl, size_t *i)
{
    if (*i >= bl || b[*i] != '"')
        return false;
    size_t k = *i + 1;
    while (k < bl && b[k] != '"' && b[k] != '\\')
        k++;
    if (k >= bl || b[k] != '"')
        return false;
    *i = k + 1;
    return true;
}

static bool skip_lit(const char *b, size_t bl, size_t *i, const char *lit)
{
    size_t n = strlen(lit);
    if (bl - *i < n || memcmp(b + *i, lit, n))
        return false;
    *i += n;
    return true;
}

/* See wire.h; outside bytes: every index is checked against bl. */
uint64_t wire_body_seq(const char *b, size_t bl)
{
    size_t i = 0;
    if (!skip_lit(b, bl, &i, "{\"v\":"))
        return 0;
    while (i < bl && b[i] >= '0' && b[i] <= '9')
        i++;
    if (!skip_lit(b, bl, &i, ",\"type\":") || !skip_seg(b, bl, &i) ||
        !skip_lit(b, bl, &i, ",\"headend\":") || !skip_seg(b, bl, &i) ||
        !skip_lit(b, bl, &i, ",\"seq\":"))
        return 0;
    uint64_t v = 0;
    size_t d = 0;
    for (; i < bl && b[i] >= '0' && b[i] <= '9' && d < 19; i++, d++)
        v = v * 10 + (uint64_t)(b[i] - '0');
    if (!d || i >= bl || (b[i] != ',' && b[i] != '}') || (d > 1 && b[i - d] == '0'))
        return 0;
    return v;
}

/* ---- read --------------------------------------------------------------- */

static const char *const source_names[] = {"live", "backfill", "released"};
static const char *const reactive_names[AH_READ_NREACTIVE] = {"comb1", "comb2", "q1",
                                                              "q2",    "q3",    "q4"};

/* A per-phase array [x, ...] with null for a phase whose bit is clear: the
 * bit of element i is bit0 << i (AH_READ_HAS_VOLTAGE(0), _P(0), ...). */
static void jw_phases(struct jw *w, const char *k, uint64_t present, uint64_t bit0,
                      const int64_t *v, unsigned n, uint8_t dec)
{
    uint64_t all = ((bit0 << n) - 1) & ~(bit0 - 1);
    if (!(present & all))
        return;
    jw_key(w, k);
    jw_raw(w, "[", 1);
    for (unsigned i = 0; i < n; i++) {
        if (i)
            jw_raw(w, ",", 1);
        if (present & (bit0 << i))
            jw_dec(w, v[i], dec);
        else
            jw_str(w, "null");
    }
    jw_raw(w, "]", 1);
}

static void jw_phases32(struct jw *w, const char *k, uint64_t present, uint64_t bit0,
                        const int32_t *v, unsigned n, uint8_t dec)
{
    int64_t x[4];
    for (unsigned i = 0; i < n; i++)
        x[i] = v[i];
    jw_phases(w, k, present, bit0, x, n, dec);
}

static void jw_tariffs(struct jw *w, const char *k, const int64_t *t)
{
    jw_key(w, k);
    jw_raw(w, "[", 1);
    for (unsigned i = 0; i < AH_READ_TARIFFS; i++) {
        if (i)
            jw_raw(w, ",", 1);
        jw_dec(w, t[i], 2);
    }
    jw_raw(w, "]", 1);
}

/* The energy registers: import, export (totals and tariffs), reactive. */
static void jw_read_energy(struct jw *w, const struct ah_read *rd)
{
    if (rd->present & AH_READ_HAS_IMP_TOTAL) {
        jw_key(w, "import_kwh");
        jw_dec(w, rd->imp_total, 2);
    }
    if (rd->present & AH_READ_HAS_IMP_TARIFFS)
        jw_tariffs(w, "import_tariffs_kwh", rd->imp_tariff);
    if (rd->present & AH_READ_HAS_EXP_TOTAL) {
        jw_key(w, "export_kwh");
        jw_dec(w, rd->exp_total, 2);
    }
    if (rd->present & AH_READ_HAS_EXP_TARIFFS)
        jw_tariffs(w, "export_tariffs_kwh", rd->exp_tariff);
    bool first = true;
    for (unsigned i = 0; i < AH_READ_NREACTIVE; i++) {
        if (!(rd->present & AH_READ_HAS_REACTIVE(i)))
            continue;
        if (first)
            jw_key(w, "reactive_kvarh");
        jw_raw(w, first ? "{\"" : ",\"", 2);
        jw_str(w, reactive_names[i]);
        jw_raw(w, "\":", 2);
        jw_dec(w, rd->reactive[i], 2);
        first = false;
    }
    if (!first)
        jw_raw(w, "}", 1);
}

/* The instantaneous values, the meter clock and the status words. */
static void jw_read_instant(struct jw *w, const struct ah_read *rd)
{
    jw_phases32(w, "voltage_v", rd->present, AH_READ_HAS_VOLTAGE(0), rd->voltage, 3, 1);
    jw_phases32(w, "current_a", rd->present, AH_READ_HAS_CURRENT(0), rd->current, 3, 3);
    jw_phases32(w, "p_kw", rd->present, AH_READ_HAS_P(0), rd->p, 4, 4);
    jw_phases32(w, "q_kvar", rd->present, AH_READ_HAS_Q(0), rd->q, 4, 4);
    int64_t pf[4];
    for (unsigned i = 0; i < 4; i++)
        pf[i] = rd->pf[i];
    jw_phases(w, "pf", rd->present, AH_READ_HAS_PF(0), pf, 4, 3);
    if (rd->present & AH_READ_HAS_FREQ) {
        jw_key(w, "freq_hz");
        jw_dec(w, rd->freq, 2);
    }
    if (rd->present & AH_READ_HAS_METER_CLOCK) {
        jw_key(w, "meter_clock");
        jw_time_ms(w, rd->meter_clock_ms, true);
    }
    if (rd->present & AH_READ_HAS_STATUS) {
        jw_key(w, "status");
        jw_raw(w, "[", 1);
        for (unsigned i = 0; i < 7; i++) {
            if (i)
                jw_raw(w, ",", 1);
            jw_u64(w, rd->status[i]);
        }
        jw_raw(w, "]", 1);
    }
}

int wire_encode_read(const struct wire_head *h, const struct wire_read *r, char *topic,
                     size_t tcap, size_t *tlen, char *body, size_t bcap, size_t *blen)
{
    if (!r || !r->read || !wire_segment_ok(r->meter) || !wire_segment_ok(r->district) ||
        r->read->end >= WIRE_TIME_MAX_S || r->read->source > AH_READ_RELEASED)
        return AH_EINVAL;
    const struct ah_read *rd = r->read;
    if ((rd->present & AH_READ_HAS_METER_CLOCK) && !time_ok_ms(rd->meter_clock_ms))
        return AH_EINVAL;
    struct jw w = {body, bcap, 0, false};
    int rc = head_begin(&w, h, "read");
    if (rc)
        return rc;
    jw_kstr(&w, "meter", r->meter);
    jw_kstr(&w, "district", r->district);
    jw_key(&w, "end");
    jw_time_ms(&w, (int64_t)rd->end * 1000, false);
    jw_kstr(&w, "source", source_names[rd->source]);
    jw_ku64(&w, "quality", rd->quality);
    jw_ku64(&w, "ct", rd->ct);
    jw_ku64(&w, "pt", rd->pt);
    jw_read_energy(&w, rd);
    jw_read_instant(&w, rd);
    if ((rc = body_end(&w, blen)) != AH_OK)
        return rc;
    return topic_write(topic, tcap, tlen, "read", r->district, r->meter);
}

/* ---- anomaly, gap, daily ------------------------------------------------ */

static const char *const episode_names[] = {"start", "ongoing", "cleared"};

int wire_encode_anomaly(const struct wire_head *h, const struct wire_anomaly *a,
                        char *topic, size_t tcap, size_t *tlen, char *body, size_t bcap,
                        size_t *blen)
{
    if (!a || !wire_segment_ok(a->meter) || !wire_segment_ok(a->district) ||
        !wire_segment_ok(a->type) || a->state > WIRE_EP_CLEARED ||
        a->at >= WIRE_TIME_MAX_S || a->n_evidence > WIRE_ITEMS_MAX ||
        (a->n_evidence && !a->evidence))
        return AH_EINVAL;
    for (size_t i = 0; i < a->n_evidence; i++)
        if (!wire_segment_ok(a->evidence[i].name) || a->evidence[i].dec > 9)
            return AH_EINVAL;
    struct jw w = {body, bcap, 0, false};
    int rc = head_begin(&w, h, "anomaly");
    if (rc)
        return rc;
    jw_kstr(&w, "meter", a->meter);
    jw_kstr(&w, "district", a->district);
    jw_kstr(&w, "anomaly", a->type);
    jw_kstr(&w, "state", episode_names[a->state]);
    jw_key(&w, "at");
    jw_time_ms(&w, (int64_t)a->at * 1000, false);
    jw_ku64(&w, "quality", a->quality);
    jw_key(&w, "evidence");
    jw_raw(&w, "{", 1);
    for (size_t i = 0; i < a->n_evidence; i++) {
        jw_raw(&w, i ? ",\"" : "\"", i ? 2 : 1);
        jw_str(&w, a->evidence[i].name);
        jw_raw(&w, "\":", 2);
        jw_dec(&w, a->evidence[i].raw, a->evidence[i].dec);
    }
    jw_raw(&w, "}", 1);
    if ((rc = body_end(&w, blen)) != AH_OK)
        return rc;
    return topic_write(topic, tcap, tlen, "anomaly", a->type, a->meter);
}

int wire_encode_gap(const struct wire_head *h, const struct wire_gap *g, char *topic,
                    size_t tcap, size_t *tlen, char *body, size_t bcap, size_t *blen)
{
    if (!g || !wire_segment_ok(g->meter) || !wire_segment_ok(g->district) ||
        !wire_segment_ok(g->reason) || g->step_s == 0 || g->last < g->first ||
        g->last >= WIRE_TIME_MAX_S || (g->last - g->first) % g->step_s)
        return AH_EINVAL;
    struct jw w = {body, bcap, 0, false};
    int rc = head_begin(&w, h, "gap");
    if (rc)
        return rc;
    jw_kstr(&w, "meter", g->meter);
    jw_kstr(&w, "district", g->district);
    jw_key(&w, "first");
    jw_time_ms(&w, (int64_t)g->first * 1000, false);
    jw_key(&w, "last");
    jw_time_ms(&w, (int64_t)g->last * 1000, false);
    jw_ku64(&w, "step_s", g->step_s);
    jw_ku64(&w, "intervals", (g->last - g->first) / g->step_s + 1);
    jw_kstr(&w, "reason", g->reason);
    if ((rc = body_end(&w, blen)) != AH_OK)
        return rc;
    return topic_write(topic, tcap, tlen, "gap", g->meter, NULL);
}

static bool date_ok(uint16_t y, uint8_t m, uint8_t d)
{
    static const uint8_t mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return !(m == 2 && d == 29 && !leap);
}

int wire_encode_daily(const struct wire_head *h, const struct wire_daily *d, char *topic,
                      size_t tcap, size_t *tlen, char *body, size_t bcap, size_t *blen)
{
    if (!d || !wire_segment_ok(d->district) || !date_ok(d->year, d->month, d->day) ||
        d->collected > d->expected || d->n_flags > WIRE_ITEMS_MAX ||
        (d->n_flags && !d->flags) || (d->complete && d->collected != d->expected))
        return AH_EINVAL;
    for (size_t i = 0; i < d->n_flags; i++)
        if (!wire_segment_ok(d->flags[i]))
            return AH_EINVAL;
    struct jw w = {body, bcap, 0, false};
    int rc = head_begin(&w, h, "daily");
    if (rc)
        return rc;
    jw_kstr(&w, "district", d->district);
    jw_key(&w, "day");
    jw_raw(&w, "\"", 1);
    jw_u64w(&w, d->year, 4);
    jw_raw(&w, "-", 1);
    jw_u64w(&w, d->month, 2);
    jw_raw(&w, "-", 1);
    jw_u64w(&w, d->day, 2);
    jw_raw(&w, "\"", 1);
    jw_key(&w, "complete");
    jw_str(&w, d->complete ? "true" : "false");
    jw_ku64(&w, "expected_intervals", d->expected);
    jw_ku64(&w, "collected_intervals", d->collected);
    /* Truncated, never rounded: 99.996 % must not read as 100.00 %. */
    uint64_t pct = d->expected ? (uint64_t)d->collected * 10000u / d->expected : 10000u;
    jw_key(&w, "completeness_pct");
    jw_dec(&w, (int64_t)pct, 2);
    jw_key(&w, "district_kwh");
    jw_dec(&w, d->district_kwh, 2);
    jw_key(&w, "customers_kwh");
    jw_dec(&w, d->customers_kwh, 2);
    /* reference/vee.md INCOMPLETE: no loss rate from an incomplete day. */
    jw_key(&w, "loss_rate_pct");
    if (d->complete)
        jw_dec(&w, d->loss_rate, 2);
    else
        jw_str(&w, "null");
    jw_key(&w, "flags");
    jw_raw(&w, "[", 1);
    for (size_t i = 0; i < d->n_flags; i++) {
        jw_raw(&w, i ? ",\"" : "\"", i ? 2 : 1);
        jw_str(&w, d->flags[i]);
        jw_raw(&w, "\"", 1);
    }
    jw_raw(&w, "]", 1);
    if ((rc = body_end(&w, blen)) != AH_OK)
        return rc;
    return topic_write(topic, tcap, tlen, "daily", d->district, NULL);
}

/* ---- outbox record ------------------------------------------------------ */

int wire_outbox_encode(int64_t published_ms, const char *topic, size_t tlen,
                       const char *body, size_t blen, uint8_t *out, size_t cap)
{
    if (tlen == 0 || tlen > WIRE_TOPIC_MAX || published_ms < 0)
        return AH_EINVAL;
    if (blen > cap || WIRE_OUTBOX_HDR + tlen > cap - blen)
        return AH_EOVERFLOW;
    out[0] = WIRE_OUTBOX_VERSION;
    uint64_t t = (uint64_t)published_ms;
    for (int i = 0; i < 8; i++)
        out[1 + i] = (uint8_t)(t >> (56 - 8 * i));
    out[9] = (uint8_t)(tlen >> 8);
    out[10] = (uint8_t)tlen;
    memcpy(out + WIRE_OUTBOX_HDR, topic, tlen);
    if (blen)
        memcpy(out + WIRE_OUTBOX_HDR + tlen, body, blen);
    return (int)(WIRE_OUTBOX_HDR + tlen + blen);
}

int wire_outbox_decode(const uint8_t *p, size_t n, struct wire_outbox_view *v)
{
    if (n < 1)
        return AH_EFRAME;
    if (p[0] != WIRE_OUTBOX_VERSION)
        return AH_ENOTSUP;
    if (n < WIRE_OUTBOX_HDR)
        return AH_EFRAME;
    uint64_t t = 0;
    for (int i = 0; i < 8; i++)
        t = t << 8 | p[1 + i];
    size_t tlen = (size_t)p[9] << 8 | p[10];
    if (t > INT64_MAX || tlen == 0 || tlen > WIRE_TOPIC_MAX || tlen > n - WIRE_OUTBOX_HDR)
        return AH_EFRAME;
    v->published_ms = (int64_t)t;
    v->topic = (const char *)p + WIRE_OUTBOX_HDR;
    v->topic_len = tlen;
    v->body = v->topic + tlen;
    v->body_len = n - WIRE_OUTBOX_HDR - tlen;
    return AH_OK;
}

/* ---- replay ------------------------------------------------------------- */

/* A decimal u64 at p[*i ..], at least one digit, no sign; stops at the
 * first non-digit. */
static int parse_u64(const uint8_t *p, size_t n, size_t *i, uint64_t *out)
{
    uint64_t v = 0;
    size_t start = *i;
    /* One spelling per number: no leading zeros. */
    if (*i + 1 < n && p[*i] == '0' && p[*i + 1] >= '0' && p[*i + 1] <= '9')
        return AH_EFRAME;
    while (*i < n && p[*i] >= '0' && p[*i] <= '9') {
        unsigned dgt = (unsigned)(p[*i] - '0');
        if (v > (UINT64_MAX - dgt) / 10)
            return AH_EFRAME;
        v = v * 10 + dgt;
        (*i)++;
    }
    if (*i == start)
        return AH_EFRAME;
    *out = v;
    return AH_OK;
}

int wire_replay_parse(const uint8_t *p, size_t n, struct wire_replay_req *out)
{
    if (!p || n > WIRE_REPLAY_REQ_MAX)
        return AH_EFRAME;
    if (n == 4 && !memcmp(p, "info", 4)) {
        out->op = WIRE_REPLAY_INFO;
        out->first = out->last = 0;
        return AH_OK;
    }
    if (n < 7 || memcmp(p, "replay ", 7) != 0)
        return AH_EFRAME;
    size_t i = 7;
    uint64_t first, last;
    if (parse_u64(p, n, &i, &first) || i >= n || p[i] != ' ')
        return AH_EFRAME;
    i++;
    if (parse_u64(p, n, &i, &last) || i != n)
        return AH_EFRAME;
    out->op = WIRE_REPLAY_RANGE;
    out->first = first;
    out->last = last;
    return AH_OK;
}

enum wire_replay_status wire_replay_check(const struct wire_replay_req *r,
                                          uint64_t oldest, uint64_t next)
{
    if (r->op == WIRE_REPLAY_INFO)
        return WIRE_REPLAY_OK;
    if (r->first == 0 || r->last < r->first)
        return WIRE_REPLAY_INVALID;
    if (r->last - r->first >= WIRE_REPLAY_MAX_COUNT)
        return WIRE_REPLAY_TOO_LARGE;
    if (r->last >= next)
        return WIRE_REPLAY_NOT_YET;
    if (r->first < oldest)
        return WIRE_REPLAY_EXPIRED;
    return WIRE_REPLAY_OK;
}

static const char *const status_names[] = {
    "ok", "bad-request", "invalid", "too-large", "expired", "not-yet", "unavailable",
};

static const char *const status_texts[] = {
    "",
    "not a request: expected 'replay FIRST LAST' or 'info' in one frame",
    "invalid range: FIRST must be >= 1 and LAST >= FIRST",
    "range too large: at most 1000 messages per request",
    "expired: FIRST is older than the oldest retained message",
    "not yet published: LAST must be below next",
    "the store failed; try again",
};

const char *wire_replay_status_name(enum wire_replay_status st)
{
    if ((unsigned)st >= sizeof status_names / sizeof status_names[0])
        return "unknown";
    return status_names[st];
}

int wire_replay_header(enum wire_replay_status st, uint64_t first, uint64_t last,
                       uint64_t count, uint64_t oldest, uint64_t next, char *out,
                       size_t cap)
{
    if ((unsigned)st >= sizeof status_names / sizeof status_names[0])
        return AH_EINVAL;
    struct jw w = {out, cap, 0, false};
    jw_str(&w, "{\"v\":");
    jw_u64(&w, WIRE_SCHEMA_VERSION);
    jw_kstr(&w, "type", "replay");
    jw_kstr(&w, "status", status_names[st]);
    if (st == WIRE_REPLAY_OK) {
        if (count) {
            jw_ku64(&w, "first", first);
            jw_ku64(&w, "last", last);
        }
        jw_ku64(&w, "count", count);
    } else {
        jw_kstr(&w, "error", status_texts[st]);
    }
    jw_ku64(&w, "oldest", oldest);
    jw_ku64(&w, "next", next);
    jw_raw(&w, "}", 1);
    if (w.overflow)
        return AH_EOVERFLOW;
    return (int)w.len;
}
