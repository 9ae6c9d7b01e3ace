#!/usr/bin/python3
"""it_run_stale — a meter answering load-record requests with records
stamped far in the past (issue 17 item 6): amisim's concentrator behind a
hostile proxy (hostileproxy.py) that restamps every 06000001 record of
meter 000001000001 to 2000-01-01 00:00 (its CS fixed, so the frame is
well formed), 1 concentrator x 3 meters at 360x for two simulated hours.

Before: the 2000-01-01 record was stored (interval end 1999-12-31T16:00Z,
backfill) and published as clean. Now: each is refused with a log line
naming the requested and the sent time, counted in
amihead_records_refused_total, and the requested interval stays a gap: the
meter has no read at all, the other meters every interval, and the
subscriber saw no read of 2000.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ahtest import Sim, check, free_port_block, iso  # noqa: E402
from dlt645wire import decode  # noqa: E402
from hostileproxy import HostileProxy, reframe  # noqa: E402
from ahtest import (ScrapeLater, Tail, export_endpoints, finish_run, main,  # noqa: E402
                     meter_ids, query, run_argv, write_config)
import subprocess  # noqa: E402

SCALE = 360
EPOCH = "2025-03-14T00:00:00Z"
STEP = 900
HOURS = 2
TARGET = "000001000001"
LR = bytes([0x01, 0x00, 0x00, 0x06])  # DI 06000001, DI0 first


def restamp(f):
    addr, c, data = decode(f)
    if addr != TARGET or c != 0x91 or data[:4] != LR or data[4:6] != b"\xa0\xa0":
        return f
    p = bytearray(data[4:])
    ll = p[2]
    p[3:8] = bytes([0x00, 0x00, 0x01, 0x01, 0x00])  # mm hh DD MM YY: 2000-01-01 00:00
    p[3 + ll] = sum(p[:3 + ll]) & 0xFF
    return reframe(f, data[:4] + bytes(p))


def run(tmp):
    mport = free_port_block(1)
    ep, rp = export_endpoints()
    # the proxy restamps single-frame replies; catch-up reads of N > 1
    # blocks come in 12H follow-ups (issue 16 item 2), so the target runs
    # firmware that takes N = 1 only: every record it sends is restamped
    faults = os.path.join(tmp, "faults.json")
    with open(faults, "w") as f:
        f.write('{"faults": [{"type": "lr_single", "meter": "0:0"}]}')
    with Sim(tmp, "--concentrators", "1", "--meters", "3", "--faults", faults,
             "--time-scale", str(SCALE), "--epoch", EPOCH, "--write-config", tmp) as sim:
        proxy = HostileProxy(sim.tcp_endpoint(0), rewrite=restamp)
        proxy.start()
        yaml, _ = write_config(tmp, 1, ep, rp, replace=[
            (f"endpoint: {sim.tcp_endpoint(0)}", f"endpoint: {proxy.endpoint()}"),
            ("listen: 127.0.0.1:9464", f"listen: 127.0.0.1:{mport}")])
        start = sim.sim_now()
        until = (start // STEP) * STEP + HOURS * 3600
        with Tail(tmp, ep, rp) as tail:
            p = subprocess.Popen(run_argv(yaml, SCALE, start, until),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            scrape = ScrapeLater(mport, (until - start) / SCALE - 3)
            scrape.start()
            rc, err = finish_run(p, (until - start) / SCALE + 40, "run did not stop")
            scrape.join(timeout=10)
            tail.drain()
            msgs = tail.messages()
        proxy.stop()
    check(rc == 0 and "Sanitizer" not in err, f"exit {rc}: {err[-3000:]}")
    refused = re.findall(rf"meter {TARGET}: load record stamped 1999-12-31T16:00:00Z "
                         r"answers a request for (\S+) \((\d+) s earlier", err)
    check(len(refused) >= 4, f"refusals logged: {len(refused)}: {err[-3000:]}")
    n_refused = scrape.value("amihead_records_refused_total", 'link="c0"')
    check(n_refused and n_refused >= 4, f"metric: {scrape.text[:1500]}")

    first = (start // STEP) * STEP
    lo, hi = first - 86400 + STEP, (until // STEP) * STEP - STEP
    n_iv = (hi - lo) // STEP + 1
    old = query(yaml, TARGET, "--from", "1999-12-01T00:00:00Z", "--to",
                "2000-01-02T00:00:00Z")
    check(not old, f"a record of 2000 was stored: {old[:2]}")
    mine = query(yaml, TARGET, "--from", iso(lo), "--to", iso(hi))
    check(not mine, f"{TARGET}: {len(mine)} reads stored, want none: {mine[:2]}")
    for mid in meter_ids(tmp):
        if mid == TARGET:
            continue
        got = query(yaml, mid, "--from", iso(lo), "--to", iso(hi))
        check(len(got) == n_iv, f"{mid}: {len(got)} of {n_iv} intervals")
    pub = [b for _, _, b in msgs if b["type"] == "read"]
    check(pub, "nothing published")
    check(not [b for b in pub if b["meter"] == TARGET or b["end"].startswith("1999")
               or b["end"].startswith("2000")],
          "a stale record was published")
    print(f"{n_refused:.0f} stale records refused ({len(refused)} logged, rate-limited), "
          f"{proxy.frames} frames relayed, "
          f"{len(pub)} reads published")


if __name__ == "__main__":
    main("it_run_stale", run)
