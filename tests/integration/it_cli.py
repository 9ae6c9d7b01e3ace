#!/usr/bin/python3
"""it_cli — the CLI a field engineer expects (issue 14, item 5).

A small store first: amisim 1 concentrator x 2 meters (meters on UTC+8,
headend.timezone Asia/Shanghai), `amihead run` for one simulated hour at
360x with a day of backfill. Then:

- `amihead --version`, `amihead version`, `amihead help [CMD]`, and every
  command's --help exit 0; the commands that take times say which formats
  (Z, +08:00 offsets, plain local time in headend.timezone, epoch seconds);
- the same instant given as Z, as +08:00 and as plain local time selects the
  same reads; a plain local time is said on stderr to be headend.timezone;
- a reversed range (query, events, stats, release), an unknown --type
  (events) and a meter not in the inventory (query, events, release) are
  errors naming the cause, not an empty result;
- `tail` against an endpoint nobody serves, given as bare HOST:PORT, gives
  up after --timeout naming tcp://HOST:PORT;
- a meters.csv starting with a UTF-8 byte order mark is accepted;
- `release` without $USER takes the login name as the operator.
"""
import glob
import json
import os
import pwd
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ahtest import BIN, Sim, check, free_port_block, iso, utc  # noqa: E402
from ahtest import configure  # noqa: E402
from ahtest import main, run_until  # noqa: E402

SCALE = 360
EPOCH = utc("2025-03-14T16:00:00Z")  # 00:00 on 15 March, UTC+8
METER = "000001000001"


