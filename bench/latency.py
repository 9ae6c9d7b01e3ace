#!/usr/bin/python3
"""make bench, latency-bound (issue 16): 2,000 concentrators whose every
reply comes 200 ms late (amisim's `latency` link fault with min_ms = max_ms
= 200, docs/amisim.md), one request in flight per link (the protocol's rule).

Bound: a link carries at most one request per (200 ms + the exchange's own
time), so 2,000 links bound 2,000 / 0.2 s = 10,000 requests/s. The figure
counts requests the same way: amihead_requests_total summed over every link
from /metrics, between two samples taken once every link has connected and
has a backlog (backfill of the window: each meter owes 96 load records a
day, so no link runs dry inside the window). Goal: >= 0.9 of the bound.

Also printed: reads/s, timeouts, and the CPU share of amihead and amisim
over the window (on two shared cores the head-end must not be what limits).
Prints one JSON line of figures last."""
import json
import os
import re
import shutil
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchfleet import Fleet  # noqa: E402
from ahtest import fault_file, free_port_block  # noqa: E402

NC = int(os.environ.get("BENCH_LATENCY_LINKS", "2000"))
NM, DELAY_MS, SCALE = 16, 200, 10
TICK = os.sysconf("SC_CLK_TCK")
WARM_S, RUN_S = 20, 30


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def scrape(port, names):
    """Sum of each counter in names over every series of /metrics."""
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=30) as r:
        text = r.read().decode()
    out = dict.fromkeys(names, 0.0)
    for ln in text.splitlines():
        m = re.match(r"([a-z_]+)(?:\{[^}]*\})? ([0-9.e+]+)$", ln)
        if m and m.group(1) in out:
            out[m.group(1)] += float(m.group(2))
    return out


def main():
    tmp = tempfile.mkdtemp(prefix="latency_bench.")
    names = ("amihead_requests_total", "amihead_reads_total", "amihead_timeouts_total")
    try:
        port = free_port_block(NC)
        faults = fault_file(tmp, [{"type": "latency", "concentrator": k, "min_ms": DELAY_MS,
                                   "max_ms": DELAY_MS} for k in range(NC)])
        with Fleet(tmp, ["--concentrators", str(NC), "--meters", str(NM), "--port-base",
                         str(port), "--faults", faults], SCALE,
                   {"backfill_days": 3, "stagger_s": 0}) as fl:
            fl.wait_scheduler()
            time.sleep(WARM_S)
            a, ta = scrape(fl.mport, names), time.monotonic()
            cpu_a = (cpu_s(fl.ah.pid), cpu_s(fl.sim.pid))
            time.sleep(RUN_S)
            b, tb = scrape(fl.mport, names), time.monotonic()
            cpu_b = (cpu_s(fl.ah.pid), cpu_s(fl.sim.pid))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    dt = tb - ta
    req = (b[names[0]] - a[names[0]]) / dt
    reads = (b[names[1]] - a[names[1]]) / dt
    tmo = b[names[2]] - a[names[2]]
    ah_cpu, sim_cpu = ((cpu_b[i] - cpu_a[i]) / dt * 100 for i in range(2))
    bound = NC * 1000.0 / DELAY_MS
    ratio = req / bound
    print("latency-bound: %d links at %d ms per reply: %.0f requests/s over %.0f s "
          "(%.0f reads/s, %d timeouts) = %.3f x the bound %d links / %.1f s = %.0f/s "
          "(goal >= 0.9); CPU amihead %.0f %%, amisim %.0f %%"
          % (NC, DELAY_MS, req, dt, reads, tmo, ratio, NC, DELAY_MS / 1000, bound, ah_cpu,
             sim_cpu))
    print(json.dumps({
        "latency_bound_requests": {"value": round(req), "unit": "requests/s",
                                   "goal": "report", "ok": True},
        "latency_bound_ratio": {"value": round(ratio, 3), "unit": "x links/delay",
                                "goal": ">= 0.9", "ok": ratio >= 0.9 and NC >= 2000},
    }))


main()
