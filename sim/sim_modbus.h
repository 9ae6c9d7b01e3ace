/*
 * sim_modbus — stand-alone Modbus meters (SDM630, DTSU666) served through
 * libmodbus's server side, TCP and RTU over pseudo-terminals.
 *
 * libmodbus blocks, so the servers run in one thread of their own
 * (DESIGN.md §3). Register layouts come from mbmap (src/protocols), values
 * from the fleet model at the simulated time of each request. This file is
 * the simulator's only includer of modbus.h.
 */
#ifndef AH_SIM_MODBUS_H
#define AH_SIM_MODBUS_H

#include "ah_clock.h"
#include "sim_fleet.h"

#include <stdbool.h>
#include <stdio.h>

struct sim_modbus_opts {
    const char *bind;
    unsigned tcp_base; /* meter i on tcp_base + i; 0: no TCP */
    bool rtu;          /* one pseudo-terminal per meter (9600 8N1, unit 1) */
    unsigned count;    /* meters; map of meter i: sim_modbus_map_of(i) */
};

struct sim_modbus;

/* Open the endpoints, print one line each to announce, start the thread.
 * Fleet and clock are borrowed (read only from the thread). */
int sim_modbus_start(struct sim_modbus **out, const struct sim_fleet *f,
                     const struct ah_clock *clk, const struct sim_modbus_opts *o,
                     FILE *announce);
/* RTU pseudo-terminal paths (count entries) or NULL; owned by the server. */
char **sim_modbus_rtu_paths(struct sim_modbus *s);
/* Stop the thread and close everything; accepts NULL. */
void sim_modbus_stop(struct sim_modbus **s);

/* Fill the registers of meter i (map name) at time t: holding/input are
 * 0x4100 / 0x0200 registers from address 0. Exposed for unit tests. */
int sim_modbus_fill(const struct sim_fleet *f, unsigned i, const char *map, int64_t t,
                    uint16_t *holding, size_t nhold, uint16_t *input, size_t ninput);

#endif /* AH_SIM_MODBUS_H */
