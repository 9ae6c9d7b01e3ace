/*
 * metrics — registry, renderer and HTTP endpoint (see metrics.h).
 * Only this file includes microhttpd.h.
 */
#include "metrics.h"

#include "ah_clock.h"
#include "ah_err.h"
#include "ah_log.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef AH_VERSION
#define AH_VERSION "unknown"
#endif

/* A family is one metric name with its help and type; every series of it
 * is rendered as one group (Prometheus text format 0.0.4 requires that). */
struct met_family {
    char name[96];
    char help[160];
    enum met_type type;
};

struct met_hist {
    size_t nb;
    double bounds[MET_HIST_MAX_BUCKETS];
    _Atomic unsigned long long bucket[MET_HIST_MAX_BUCKETS + 1]; /* not cumulative */
};

struct met_series {
    unsigned family;
    char labels[160];
    _Atomic double value;  /* histograms: the sum */
    struct met_hist *hist; /* histograms only */
};

/* A connection of the HTTP endpoint, for the age limit (met_serve). */
struct met_conn {
    struct MHD_Connection *c; /* NULL: free slot */
    int fd;
    int64_t since_mono_ms;
    bool shut;
};
#define MET_CONN_SLOTS (MET_CONN_MAX + 16)

struct met_page {
    char path[32];
    met_page_fn fn;
    void *arg;
};

struct met {
    pthread_mutex_t lock; /* registration only; updates are atomic */
    struct met_family families[MET_MAX_FAMILIES];
    _Atomic size_t nfam;
    struct met_series *series;
    _Atomic size_t n;
    /* (family, labels) -> series index + 1, open addressing: a city's
     * thousands of links register tens of thousands of series, and a scan
     * per registration made start-up quadratic (29 s at 6,094 links) */
    uint32_t *hidx;
    struct MHD_Daemon *httpd;

    struct {
        met_collect_fn fn;
        void *arg;
    } coll[MET_MAX_COLLECTORS];
    size_t ncoll;
    met_ready_fn ready;
    void *ready_arg;
    struct met_page pages[MET_MAX_PAGES];
    size_t npages;

    pthread_mutex_t conn_lock;
    struct met_conn conns[MET_CONN_SLOTS];
    pthread_t reaper;
    bool reaper_started;
    atomic_bool reaper_stop;
    _Atomic unsigned long reaped;
    struct met_series *reaped_series;
};

/* FNV-1a of family and labels, a slot of hidx (twice MET_MAX_SERIES: the
 * table is never more than half full). */
#define MET_HASH_SLOTS (2u * MET_MAX_SERIES)
static size_t series_hash(unsigned family, const char *labels)
{
    uint32_t h = 2166136261u ^ family;
    h *= 16777619u;
    for (const unsigned char *c = (const unsigned char *)labels; *c; c++) {
        h ^= *c;
        h *= 16777619u;
    }
    return h & (MET_HASH_SLOTS - 1);
}

met_t *met_new(void)
{
    met_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->series = calloc(MET_MAX_SERIES, sizeof *m->series);
    m->hidx = calloc(MET_HASH_SLOTS, sizeof *m->hidx);
    if (!m->series || !m->hidx) {
        free(m->series);
        free(m->hidx);
        free(m);
        return NULL;
    }
    pthread_mutex_init(&m->lock, NULL);
    pthread_mutex_init(&m->conn_lock, NULL);
    return m;
}

void met_destroy(met_t **pm)
{
    if (!pm || !*pm)
        return;
    met_t *m = *pm;
    met_stop(m);
    pthread_mutex_destroy(&m->lock);
    pthread_mutex_destroy(&m->conn_lock);
    size_t n = atomic_load(&m->n);
    for (size_t i = 0; i < n; i++)
        free(m->series[i].hist);
    free(m->series);
    free(m->hidx);
    free(m);
    *pm = NULL;
}

/* Prometheus metric names: [a-zA-Z_:][a-zA-Z0-9_:]* */
static bool valid_name(const char *s)
{
    if (!s || !*s || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == ':'))
            return false;
    }
    return true;
}

