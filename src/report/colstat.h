/*
 * colstat — collection ratio for the operator (issue 18 #3): per district
 * and per link, the share of meters whose read of the last complete
 * interval is stored, and the share of the last complete local day's
 * intervals stored. Read from the store (through the pipeline's lock), so
 * a read recovered by backfill counts as soon as it is committed.
 *
 * One thread wakes at each interval boundary of the head-end clock (and
 * once at start) and sets the gauges
 *   amihead_district_collection_ratio{district,window="interval"|"day"}
 *   amihead_link_collection_ratio{link,window="interval"|"day"}
 *   amihead_collection_interval_end_seconds / _day_end_seconds
 * "Complete" means its collection had a whole interval: the interval that
 * ended one step before the newest boundary, the local day that ended at
 * least one step ago.
 *
 * It must not write to the store or talk to links.
 */
#ifndef AH_COLSTAT_H
#define AH_COLSTAT_H

#include "pipeline.h"

#include <stdint.h>

struct cfg;
struct met;
struct ah_clock;
typedef struct colstat colstat_t;

/* Start for cfg (borrowed), midx (store index of cfg->meters[i], borrowed),
 * pipe and met (borrowed); all must outlive colstat_stop. AH_ENOMEM. */
int colstat_start(const struct cfg *cfg, const uint32_t *midx, pipe_t *pipe,
                  struct met *met, const struct ah_clock *clk, colstat_t **out);
/* Compute the ratios once now (the thread's job; exposed for tests). */
void colstat_update(colstat_t *c);
/* Stop and join the thread, free; *c = NULL. Accepts NULL. */
void colstat_stop(colstat_t **c);

#endif /* AH_COLSTAT_H */
