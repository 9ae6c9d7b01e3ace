/*
 * subscriber.c — a minimal C subscriber of the amihead export
 * (docs/wire-format.md), for billing integrators: prints every message
 * from --from-seq on, once and in sequence order, filling gaps from the
 * replay endpoint. No CURVE here; see `amihead tail` for that.
 *
 *   cc -std=c11 -o subscriber subscriber.c $(pkg-config --cflags --libs libzmq jansson)
 *   ./subscriber tcp://127.0.0.1:5556 tcp://127.0.0.1:5557 FROM_SEQ UNTIL_SEQ
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

static unsigned long long expect;

static unsigned long long seq_of(const void *body, size_t len)
{
    json_t *j = json_loadb(body, len, 0, NULL);
    unsigned long long s =
        (unsigned long long)json_integer_value(json_object_get(j, "seq"));
    json_decref(j);
    return s;
}

/* Receive one multipart message; returns the frame count (frames kept <= max). */
static int recv_msg(void *sock, zmq_msg_t *f, int max)
{
    int n = 0, more = 1;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, sock, 0) < 0)
            return -1;
        more = zmq_msg_more(&m);
        if (n < max)
            f[n++] = m;
        else
            zmq_msg_close(&m);
    }
    return n;
}

static void print_body(const zmq_msg_t *b)
{
    printf("%.*s\n", (int)zmq_msg_size((zmq_msg_t *)b),
           (const char *)zmq_msg_data((zmq_msg_t *)b));
    fflush(stdout);
}

/* Replay expect..last (at most 1000 per request) and print it. */
static int fill(void *dealer, unsigned long long last)
{
    static zmq_msg_t f[2001];
    while (expect <= last) {
        unsigned long long hi = last - expect >= 1000 ? expect + 999 : last;
        char req[64];
        snprintf(req, sizeof req, "replay %llu %llu", expect, hi);
        zmq_send(dealer, req, strlen(req), 0);
        int n = recv_msg(dealer, f, 2001);
        if (n < 1)
            return -1;
        json_t *h = json_loadb(zmq_msg_data(&f[0]), zmq_msg_size(&f[0]), 0, NULL);
        const char *st = json_string_value(json_object_get(h, "status"));
        int ok = st && !strcmp(st, "ok");
        if (!ok)
            fprintf(stderr, "replay %s: %s\n", req, st ? st : "?");
        json_decref(h);
        for (int i = 2; ok && i < n; i += 2)
            print_body(&f[i]);
        for (int i = 0; i < n; i++)
            zmq_msg_close(&f[i]);
        if (!ok)
            return -1;
        expect = hi + 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr,
                "usage: subscriber PUB_ENDPOINT REPLAY_ENDPOINT FROM_SEQ UNTIL_SEQ\n");
        return 2;
    }
    expect = strtoull(argv[3], NULL, 10);
    unsigned long long until = strtoull(argv[4], NULL, 10);
    void *ctx = zmq_ctx_new();
    void *sub = zmq_socket(ctx, ZMQ_SUB);
    void *dealer = zmq_socket(ctx, ZMQ_DEALER);
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0);
    zmq_connect(sub, argv[1]);
    zmq_connect(dealer, argv[2]);

    /* Catch up with what was published before we connected. */
    zmq_send(dealer, "info", 4, 0);
    zmq_msg_t f[2];
    if (recv_msg(dealer, f, 1) != 1)
        return 1;
    json_t *h = json_loadb(zmq_msg_data(&f[0]), zmq_msg_size(&f[0]), 0, NULL);
    unsigned long long next =
        (unsigned long long)json_integer_value(json_object_get(h, "next"));
    json_decref(h);
    zmq_msg_close(&f[0]);
    if (fill(dealer, (until < next ? until + 1 : next) - 1) != 0)
        return 1;

    while (expect <= until) {
        if (recv_msg(sub, f, 2) != 2)
            return 1;
        unsigned long long seq = seq_of(zmq_msg_data(&f[1]), zmq_msg_size(&f[1]));
        if (seq > expect && fill(dealer, seq - 1) != 0)
            return 1;
        if (seq == expect) {
            print_body(&f[1]);
            expect++;
        }
        zmq_msg_close(&f[0]);
        zmq_msg_close(&f[1]);
    }
    zmq_close(sub);
    zmq_close(dealer);
    zmq_ctx_term(ctx);
    return 0;
}
