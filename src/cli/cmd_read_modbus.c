/*
 * cmd_read_modbus — one-shot Modbus meter read for field engineers (see
 * cmd_read_modbus.h). Option parsing and printing only: the link is mbio,
 * the register map and decoding are mbmap. JSON goes through jansson.
 */
#include "cmd_read_modbus.h"

#include "ah_err.h"
#include "cmd_util.h"
#include "mbio.h"
#include "mbmap.h"

#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mb_opts {
    const char *tcp; /* HOST:PORT */
    const char *rtu; /* tty path */
    long baud;
    char parity;
    long stop_bits;
    long unit;
    bool have_unit;
    const char *map;
    long timeout_ms;
    long retries;
    bool json;
};

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: amihead read --modbus-tcp HOST:PORT | --modbus-rtu PATH [--baud 9600]\n"
        "                    [--parity none|even|odd] [--stop-bits 1|2]\n"
        "                    --unit ID --map NAME [--timeout-ms 1000] [--retries 2]\n"
        "                    [--json]\n\nmaps:\n");
    const struct mbmap *m;
    for (size_t i = 0; (m = mbmap_at(i)); i++)
        fprintf(f, "  %-12s %s (FC %02u, %zu quantities)\n", m->name, m->desc,
                (unsigned)m->fc, m->n_qty);
}

static int bad(const char *opt, const char *val)
{
    fprintf(stderr, "amihead read: invalid value '%s' for %s\n", val ? val : "", opt);
    return 2;
}

/* 0 ok, 1 --help printed, 2 usage error (message already printed). */
static int parse(int argc, char **argv, struct mb_opts *o)
{
    *o = (struct mb_opts){
        .baud = 9600, .parity = 'N', .stop_bits = 1, .timeout_ms = 1000, .retries = 2};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 1;
        }
        if (!strcmp(a, "--json")) {
            o->json = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "amihead read: %s needs a value\n", a);
            return 2;
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--modbus-tcp")) {
            o->tcp = strncmp(v, "tcp://", 6) ? v : v + 6; /* tcp://HOST:PORT too */
        } else if (!strcmp(a, "--modbus-rtu")) {
            o->rtu = v;
        } else if (!strcmp(a, "--baud")) {
            if (cmd_parse_long(v, 50, 4000000, &o->baud))
                return bad(a, v);
        } else if (!strcmp(a, "--parity")) {
            if (!strcmp(v, "none"))
                o->parity = 'N';
            else if (!strcmp(v, "even"))
                o->parity = 'E';
            else if (!strcmp(v, "odd"))
                o->parity = 'O';
            else
                return bad(a, v);
        } else if (!strcmp(a, "--stop-bits")) {
            if (cmd_parse_long(v, 1, 2, &o->stop_bits))
                return bad(a, v);
        } else if (!strcmp(a, "--unit")) {
            if (cmd_parse_long(v, 0, 255, &o->unit))
                return bad(a, v);
            o->have_unit = true;
        } else if (!strcmp(a, "--map")) {
            o->map = v;
        } else if (!strcmp(a, "--timeout-ms")) {
            if (cmd_parse_long(v, 1, 60000, &o->timeout_ms))
                return bad(a, v);
        } else if (!strcmp(a, "--retries")) {
            if (cmd_parse_long(v, 0, 10, &o->retries))
                return bad(a, v);
        } else {
            fprintf(stderr, "amihead read: unknown option '%s'\n", a);
            return 2;
        }
    }
    if (!o->tcp == !o->rtu) {
        fprintf(stderr, "amihead read: give exactly one of --modbus-tcp, --modbus-rtu\n");
        return 2;
    }
    if (!o->have_unit || !o->map) {
        fprintf(stderr, "amihead read: --unit and --map are required\n");
        return 2;
    }
    /* Modbus over Serial Line §2.2: 0 is broadcast (no reply), 248..255
     * reserved; TCP accepts 0..255. */
    if (o->rtu && (o->unit < 1 || o->unit > 247)) {
        fprintf(stderr, "amihead read: --unit %ld: RTU unit ids are 1..247\n", o->unit);
        return 2;
    }
    return 0;
}

