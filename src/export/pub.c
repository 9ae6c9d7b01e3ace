/*
 * pub — ZeroMQ PUB + ROUTER replay + CURVE/ZAP for the export
 * (docs/wire-format.md). It publishes only what the store has committed
 * and serves replay only from the store's outbox; it must not interpret
 * message bodies beyond the outbox record header, and must not let a slow
 * or hostile peer block the writer or the replay thread.
 */
#include "pub.h"

#include "ah_err.h"
#include "ah_log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zmq.h>

/* RFC 27 (ZAP): the handler binds this endpoint in the sockets' context. */
#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_DOMAIN   "amihead"
/* How often the replay thread looks at its stop flag. */
#define REPLAY_POLL_MS 100
/* Retention runs at most this often unless the size limit is exceeded. */
#define RETENTION_EVERY_MS 1000

struct staged {
    uint64_t seq;
    uint8_t *rec; /* outbox record: the published topic and body */
    size_t len;
};

struct pub {
    store_t *store; /* borrowed */
    void *ctx;
    void *pub;    /* writer thread only */
    void *router; /* replay thread only */
    void *zap;    /* replay thread only, NULL without CURVE */
    char headend[WIRE_SEG_MAX + 1];
    char keys_dir[4096];
    const struct ah_clock *clock;
    int64_t retention_ms;
    uint64_t retention_bytes;

    pthread_t thread;
    bool thread_started;
    atomic_bool stop;
    pthread_mutex_t mu;        /* store commit/delete vs replay reads */
    _Atomic uint64_t next_pub; /* first sequence not yet published */
    _Atomic uint64_t outbox_bytes;
    _Atomic uint64_t replay_requests, replay_refused, replay_messages; /* pub_counters */
    _Atomic uint64_t replay_dropped; /* replies a full peer could not take */

    uint64_t stage_next; /* next sequence to hand out in this batch */
    struct staged *staged;
    size_t n_staged, cap_staged;
    int64_t last_retention_mono;
};

static int zerr(void)
{
    int e = errno;
    if (e == EADDRINUSE)
        return AH_EBUSY;
    if (e == EPROTONOSUPPORT || e == ENOTSUP)
        return AH_ENOTSUP;
    if (e == EINVAL || e == ENODEV || e == ENOENT)
        return AH_EINVAL;
    return ah_err_from_errno(e);
}

/* ---- keys --------------------------------------------------------------- */

bool pub_has_curve(void)
{
    return zmq_has("curve") != 0;
}

static bool z85_key_ok(const char *s, size_t n)
{
    uint8_t bin[32];
    char tmp[PUB_KEY_Z85_LEN + 1];
    if (n != PUB_KEY_Z85_LEN)
        return false;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    return zmq_z85_decode(bin, tmp) != NULL;
}

/* Read up to cap-1 bytes of a small file, NUL-terminated, trailing
 * whitespace removed. */
static int read_small(const char *path, char *buf, size_t cap, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ah_err_from_errno(errno);
    ssize_t n = read(fd, buf, cap - 1);
    int e = errno;
    close(fd);
    if (n < 0)
        return ah_err_from_errno(e);
    size_t k = (size_t)n;
    while (k && (buf[k - 1] == '\n' || buf[k - 1] == '\r' || buf[k - 1] == ' ' ||
                 buf[k - 1] == '\t'))
        k--;
    buf[k] = '\0';
    *len = k;
    return AH_OK;
}

int pub_key_load(const char *path, char *z85)
{
    if (!path)
        return AH_EINVAL;
    size_t n = strlen(path);
    if (z85_key_ok(path, n) && access(path, F_OK) != 0) {
        memcpy(z85, path, n + 1);
        return AH_OK;
    }
    char buf[128];
    int rc = read_small(path, buf, sizeof buf, &n);
    if (rc)
        return rc == AH_ENOENT ? AH_EINVAL : rc;
    if (!z85_key_ok(buf, n))
        return AH_EINVAL;
    memcpy(z85, buf, n + 1);
    return AH_OK;
}

