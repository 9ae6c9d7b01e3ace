/*
 * metrics — Prometheus text-format metrics over HTTP (libmicrohttpd).
 *
 * Series are registered once (name + help + type + label text) and updated
 * lock-free from any thread (the event loop, Modbus link threads, the
 * pipeline). Collection overruns, timeouts and per-link success must be
 * visible to the operator, not buried in a log (DESIGN.md §8).
 * The registry has a hard maximum of series; registering past it returns
 * NULL and updates through NULL are ignored, so metrics never stop
 * collection.
 */
#ifndef AH_METRICS_H
#define AH_METRICS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct met met_t;
struct met_series;

enum met_type { MET_COUNTER, MET_GAUGE, MET_HISTOGRAM };

#define MET_MAX_SERIES   65536
#define MET_MAX_FAMILIES 256

met_t *met_new(void);
void met_destroy(met_t **m);

/* Find or create the series `name{labels}`. labels is the text inside the
 * braces, e.g. `link="c0"`, or NULL/"" for none (borrowed, copied). All
 * series of one name share help and type (the first registration wins).
 * Returns NULL when the registry is full or arguments are invalid. */
struct met_series *met_series(met_t *m, const char *name, const char *help,
                              enum met_type type, const char *labels);

void met_add(struct met_series *s, double v); /* counters and gauges */
void met_set(struct met_series *s, double v); /* gauges */
double met_get(const struct met_series *s);

/* Find or create the histogram `name{labels}` with the upper bounds
 * bounds[0..nb) (ascending, copied; at most MET_HIST_MAX_BUCKETS; +Inf is
 * implied). Rendered as name_bucket{...,le="…"}, name_sum and name_count.
 * NULL as for met_series. */
#define MET_HIST_MAX_BUCKETS 16
struct met_series *met_histogram(met_t *m, const char *name, const char *help,
                                 const char *labels, const double *bounds, size_t nb);
/* Count one observation v in a histogram (ignored for other series). */
void met_observe(struct met_series *s, double v);

/* Rendered before the registry at every scrape, from the HTTP thread: a
 * place to copy values owned by other modules into gauges (atomic reads
 * only, or that module's own lock). At most MET_MAX_COLLECTORS. */
#define MET_MAX_COLLECTORS 8
typedef void (*met_collect_fn)(met_t *m, void *arg);
int met_add_collector(met_t *m, met_collect_fn fn, void *arg);

/* /readyz: fn returns true when ready, else false with the reason in why
 * (NUL terminated). Without one /readyz answers ready. */
typedef bool (*met_ready_fn)(void *arg, char *why, size_t cap);
void met_set_ready(met_t *m, met_ready_fn fn, void *arg);

/* An extra GET page (e.g. "/report"): fn returns a malloc'd body (caller
 * frees) and its content type, or NULL (500). At most MET_MAX_PAGES. */
#define MET_MAX_PAGES 4
typedef char *(*met_page_fn)(void *arg, const char *query, size_t *len,
                             const char **content_type);
int met_add_page(met_t *m, const char *path, met_page_fn fn, void *arg);

/* Render every series in Prometheus text format 0.0.4 into buf (NUL
 * terminated). Returns the length needed (excluding NUL); output is
 * truncated when that is >= cap. */
size_t met_render(met_t *m, char *buf, size_t cap);

/* Serve GET /metrics, /healthz, /readyz and the pages on "host:port"
 * (port 0 = any; the bound port is returned in *bound_port when non-NULL).
 * AH_OK, AH_EBUSY (port taken), or another negative ah_err.
 *
 * A scrape endpoint must survive slow or hostile clients (issue 17 #7):
 * at most MET_CONN_MAX connections, MET_CONN_PER_IP from one address, an
 * idle timeout of MET_IDLE_S, and a hard age limit of MET_AGE_MAX_S that
 * trickling a byte at a time cannot refresh (a reaper shuts such
 * connections down). libmicrohttpd's own messages go through ah_log. */
#define MET_CONN_MAX    128
#define MET_CONN_PER_IP 8
#define MET_IDLE_S      5
#define MET_AGE_MAX_S   15
/* Threads answering requests: a page that takes long to render (/report)
 * must not hold up a scrape. */
#define MET_THREADS 2
int met_serve(met_t *m, const char *listen, int *bound_port);
void met_stop(met_t *m);
/* Connections shut down for exceeding MET_AGE_MAX_S so far. */
unsigned long met_reaped(const met_t *m);

#endif /* AH_METRICS_H */
