/*
 * metrics — registry, renderer and HTTP endpoint (see metrics.h).
 * Only this file includes microhttpd.h.
 */
#include "metrics.h"

#include "ah_err.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A family is one metric name with its help and type; every series of it
 * is rendered as one group (Prometheus text format 0.0.4 requires that). */
struct met_family {
    char name[96];
    char help[160];
    enum met_type type;
};

struct met_series {
    unsigned family;
    char labels[160];
    _Atomic double value;
};

struct met {
    pthread_mutex_t lock; /* registration only; updates are atomic */
    struct met_family families[MET_MAX_FAMILIES];
    _Atomic size_t nfam;
    struct met_series *series;
    _Atomic size_t n;
    struct MHD_Daemon *httpd;
};

met_t *met_new(void)
{
    met_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->series = calloc(MET_MAX_SERIES, sizeof *m->series);
    if (!m->series) {
        free(m);
        return NULL;
    }
    pthread_mutex_init(&m->lock, NULL);
    return m;
}

void met_destroy(met_t **pm)
{
    if (!pm || !*pm)
        return;
    met_t *m = *pm;
    met_stop(m);
    pthread_mutex_destroy(&m->lock);
    free(m->series);
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
    for (size_t i = 0; i < n; i++) {
        if (m->series[i].family == f && !strcmp(m->series[i].labels, labels)) {
            s = &m->series[i];
            goto out;
        }
    }
    if (n == MET_MAX_SERIES)
        goto out;
    s = &m->series[n];
    s->family = (unsigned)f;
    snprintf(s->labels, sizeof s->labels, "%s", labels);
    atomic_store(&s->value, 0.0);
    atomic_store(&m->n, n + 1); /* publish after the slot is filled */
out:
    pthread_mutex_unlock(&m->lock);
    return s;
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

static void emit(char *buf, size_t cap, size_t *len, const char *line, int k)
{
    if (k <= 0)
        return;
    if (*len + (size_t)k < cap)
        memcpy(buf + *len, line, (size_t)k + 1);
    *len += (size_t)k;
}

size_t met_render(met_t *m, char *buf, size_t cap)
{
    size_t nf = atomic_load(&m->nfam), n = atomic_load(&m->n), len = 0;
    char line[512];
    if (cap)
        buf[0] = '\0';
    for (size_t f = 0; f < nf; f++) {
        const struct met_family *fam = &m->families[f];
        emit(buf, cap, &len, line,
             snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s %s\n", fam->name,
                      fam->help, fam->name, fam->type == MET_COUNTER ? "counter" : "gauge"));
        for (size_t i = 0; i < n; i++) {
            const struct met_series *s = &m->series[i];
            if (s->family != f)
                continue;
            emit(buf, cap, &len, line,
                 snprintf(line, sizeof line, "%s%s%s%s %.15g\n", fam->name,
                          s->labels[0] ? "{" : "", s->labels, s->labels[0] ? "}" : "",
                          met_get(s)));
        }
    }
    return len;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **req_cls)
{
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)req_cls;
    met_t *m = cls;
    struct MHD_Response *r;
    enum MHD_Result ret;
    if (strcmp(method, "GET") != 0 || strcmp(url, "/metrics") != 0) {
        static const char nf[] = "not found: GET /metrics\n";
        r = MHD_create_response_from_buffer(sizeof nf - 1, (void *)nf,
                                            MHD_RESPMEM_PERSISTENT);
        ret = MHD_queue_response(c, MHD_HTTP_NOT_FOUND, r);
        MHD_destroy_response(r);
        return ret;
    }
    size_t need = met_render(m, NULL, 0) + 1;
    char *body = malloc(need);
    if (!body)
        return MHD_NO;
    met_render(m, body, need);
    r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4");
    ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
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
    m->httpd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL,
                                NULL, on_request, m, MHD_OPTION_SOCK_ADDR, &sa,
                                MHD_OPTION_CONNECTION_LIMIT, (unsigned)16,
                                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    if (!m->httpd)
        return AH_EIO;
    if (bound_port) {
        const union MHD_DaemonInfo *di =
            MHD_get_daemon_info(m->httpd, MHD_DAEMON_INFO_BIND_PORT);
        *bound_port = di ? di->port : (int)port;
    }
    return AH_OK;
}

void met_stop(met_t *m)
{
    if (m && m->httpd) {
        MHD_stop_daemon(m->httpd);
        m->httpd = NULL;
    }
}