int pub_key_public(const char *secret_z85, char *public_z85)
{
    if (!pub_has_curve())
        return AH_ENOTSUP;
    if (zmq_curve_public(public_z85, secret_z85) != 0)
        return AH_EINVAL;
    return AH_OK;
}

static int write_key(const char *path, const char *z85, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return errno == EEXIST ? AH_EBUSY : ah_err_from_errno(errno);
    char line[PUB_KEY_Z85_LEN + 2];
    memcpy(line, z85, PUB_KEY_Z85_LEN);
    line[PUB_KEY_Z85_LEN] = '\n';
    ssize_t n = write(fd, line, PUB_KEY_Z85_LEN + 1);
    int e = errno;
    int crc = close(fd);
    if (n != PUB_KEY_Z85_LEN + 1 || crc != 0)
        return n < 0 ? ah_err_from_errno(e) : AH_EIO;
    return AH_OK;
}

int pub_keygen(const char *dir, const char *name, char *public_z85, char *secret_z85)
{
    if (!pub_has_curve())
        return AH_ENOTSUP;
    char pk[PUB_KEY_Z85_LEN + 1], sk[PUB_KEY_Z85_LEN + 1];
    if (zmq_curve_keypair(pk, sk) != 0)
        return zerr();
    int rc = AH_OK;
    if (dir) {
        if (!name || !*name || strchr(name, '/'))
            return AH_EINVAL;
        char p1[4200], p2[4200];
        int n1 = snprintf(p1, sizeof p1, "%s/%s.key", dir, name);
        int n2 = snprintf(p2, sizeof p2, "%s/%s.key_secret", dir, name);
        if (n1 < 0 || n2 < 0 || (size_t)n1 >= sizeof p1 || (size_t)n2 >= sizeof p2)
            return AH_EINVAL;
        if (access(p1, F_OK) == 0 || access(p2, F_OK) == 0)
            return AH_EBUSY;
        if ((rc = write_key(p2, sk, 0600)) != AH_OK)
            goto out;
        if ((rc = write_key(p1, pk, 0644)) != AH_OK) {
            unlink(p2);
            goto out;
        }
    }
    if (public_z85)
        memcpy(public_z85, pk, sizeof pk);
    if (secret_z85)
        memcpy(secret_z85, sk, sizeof sk);
out:
    memset(sk, 0, sizeof sk);
    return rc;
}

bool pub_key_allowed(const char *dir, const char *public_z85)
{
    if (!dir || !public_z85)
        return false;
    DIR *d = opendir(dir);
    if (!d)
        return false;
    bool ok = false;
    struct dirent *e;
    while (!ok && (e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (e->d_name[0] == '.' || n < 5 || strcmp(e->d_name + n - 4, ".key") != 0)
            continue;
        char path[4400], buf[128];
        size_t len;
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path)
            continue;
        if (read_small(path, buf, sizeof buf, &len) == AH_OK && len == PUB_KEY_Z85_LEN &&
            !memcmp(buf, public_z85, PUB_KEY_Z85_LEN))
            ok = true;
    }
    closedir(d);
    return ok;
}

/* ---- replay thread ------------------------------------------------------ */

static void send_frame(void *s, const void *p, size_t n, int more)
{
    /* Only the first frame of a ROUTER reply can fail for lack of room
     * (libzmq checks the high-water mark once per message). */
    (void)zmq_send(s, p, n, (more ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT);
}

/* RFC 27 ZAP: version, request id, domain, address, routing id, mechanism,
 * credentials... -> version, request id, status code, text, user id,
 * metadata. */
static void zap_serve(struct pub *p)
{
    zmq_msg_t f[8];
    int n = 0;
    bool more = true;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, p->zap, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            break;
        }
        more = zmq_msg_more(&m);
        if (n < 8)
            f[n++] = m;
        else
            zmq_msg_close(&m);
    }
    if (n < 2)
        goto out;
    const char *code = "400", *text = "not authorised";
    if (n >= 7 && zmq_msg_size(&f[5]) == 5 && !memcmp(zmq_msg_data(&f[5]), "CURVE", 5) &&
        zmq_msg_size(&f[6]) == 32) {
        char z85[PUB_KEY_Z85_LEN + 1];
        if (zmq_z85_encode(z85, zmq_msg_data(&f[6]), 32) &&
            pub_key_allowed(p->keys_dir, z85)) {
            code = "200";
            text = "OK";
        } else {
            char addr[64] = "";
            size_t al = zmq_msg_size(&f[3]) < sizeof addr - 1 ? zmq_msg_size(&f[3])
                                                              : sizeof addr - 1;
            memcpy(addr, zmq_msg_data(&f[3]), al);
            addr[al] = '\0';
            ah_log(AH_LOG_WARN, "pub", "refused subscriber key %s from %s", z85, addr);
        }
    }
    send_frame(p->zap, "1.0", 3, 1);
    send_frame(p->zap, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), 1);
    send_frame(p->zap, code, 3, 1);
    send_frame(p->zap, text, strlen(text), 1);
    send_frame(p->zap, "", 0, 1);
    send_frame(p->zap, "", 0, 0);
