/*
 * sim_dlt — DL/T 645 slave side of a simulated concentrator and its meters.
 *
 * Request frame in, reply bytes out; no I/O, no clock (time is an
 * argument). This file is the frame side: who answers (silence for
 * broadcasts, strangers and dead meters), 13H read-address, 11H reads cut
 * into 12H follow-ups, 1997 reads and the error replies. The values come
 * from sim_dlt_values.c and sim_dlt_lr.c (the parts, sim_dlt_int.h), all
 * through the DI table's encoder (dlt645_di.h), so the simulator never has
 * its own idea of a format.
 */
#include "sim_dlt_int.h"

#include "ah_err.h"

#include <string.h>

/* Reply data: DI (4) + payload ≤ 200 (protocols.md §1.2); a follow-up
 * reply also carries SEQ (§1.6). */
#define FIRST_CHUNK (DLT645_MAX_DATA - 4)
#define NEXT_CHUNK  (DLT645_MAX_DATA - 5)

void sim_dlt_session_init(struct sim_dlt_session *s)
{
    memset(s, 0, sizeof *s);
}

/* A reply frame: the DI (dilen bytes, low byte first), the payload and, in
 * a follow-up, its SEQ (§1.6). */
static int reply_payload(uint8_t *out, size_t cap, const struct dlt645_addr *a,
                         uint8_t ctrl, uint32_t di, unsigned dilen, const uint8_t *p,
                         size_t n, const uint8_t *seq)
{
    uint8_t data[DLT645_MAX_DATA];
    size_t len = 0;
    for (unsigned i = 0; i < dilen; i++)
        data[len++] = (uint8_t)(di >> (8 * i));
    memcpy(data + len, p, n);
    len += n;
    if (seq)
        data[len++] = *seq;
    return dlt645_encode(out, cap, 0, a, ctrl, data, len);
}

/* Where follow-up SEQ starts in the pending reply (§1.6: SEQ 1 is the
 * chunk after the first frame). The chunk a SEQ names is sent again when
 * the master asks that SEQ again — its reply was lost or corrupted on the
 * way — as a meter keeps the reply until the next request. */
static bool next_chunk_at(const struct sim_dlt_session *s, uint8_t seq, size_t *off)
{
    if (seq == 0)
        return false;
    *off = FIRST_CHUNK + (size_t)(seq - 1) * NEXT_CHUNK;
    return *off < s->len;
}

/* 13H, only to AA×6 (point to point): the concentrator's own address. */
static int reply_read_addr(uint32_t conc, const struct dlt645_frame *req, uint8_t *out,
                           size_t cap)
{
    if (!dlt645_addr_eq(&req->addr, &dlt645_addr_wildcard))
        return 0;
    char digits[13];
    struct dlt645_addr a;
    sim_fleet_conc_addr(conc, digits);
    dlt645_addr_parse(digits, &a);
    return dlt645_encode(out, cap, 0, &a, DLT645_C_DIR | DLT645_F_READ_ADDR, a.b, 6);
}

/* A DL/T 645-1997 meter: 01H reads of a 2-byte DI, anything else unheard. */
static int reply_1997(const struct sim_fleet *f, uint32_t c, uint32_t idx, int64_t now,
                      const struct dlt645_frame *req, uint8_t *out, size_t cap)
{
    uint8_t payload[SIM_DLT_PENDING_MAX];
    if (dlt645_func(req) != DLT645_97_READ || req->len < 2)
        return 0; /* a 1997 meter does not understand 2007 frames */
    uint16_t di = (uint16_t)(req->data[0] | req->data[1] << 8);
    int rc = sim_dlt_payload_1997(f, c, idx, now, di, payload, sizeof payload);
    if (rc < 0)
        return dlt645_encode(out, cap, 0, &req->addr, 0xC1, (const uint8_t[]){0x02},
                             1); /* ERR: wrong DI (§1.7) */
    if (rc > DLT645_MAX_DATA - 2)
        return AH_EOVERFLOW;
    return reply_payload(out, cap, &req->addr, 0x81, di, 2, payload, (size_t)rc, NULL);
}

