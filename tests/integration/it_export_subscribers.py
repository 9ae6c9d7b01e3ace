#!/usr/bin/python3
"""it_export_subscribers — billing subscribers against a publishing head-end
(test_pub --drive, the stand-in until `amihead run` exists) that is killed
with -9 in the middle of the run and restarted on the same store:
examples/subscriber.py, running throughout, and `amihead tail`, started
after everything was published, both end with every message 1..LAST exactly
once and in sequence order; every body validates against
docs/wire-format.schema.json; examples/subscriber.c compiles with cc and
pkg-config and does the same."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import jsonschema

BIN = os.environ.get("AH_BIN", "build/bin")
SRC = os.environ.get("AH_SRC", ".")
procs = []


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    for p in procs:
        if p.poll() is None:
            p.kill()
    sys.exit(1)


def start(args, **kw):
    p = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, **kw)
    procs.append(p)
    return p


def drive(db, ep, rp, batches, per, delay_ms):
    return start([f"{BIN}/test_pub", "--drive", db, ep, rp, str(batches), str(per),
                  str(delay_ms)], stdin=subprocess.PIPE)


def read_until(p, pred, timeout):
    """Lines of p's stdout until pred(line) holds; fails on timeout/exit."""
    lines = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = p.stdout.readline()
        if not line:
            fail(f"{p.args[0]} exited early: {lines[-3:]}")
        lines.append(line.strip())
        if pred(line.strip()):
            return lines
    fail(f"timeout waiting in {p.args[0]}")


def check_sequence(name, bodies, last, validator):
    seqs = [b["seq"] for b in bodies]
    if seqs != list(range(1, last + 1)):
        missing = sorted(set(range(1, last + 1)) - set(seqs))
        fail(f"{name}: {len(seqs)} messages, want 1..{last} once in order; "
             f"missing {missing[:10]}, duplicates {len(seqs) - len(set(seqs))}")
    for b in bodies:
        try:
            validator.validate(b)
        except jsonschema.ValidationError as e:
            fail(f"{name}: seq {b['seq']} does not match the schema: {e.message}")
    types = {b["type"] for b in bodies}
    if types != {"read", "anomaly", "gap", "daily"}:
        fail(f"{name}: topics seen {types}")
    print(f"ok: {name}: 1..{last} once, in order, schema-valid")


def main():
    with open(os.path.join(SRC, "docs/wire-format.schema.json")) as f:
        schema = json.load(f)
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)

    tmp = tempfile.mkdtemp(prefix="it_export.")
    try:
        db = os.path.join(tmp, "db")
        ep, rp = f"ipc://{tmp}/pub.ipc", f"ipc://{tmp}/replay.ipc"

        # 1. head-end up, 5 batches of 40 before the subscriber exists
        h = drive(db, ep, rp, 30, 40, 40)
        read_until(h, lambda l: l == "committed 200", 30)
        py = start(["/usr/bin/python3", os.path.join(SRC, "examples/subscriber.py"),
                    "--endpoint", ep, "--replay", rp, "--from-seq", "1"])
        got = []
        t = threading.Thread(target=lambda: got.extend(json.loads(l) for l in py.stdout),
                             daemon=True)
        t.start()

        # 2. kill -9 in the middle of the run
        read_until(h, lambda l: l == "committed 480", 30)
        h.send_signal(signal.SIGKILL)
        h.wait(10)

        # 3. restart on the same store: the sequence goes on
        h = drive(db, ep, rp, 10, 40, 40)
        lines = read_until(h, lambda l: l == "done", 60)
        last = int([l for l in lines if l.startswith("committed")][-1].split()[1])
        if last < 480 + 400:
            fail(f"restarted head-end ended at {last}, want > 880")
        deadline = time.time() + 30
        while time.time() < deadline and (not got or got[-1]["seq"] < last):
            time.sleep(0.1)
        py.terminate()
        py.wait(10)
        t.join(5)
        check_sequence("examples/subscriber.py across kill -9", got, last, validator)

        # 4. amihead tail, after the fact: everything from replay
        tail = [f"{BIN}/amihead", "tail", "--endpoint", ep, "--replay", rp,
                "--from-seq", "1", "--until-seq", str(last), "--json"]
        r = subprocess.run(tail, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            fail(f"amihead tail exited {r.returncode}: {r.stderr.strip()}")
        check_sequence("amihead tail", [json.loads(l) for l in r.stdout.splitlines()], last,
                       validator)

        # 5. the C example
        cc = shutil.which("cc") or fail("no cc")
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libzmq", "jansson"],
                               capture_output=True, text=True, check=True).stdout.split()
        exe = os.path.join(tmp, "subscriber")
        subprocess.run([cc, "-std=c11", "-Wall", "-Wextra", "-Werror", "-o", exe,
                        os.path.join(SRC, "examples/subscriber.c")] + flags, check=True)
        r = subprocess.run([exe, ep, rp, "1", str(last)], capture_output=True, text=True,
                           timeout=60)
        if r.returncode != 0:
            fail(f"examples/subscriber.c exited {r.returncode}: {r.stderr.strip()}")
        check_sequence("examples/subscriber.c", [json.loads(l) for l in r.stdout.splitlines()],
                       last, validator)

        h.stdin.close()
        h.wait(10)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
