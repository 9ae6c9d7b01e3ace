/*
 * sim_modbus — Modbus TCP/RTU meter servers on libmodbus (see sim_modbus.h).
 *
 * One thread, select() over every listener, client socket and RTU
 * pseudo-terminal; before each reply the meter's registers are refilled
 * from the model. Must not touch the DL/T 645 side.
 */
#include "sim_modbus.h"

#include "ah_err.h"
#include "ah_log.h"
#include "mbmap.h"
#include "sim_truth.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <modbus.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#define NHOLD       0x4100
#define NINPUT      0x0200
#define MAX_CLIENTS 8

struct mbmeter {
    modbus_t *tcp;
    int listen_fd;
    int clients[MAX_CLIENTS];
    modbus_t *rtu;
    int pty_fd, pty_slave;
    modbus_mapping_t *map;
    const char *map_name;
};

struct sim_modbus {
    const struct sim_fleet *f;
    const struct ah_clock *clk;
    unsigned n;
    struct mbmeter *m;
    char **rtu_paths;
    pthread_t th;
    bool running;
    volatile int stop;
};

static void put_f32(uint16_t *regs, size_t nregs, const struct mbmap_qty *q, double v)
{
    double raw = v / pow(10.0, q->exp10);
    if ((size_t)q->addr + mbmap_type_regs(q->type) > nregs)
        return;
    uint16_t *r = regs + q->addr;
    switch (q->type) {
    case MBMAP_F32_ABCD:
    case MBMAP_F32_CDAB: {
        /* register-level word order (§4.1); libmodbus 3.1.6's
         * modbus_set_float_abcd() swaps the bytes inside each register */
        float fv = (float)raw;
        uint32_t bits;
        memcpy(&bits, &fv, sizeof bits);
        uint16_t hi = (uint16_t)(bits >> 16), lo = (uint16_t)bits;
        r[0] = q->type == MBMAP_F32_ABCD ? hi : lo;
        r[1] = q->type == MBMAP_F32_ABCD ? lo : hi;
        break;
    }
    case MBMAP_U16:
    case MBMAP_I16:
        r[0] = (uint16_t)(int16_t)llround(raw);
        break;
    case MBMAP_U32:
    case MBMAP_I32: {
        uint32_t x = (uint32_t)(int32_t)llround(raw);
        r[0] = (uint16_t)(x >> 16);
        r[1] = (uint16_t)x;
        break;
    }
    case MBMAP_I64: {
        uint64_t x = (uint64_t)llround(raw);
        for (int i = 0; i < 4; i++)
            r[i] = (uint16_t)(x >> (16 * (3 - i)));
        break;
    }
    }
}

