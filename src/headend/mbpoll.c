/*
 * mbpoll — Modbus link threads (see mbpoll.h).
 */
#include "mbpoll.h"

#include "ah_clock.h"
#include "ah_err.h"
#include "ah_log.h"
#include "mbio.h"
#include "metrics.h"
#include "cadence.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct mbpoll {
    struct mbpoll_conf c;
    const struct cfg_link *cl;
    pthread_t th;
    atomic_int stop;
    size_t *meters;
    size_t n_meters;
    int *streak, *since;
    mbio_t *io;
    struct mbpoll_stats st; /* written by the thread, read after join */
    char ctx[CFG_NAME_MAX];
};

static bool qty_is(const struct mbmap_qty *q, const char *name)
{
    return strcmp(q->name, name) == 0;
}

/* The factor that turns the map's unit into the store's unit base
 * (k-prefixed or not). */
static double unit_k(const char *unit, const char *base)
{
    if (unit[0] == 'k' && strcmp(unit + 1, base) == 0)
        return 1000.0;
    if (unit[0] == 'M' && strcmp(unit + 1, base) == 0)
        return 1e6;
    return 1.0;
}

void mbpoll_to_read(const struct mbmap *m, const double *values, struct ah_read *o)
{
    static const char *const ph[3] = {"l1", "l2", "l3"};
    for (size_t i = 0; i < m->n_qty; i++) {
        const struct mbmap_qty *q = &m->qty[i];
        double v = values[i];
        if (!isfinite(v))
            continue;
        char nm[40];
        if (qty_is(q, "import_active_energy")) {
            /* 0.01 kWh; a map in Wh is brought to kWh first */
            double kwh = v * unit_k(q->unit, "Wh") / 1000.0;
            o->imp_total = llround(kwh * 100.0);
            o->present |= AH_READ_HAS_IMP_TOTAL;
            continue;
        }
        if (qty_is(q, "export_active_energy")) {
            double kwh = v * unit_k(q->unit, "Wh") / 1000.0;
            o->exp_total = llround(kwh * 100.0);
            o->present |= AH_READ_HAS_EXP_TOTAL;
            continue;
        }
        if (qty_is(q, "frequency")) {
            o->freq = (uint16_t)lround(v * 100.0);
            o->present |= AH_READ_HAS_FREQ;
            continue;
        }
        if (qty_is(q, "active_power_total")) {
            o->p[AH_READ_TOTAL] = (int32_t)lround(v * unit_k(q->unit, "W") * 10.0);
            o->present |= AH_READ_HAS_P(AH_READ_TOTAL);
            continue;
        }
        if (qty_is(q, "reactive_power_total")) {
            o->q[AH_READ_TOTAL] = (int32_t)lround(v * unit_k(q->unit, "var") * 10.0);
            o->present |= AH_READ_HAS_Q(AH_READ_TOTAL);
            continue;
        }
        if (qty_is(q, "power_factor_total")) {
            o->pf[AH_READ_TOTAL] = (int16_t)lround(v * 1000.0);
            o->present |= AH_READ_HAS_PF(AH_READ_TOTAL);
            continue;
        }
        for (int k = 0; k < 3; k++) {
            snprintf(nm, sizeof nm, "voltage_%s", ph[k]);
            if (qty_is(q, nm)) {
                o->voltage[k] = (int32_t)lround(v * unit_k(q->unit, "V") * 10.0);
                o->present |= AH_READ_HAS_VOLTAGE(k);
                break;
            }
            snprintf(nm, sizeof nm, "current_%s", ph[k]);
            if (qty_is(q, nm)) {
                o->current[k] = (int32_t)lround(v * unit_k(q->unit, "A") * 1000.0);
                o->present |= AH_READ_HAS_CURRENT(k);
                break;
            }
            snprintf(nm, sizeof nm, "active_power_%s", ph[k]);
            if (qty_is(q, nm)) {
                o->p[k + 1] = (int32_t)lround(v * unit_k(q->unit, "W") * 10.0);
                o->present |= AH_READ_HAS_P(k + 1);
                break;
            }
            snprintf(nm, sizeof nm, "reactive_power_%s", ph[k]);
            if (qty_is(q, nm)) {
                o->q[k + 1] = (int32_t)lround(v * unit_k(q->unit, "var") * 10.0);
                o->present |= AH_READ_HAS_Q(k + 1);
                break;
            }
            snprintf(nm, sizeof nm, "power_factor_%s", ph[k]);
            if (qty_is(q, nm)) {
                o->pf[k + 1] = (int16_t)lround(v * 1000.0);
                o->present |= AH_READ_HAS_PF(k + 1);
                break;
            }
        }
    }
}

