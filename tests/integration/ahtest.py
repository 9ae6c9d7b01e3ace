"""Helpers for amihead integration tests, in one module: start amisim as a
helper with a timeout, find its endpoints, load its truth file, fail loudly
(libuv test helpers / nginx-tests style: every helper is killed on exit);
run the head-end (`amihead run` to --until, or followed line by line and
stopped with SIGTERM), edit the config amisim --write-config wrote, follow
the export as a subscriber (`amihead tail`), and read the store through the
head-end's own reader (`amihead query --all --json`, `--outbox`).
Not a test itself: CTest runs only it_*.py / it_*.sh."""
import calendar
import fcntl
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

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


# Port blocks handed out to the tests running at the same time (ctest -j):
# checking that a port is free and the server's bind are moments apart, so
# two tests that drew overlapping blocks would both find them free. Each
# block is recorded here, under a lock, with the pid of the test that holds
# it; a dead pid's blocks are free again.
PORT_BOOK = os.path.join(tempfile.gettempdir(), "ahtest-ports.json")


def _book_blocks(book):
    """The blocks of live tests: [(base, n, pid)]."""
    live = []
    for base, n, pid in book:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        except PermissionError:
            pass
        live.append((base, n, pid))
    return live


def _ports_free(base, n):
    socks = []
    try:
        for k in range(n):
            t = socket.socket()
            t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            t.bind(("127.0.0.1", base + k))
            socks.append(t)
        return True
    except OSError:
        return False
    finally:
        for t in socks:
            t.close()


def free_port_block(n, owner=None):
    """A base port with n consecutive free loopback ports, booked for this
    test against the others running beside it (PORT_BOOK), below the
    kernel's ephemeral range (32768..): there no outgoing connection can
    take the port before the server binds it (it_run_metrics and
    it_link_outage failed that way under ctest -j), and a block of
    thousands is found free on a busy box. Small blocks are drawn from
    10000..19999 and large ones (100 ports or more) from 20000..31999 where
    they fit, so that the small ones never fragment the large ones' range.
    owner: the pid holding the block (a shell test books for itself), this
    process by default."""
    lo, hi = (10000, 20000) if n < 100 else (20000, 32000)
    if hi - lo <= n:
        lo = 10000
    if hi - lo <= n:
        fail(f"no port block of {n} below the ephemeral range")
    with open(PORT_BOOK + ".lock", "a") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        try:
            with open(PORT_BOOK) as f:
                book = _book_blocks(json.load(f))
        except (OSError, ValueError, TypeError):
            book = []
        for _ in range(200):
            base = random.randrange(lo, hi - n)
            if any(base < b + m and b < base + n for b, m, _ in book):
                continue
            if not _ports_free(base, n):
                continue
            book.append((base, n, owner or os.getpid()))
            tmp = PORT_BOOK + ".%d" % os.getpid()
            with open(tmp, "w") as f:
                json.dump(book, f)
            os.replace(tmp, PORT_BOOK)
            return base
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