out:
    for (int i = 0; i < n; i++)
        zmq_msg_close(&f[i]);
}

struct collect {
    zmq_msg_t *frames; /* topic, body per message */
    size_t n;          /* messages collected */
    uint64_t want;     /* next sequence expected */
    int err;
};

static int collect_one(void *ctx, uint64_t seq, const uint8_t *bytes, size_t len)
{
    struct collect *c = ctx;
    struct wire_outbox_view v;
    if (seq != c->want || wire_outbox_decode(bytes, len, &v) != AH_OK) {
        c->err = seq != c->want ? AH_ENOENT : AH_EFRAME;
        return 1;
    }
    zmq_msg_t *t = &c->frames[2 * c->n], *b = &c->frames[2 * c->n + 1];
    if (zmq_msg_init_size(t, v.topic_len) != 0) {
        c->err = AH_ENOMEM;
        return 1;
    }
    if (zmq_msg_init_size(b, v.body_len) != 0) {
        zmq_msg_close(t);
        c->err = AH_ENOMEM;
        return 1;
    }
    memcpy(zmq_msg_data(t), v.topic, v.topic_len);
    if (v.body_len)
        memcpy(zmq_msg_data(b), v.body, v.body_len);
    c->n++;
    c->want++;
    return 0;
}

/* One request off the ROUTER: its first three frames kept in f (identity,
 * a REQ peer's empty delimiter, request), any further ones read and dropped
 * so the next request starts clean. Returns the frames kept; *total counts
 * all of them. */
static int replay_recv(struct pub *p, zmq_msg_t f[3], int *total)
{
    int n = 0;
    bool more = true;
    *total = 0;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, p->router, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            break;
        }
        more = zmq_msg_more(&m);
        (*total)++;
        if (n < 3)
            f[n++] = m;
        else
            zmq_msg_close(&m);
    }
    return n;
}

/* The request after the identity into *req: exactly one frame, after the
 * empty delimiter a REQ peer puts first (*first = 2, echoed in the reply);
 * any other shape is a bad request. */
static enum wire_replay_status replay_parse(zmq_msg_t *f, int n, int total, int *first,
                                            struct wire_replay_req *req)
{
    *first = 1;
    if (n >= 3 && zmq_msg_size(&f[1]) == 0)
        *first = 2;
    if (total - *first == 1 && wire_replay_parse(zmq_msg_data(&f[*first]),
                                                 zmq_msg_size(&f[*first]), req) == AH_OK)
        return WIRE_REPLAY_OK;
    return WIRE_REPLAY_BAD_REQUEST;
}

/* The identity frame decides whether the peer can take a reply at all: a
 * peer with PUB_REPLAY_HWM replies unread (or gone) gets none, and the
 * store is not even read for it (issue 17 item 4: a client that never read
 * grew the head-end by 0.7 MB per request). */
