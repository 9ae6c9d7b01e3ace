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
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
os.environ.setdefault("AH_BIN", os.environ.get("BIN", os.path.join(HERE, "..", "build",
                                                                   "bin")))
from ahtest import BIN, iso  # noqa: E402
from runfleet import configure  # noqa: E402

NC, NM, BAUD, TD_MS, SCALE = 4, 8, 2400, 20, 10
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
    sim = ah = None
    try:
        epoch = 1741910400 + 3 * 86400
        sim = subprocess.Popen(
            [os.path.join(BIN, "amisim"), "--concentrators", str(NC), "--meters", str(NM),
             "--pty", "--baud", str(BAUD), "--td-ms", str(TD_MS), "--epoch", iso(epoch),
             "--time-scale", str(SCALE), "--write-config", tmp],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for ln in sim.stdout:
            if ln.strip() == "ready":
                break
        yaml, _ = configure(tmp, {"backfill_days": 2, "stagger_s": 0})
        log = os.path.join(tmp, "run.log")
        with open(log, "w") as lf:
            ah = subprocess.Popen(
                [os.path.join(BIN, "amihead"), "run", "-c", yaml, "--epoch", iso(epoch),
                 "--time-scale", str(SCALE)], stdout=subprocess.DEVNULL, stderr=lf)
        time.sleep(WARM_S)
        a, ta = line_stats(sim), time.monotonic()
        time.sleep(RUN_S)
        b, tb = line_stats(sim), time.monotonic()
    finally:
        for p in (ah, sim):
            if p:
                p.terminate()
                p.wait(timeout=120)
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
