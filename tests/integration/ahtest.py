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
import tempfile
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


def iso(t):
    """Epoch seconds as amisim's ISO 8601 UTC form (the inverse of utc)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def amisim_series(args, frm, to, meter=None):
    """`amisim ARGS --series FROM,TO [--series-meter ADDR]`: the simulator's
    shown and true registers, one dict per meter and interval (FROM and TO
    in ISO form or epoch seconds)."""
    frm, to = (iso(t) if isinstance(t, int) else t for t in (frm, to))
    cmd = [os.path.join(BIN, "amisim"), *args, "--series", f"{frm},{to}"]
    if meter:
        cmd += ["--series-meter", meter]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                         timeout=60).stdout
    return [json.loads(ln) for ln in out.splitlines()]


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


class Amisim:
    """amisim as a helper with exactly the arguments given: waits for
    'ready', killed on exit. With log_markers, its stderr goes to a file
    and leaving the with-block fails the test when any marker (e.g.
    "Sanitizer") is in it; without, stderr is the test's own."""

    def __init__(self, *args, timeout=60, log_markers=None):
        self.args = list(args)
        self.timeout = timeout
        self.log_markers = log_markers
        self.log = None
        self.lines = []

    def command(self):
        return [os.path.join(BIN, "amisim"), *self.args]

    def __enter__(self):
        if self.log_markers:
            self.log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.PIPE,
                                     stderr=self.log or sys.stderr)
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
        if self.log:
            self.log.seek(0)
            err = self.log.read()
            self.log.close()
            self.log = None
            if any(m in err for m in self.log_markers):
                print(err, file=sys.stderr)
                fail(f"amisim logged one of {self.log_markers}")
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


class Sim(Amisim):
    """amisim as a helper: started with a free port block and a truth file,
    waits for 'ready', killed on exit."""

    def __init__(self, tmp, *args, timeout=60, log_markers=None):
        super().__init__(*args, timeout=timeout, log_markers=log_markers)
        self.tmp = tmp
        self.truth_path = os.path.join(tmp, f"truth-{id(self)}.json")

    def command(self):
        return [os.path.join(BIN, "amisim"), "--port-base", str(self.port_base),
                "--truth", self.truth_path, *self.args]

    def __enter__(self):
        n = 1
        if "--concentrators" in self.args:
            n = int(self.args[self.args.index("--concentrators") + 1])
        self.port_base = free_port_block(n)
        return super().__enter__()

    def truth(self):
        return Truth(self.truth_path)


# ---- the store, through the head-end's own reader ---------------------------

SOURCES = ("live", "backfill", "released")
HAS_IMP_TOTAL = 1 << 0  # store_rec.h presence bits, as the query rows show them
HAS_EXP_TOTAL = 1 << 2


def store_reads(yaml, timeout=600):
    """Every stored read, from one `amihead query --all --json`, as
    {meter id: {interval end (epoch s): (source, quality, present,
    import, export)}}: energies in 0.01 kWh secondary, present holding the
    import/export total bits when the row has them."""
    r = subprocess.run([os.path.join(BIN, "amihead"), "query", "-c", yaml, "--all",
                        "--json"], capture_output=True, text=True, timeout=timeout)
    check(r.returncode == 0, f"query --all: exit {r.returncode}: {r.stderr[-2000:]}")
    out = {}
    for line in r.stdout.splitlines():
        x = json.loads(line)
        sec = x["registers"]["secondary"]
        present = ((HAS_IMP_TOTAL if "import_kwh" in sec else 0) |
                   (HAS_EXP_TOTAL if "export_kwh" in sec else 0))
        out.setdefault(x["meter"], {})[utc(x["interval_end"])] = (
            x["source"], x["quality"], present,
            round(sec.get("import_kwh", 0) * 100), round(sec.get("export_kwh", 0) * 100))
    return out


def store_outbox(yaml, timeout=300):
    """Every message the outbox keeps, from `amihead query --outbox`, as
    [(seq, topic, body bytes)] in sequence order."""
    r = subprocess.run([os.path.join(BIN, "amihead"), "query", "-c", yaml, "--outbox"],
                       capture_output=True, timeout=timeout)
    check(r.returncode == 0, f"query --outbox: exit {r.returncode}: {r.stderr[-2000:]!r}")
    out = []
    for line in r.stdout.split(b"\n"):
        if line:
            seq, topic, body = line.split(b" ", 2)
            out.append((int(seq), topic.decode(), body))
    return out