static int io_open(struct mbpoll *p)
{
    const struct cfg_link *cl = p->cl;
    int rc;
    if (cl->type == CFG_LINK_MODBUS_TCP) {
        char host[CFG_HOSTPORT_MAX];
        snprintf(host, sizeof host, "%s", cl->endpoint);
        char *colon = strrchr(host, ':');
        if (!colon)
            return AH_EINVAL;
        *colon = '\0';
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (*end || port < 1 || port > 65535)
            return AH_EINVAL;
        rc = mbio_new_tcp(&p->io, host, (int)port);
    } else {
        char par = cl->parity == LINK_PARITY_EVEN  ? 'E'
                   : cl->parity == LINK_PARITY_ODD ? 'O'
                                                   : 'N';
        rc = mbio_new_rtu(&p->io, cl->device, cl->baud, par, cl->stop_bits);
    }
    if (rc != AH_OK)
        return rc;
    rc = mbio_set_timeout(p->io, cl->timeout_ms, cl->retries);
    if (rc == AH_OK)
        rc = mbio_connect(p->io);
    if (rc != AH_OK)
        mbio_destroy(&p->io);
    return rc;
}

/* Sleep at most 50 ms of real time, so that a stop is seen quickly. */
static void nap(int64_t ms)
{
    if (ms > 50)
        ms = 50;
    if (ms <= 0)
        return;
    struct timespec ts = {0, (long)ms * 1000000L};
    nanosleep(&ts, NULL);
}

static void read_cycle(struct mbpoll *p, int64_t boundary_s)
{
    const struct cfg *cfg = p->c.cfg;
    unsigned tried = 0, ok = 0;
    p->st.cycles++;
    for (size_t k = 0; k < p->n_meters && !atomic_load(&p->stop); k++) {
        size_t mi = p->meters[k];
        const struct cfg_meter *cm = &cfg->meters[mi];
        p->since[k]++;
        if (cadence_backoff_skip(p->streak[k], p->since[k], cfg->schedule.backoff_after,
                                 cfg->schedule.backoff_max_cycles)) {
            p->st.backed_off++;
            continue;
        }
        p->since[k] = 0;
        tried++;
        int rc = AH_OK;
        if (!p->io) {
            rc = io_open(p);
            if (rc != AH_OK) {
                ah_log(AH_LOG_WARN, p->ctx, "connect %s failed: %s",
                       p->cl->type == CFG_LINK_MODBUS_TCP ? p->cl->endpoint
                                                          : p->cl->device,
                       ah_strerror(rc));
                met_set(p->c.met.up, 0);
                return; /* the next cycle tries again */
            }
            met_set(p->c.met.up, 1);
        }
        double values[MBMAP_MAX_QTY];
        struct mbmap_span spans[MBMAP_MAX_SPANS];
        size_t n_spans = 0;
        mbmap_plan(cm->map, spans, MBMAP_MAX_SPANS, &n_spans);
        rc = mbio_set_unit(p->io, cm->unit_id);
        int64_t t0 = ah_mono_ms();
        if (rc == AH_OK)
            rc = mbio_read_map(p->io, cm->map, values, MBMAP_MAX_QTY);
        int64_t dt = ah_mono_ms() - t0;
        p->st.requests += n_spans;
        met_add(p->c.met.requests, (double)n_spans);
        if (rc != AH_OK) {
            if (rc == AH_ETIMEDOUT) {
                p->st.timeouts++;
                met_add(p->c.met.timeouts, 1);
            } else {
                p->st.meter_errors++;
            }
            p->streak[k]++;
            ah_log(AH_LOG_WARN, p->ctx, "meter %s (unit %d): %s %s", cm->id, cm->unit_id,
                   ah_strerror(rc), mbio_detail(p->io));
            if (rc == AH_ECLOSED || rc == AH_EIO) {
                mbio_destroy(&p->io);
                met_set(p->c.met.up, 0);
            }
            continue;
        }
        p->streak[k] = 0;
        ok++;
        double rtt_s = (n_spans ? (double)dt / (double)n_spans : (double)dt) / 1000.0;
        met_set(p->c.met.rtt, rtt_s);
        met_observe(p->c.met.latency, rtt_s);
        struct pipe_read pr;
        memset(&pr, 0, sizeof pr);
        pr.meter = p->c.midx[mi];
        pr.read.end = (uint64_t)boundary_s;
        pr.read.source = AH_READ_LIVE;
        pr.read.ct = (uint32_t)cm->ct;
        pr.read.pt = (uint32_t)cm->pt;
        pr.read.headend_clock_ms = ah_clock_now_ms(p->c.clk);
        mbpoll_to_read(cm->map, values, &pr.read);
        if (pipe_push(p->c.pipe, &pr) == AH_OK) {
            p->st.reads++;
            met_add(p->c.met.reads, 1);
        }
    }
    if (tried)
        met_set(p->c.met.ratio, (double)ok / (double)tried);
}

