/*
 * dlt645 — DL/T 645-2007 / -1997 link-layer codec (reference/protocols.md §1,
 * §2.10).
 *
 * Builds request and reply frames into caller buffers, parses a byte stream
 * resumably, classifies replies against the request they should answer and
 * converts packed BCD and time fields.
 *
 * Must not: do I/O, read the clock, allocate, log, or trust a length from
 * the wire beyond its own buffer (STYLE.md §7: a known DL/T 645 reference
 * implementation overflows a stack buffer exactly there).
 */
#include "dlt645.h"

#include "ah_err.h"

#include <string.h>

#define START    0x68 /* frame start 68H (§1.2) */
#define END      0x16 /* end code 16H (§1.2) */
#define WAKE     0xFE /* wake-up preamble byte FEH (§1.2) */
#define OFFSET33 0x33 /* every DATA byte is +33H on the wire (§1.2) */
#define WILDCARD 0xAA /* short-addressing wildcard byte (§1.3) */
#define BCAST    0x99 /* broadcast address byte (§1.3) */

/* Write payloads are capped at 50 bytes of DATA (§1.2); 14H spends 12 of
 * them on DI + password + operator code (§1.4). */
#define WRITE_MAX_DATA 50
#define WRITE_HEADER   12

/* Offsets inside a frame counted from the first 68 (§1.2). */
#define OFF_START2 7
#define OFF_CTRL   8
#define OFF_LEN    9
#define OFF_DATA   10

const struct dlt645_addr dlt645_addr_wildcard = {
    {WILDCARD, WILDCARD, WILDCARD, WILDCARD, WILDCARD, WILDCARD}};
const struct dlt645_addr dlt645_addr_broadcast = {
    {BCAST, BCAST, BCAST, BCAST, BCAST, BCAST}};

/* ---- addresses ------------------------------------------------------- */

int dlt645_addr_parse(const char *digits, struct dlt645_addr *out)
{
    size_t n;
    size_t i;

    if (digits == NULL || out == NULL)
        return AH_EINVAL;
    n = strlen(digits);
    if (n == 0 || n > 2 * DLT645_ADDR_LEN)
        return AH_EINVAL;
    for (i = 0; i < n; i++)
        if (digits[i] < '0' || digits[i] > '9')
            return AH_EINVAL;

    /* The last two characters are the lowest digits and go first on the
     * wire (§1.3); missing high digits are zero. */
    memset(out->b, 0, sizeof(out->b));
    for (i = 0; i < n; i++) {
        size_t pos = n - 1 - i; /* digit index from the low end */
        uint8_t d = (uint8_t)(digits[i] - '0');
        if (pos % 2 == 0)
            out->b[pos / 2] |= d;
        else
            out->b[pos / 2] |= (uint8_t)(d << 4);
    }
    return AH_OK;
}

void dlt645_addr_format(const struct dlt645_addr *a, char out[13])
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i;

    for (i = 0; i < DLT645_ADDR_LEN; i++) {
        uint8_t b = a->b[DLT645_ADDR_LEN - 1 - i];
        out[2 * i] = hex[b >> 4];
        out[2 * i + 1] = hex[b & 0x0F];
    }
    out[12] = '\0';
}

bool dlt645_addr_eq(const struct dlt645_addr *a, const struct dlt645_addr *b)
{
    return memcmp(a->b, b->b, DLT645_ADDR_LEN) == 0;
}

bool dlt645_addr_is_broadcast(const struct dlt645_addr *a)
{
    return dlt645_addr_eq(a, &dlt645_addr_broadcast);
}

bool dlt645_addr_match(const struct dlt645_addr *pattern, const struct dlt645_addr *a)
{
    size_t keep = DLT645_ADDR_LEN;
    size_t i;

    /* Wildcards replace the high bytes only (§1.3); an AA below a real
     * digit byte is compared literally and so never matches a BCD address. */
    while (keep > 0 && pattern->b[keep - 1] == WILDCARD)
        keep--;
    for (i = 0; i < keep; i++)
        if (pattern->b[i] != a->b[i])
            return false;
    return true;
}

/* ---- small helpers ---------------------------------------------------- */

static uint8_t to_bcd(unsigned v)
{
    return (uint8_t)((((v / 10) % 10) << 4) | (v % 10));
}

