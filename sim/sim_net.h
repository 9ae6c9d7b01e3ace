/*
 * sim_net — the simulator's transports: one epoll loop for every
 * concentrator endpoint (TCP listen, TCP dial-in, pseudo-terminal).
 *
 * TCP: concentrator k listens on port_base + k, or dials `dial` and answers
 * on that connection (reconnecting after a drop). PTY: one pseudo-terminal
 * per concentrator with RS-485 line timing — replies wait Td after the
 * request's own air time and go out paced at `baud` with 11 bits per
 * character (8E1, protocols.md §1.1, §1.5); one request at a time. Link
 * faults of the fleet are applied here.
 */
#ifndef AH_SIM_NET_H
#define AH_SIM_NET_H

#include "ah_clock.h"
#include "sim_fleet.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct sim_net_opts {
    const char *bind;   /* listen address, default 127.0.0.1 */
    unsigned port_base; /* 0: no TCP listeners */
    const char *dial;   /* "host:port" or NULL */
    bool pty;
    unsigned baud;  /* pty line rate, default 2400 */
    unsigned td_ms; /* pty response delay, 20..500 */
    /* set by a signal handler (SIGUSR1): the loop prints the line counters
     * (sim_net_line_stats) to `announce` and clears it; NULL: never */
    volatile sig_atomic_t *stats_flag;
};

struct sim_net;

/* Open every endpoint and print one line per endpoint to `announce`
 * (borrowed). The fleet and clock are borrowed and must outlive the loop. */
int sim_net_new(struct sim_net **out, const struct sim_fleet *f,
                const struct ah_clock *clk, const struct sim_net_opts *o, FILE *announce);
/* Pseudo-terminal slave paths, one per concentrator (NULL without --pty);
 * owned by n. */
char **sim_net_pty_paths(struct sim_net *n);
/* Run until *stop becomes non-zero. */
int sim_net_run(struct sim_net *n, volatile sig_atomic_t *stop);
void sim_net_destroy(struct sim_net **n);

/* The pty lines' traffic so far, summed over every concentrator: requests
 * answered, bytes the head-end put on the lines (FE preamble included) and
 * bytes of the replies. What a line can carry follows from them (each
 * exchange costs (in + out) x 11 bits / baud + Td): bench/serial.py. */
struct sim_net_line_stats {
    uint64_t replies, bytes_in, bytes_out;
};
void sim_net_line_stats(const struct sim_net *n, struct sim_net_line_stats *out);

#endif /* AH_SIM_NET_H */
