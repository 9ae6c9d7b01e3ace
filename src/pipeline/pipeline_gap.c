/*
 * pipeline_gap — the gap pass (part of pipeline, see pipeline_int.h):
 * intervals that left the backfill window still missing are reported once
 * (a GAP event and a gap message), never estimated. Each meter's gap mark
 * lives beside the loaded states so that the pass over a whole city loads
 * none of them. Runs on the writer thread only.
 */
#include "pipeline_int.h"

#include "ah_err.h"
#include "config.h"
#include "pub.h"
#include "wire.h"

/* ---- gaps ----------------------------------------------------------------- */

static int gap_stage(struct pipe *p, size_t ci, uint64_t first, uint64_t last)
{
    const struct pipe_ev_gap e = {meter_id(p, ci), p->cfg->meters[ci].district,
                                  (int64_t)first, (int64_t)last,
                                  (uint32_t)((last - first) / (uint64_t)p->step_s + 1)};
    char *body = NULL;
    int rc = pipe_ev_build_gap(&e, &body);
    rc = pipe_put_event(p, first, p->midx[ci], PIPE_EV_GAP, rc, body);
    if (rc || !p->pub)
        return rc;
    struct wire_gap g = {
        meter_id(p, ci), p->cfg->meters[ci].district, first, last, (uint32_t)p->step_s,
        "not-collected"};
    return pub_stage_gap(p->pub, &g, NULL);
}

/* The gap mark of a meter never loaded, without loading its state (the
 * gap pass visits every meter: loading them all would hold a city's states
 * at once). A meter never seen gets its fresh state written now — where
 * its gap checks begin must survive a restart — and unloaded again. */
static int gap_peek(struct pipe *p, size_t ci)
{
    uint8_t buf[MSTATE_LEN + 16];
    size_t len = 0;
    int rc = store_get_meter_state(p->st, p->midx[ci], buf, sizeof buf, &len);
    if (rc == AH_OK && len == FRESH_LEN && buf[0] == FRESH_MARK) {
        pipe_gap_init(p, ci, store_rec_get_be64(buf + 1));
        return AH_OK;
    }
    if (rc == AH_OK && len >= MSTATE_LEN1 && buf[VEE_STATE_LEN] >= 1 &&
        buf[VEE_STATE_LEN] <= TAIL_VERSION) {
        pipe_gap_init(p, ci, store_rec_get_be64(buf + VEE_STATE_LEN + 1));
        return AH_OK;
    }
    if (rc == AH_ENOENT && !p->ms[ci]) {
        int64_t g = window_start(p, now_s(p)) - 1;
        pipe_gap_init(p, ci, g > 0 ? (uint64_t)g : 0);
        uint8_t f[FRESH_LEN] = {FRESH_MARK};
        store_rec_put_be64(f + 1, p->gap_until[ci]);
        return store_batch_put_meter_state(p->st, p->midx[ci], f, sizeof f);
    }
    if (rc != AH_OK && rc != AH_ENOENT && rc != AH_EOVERFLOW)
        return rc;
    return pipe_mstate_load(p, ci); /* unreadable: started afresh there */
}

/* Intervals of meter ci older than the backfill window that are still
 * missing: reported once, never estimated. */
int pipe_gaps_meter(struct pipe *p, size_t ci, int64_t now)
{
    if (p->mf[ci] & MF_BAD)
        return AH_OK;
    int rc = AH_OK;
    if (!(p->mf[ci] & MF_GAPK) && (rc = gap_peek(p, ci)) != AH_OK)
        return rc;
    int64_t lim = now - p->lag_s;
    if (lim <= 0 || (uint64_t)lim <= p->gap_until[ci])
        return AH_OK;
    uint64_t to = (uint64_t)lim; /* exclusive */
    uint64_t miss[256];
    uint64_t from = p->gap_until[ci] + 1;
    bool found = false;
    for (;;) {
        size_t n = 0;
        rc = store_missing_intervals(p->st, p->midx[ci], from, to, (uint64_t)p->step_s,
                                     miss, 256, &n);
        if (rc)
            return rc;
        size_t k = n < 256 ? n : 256;
        uint64_t run0 = 0, prev = 0;
        bool open = false;
        for (size_t i = 0; i < k; i++) {
            if (pipe_in_batch(p, p->midx[ci], miss[i]))
                continue;
            if (open && miss[i] == prev + (uint64_t)p->step_s) {
                prev = miss[i];
                continue;
            }
            if (open && (rc = gap_stage(p, ci, run0, prev)) != AH_OK)
                return rc;
            run0 = prev = miss[i];
            open = true;
        }
        if (open && (rc = gap_stage(p, ci, run0, prev)) != AH_OK)
            return rc;
        found = found || open;
        if (n <= 256)
            break;
        from = miss[255] + 1;
    }
    /* persisted with the meter's next state write; at once only when gaps
     * were reported (a restart must not report them again: re-checking a
     * range without gaps finds none, so a quiet advance may wait) */
    p->gap_until[ci] = to - 1;
    if (found && (rc = pipe_mstate_load(p, ci)) == AH_OK)
        p->ms[ci]->dirty = true;
    return rc;
}
