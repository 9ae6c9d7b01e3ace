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

#include <stddef.h>

typedef struct met met_t;
struct met_series;

enum met_type { MET_COUNTER, MET_GAUGE };

#define MET_MAX_SERIES 65536
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

/* Render every series in Prometheus text format 0.0.4 into buf (NUL
 * terminated). Returns the length needed (excluding NUL); output is
 * truncated when that is >= cap. */
size_t met_render(met_t *m, char *buf, size_t cap);

/* Serve GET /metrics on "host:port" (port 0 = any; the bound port is
 * returned in *bound_port when non-NULL). AH_OK or a negative ah_err. */
int met_serve(met_t *m, const char *listen, int *bound_port);
void met_stop(met_t *m);

#endif /* AH_METRICS_H */