static bool is_bcd(uint8_t b)
{
    return (b >> 4) <= 9 && (b & 0x0F) <= 9;
}

static unsigned from_bcd(uint8_t b)
{
    return (unsigned)(b >> 4) * 10u + (unsigned)(b & 0x0F);
}

static void put_di(uint8_t *p, uint32_t di)
{
    /* DI0 first (§2.1). */
    p[0] = (uint8_t)(di & 0xFF);
    p[1] = (uint8_t)((di >> 8) & 0xFF);
    p[2] = (uint8_t)((di >> 16) & 0xFF);
    p[3] = (uint8_t)((di >> 24) & 0xFF);
}

/* ---- encoding -------------------------------------------------------- */

int dlt645_encode(uint8_t *out, size_t cap, unsigned preamble,
                  const struct dlt645_addr *a, uint8_t ctrl, const uint8_t *data,
                  size_t len)
{
    size_t total;
    size_t i;
    size_t o = 0;
    size_t start;
    uint8_t cs = 0;

    if (out == NULL || a == NULL || preamble > DLT645_PREAMBLE || len > DLT645_MAX_DATA ||
        (len > 0 && data == NULL))
        return AH_EINVAL;
    total = preamble + DLT645_OVERHEAD + len;
    if (cap < total)
        return AH_EOVERFLOW;

    for (i = 0; i < preamble; i++)
        out[o++] = WAKE;
    start = o;
    out[o++] = START;
    for (i = 0; i < DLT645_ADDR_LEN; i++)
        out[o++] = a->b[i];
    out[o++] = START;
    out[o++] = ctrl;
    out[o++] = (uint8_t)len;
    for (i = 0; i < len; i++)
        out[o++] = (uint8_t)(data[i] + OFFSET33);
    /* CS covers the first 68 up to the byte before CS, not the FE (§1.2). */
    for (i = start; i < o; i++)
        cs = (uint8_t)(cs + out[i]);
    out[o++] = cs;
    out[o++] = END;
    return (int)o;
}

int dlt645_req_read(uint8_t *out, size_t cap, const struct dlt645_addr *a, uint32_t di)
{
    uint8_t d[4];

    put_di(d, di);
    return dlt645_encode(out, cap, DLT645_PREAMBLE, a, DLT645_F_READ, d, sizeof(d));
}

int dlt645_req_read_n(uint8_t *out, size_t cap, const struct dlt645_addr *a, uint32_t di,
                      uint8_t n)
{
    uint8_t d[5];

    put_di(d, di);
    d[4] = n;
    return dlt645_encode(out, cap, DLT645_PREAMBLE, a, DLT645_F_READ, d, sizeof(d));
}

int dlt645_req_read_n_time(uint8_t *out, size_t cap, const struct dlt645_addr *a,
                           uint32_t di, uint8_t n, const struct dlt645_tm *t)
{
    uint8_t d[10];

    if (t == NULL)
        return AH_EINVAL;
    /* Wire order is DI, N, then mm hh DD MM YY (§2.9). */
    put_di(d, di);
    d[4] = n;
    dlt645_tm_encode_ymdhm(t, d + 5);
    return dlt645_encode(out, cap, DLT645_PREAMBLE, a, DLT645_F_READ, d, sizeof(d));
}

int dlt645_req_read_next(uint8_t *out, size_t cap, const struct dlt645_addr *a,
                         uint32_t di, uint8_t seq)
{
    uint8_t d[5];

    put_di(d, di);
    d[4] = seq;
    return dlt645_encode(out, cap, DLT645_PREAMBLE, a, DLT645_F_READ_NEXT, d, sizeof(d));
}

int dlt645_req_read_addr(uint8_t *out, size_t cap)
{
    return dlt645_encode(out, cap, DLT645_PREAMBLE, &dlt645_addr_wildcard,
                         DLT645_F_READ_ADDR, NULL, 0);
}

int dlt645_req_broadcast_time(uint8_t *out, size_t cap, const struct dlt645_tm *t)
{
    uint8_t d[6];

    if (t == NULL)
        return AH_EINVAL;
    dlt645_tm_encode_ymdhms(t, d);
    return dlt645_encode(out, cap, DLT645_PREAMBLE, &dlt645_addr_broadcast,
                         DLT645_F_BCAST_TIME, d, sizeof(d));
}

