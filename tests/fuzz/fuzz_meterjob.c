/*
 * fuzz_meterjob — the meter job fed arbitrary answer bytes (meterjob.h):
 * what a meter sends back after the session's framing reaches
 * mjob_on_answer and mjob_lr_next unchanged.
 *
 * Input: byte 0 picks the step (mod MJOB_DONE), byte 1 the job's values
 * before it (a clock already read or not: the handlers depend on them), the
 * rest is the payload after the DI. Checks: a refused answer leaves the
 * values as they were; phases read stay within three; load-record blocks
 * move forward within the payload, each of a known kind; the step after
 * any answer is a step.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ah_err.h"
#include "meterjob.h"

static void check(int cond)
{
    if (!cond)
        abort();
}

static void run_records(const uint8_t *p, size_t n, uint8_t how)
{
    const struct mjob_lr_want w = {.asked = 1741910400 + (how & 7) * 900,
                                   .top = 1741910400 + 96 * 900,
                                   .step = 900,
                                   .tz_s = 28800,
                                   .slack = how >> 3};
    size_t off = 0, prev = 0;
    struct mjob_lr_rec lr;
    int rc;
    while ((rc = mjob_lr_next(p, n, &off, &w, &lr)) == AH_OK) {
        check(off > prev && off <= n);
        check(lr.kind == MJOB_LR_READ || lr.kind == MJOB_LR_INVALID ||
              lr.kind == MJOB_LR_OFF_GRID || lr.kind == MJOB_LR_STALE);
        check(lr.kind != MJOB_LR_READ || lr.end % w.step == 0);
        prev = off;
    }
    check(rc < 0);
    check(off == prev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    enum mjob_step st = (enum mjob_step)(data[0] % MJOB_DONE);
    const uint8_t *p = data + 2;
    size_t n = size - 2;
    if (st == MJOB_LIVE || st == MJOB_LR) {
        run_records(p, n, data[1]);
        return 0;
    }
    struct mjob_vals v, before;
    memset(&v, 0, sizeof v);
    v.have_date = data[1] & 1;
    v.have_frz_t = data[1] & 2;
    v.clock_redone = data[1] & 4;
    v.t1.hour = (uint8_t)(data[1] >> 3);
    v.date = (struct dlt645_tm){.year = 25, .mon = 3, .day = 14};
    before = v;
    int rc = mjob_on_answer(&v, st, p, n, 28800, 5000);
    if (rc != AH_OK)
        check(memcmp(&before, &v, sizeof v) == 0);
    check(v.v_ph <= 7 && v.i_ph <= 7);
    check(!v.have_clock || v.clock_at_ms == 5000);
    unsigned teach;
    check(mjob_after(&v, st, rc == AH_OK, &teach) <= MJOB_DONE);
    check(mjob_after(&v, st, false, &teach) <= MJOB_DONE);
    return 0;
}
