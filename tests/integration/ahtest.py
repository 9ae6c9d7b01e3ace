"""Helpers for amihead integration tests: start amisim as a helper process
with a timeout, find its endpoints, load its truth file, and fail loudly.
(libuv test helpers / nginx-tests style: every helper is killed on exit.)"""
import calendar
import json
import os
import select
import socket
import subprocess
import sys
import time

BIN = os.environ.get("AH_BIN", "build/bin")


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def utc(s):
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))


def free_port_block(n):
    """A base port with n consecutive free loopback ports."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + n >= 65000:
            continue
        socks = []
        try:
            for k in range(n):
                t = socket.socket()
                t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                t.bind(("127.0.0.1", base + k))
                socks.append(t)
            return base
        except OSError:
            continue
        finally:
            for t in socks:
                t.close()
    fail("no free port block")


class Truth:
    """The simulator's ground truth (amisim --truth FILE, format
    amisim-truth-1; registers per interval from --truth-series FROM,TO)."""

    def __init__(self, path):
        with open(path) as f:
            self.doc = json.load(f)
        check(self.doc.get("format") == "amisim-truth-1", f"truth format {path}")
        self.series = self.doc.get("series") or {}

    def _fwd(self, addr):
        m = self.series.get("meters", {}).get(addr)
        check(m is not None, f"meter {addr} has no truth series")
        return m["fwd"]

    def register_at(self, addr, t):
        """True forward active register (kWh, secondary) at interval end t."""
        fwd = self._fwd(addr)
        off = t - self.series["from_s"]
        step = self.series["step_s"]
        check(off % step == 0 and 0 <= off // step < len(fwd),
              f"truth series has no interval {t} for {addr}")
        return fwd[off // step] / 100.0

    def register_bounds(self, addr, t0, t1):
        fwd = self._fwd(addr)
        step = self.series["step_s"]
        i0 = max(0, (t0 - self.series["from_s"]) // step)
        i1 = min(len(fwd) - 1, (t1 - self.series["from_s"]) // step + 1)
        return fwd[i0] / 100.0, fwd[i1] / 100.0

    def faults(self):
        return self.doc.get("faults", [])


class Sim:
    """amisim as a helper: started with a free port block, waits for 'ready',
    killed on exit."""

    def __init__(self, tmp, *args, timeout=60):
        self.tmp = tmp
        self.args = list(args)
        self.timeout = timeout
        self.lines = []
        self.truth_path = os.path.join(tmp, f"truth-{id(self)}.json")

    def __enter__(self):
        n = 1
        if "--concentrators" in self.args:
            n = int(self.args[self.args.index("--concentrators") + 1])
        self.port_base = free_port_block(n)
        cmd = [os.path.join(BIN, "amisim"), "--port-base", str(self.port_base),
               "--truth", self.truth_path, *self.args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=sys.stderr)
        self.started = time.time()
        deadline = time.monotonic() + self.timeout
        fd = self.proc.stdout.fileno()
        pending = b""
        # raw reads: a buffered readline would hide 'ready' from select()
        while "ready" not in self.lines:
            left = deadline - time.monotonic()
            if left <= 0:
                self.__exit__(None, None, None)
                fail(f"amisim not ready within {self.timeout}s: {self.lines}")
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                fail(f"amisim exited {self.proc.wait()}: {self.lines}")
            pending += chunk
            *done, pending = pending.split(b"\n")
            self.lines += [ln.decode().strip() for ln in done]
        self._parse_epoch()
        return self

    def _parse_epoch(self):
        self.epoch = None
        self.scale = 1.0
        if "--epoch" in self.args:
            self.epoch = utc(self.args[self.args.index("--epoch") + 1])
        if "--time-scale" in self.args:
            self.scale = float(self.args[self.args.index("--time-scale") + 1])

    def sim_now(self):
        return int(self.epoch + (time.time() - self.started) * self.scale)

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return False

    def endpoint_lines(self, kind):
        return [ln.split() for ln in self.lines if ln.split()[:1] == [kind]]

    def tcp_endpoint(self, k):
        for f in self.endpoint_lines("concentrator"):
            if int(f[1]) == k and f[2] == "dlt645-tcp":
                return f[3]
        fail(f"no TCP endpoint for concentrator {k}: {self.lines}")

    def pty_path(self, k):
        for f in self.endpoint_lines("pty"):
            if int(f[1]) == k:
                return f[2]
        fail(f"no pty for concentrator {k}: {self.lines}")

    @staticmethod
    def meter_addr(conc, idx):
        """amisim's address scheme: (conc + 1) * 10^6 + idx + 1."""
        return "%012d" % ((conc + 1) * 1000000 + idx + 1)

    def truth(self):
        return Truth(self.truth_path)
