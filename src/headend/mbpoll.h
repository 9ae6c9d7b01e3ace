/*
 * mbpoll — one Modbus link (modbus-tcp / modbus-rtu) of `amihead run` in
 * its own thread (DESIGN.md §3: libmodbus blocks in select(), so it must
 * not sit in the DL/T 645 event loop).
 *
 * Modbus meters have no load memory: each is read at the interval boundary
 * of the head-end clock and the read is stamped with that boundary (DESIGN.md
 * §4, "otherwise the poll's interval boundary"); an interval missed is a gap
 * for good. Registers are mapped into the store record and pushed into the
 * pipeline. Timeouts and retries are mbio's (the link's timeout_ms and
 * retries), failing meters are backed off like DL/T 645 meters, a dropped
 * connection is re-made at the next meter.
 *
 * It must not include modbus.h (mbio does), nor write the store.
 */
#ifndef AH_MBPOLL_H
#define AH_MBPOLL_H

#include "config.h"
#include "pipeline.h"

#include <stddef.h>
#include <stdint.h>

struct ah_clock;
struct met_series;

/* Where a link thread counts (any may be NULL; metrics.h). */
struct mbpoll_metrics {
    struct met_series *reads, *requests, *timeouts, *rtt, *ratio, *overruns, *up,
        *latency; /* rtt in seconds; latency a histogram (seconds) */
};

struct mbpoll_conf {
    const struct cfg *cfg;      /* borrowed, outlives the thread */
    size_t link;                /* index into cfg->links */
    const struct ah_clock *clk; /* borrowed */
    pipe_t *pipe;               /* borrowed */
    const uint32_t *midx;       /* store index of cfg->meters[i], borrowed */
    struct mbpoll_metrics met;
};

struct mbpoll_stats {
    unsigned long cycles, overruns, requests, timeouts, meter_errors, reads, backed_off;
};

typedef struct mbpoll mbpoll_t;

/*
 * Map one Modbus read (values[i] for m->qty[i]) into a store record:
 * import/export kWh → 0.01 kWh, V → 0.1 V, A → mA, W → 0.1 W (0.0001 kW),
 * var → 0.1 var, PF → 0.001, Hz → 0.01 Hz. Non-finite values are left
 * absent. Pure.
 */
void mbpoll_to_read(const struct mbmap *m, const double *values, struct ah_read *o);

/* Start the thread of link c->link (conf copied). AH_OK with *out (caller
 * owns, mbpoll_stop), AH_ENOMEM, AH_EINVAL (not a Modbus link), AH_EIO. */
int mbpoll_start(const struct mbpoll_conf *c, mbpoll_t **out);

/* Stop and join (a read under way finishes first, bounded by timeout ×
 * (retries + 1) per request); counters go to *st when non-NULL; *p = NULL. */
void mbpoll_stop(mbpoll_t **p, struct mbpoll_stats *st);

#endif /* AH_MBPOLL_H */