/* Engineering value of a map quantity from the meter's view. */
static bool value_of(const char *name, const struct sim_view *v, double *out)
{
    double V[3], I[3], P[4], Q[4], PF[4];
    for (int i = 0; i < 3; i++) {
        V[i] = v->volt_dv[i] / 10.0;
        I[i] = v->curr_ma[i] / 1000.0;
    }
    for (int i = 0; i < 4; i++) {
        P[i] = v->p_w[i];
        Q[i] = v->q_var[i];
        PF[i] = v->pf_milli[i] / 1000.0;
    }
    static const char *const ph[3] = {"l1", "l2", "l3"};
    char b[48];
    for (int i = 0; i < 3; i++) {
#define IS(fmt) (snprintf(b, sizeof b, fmt, ph[i]), !strcmp(name, b))
        if (IS("voltage_%s"))
            return *out = V[i], true;
        if (IS("current_%s"))
            return *out = I[i], true;
        if (IS("active_power_%s"))
            return *out = P[1 + i], true;
        if (IS("reactive_power_%s"))
            return *out = Q[1 + i], true;
        if (IS("apparent_power_%s"))
            return *out = hypot(P[1 + i], Q[1 + i]), true;
        if (IS("power_factor_%s"))
            return *out = PF[1 + i], true;
        if (IS("phase_angle_%s"))
            return *out = acos(fabs(PF[1 + i])) * 180.0 / M_PI, true;
#undef IS
        int j = (i + 1) % 3;
        snprintf(b, sizeof b, "voltage_%s_%s", ph[i], ph[j]);
        if (!strcmp(name, b)) /* phasors 120° apart */
            return *out = sqrt(V[i] * V[i] + V[j] * V[j] + V[i] * V[j]), true;
    }
    if (!strcmp(name, "active_power_total"))
        return *out = P[0], true;
    if (!strcmp(name, "reactive_power_total"))
        return *out = Q[0], true;
    if (!strcmp(name, "apparent_power_total"))
        return *out = hypot(P[0], Q[0]), true;
    if (!strcmp(name, "power_factor_total"))
        return *out = PF[0], true;
    if (!strcmp(name, "frequency"))
        return *out = v->freq_chz / 100.0, true;
    if (!strcmp(name, "current_avg"))
        return *out = (fabs(I[0]) + fabs(I[1]) + fabs(I[2])) / 3.0, true;
    if (!strcmp(name, "current_n")) {
        double re = I[0] - 0.5 * (I[1] + I[2]), im = 0.8660254 * (I[1] - I[2]);
        return *out = hypot(re, im), true;
    }
    const struct sim_regs *r = &v->regs;
    double imp = (double)(sim_regs_total(r, SIM_IMP) % SIM_REG_WRAP) / 100.0;
    double exp_ = (double)(sim_regs_total(r, SIM_EXP) % SIM_REG_WRAP) / 100.0;
    if (!strcmp(name, "import_active_energy"))
        return *out = imp, true;
    if (!strcmp(name, "export_active_energy"))
        return *out = exp_, true;
    if (!strcmp(name, "total_active_energy"))
        return *out = imp + exp_, true;
    if (!strcmp(name, "import_reactive_energy"))
        return *out = (double)(r->q[0] + r->q[1]) / 100.0, true;
    if (!strcmp(name, "export_reactive_energy"))
        return *out = (double)(r->q[2] + r->q[3]) / 100.0, true;
    if (!strcmp(name, "total_reactive_energy"))
        return *out = (double)(r->q[0] + r->q[1] + r->q[2] + r->q[3]) / 100.0, true;
    return false;
}

int sim_modbus_fill(const struct sim_fleet *f, unsigned i, const char *map, int64_t t,
                    uint16_t *holding, size_t nhold, uint16_t *input, size_t ninput)
{
    const struct mbmap *mm = mbmap_find(map);
    if (!mm || i >= f->nmb)
        return AH_EINVAL;
    struct sim_view v;
    sim_fleet_view(f, SIM_MODBUS_CONC, i, t, &v);
    uint16_t *regs = mm->fc == MBMAP_FC_INPUT ? input : holding;
    size_t nregs = mm->fc == MBMAP_FC_INPUT ? ninput : nhold;
    for (size_t k = 0; k < mm->n_qty; k++) {
        double x;
        if (value_of(mm->qty[k].name, &v, &x)) {
            put_f32(regs, nregs, &mm->qty[k], x);
            /* a DTSU666 answers FC 04 with the same registers (§4.3) */
            if (mm->fc == MBMAP_FC_HOLDING)
                put_f32(input, ninput, &mm->qty[k], x);
        }
    }
    if (!strncmp(map, "dtsu666", 7) && nhold > 0x2E) {
        holding[0x06] = 1;  /* IrAt: CT ratio (§4.3) */
        holding[0x07] = 10; /* UrAt × 0.1: PT ratio 1.0 */
        holding[0x2C] = 3;  /* protocol: Modbus n.1 */
        holding[0x2D] = 3;  /* 9600 */
        holding[0x2E] = 1;  /* address */
    }
    return AH_OK;
}

