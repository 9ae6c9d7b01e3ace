/*
 * colstat — collection ratios from the store (see colstat.h).
 */
#include "colstat.h"

#include "ah_clock.h"
#include "ah_cond.h"
#include "ah_date.h"
#include "ah_err.h"
#include "ah_log.h"
#include "config.h"
#include "metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One group: a district or a link, with the gauges and this round's sums. */
struct group {
    char name[CFG_NAME_MAX];
    struct met_series *ival, *day;
    unsigned long meters, ival_ok;
    unsigned long long day_want, day_ok;
};

struct colstat {
    const struct cfg *cfg;
    const uint32_t *midx;
    pipe_t *pipe;
    const struct ah_clock *clk;
    struct group *g; /* links first (cfg->n_links), then districts */
    size_t n_links, n_g;
    size_t *dist_of; /* per meter: its district group */
    struct met_series *ival_end, *day_end, *all_ival, *all_day;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
};

static struct met_series *gauge(struct met *m, const char *name, const char *help,
                                const char *key, const char *val, const char *window)
{
    char lab[CFG_NAME_MAX + 64];
    snprintf(lab, sizeof lab, "%s=\"%s\",window=\"%s\"", key, val, window);
    return met_series(m, name, help, MET_GAUGE, lab);
}

void colstat_update(colstat_t *c)
{
    const struct cfg *cfg = c->cfg;
    int64_t step = (int64_t)cfg->schedule.interval_min * 60;
    int64_t now = ah_clock_now_ms(c->clk) / 1000;
    int64_t ival = ah_date_floor(now, step) - step; /* last complete */
    int64_t tz = cfg->headend.tz_offset_s;
    int64_t day_end = ah_date_floor(now - step + tz, 86400) - tz;
    int64_t day_start = day_end - 86400;
    for (size_t k = 0; k < c->n_g; k++)
        c->g[k].ival_ok = c->g[k].day_ok = c->g[k].day_want = 0;
    uint64_t scratch[1];
    for (size_t i = 0; i < cfg->n_meters; i++) {
        struct group *gl = &c->g[cfg->meters[i].link], *gd = &c->g[c->dist_of[i]];
        size_t n = 0;
        bool ok = pipe_missing_intervals(c->pipe, c->midx[i], (uint64_t)ival,
                                         (uint64_t)(ival + step), (uint64_t)step, scratch,
                                         1, &n) == AH_OK &&
                  n == 0;
        gl->ival_ok += ok;
        gd->ival_ok += ok;
        uint64_t want = (uint64_t)(86400 / step);
        n = (size_t)want;
        if (pipe_missing_intervals(c->pipe, c->midx[i], (uint64_t)(day_start + step),
                                   (uint64_t)(day_end + step), (uint64_t)step, scratch, 1,
                                   &n) != AH_OK)
            n = (size_t)want;
        gl->day_want += want;
        gd->day_want += want;
        gl->day_ok += want - (n < want ? n : want);
        gd->day_ok += want - (n < want ? n : want);
    }
    for (size_t k = 0; k < c->n_g; k++) {
        struct group *g = &c->g[k];
        if (!g->meters)
            continue;
        met_set(g->ival, (double)g->ival_ok / (double)g->meters);
        met_set(g->day, g->day_want ? (double)g->day_ok / (double)g->day_want : 0);
    }
    unsigned long meters = 0, ok = 0;
    unsigned long long want = 0, got = 0;
    for (size_t k = 0; k < c->n_links; k++) {
        meters += c->g[k].meters;
        ok += c->g[k].ival_ok;
        want += c->g[k].day_want;
        got += c->g[k].day_ok;
    }
    met_set(c->all_ival, meters ? (double)ok / (double)meters : 0);
    met_set(c->all_day, want ? (double)got / (double)want : 0);
    met_set(c->ival_end, (double)(ival + step));
    met_set(c->day_end, (double)day_end);
}