/* 12H: the chunk SEQ names of the reply pending on this link (§1.6). */
static int reply_next(const struct dlt645_frame *req, struct sim_dlt_session *s,
                      uint8_t *out, size_t cap)
{
    uint32_t di;
    if (req->len < 5 || dlt645_frame_di(req, &di) < 0)
        return 0;
    uint8_t seq = req->data[4];
    size_t off;
    if (!s->len || di != s->di || !dlt645_addr_eq(&req->addr, &s->addr) ||
        !next_chunk_at(s, seq, &off))
        return dlt645_reply_error(out, cap, 0, &req->addr, DLT645_F_READ_NEXT,
                                  DLT645_ERR_NO_DATA);
    size_t n = s->len - off;
    if (n > NEXT_CHUNK)
        n = NEXT_CHUNK;
    bool more = off + n < s->len;
    uint8_t ctrl = DLT645_C_DIR | DLT645_F_READ_NEXT | (more ? DLT645_C_MORE : 0);
    int rc = reply_payload(out, cap, &req->addr, ctrl, di, 4, s->pending + off, n, &seq);
    s->off = off + n;
    s->seq = seq;
    return rc;
}

/* 11H: the values of a DI; what does not fit one frame is kept for 12H. */
static int reply_read(const struct sim_fleet *f, uint32_t c, uint32_t idx, int64_t now,
                      const struct dlt645_frame *req, struct sim_dlt_session *s,
                      uint8_t *out, size_t cap)
{
    uint8_t payload[SIM_DLT_PENDING_MAX];
    uint32_t di;
    if (dlt645_frame_di(req, &di) < 0)
        return 0;
    int rc = sim_dlt_payload(f, c, idx, now, di, req->data + 4, (size_t)req->len - 4,
                             payload, sizeof payload);
    if (rc < 0)
        return dlt645_reply_error(out, cap, 0, &req->addr, DLT645_F_READ,
                                  DLT645_ERR_NO_DATA);
    size_t n = (size_t)rc;
    if (n <= FIRST_CHUNK) {
        s->len = 0;
        return dlt645_reply_read(out, cap, 0, &req->addr, di, false, payload, n);
    }
    /* longer than one frame: first chunk now, the rest by 12H (§1.6) */
    memcpy(s->pending, payload, n);
    s->len = n;
    s->off = FIRST_CHUNK;
    s->di = di;
    s->addr = req->addr;
    s->seq = 0;
    return dlt645_reply_read(out, cap, 0, &req->addr, di, true, payload, FIRST_CHUNK);
}

/* A meter with no supply (the `missing` fault) hears nothing. */
static bool meter_dead(const struct sim_fleet *f, uint32_t c, uint32_t idx, int64_t now)
{
    const struct sim_fault *ft = sim_fleet_meter_fault(f, sim_fleet_meter(f, c, idx));
    if (!ft || ft->type != SIM_F_MISSING || now < ft->from || now >= ft->to)
        return false;
    struct sim_view w;
    sim_fleet_view(f, c, idx, now, &w);
    return !w.powered;
}

int sim_dlt_handle(const struct sim_fleet *f, uint32_t conc, int64_t now,
                   const struct dlt645_frame *req, struct sim_dlt_session *s,
                   uint8_t *out, size_t cap)
{
    uint8_t func = dlt645_func(req);
    if (dlt645_is_reply(req) || dlt645_addr_is_broadcast(&req->addr))
        return 0; /* slaves never answer broadcasts (§1.3) */
    if (func == DLT645_F_READ_ADDR)
        return reply_read_addr(conc, req, out, cap);
    char digits[13];
    uint32_t c, idx;
    dlt645_addr_format(&req->addr, digits);
    if (sim_fleet_find(f, digits, &c, &idx) < 0 || c != conc)
        return 0; /* not on this concentrator: silence */
    if (meter_dead(f, c, idx, now))
        return 0; /* no supply, no answer */
    if (sim_fleet_meter(f, c, idx)->proto == 1997)
        return reply_1997(f, c, idx, now, req, out, cap);
    if (func == DLT645_F_READ_NEXT)
        return reply_next(req, s, out, cap);
    if (func != DLT645_F_READ)
        return dlt645_reply_error(out, cap, 0, &req->addr, func, DLT645_ERR_OTHER);
    return reply_read(f, c, idx, now, req, s, out, cap);
}