struct met_series *met_series(met_t *m, const char *name, const char *help,
                              enum met_type type, const char *labels)
{
    if (!m || !valid_name(name) || strlen(name) >= sizeof m->families[0].name)
        return NULL;
    if (!labels)
        labels = "";
    if (strlen(labels) >= sizeof m->series[0].labels)
        return NULL;
    struct met_series *s = NULL;
    pthread_mutex_lock(&m->lock);
    size_t nf = atomic_load(&m->nfam), f;
    for (f = 0; f < nf; f++)
        if (!strcmp(m->families[f].name, name))
            break;
    if (f == nf) {
        if (nf == MET_MAX_FAMILIES)
            goto out;
        struct met_family *fam = &m->families[nf];
        snprintf(fam->name, sizeof fam->name, "%s", name);
        snprintf(fam->help, sizeof fam->help, "%s", help ? help : "");
        fam->type = type;
        atomic_store(&m->nfam, nf + 1);
    }
    size_t n = atomic_load(&m->n);
    size_t h = series_hash((unsigned)f, labels);
    for (; m->hidx[h]; h = (h + 1) & (MET_HASH_SLOTS - 1)) {
        struct met_series *x = &m->series[m->hidx[h] - 1];
        if (x->family == f && !strcmp(x->labels, labels)) {
            s = x;
            goto out;
        }
    }
    if (n == MET_MAX_SERIES)
        goto out;
    m->hidx[h] = (uint32_t)n + 1;
    s = &m->series[n];
    s->family = (unsigned)f;
    snprintf(s->labels, sizeof s->labels, "%s", labels);
    atomic_store(&s->value, 0.0);
    atomic_store(&m->n, n + 1); /* publish after the slot is filled */
out:
    pthread_mutex_unlock(&m->lock);
    return s;
}

struct met_series *met_histogram(met_t *m, const char *name, const char *help,
                                 const char *labels, const double *bounds, size_t nb)
{
    if (!bounds || nb == 0 || nb > MET_HIST_MAX_BUCKETS)
        return NULL;
    for (size_t i = 1; i < nb; i++)
        if (!(bounds[i] > bounds[i - 1]))
            return NULL;
    struct met_series *s = met_series(m, name, help, MET_HISTOGRAM, labels);
    if (!s || m->families[s->family].type != MET_HISTOGRAM)
        return NULL;
    pthread_mutex_lock(&m->lock);
    if (!s->hist) {
        struct met_hist *h = calloc(1, sizeof *h);
        if (h) {
            h->nb = nb;
            memcpy(h->bounds, bounds, nb * sizeof *bounds);
        }
        s->hist = h;
    }
    pthread_mutex_unlock(&m->lock);
    return s->hist ? s : NULL;
}

void met_observe(struct met_series *s, double v)
{
    if (!s || !s->hist)
        return;
    size_t i = 0;
    while (i < s->hist->nb && v > s->hist->bounds[i])
        i++;
    atomic_fetch_add(&s->hist->bucket[i], 1);
    met_add(s, v);
}

int met_add_collector(met_t *m, met_collect_fn fn, void *arg)
{
    if (!m || !fn || m->ncoll == MET_MAX_COLLECTORS)
        return AH_EINVAL;
    m->coll[m->ncoll].fn = fn;
    m->coll[m->ncoll].arg = arg;
    m->ncoll++;
    return AH_OK;
}

void met_set_ready(met_t *m, met_ready_fn fn, void *arg)
{
    if (!m)
        return;
    m->ready = fn;
    m->ready_arg = arg;
}

int met_add_page(met_t *m, const char *path, met_page_fn fn, void *arg)
{
    if (!m || !fn || !path || path[0] != '/' || strlen(path) >= sizeof m->pages[0].path ||
        m->npages == MET_MAX_PAGES)
        return AH_EINVAL;
    struct met_page *p = &m->pages[m->npages];
    snprintf(p->path, sizeof p->path, "%s", path);
    p->fn = fn;
    p->arg = arg;
    m->npages++;
    return AH_OK;
}

void met_add(struct met_series *s, double v)
{
    if (!s)
        return;
    double old = atomic_load(&s->value);
    while (!atomic_compare_exchange_weak(&s->value, &old, old + v)) {
    }
}

void met_set(struct met_series *s, double v)
{
    if (s)
        atomic_store(&s->value, v);
}

double met_get(const struct met_series *s)
{
    return s ? atomic_load(&((struct met_series *)s)->value) : 0.0;
}

static int listen_backlog(int fd)
{
    return listen(fd, 64);
}

static void emit(char *buf, size_t cap, size_t *len, const char *line, int k)
{
    if (k <= 0)
        return;
    if (*len + (size_t)k < cap)
        memcpy(buf + *len, line, (size_t)k + 1);
    *len += (size_t)k;
}