/* "host:port", "[v6addr]:port". host points into buf. */
static int split_host_port(const char *s, char *buf, size_t cap, const char **host,
                           long *port)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || strlen(s) >= cap)
        return -1;
    size_t hl = (size_t)(colon - s);
    memcpy(buf, s, hl);
    buf[hl] = '\0';
    if (buf[0] == '[') {
        if (hl < 3 || buf[hl - 1] != ']')
            return -1;
        buf[hl - 1] = '\0';
        *host = buf + 1;
    } else {
        if (strchr(buf, ':')) /* bare IPv6 needs brackets */
            return -1;
        *host = buf;
    }
    return cmd_parse_long(colon + 1, 1, 65535, port);
}

static int print_json(const struct mbmap *m, long unit, const double *v)
{
    json_t *o = json_object();
    if (!o)
        return 1;
    json_object_set_new(o, "map", json_string(m->name));
    json_object_set_new(o, "unit_id", json_integer(unit));
    for (size_t i = 0; i < m->n_qty; i++)
        /* A NaN/inf register has no JSON number: report null, not a guess. */
        json_object_set_new(o, m->qty[i].name,
                            isfinite(v[i]) ? json_real(v[i]) : json_null());
    char *s = cmd_json_dumps(o);
    json_decref(o);
    if (!s)
        return 1;
    puts(s);
    free(s);
    return 0;
}

static void print_table(const mbio_t *io, const struct mbmap *m, long unit,
                        const double *v)
{
    printf("%s unit %ld map %s (%s)\n", mbio_name(io), unit, m->name, m->desc);
    int w = 0;
    for (size_t i = 0; i < m->n_qty; i++) {
        int l = (int)strlen(m->qty[i].name);
        if (l > w)
            w = l;
    }
    for (size_t i = 0; i < m->n_qty; i++) {
        char num[40];
        if (isfinite(v[i]))
            snprintf(num, sizeof num, "%.15g", v[i]);
        else
            snprintf(num, sizeof num, "%s", isnan(v[i]) ? "NaN" : "inf");
        printf("  %-*s %16s %s\n", w, m->qty[i].name, num, m->qty[i].unit);
    }
}

int cmd_read_modbus(int argc, char **argv)
{
    struct mb_opts o;
    int rc = parse(argc, argv, &o);
    if (rc)
        return rc == 1 ? 0 : rc;
    const struct mbmap *m = mbmap_find(o.map);
    if (!m) {
        fprintf(stderr, "amihead read: unknown map '%s'\n", o.map);
        usage(stderr);
        return 2;
    }

    mbio_t *io = NULL;
    char hostbuf[256];
    const char *where = o.rtu;
    if (o.tcp) {
        const char *host;
        long port;
        if (split_host_port(o.tcp, hostbuf, sizeof hostbuf, &host, &port))
            return bad("--modbus-tcp", o.tcp);
        where = o.tcp;
        rc = mbio_new_tcp(&io, host, (int)port);
    } else {
        rc = mbio_new_rtu(&io, o.rtu, (int)o.baud, o.parity, (int)o.stop_bits);
    }
    if (!rc)
        rc = mbio_set_unit(io, (int)o.unit);
    if (!rc)
        rc = mbio_set_timeout(io, (int)o.timeout_ms, (int)o.retries);
    if (!rc)
        rc = mbio_connect(io);
    double values[MBMAP_MAX_QTY];
    if (!rc)
        rc = mbio_read_map(io, m, values, MBMAP_MAX_QTY);

    int code = 0;
    if (rc) {
        const char *d = mbio_detail(io);
        fprintf(stderr, "amihead read: %s unit %ld map %s: %s%s%s\n",
                io ? mbio_name(io) : where, o.unit, m->name, ah_strerror(rc),
                *d ? ": " : "", d);
        code = 1;
    } else if (o.json) {
        code = print_json(m, o.unit, values);
    } else {
        print_table(io, m, o.unit, values);
    }
    mbio_destroy(&io);
    return code;
}
