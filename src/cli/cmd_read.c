/*
 * cmd_read — `amihead read`: one DI from one meter, for field engineers.
 *
 *   amihead read --tcp HOST:PORT | --serial PATH [--baud 2400] [--parity even]
 *                --addr 123456789012 --di 00010000 [--proto 2007|1997]
 *                [--n N] [--from "YYYY-MM-DD hh:mm"] [--timeout-ms N]
 *                [--retries N] [--json]
 *   amihead read --modbus-tcp … | --modbus-rtu …   (cmd_read_modbus.c)
 *
 * Exit: 0 read ok, 1 meter error reply / timeout / link failure, 2 usage.
 * A meter's error reply (e.g. ERR=02 no requested data) is an answer: it is
 * reported at once, never retried.
 */
#include "cmd.h"
#include "cmd_read_modbus.h"
#include "cmd_util.h"
#include "dlt645.h"
#include "dlt645_di.h"
#include "link.h"
#include "sess.h"

#include "ah_clock.h"
#include "ah_err.h"

#include <getopt.h>
#include <stddef.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void read_usage(FILE *f)
{
    fprintf(
        f,
        "usage: amihead read --tcp HOST:PORT | --serial PATH [--baud 2400] "
        "[--parity even|none|odd]\n"
        "                    --addr 123456789012 --di 00010000 [--proto 2007|1997]\n"
        "                    [--n N] [--from 'YYYY-MM-DD hh:mm'] [--timeout-ms 2000]\n"
        "                    [--retries 2] [--json]\n"
        "       amihead read --modbus-tcp HOST:PORT | --modbus-rtu PATH [--baud 9600]\n"
        "                    [--parity none] --unit 1 --map sdm630|dtsu666|… [--json]\n"
        "--addr AAAAAAAAAAAA asks the meter for its address (13H, one meter on the "
        "bus).\n"
        "--n/--from: load records (06000001: N blocks from a meter-local time) and\n"
        "per-item curves (0610xxxx: N points from a time).\n");
}

/* Parse "YYYY-MM-DD hh:mm" as meter-local wall time (no zone conversion:
 * the meter speaks local time, DESIGN.md §4). */
static int parse_local_tm(const char *s, struct dlt645_tm *t)
{
    int64_t ms;
    if (ah_time_parse(s, &ms) != AH_OK)
        return AH_EINVAL;
    int y, mo, d, h, mi;
    if (sscanf(s, "%4d-%2d-%2d%*[T ]%2d:%2d", &y, &mo, &d, &h, &mi) != 5 || y < 2000 ||
        y > 2099)
        return AH_EINVAL;
    t->year = (uint8_t)(y - 2000);
    t->mon = (uint8_t)mo;
    t->day = (uint8_t)d;
    t->hour = (uint8_t)h;
    t->min = (uint8_t)mi;
    t->sec = 0;
    return AH_OK;
}

static bool is_load_record_di(uint32_t di)
{
    /* 06000000..02 and class-specific 06c00000..02 (§2.9) */
    return (di >> 24) == 0x06 && ((di >> 16) & 0xFF) <= 0x06 && (di & 0xFF00) == 0 &&
           (di & 0xFF) <= 0x02;
}