/* Cumulative buckets, then _sum and _count (text format 0.0.4). */
static void render_hist(const char *name, const struct met_series *s, char *buf,
                        size_t cap, size_t *len)
{
    char line[512];
    const char *sep = s->labels[0] ? "," : "";
    unsigned long long cum = 0;
    for (size_t b = 0; b <= s->hist->nb; b++) {
        cum += atomic_load(&s->hist->bucket[b]);
        char le[32];
        if (b < s->hist->nb)
            snprintf(le, sizeof le, "%.15g", s->hist->bounds[b]);
        else
            snprintf(le, sizeof le, "+Inf");
        emit(buf, cap, len, line,
             snprintf(line, sizeof line, "%s_bucket{%s%sle=\"%s\"} %llu\n", name,
                      s->labels, sep, le, cum));
    }
    const char *lb = s->labels[0] ? "{" : "", *rb = s->labels[0] ? "}" : "";
    emit(buf, cap, len, line,
         snprintf(line, sizeof line, "%s_sum%s%s%s %.15g\n%s_count%s%s%s %llu\n", name,
                  lb, s->labels, rb, met_get(s), name, lb, s->labels, rb, cum));
}

size_t met_render(met_t *m, char *buf, size_t cap)
{
    size_t nf = atomic_load(&m->nfam), n = atomic_load(&m->n), len = 0;
    char line[512];
    if (cap)
        buf[0] = '\0';
    for (size_t f = 0; f < nf; f++) {
        const struct met_family *fam = &m->families[f];
        static const char *const tname[] = {"counter", "gauge", "histogram"};
        emit(buf, cap, &len, line,
             snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s %s\n", fam->name,
                      fam->help, fam->name, tname[fam->type]));
        for (size_t i = 0; i < n; i++) {
            const struct met_series *s = &m->series[i];
            if (s->family != f)
                continue;
            if (s->hist) {
                render_hist(fam->name, s, buf, cap, &len);
                continue;
            }
            emit(buf, cap, &len, line,
                 snprintf(line, sizeof line, "%s%s%s%s %.15g\n", fam->name,
                          s->labels[0] ? "{" : "", s->labels, s->labels[0] ? "}" : "",
                          met_get(s)));
        }
    }
    return len;
}

