/* ah_log — stderr logger with per-site rate limiting (see ah_log.h). */
#include "ah_log.h"
#include "ah_clock.h"
#include "ah_err.h"

#include <pthread.h>
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

/* Serialises the site tables and keeps lines from different threads whole. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static unsigned long ctx_hash(const char *ctx)
{
    unsigned long h = 1469598103UL; /* FNV-1a; 0 is kept for "free slot" */
    for (const char *c = ctx ? ctx : "-"; *c; c++)
        h = (h ^ (unsigned char)*c) * 16777619UL;
    return h ? h : 1;
}

void ah_log_emit(struct ah_log_site *site, enum ah_log_level lvl, const char *ctx,
                 const char *fmt, ...)
{
    long long now = (long long)ah_mono_ms();
    unsigned long h = ctx_hash(ctx);
    pthread_mutex_lock(&log_lock);
    unsigned i, oldest = 0;
    for (i = 0; i < AH_LOG_SITE_SLOTS; i++) {
        if (site->slot[i].ctx_hash == h)
            break;
        if (site->slot[i].last_ms < site->slot[oldest].last_ms)
            oldest = i;
    }
    if (i == AH_LOG_SITE_SLOTS) {
        i = oldest;
        site->slot[i].ctx_hash = h;
        site->slot[i].last_ms = 0;
        site->slot[i].suppressed = 0;
    }
    /* Repeats from one call site for one context within a second are
     * counted, not printed: a dead bus must not flood the log with one line
     * per retry. */
    if (site->slot[i].last_ms && now - site->slot[i].last_ms < 1000 &&
        lvl < AH_LOG_ERROR) {
        site->slot[i].suppressed++;
        pthread_mutex_unlock(&log_lock);
        return;
    }
    char ts[32];
    ah_time_format(ah_wall_ms(), ts, sizeof ts);
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (site->slot[i].suppressed)
        fprintf(stderr, "%s %-5s [%s] %s (+%u similar suppressed)\n", ts,
                level_names[lvl], ctx ? ctx : "-", msg, site->slot[i].suppressed);
    else
        fprintf(stderr, "%s %-5s [%s] %s\n", ts, level_names[lvl], ctx ? ctx : "-", msg);
    site->slot[i].last_ms = now;
    site->slot[i].suppressed = 0;
    pthread_mutex_unlock(&log_lock);
}