static json_t *lr_to_json(const struct dlt645_load_record *r)
{
    json_t *o = json_object();
    char ts[32];
    snprintf(ts, sizeof ts, "20%02u-%02u-%02uT%02u:%02u", r->t.year, r->t.mon, r->t.day,
             r->t.hour, r->t.min);
    json_object_set_new(o, "time", json_string(ts));
    if (r->invalid)
        json_object_set_new(o, "invalid", json_true());
    static const struct {
        const char *name;
        int field;
        int kind; /* 0 int32 arr, 1 int64 */
        size_t off;
        int idx;
        int dec;
    } F[] = {
#define I32(n, f, arr, i, d) {n, f, 0, offsetof(struct dlt645_load_record, arr), i, d}
#define I64(n, f, m, d)                                                                  \
    {                                                                                    \
        n, f, 1, offsetof(struct dlt645_load_record, m), 0, d                            \
    }
        I32("voltage_a", DLT645_LR_UA, volt, 0, 1),
        I32("voltage_b", DLT645_LR_UB, volt, 1, 1),
        I32("voltage_c", DLT645_LR_UC, volt, 2, 1),
        I32("current_a", DLT645_LR_IA, curr, 0, 3),
        I32("current_b", DLT645_LR_IB, curr, 1, 3),
        I32("current_c", DLT645_LR_IC, curr, 2, 3),
        I32("frequency", DLT645_LR_FREQ, freq, 0, 2),
        I32("active_power_total", DLT645_LR_P, p, 0, 4),
        I32("active_power_a", DLT645_LR_PA, p, 1, 4),
        I32("active_power_b", DLT645_LR_PB, p, 2, 4),
        I32("active_power_c", DLT645_LR_PC, p, 3, 4),
        I32("reactive_power_total", DLT645_LR_Q, q, 0, 4),
        I32("reactive_power_a", DLT645_LR_QA, q, 1, 4),
        I32("reactive_power_b", DLT645_LR_QB, q, 2, 4),
        I32("reactive_power_c", DLT645_LR_QC, q, 3, 4),
        I32("power_factor_total", DLT645_LR_PF, pf, 0, 3),
        I32("power_factor_a", DLT645_LR_PFA, pf, 1, 3),
        I32("power_factor_b", DLT645_LR_PFB, pf, 2, 3),
        I32("power_factor_c", DLT645_LR_PFC, pf, 3, 3),
        I64("forward_active_total", DLT645_LR_E_FWD, e_fwd, 2),
        I64("reverse_active_total", DLT645_LR_E_REV, e_rev, 2),
        I64("combined_reactive_1", DLT645_LR_E_CR1, e_cr1, 2),
        I64("combined_reactive_2", DLT645_LR_E_CR2, e_cr2, 2),
        I64("reactive_q1", DLT645_LR_E_Q1, e_q[0], 2),
        I64("reactive_q2", DLT645_LR_E_Q2, e_q[1], 2),
        I64("reactive_q3", DLT645_LR_E_Q3, e_q[2], 2),
        I64("reactive_q4", DLT645_LR_E_Q4, e_q[3], 2),
        I32("active_demand", DLT645_LR_DEM_P, dem_p, 0, 4),
        I32("reactive_demand", DLT645_LR_DEM_Q, dem_q, 0, 4),
#undef I32
#undef I64
    };
    for (size_t i = 0; i < sizeof F / sizeof F[0]; i++) {
        if (r->na & (UINT64_C(1) << F[i].field))
            continue; /* class disabled or FF-filled: not available */
        const char *base = (const char *)r + F[i].off;
        int64_t raw;
        if (F[i].kind == 0) {
            int32_t v;
            memcpy(&v, base + (size_t)F[i].idx * sizeof(int32_t), sizeof v);
            raw = v;
        } else {
            memcpy(&raw, base, sizeof raw);
        }
        json_object_set_new(o, F[i].name, cmd_json_scaled(raw, (uint8_t)F[i].dec));
    }
    return o;
}

static int print_load_records(const char *addr, uint32_t di, const uint8_t *p, size_t len,
                              bool json)
{
    json_t *arr = json_array();
    size_t off = 0;
    while (off < len) {
        struct dlt645_load_record r;
        size_t used = 0;
        int rc = dlt645_lr_decode(p + off, len - off, &r, &used);
        if (rc != AH_OK || used == 0) {
            fprintf(stderr, "amihead read: meter %s: bad load record at byte %zu: %s\n",
                    addr, off, ah_strerror(rc));
            json_decref(arr);
            return 1;
        }
        json_array_append_new(arr, lr_to_json(&r));
        off += used;
    }
    char name[DLT645_NAME_MAX] = "load_records";
    const char *unit = "";
    dlt645_di_describe(di, DLT645_2007, name, sizeof name, &unit);
    return cmd_print_result(addr, di, DLT645_2007, name, unit, arr, json);
}