/* emit() of a formatted line, clamped to its 1 KiB buffer. */
static void emitf(char *buf, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void emitf(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (k >= (int)sizeof line)
        k = (int)sizeof line - 1;
    emit(buf, cap, len, line, k);
}

/* ---- process and build series (rendered per scrape, not registered) ---- */

/* The process_* names are the ones every Prometheus client library
 * exports, so dashboards made for them work unchanged. From /proc
 * (proc(5)): utime, stime (clock ticks), starttime (ticks after boot),
 * vsize (bytes), rss (pages). */
static size_t render_process(char *buf, size_t cap)
{
    size_t len = 0;
    emitf(buf, cap, &len,
          "# HELP amihead_build_info Version of this amihead; the value is 1\n"
          "# TYPE amihead_build_info gauge\n"
          "amihead_build_info{version=\"%s\",microhttpd=\"%s\"} 1\n",
          AH_VERSION, MHD_get_version());
    char stat[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    size_t got = f ? fread(stat, 1, sizeof stat - 1, f) : 0;
    if (f)
        fclose(f);
    stat[got] = '\0';
    const char *p = strrchr(stat, ')'); /* comm may hold spaces */
    unsigned long long utime = 0, stime = 0, start = 0, vsize = 0;
    long long rss = 0;
    if (p && sscanf(p + 2,
                    "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d "
                    "%*d %*d %*d %llu %llu %lld",
                    &utime, &stime, &start, &vsize, &rss) == 5) {
        double tick = (double)sysconf(_SC_CLK_TCK), page = (double)sysconf(_SC_PAGESIZE);
        double boot = 0;
        FILE *u = fopen("/proc/stat", "r");
        char l[256];
        while (u && fgets(l, sizeof l, u))
            if (sscanf(l, "btime %lf", &boot) == 1)
                break;
        if (u)
            fclose(u);
        emitf(buf, cap, &len,
              "# HELP process_cpu_seconds_total User and system CPU time spent\n"
              "# TYPE process_cpu_seconds_total counter\n"
              "process_cpu_seconds_total %.15g\n"
              "# HELP process_resident_memory_bytes Resident memory size\n"
              "# TYPE process_resident_memory_bytes gauge\n"
              "process_resident_memory_bytes %.15g\n"
              "# HELP process_virtual_memory_bytes Virtual memory size\n"
              "# TYPE process_virtual_memory_bytes gauge\n"
              "process_virtual_memory_bytes %llu\n"
              "# HELP process_start_time_seconds Start time since the epoch\n"
              "# TYPE process_start_time_seconds gauge\n"
              "process_start_time_seconds %.15g\n",
              (double)(utime + stime) / tick, (double)rss * page, vsize,
              boot + (double)start / tick);
    }
    long nfd = 0;
    DIR *d = opendir("/proc/self/fd");
    for (struct dirent *e; d && (e = readdir(d));)
        if (e->d_name[0] != '.')
            nfd++;
    if (d) {
        closedir(d);
        nfd--; /* the directory stream's own descriptor */
    }
    long maxfd = sysconf(_SC_OPEN_MAX);
    emitf(buf, cap, &len,
          "# HELP process_open_fds Open file descriptors\n"
          "# TYPE process_open_fds gauge\n"
          "process_open_fds %ld\n"
          "# HELP process_max_fds Limit of open file descriptors\n"
          "# TYPE process_max_fds gauge\n"
          "process_max_fds %ld\n",
          nfd, maxfd);
    return len;
}

/* ---- HTTP -------------------------------------------------------------- */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, char *body,
                             size_t len, enum MHD_ResponseMemoryMode mode,
                             const char *type)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

#define TEXT "text/plain; charset=utf-8"

static enum MHD_Result serve_metrics(met_t *m, struct MHD_Connection *c)
{
    for (size_t i = 0; i < m->ncoll; i++)
        m->coll[i].fn(m, m->coll[i].arg);
    size_t np = render_process(NULL, 0) + 64; /* /proc values may grow a little */
    size_t need = np + met_render(m, NULL, 0) + 64;
    char *body = malloc(need);
    if (!body)
        return MHD_NO;
    size_t len = render_process(body, np);
    if (len >= np)
        len = 0;
    size_t more = met_render(m, body + len, need - len);
    if (len + more >= need)
        more = strlen(body + len);
    return reply(c, MHD_HTTP_OK, body, len + more, MHD_RESPMEM_MUST_FREE,
                 "text/plain; version=0.0.4; charset=utf-8");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **req_cls)
{
    (void)version;
    (void)upload;
    (void)req_cls;
    met_t *m = cls;
    if (*upload_size) /* GET only: a body is refused, not buffered */
        return MHD_NO;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        static const char na[] = "method not allowed: GET only\n";
        return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, (char *)na, sizeof na - 1,
                     MHD_RESPMEM_PERSISTENT, TEXT);
    }
    if (!strcmp(url, "/metrics"))
        return serve_metrics(m, c);
    if (!strcmp(url, "/healthz")) {
        static const char ok[] = "ok\n";
        return reply(c, MHD_HTTP_OK, (char *)ok, sizeof ok - 1, MHD_RESPMEM_PERSISTENT,
                     TEXT);
    }
    if (!strcmp(url, "/readyz")) {
        char why[200] = "ready";
        bool ok = !m->ready || m->ready(m->ready_arg, why, sizeof why);
        char *body = malloc(sizeof why + 1);
        if (!body)
            return MHD_NO;
        int k = snprintf(body, sizeof why + 1, "%s\n", why);
        return reply(c, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, body, (size_t)k,
                     MHD_RESPMEM_MUST_FREE, TEXT);
    }
    for (size_t i = 0; i < m->npages; i++) {
        if (strcmp(url, m->pages[i].path) != 0)
            continue;
        const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "day");
        const char *type = TEXT;
        size_t len = 0;
        char *body = m->pages[i].fn(m->pages[i].arg, q, &len, &type);
        if (!body) {
            static const char err[] = "could not render the page (see the log)\n";
            return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, (char *)err, sizeof err - 1,
                         MHD_RESPMEM_PERSISTENT, TEXT);
        }
        return reply(c, MHD_HTTP_OK, body, len, MHD_RESPMEM_MUST_FREE, type);
    }
    static const char nf[] = "not found: GET /metrics, /healthz, /readyz\n";
    return reply(c, MHD_HTTP_NOT_FOUND, (char *)nf, sizeof nf - 1, MHD_RESPMEM_PERSISTENT,
                 TEXT);
}

/* libmicrohttpd's own messages ("Server reached connection limit", …):
 * through ah_log, so they carry a level and are rate limited instead of
 * reaching stderr raw once per refused connection. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    met_t *m = cls;
    char msg[256];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    /* a connection refused at a limit is what the limits are for: counted,
     * logged only at debug; anything else is worth a (rate-limited) warning */
    if (strstr(msg, "limit")) {
        met_add(met_series(m, "amihead_http_connections_refused_total",
                           "Connections to the metrics endpoint refused at a limit",
                           MET_COUNTER, NULL),
                1);
        ah_log(AH_LOG_DEBUG, "metrics", "http: %s", msg);
        return;
    }
    ah_log(AH_LOG_WARN, "metrics", "http: %s", msg);
}