static void *colstat_main(void *arg)
{
    colstat_t *c = arg;
    int64_t step_ms = (int64_t)c->cfg->schedule.interval_min * 60000;
    pthread_mutex_lock(&c->mu);
    while (!c->stop) {
        pthread_mutex_unlock(&c->mu);
        colstat_update(c);
        /* next boundary of the head-end clock, plus a little for the commit */
        int64_t now = ah_clock_now_ms(c->clk);
        int64_t next = (now / step_ms + 1) * step_ms;
        int64_t real = ah_clock_real_ms_until(c->clk, next);
        if (real < 200)
            real = 200;
        if (real > 60000)
            real = 60000; /* a clock jump is noticed within a minute */
        /* monotonic: a wall clock step must not stall the wait */
        struct timespec ts;
        ah_cond_deadline(real, &ts);
        pthread_mutex_lock(&c->mu);
        if (!c->stop)
            pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

int colstat_start(const struct cfg *cfg, const uint32_t *midx, pipe_t *pipe,
                  struct met *met, const struct ah_clock *clk, colstat_t **out)
{
    colstat_t *c = calloc(1, sizeof *c);
    if (!c)
        return AH_ENOMEM;
    c->cfg = cfg;
    c->midx = midx;
    c->pipe = pipe;
    c->clk = clk;
    c->n_links = cfg->n_links;
    /* one group per link and per district (not per meter: 88 B each, 137 MB
     * at 1.56 M meters for ~6,000 districts) */
    c->g = calloc(cfg->n_links + cfg->n_districts + 1, sizeof *c->g);
    c->dist_of = calloc(cfg->n_meters + 1, sizeof *c->dist_of);
    if (!c->g || !c->dist_of)
        goto out_nomem;
    static const char hl[] = "Share of the link's meters (interval) or intervals (day) "
                             "stored for the last complete interval or local day";
    static const char hd[] = "Share of the district's meters (interval) or intervals "
                             "(day) stored for the last complete interval or local day";
    for (size_t k = 0; k < cfg->n_links; k++) {
        snprintf(c->g[k].name, sizeof c->g[k].name, "%s", cfg->links[k].name);
        c->g[k].ival = gauge(met, "amihead_link_collection_ratio", hl, "link",
                             c->g[k].name, "interval");
        c->g[k].day =
            gauge(met, "amihead_link_collection_ratio", hl, "link", c->g[k].name, "day");
    }
    c->n_g = cfg->n_links;
    for (size_t i = 0; i < cfg->n_meters; i++) {
        const struct cfg_meter *m = &cfg->meters[i];
        c->g[m->link].meters++;
        /* an inventory lists a district's meters together: try the last
         * one's first (a scan per meter is minutes at a city's size) */
        size_t k = i && !strcmp(cfg->meters[i - 1].district, m->district)
                       ? c->dist_of[i - 1]
                       : cfg->n_links;
        while (k < c->n_g && strcmp(c->g[k].name, m->district) != 0)
            k++;
        if (k == c->n_g) {
            snprintf(c->g[k].name, sizeof c->g[k].name, "%s", m->district);
            c->g[k].ival = gauge(met, "amihead_district_collection_ratio", hd, "district",
                                 m->district, "interval");
            c->g[k].day = gauge(met, "amihead_district_collection_ratio", hd, "district",
                                m->district, "day");
            c->n_g++;
        }
        c->g[k].meters++;
        c->dist_of[i] = k;
    }
    c->ival_end = met_series(met, "amihead_collection_interval_end_seconds",
                             "End (UTC) of the interval the interval ratios describe",
                             MET_GAUGE, NULL);
    c->day_end =
        met_series(met, "amihead_collection_day_end_seconds",
                   "End (UTC) of the local day the day ratios describe", MET_GAUGE, NULL);
    static const char ha[] =
        "Share of all meters' reads stored for the last complete "
        "interval, or of all intervals of the last complete local day";
    c->all_ival =
        met_series(met, "amihead_collection_ratio", ha, MET_GAUGE, "window=\"interval\"");
    c->all_day =
        met_series(met, "amihead_collection_ratio", ha, MET_GAUGE, "window=\"day\"");
    if (ah_cond_init(&c->cv) != AH_OK)
        goto out_nomem;
    pthread_mutex_init(&c->mu, NULL);
    if (pthread_create(&c->thread, NULL, colstat_main, c) != 0) {
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->cv);
        goto out_nomem;
    }
    *out = c;
    return AH_OK;
out_nomem:
    free(c->g);
    free(c->dist_of);
    free(c);
    return AH_ENOMEM;
}

void colstat_stop(colstat_t **pc)
{
    if (!pc || !*pc)
        return;
    colstat_t *c = *pc;
    pthread_mutex_lock(&c->mu);
    c->stop = true;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c->g);
    free(c->dist_of);
    free(c);
    *pc = NULL;
}