/* The command line of `amihead read` (DL/T 645). */
struct read_args {
    const char *tcp, *serial, *addr_s, *di_s, *from;
    struct link_serial_opts ser;
    long proto, timeout_ms, retries, nblocks;
    bool json;
};

/* Parse argv into *a. -1: go on; else the exit status (0 for --help). */
static int read_parse_args(int argc, char **argv, struct read_args *a)
{
    static const struct option opts[] = {
        {"tcp", required_argument, 0, 't'},     {"serial", required_argument, 0, 's'},
        {"baud", required_argument, 0, 'b'},    {"parity", required_argument, 0, 'p'},
        {"addr", required_argument, 0, 'a'},    {"di", required_argument, 0, 'd'},
        {"proto", required_argument, 0, 'P'},   {"timeout-ms", required_argument, 0, 'T'},
        {"retries", required_argument, 0, 'r'}, {"json", no_argument, 0, 'j'},
        {"n", required_argument, 0, 'n'},       {"from", required_argument, 0, 'f'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0},
    };
    *a = (struct read_args){.ser = LINK_SERIAL_DLT645_DEFAULT,
                            .proto = 2007,
                            .timeout_ms = 2000,
                            .retries = 2,
                            .nblocks = -1};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        long v;
        switch (c) {
        case 't':
            /* tcp://HOST:PORT as in the export settings is the same link */
            a->tcp = strncmp(optarg, "tcp://", 6) ? optarg : optarg + 6;
            break;
        case 's':
            a->serial = optarg;
            break;
        case 'a':
            a->addr_s = optarg;
            break;
        case 'd':
            a->di_s = optarg;
            break;
        case 'f':
            a->from = optarg;
            break;
        case 'j':
            a->json = true;
            break;
        case 'b':
            if (cmd_parse_long(optarg, 300, 115200, &v))
                goto usage;
            a->ser.baud = (int)v;
            break;
        case 'p':
            if (cmd_parse_parity(optarg, &a->ser.parity))
                goto usage;
            break;
        case 'P':
            if (cmd_parse_long(optarg, 1997, 2007, &a->proto) ||
                (a->proto != 1997 && a->proto != 2007))
                goto usage;
            break;
        case 'T':
            if (cmd_parse_long(optarg, 10, 600000, &a->timeout_ms))
                goto usage;
            break;
        case 'r':
            if (cmd_parse_long(optarg, 0, 20, &a->retries))
                goto usage;
            break;
        case 'n':
            if (cmd_parse_long(optarg, 1, 255, &a->nblocks))
                goto usage;
            break;
        case 'h':
            read_usage(stdout);
            return 0;
        default:
            goto usage;
        }
    }
    if (optind != argc || !!a->tcp == !!a->serial || !a->addr_s ||
        (!a->di_s && strcmp(a->addr_s, "AAAAAAAAAAAA")))
        goto usage;
    return -1;
usage:
    read_usage(stderr);
    return 2;
}