static bool replay_send_identity(struct pub *p, zmq_msg_t *id)
{
    if (zmq_send(p->router, zmq_msg_data(id), zmq_msg_size(id),
                 ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
        return true;
    uint64_t d = atomic_fetch_add(&p->replay_dropped, 1) + 1;
    if (errno == EAGAIN)
        ah_log(AH_LOG_WARN, "pub",
               "replay request dropped: its peer has %d replies unread (%llu dropped "
               "so far)",
               PUB_REPLAY_HWM, (unsigned long long)d);
    return false;
}

/* What one reply says: status, the range asked, the outbox's range, and
 * for a served range its messages as frames. */
struct replay_answer {
    enum wire_replay_status st;
    struct wire_replay_req req;
    uint64_t oldest, next, count;
    struct collect c;
};

/* Under the store lock, so retention cannot trim what is being read: the
 * outbox's range, the request checked against it, a range's messages. */
static void replay_collect(struct pub *p, struct replay_answer *a)
{
    pthread_mutex_lock(&p->mu);
    a->oldest = store_outbox_first_seq(p->store);
    a->next = atomic_load(&p->next_pub);
    if (a->oldest > a->next)
        a->oldest = a->next;
    if (a->st == WIRE_REPLAY_OK)
        a->st = wire_replay_check(&a->req, a->oldest, a->next);
    if (a->st == WIRE_REPLAY_OK && a->req.op == WIRE_REPLAY_RANGE) {
        a->count = a->req.last - a->req.first + 1;
        a->c.frames = malloc(2 * (size_t)a->count * sizeof *a->c.frames);
        a->c.want = a->req.first;
        if (!a->c.frames) {
            a->st = WIRE_REPLAY_UNAVAILABLE;
        } else {
            int rc = store_outbox_each(p->store, a->req.first, a->req.last + 1,
                                       collect_one, &a->c);
            if (a->c.err == AH_ENOENT || (rc == AH_OK && a->c.n != a->count))
                a->st = WIRE_REPLAY_EXPIRED; /* a hole: nothing older is usable */
            else if (rc != AH_OK)
                a->st = WIRE_REPLAY_UNAVAILABLE;
        }
    }
    pthread_mutex_unlock(&p->mu);
    if (a->st != WIRE_REPLAY_OK)
        a->count = 0;
}

/* The rest of the reply after the identity: [delimiter,] header, then the
 * range's topic and body frames; counted in pub_counters. */
static void replay_reply(struct pub *p, struct replay_answer *a, bool delimiter)
{
    bool ok = a->st == WIRE_REPLAY_OK;
    char hdr[WIRE_REPLY_HDR_MAX];
    int hl = wire_replay_header(a->st, ok ? a->req.first : 0, ok ? a->req.last : 0,
                                a->count, a->oldest, a->next, hdr, sizeof hdr);
    atomic_fetch_add(&p->replay_requests, 1);
    if (!ok)
        atomic_fetch_add(&p->replay_refused, 1);
    atomic_fetch_add(&p->replay_messages, (uint64_t)a->count);
    if (!ok)
        ah_log(AH_LOG_INFO, "pub", "replay request refused: %s",
               wire_replay_status_name(a->st));
    /* The identity went out first: the rest of this message always fits
     * (libzmq checks the high-water mark once per message). */
    if (delimiter)
        send_frame(p->router, "", 0, 1);
    if (hl <= 0) {
        hl = 0;
        a->count = 0;
    }
    send_frame(p->router, hdr, (size_t)hl, a->count > 0);
    for (size_t i = 0; i < a->count; i++) {
        zmq_msg_send(&a->c.frames[2 * i], p->router, ZMQ_SNDMORE | ZMQ_DONTWAIT);
        zmq_msg_send(&a->c.frames[2 * i + 1], p->router,
                     (i + 1 < a->count ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT);
    }
}

/* One replay request: receive, parse, reserve the reply by its identity,
 * read the outbox, answer. */
static void replay_serve(struct pub *p)
{
    zmq_msg_t f[3];
    int total;
    int n = replay_recv(p, f, &total);
    if (n < 1)
        return;
    struct replay_answer a = {.req = {WIRE_REPLAY_INFO, 0, 0}, .c = {NULL, 0, 0, AH_OK}};
    int first;
    a.st = replay_parse(f, n, total, &first, &a.req);
    if (replay_send_identity(p, &f[0])) {
        replay_collect(p, &a);
        replay_reply(p, &a, first == 2);
        for (size_t i = 0; i < 2 * a.c.n; i++)
            zmq_msg_close(&a.c.frames[i]); /* no-op for frames already sent */
        free(a.c.frames);
    }
    for (int i = 0; i < n; i++)
        zmq_msg_close(&f[i]);
}

static void *replay_main(void *arg)
{
    struct pub *p = arg;
    while (!atomic_load(&p->stop)) {
        zmq_pollitem_t items[2] = {{p->router, 0, ZMQ_POLLIN, 0},
                                   {p->zap, 0, ZMQ_POLLIN, 0}};
        int n = zmq_poll(items, p->zap ? 2 : 1, REPLAY_POLL_MS);
        if (n < 0) {
            if (errno == ETERM)
                break;
            continue;
        }
        if (p->zap && (items[1].revents & ZMQ_POLLIN))
            zap_serve(p);
        if (items[0].revents & ZMQ_POLLIN)
            replay_serve(p);
    }
    return NULL;
}

/* ---- setup -------------------------------------------------------------- */

static bool loopback(const char *ep)
{
    return !strncmp(ep, "ipc://", 6) || !strncmp(ep, "inproc://", 9) ||
           !strncmp(ep, "tcp://127.", 10) || !strncmp(ep, "tcp://localhost:", 16) ||
           !strncmp(ep, "tcp://[::1]:", 12);
}

static int setopt_int(void *s, int opt, int v)
{
    return zmq_setsockopt(s, opt, &v, sizeof v) == 0 ? AH_OK : zerr();
}

static int server_socket(struct pub *p, int type, const char *ep, const char *secret,
                         int hwm, void **out)
{
    void *s = zmq_socket(p->ctx, type);
    if (!s)
        return zerr();
    int rc = setopt_int(s, ZMQ_LINGER, 0);
    if (!rc && hwm > 0)
        rc = setopt_int(s, ZMQ_SNDHWM, hwm);
    if (!rc && type == ZMQ_ROUTER) {
        rc = setopt_int(s, ZMQ_ROUTER_MANDATORY, 1);
        int64_t max = PUB_REQ_FRAME_MAX;
        if (!rc && zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &max, sizeof max) != 0)
            rc = zerr();
    }
    if (!rc && secret) {
        rc = setopt_int(s, ZMQ_CURVE_SERVER, 1);
        if (!rc && zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, secret, PUB_KEY_Z85_LEN + 1))
            rc = zerr();
        if (!rc && zmq_setsockopt(s, ZMQ_ZAP_DOMAIN, ZAP_DOMAIN, strlen(ZAP_DOMAIN)))
            rc = zerr();
    }
    if (!rc && zmq_bind(s, ep) != 0) {
        rc = zerr();
        ah_log(AH_LOG_ERROR, "pub", "cannot bind %s: %s", ep, zmq_strerror(errno));
    }
    if (rc) {
        zmq_close(s);
        return rc;
    }
    if (!secret && !loopback(ep))
        ah_log(AH_LOG_WARN, "pub", "%s is open to the network without CURVE keys", ep);
    *out = s;
    return AH_OK;
}

static int sum_bytes(void *ctx, uint64_t seq, const uint8_t *bytes, size_t len)
{
    (void)seq;
    (void)bytes;
    *(uint64_t *)ctx += len;
    return 0;
}

/* The options alone, before anything is made: the topic's head-end id
 * (*id), and with CURVE the server's secret key loaded into secret. */
static int pub_check_opts(store_t *store, const struct pub_opts *o, const char **id,
                          char secret[PUB_KEY_Z85_LEN + 1])
{
    *id = o->headend_id ? o->headend_id : store_headend_id(store);
    if (!*id || !**id)
        *id = "amihead";
    if (!wire_segment_ok(*id)) {
        ah_log(AH_LOG_ERROR, "pub", "head-end id '%s' is not a topic segment", *id);
        return AH_EINVAL;
    }
    if ((o->server_secret_key != NULL) != (o->client_keys_dir != NULL) ||
        o->retention_ms < 0 || o->sndhwm < 0)
        return AH_EINVAL;
    if (!o->server_secret_key)
        return AH_OK;
    if (!pub_has_curve())
        return AH_ENOTSUP;
    if (pub_key_load(o->server_secret_key, secret) != AH_OK) {
        ah_log(AH_LOG_ERROR, "pub", "%s: not a Z85 CURVE key", o->server_secret_key);
        return AH_EINVAL;
    }
    if (strlen(o->client_keys_dir) >= sizeof((struct pub *)0)->keys_dir)
        return AH_EINVAL;
    return AH_OK;
}

/* The sockets: the ZAP handler first (it must be bound before any CURVE
 * socket accepts), then PUB and the replay ROUTER. secret: "" without
 * CURVE. */
static int pub_bind(struct pub *p, const struct pub_opts *o, const char *secret,
                    const char *ep, const char *rp)
{
    int rc;
    if (!(p->ctx = zmq_ctx_new()))
        return zerr();
    if (*secret) {
        if (!(p->zap = zmq_socket(p->ctx, ZMQ_REP)))
            return zerr();
        if ((rc = setopt_int(p->zap, ZMQ_LINGER, 0)) != AH_OK)
            return rc;
        if (zmq_bind(p->zap, ZAP_ENDPOINT) != 0)
            return zerr();
    }
    const char *key = *secret ? secret : NULL;
    if ((rc = server_socket(p, ZMQ_PUB, ep, key, o->sndhwm, &p->pub)))
        return rc;
    return server_socket(p, ZMQ_ROUTER, rp, key, PUB_REPLAY_HWM, &p->router);
}

int pub_new(store_t *store, const struct pub_opts *o, pub_t **out)
{
    static const struct pub_opts dflt;
    if (!o)
        o = &dflt;
    if (!store || !out)
        return AH_EINVAL;
    const char *id;
    char secret[PUB_KEY_Z85_LEN + 1] = "";
    int rc = pub_check_opts(store, o, &id, secret);
    if (rc != AH_OK) {
        memset(secret, 0, sizeof secret);
        return rc;
    }

    struct pub *p = calloc(1, sizeof *p);
    if (!p) {
        memset(secret, 0, sizeof secret);
        return AH_ENOMEM;
    }
    p->store = store;
    snprintf(p->headend, sizeof p->headend, "%s", id);
    if (o->client_keys_dir)
        snprintf(p->keys_dir, sizeof p->keys_dir, "%s", o->client_keys_dir);
    p->clock = o->clock ? o->clock : ah_clock_default();
    p->retention_ms = o->retention_ms ? o->retention_ms : PUB_DEFAULT_RETENTION_MS;
    p->retention_bytes =
        o->retention_bytes ? o->retention_bytes : PUB_DEFAULT_RETENTION_BYTES;
    pthread_mutex_init(&p->mu, NULL);
    /* Sequences and outbox size resume from the store. */
    atomic_store(&p->next_pub, store_next_seq(store));
    p->stage_next = store_next_seq(store);
    uint64_t bytes = 0;
    if ((rc = store_outbox_each(store, 0, UINT64_MAX, sum_bytes, &bytes)) != AH_OK)
        goto out_free;
    atomic_store(&p->outbox_bytes, bytes);

    const char *ep = o->endpoint ? o->endpoint : PUB_DEFAULT_ENDPOINT;
    const char *rp = o->replay ? o->replay : PUB_DEFAULT_REPLAY;
    if ((rc = pub_bind(p, o, secret, ep, rp)) != AH_OK)
        goto out_free;
    memset(secret, 0, sizeof secret);

    (void)pub_retention_run(p);
    if (pthread_create(&p->thread, NULL, replay_main, p) != 0) {
        rc = AH_ENOMEM;
        goto out_free;
    }
    p->thread_started = true;
    ah_log(AH_LOG_INFO, "pub", "publishing on %s, replay on %s, next seq %llu%s", ep, rp,
           (unsigned long long)atomic_load(&p->next_pub), p->zap ? ", CURVE on" : "");
    *out = p;
    return AH_OK;

out_free:
    memset(secret, 0, sizeof secret);
    pub_destroy(&p);
    return rc;
}

static void staged_clear(struct pub *p)
{
    for (size_t i = 0; i < p->n_staged; i++)
        free(p->staged[i].rec);
    p->n_staged = 0;
}

void pub_destroy(pub_t **pp)
{
    if (!pp || !*pp)
        return;
    struct pub *p = *pp;
    if (p->thread_started) {
        atomic_store(&p->stop, true);
        pthread_join(p->thread, NULL);
    }
    if (p->pub)
        zmq_close(p->pub);
    if (p->router)
        zmq_close(p->router);
    if (p->zap)
        zmq_close(p->zap);
    if (p->ctx)
        zmq_ctx_term(p->ctx);
    staged_clear(p);
    free(p->staged);
    pthread_mutex_destroy(&p->mu);
    free(p);
    *pp = NULL;
}

/* ---- the writer's side -------------------------------------------------- */

void pub_drop(pub_t *p)
{
    staged_clear(p);
    p->stage_next = store_next_seq(p->store);
}

typedef int (*encode_fn)(const struct wire_head *h, const void *m, char *topic,
                         size_t tcap, size_t *tlen, char *body, size_t bcap,
                         size_t *blen);

static int stage(struct pub *p, encode_fn enc, const void *m, uint64_t *seq)
{
    if (p->n_staged >= PUB_STAGE_MAX)
        return AH_EOVERFLOW;
    if (p->n_staged == p->cap_staged) {
        size_t cap = p->cap_staged ? 2 * p->cap_staged : 64;
        struct staged *ns = realloc(p->staged, cap * sizeof *ns);
        if (!ns)
            return AH_ENOMEM;
        p->staged = ns;
        p->cap_staged = cap;
    }
    struct wire_head h = {p->headend, p->stage_next, ah_clock_now_ms(p->clock)};
    char topic[WIRE_TOPIC_MAX + 1], body[WIRE_BODY_MAX];
    size_t tlen, blen;
    int rc = enc(&h, m, topic, sizeof topic, &tlen, body, sizeof body, &blen);
    if (rc)
        return rc;
    size_t cap = WIRE_OUTBOX_HDR + tlen + blen;
    uint8_t *rec = malloc(cap);
    if (!rec)
        return AH_ENOMEM;
    int n = wire_outbox_encode(h.published_ms, topic, tlen, body, blen, rec, cap);
    if (n < 0) {
        free(rec);
        return n;
    }
    if ((rc = store_batch_put_outbox(p->store, h.seq, rec, (size_t)n)) != AH_OK) {
        free(rec);
        return rc;
    }
    p->staged[p->n_staged++] = (struct staged){h.seq, rec, (size_t)n};
    p->stage_next++;
    if (seq)
        *seq = h.seq;
    return AH_OK;
}

static int enc_read(const struct wire_head *h, const void *m, char *t, size_t tc,
                    size_t *tl, char *b, size_t bc, size_t *bl)
{
    return wire_encode_read(h, m, t, tc, tl, b, bc, bl);
}
static int enc_anomaly(const struct wire_head *h, const void *m, char *t, size_t tc,
                       size_t *tl, char *b, size_t bc, size_t *bl)
{
    return wire_encode_anomaly(h, m, t, tc, tl, b, bc, bl);
}
static int enc_gap(const struct wire_head *h, const void *m, char *t, size_t tc,
                   size_t *tl, char *b, size_t bc, size_t *bl)
{
    return wire_encode_gap(h, m, t, tc, tl, b, bc, bl);
}
static int enc_daily(const struct wire_head *h, const void *m, char *t, size_t tc,
                     size_t *tl, char *b, size_t bc, size_t *bl)
{
    return wire_encode_daily(h, m, t, tc, tl, b, bc, bl);
}

int pub_stage_read(pub_t *p, const struct wire_read *r, uint64_t *seq)
{
    return stage(p, enc_read, r, seq);
}
int pub_stage_anomaly(pub_t *p, const struct wire_anomaly *a, uint64_t *seq)
{
    return stage(p, enc_anomaly, a, seq);
}
int pub_stage_gap(pub_t *p, const struct wire_gap *g, uint64_t *seq)
{
    return stage(p, enc_gap, g, seq);
}
int pub_stage_daily(pub_t *p, const struct wire_daily *d, uint64_t *seq)
{
    return stage(p, enc_daily, d, seq);
}

void pub_committed(pub_t *p, uint64_t next)
{
    /* the staged messages below next are durable: send them in order and
     * make them replayable; any at or above next were not in that commit */
    size_t k = 0;
    uint64_t added = 0;
    for (; k < p->n_staged && p->staged[k].seq < next; k++) {
        struct wire_outbox_view v;
        if (wire_outbox_decode(p->staged[k].rec, p->staged[k].len, &v) != AH_OK)
            continue; /* cannot happen: we encoded it */
        /* PUB never blocks: a subscriber at its high-water mark loses the
         * message here and gets it back from replay. */
        zmq_send(p->pub, v.topic, v.topic_len, ZMQ_SNDMORE | ZMQ_DONTWAIT);
        zmq_send(p->pub, v.body, v.body_len, ZMQ_DONTWAIT);
        added += p->staged[k].len;
    }
    if (k)
        atomic_store(&p->next_pub, p->staged[k - 1].seq + 1);
    atomic_fetch_add(&p->outbox_bytes, added);
    staged_clear(p);
    p->stage_next = store_next_seq(p->store);
    int64_t now = ah_mono_ms();
    if (atomic_load(&p->outbox_bytes) > p->retention_bytes ||
        now - p->last_retention_mono >= RETENTION_EVERY_MS)
        (void)pub_retention_run(p);
}

struct ret_walk {
    int64_t cutoff_ms;
    uint64_t total, limit, removed, bound;
};

static int retention_visit(void *ctx, uint64_t seq, const uint8_t *bytes, size_t len)
{
    struct ret_walk *w = ctx;
    struct wire_outbox_view v;
    if (wire_outbox_decode(bytes, len, &v) != AH_OK)
        return 1; /* keep what we cannot read; an operator should look */
    if (v.published_ms < w->cutoff_ms || w->total - w->removed > w->limit) {
        w->removed += len;
        w->bound = seq + 1;
        return 0;
    }
    return 1;
}

int pub_retention_run(pub_t *p)
{
    p->last_retention_mono = ah_mono_ms();
    struct ret_walk w = {ah_clock_now_ms(p->clock) - p->retention_ms,
                         atomic_load(&p->outbox_bytes), p->retention_bytes, 0, 0};
    pthread_mutex_lock(&p->mu);
    uint64_t first = store_outbox_first_seq(p->store);
    int rc = store_outbox_each(p->store, first, atomic_load(&p->next_pub),
                               retention_visit, &w);
    if (rc == 1)
        rc = AH_OK;
    if (rc == AH_OK && w.bound > first) {
        rc = store_delete_outbox_before(p->store, w.bound);
        if (rc == AH_OK) {
            atomic_fetch_sub(&p->outbox_bytes, w.removed);
            ah_log(AH_LOG_INFO, "pub", "retention: dropped messages %llu..%llu",
                   (unsigned long long)first, (unsigned long long)(w.bound - 1));
        }
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

uint64_t pub_next_seq(const pub_t *p)
{
    return atomic_load(&((struct pub *)p)->next_pub);
}

void pub_get_counters(const pub_t *p, struct pub_counters *out)
{
    pub_t *q = (pub_t *)p; /* atomics: loading does not change them */
    out->replay_requests = atomic_load(&q->replay_requests);
    out->replay_refused = atomic_load(&q->replay_refused);
    out->replay_messages = atomic_load(&q->replay_messages);
}

uint64_t pub_replay_dropped(const pub_t *p)
{
    return p ? atomic_load(&((struct pub *)p)->replay_dropped) : 0;
}

uint64_t pub_outbox_bytes(const pub_t *p)
{
    return atomic_load(&((struct pub *)p)->outbox_bytes);
}
