/*
 * mbio — the libmodbus adapter: the only file of amihead that includes
 * modbus.h (DESIGN.md §3, STYLE.md 5).
 *
 * It opens one Modbus TCP or RTU link, reads a register map planned by
 * mbmap, paces RTU requests (libmodbus does not keep the 3.5-character
 * silence between frames), retries timeouts, and translates libmodbus'
 * -1 + errno (including Modbus exception codes) into ah_err exactly once.
 * Calls block (libmodbus is select-based): one mbio per link thread.
 * It does not decode registers (mbmap does) and does not log.
 */
#ifndef AH_MBIO_H
#define AH_MBIO_H

#include "mbmap.h"

#include <stddef.h>

typedef struct mbio mbio_t;

/* Modbus TCP client for host (name or address) and port 1..65535. The
 * connection is made by mbio_connect(). *out: caller owns, mbio_destroy(). */
int mbio_new_tcp(mbio_t **out, const char *host, int port);

/* Modbus RTU master on a tty (real port or pseudo-terminal: libmodbus uses
 * termios). baud > 0; parity 'N', 'E' or 'O'; 8 data bits; stop_bits 1/2. */
int mbio_new_rtu(mbio_t **out, const char *path, int baud, char parity, int stop_bits);

/* Unit (slave) id: 1..247 on RTU (0 is broadcast, never answered), 0..255
 * on TCP (255 = "the TCP device itself"). AH_EINVAL outside. */
int mbio_set_unit(mbio_t *io, int unit);

/* Response timeout per request (1..60000 ms) and how many times a request
 * that timed out or came back garbled is repeated (0..10). A Modbus
 * exception is an answer and is never repeated. Defaults 1000 ms, 2. */
int mbio_set_timeout(mbio_t *io, int timeout_ms, int retries);

/* Open the TCP connection or the serial port. */
int mbio_connect(mbio_t *io);

/*
 * Read every quantity of map m (mbmap_plan() packs the requests), decoded
 * into values[0 .. m->n_qty) (n_values >= m->n_qty). Stops at the first
 * request that fails for good; values of earlier spans are then already
 * written. Errors: AH_EMETER (exception reply; mbio_detail() names it),
 * AH_ETIMEDOUT, AH_ECHECKSUM, AH_EFRAME, AH_EADDR, AH_ECLOSED, AH_EIO, ...
 */
int mbio_read_map(mbio_t *io, const struct mbmap *m, double *values, size_t n_values);

/* Detail of the last failure, e.g. "FC04 0x0000 x80: exception 0x02 illegal
 * data address"; "" when none. Borrowed, valid until the next call. */
const char *mbio_detail(const mbio_t *io);

/* "tcp:HOST:PORT" or "rtu:PATH@BAUD"; borrowed. */
const char *mbio_name(const mbio_t *io);

/* Close and free; sets *io = NULL; accepts NULL and *io == NULL. */
void mbio_destroy(mbio_t **io);

#endif /* AH_MBIO_H */
