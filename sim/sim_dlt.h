/*
 * sim_dlt — a simulated concentrator's DL/T 645 slave side.
 *
 * Turns one request frame into the reply bytes its meter (or the
 * concentrator itself, for 13H read-address) would send, computed from the
 * fleet at the simulated time. Values are built as struct dlt645_value
 * arrays and encoded by the DI table (dlt645_encode_values,
 * dlt645_lr_encode, dlt645_curve_encode), so the table is the single
 * source of truth for formats. No I/O; link faults are applied by sim_net.
 */
#ifndef AH_SIM_DLT_H
#define AH_SIM_DLT_H

#include "dlt645.h"
#include "sim_fleet.h"

#include <stddef.h>
#include <stdint.h>

#define SIM_DLT_PENDING_MAX 2048 /* bytes of a multi-frame reply kept for 12H */
#define SIM_DLT_REPLY_MAX   (DLT645_PREAMBLE + DLT645_OVERHEAD + DLT645_MAX_DATA)

/* Follow-up state of one link (protocols.md §1.6). */
struct sim_dlt_session {
    struct dlt645_addr addr;
    uint32_t di;
    uint8_t seq; /* SEQ of the last follow-up sent */
    size_t len, off;
    uint8_t pending[SIM_DLT_PENDING_MAX];
};

void sim_dlt_session_init(struct sim_dlt_session *s);

/* Answer `req` on concentrator conc at simulated time now (UTC s). Writes
 * the reply into out (cap ≥ SIM_DLT_REPLY_MAX) and returns its length, 0 for
 * silence (unknown address, broadcast, dead meter), or a negative ah_err. */
int sim_dlt_handle(const struct sim_fleet *f, uint32_t conc, int64_t now,
                   const struct dlt645_frame *req, struct sim_dlt_session *s,
                   uint8_t *out, size_t cap);

/* Payload (after the DI) of a 2007 read of `di` from meter (conc, idx);
 * `param`/`plen` are the request bytes after the DI (N, time). Returns the
 * payload length, or a negative ah_err (AH_ENOTSUP/AH_ENODATA → ERR 02). */
int sim_dlt_payload(const struct sim_fleet *f, uint32_t conc, uint32_t idx, int64_t now,
                    uint32_t di, const uint8_t *param, size_t plen, uint8_t *out,
                    size_t cap);

/* Broken-down local time of a "local seconds" value. */
void sim_dlt_tm(int64_t local_s, struct dlt645_tm *tm);

#endif /* AH_SIM_DLT_H */