int dlt645_req_write(uint8_t *out, size_t cap, const struct dlt645_addr *a, uint32_t di,
                     const uint8_t password[4], const uint8_t operator_code[4],
                     const uint8_t *data, size_t len)
{
    uint8_t d[WRITE_MAX_DATA];

    if (password == NULL || operator_code == NULL ||
        len > WRITE_MAX_DATA - WRITE_HEADER || (len > 0 && data == NULL))
        return AH_EINVAL;
    put_di(d, di);
    memcpy(d + 4, password, 4);
    memcpy(d + 8, operator_code, 4);
    if (len > 0)
        memcpy(d + WRITE_HEADER, data, len);
    return dlt645_encode(out, cap, DLT645_PREAMBLE, a, DLT645_F_WRITE, d,
                         WRITE_HEADER + len);
}

int dlt645_req_freeze(uint8_t *out, size_t cap, const struct dlt645_addr *a, uint8_t mm,
                      uint8_t hh, uint8_t dd, uint8_t mon)
{
    uint8_t d[4];

    /* 99 in a field is the "every" wildcard of the 16H command (§1.4). */
    if ((mm > 59 && mm != 99) || (hh > 23 && hh != 99) ||
        ((dd < 1 || dd > 31) && dd != 99) || ((mon < 1 || mon > 12) && mon != 99))
        return AH_EINVAL;
    d[0] = to_bcd(mm);
    d[1] = to_bcd(hh);
    d[2] = to_bcd(dd);
    d[3] = to_bcd(mon);
    return dlt645_encode(out, cap, DLT645_PREAMBLE, a, DLT645_F_FREEZE, d, sizeof(d));
}

int dlt645_req_read_1997(uint8_t *out, size_t cap, const struct dlt645_addr *a,
                         uint16_t di)
{
    uint8_t d[2];

    /* 1997 DIs are two bytes, DI0 first (§2.10). */
    d[0] = (uint8_t)(di & 0xFF);
    d[1] = (uint8_t)(di >> 8);
    return dlt645_encode(out, cap, DLT645_PREAMBLE, a, DLT645_97_READ, d, sizeof(d));
}

int dlt645_reply_read(uint8_t *out, size_t cap, unsigned preamble,
                      const struct dlt645_addr *a, uint32_t di, bool more,
                      const uint8_t *payload, size_t len)
{
    uint8_t d[DLT645_MAX_DATA];
    uint8_t ctrl = (uint8_t)(DLT645_F_READ | DLT645_C_DIR);

    if (len > DLT645_MAX_DATA - 4 || (len > 0 && payload == NULL))
        return AH_EINVAL;
    if (more)
        ctrl |= DLT645_C_MORE;
    put_di(d, di);
    if (len > 0)
        memcpy(d + 4, payload, len);
    return dlt645_encode(out, cap, preamble, a, ctrl, d, 4 + len);
}

int dlt645_reply_error(uint8_t *out, size_t cap, unsigned preamble,
                       const struct dlt645_addr *a, uint8_t func, uint8_t err)
{
    uint8_t ctrl = (uint8_t)((func & DLT645_C_FUNC) | DLT645_C_DIR | DLT645_C_ABN);

    return dlt645_encode(out, cap, preamble, a, ctrl, &err, 1);
}

/* ---- parsing --------------------------------------------------------- */

void dlt645_parser_init(struct dlt645_parser *p)
{
    memset(p, 0, sizeof(*p));
}

void dlt645_parser_reset(struct dlt645_parser *p)
{
    p->have = 0;
}

/* Drop buf[0], a 68 that did not start a good frame; check() then skips to
 * the next 68 in the buffer, so a real frame hidden behind it is found. */
static void resync(struct dlt645_parser *p)
{
    memmove(p->buf, p->buf + 1, p->have - 1);
    p->have--;
}

/* Count a skipped byte. FE is the normal wake-up preamble (§1.2), not junk. */
static void note_skipped(struct dlt645_parser *p, uint8_t b)
{
    if (b != WAKE)
        p->junk_bytes++;
}

/*
 * Look at what is buffered. Returns NEED_MORE when the buffer is a strict
 * prefix of a possible frame (so there is room for the next byte), or the
 * first event it finds. Invariant on NEED_MORE: have < the candidate's
 * total length <= sizeof(buf), so appending one byte is always safe.
 */
