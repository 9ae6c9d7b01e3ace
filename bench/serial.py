#!/usr/bin/python3
"""make bench, serial wire (issue 16): DL/T 645 over RS-485 at 2400 baud
8E1 through amisim's paced pseudo-terminals (--pty: replies wait the
request's own air time plus Td, then go out at 11 bits per character,
docs/amisim.md) with Td = 20 ms, the shortest the standard allows
(protocols.md §1.5), one request at a time per bus.

Line limit, from the frames actually exchanged: amisim counts the bytes the
head-end put on its lines (FE preamble included), the bytes of its replies
and the replies (SIGUSR1 prints them); one exchange costs
(request + reply bytes) x 11 / 2400 s + Td, so a line carries at most
replies / (bytes x 11 / 2400 + replies x Td) exchanges per second. Measured
between two samples once every line has a backlog (two days of backfill).
Figure: exchanges/s over NC lines / (NC x that limit). Goal: >= 0.9.
Prints one JSON line of figures last."""
import json
import os
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchfleet import Fleet  # noqa: E402

NC, NM, BAUD, TD_MS, SCALE = 4, 16, 2400, 20, 10
WARM_S, RUN_S = 15, 40


def line_stats(sim):
    """(replies, bytes in, bytes out) of every pty line so far."""
    sim.send_signal(signal.SIGUSR1)
    for ln in sim.stdout:
        if ln.startswith("line stats:"):
            w = ln.replace(",", "").split()
            return int(w[2]), int(w[4]), int(w[7])
    raise SystemExit("serial: amisim printed no line stats")


def main():
    tmp = tempfile.mkdtemp(prefix="serial_bench.")
    try:
        with Fleet(tmp, ["--concentrators", str(NC), "--meters", str(NM), "--pty", "--baud",
                         str(BAUD), "--td-ms", str(TD_MS)], SCALE,
                   {"backfill_days": 3, "stagger_s": 0}) as fl:
            time.sleep(WARM_S)
            a, ta = line_stats(fl.sim), time.monotonic()
            time.sleep(RUN_S)
            b, tb = line_stats(fl.sim), time.monotonic()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    dt = tb - ta
    replies, bin_, bout = (b[i] - a[i] for i in range(3))
    if replies <= 0:
        raise SystemExit("serial: no exchange in the window")
    per_ex = ((bin_ + bout) * 11.0 / BAUD + replies * TD_MS / 1000.0) / replies
    limit = NC / per_ex
    rate = replies / dt
    ratio = rate / limit
    print("serial: %d lines at %d baud 8E1, Td %d ms: %.2f exchanges/s over %.0f s; "
          "frames %.1f B request + %.1f B reply on average (FE preamble included) = "
          "%.1f ms per exchange on the wire; line limit %.2f/s; ratio %.3f (goal >= 0.9)"
          % (NC, BAUD, TD_MS, rate, dt, bin_ / replies, bout / replies, per_ex * 1000,
             limit, ratio))
    print(json.dumps({
        "serial_exchanges": {"value": round(rate, 2), "unit": "exchanges/s",
                             "goal": "report", "ok": True},
        "serial_vs_line": {"value": round(ratio, 3), "unit": "x line limit",
                           "goal": ">= 0.9", "ok": ratio >= 0.9},
    }))


main()
