/*
 * sim_truth — what the simulator tells the outside world about its fleet:
 * the ground-truth JSON (--truth), register series (--series) and the
 * head-end config + inventory that point at the fleet (--write-config).
 *
 * File output only; values come from sim_fleet.
 */
#ifndef AH_SIM_TRUTH_H
#define AH_SIM_TRUTH_H

#include "sim_fleet.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* How the fleet is reachable, for the truth file and the head-end config. */
struct sim_endpoints {
    const char *bind;
    unsigned port_base; /* 0: none */
    const char *dial;   /* or NULL */
    char **pty_paths;   /* nconc paths or NULL */
    unsigned baud;
    unsigned modbus_tcp_base; /* 0: none */
    unsigned modbus_count;
    char **modbus_rtu_paths; /* modbus_count paths or NULL */
};

/* Map name of the k-th Modbus meter ("sdm630" / "dtsu666", alternating). */
const char *sim_modbus_map_of(unsigned k);

/* Ground truth. With series_to > series_from, the registers of every meter
 * at every interval end in [from, to] are included. */
int sim_truth_write(const struct sim_fleet *f, const struct sim_endpoints *ep,
                    const char *path, int64_t series_from, int64_t series_to);

/* JSON lines: one per meter and interval end in [from, to] (meter NULL:
 * all meters). */
int sim_truth_series(const struct sim_fleet *f, FILE *out, int64_t from, int64_t to,
                     const char *meter);

/* The port of concentrator 0 in a written config: --port-base, or, when
 * amisim serves no TCP port (files only), SIM_CONFIG_PORT_BASE — the port
 * base to start amisim with later — never port 0. */
#define SIM_CONFIG_PORT_BASE 7000u
unsigned sim_config_port_base(const struct sim_endpoints *ep);

/* amihead.yaml + meters.csv in dir (created if missing). */
int sim_write_config(const struct sim_fleet *f, const struct sim_endpoints *ep,
                     const char *dir);

#endif /* AH_SIM_TRUTH_H */
