/*
 * dlt645 — DL/T 645-2007 and -1997 link-layer codec.
 *
 * Pure: no I/O, no clock, no allocation, no logging. Builds request and
 * reply frames into caller buffers and parses a byte stream resumably
 * (fed any split of the bytes, "need more" is not an error).
 *
 * Frame (reference/protocols.md §1.2):
 *   [FE×0..4] 68 A0..A5 68 C L DATA(L, each +33H) CS 16
 * CS = sum mod 256 from the first 68 to the byte before CS.
 * Everything in DATA is +33H on the wire; struct dlt645_frame holds DATA
 * already decoded (−33H).
 */
#ifndef AH_DLT645_H
#define AH_DLT645_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DLT645_ADDR_LEN 6
/* L is one byte; the standard caps reads at 200 and writes at 50 (§1.2).
 * The parser rejects any L above DLT645_MAX_DATA. */
#define DLT645_MAX_DATA  200
#define DLT645_PREAMBLE  4 /* master sends 4 × FE (§1.2) */
#define DLT645_OVERHEAD  12
#define DLT645_FRAME_MAX (DLT645_PREAMBLE + DLT645_OVERHEAD + DLT645_MAX_DATA)

/* Control code bits (§1.4). */
#define DLT645_C_DIR  0x80 /* D7: 1 = slave → master */
#define DLT645_C_ABN  0x40 /* D6: abnormal reply, DATA = ERR */
#define DLT645_C_MORE 0x20 /* D5: follow-up frames exist */
#define DLT645_C_FUNC 0x1F

/* 2007 function codes (§1.4). */
enum dlt645_func {
    DLT645_F_BCAST_TIME = 0x08,
    DLT645_F_READ = 0x11,
    DLT645_F_READ_NEXT = 0x12,
    DLT645_F_READ_ADDR = 0x13,
    DLT645_F_WRITE = 0x14,
    DLT645_F_WRITE_ADDR = 0x15,
    DLT645_F_FREEZE = 0x16,
    DLT645_F_BAUD = 0x17,
};

/* 1997 function codes (§2.10). */
enum dlt645_func97 {
    DLT645_97_READ = 0x01,
    DLT645_97_READ_NEXT = 0x02,
    DLT645_97_REREAD = 0x03,
    DLT645_97_WRITE = 0x04,
    DLT645_97_BCAST_TIME = 0x08,
};

enum dlt645_proto { DLT645_2007 = 2007, DLT645_1997 = 1997 };

/* Address in wire order: b[0] holds the two lowest digits (§1.3). */
struct dlt645_addr {
    uint8_t b[DLT645_ADDR_LEN];
};

/* A complete frame, DATA already −33H. */
struct dlt645_frame {
    struct dlt645_addr addr;
    uint8_t ctrl;
    uint8_t len;
    uint8_t data[DLT645_MAX_DATA];
};

/* Broken-down meter time as sent on the wire (local wall time). */
struct dlt645_tm {
    uint8_t year; /* 0..99 → 2000..2099 */
    uint8_t mon;  /* 1..12 */
    uint8_t day;  /* 1..31 */
    uint8_t hour;
    uint8_t min;
    uint8_t sec;
    uint8_t wday; /* 0 = Sunday; only where the DI carries it */
};

/* ---- addresses ------------------------------------------------------- */

/* "123456789012" (1..12 decimal digits, high digits padded with 0) →
 * wire-order address. AH_EINVAL on anything else. */
int dlt645_addr_parse(const char *digits, struct dlt645_addr *out);
/* Wire-order address → 12 digits + NUL. AA (wildcard) bytes print "AA". */
void dlt645_addr_format(const struct dlt645_addr *a, char out[13]);
bool dlt645_addr_eq(const struct dlt645_addr *a, const struct dlt645_addr *b);
/* 99 99 99 99 99 99 */
bool dlt645_addr_is_broadcast(const struct dlt645_addr *a);
/* Does `pattern` (with AA wildcard bytes from the high end) match `a`? */
bool dlt645_addr_match(const struct dlt645_addr *pattern, const struct dlt645_addr *a);
extern const struct dlt645_addr dlt645_addr_wildcard;  /* AA × 6 */
extern const struct dlt645_addr dlt645_addr_broadcast; /* 99 × 6 */

/* ---- encoding -------------------------------------------------------- */

