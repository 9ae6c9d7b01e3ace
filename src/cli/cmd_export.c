/*
 * cmd_export — option parsing and printing for `amihead keygen` and
 * `amihead tail`. Every rule of the wire format and of gap filling lives in
 * src/export (wire, pub, sub); this file must not duplicate them.
 */
#include "cmd_export.h"

#include "ah_clock.h"
#include "ah_err.h"
#include "cmd_util.h"
#include "pub.h"
#include "sub.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void keygen_usage(FILE *f)
{
    fprintf(f, "usage: amihead keygen [--out DIR] [--name NAME]\n\n"
               "Makes a CURVE key pair. With --out, writes DIR/NAME.key (public) and\n"
               "DIR/NAME.key_secret (secret, mode 0600; NAME defaults to 'server'),\n"
               "refusing to overwrite; otherwise prints both keys.\n"
               "Server: security.server_secret_key = DIR/server.key_secret.\n"
               "Subscriber: copy its NAME.key into security.client_keys_dir.\n");
}

int cmd_keygen(int argc, char **argv)
{
    const char *dir = NULL, *name = "server";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            keygen_usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--out") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--name") && i + 1 < argc)
            name = argv[++i];
        else {
            fprintf(stderr, "amihead keygen: unexpected argument '%s'\n", argv[i]);
            keygen_usage(stderr);
            return 2;
        }
    }
    if (!pub_has_curve()) {
        fprintf(stderr, "amihead keygen: this libzmq was built without CURVE\n");
        return 1;
    }
    char pk[PUB_KEY_Z85_LEN + 1], sk[PUB_KEY_Z85_LEN + 1];
    int rc = pub_keygen(dir, name, pk, sk);
    if (rc == AH_EBUSY) {
        fprintf(stderr,
                "amihead keygen: %s/%s.key or .key_secret exists; not overwritten\n", dir,
                name);
        return 1;
    }
    if (rc) {
        fprintf(stderr, "amihead keygen: %s\n", ah_strerror(rc));
        return 1;
    }
    if (dir)
        printf("%s/%s.key %s\n", dir, name, pk);
    else
        printf("public-key %s\nsecret-key %s\n", pk, sk);
    memset(sk, 0, sizeof sk);
    return 0;
}

static volatile sig_atomic_t tail_stop;

static void on_signal(int sig)
{
    (void)sig;
    tail_stop = 1;
}

static void tail_usage(FILE *f)
{
    fprintf(
        f,
        "usage: amihead tail --endpoint E [--replay E] [--from-seq N] [--topic PREFIX]\n"
        "                    [--json] [--server-key K --client-keys DIR]\n"
        "                    [--until-seq N] [--count N]\n\n"
        "Subscribes to the export, fills every sequence gap through the replay\n"
        "endpoint and prints messages in sequence order, each once: the body\n"
        "as one JSON line with --json, else 'SEQ TOPIC BODY'.\n"
        "  --server-key K     the server's public key (Z85 text or a .key file)\n"
        "  --client-keys DIR  this subscriber's key pair: a NAME.key_secret file\n"
        "                     or a directory holding exactly one\n"
        "  --until-seq N      exit after printing a message with seq >= N\n"
        "  --count N          exit after printing N messages\n"
        "  --timeout S        give up when no message arrived for S seconds\n"
        "                     (default: wait for ever)\n"
        "E is tcp://HOST:PORT; a bare HOST:PORT is taken as tcp://HOST:PORT.\n"
        "Exit status: 0, 1 on error or --timeout, 2 usage, 3 if messages expired\n"
        "before replay.\n");
}

/* The one *.key_secret in dir, or path itself when it is a file. */
static int client_secret(const char *path, char *sk)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return AH_EINVAL;
    if (!S_ISDIR(st.st_mode))
        return pub_key_load(path, sk);
    DIR *d = opendir(path);
    if (!d)
        return AH_EINVAL;
    int found = 0, rc = AH_EINVAL;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n > 11 && !strcmp(e->d_name + n - 11, ".key_secret") && e->d_name[0] != '.') {
            char file[4400];
            snprintf(file, sizeof file, "%s/%s", path, e->d_name);
            if (++found == 1)
                rc = pub_key_load(file, sk);
        }
    }
    closedir(d);
    return found == 1 ? rc : AH_EINVAL;
}

/* "HOST:PORT" as zmq wants it, "tcp://HOST:PORT"; other schemes kept. */
static const char *endpoint_url(const char *e, char *buf, size_t cap)
{
    if (!e || strstr(e, "://"))
        return e;
    int n = snprintf(buf, cap, "tcp://%s", e);
    return n > 0 && (size_t)n < cap ? buf : e;
}

