"""Real network faults between amihead and amisim (issue 17's link-fault
matrix), shared by it_link_faults*.py. Not a test itself.

Both processes run in a network namespace made for the test; faults act on
the packets of the concentrator's TCP port on its loopback:

  loss, partition  nftables rules (numgen random drop, drop)
  delay, jitter    iptables NFQUEUE to nfqdelay.py, which holds each packet
                   delay ± jitter ms: with jitter, packets overtake each
                   other (real TCP reordering and retransmits)

tc netem would do all of it, but kernels without sch_netem are common in
containers (this one has neither sch_netem nor nft's `queue`; it has
nfnetlink_queue and the xtables NFQUEUE target). A phase runs for a span
of simulated time; after the last one the store must hold every interval
of the backfill window, each once, with registers equal to amisim's.
"""
import json
import os
import shutil
import subprocess
import sys
import time

from ahtest import (Sim, check, check_window_complete, finish_run, meter_ids, run_argv,
                    write_config)

HERE = os.path.dirname(os.path.abspath(__file__))
STEP = 900
NS = f"ahlf{os.getpid()}"
QUEUE = 7  # per namespace, so parallel tests do not meet


def sh(*args, check_rc=True):
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=30)
    if check_rc and r.returncode != 0:
        raise RuntimeError(f"{args}: {r.stderr}")
    return r


def ns(*args, check_rc=True):
    return sh("ip", "netns", "exec", NS, *args, check_rc=check_rc)


class NsSim(Sim):
    def command(self):
        return ["ip", "netns", "exec", NS, *super().command()]


def tcp_counters():
    """The namespace's TCP counters that show what the faults did: segments
    retransmitted, segments queued out of order at the receiver."""
    out = {}
    for path in ("/proc/net/snmp", "/proc/net/netstat"):
        lines = ns("cat", path).stdout.splitlines()
        for head, vals in zip(lines[::2], lines[1::2]):
            out.update(zip(head.split()[1:], vals.split()[1:]))
    return {"retrans": int(out.get("RetransSegs", 0)),
            "ofo_queued": int(out.get("TCPOFOQueue", 0))}


class Fault:
    """One phase's fault on the concentrator's port: nft (loss, partition)
    or nfqdelay (delay, jitter). start() applies it, stop() lifts it and
    returns what it counted."""

    def __init__(self, port, nft=None, delay_ms=None, jitter_ms=0):
        self.port, self.nft, self.delay_ms, self.jitter_ms = port, nft, delay_ms, jitter_ms
        self.proc = None

    def start(self):
        if self.nft:
            for d in ("dport", "sport"):
                ns("nft", "add", "rule", "inet", "lf", "in", "tcp", d, str(self.port),
                   *self.nft.split())
        if self.delay_ms is not None:
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", NS, sys.executable, os.path.join(HERE, "nfqdelay.py"),
                 "--queue", str(QUEUE), "--delay-ms", str(self.delay_ms),
                 "--jitter-ms", str(self.jitter_ms)],
                stdout=subprocess.PIPE, text=True)
            check(self.proc.stdout.readline().strip() == "bound",
                  "nfqdelay could not bind its queue")
            for d in ("--dport", "--sport"):
                ns("iptables", "-A", "INPUT", "-p", "tcp", d, str(self.port), "-j", "NFQUEUE",
                   "--queue-num", str(QUEUE), "--queue-bypass")

    def stop(self):
        ns("nft", "flush", "chain", "inet", "lf", "in")
        if not self.proc:
            return {}
        # rules first, so nothing new is queued; held packets still leave
        # at their due time before nfqdelay prints its counts
        ns("iptables", "-F", "INPUT")
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=30)
        return json.loads(out.strip().splitlines()[-1])


def usable(phases):
    """None when root, ip, nft and (for delay phases) iptables are there,
    else why not."""
    delay = any(f and "delay_ms" in f for _, _, f in phases)
    for tool in ("ip", "nft") + (("iptables",) if delay else ()):
        if not shutil.which(tool):
            return f"no {tool}"
    if os.geteuid() != 0:
        return "needs root"
    return None


def run_matrix(tmp, phases, scale, epoch, meters=4, mtu=None):
    """Run amihead against amisim (1 concentrator x meters, no simulated
    faults) through phases [(name, simulated s, fault kwargs or None)], then
    check completeness and registers. mtu sets the namespace loopback's MTU
    (small: a reply leaves as several TCP segments). Returns the stderr of
    the run and {phase: counts}."""
    why = usable(phases)
    if why:
        print(f"skipped: {why}")
        return None
    if sh("ip", "netns", "add", NS, check_rc=False).returncode != 0:
        print("skipped: cannot make a network namespace")
        return None
    try:
        ns("ip", "link", "set", "lo", "up", *(("mtu", str(mtu)) if mtu else ()))
        ns("nft", "add", "table", "inet", "lf")
        ns("nft", "add", "chain", "inet", "lf", "in", "{ type filter hook input priority 0; }")
        return _body(tmp, phases, scale, epoch, meters)
    finally:
        sh("ip", "netns", "del", NS, check_rc=False)


def _body(tmp, phases, scale, epoch, meters):
    fleet = ["--concentrators", "1", "--meters", str(meters)]
    stats = {}
    with NsSim(tmp, *fleet, "--faults", "none", "--time-scale", str(scale), "--epoch",
               epoch, "--write-config", tmp, log_markers=["Sanitizer"]) as sim:
        yaml, _ = write_config(tmp, 1, "tcp://127.0.0.1:5556", "tcp://127.0.0.1:5557")
        port = int(sim.tcp_endpoint(0).rsplit(":", 1)[1])
        start = sim.sim_now()
        until = start + sum(p[1] for p in phases)
        p = subprocess.Popen(["ip", "netns", "exec", NS, *run_argv(yaml, scale, start, until)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        t0 = time.monotonic()
        at = 0
        f = None
        try:
            for name, sim_s, fault in phases:
                f = Fault(port, **(fault or {}))
                before = tcp_counters()
                f.start()
                at += sim_s / scale
                time.sleep(max(0.0, at - (time.monotonic() - t0)))
                counts = f.stop()
                f = None
                after = tcp_counters()
                counts.update({k: after[k] - before[k] for k in after})
                check(p.poll() is None, f"amihead ended during {name}")
                stats[name] = counts
                print(f"{name}: {sim_s / 3600:.1f} simulated hours, {fault or 'no fault'}: "
                      f"{counts}")
        finally:
            if f and f.proc and f.proc.poll() is None:
                f.proc.kill()
            if sys.exc_info()[0] and p.poll() is None:
                p.kill()
        rc, err = finish_run(p, 60, "run did not stop at --until")
    check(rc == 0 and "Sanitizer" not in err, f"exit {rc}: {err[-3000:]}")

    first = (start // STEP) * STEP
    lo, hi = first - 86400 + STEP, (until // STEP) * STEP - STEP
    n_iv = (hi - lo) // STEP + 1
    check_window_complete(
        yaml, fleet, meter_ids(tmp), lo, hi,
        lambda m, missing: f"{m}: {len(missing)} of {n_iv} intervals missing after the "
        f"faults: {missing[:8]}\n{err[-3000:]}")
    print(f"{len(meter_ids(tmp))} meters x {n_iv} intervals complete, registers equal "
          f"to amisim's")
    return err, stats
