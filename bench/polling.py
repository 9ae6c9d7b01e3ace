#!/usr/bin/python3
"""make bench, polling CPU: head-end CPU per request against amisim.

amisim serves 20 concentrators x 100 meters on loopback at time scale 30
(a 15-minute cycle every 30 s); `amihead run` collects them for 60 s of
real time with its store unsynced. CPU is the amihead process alone
(utime + stime from /proc, from the scheduler's first log line on), requests from its stopping line.
Same-run ceiling: amisim's CPU per request answered (the other end of the
same exchanges: framing and a register lookup, no store, no validation)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
os.environ.setdefault("AH_BIN", os.environ.get("BIN", os.path.join(HERE, "..", "build",
                                                                   "bin")))
from ahtest import BIN, free_port_block, iso  # noqa: E402
from ahtest import configure, summary  # noqa: E402

NC, NM, SCALE, RUN_S = 20, 100, 30, 60
TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def main():
    tmp = tempfile.mkdtemp(prefix="polling_bench.")
    sim = None
    try:
        epoch = 1741910400 + 3 * 86400
        port = free_port_block(NC)
        sim = subprocess.Popen(
            [os.path.join(BIN, "amisim"), "--concentrators", str(NC), "--meters", str(NM),
             "--port-base", str(port), "--epoch", iso(epoch), "--time-scale", str(SCALE),
             "--write-config", tmp], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True)
        for ln in sim.stdout:
            if ln.strip() == "ready":
                break
        yaml, _ = configure(tmp, {"backfill_days": 0, "stagger_s": 0})
        sim_cpu0 = cpu_s(sim.pid)
        log = os.path.join(tmp, "run.log")
        with open(log, "w") as lf:
            ah = subprocess.Popen(
                [os.path.join(BIN, "amihead"), "run", "-c", yaml, "--epoch", iso(epoch),
                 "--time-scale", str(SCALE)], stdout=subprocess.DEVNULL, stderr=lf)
            # start-up (config, store, registration) is not polling: count
            # CPU from the scheduler's first line on
            t0 = time.monotonic()
            ah_cpu0 = None
            while ah_cpu0 is None and time.monotonic() - t0 < 60:
                with open(log, errors="replace") as f:
                    if " meters; store " in f.read():
                        ah_cpu0 = cpu_s(ah.pid)
                time.sleep(0.05)
            time.sleep(RUN_S)
            ah_cpu = cpu_s(ah.pid) - (ah_cpu0 or 0)
            sim_cpu = cpu_s(sim.pid) - sim_cpu0
            ah.terminate()
            ah.wait(timeout=120)
        with open(log, errors="replace") as f:
            s = summary(f.read())
    finally:
        if sim:
            sim.terminate()
            sim.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)
    req = max(s.get("requests", 0), 1)
    us = ah_cpu * 1e6 / req
    sim_us = sim_cpu * 1e6 / req
    print("polling: %d requests, %d reads in %d s; amihead %.1f us CPU per request "
          "(goal <= 15); amisim (ceiling, the answering end) %.1f us; ratio %.2f"
          % (req, s.get("reads", 0), RUN_S, us, sim_us, us / sim_us if sim_us else 0))
    print(json.dumps({"polling_cpu_per_request": {
        "value": round(us, 2), "unit": "us", "goal": "<= 15",
        "ok": us <= 15 and req > 1000}}))


main()
