/*
 * ah_log — levelled logging with a context (link, meter).
 *
 * The level is checked before any formatting (Redis serverLog). A message
 * repeated from the same call site for the same context (link, meter) within
 * a second is counted, not printed, and the count is reported with the next
 * one that gets through; other contexts at the same site are not hidden by
 * it (each of 200 links still reports its own cycle). Thread-safe.
 * Codecs and validators never log.
 */
#ifndef AH_LOG_H
#define AH_LOG_H

#include <stdbool.h>

enum ah_log_level { AH_LOG_DEBUG, AH_LOG_INFO, AH_LOG_WARN, AH_LOG_ERROR, AH_LOG_OFF };

extern enum ah_log_level ah_log_threshold;

/* Line format (issue 18 #6): text for a terminal and journald,
 *   2025-03-14T00:00:00.000Z info  [c0/000001000001] message
 * or one JSON object per line for log shippers:
 *   {"time":"...","level":"info","link":"c0","meter":"000001000001","message":"..."}
 * A ctx "link/meter" fills both fields; a ctx that names a module of the
 * head-end ("run", "pipeline", ...: ah_log_is_component) goes to
 * "component"; any other ctx is a link. */
enum ah_log_format { AH_LOG_TEXT, AH_LOG_JSON };
void ah_log_set_format(enum ah_log_format f);
/* "text" | "json"; AH_EINVAL otherwise. */
int ah_log_parse_format(const char *s, enum ah_log_format *out);
bool ah_log_is_component(const char *ctx);

/* Per call-site state for rate limiting: the most recent contexts seen at
 * the site (least recently used one replaced). */
#define AH_LOG_SITE_SLOTS 8
struct ah_log_site {
    struct {
        unsigned long ctx_hash;
        long long last_ms;
        unsigned suppressed;
    } slot[AH_LOG_SITE_SLOTS];
};

void ah_log_set_level(enum ah_log_level lvl);
/* "debug" | "info" | "warn" | "error" | "off"; returns AH_EINVAL otherwise. */
int ah_log_parse_level(const char *s, enum ah_log_level *out);

void ah_log_emit(struct ah_log_site *site, enum ah_log_level lvl, const char *ctx,
                 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* ctx names the link and meter, e.g. "tcp:127.0.0.1:7001/123456789012";
 * may be NULL. */
#define ah_log(lvl, ctx, ...)                                                            \
    do {                                                                                 \
        if ((lvl) >= ah_log_threshold) {                                                 \
            static struct ah_log_site ah_log_site_;                                      \
            ah_log_emit(&ah_log_site_, (lvl), (ctx), __VA_ARGS__);                       \
        }                                                                                \
    } while (0)

#endif /* AH_LOG_H */