def cpu_seconds(pid):
    """User + system CPU seconds of every thread of process pid so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---- the head-end: commands, config, runs, the export (once runtest.py) ----

FAULT_BITS = (1 << 24) - 1  # vee.h bits 0..23: a validation rule's verdict
RELEASED = 1 << 27          # vee.h: an operator released the read to billing


def main(name, run):
    """Run run(tmp) in a fresh temporary directory, removed afterwards."""
    tmp = tempfile.mkdtemp(prefix=f"{name}.")
    try:
        run(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("ok")


def amihead(*args, timeout=120):
    return subprocess.run([os.path.join(BIN, "amihead"), *args], capture_output=True,
                          text=True, timeout=timeout)


def export_endpoints():
    """pub and replay endpoints on a free port pair, away from other tests."""
    port = free_port_block(2)
    return f"tcp://127.0.0.1:{port}", f"tcp://127.0.0.1:{port + 1}"


def write_config(tmp, backfill_days, ep, rp, replace=()):
    """Edit the amihead.yaml amisim --write-config left in tmp: backfill_days,
    the export endpoints, each (old, new) of replace, and the metrics port
    (a free one unless replace set it). Returns its path and
    the text amisim wrote."""
    yaml = os.path.join(tmp, "amihead.yaml")
    check(os.path.exists(yaml), "amisim --write-config wrote no amihead.yaml")
    with open(yaml) as f:
        text = f.read()
    check("backfill_days: 3" in text, "write-config changed its schedule section")
    new = (text.replace("backfill_days: 3", f"backfill_days: {backfill_days}")
           .replace("tcp://127.0.0.1:5556", ep)
           .replace("tcp://127.0.0.1:5557", rp))
    for old, repl in replace:
        new = new.replace(old, repl)
    # a busy metrics port stops amihead at start: never share amisim's default
    new = new.replace("listen: 127.0.0.1:9464", f"listen: 127.0.0.1:{free_port_block(1)}")
    with open(yaml, "w") as f:
        f.write(new)
    return yaml, text


def meter_rows(tmp):
    """The rows of the meters.csv amisim wrote (header and comments skipped),
    each split into its fields."""
    with open(os.path.join(tmp, "meters.csv")) as f:
        next(f)
        return [ln.split(",") for ln in f if ln.strip() and not ln.startswith("#")]


def meter_ids(tmp):
    return [r[0] for r in meter_rows(tmp)]


def run_argv(yaml, scale, epoch, until=None):
    argv = [os.path.join(BIN, "amihead"), "run", "-c", yaml, "--time-scale", str(scale),
            "--epoch", str(epoch)]
    return argv + ["--until", str(until)] if until is not None else argv


def run_until(yaml, scale, start, until, slack, what):
    """`amihead run` from simulated time start to --until, given slack seconds
    of real time beyond (until - start) / scale; fails with what when it does
    not stop. Returns (returncode, stderr)."""
    p = subprocess.Popen(run_argv(yaml, scale, start, until), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    return finish_run(p, (until - start) / scale + slack, what)


def finish_run(p, timeout, what):
    """Wait for a head-end started with stdout and stderr as text pipes."""
    try:
        _, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
        fail(f"{what}: {err[-2000:]}")
    return p.returncode, err


def check_clean_stop(returncode, err):
    """A run that stopped by itself at --until: exit 0, no sanitizer report,
    and every request of every cycle answered (run summary)."""
    check(returncode == 0, f"amihead run: exit {returncode}: {err[-3000:]}")
    check("Sanitizer" not in err, f"amihead: {err[-3000:]}")
    check(re.search(r"stopping: .* 0 timeouts, 0 meter errors", err),
          f"run summary: {err[-1500:]}")


def query(yaml, meter, *args):
    """`amihead query --json` of one meter: its rows, oldest first."""
    r = amihead("query", "-c", yaml, "--meter", meter, *args, "--json")
    check(r.returncode == 0, f"query {meter}: exit {r.returncode}: {r.stderr}")
    return [json.loads(x) for x in r.stdout.splitlines()]


def stored(yaml, meter):
    """The stored reads of one meter as {interval end (epoch s): query row},
    each interval once."""
    rows = query(yaml, meter)
    ends = [x["interval_end"] for x in rows]
    check(len(ends) == len(set(ends)), f"{meter}: an interval stored twice")
    return {utc(x["interval_end"]): x for x in rows}


def check_window_complete(yaml, fleet, meters, lo, hi, why):
    """Every interval end lo..hi of each meter stored, its import register
    equal to what amisim (started with the args `fleet`) shows; why(m,
    missing) names a failure. The number of intervals per meter."""
    series = {(s["meter"], s["t_s"]): s for s in amisim_series(fleet, lo, hi)}
    for m in meters:
        rows = stored(yaml, m)
        missing = [iso(t) for t in range(lo, hi + 1, STEP) if t not in rows]
        check(not missing, why(m, missing))
        for t in range(lo, hi + 1, STEP):
            want = series[(m, t)]["shown"]["fwd"] / 100.0
            imp = rows[t]["registers"]["secondary"]["import_kwh"]
            check(abs(imp - want) < 0.005, f"{m} {iso(t)}: import {imp}, meter {want}")
    return (hi - lo) // STEP + 1


def events(yaml, *args):
    """`amihead events --json ARGS`: the stored events."""
    r = amihead("events", "-c", yaml, "--json", *args)
    check(r.returncode == 0, f"events: {r.stderr}")
    return [json.loads(x) for x in r.stdout.splitlines()]


class Tail:
    """`amihead tail` from seq 1 as a subscriber, its lines in tmp/tail.out;
    stopped when the with-block ends. Call drain() before leaving it to get
    everything the head-end sent, then messages()."""

    def __init__(self, tmp, ep, rp):
        self.out = open(os.path.join(tmp, "tail.out"), "w+")
        self.argv = [os.path.join(BIN, "amihead"), "tail", "--endpoint", ep, "--replay",
                     rp, "--from-seq", "1"]

    def __enter__(self):
        self.proc = subprocess.Popen(self.argv, stdout=self.out, stderr=subprocess.PIPE,
                                     text=True)
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        return False

    def drain(self):
        """Wait until the output has stopped growing for 1.5 s."""
        last = -1
        while True:
            time.sleep(1.5)
            size = os.path.getsize(self.out.name)
            if size == last:
                break
            last = size

    def messages(self):
        """(seq, topic, body) of every line received."""
        self.out.seek(0)
        msgs = []
        for line in self.out:
            seq, topic, body = line.rstrip("\n").split(" ", 2)
            msgs.append((int(seq), topic, json.loads(body)))
        return msgs


def check_sequence(msgs):
    """The subscriber got something, seq 1..N each once, bodies agreeing."""
    check(msgs, "the subscriber received nothing")
    seqs = [m[0] for m in msgs]
    check(seqs == list(range(1, len(seqs) + 1)),
          f"sequence not 1..N once each: first {seqs[:5]}, gaps/dups at "
          f"{[b for a, b in zip(seqs, seqs[1:]) if b != a + 1][:5]}")
    for seq, _, body in msgs:
        check(body["seq"] == seq, f"seq {seq}: body says {body['seq']}")


def published_reads(msgs, district=None):
    """{(meter, interval end): body} of the read messages, each once; with
    district (meter -> district), each on read/<district>/<meter>."""
    published = {}
    for _, topic, body in msgs:
        if body["type"] != "read":
            continue
        key = (body["meter"], utc(body["end"]))
        check(key not in published, f"read {key} published twice")
        if district is not None:
            check(topic == f"read/{district[body['meter']]}/{body['meter']}",
                  f"topic {topic}")
        published[key] = body
    return published


def billable_published(m, reads, published):
    """Check that the stored reads of meter m ({t: query row}) that are
    billable (no fault bit, or released) were published and no others, taking
    them out of published. A meter's last reads may still be held back at the
    stop (a rule needing 4 reads in a row has a run going): at most 3, all at
    the end. Returns [(t, row, published body)] of the published ones."""
    held = 0
    for t in sorted(reads, reverse=True):
        if (m, t) in published or reads[t]["quality"] & FAULT_BITS:
            break
        held += 1
    check(held <= 3, f"{m}: last {held} clean reads never published")
    out = []
    for t, row in sorted(reads.items())[:len(reads) - held]:
        q = row["quality"]
        billable = not (q & FAULT_BITS) or q & RELEASED
        pub = published.pop((m, t), None)
        check(bool(pub) == bool(billable),
              f"{m} {iso(t)} quality {q:#x}: {'published' if pub else 'not published'}")
        if pub:
            out.append((t, row, pub))
    return out


class ScrapeLater(threading.Thread):
    """GET /metrics on port after delay seconds (and the CPU seconds pid
    had used by then): .text, .cpu_s once joined. Leaves the error text in
    .text when the endpoint does not answer."""

    def __init__(self, port, delay, pid=None):
        super().__init__(daemon=True)
        self.port, self.delay, self.pid = port, delay, pid
        self.text, self.cpu_s = "", 0.0

    def run(self):
        time.sleep(max(0.0, self.delay))
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics",
                                        timeout=5) as r:
                self.text = r.read().decode()
        except OSError as e:
            self.text = str(e)
        if self.pid:
            try:
                self.cpu_s = cpu_seconds(self.pid)
            except OSError:
                pass

    def value(self, name, labels):
        m = re.search(rf"^{name}\{{{re.escape(labels)}\}} (\S+)$", self.text, re.M)
        return float(m.group(1)) if m else None


# ---- fleet runs followed line by line (once runfleet.py) --------------------

STEP = 900


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
        # stderr is drained by a thread all the time, not only while the
        # test waits in wait_for/stop: a head-end that logs more than a pipe
        # holds (64 KiB: a loaded box's timeouts and retries) would
        # otherwise block on its log between two waits and stall the run
        self._cv = threading.Condition()
        self._eof = False
        self._seen = 0
        self._pump = threading.Thread(target=self._drain, daemon=True)
        self._pump.start()
        return self

    def _drain(self):
        fd, pending = self.proc.stderr.fileno(), b""
        while True:
            chunk = os.read(fd, 65536)
            with self._cv:
                if not chunk:
                    if pending:
                        self.lines.append(pending.decode(errors="replace"))
                    self._eof = True
                    self._cv.notify_all()
                    return
                pending += chunk
                *done, pending = pending.split(b"\n")
                self.lines += [ln.decode(errors="replace") for ln in done]
                self._cv.notify_all()

    def _read(self, timeout):
        """Wait up to timeout for log lines; False once stderr is closed
        and every line has been seen."""
        with self._cv:
            if len(self.lines) == self._seen and not self._eof:
                self._cv.wait(timeout)
            fresh = len(self.lines) != self._seen
            self._seen = len(self.lines)
            return fresh or not self._eof

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
        self._pump.join()
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
        self._pump.join()
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


# ---- the store, through the head-end's own reader ---------------------------

def store_reads(yaml, timeout=600):
    """Every stored read, from one `amihead query --all --csv`, as
    {meter id: {interval end (epoch s): (source, quality, present,
    import, export)}}: present as ah_read.h's AH_READ_HAS_* bits, energies in 0.01 kWh
    secondary (the register's own digits)."""
    r = subprocess.run([os.path.join(BIN, "amihead"), "query", "-c", yaml, "--all",
                        "--csv"], capture_output=True, text=True, timeout=timeout)
    check(r.returncode == 0, f"query --all: exit {r.returncode}: {r.stderr[-2000:]}")
    lines = r.stdout.splitlines()
    check(lines and lines[0].startswith("meter,interval_end,interval_end_s,source,"),
          f"query --all --csv header: {lines[:1]}")
    out = {}
    for line in lines[1:]:
        m, _, end, src, q, present, imp, exp, _ct, _pt = line.split(",")
        out.setdefault(m, {})[int(end)] = (src, int(q), int(present),
                                           int(imp.replace(".", "")),
                                           int(exp.replace(".", "")))
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