def ah(*args, env=None, timeout=60):
    return subprocess.run([os.path.join(BIN, "amihead"), *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


def expect(r, code, text, what):
    out = r.stdout + r.stderr
    check(r.returncode == code and text in out,
          f"{what}: exit {r.returncode} (want {code}), want '{text}' in: {out[-800:]}")


def run(tmp):
    with Sim(tmp, "--concentrators", "1", "--meters", "2", "--faults", "none", "--epoch",
             iso(EPOCH), "--time-scale", str(SCALE), "--write-config", tmp) as sim:
        yaml, _ = configure(tmp, {"backfill_days": 1})
        start = sim.sim_now()
        rc, err = run_until(yaml, SCALE, start, start + 3600, 60, "run did not stop")
        check(rc == 0, f"run: {err[-2000:]}")

    # version and help
    v = ah("--version")
    expect(v, 0, "amihead ", "--version")
    expect(ah("version"), 0, v.stdout.strip(), "version")
    h = ah("help")
    expect(h, 0, "commands:", "help")
    cmds = [ln.split()[0] for ln in h.stdout.splitlines() if ln.startswith("  ")]
    check(len(cmds) >= 12, f"commands listed: {cmds}")
    for c in cmds:
        r = ah(c, "--help")
        check(r.returncode == 0 and r.stdout, f"{c} --help: exit {r.returncode} {r.stderr}")
        if c in ("query", "stats", "events", "release", "run"):
            check("+08:00" in r.stdout and "headend.timezone" in r.stdout and
                  "Z" in r.stdout, f"{c} --help names no time formats: {r.stdout}")
        r2 = ah("help", c)
        check(r2.returncode == 0 and r2.stdout == r.stdout, f"help {c} differs from --help")
    expect(ah("help", "nosuch"), 2, "unknown command 'nosuch'", "help nosuch")

    # one instant, three spellings
    rows = {}
    for t in ("2025-03-14T16:00:00Z", "2025-03-15T00:00:00+08:00", "2025-03-15 00:00",
              str(EPOCH)):
        r = ah("query", "-c", yaml, "--meter", METER, "--from", t, "--json")
        check(r.returncode == 0, f"query --from {t}: {r.stderr}")
        rows[t] = [json.loads(x)["interval_end"] for x in r.stdout.splitlines()]
        if t == "2025-03-15 00:00":
            check("is local time in Asia/Shanghai (UTC+08:00): 2025-03-14T16:00:00Z"
                  in r.stderr, f"local time not said: {r.stderr}")
    first = list(rows.values())[0]
    check(first and first[0] == "2025-03-14T16:00:00Z", f"query rows {first[:2]}")
    check(all(v == first for v in rows.values()), f"the spellings differ: {rows}")
    expect(ah("query", "-c", yaml, "--meter", METER, "--from", "15/03/2025"), 2,
           "bad time '15/03/2025'", "bad time")

    # reversed ranges
    rev = ["--from", "2025-03-15T00:00:00Z", "--to", "2025-03-14T00:00:00Z"]
    for c in (["query", "--meter", METER], ["events"], ["stats"]):
        expect(ah(c[0], "-c", yaml, *c[1:], *rev), 2, "the range is reversed",
               f"{c[0]} reversed")
    expect(ah("release", "-c", yaml, "--meter", METER, *rev, "--reason", "x"), 2,
           "the range is reversed", "release reversed")

    # unknown --type; a known type with nothing stored is fine
    expect(ah("events", "-c", yaml, "--type", "STOPED"), 1, "'STOPED' is not an event type",
           "unknown type")
    expect(ah("events", "-c", yaml, "--type", "JUMPING"), 0, "", "known type, none stored")

    # meters not in the inventory
    for c in (["query"], ["events"], ["release", "--from", "2025-03-14T16:00:00Z", "--to",
                                      "2025-03-14T17:00:00Z", "--reason", "x"]):
        expect(ah(c[0], "-c", yaml, "--meter", "999999999999", *c[1:]), 1,
               "meter 999999999999 is not in the inventory", f"{c[0]} unknown meter")

    # tail: bare HOST:PORT, nobody serving, --timeout
    p = free_port_block(2)
    t0 = time.monotonic()
    r = ah("tail", "--endpoint", f"127.0.0.1:{p}", "--replay", f"127.0.0.1:{p + 1}",
           "--timeout", "2", timeout=30)
    took = time.monotonic() - t0
    expect(r, 1, f"no message from tcp://127.0.0.1:{p}", "tail --timeout")
    check(took < 20, f"tail gave up after {took:.1f} s")

    # read takes the export's tcp://HOST:PORT spelling too, naming the endpoint
    r = ah("read", "--tcp", f"tcp://127.0.0.1:{p}", "--addr", METER, "--di", "00010000",
           "--timeout-ms", "200", "--retries", "0")
    expect(r, 1, f"cannot open tcp:127.0.0.1:{p}: connection refused", "read tcp://")

    # a byte order mark at the start of meters.csv
    csv = os.path.join(tmp, "meters.csv")
    with open(csv, "rb") as f:
        body = f.read()
    with open(csv, "wb") as f:
        f.write(b"\xef\xbb\xbf" + body)
    expect(ah("check-config", "-c", yaml), 0, "ok: 1 links, 3 meters", "BOM meters.csv")

    # release without $USER: the login name
    env = {k: v for k, v in os.environ.items() if k not in ("USER", "LOGNAME")}
    r = ah("release", "-c", yaml, "--meter", METER, "--from", "2025-03-14T16:00:00Z", "--to",
           "2025-03-14T17:00:00Z", "--reason", "meter replaced", env=env)
    check(r.returncode == 0, f"release without $USER: {r.stderr}")
    # ... and without a login name either (a uid with no passwd entry, no
    # terminal): --operator is asked for
    if os.geteuid() == 0:
        r = subprocess.run(["setpriv", "--reuid=54321", "--regid=54321", "--clear-groups",
                            os.path.join(BIN, "amihead"), "release", "-c", yaml, "--meter",
                            METER, "--from", "2025-03-14T16:00:00Z", "--to",
                            "2025-03-14T17:00:00Z", "--reason", "x"],
                           capture_output=True, text=True, timeout=60, env=env,
                           stdin=subprocess.DEVNULL)
        expect(r, 2, "give --operator NAME", "release without any operator name")
    reqs = glob.glob(os.path.join(tmp, "store.release", "*.req"))
    check(len(reqs) == 1, f"release requests: {reqs}")
    with open(reqs[0]) as f:
        op = json.load(f)["operator"]
    check(op == pwd.getpwuid(os.geteuid()).pw_name, f"operator {op!r}")


if __name__ == "__main__":
    main("it_cli", run)