static enum dlt645_parse_status check(struct dlt645_parser *p, struct dlt645_frame *out)
{
    for (;;) {
        size_t skip = 0;
        size_t need;
        size_t i;
        uint8_t cs = 0;

        while (skip < p->have && p->buf[skip] != START)
            note_skipped(p, p->buf[skip++]);
        if (skip > 0) {
            memmove(p->buf, p->buf + skip, p->have - skip);
            p->have -= skip;
        }
        if (p->have <= OFF_START2)
            return DLT645_NEED_MORE;
        if (p->buf[OFF_START2] != START) {
            /* Not even frame-shaped: the first 68 was junk. */
            p->junk_bytes++;
            resync(p);
            continue;
        }
        if (p->have <= OFF_LEN)
            return DLT645_NEED_MORE;
        if (p->buf[OFF_LEN] > DLT645_MAX_DATA) {
            p->bad_frames++;
            resync(p);
            return DLT645_BAD_LENGTH;
        }
        need = DLT645_OVERHEAD + (size_t)p->buf[OFF_LEN];
        if (p->have < need)
            return DLT645_NEED_MORE;

        for (i = 0; i < need - 2; i++)
            cs = (uint8_t)(cs + p->buf[i]);
        if (cs != p->buf[need - 2]) {
            p->bad_frames++;
            resync(p);
            return DLT645_BAD_CHECKSUM;
        }
        if (p->buf[need - 1] != END) {
            p->bad_frames++;
            resync(p);
            return DLT645_BAD_END;
        }

        memcpy(out->addr.b, p->buf + 1, DLT645_ADDR_LEN);
        out->ctrl = p->buf[OFF_CTRL];
        out->len = p->buf[OFF_LEN];
        for (i = 0; i < out->len; i++)
            out->data[i] = (uint8_t)(p->buf[OFF_DATA + i] - OFFSET33);
        /* Bytes after 16 (possible after a resync) stay for the next call;
         * junk among them is skipped then. */
        memmove(p->buf, p->buf + need, p->have - need);
        p->have -= need;
        return DLT645_FRAME_OK;
    }
}

/*
 * A caller loops until *status is DLT645_NEED_MORE (calling with n == 0 is
 * fine): after an error the resync can leave a complete frame in the
 * buffer that is reported without consuming new input.
 */
size_t dlt645_parse(struct dlt645_parser *p, const uint8_t *in, size_t n,
                    struct dlt645_frame *out, enum dlt645_parse_status *status)
{
    size_t i = 0;
    enum dlt645_parse_status st;

    st = check(p, out);
    if (st != DLT645_NEED_MORE) {
        *status = st;
        return 0;
    }
    while (i < n) {
        uint8_t b = in[i++];

        if (p->have == 0 && b != START) {
            note_skipped(p, b);
            continue;
        }
        p->buf[p->have++] = b;
        st = check(p, out);
        if (st != DLT645_NEED_MORE) {
            *status = st;
            return i;
        }
    }
    *status = DLT645_NEED_MORE;
    return n;
}

/* ---- reply interpretation --------------------------------------------- */

int dlt645_frame_di(const struct dlt645_frame *f, uint32_t *di)
{
    if (f->len < 4)
        return AH_EFRAME;
    *di = (uint32_t)f->data[0] | ((uint32_t)f->data[1] << 8) |
          ((uint32_t)f->data[2] << 16) | ((uint32_t)f->data[3] << 24);
    return AH_OK;
}

/* ERR word bit names, D0..D7 (§1.7). */
static const char *const err_names_2007[8] = {
    "other error",
    "no requested data",
    "wrong password or unauthorised",
    "baud rate cannot change",
    "too many yearly zones",
    "too many daily periods",
    "too many tariffs",
    "reserved bit 7",
};
static const char *const err_names_1997[8] = {
    "illegal data",     "wrong data identifier", "wrong password",
    "reserved bit 3",   "too many yearly zones", "too many daily periods",
    "too many tariffs", "reserved bit 7",
};

/* Append s to buf (cap bytes, NUL-terminated), truncating silently. */
static void append(char *buf, size_t cap, size_t *len, const char *s)
{
    while (*s != '\0' && *len + 1 < cap)
        buf[(*len)++] = *s++;
    buf[*len] = '\0';
}