static void *thread_main(void *arg)
{
    struct mbpoll *p = arg;
    const int64_t step = (int64_t)p->c.cfg->schedule.interval_min * 60;
    /* the first read waits for a boundary: a meter read mid-interval says
     * nothing about the interval's end */
    int64_t next = (ah_clock_now_ms(p->c.clk) / 1000 / step + 1) * step;
    while (!atomic_load(&p->stop)) {
        int64_t now = ah_clock_now_ms(p->c.clk);
        if (now < next * 1000) {
            nap(ah_clock_real_ms_until(p->c.clk, next * 1000));
            continue;
        }
        int64_t boundary = next;
        if (now >= (boundary + step) * 1000) {
            /* a whole interval went by (reads slower than the interval): the
             * skipped boundaries stay gaps, Modbus meters keep no history */
            p->st.overruns++;
            met_add(p->c.met.overruns, 1);
            boundary = now / 1000 / step * step;
            char b[32];
            ah_time_format((int64_t)boundary * 1000, b, sizeof b);
            ah_log(AH_LOG_WARN, p->ctx, "cycle overran: skipping to %s", b);
        }
        read_cycle(p, boundary);
        next = boundary + step;
    }
    mbio_destroy(&p->io);
    return NULL;
}

int mbpoll_start(const struct mbpoll_conf *c, mbpoll_t **out)
{
    const struct cfg_link *cl = &c->cfg->links[c->link];
    if (cl->type != CFG_LINK_MODBUS_TCP && cl->type != CFG_LINK_MODBUS_RTU)
        return AH_EINVAL;
    struct mbpoll *p = calloc(1, sizeof *p);
    if (!p)
        return AH_ENOMEM;
    p->c = *c;
    p->cl = cl;
    snprintf(p->ctx, sizeof p->ctx, "%s", cl->name);
    atomic_init(&p->stop, 0);
    size_t n = 0;
    for (size_t i = 0; i < c->cfg->n_meters; i++)
        if (c->cfg->meters[i].link == c->link && c->cfg->meters[i].map)
            n++;
    p->meters = calloc(n ? n : 1, sizeof *p->meters);
    p->streak = calloc(n ? n : 1, sizeof *p->streak);
    p->since = calloc(n ? n : 1, sizeof *p->since);
    if (!p->meters || !p->streak || !p->since)
        goto out_nomem;
    for (size_t i = 0; i < c->cfg->n_meters; i++)
        if (c->cfg->meters[i].link == c->link && c->cfg->meters[i].map)
            p->meters[p->n_meters++] = i;
    if (pthread_create(&p->th, NULL, thread_main, p) != 0) {
        free(p->meters);
        free(p->streak);
        free(p->since);
        free(p);
        return AH_EIO;
    }
    *out = p;
    return AH_OK;
out_nomem:
    free(p->meters);
    free(p->streak);
    free(p->since);
    free(p);
    return AH_ENOMEM;
}

void mbpoll_stop(mbpoll_t **pp, struct mbpoll_stats *st)
{
    if (!pp || !*pp)
        return;
    struct mbpoll *p = *pp;
    atomic_store(&p->stop, 1);
    pthread_join(p->th, NULL);
    if (st)
        *st = p->st;
    free(p->meters);
    free(p->streak);
    free(p->since);
    free(p);
    *pp = NULL;
}
