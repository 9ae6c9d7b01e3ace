/*
 * mbio — libmodbus adapter (see mbio.h). The only includer of modbus.h;
 * libmodbus' -1 + errno is translated to ah_err here and nowhere else.
 */
#include "mbio.h"

#include "ah_clock.h"
#include "ah_err.h"

#include <modbus.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct mbio {
    modbus_t *ctx;
    bool rtu;
    bool connected;
    int baud;
    int unit;
    int timeout_ms;
    int retries;
    int64_t last_io_ms; /* end of the last transaction, ah_mono_ms; RTU pacing */
    char name[160];
    char detail[160];
};

static int mbio_alloc(mbio_t **out, modbus_t *ctx, bool rtu, int baud)
{
    mbio_t *io = calloc(1, sizeof *io);
    if (!io) {
        modbus_free(ctx);
        return AH_ENOMEM;
    }
    io->ctx = ctx;
    io->rtu = rtu;
    io->baud = baud;
    io->unit = 1;
    io->timeout_ms = 1000;
    io->retries = 2;
    io->last_io_ms = -1;
    *out = io;
    int rc = mbio_set_timeout(io, io->timeout_ms, io->retries);
    return rc ? rc : mbio_set_unit(io, io->unit);
}

int mbio_new_tcp(mbio_t **out, const char *host, int port)
{
    if (!out || !host || !*host || port < 1 || port > 65535)
        return AH_EINVAL;
    *out = NULL;
    char service[8];
    snprintf(service, sizeof service, "%d", port);
    /* _pi resolves names and IPv6 through getaddrinfo; plain modbus_new_tcp
     * takes dotted IPv4 only. */
    modbus_t *ctx = modbus_new_tcp_pi(host, service);
    if (!ctx)
        return ah_err_from_errno(errno);
    int rc = mbio_alloc(out, ctx, false, 0);
    if (*out)
        snprintf((*out)->name, sizeof(*out)->name, "tcp:%s:%d", host, port);
    return rc;
}

int mbio_new_rtu(mbio_t **out, const char *path, int baud, char parity, int stop_bits)
{
    if (!out || !path || !*path || baud <= 0)
        return AH_EINVAL;
    if ((parity != 'N' && parity != 'E' && parity != 'O') ||
        (stop_bits != 1 && stop_bits != 2))
        return AH_EINVAL;
    *out = NULL;
    modbus_t *ctx = modbus_new_rtu(path, baud, parity, 8, stop_bits);
    if (!ctx)
        return ah_err_from_errno(errno);
    int rc = mbio_alloc(out, ctx, true, baud);
    if (*out)
        snprintf((*out)->name, sizeof(*out)->name, "rtu:%s@%d", path, baud);
    return rc;
}

int mbio_set_unit(mbio_t *io, int unit)
{
    if (!io)
        return AH_EINVAL;
    /* Modbus over Serial Line §2.2: 0 broadcast, 1..247 slaves; on TCP the
     * unit id only matters to gateways, 255 addresses the device itself. */
    if (io->rtu ? (unit < 1 || unit > 247) : (unit < 0 || unit > 255))
        return AH_EINVAL;
    if (modbus_set_slave(io->ctx, unit) < 0)
        return AH_EINVAL;
    io->unit = unit;
    return AH_OK;
}

int mbio_set_timeout(mbio_t *io, int timeout_ms, int retries)
{
    if (!io || timeout_ms < 1 || timeout_ms > 60000 || retries < 0 || retries > 10)
        return AH_EINVAL;
    uint32_t ms = (uint32_t)timeout_ms;
    if (modbus_set_response_timeout(io->ctx, ms / 1000u, (ms % 1000u) * 1000u) < 0)
        return AH_EINVAL;
    io->timeout_ms = timeout_ms;
    io->retries = retries;
    return AH_OK;
}

/* libmodbus errno → ah_err, with the detail text for the operator. */
static int mbio_translate(mbio_t *io, int errnum, const char *what)
{
    if (errnum >= EMBXILFUN && errnum <= EMBXGTAR) {
        unsigned code = (unsigned)(errnum - MODBUS_ENOBASE);
        snprintf(io->detail, sizeof io->detail, "%s: exception 0x%02X %s", what, code,
                 mbmap_exception_text(code));
        return AH_EMETER;
    }
    int err;
    const char *text;
    switch (errnum) {
    case EMBBADCRC:
        err = AH_ECHECKSUM;
        text = "bad CRC in reply";
        break;
    case EMBBADDATA:
    case EMBMDATA:
    case EMBBADEXC:
    case EMBUNKEXC:
        err = AH_EFRAME;
        text = modbus_strerror(errnum);
        break;
    case EMBBADSLAVE:
        err = AH_EADDR;
        text = "reply from another unit id";
        break;
    case ETIMEDOUT:
        err = AH_ETIMEDOUT;
        text = "no reply within the response timeout";
        break;
    default:
        err = ah_err_from_errno(errnum);
        text = strerror(errnum);
        break;
    }
    snprintf(io->detail, sizeof io->detail, "%s: %s", what, text);
    return err;
}