const char *dlt645_err_describe(uint8_t err, enum dlt645_proto proto, char *buf,
                                size_t cap)
{
    const char *const *names = proto == DLT645_1997 ? err_names_1997 : err_names_2007;
    size_t len = 0;
    unsigned bit;
    bool first = true;

    if (buf == NULL || cap == 0)
        return buf;
    buf[0] = '\0';
    if (err == 0) {
        append(buf, cap, &len, "no error bits");
        return buf;
    }
    for (bit = 0; bit < 8; bit++) {
        if ((err & (1u << bit)) == 0)
            continue;
        if (!first)
            append(buf, cap, &len, ", ");
        append(buf, cap, &len, names[bit]);
        first = false;
    }
    return buf;
}

/* Does the normal reply of this function start with a DI, and how long? */
static size_t reply_di_len(enum dlt645_proto proto, uint8_t func)
{
    if (proto == DLT645_1997)
        return (func == DLT645_97_READ || func == DLT645_97_READ_NEXT ||
                func == DLT645_97_REREAD)
                   ? 2
                   : 0;
    return (func == DLT645_F_READ || func == DLT645_F_READ_NEXT) ? 4 : 0;
}

int dlt645_reply_classify(const struct dlt645_frame *f, enum dlt645_proto proto,
                          const struct dlt645_addr *addr, uint8_t func, uint32_t di,
                          struct dlt645_reply *r)
{
    size_t dil;
    size_t tail = 0;
    size_t i;

    if (f == NULL || r == NULL || (func & ~DLT645_C_FUNC) != 0)
        return AH_EINVAL;
    memset(r, 0, sizeof(*r));
    r->kind = DLT645_R_OTHER;

    /* Our own request echoed on a half-duplex bus, another meter, or an
     * answer to something else: not for this request. A NULL addr accepts
     * any meter (13H read-address). */
    if (!dlt645_is_reply(f) || dlt645_func(f) != func)
        return AH_OK;
    if (addr != NULL && !dlt645_addr_match(addr, &f->addr))
        return AH_OK;

    if (dlt645_is_abnormal(f)) {
        /* Abnormal DATA is the 1-byte ERR word (§1.7). */
        if (f->len != 1)
            return AH_EFRAME;
        r->kind = DLT645_R_ERROR;
        r->err = f->data[0];
        return AH_OK;
    }

    dil = reply_di_len(proto, func);
    /* 12H replies end with the SEQ byte, which is not payload (§1.6). */
    if (proto == DLT645_2007 && func == DLT645_F_READ_NEXT)
        tail = 1;
    if (f->len < dil + tail)
        return AH_EFRAME;
    for (i = 0; i < dil; i++)
        if (f->data[i] != (uint8_t)((di >> (8 * i)) & 0xFF))
            return AH_OK; /* answer for another DI */

    r->kind = dlt645_has_more(f) ? DLT645_R_DATA_MORE : DLT645_R_DATA;
    r->payload = f->data + dil;
    r->payload_len = f->len - dil - tail;
    if (tail != 0)
        r->seq = f->data[f->len - 1];
    return AH_OK;
}

void dlt645_reasm_init(struct dlt645_reasm *r)
{
    r->len = 0;
    r->next_seq = 0;
}

int dlt645_reasm_add(struct dlt645_reasm *r, const uint8_t *p, size_t n)
{
    if (n > sizeof(r->data) - r->len)
        return AH_EOVERFLOW;
    if (n > 0)
        memcpy(r->data + r->len, p, n);
    r->len += n;
    /* The first chunk comes from 11H; follow-ups count SEQ 1, 2, 3… (§1.6). */
    r->next_seq = (uint8_t)(r->next_seq + 1);
    return AH_OK;
}

/* ---- BCD helpers (§2.2) ---------------------------------------------- */

/* 9 bytes = 18 digits, the most an int64_t always holds. */
#define BCD_MAX_BYTES 9
/* Bit 7 of the most significant byte is the sign (§2.2). */
#define BCD_SIGN 0x80

