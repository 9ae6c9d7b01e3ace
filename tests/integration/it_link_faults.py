#!/usr/bin/python3
"""it_link_faults — real network faults between amihead and amisim (issue
17's link-fault matrix): both run in a network namespace made for the
test, and nftables rules on its loopback drop packets of the
concentrator's TCP port:

  phase     simulated   rule
  loss      2 h         numgen random mod 10 0 drop   (10 % of packets, both ways)
  partition 2 h         drop                          (every packet)
  recovery  2.5 h       none

1 concentrator x 4 meters at 720x, one-day backfill. After the faults the
store must hold every interval of the backfill window up to the last
cycle (completeness back to 100 %), each once, with registers equal to the
load records amisim serves. Needs root, `ip netns` and `nft` (nftables in
scripts/deps.sh); skipped otherwise. tc netem (delay, jitter, reordering)
is not used: kernels without sch_netem are common in containers, this
one included.
"""
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ahtest import Sim, amisim_series, check, iso  # noqa: E402
from ahtest import finish_run, main, meter_ids, run_argv, stored, write_config  # noqa: E402

SCALE = 720
EPOCH = "2025-03-14T00:00:00Z"
STEP = 900
NS = f"ahlf{os.getpid()}"
PHASES = [("healthy", 3600, None), ("loss", 7200, "numgen random mod 10 0 drop"),
          ("healthy", 1800, None), ("partition", 7200, "drop"),
          ("recovery", 9000, None)]


def sh(*args, check_rc=True):
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=30)
    if check_rc and r.returncode != 0:
        raise RuntimeError(f"{args}: {r.stderr}")
    return r


class NsSim(Sim):
    def command(self):
        return ["ip", "netns", "exec", NS, *super().command()]


def set_rule(port, rule):
    sh("ip", "netns", "exec", NS, "nft", "flush", "chain", "inet", "lf", "in")
    if rule:
        for d in ("dport", "sport"):
            sh("ip", "netns", "exec", NS, "nft", "add", "rule", "inet", "lf", "in", "tcp",
               d, str(port), *rule.split())


def run(tmp):
    if os.geteuid() != 0 or not shutil.which("nft") or not shutil.which("ip"):
        print("skipped: needs root, ip and nft")
        return
    if sh("ip", "netns", "add", NS, check_rc=False).returncode != 0:
        print("skipped: cannot make a network namespace")
        return
    try:
        sh("ip", "netns", "exec", NS, "ip", "link", "set", "lo", "up")
        sh("ip", "netns", "exec", NS, "nft", "add", "table", "inet", "lf")
        sh("ip", "netns", "exec", NS, "nft", "add", "chain", "inet", "lf", "in",
           "{ type filter hook input priority 0; }")
        body(tmp)
    finally:
        sh("ip", "netns", "del", NS, check_rc=False)


def body(tmp):
    fleet = ["--concentrators", "1", "--meters", "4"]
    with NsSim(tmp, *fleet, "--faults", "none", "--time-scale", str(SCALE), "--epoch",
               EPOCH, "--write-config", tmp, log_markers=["Sanitizer"]) as sim:
        yaml, _ = write_config(tmp, 1, "tcp://127.0.0.1:5556", "tcp://127.0.0.1:5557")
        port = int(sim.tcp_endpoint(0).rsplit(":", 1)[1])
        start = sim.sim_now()
        until = start + sum(p[1] for p in PHASES)
        p = subprocess.Popen(["ip", "netns", "exec", NS,
                              *run_argv(yaml, SCALE, start, until)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        t0 = time.monotonic()
        at = 0
        for name, sim_s, rule in PHASES:
            set_rule(port, rule)
            at += sim_s / SCALE
            time.sleep(max(0.0, at - (time.monotonic() - t0)))
            check(p.poll() is None, f"amihead ended during {name}")
            print(f"{name}: {sim_s / 3600:.1f} simulated hours, rule {rule or 'none'}")
        rc, err = finish_run(p, 60, "run did not stop at --until")
    check(rc == 0 and "Sanitizer" not in err, f"exit {rc}: {err[-3000:]}")

    first = (start // STEP) * STEP
    lo, hi = first - 86400 + STEP, (until // STEP) * STEP - STEP
    series = {(s["meter"], s["t_s"]): s for s in amisim_series(fleet, lo, hi)}
    n_iv = (hi - lo) // STEP + 1
    for m in meter_ids(tmp):
        rows = stored(yaml, m)
        missing = [iso(t) for t in range(lo, hi + 1, STEP) if t not in rows]
        check(not missing, f"{m}: {len(missing)} of {n_iv} intervals missing after the "
              f"faults: {missing[:8]}")
        for t in range(lo, hi + 1, STEP):
            want = series[(m, t)]["shown"]["fwd"] / 100.0
            imp = rows[t]["registers"]["secondary"]["import_kwh"]
            check(abs(imp - want) < 0.005, f"{m} {iso(t)}: import {imp}, meter {want}")
    timeouts = err.count("no valid reply")
    check(timeouts >= 1, f"the partition failed no request: were the rules applied? "
          f"{err[-2000:]}")
    print(f"{len(meter_ids(tmp))} meters x {n_iv} intervals complete after 10 % loss and a "
          f"2 h partition ({timeouts} failed-request lines logged)")


if __name__ == "__main__":
    main("it_link_faults", run)
