"""Helpers shared by the `amihead run` integration tests (it_run_*.py): the
amihead command runner, the config amisim --write-config wrote, its meter
list, a run of the head-end to --until, and `amihead tail` as a subscriber.
Not a test itself: CTest runs only it_*.py / it_*.sh."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request

from ahtest import BIN, check, fail, free_port_block, iso, utc

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


def amihead(*args, timeout=30):
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
                with open(f"/proc/{self.pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                self.cpu_s = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            except OSError:
                pass

    def value(self, name, labels):
        m = re.search(rf"^{name}\{{{re.escape(labels)}\}} (\S+)$", self.text, re.M)
        return float(m.group(1)) if m else None