static void serve(struct sim_modbus *s, struct mbmeter *m, unsigned i, modbus_t *ctx,
                  int fd, bool *drop)
{
    uint8_t req[MODBUS_TCP_MAX_ADU_LENGTH];
    modbus_set_socket(ctx, fd);
    int rc = modbus_receive(ctx, req);
    if (rc < 0) {
        if (m->tcp == ctx)
            *drop = true;
        else
            modbus_flush(ctx);
        return;
    }
    if (rc == 0)
        return; /* another unit's request on the bus */
    int64_t now = ah_clock_now_ms(s->clk) / 1000;
    sim_modbus_fill(s->f, i, m->map_name, now, m->map->tab_registers,
                    (size_t)m->map->nb_registers, m->map->tab_input_registers,
                    (size_t)m->map->nb_input_registers);
    modbus_reply(ctx, req, rc, m->map);
}

static void *run(void *arg)
{
    struct sim_modbus *s = arg;
    while (!s->stop) {
        fd_set rd;
        FD_ZERO(&rd);
        int maxfd = -1;
        for (unsigned i = 0; i < s->n; i++) {
            struct mbmeter *m = &s->m[i];
#define ADD(fd)                                                                          \
    do {                                                                                 \
        if ((fd) >= 0 && (fd) < FD_SETSIZE) {                                            \
            FD_SET((fd), &rd);                                                           \
            maxfd = (fd) > maxfd ? (fd) : maxfd;                                         \
        }                                                                                \
    } while (0)
            ADD(m->listen_fd);
            ADD(m->pty_fd);
            for (int c = 0; c < MAX_CLIENTS; c++)
                ADD(m->clients[c]);
#undef ADD
        }
        struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
        int ne = select(maxfd + 1, &rd, NULL, NULL, &tv);
        if (ne <= 0)
            continue;
        for (unsigned i = 0; i < s->n; i++) {
            struct mbmeter *m = &s->m[i];
            if (m->listen_fd >= 0 && FD_ISSET(m->listen_fd, &rd)) {
                int fd = accept(m->listen_fd, NULL, NULL);
                int c = 0;
                while (c < MAX_CLIENTS && m->clients[c] >= 0)
                    c++;
                if (fd >= 0 && c < MAX_CLIENTS)
                    m->clients[c] = fd;
                else if (fd >= 0)
                    close(fd);
            }
            for (int c = 0; c < MAX_CLIENTS; c++) {
                if (m->clients[c] < 0 || !FD_ISSET(m->clients[c], &rd))
                    continue;
                bool drop = false;
                serve(s, m, i, m->tcp, m->clients[c], &drop);
                if (drop) {
                    close(m->clients[c]);
                    m->clients[c] = -1;
                }
            }
            if (m->pty_fd >= 0 && FD_ISSET(m->pty_fd, &rd)) {
                bool drop = false;
                serve(s, m, i, m->rtu, m->pty_fd, &drop);
            }
        }
    }
    return NULL;
}

static int open_rtu(struct sim_modbus *s, unsigned i, FILE *announce)
{
    struct mbmeter *m = &s->m[i];
    int fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    char path[64];
    if (fd < 0 || grantpt(fd) < 0 || unlockpt(fd) < 0 ||
        ptsname_r(fd, path, sizeof path)) {
        if (fd >= 0)
            close(fd);
        return AH_EIO;
    }
    int sfd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (sfd < 0) {
        close(fd);
        return AH_EIO;
    }
    struct termios tio;
    if (tcgetattr(sfd, &tio) == 0) {
        cfmakeraw(&tio);
        cfsetispeed(&tio, B9600);
        cfsetospeed(&tio, B9600);
        tcsetattr(sfd, TCSANOW, &tio);
    }
    /* libmodbus talks to our pty master through the fd; the device name is
     * never opened (no modbus_connect) */
    m->rtu = modbus_new_rtu(path, 9600, 'N', 8, 1);
    if (!m->rtu) {
        close(fd);
        close(sfd);
        return AH_ENOMEM;
    }
    modbus_set_slave(m->rtu, 1);
    m->pty_fd = fd;
    m->pty_slave = sfd;
    s->rtu_paths[i] = strdup(path);
    fprintf(announce, "modbus-rtu %u %s unit 1 map %s 9600 8N1 meter %012llu\n", i, path,
            m->map_name, 900000000000ULL + i);
    return AH_OK;
}

