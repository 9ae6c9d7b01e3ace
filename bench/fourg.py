#!/usr/bin/python3
"""make bench, 4G (issue 16): one concentrator of 256 meters behind a 4G
link, 500 ms per request (reply delay of amisim's latency fault), the
default read plan.

The clocks run scaled (SCALE simulated seconds per real second) and the
reply delay is 500 ms / SCALE of real time, so every figure below is in
simulated (head-end clock) time: one request costs 500 ms plus the
head-end's and amisim's own time, scaled up — the figures err on the slow
side.

1. Cycle time: backfill off, six cycles; the longest cycle after the first
   (which reads every clock and the daily freeze) against the interval.
   Goal: <= 0.6 of the interval.
2. A 3-day backfill: a fresh store, backfill_days 3, NB meters of the
   concentrator; the time from start to the end of the last cycle with
   backfill requests, scaled to 256 meters (the link carries one request at
   a time, so the time grows with the meters). Goal: <= 2 h.
Ceiling of both: the wire alone, requests x 500 ms (printed as the ratio)."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
os.environ.setdefault("AH_BIN", os.environ.get("BIN", os.path.join(HERE, "..", "build",
                                                                   "bin")))
from ahtest import BIN, Sim, iso, utc  # noqa: E402
from ahtest import STEP, configure, summary  # noqa: E402

NM, NB, SCALE, DELAY_MS = 256, 64, 50, 500
EPOCH = 1741910400 + 3 * 86400 + 2 * 3600 + 30  # 10:00:30 local (UTC+8)


def run(tmp, meters, schedule, cycles):
    """amisim (1 x meters, 4G latency) and `amihead run` for `cycles`
    intervals from amisim's clock. Returns (start, log)."""
    os.makedirs(tmp)
    faults = os.path.join(tmp, "faults.json")
    real_ms = DELAY_MS // SCALE
    with open(faults, "w") as f:
        json.dump({"faults": [{"type": "latency", "concentrator": 0,
                               "min_ms": real_ms, "max_ms": real_ms}]}, f)
    with Sim(tmp, "--concentrators", "1", "--meters", str(meters), "--epoch", iso(EPOCH),
             "--time-scale", str(SCALE), "--faults", faults, "--write-config", tmp) as sim:
        yaml, _ = configure(tmp, dict(schedule, stagger_s=0, read_plan='""'))
        start = sim.sim_now()
        until = (start // STEP) * STEP + cycles * STEP
        r = subprocess.run(
            [os.path.join(BIN, "amihead"), "run", "-c", yaml, "--epoch", str(start),
             "--time-scale", str(SCALE), "--until", str(until)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            timeout=(until - start) / SCALE + 300)
    return start, r.stderr


CYCLE = re.compile(r"cycle (\S+Z) done in (\d+) ms \(head-end clock\), (\d+) backfill")


def cycles_of(log):
    return [(utc(b), int(ms) / 1000.0, int(bf)) for b, ms, bf in CYCLE.findall(log)]


def main():
    tmp = tempfile.mkdtemp(prefix="fourg_bench.")
    try:
        _, log1 = run(os.path.join(tmp, "cycle"), NM, {"backfill_days": 0}, 6)
        start2, log2 = run(os.path.join(tmp, "backfill"), NB, {"backfill_days": 3}, 8)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    c1 = cycles_of(log1)
    steady = [s for _, s, _ in c1[1:]]
    worst = max(steady) if steady else float("inf")
    s1 = summary(log1)
    req_cycle = (s1.get("requests", 0) - 0) / max(len(c1), 1)
    ratio = worst / STEP
    wire = req_cycle * DELAY_MS / 1000.0
    print("4G cycle: %d meters, %.0f ms per request, default read plan: cycles %s s; "
          "longest after the first %.0f s = %.2f of the %d s interval (goal <= 0.6); "
          "%.0f requests per cycle on average (the first included), wire alone %.0f s "
          "(ratio %.2f)"
          % (NM, DELAY_MS, [round(s) for _, s, _ in c1], worst, ratio, STEP, req_cycle,
             wire, worst / wire if wire else 0))

    c2 = cycles_of(log2)
    end = None
    t = start2
    done = None
    for b, secs, bf in c2:
        t = max(t, b) + secs
        if bf:
            end = t
        elif end is not None and done is None:
            done = end
    s2 = summary(log2)
    bf_s = (done - start2) if done else float("inf")
    full = bf_s * NM / NB
    wire2 = s2.get("requests", 0) * DELAY_MS / 1000.0
    if done is None:
        print(log2[-3000:])
    print("4G backfill: 3 days of %d meters in %.0f s (head-end clock; %s), %d requests "
          "(wire alone %.0f s); scaled to %d meters: %.2f h (goal <= 2 h)"
          % (NB, bf_s, "done" if done else "NOT done within the run", s2.get("requests", 0),
             wire2, NM, full / 3600.0))
    print(json.dumps({
        "fourg_cycle_ratio": {"value": round(ratio, 3), "unit": "x interval",
                              "goal": "<= 0.6", "ok": bool(steady) and ratio <= 0.6},
        "fourg_backfill_3d": {"value": round(full / 3600.0, 2), "unit": "h",
                              "goal": "<= 2", "ok": full <= 7200}}))


main()
