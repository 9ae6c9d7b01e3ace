/*
 * report — the operator's day in one self-contained HTML page (issue 18
 * #4): collection ratio per district and per link over time, gaps and
 * what backfill recovered, line loss per district-day against its
 * thresholds with the customers listed for a swing, the anomaly episodes
 * with their evidence, the meters' clock drift, and link outages.
 *
 * Everything is inline (CSS, SVG charts; no script, no network), so the
 * file can be mailed or opened on a box without internet. Every chart is
 * an <svg class="chart" id="chart-…"> and every table a <table id="table-…">
 * whose data-rows attribute holds its row count (tests check them).
 *
 * Reads the store given (read-only is enough) and the config; it must not
 * write either. Used by `amihead report` and by GET /report of the running
 * head-end (metrics listener).
 */
#ifndef AH_REPORT_H
#define AH_REPORT_H

#include "ah_buf.h"
#include "store.h"

#include <stdint.h>

struct cfg;

/* Largest range of one report, days; and of its HTML. */
#define REPORT_MAX_DAYS  31
#define REPORT_MAX_BYTES (64u << 20)
/* Rows of the gap table (worst meters first; data-total has them all). */
#define REPORT_GAP_ROWS 20

/* "YYYY-MM-DD" or "YYYY-MM-DD..YYYY-MM-DD" (local days of the head-end's
 * zone, inclusive) into day numbers (days since 1970-01-01 local).
 * AH_EINVAL on a bad form or from > to; AH_ERANGE beyond REPORT_MAX_DAYS. */
int report_parse_days(const char *spec, int64_t *from_day, int64_t *to_day);

/* Render the report of local days from_day..to_day into out (appended;
 * initialised by the caller with a max). AH_OK, AH_ENOMEM, AH_EOVERFLOW,
 * or a store error. */
int report_render(const struct cfg *c, store_t *st, int64_t from_day, int64_t to_day,
                  struct ah_buf *out);

#endif /* AH_REPORT_H */