/* Encode a frame: `preamble` FE bytes (0..4), header, data (plain, the
 * encoder adds 33H), CS, 16. Returns bytes written, or AH_EOVERFLOW if
 * cap is too small, AH_EINVAL if len > DLT645_MAX_DATA. */
int dlt645_encode(uint8_t *out, size_t cap, unsigned preamble,
                  const struct dlt645_addr *a, uint8_t ctrl, const uint8_t *data,
                  size_t len);

/* Requests (master → slave), each with the 4 × FE preamble. Return bytes
 * written or a negative ah_err. */
int dlt645_req_read(uint8_t *out, size_t cap, const struct dlt645_addr *a, uint32_t di);
/* DI + N (load-record blocks, §2.9) */
int dlt645_req_read_n(uint8_t *out, size_t cap, const struct dlt645_addr *a, uint32_t di,
                      uint8_t n);
/* DI + N + mm hh DD MM YY (given-time load records / curves, §2.9) */
int dlt645_req_read_n_time(uint8_t *out, size_t cap, const struct dlt645_addr *a,
                           uint32_t di, uint8_t n, const struct dlt645_tm *t);
/* 12H: DI + SEQ (§1.6) */
int dlt645_req_read_next(uint8_t *out, size_t cap, const struct dlt645_addr *a,
                         uint32_t di, uint8_t seq);
/* 13H to AA×6, L = 0 */
int dlt645_req_read_addr(uint8_t *out, size_t cap);
/* 08H to 99×6: ss mm hh DD MM YY */
int dlt645_req_broadcast_time(uint8_t *out, size_t cap, const struct dlt645_tm *t);
/* 14H: DI + PA P0 P1 P2 + C0..C3 + data (len ≤ 50 − 12) */
int dlt645_req_write(uint8_t *out, size_t cap, const struct dlt645_addr *a, uint32_t di,
                     const uint8_t password[4], const uint8_t operator_code[4],
                     const uint8_t *data, size_t len);
/* 16H: mm hh DD MM (99 = wildcard per §1.4); a may be the broadcast address */
int dlt645_req_freeze(uint8_t *out, size_t cap, const struct dlt645_addr *a, uint8_t mm,
                      uint8_t hh, uint8_t dd, uint8_t mon);
/* 1997 read (C = 01H, 2-byte DI) */
int dlt645_req_read_1997(uint8_t *out, size_t cap, const struct dlt645_addr *a,
                         uint16_t di);

/* Replies (slave → master), for the simulator; no preamble unless asked. */
/* Normal read reply: C = 91H (or B1H when more), DATA = DI + payload. */
int dlt645_reply_read(uint8_t *out, size_t cap, unsigned preamble,
                      const struct dlt645_addr *a, uint32_t di, bool more,
                      const uint8_t *payload, size_t len);
/* Abnormal reply: C = func | C0H, DATA = ERR. */
int dlt645_reply_error(uint8_t *out, size_t cap, unsigned preamble,
                       const struct dlt645_addr *a, uint8_t func, uint8_t err);

/* ---- parsing --------------------------------------------------------- */

enum dlt645_parse_status {
    DLT645_NEED_MORE = 0, /* consumed everything, no frame yet */
    DLT645_FRAME_OK,      /* *out holds a frame */
    DLT645_BAD_CHECKSUM,  /* a frame-shaped run failed CS; skipped */
    DLT645_BAD_END,       /* end code was not 16H; skipped */
    DLT645_BAD_LENGTH,    /* L > DLT645_MAX_DATA; skipped */
};

/* Resumable parser. Junk and FE wake-up bytes before 68 are skipped. On an
 * error the parser resyncs at the byte after the false 68, so a real frame
 * hidden inside junk is still found. */
struct dlt645_parser {
    uint8_t buf[DLT645_OVERHEAD + DLT645_MAX_DATA];
    size_t have;
    unsigned long junk_bytes; /* bytes skipped while hunting for 68 */
    unsigned long bad_frames; /* checksum / end / length failures */
};

void dlt645_parser_init(struct dlt645_parser *p);
/* Drop any partial frame (after a timeout, before the next request). */
void dlt645_parser_reset(struct dlt645_parser *p);

/* Feed n bytes. Returns the number of bytes consumed (0..n) and sets
 * *status. Stops right after a frame or an error so the caller handles one
 * event at a time; call again with the rest. Never reads past in[n-1]. */
size_t dlt645_parse(struct dlt645_parser *p, const uint8_t *in, size_t n,
                    struct dlt645_frame *out, enum dlt645_parse_status *status);

