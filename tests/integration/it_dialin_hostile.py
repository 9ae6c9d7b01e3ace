#!/usr/bin/python3
"""it_dialin_hostile — hostile dial-ins on a dlt645-listen link (issue 17
items 3 and 5), 1 concentrator x 4 meters dialling in through amisim --dial,
about three simulated hours at 360x:

1. an idle-connection flood starts before the real concentrator dials: 40
   sockets from 127.0.0.2 and 3 from each of 16 addresses 127.0.1.x, every
   one reopened as soon as it is closed, none ever answering 13H. The real
   concentrator (127.0.0.1) must still get in within 10 s (before: the 32
   unidentified slots stayed full and it was refused for most of a minute);
2. a second amisim with another seed (other registers, same addresses)
   dials in as the same concentrator 000000000001 over and over: the old
   connection still answers, so every claim is refused and counted
   (amihead_dialin_conflicts_total), the link does not flap, and every
   stored read is the real fleet's (before: the impostor replaced the real
   connection and its reads were stored and published as clean);
3. a restart with links[].allow naming another network refuses the real
   concentrator by its source address (amihead_dialin_refused_total).
"""
import os
import re
import select
import socket
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ahtest import (Amisim, Sim, amisim_series, check, fail,  # noqa: E402
                    free_port_block, iso)
from ahtest import main, meter_ids, meter_rows, query, run_argv  # noqa: E402

SCALE = 360
EPOCH = "2025-03-14T00:00:00Z"
STEP = 900
HOURS = 3


class Flood(threading.Thread):
    """Idle connections from many loopback sources, reopened when closed;
    never a byte sent. Bounded: stops at stop() or after 120 s."""

    def __init__(self, port, sources):
        super().__init__(daemon=True)
        self.port = port
        self.sources = sources  # [(source ip, how many)]
        self.halt = threading.Event()
        self.opened = 0

    def open_one(self, src):
        s = socket.socket()
        s.setblocking(False)
        s.bind((src, 0))
        try:
            s.connect(("127.0.0.1", self.port))
        except BlockingIOError:
            pass
        self.opened += 1
        return s

    def run(self):
        socks = {}
        deadline = time.monotonic() + 120
        for src, n in self.sources:
            for _ in range(n):
                socks[self.open_one(src)] = src
        while not self.halt.is_set() and time.monotonic() < deadline:
            r, _, _ = select.select(list(socks), [], [], 0.05)
            time.sleep(0.01)  # at most ~100 rounds a second: a flood, not a spin
            for s in r:
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                if data:
                    continue  # the 13H request: never answered
                src = socks.pop(s)
                s.close()
                socks[self.open_one(src)] = src
        for s in socks:
            s.close()

    def stop(self):
        self.halt.set()
        self.join(timeout=10)