int mbio_connect(mbio_t *io)
{
    if (!io)
        return AH_EINVAL;
    io->detail[0] = '\0';
    if (io->connected)
        return AH_OK;
    if (modbus_connect(io->ctx) < 0)
        return mbio_translate(io, errno, "connect");
    io->connected = true;
    return AH_OK;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000),
                          .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Modbus over Serial Line v1.02 §2.5.1.1: frames are separated by at least
 * 3.5 character times (11 bits each); above 19200 baud a fixed 1.75 ms.
 * libmodbus sends as soon as it is called, so wait out the rest of the
 * silence since the previous transaction ended. Millisecond clock: round
 * up and add one for the truncation of both timestamps. */
static void mbio_pace(mbio_t *io)
{
    if (!io->rtu || io->last_io_ms < 0)
        return;
    int64_t gap_us = io->baud > 19200 ? 1750 : (int64_t)(3.5 * 11 * 1e6) / io->baud;
    int64_t need = (gap_us + 999) / 1000 + 1;
    int64_t waited = ah_mono_ms() - io->last_io_ms;
    if (waited < need)
        sleep_ms(need - waited);
}

static bool mbio_retryable(int err)
{
    return err == AH_ETIMEDOUT || err == AH_ECHECKSUM || err == AH_EFRAME ||
           err == AH_EADDR || err == AH_ECLOSED || err == AH_EIO;
}

static int mbio_read_span(mbio_t *io, uint8_t fc, const struct mbmap_span *sp,
                          uint16_t *regs)
{
    char what[64];
    snprintf(what, sizeof what, "FC%02u 0x%04X x%u", (unsigned)fc, (unsigned)sp->addr,
             (unsigned)sp->count);
    int err = AH_EIO;
    for (int attempt = 0; attempt <= io->retries; attempt++) {
        if (!io->connected) {
            err = mbio_connect(io);
            if (err)
                continue;
        }
        mbio_pace(io);
        int n = fc == MBMAP_FC_INPUT
                    ? modbus_read_input_registers(io->ctx, sp->addr, sp->count, regs)
                    : modbus_read_registers(io->ctx, sp->addr, sp->count, regs);
        int errnum = errno;
        io->last_io_ms = ah_mono_ms();
        if (n == (int)sp->count)
            return AH_OK;
        if (n >= 0) {
            snprintf(io->detail, sizeof io->detail, "%s: short reply, %d registers", what,
                     n);
            err = AH_EFRAME;
        } else {
            err = mbio_translate(io, errnum, what);
        }
        if (!mbio_retryable(err))
            return err;
        if (err == AH_ECLOSED || err == AH_EIO) {
            /* The TCP peer went away: reconnect on the next attempt. */
            modbus_close(io->ctx);
            io->connected = false;
        } else {
            /* Drop the rest of a late or garbled reply so it cannot be
             * taken for the answer to the retry. */
            modbus_flush(io->ctx);
        }
    }
    return err;
}

int mbio_read_map(mbio_t *io, const struct mbmap *m, double *values, size_t n_values)
{
    if (!io || !m || !values || n_values < m->n_qty)
        return AH_EINVAL;
    io->detail[0] = '\0';
    struct mbmap_span spans[MBMAP_MAX_SPANS];
    size_t n_spans = 0;
    int rc = mbmap_plan(m, spans, MBMAP_MAX_SPANS, &n_spans);
    if (rc) {
        snprintf(io->detail, sizeof io->detail, "map %s cannot be planned", m->name);
        return rc;
    }
    uint16_t regs[MBMAP_MAX_READ_REGS];
    for (size_t i = 0; i < n_spans; i++) {
        rc = mbio_read_span(io, m->fc, &spans[i], regs);
        if (rc)
            return rc;
        rc = mbmap_decode(m, &spans[i], regs, spans[i].count, values, n_values);
        if (rc)
            return rc;
    }
    return AH_OK;
}

const char *mbio_detail(const mbio_t *io)
{
    return io ? io->detail : "";
}

const char *mbio_name(const mbio_t *io)
{
    return io ? io->name : "";
}

void mbio_destroy(mbio_t **pio)
{
    if (!pio || !*pio)
        return;
    mbio_t *io = *pio;
    if (io->connected)
        modbus_close(io->ctx);
    modbus_free(io->ctx);
    free(io);
    *pio = NULL;
}
