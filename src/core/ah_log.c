/* ah_log — stderr logger with per-site rate limiting (see ah_log.h). */
#include "ah_log.h"
#include "ah_clock.h"
#include "ah_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum ah_log_level ah_log_threshold = AH_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void ah_log_set_level(enum ah_log_level lvl)
{
    ah_log_threshold = lvl;
}

int ah_log_parse_level(const char *s, enum ah_log_level *out)
{
    for (unsigned i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum ah_log_level)i;
            return AH_OK;
        }
    }
    return AH_EINVAL;
}

void ah_log_emit(struct ah_log_site *site, enum ah_log_level lvl, const char *ctx,
                 const char *fmt, ...)
{
    long long now = (long long)ah_mono_ms();
    /* Repeats from one call site within a second are counted, not printed:
     * a dead bus must not flood the log with one line per retry. */
    if (site->last_ms && now - site->last_ms < 1000 && lvl < AH_LOG_ERROR) {
        site->suppressed++;
        return;
    }
    char ts[32];
    ah_time_format(ah_wall_ms(), ts, sizeof ts);
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (site->suppressed)
        fprintf(stderr, "%s %-5s [%s] %s (+%u similar suppressed)\n", ts,
                level_names[lvl], ctx ? ctx : "-", msg, site->suppressed);
    else
        fprintf(stderr, "%s %-5s [%s] %s\n", ts, level_names[lvl], ctx ? ctx : "-", msg);
    site->last_ms = now;
    site->suppressed = 0;
}