static int parse_u64(const char *s, uint64_t *out)
{
    long v;
    if (cmd_parse_long(s, 1, 0x7fffffffffffffffL, &v) != 0)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

/* The command line of `amihead tail`. */
struct tail_args {
    struct sub_opts o;
    const char *server_key, *client_keys;
    bool json;
    uint64_t until, count, timeout_s;
};

/* Parse argv into *a. -1: go on; else the exit status (0 for --help). */
static int tail_parse_args(int argc, char **argv, struct tail_args *t)
{
    memset(t, 0, sizeof *t);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            tail_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            t->json = true;
        } else if (!strcmp(a, "--endpoint") && has) {
            t->o.endpoint = argv[++i];
        } else if (!strcmp(a, "--replay") && has) {
            t->o.replay = argv[++i];
        } else if (!strcmp(a, "--topic") && has) {
            t->o.topic = argv[++i];
        } else if (!strcmp(a, "--server-key") && has) {
            t->server_key = argv[++i];
        } else if (!strcmp(a, "--client-keys") && has) {
            t->client_keys = argv[++i];
        } else if (!strcmp(a, "--from-seq") && has) {
            if (parse_u64(argv[++i], &t->o.from_seq))
                goto bad_number;
        } else if (!strcmp(a, "--until-seq") && has) {
            if (parse_u64(argv[++i], &t->until))
                goto bad_number;
        } else if (!strcmp(a, "--count") && has) {
            if (parse_u64(argv[++i], &t->count))
                goto bad_number;
        } else if (!strcmp(a, "--timeout") && has) {
            if (parse_u64(argv[++i], &t->timeout_s) || t->timeout_s > 86400 * 365)
                goto bad_number;
        } else {
            fprintf(stderr, "amihead tail: unexpected argument '%s'\n", a);
            tail_usage(stderr);
            return 2;
        }
        continue;
    bad_number:
        fprintf(stderr, "amihead tail: %s needs a number >= 1, not '%s'\n", a, argv[i]);
        return 2;
    }
    if (!t->o.endpoint || (!t->server_key) != (!t->client_keys)) {
        tail_usage(stderr);
        return 2;
    }
    return -1;
}

/* Print messages until --until-seq / --count, a signal, an error or
 * --timeout of silence; the exit status. */
static int tail_loop(sub_t *s, const struct tail_args *t)
{
    uint64_t printed = 0;
    int status = 0;
    int64_t last = ah_mono_ms();
    while (!tail_stop) {
        struct sub_msg m;
        int rc = sub_next(s, 200, &m);
        if (rc == AH_ETIMEDOUT) {
            /* zmq connects in the background and never says a peer is
             * missing: silence for --timeout is the only sign */
            if (t->timeout_s && ah_mono_ms() - last >= (int64_t)t->timeout_s * 1000) {
                fprintf(stderr,
                        "amihead tail: no message from %s%s%s for %llu s: giving up "
                        "(is amihead run exporting there?)\n",
                        t->o.endpoint, t->o.replay ? " nor its replay " : "",
                        t->o.replay ? t->o.replay : "", (unsigned long long)t->timeout_s);
                status = 1;
                break;
            }
            continue;
        }
        last = ah_mono_ms();
        if (rc) {
            fprintf(stderr, "amihead tail: %s\n", ah_strerror(rc));
            status = 1;
            break;
        }
        if (t->json)
            printf("%.*s\n", (int)m.body_len, m.body);
        else
            printf("%llu %.*s %.*s\n", (unsigned long long)m.seq, (int)m.topic_len,
                   m.topic, (int)m.body_len, m.body);
        fflush(stdout);
        printed++;
        if ((t->until && m.seq >= t->until) || (t->count && printed >= t->count))
            break;
    }
    if (sub_lost(s)) {
        fprintf(stderr,
                "amihead tail: %llu messages expired before they could be replayed\n",
                (unsigned long long)sub_lost(s));
        if (!status)
            status = 3;
    }
    return status;
}

int cmd_tail(int argc, char **argv)
{
    struct tail_args t;
    char ep_buf[512], rp_buf[512];
    int ex = tail_parse_args(argc, argv, &t);
    if (ex >= 0)
        return ex;
    char srv[PUB_KEY_Z85_LEN + 1], sk[PUB_KEY_Z85_LEN + 1], pk[PUB_KEY_Z85_LEN + 1];
    if (t.server_key) {
        if (pub_key_load(t.server_key, srv) != AH_OK) {
            fprintf(stderr, "amihead tail: %s: not a Z85 public key\n", t.server_key);
            return 1;
        }
        if (client_secret(t.client_keys, sk) != AH_OK ||
            pub_key_public(sk, pk) != AH_OK) {
            fprintf(stderr, "amihead tail: %s: no single readable .key_secret\n",
                    t.client_keys);
            return 1;
        }
        t.o.server_key = srv;
        t.o.public_key = pk;
        t.o.secret_key = sk;
    }
    t.o.endpoint = endpoint_url(t.o.endpoint, ep_buf, sizeof ep_buf);
    t.o.replay = endpoint_url(t.o.replay, rp_buf, sizeof rp_buf);
    sub_t *s = NULL;
    int rc = sub_new(&t.o, &s);
    memset(sk, 0, sizeof sk);
    if (rc) {
        fprintf(stderr,
                "amihead tail: cannot subscribe to %s%s%s: %s (endpoints are "
                "tcp://HOST:PORT)\n",
                t.o.endpoint, t.o.replay ? " / replay " : "",
                t.o.replay ? t.o.replay : "", ah_strerror(rc));
        return 1;
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int status = tail_loop(s, &t);
    sub_destroy(&s);
    return status;
}