/* ---- reply interpretation --------------------------------------------- */

static inline uint8_t dlt645_func(const struct dlt645_frame *f)
{
    return f->ctrl & DLT645_C_FUNC;
}
static inline bool dlt645_is_reply(const struct dlt645_frame *f)
{
    return (f->ctrl & DLT645_C_DIR) != 0;
}
static inline bool dlt645_is_abnormal(const struct dlt645_frame *f)
{
    return (f->ctrl & DLT645_C_ABN) != 0;
}
static inline bool dlt645_has_more(const struct dlt645_frame *f)
{
    return (f->ctrl & DLT645_C_MORE) != 0;
}

/* DI from the first 4 DATA bytes (little endian); AH_EFRAME if len < 4. */
int dlt645_frame_di(const struct dlt645_frame *f, uint32_t *di);

/* ERR word bits (§1.7), 2007 and 1997 names. Writes "no requested data"
 * style names joined by ", " into buf; returns buf. */
const char *dlt645_err_describe(uint8_t err, enum dlt645_proto proto, char *buf,
                                size_t cap);
#define DLT645_ERR_OTHER    0x01
#define DLT645_ERR_NO_DATA  0x02
#define DLT645_ERR_PASSWORD 0x04
#define DLT645_ERR_BAUD     0x08
#define DLT645_ERR_ZONES    0x10
#define DLT645_ERR_PERIODS  0x20
#define DLT645_ERR_TARIFFS  0x40

/* Classified reply to a read request for (addr, di). */
enum dlt645_reply_kind {
    DLT645_R_DATA,      /* normal reply, payload follows DI */
    DLT645_R_DATA_MORE, /* normal, more frames (send 12H with seq+1) */
    DLT645_R_ERROR,     /* abnormal, err set */
    DLT645_R_OTHER,     /* not an answer to this request (other addr/DI/func) */
};
struct dlt645_reply {
    enum dlt645_reply_kind kind;
    uint8_t err;            /* ERR word for DLT645_R_ERROR */
    const uint8_t *payload; /* points into the frame, after DI */
    size_t payload_len;
    uint8_t seq; /* SEQ of a 92H/B2H reply (trailing byte), else 0 */
};
/* Match a parsed frame against the request it should answer. func is the
 * request's function code (11H, 12H, 01H for 1997…). For 1997 the DI is
 * 2 bytes. */
int dlt645_reply_classify(const struct dlt645_frame *f, enum dlt645_proto proto,
                          const struct dlt645_addr *addr, uint8_t func, uint32_t di,
                          struct dlt645_reply *r);

/* Reassembles a multi-frame (11H + 12H follow-up) reply into one payload. */
struct dlt645_reasm {
    uint8_t data[8 * DLT645_MAX_DATA];
    size_t len;
    uint8_t next_seq; /* SEQ to send in the next 12H */
};
void dlt645_reasm_init(struct dlt645_reasm *r);
/* Append a chunk; AH_EOVERFLOW past the buffer. */
int dlt645_reasm_add(struct dlt645_reasm *r, const uint8_t *p, size_t n);

/* ---- BCD helpers (§2.2) ---------------------------------------------- */

/* Decode n little-endian packed BCD bytes. With `sign`, bit 7 of the most
 * significant byte is the sign. Returns AH_ERANGE on a non-BCD nibble
 * (e.g. FF "not available" fill). */
int dlt645_bcd_decode(const uint8_t *p, size_t n, bool sign, int64_t *out);
/* Encode |v| into n LE BCD bytes, setting the sign bit when sign && v < 0.
 * AH_ERANGE if it does not fit. */
int dlt645_bcd_encode(int64_t v, uint8_t *p, size_t n, bool sign);
bool dlt645_bcd_all_ff(const uint8_t *p, size_t n);

/* Time fields in wire order: mm hh DD MM YY (5 B), ss mm hh DD MM YY (6 B),
 * YYMMDDWW (4 B LE: WW DD MM YY), hhmmss (3 B LE: ss mm hh). */
int dlt645_tm_decode_ymdhm(const uint8_t p[5], struct dlt645_tm *t);
void dlt645_tm_encode_ymdhm(const struct dlt645_tm *t, uint8_t p[5]);
int dlt645_tm_decode_ymdhms(const uint8_t p[6], struct dlt645_tm *t);
void dlt645_tm_encode_ymdhms(const struct dlt645_tm *t, uint8_t p[6]);

#endif /* AH_DLT645_H */
