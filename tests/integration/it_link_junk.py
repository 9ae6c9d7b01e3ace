#!/usr/bin/python3
"""it_link_junk — unsolicited bytes and misaddressed or oversized replies
on a dlt645-tcp link (issue 17 item 8), through hostileproxy.py in front
of amisim's concentrator (1 x 4 meters, 360x, two simulated hours):

- a flood of junk bytes (no 68H, no FEH) at about 4 MB/s between the
  real replies, the whole run: counted in amihead_junk_bytes_total{link},
  logged (rate-limited) as bytes that answer no request, and every
  interval of the meters it does not otherwise touch is still collected;
- every reply of meter 000001000002 comes back from another address: the
  failure says "address mismatch" (it said "timed out");
- every reply of meter 000001000003 becomes a frame with L=255: the
  failure says "frame length beyond the protocol's limit" (it said "bad
  checksum").
"""
import os
import random
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ahtest import Sim, check, free_port_block, iso  # noqa: E402
from dlt645wire import decode  # noqa: E402
from hostileproxy import HostileProxy  # noqa: E402
from ahtest import (ScrapeLater, export_endpoints, finish_run, main,  # noqa: E402
                     meter_ids, query, run_argv, write_config)

SCALE = 360
EPOCH = "2025-03-14T00:00:00Z"
STEP = 900
HOURS = 2
WRONG, LONG = "000001000002", "000001000003"
JUNK = bytes(random.Random(17).choice([b for b in range(0x00, 0x68) if b != 0x16])
             for _ in range(40000))


def hostile(f):
    addr = decode(f)[0]
    if addr == WRONG:
        g = bytearray(f)
        g[1] ^= 0x01  # A0: another meter on the bus answers (BCD stays BCD)
        g[-2] = sum(g[:-2]) & 0xFF
        return bytes(g)
    if addr == LONG:
        return bytes(f[:9]) + b"\xff" + bytes(range(0x20, 0x60))
    return f


def run(tmp):
    mport = free_port_block(1)
    ep, rp = export_endpoints()
    with Sim(tmp, "--concentrators", "1", "--meters", "4", "--faults", "none",
             "--time-scale", str(SCALE), "--epoch", EPOCH, "--write-config", tmp) as sim:
        proxy = HostileProxy(sim.tcp_endpoint(0), rewrite=hostile, junk=lambda: JUNK)
        proxy.start()
        yaml, _ = write_config(tmp, 1, ep, rp, replace=[
            (f"endpoint: {sim.tcp_endpoint(0)}", f"endpoint: {proxy.endpoint()}"),
            ("listen: 127.0.0.1:9464", f"listen: 127.0.0.1:{mport}"),
            ("timeout_ms: 2000", "timeout_ms: 400"), ("retries: 2", "retries: 1")])
        start = sim.sim_now()
        until = (start // STEP) * STEP + HOURS * 3600
        p = subprocess.Popen(run_argv(yaml, SCALE, start, until), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        scrape = ScrapeLater(mport, (until - start) / SCALE - 3, p.pid)
        t0 = time.monotonic()
        scrape.start()
        rc, err = finish_run(p, (until - start) / SCALE + 60, "run did not stop")
        wall = time.monotonic() - t0
        scrape.join(timeout=10)
        proxy.stop()
    check(rc == 0 and "Sanitizer" not in err, f"exit {rc}: {err[-3000:]}")
    junk = scrape.value("amihead_junk_bytes_total", 'link="c0"') or 0
    check(junk >= 1e6, f"junk counted: {junk} of {proxy.junk_sent} sent: "
          f"{scrape.text[:800]}")
    check(re.search(r"\[c0\] \d+ bytes that answer no request \(\d+ so far\)", err),
          f"junk not logged: {err[-2000:]}")
    check(re.search(rf"meter {WRONG}: no valid reply to [0-9A-F]{{8}} after \d attempt\(s\): "
                    r"address mismatch", err), f"wrong address not named: {err[-3000:]}")
    check(re.search(rf"meter {LONG}: no valid reply to [0-9A-F]{{8}} after \d attempt\(s\): "
                    r"frame length beyond the protocol's limit", err),
          f"L=255 not named: {err[-3000:]}")
    check(not re.search(rf"meter ({WRONG}|{LONG}): .*(timed out|bad checksum)", err),
          f"still called a timeout or bad checksum: {err[-3000:]}")

    first = (start // STEP) * STEP
    lo, hi = first - 86400 + STEP, (until // STEP) * STEP - STEP
    n_iv = (hi - lo) // STEP + 1
    for mid in meter_ids(tmp):
        if mid in (WRONG, LONG):
            continue
        got = query(yaml, mid, "--from", iso(lo), "--to", iso(hi))
        check(len(got) == n_iv, f"{mid}: {len(got)} of {n_iv} intervals under the flood")
    log_lines = len(re.findall(r"bytes that answer no request", err))
    print(f"junk: {proxy.junk_sent / 1e6:.1f} MB sent in {wall:.0f} s, {junk / 1e6:.1f} MB "
          f"counted, {log_lines} log lines; head-end CPU {scrape.cpu_s:.1f} s")


if __name__ == "__main__":
    main("it_link_junk", run)