static int open_tcp(struct sim_modbus *s, const struct sim_modbus_opts *o, unsigned i,
                    FILE *announce)
{
    struct mbmeter *m = &s->m[i];
    char port[16];
    snprintf(port, sizeof port, "%u", o->tcp_base + i);
    m->tcp = modbus_new_tcp(o->bind, (int)(o->tcp_base + i));
    if (!m->tcp)
        return AH_ENOMEM;
    m->listen_fd = modbus_tcp_listen(m->tcp, 8);
    if (m->listen_fd < 0) {
        ah_log(AH_LOG_ERROR, "amisim", "modbus listen %s:%s: %s", o->bind, port,
               modbus_strerror(errno));
        return AH_EIO;
    }
    fprintf(announce, "modbus-tcp %u %s:%s unit 1 map %s meter %012llu\n", i, o->bind,
            port, m->map_name, 900000000000ULL + i);
    return AH_OK;
}

int sim_modbus_start(struct sim_modbus **out, const struct sim_fleet *f,
                     const struct ah_clock *clk, const struct sim_modbus_opts *o,
                     FILE *announce)
{
    struct sim_modbus *s = calloc(1, sizeof *s);
    int rc = AH_ENOMEM;
    if (!s)
        return AH_ENOMEM;
    s->f = f;
    s->clk = clk;
    s->n = o->count < f->nmb ? o->count : f->nmb;
    s->m = calloc(s->n ? s->n : 1, sizeof *s->m);
    if (o->rtu)
        s->rtu_paths = calloc(s->n ? s->n : 1, sizeof *s->rtu_paths);
    if (!s->m || (o->rtu && !s->rtu_paths))
        goto fail;
    for (unsigned i = 0; i < s->n; i++) {
        struct mbmeter *m = &s->m[i];
        m->listen_fd = m->pty_fd = m->pty_slave = -1;
        for (int c = 0; c < MAX_CLIENTS; c++)
            m->clients[c] = -1;
        m->map_name = sim_modbus_map_of(i);
        m->map = modbus_mapping_new(0, 0, NHOLD, NINPUT);
        if (!m->map)
            goto fail;
    }
    for (unsigned i = 0; i < s->n; i++) {
        if (o->tcp_base && (rc = open_tcp(s, o, i, announce)) < 0)
            goto fail;
        if (o->rtu && (rc = open_rtu(s, i, announce)) < 0)
            goto fail;
    }
    if (pthread_create(&s->th, NULL, run, s) != 0) {
        rc = AH_ENOMEM;
        goto fail;
    }
    s->running = true;
    *out = s;
    return AH_OK;
fail:
    sim_modbus_stop(&s);
    return rc;
}

char **sim_modbus_rtu_paths(struct sim_modbus *s)
{
    return s->rtu_paths;
}

void sim_modbus_stop(struct sim_modbus **ps)
{
    struct sim_modbus *s = ps ? *ps : NULL;
    if (!s)
        return;
    if (s->running) {
        s->stop = 1;
        pthread_join(s->th, NULL);
    }
    for (unsigned i = 0; s->m && i < s->n; i++) {
        struct mbmeter *m = &s->m[i];
        for (int c = 0; c < MAX_CLIENTS; c++)
            if (m->clients[c] >= 0)
                close(m->clients[c]);
        if (m->listen_fd >= 0)
            close(m->listen_fd);
        if (m->tcp)
            modbus_free(m->tcp);
        if (m->pty_fd >= 0)
            close(m->pty_fd);
        if (m->pty_slave >= 0)
            close(m->pty_slave);
        if (m->rtu)
            modbus_free(m->rtu);
        if (m->map)
            modbus_mapping_free(m->map);
        if (s->rtu_paths)
            free(s->rtu_paths[i]);
    }
    free(s->rtu_paths);
    free(s->m);
    free(s);
    *ps = NULL;
}