static void on_conn(void *cls, struct MHD_Connection *c, void **socket_ctx,
                    enum MHD_ConnectionNotificationCode code)
{
    (void)socket_ctx;
    met_t *m = cls;
    pthread_mutex_lock(&m->conn_lock);
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        for (size_t i = 0; ci && i < MET_CONN_SLOTS; i++) {
            if (!m->conns[i].c) {
                m->conns[i] = (struct met_conn){c, ci->connect_fd, ah_mono_ms(), false};
                break;
            }
        }
    } else {
        for (size_t i = 0; i < MET_CONN_SLOTS; i++)
            if (m->conns[i].c == c)
                m->conns[i].c = NULL;
    }
    pthread_mutex_unlock(&m->conn_lock);
}

/* libmicrohttpd's timeout is an idle timeout: a client sending one byte
 * every few seconds keeps its connection forever. Once a second, shut
 * down (not close: the fd stays libmicrohttpd's) every connection older
 * than MET_AGE_MAX_S; its next read sees EOF and it is cleaned up.
 * Under conn_lock, so the fd cannot have been closed and reused. */
static void *reaper_main(void *arg)
{
    met_t *m = arg;
    while (!atomic_load(&m->reaper_stop)) {
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
        int64_t now = ah_mono_ms();
        pthread_mutex_lock(&m->conn_lock);
        for (size_t i = 0; i < MET_CONN_SLOTS; i++) {
            struct met_conn *k = &m->conns[i];
            if (k->c && !k->shut && now - k->since_mono_ms > MET_AGE_MAX_S * 1000) {
                shutdown(k->fd, SHUT_RDWR);
                k->shut = true;
                atomic_fetch_add(&m->reaped, 1);
                met_add(m->reaped_series, 1);
            }
        }
        pthread_mutex_unlock(&m->conn_lock);
    }
    return NULL;
}

int met_serve(met_t *m, const char *listen, int *bound_port)
{
    if (!m || !listen || m->httpd)
        return AH_EINVAL;
    const char *colon = strrchr(listen, ':');
    if (!colon)
        return AH_EINVAL;
    char host[64];
    size_t hl = (size_t)(colon - listen);
    if (hl >= sizeof host)
        return AH_EINVAL;
    memcpy(host, listen, hl);
    host[hl] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return AH_EINVAL;
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, hl ? host : "0.0.0.0", &sa.sin_addr) != 1)
        return AH_EINVAL;
    /* Bind here first: libmicrohttpd reports a busy port only as NULL and
     * a log line; the operator must be told "in use" (like export.pub). */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return ah_err_from_errno(errno);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen_backlog(fd) != 0) {
        int e = errno;
        close(fd);
        return e == EADDRINUSE ? AH_EBUSY : ah_err_from_errno(e);
    }
    /* epoll (MHD_USE_AUTO), never select(): a head-end of a few thousand
     * links holds descriptors above FD_SETSIZE, and select() refuses them */
    m->httpd = MHD_start_daemon(
        MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, m,
        /* the logger first: options before it would log through MHD's own */
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, m, MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_NOTIFY_CONNECTION, on_conn, m, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)MET_CONN_MAX, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)MET_CONN_PER_IP, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)MET_IDLE_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)MET_THREADS, MHD_OPTION_END);
    if (!m->httpd) {
        close(fd);
        return AH_EIO;
    }
    m->reaped_series =
        met_series(m, "amihead_http_connections_reaped_total",
                   "Metrics endpoint connections shut for their age", MET_COUNTER, NULL);
    atomic_store(&m->reaper_stop, false);
    if (pthread_create(&m->reaper, NULL, reaper_main, m) == 0)
        m->reaper_started = true;
    if (bound_port) {
        const union MHD_DaemonInfo *di =
            MHD_get_daemon_info(m->httpd, MHD_DAEMON_INFO_BIND_PORT);
        *bound_port = di ? di->port : (int)port;
    }
    return AH_OK;
}

unsigned long met_reaped(const met_t *m)
{
    return m ? atomic_load(&((met_t *)m)->reaped) : 0;
}

void met_stop(met_t *m)
{
    if (m && m->reaper_started) {
        atomic_store(&m->reaper_stop, true);
        pthread_join(m->reaper, NULL);
        m->reaper_started = false;
    }
    if (m && m->httpd) {
        MHD_stop_daemon(m->httpd);
        m->httpd = NULL;
    }
}