def metric(port, name, labels):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    m = re.search(rf"^{name}\{{{re.escape(labels)}\}} (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def wait_log(log, pattern, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log.seek(0)
        if re.search(pattern, log.read()):
            return True
        time.sleep(0.2)
    return False


def run(tmp):
    lport, mport = free_port_block(2), free_port_block(1)
    real = ["--concentrators", "1", "--meters", "4"]
    fake = real + ["--seed", "7"]
    dial = ["--dial", f"127.0.0.1:{lport}"]
    # --write-config only (nothing listens yet: its dials are refused)
    with Amisim(*real, *dial, "--epoch", EPOCH, "--write-config", tmp):
        pass
    yaml = os.path.join(tmp, "amihead.yaml")
    with open(yaml) as f:
        text = f.read()
    check(f"listen: 127.0.0.1:{lport}" in text, f"write-config: {text}")
    text = (text.replace("backfill_days: 3", "backfill_days: 1")
            .replace("listen: 127.0.0.1:9464", f"listen: 127.0.0.1:{mport}"))
    port2 = free_port_block(2)
    text = (text.replace("tcp://127.0.0.1:5556", f"tcp://127.0.0.1:{port2}")
            .replace("tcp://127.0.0.1:5557", f"tcp://127.0.0.1:{port2 + 1}"))
    with open(yaml, "w") as f:
        f.write(text)

    # the simulators start later: their clocks are set from the head-end's
    # (simulated time elapsed since it started, one real second ahead so
    # that the records asked for exist)
    start = 1741910400 + 3600  # 2025-03-14T01:00:00Z
    until = start + HOURS * 3600
    log = open(os.path.join(tmp, "amihead.log"), "w+")
    p = subprocess.Popen(run_argv(yaml, SCALE, start, until), stdout=subprocess.DEVNULL,
                         stderr=log)
    t_run = time.monotonic()

    def sim_epoch():
        return iso(start + int((time.monotonic() - t_run + 1) * SCALE))

    flood = Flood(lport, [("127.0.0.2", 40)] + [(f"127.0.1.{k}", 3) for k in range(1, 17)])
    try:
        check(wait_log(log, r"waiting for dial-in concentrators", 20), "no listener")
        flood.start()
        time.sleep(2)  # the flood fills every unidentified slot
        t0 = time.monotonic()
        with Sim(tmp, *real, *dial, "--faults", "none", "--time-scale", str(SCALE),
                 "--epoch", sim_epoch(), log_markers=["Sanitizer"]):
            ok = wait_log(log, r"concentrator 000000000001 dialled in from 127\.0\.0\.1:",
                          10)
            took = time.monotonic() - t0
            check(ok, f"the real concentrator did not get in within 10 s of a flood of "
                  f"{flood.opened} idle connections")
            print(f"real concentrator in after {took:.1f} s under a flood "
                  f"({flood.opened} idle connections so far)")
            time.sleep(4)
            flood.stop()
            print(f"flood: {flood.opened} idle connections opened")

            # the impostor: a whole second fleet with the same addresses
            with Amisim(*fake, *dial, "--faults", "none", "--time-scale", str(SCALE),
                        "--epoch", sim_epoch(),
                        log_markers=["Sanitizer"]):
                time.sleep(12)
                conflicts = metric(mport, "amihead_dialin_conflicts_total",
                                   'link="c0"')
            try:
                p.wait(timeout=(until - start) / SCALE + 30)
            except subprocess.TimeoutExpired:
                fail("amihead run did not stop at --until")
    finally:
        if flood.is_alive():
            flood.stop()
        if p.poll() is None:
            p.kill()
            p.wait()
    log.seek(0)
    err = log.read()
    log.close()
    check(p.returncode == 0 and "Sanitizer" not in err, f"exit {p.returncode}: "
          f"{err[-3000:]}")
    # every stored read is the real fleet's; the window is complete
    first = (start // STEP) * STEP
    lo, hi = first + 4 * STEP, (until // STEP) * STEP - STEP
    series = {(s["meter"], s["t_s"]): s for s in amisim_series(real, lo, hi)}
    forged = {(s["meter"], s["t_s"]): s for s in amisim_series(fake, lo, hi)}
    rows = meter_rows(tmp)
    n_checked = 0
    for r in rows:
        mid, addr = r[0], r[3]
        got = {x["interval_end"]: x for x in query(yaml, mid, "--from", iso(lo),
                                                    "--to", iso(hi))}
        missing = [iso(t) for t in range(lo, hi + 1, STEP) if iso(t) not in got]
        check(not missing, f"{mid}: missing {missing}")
        for t in range(lo, hi + 1, STEP):
            imp = got[iso(t)]["registers"]["secondary"]["import_kwh"]
            s = series.get((addr, t))
            check(s is not None, f"no series {addr} {iso(t)}")
            want = s["shown"]["fwd"] / 100.0
            bad = forged[(addr, t)]["shown"]["fwd"] / 100.0
            check(abs(imp - want) < 0.005,
                  f"{mid} {iso(t)}: import {imp}, real {want}, impostor's {bad}")
            n_checked += 1
    check(abs(series[(rows[0][3], hi)]["shown"]["fwd"] -
              forged[(rows[0][3], hi)]["shown"]["fwd"]) > 1,
          "the two fleets read alike: the test could not see a forged read")
    print(f"{n_checked} stored reads, all the real fleet's")

    check(conflicts is not None and conflicts >= 2,
          f"amihead_dialin_conflicts_total {conflicts}")
    n_conf = len(re.findall(r"address conflict: 127\.0\.0\.1:\d+ claims concentrator "
                            r"000000000001", err))
    n_ref = len(re.findall(r"refused 127\.0\.0\.1:\d+: concentrator 000000000001 still "
                           r"answers", err))
    check(n_conf >= 2 and n_ref >= 2, f"claims {n_conf}, refused {n_ref}: {err[-3000:]}")
    check("replacing its old connection" not in err,
          f"a live connection was replaced: {err[-3000:]}")
    print(f"impostor: {n_conf} claims, {n_ref} refused")

    # links[].allow: the real concentrator's source is not in it
    with open(yaml) as f:
        text = f.read()
    text = text.replace('address: "000000000001"',
                        'address: "000000000001"\n    allow: "127.0.0.2/32, ::1"')
    with open(yaml, "w") as f:
        f.write(text)
    p = subprocess.Popen(run_argv(yaml, SCALE, until, until + 1800),
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    with Sim(tmp, *real, *dial, "--faults", "none", "--time-scale", str(SCALE),
             "--epoch", iso(until), log_markers=["Sanitizer"]):
        try:
            _, err = p.communicate(timeout=1800 / SCALE + 30)
        except subprocess.TimeoutExpired:
            p.kill()
            fail("allow run did not stop")
    check(p.returncode == 0, f"allow run: exit {p.returncode}: {err[-2000:]}")
    check(re.search(r"refused 127\.0\.0\.1:\d+: it gave address 000000000001, but its "
                    r"source is not in links\.allow", err), f"allow: {err[-2000:]}")
    check("dialled in from" not in err, f"allow: let it in: {err[-2000:]}")


if __name__ == "__main__":
    main("it_dialin_hostile", run)
