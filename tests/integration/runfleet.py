"""Shared steps of the fleet acceptance tests (it_run_fleet, it_run_faults,
it_run_deadmeter): amisim's --write-config with the schedule and ports a
test needs, `amihead run` as a helper whose log is followed line by line
(so a test can stop it with SIGTERM when every link has finished the cycle
it waits for), and the run summary line parsed."""
import json
import os
import re
import select
import signal
import subprocess
import time

from ahtest import BIN, Sim, check, fail, free_port_block, iso

STEP = 900


def amihead(*args, timeout=120):
    return subprocess.run([os.path.join(BIN, "amihead"), *args], capture_output=True,
                          text=True, timeout=timeout)


def configure(tmp, schedule, extra_meters=""):
    """Rewrite the amihead.yaml amisim --write-config put in tmp: storage in
    tmp/store without fsync, the schedule keys given (dict), export and
    metrics on free ports; extra_meters is appended to meters.csv."""
    path = os.path.join(tmp, "amihead.yaml")
    with open(path) as f:
        text = f.read()
    text = re.sub(r"(?m)^  path: .*$", f"  path: {tmp}/store", text, count=1)
    text = re.sub(r"(?m)^  sync: .*$", "  sync: false", text, count=1)
    for key, val in schedule.items():
        text, n = re.subn(rf"(?m)^  {key}: .*$", f"  {key}: {val}", text, count=1)
        check(n == 1, f"write-config has no schedule key {key}")
    port = free_port_block(3)
    text = (text.replace("tcp://127.0.0.1:5556", f"tcp://127.0.0.1:{port}")
            .replace("tcp://127.0.0.1:5557", f"tcp://127.0.0.1:{port + 1}")
            .replace("listen: 127.0.0.1:9464", f"listen: 127.0.0.1:{port + 2}"))
    check(f":{port + 2}" in text, "write-config's metrics/export section changed")
    with open(path, "w") as f:
        f.write(text)
    if extra_meters:
        with open(os.path.join(tmp, "meters.csv"), "a") as f:
            f.write(extra_meters)
    return path, port + 2


def meter_ids(tmp):
    ids = []
    with open(os.path.join(tmp, "meters.csv")) as f:
        next(f)
        for line in f:
            if line.strip() and not line.startswith("#"):
                ids.append(line.split(",")[0])
    return ids


class Run:
    """`amihead run -c yaml ARGS` with its stderr followed: wait_for() reads
    log lines until a predicate on the lines so far holds; stop() sends
    SIGTERM (the head-end commits what it has and exits 0)."""

    def __init__(self, yaml, *args):
        self.cmd = [os.path.join(BIN, "amihead"), "run", "-c", yaml, *args]
        self.lines = []

    def __enter__(self):
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        self._pending = b""
        return self

    def _read(self, timeout):
        fd = self.proc.stderr.fileno()
        r, _, _ = select.select([fd], [], [], timeout)
        if not r:
            return True
        chunk = os.read(fd, 65536)
        if not chunk:
            return False
        self._pending += chunk
        *done, self._pending = self._pending.split(b"\n")
        self.lines += [ln.decode(errors="replace") for ln in done]
        return True

    def wait_for(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        while not pred(self.lines):
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                fail(f"amihead run: no {what} within {timeout}s: "
                     f"{chr(10).join(self.lines[-30:])}")
            if not self._read(min(left, 1.0)):
                self.proc.wait()
                fail(f"amihead run exited {self.proc.returncode} before {what}: "
                     f"{chr(10).join(self.lines[-30:])}")
        return time.monotonic() - self.t0

    def stop(self, timeout=60):
        self.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self._read(max(0.01, min(1.0, deadline - time.monotonic()))):
            if time.monotonic() > deadline:
                self.kill()
                fail("amihead run ignored SIGTERM")
        self.proc.wait()
        if self._pending:
            self.lines.append(self._pending.decode(errors="replace"))
        log = "\n".join(self.lines)
        check(self.proc.returncode == 0,
              f"amihead run: exit {self.proc.returncode}: {log[-3000:]}")
        check("Sanitizer" not in log and "runtime error" not in log,
              f"amihead run: sanitizer report: {log[-5000:]}")
        return log

    def wait_exit(self, timeout):
        """For a run with --until: read the log until it exits."""
        deadline = time.monotonic() + timeout
        while self._read(max(0.01, min(1.0, deadline - time.monotonic()))):
            if time.monotonic() > deadline:
                self.kill()
                fail("amihead run did not stop at --until")
        self.proc.wait()
        log = "\n".join(self.lines)
        check(self.proc.returncode == 0,
              f"amihead run: exit {self.proc.returncode}: {log[-3000:]}")
        check("Sanitizer" not in log and "runtime error" not in log,
              f"amihead run: sanitizer report: {log[-5000:]}")
        return log

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __exit__(self, *exc):
        self.kill()
        return False


def cycles_done(lines, boundary):
    """Links that logged 'cycle BOUNDARY done in N ms' ({link ctx: ms});
    boundary as the log writes it, ISO UTC (an int is converted)."""
    out = {}
    if isinstance(boundary, int):
        boundary = iso(boundary)
    pat = re.compile(rf"\[?([\w.-]+)\]?:? .*cycle {boundary} done in (\d+) ms")
    for ln in lines:
        if f"cycle {boundary} done" in ln:
            m = pat.search(ln)
            if m:
                out[m.group(1)] = int(m.group(2))
    return out


def summary(log):
    """The counters of the 'stopping: ...' line as a dict of ints."""
    for ln in reversed(log.splitlines()):
        if "stopping:" in ln:
            return {k: int(v) for v, k in re.findall(r"(\d+) ([a-z][a-z ]*?)(?=,|$)",
                                                     ln.split("stopping:", 1)[1])}
    fail(f"no run summary in the log: {log[-2000:]}")


def fault_file(tmp, faults):
    """Write amisim's fault spec {"faults": FAULTS} to tmp; returns its path."""
    path = os.path.join(tmp, "faults.json")
    with open(path, "w") as f:
        json.dump({"faults": faults}, f)
    return path


def run_fleet(tmp, fleet, epoch, scale, schedule, until, slack=120):
    """amisim FLEET (arguments) from EPOCH at SCALE writing its config to
    tmp, the head-end configured with SCHEDULE (configure) and run from
    amisim's clock to UNTIL. Returns (yaml path, start, head-end log)."""
    with Sim(tmp, *fleet, "--epoch", iso(epoch), "--time-scale", str(scale),
             "--write-config", tmp, log_markers=["Sanitizer"]) as sim:
        yaml, _ = configure(tmp, schedule)
        start = sim.sim_now()
        with Run(yaml, "--time-scale", str(scale), "--epoch", str(start), "--until",
                 str(until)) as hd:
            log = hd.wait_exit((until - start) / scale + slack)
    return yaml, start, log
