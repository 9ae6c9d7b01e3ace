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

static enum ah_log_format log_format = AH_LOG_TEXT;

void ah_log_set_format(enum ah_log_format f)
{
    log_format = f;
}

int ah_log_parse_format(const char *s, enum ah_log_format *out)
{
    if (!strcmp(s, "text") || !strcmp(s, "json")) {
        *out = s[0] == 'j' ? AH_LOG_JSON : AH_LOG_TEXT;
        return AH_OK;
    }
    return AH_EINVAL;
}

/* Contexts that name a part of the program, not a link. */
bool ah_log_is_component(const char *ctx)
{
    static const char *const names[] = {
        "run",    "reload",  "pub",   "pipeline", "dialin", "sched",  "release", "sub",
        "amisim", "metrics", "store", "config",   "export", "report", "vee",     NULL};
    for (unsigned i = 0; ctx && names[i]; i++)
        if (!strcmp(ctx, names[i]))
            return true;
    return false;
}

/* n bytes of s as the inside of a JSON string (RFC 8259 section 7): quote,
 * backslash and control characters escaped; other bytes as they are. */
static void json_str(FILE *f, const char *s, size_t n)
{
    for (size_t i = 0; i < n && s[i]; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c < 0x20 || c == 0x7f)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
}

static void json_field(const char *key, const char *val, size_t n)
{
    fprintf(stderr, ",\"%s\":\"", key);
    json_str(stderr, val, n);
    fputc('"', stderr);
}

static void emit_json(const char *ts, enum ah_log_level lvl, const char *ctx,
                      const char *msg, unsigned suppressed)
{
    fprintf(stderr, "{\"time\":\"%s\",\"level\":\"%s\"", ts, level_names[lvl]);
    if (ctx && ah_log_is_component(ctx)) {
        json_field("component", ctx, strlen(ctx));
    } else if (ctx) {
        const char *slash = strchr(ctx, '/');
        json_field("link", ctx, slash ? (size_t)(slash - ctx) : strlen(ctx));
        if (slash)
            json_field("meter", slash + 1, strlen(slash + 1));
    }
    json_field("message", msg, strlen(msg));
    if (suppressed)
        fprintf(stderr, ",\"suppressed\":%u", suppressed);
    fputs("}\n", stderr);
}

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
    if (log_format == AH_LOG_JSON)
        emit_json(ts, lvl, ctx, msg, site->slot[i].suppressed);
    else if (site->slot[i].suppressed)
        fprintf(stderr, "%s %-5s [%s] %s (+%u similar suppressed)\n", ts,
                level_names[lvl], ctx ? ctx : "-", msg, site->slot[i].suppressed);
    else
        fprintf(stderr, "%s %-5s [%s] %s\n", ts, level_names[lvl], ctx ? ctx : "-", msg);
    site->slot[i].last_ms = now;
    site->slot[i].suppressed = 0;
    pthread_mutex_unlock(&log_lock);
}
