/*
 * sess — one DL/T 645 transaction on one link: request, wait, follow-up
 * frames, retries. Strictly one request in flight (RS-485 is half-duplex;
 * concentrators forward one frame at a time, DESIGN.md §3).
 *
 * The session owns timeouts and retries; the codec owns bytes. It does no
 * I/O itself: the caller (the event loop, or sess_run_sync for one-shot
 * reads) moves bytes between the link and the session and feeds it time.
 *
 *            sess_start
 *                │
 *                ▼
 *   ┌──────► SEND ── caller wrote sess_tx(), sess_sent() ──► WAIT
 *   │          ▲                                              │
 *   │          │ B1/B2 reply: append chunk, build 12H         │
 *   │          └──────────────────────────────────────────────┤
 *   │ timeout or bad frame, attempts left                     │ 91/92/81 reply
 *   └─────────────────────────────────────────────────────────┤────► DONE
 *                                                             │ D1/C1 (ERR word)
 *       timeout or bad frame, no attempts left ──► FAILED ◄───┘  no retry
 */
#ifndef AH_SESS_H
#define AH_SESS_H

#include "dlt645.h"
#include "link.h"

#include <stdbool.h>
#include <stdint.h>

/* After a corrupted frame, how long to wait for a good one before resending:
 * the longest legal inter-byte gap Tb (DL/T 645-2007, protocols.md §1.5). */
#define SESS_BAD_FRAME_GRACE_MS 500

enum sess_state { SESS_IDLE, SESS_SEND, SESS_WAIT, SESS_DONE, SESS_FAILED };

struct sess_req {
    enum dlt645_proto proto;
    struct dlt645_addr addr;
    uint8_t func; /* DLT645_F_READ, DLT645_F_READ_ADDR, 1997 read… */
    uint32_t di;  /* 2007: 4 bytes; 1997: low 16 bits */
    bool with_n;  /* DI + N */
    uint8_t n;
    bool with_time; /* DI + N + mm hh DD MM YY */
    struct dlt645_tm t;
    int timeout_ms; /* per attempt, real time */
    int retries;    /* extra attempts after the first */
};

struct sess_stats {
    unsigned long requests, timeouts, retries, bad_frames, junk_bytes, followups;
};

struct sess {
    enum sess_state state;
    struct sess_req req;
    struct dlt645_parser parser;
    struct dlt645_reasm reasm;
    uint8_t tx[DLT645_FRAME_MAX];
    size_t txlen;
    bool saw_bad;        /* a corrupted frame arrived in this attempt */
    int bad_rc;          /* ... what was wrong with it: AH_ECHECKSUM,
                            AH_EFRAMELEN (L > 200), AH_EFRAME (end) */
    bool saw_wrong_addr; /* a reply to this request from another address */
    int attempt;         /* 0-based attempt of the current frame */
    int64_t deadline_ms; /* monotonic */
    int64_t sent_ms;
    int64_t rtt_ms;                /* last reply's round-trip time */
    int result;                    /* AH_OK, AH_EMETER, AH_ETIMEDOUT, AH_EFRAME … */
    uint8_t err_word;              /* ERR of an abnormal reply */
    struct dlt645_addr reply_addr; /* real address from a 13H reply */
    struct sess_stats stats;
};

/* Begin a transaction: builds the first request; state becomes SESS_SEND.
 * Returns AH_OK or AH_EINVAL for a request the codec cannot build. */
int sess_start(struct sess *s, const struct sess_req *r);
/* Bytes to write in SESS_SEND (borrowed, valid until the next call). */
const uint8_t *sess_tx(const struct sess *s, size_t *len);
/* The caller finished writing the request at now_ms (monotonic). */
void sess_sent(struct sess *s, int64_t now_ms);
/* Bytes arrived from the link while waiting. */
void sess_on_bytes(struct sess *s, const uint8_t *p, size_t n, int64_t now_ms);
/* Time passed: fires the timeout. */
void sess_on_tick(struct sess *s, int64_t now_ms);
/* The link failed (closed / I/O error): the transaction fails with err. */
void sess_on_link_error(struct sess *s, int err);
/* The reassembled payload after the DI (valid in SESS_DONE). */
const uint8_t *sess_payload(const struct sess *s, size_t *len);

/* Run one transaction to completion on an open link, blocking in poll().
 * Returns s->result. */
int sess_run_sync(struct sess *s, link_t *l, const struct sess_req *r);

#endif /* AH_SESS_H */