/* The request the arguments ask for. -1: go on; else the exit status. */
static int read_build_req(const struct read_args *a, struct sess_req *req)
{
    memset(req, 0, sizeof *req);
    req->proto = a->proto == 1997 ? DLT645_1997 : DLT645_2007;
    req->timeout_ms = (int)a->timeout_ms;
    req->retries = (int)a->retries;
    req->func = DLT645_F_READ;
    if (!strcmp(a->addr_s, "AAAAAAAAAAAA")) {
        req->func = DLT645_F_READ_ADDR;
    } else if (dlt645_addr_parse(a->addr_s, &req->addr) != AH_OK) {
        fprintf(stderr, "amihead read: --addr must be 1..12 decimal digits, got '%s'\n",
                a->addr_s);
        return 2;
    } else if (dlt645_addr_is_broadcast(&req->addr)) {
        /* 99…99 is for broadcast time and freeze only; slaves never answer
         * it (DL/T 645-2007 §1.3), so a read to it can only mislead. */
        fprintf(stderr, "amihead read: 999999999999 is the broadcast address; "
                        "meters never answer a read to it\n");
        return 2;
    }
    if (req->func == DLT645_F_READ_ADDR && a->di_s) {
        fprintf(stderr, "amihead read: --addr AAAAAAAAAAAA reads the address (13H); "
                        "it takes no --di\n");
        return 2;
    }
    if (req->func == DLT645_F_READ) {
        unsigned long di;
        if (cmd_parse_hex(a->di_s, req->proto == DLT645_1997 ? 4 : 8, &di)) {
            fprintf(stderr, "amihead read: --di must be %d hex digits, got '%s'\n",
                    req->proto == DLT645_1997 ? 4 : 8, a->di_s);
            return 2;
        }
        req->di = (uint32_t)di;
    }
    if (a->from) {
        if (parse_local_tm(a->from, &req->t) != AH_OK) {
            fprintf(stderr, "amihead read: --from wants 'YYYY-MM-DD hh:mm', got '%s'\n",
                    a->from);
            return 2;
        }
        req->with_time = req->with_n = true;
        req->n = (uint8_t)(a->nblocks > 0 ? a->nblocks : 1);
    } else if (a->nblocks > 0) {
        req->with_n = true;
        req->n = (uint8_t)a->nblocks;
    }
    return -1;
}

/* Ask on the open link and print the answer; the exit status. */
static int read_exchange(const struct read_args *a, const struct sess_req *req, link_t *l)
{
    struct sess s = {0};
    int rc = sess_run_sync(&s, l, req);
    char addr_txt[13];
    dlt645_addr_format(req->func == DLT645_F_READ_ADDR ? &s.reply_addr : &req->addr,
                       addr_txt);
    if (rc == AH_EMETER) {
        char why[128];
        fprintf(stderr,
                "amihead read: meter %s answered DI %0*X with an error: ERR=%02X (%s)\n",
                addr_txt, req->proto == DLT645_1997 ? 4 : 8, req->di, s.err_word,
                dlt645_err_describe(s.err_word, req->proto, why, sizeof why));
        return 1;
    }
    if (rc == AH_ETIMEDOUT) {
        fprintf(
            stderr,
            "amihead read: meter %s on %s: no reply after %d attempt(s) of %ld ms: %s\n",
            addr_txt, link_name(l), s.attempt + 1, a->timeout_ms, ah_strerror(rc));
        return 1;
    }
    if (rc != AH_OK) {
        fprintf(stderr, "amihead read: meter %s on %s: %s\n", addr_txt, link_name(l),
                ah_strerror(rc));
        return 1;
    }
    if (req->func == DLT645_F_READ_ADDR) {
        if (a->json)
            printf("{\"addr\":\"%s\"}\n", addr_txt);
        else
            printf("address %s\n", addr_txt);
        return 0;
    }
    size_t plen;
    const uint8_t *payload = sess_payload(&s, &plen);
    if (req->proto == DLT645_2007 && is_load_record_di(req->di))
        return print_load_records(addr_txt, req->di, payload, plen, a->json);
    return cmd_print_values(addr_txt, req->di, req->proto, payload, plen, a->json);
}

int cmd_read(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--modbus-tcp") || !strcmp(argv[i], "--modbus-rtu"))
            return cmd_read_modbus(argc, argv);

    struct read_args a;
    struct sess_req req;
    int ex = read_parse_args(argc, argv, &a);
    if (ex < 0)
        ex = read_build_req(&a, &req);
    if (ex >= 0)
        return ex;
    link_t *l = a.tcp ? link_new_tcp(a.tcp) : link_new_serial(a.serial, &a.ser);
    if (!l) {
        fprintf(stderr, "amihead read: bad link '%s'\n", a.tcp ? a.tcp : a.serial);
        return 2;
    }
    int ret = 1;
    int rc = link_open(l, (int)a.timeout_ms);
    if (rc != AH_OK)
        fprintf(stderr, "amihead read: cannot open %s: %s\n", link_name(l),
                ah_strerror(rc));
    else
        ret = read_exchange(&a, &req, l);
    link_destroy(&l);
    return ret;
}