int dlt645_bcd_decode(const uint8_t *p, size_t n, bool sign, int64_t *out)
{
    int64_t v = 0;
    bool neg = false;
    size_t i;

    if (p == NULL || out == NULL || n == 0 || n > BCD_MAX_BYTES)
        return AH_EINVAL;
    for (i = n; i-- > 0;) {
        uint8_t b = p[i];
        if (sign && i == n - 1) {
            neg = (b & BCD_SIGN) != 0;
            b &= (uint8_t)~BCD_SIGN;
        }
        if (!is_bcd(b))
            return AH_ERANGE;
        v = v * 100 + (int64_t)from_bcd(b);
    }
    *out = neg ? -v : v;
    return AH_OK;
}

int dlt645_bcd_encode(int64_t v, uint8_t *p, size_t n, bool sign)
{
    uint64_t mag;
    uint64_t limit = 1;
    size_t i;

    if (p == NULL || n == 0 || n > BCD_MAX_BYTES)
        return AH_EINVAL;
    if (v < 0 && !sign)
        return AH_ERANGE;
    mag = v < 0 ? (uint64_t)(-(v + 1)) + 1u : (uint64_t)v;
    for (i = 0; i < 2 * n; i++)
        limit *= 10u;
    /* With a sign bit the top digit can only reach 7. */
    if (sign)
        limit = limit / 10u * 8u;
    if (mag >= limit)
        return AH_ERANGE;
    for (i = 0; i < n; i++) {
        p[i] = to_bcd((unsigned)(mag % 100u));
        mag /= 100u;
    }
    if (sign && v < 0)
        p[n - 1] |= BCD_SIGN;
    return AH_OK;
}

bool dlt645_bcd_all_ff(const uint8_t *p, size_t n)
{
    size_t i;

    if (n == 0)
        return false;
    for (i = 0; i < n; i++)
        if (p[i] != 0xFF)
            return false;
    return true;
}

/* ---- time fields ----------------------------------------------------- */

static unsigned days_in_month(unsigned year, unsigned mon)
{
    static const uint8_t days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    /* Years are 2000..2099, so every year divisible by 4 is leap. */
    if (mon == 2 && year % 4 == 0)
        return 29;
    return days[mon - 1];
}

/* p: mm hh DD MM YY (wire order, low byte first). */
static int decode_fields(const uint8_t *p, struct dlt645_tm *t)
{
    unsigned mi, hh, dd, mo, yy;
    size_t i;

    for (i = 0; i < 5; i++)
        if (!is_bcd(p[i]))
            return AH_ERANGE;
    mi = from_bcd(p[0]);
    hh = from_bcd(p[1]);
    dd = from_bcd(p[2]);
    mo = from_bcd(p[3]);
    yy = from_bcd(p[4]);
    if (mi > 59 || hh > 23 || mo < 1 || mo > 12 || dd < 1 || dd > days_in_month(yy, mo))
        return AH_ERANGE;
    t->min = (uint8_t)mi;
    t->hour = (uint8_t)hh;
    t->day = (uint8_t)dd;
    t->mon = (uint8_t)mo;
    t->year = (uint8_t)yy;
    t->wday = 0;
    return AH_OK;
}

int dlt645_tm_decode_ymdhm(const uint8_t p[5], struct dlt645_tm *t)
{
    struct dlt645_tm tmp;
    int rc = decode_fields(p, &tmp);

    if (rc < 0)
        return rc;
    tmp.sec = 0;
    *t = tmp;
    return AH_OK;
}

void dlt645_tm_encode_ymdhm(const struct dlt645_tm *t, uint8_t p[5])
{
    p[0] = to_bcd(t->min);
    p[1] = to_bcd(t->hour);
    p[2] = to_bcd(t->day);
    p[3] = to_bcd(t->mon);
    p[4] = to_bcd(t->year);
}

int dlt645_tm_decode_ymdhms(const uint8_t p[6], struct dlt645_tm *t)
{
    struct dlt645_tm tmp;
    int rc;

    if (!is_bcd(p[0]) || from_bcd(p[0]) > 59)
        return AH_ERANGE;
    rc = decode_fields(p + 1, &tmp);
    if (rc < 0)
        return rc;
    tmp.sec = (uint8_t)from_bcd(p[0]);
    *t = tmp;
    return AH_OK;
}

void dlt645_tm_encode_ymdhms(const struct dlt645_tm *t, uint8_t p[6])
{
    p[0] = to_bcd(t->sec);
    dlt645_tm_encode_ymdhm(t, p + 1);
}
