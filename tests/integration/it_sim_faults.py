#!/usr/bin/env python3
"""it_sim_faults — every injected fault shows in what amisim answers over
DL/T 645 the way the real fault would (reference/vee.md), one check per type:

meter faults (concentrator 0, from a --faults spec file):
  stopped      register frozen in the load records while current flows
  reversed     negative phase current, reverse register grows, SW1 D4 set
  backwards    forward register decreases
  jumping      one interval advance above 1.2 x Emax
  creeping     0.01 kWh every interval with zero current
  imbalance    phase currents differ by more than 20 %
  phase_loss   one phase voltage near 0 under load, SW6 D0, loss-of-voltage count
  clock_drift  meter clock off by the configured offset
  theft        registers 40 % of the truth, cover-open event recorded
  missing      no records during a power-down, power-down event recorded
link faults (concentrators 1..7, p = 1): no reply, late reply, bad checksum,
junk bytes, truncated frame, TCP disconnect, concentrator offline.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ahtest  # noqa: E402
from dlt645wire import (Link, bcd_le, find_frame, frame, hms_s,  # noqa: E402
                        load_records, recv_frame, tm5)

AMISIM = os.path.join(ahtest.BIN, "amisim")
EPOCH = "2025-03-14T00:00:00Z"
E = 1741910400
TZ = 8 * 3600
H = 3600


def records(link, addr, start_utc, n):
    """n load records from start (UTC) via 06000001; list of dicts"""
    out = []
    while len(out) < n:
        k = min(8, n - len(out))
        out += load_records(link.value(addr, 0x06000001, bytes([k]) + tm5(start_utc + TZ)))
        start_utc += 900 * k
    return out[:n]


def main():
    common = ["--concentrators", "8", "--meters", "60", "--seed", "3", "--epoch", EPOCH]
    tmp = "/tmp/it_sim_faults_%d" % os.getpid()
    os.makedirs(tmp, exist_ok=True)
    subprocess.run([AMISIM] + common + ["--truth", tmp + "/t0.json"], check=True, timeout=60)
    t0 = json.load(open(tmp + "/t0.json"))
    cols = t0["meter_columns"]
    ms = [dict(zip(cols, m)) for m in t0["meters"] if m[1] == 0 and m[3] == "customer"]
    busy = [m for m in ms if sum(m["mean_import_per_tariff"]) > 300 and not m["pv"]]
    three = [m for m in busy if m["wiring"] == "3P4W"]
    one = [m for m in busy if m["wiring"] == "1P2W"]
    pick = {}
    pick["phase_imbalance"], pick["phase_loss"] = three[0], three[1]
    rest = [m for m in one + three[2:]]
    for name in ["stopped", "reversed", "backwards", "jumping", "creeping", "clock_drift",
                 "theft", "missing"]:
        pick[name] = rest.pop(0)
    spec = {"faults": [
        {"type": "stopped", "from": "-6h", "to": "-2h"},
        {"type": "reversed", "from": "-6h", "to": "+1d"},
        {"type": "backwards", "from": "-6h", "to": "-2h"},
        {"type": "jumping", "from": "-3h"},
        {"type": "creeping", "from": "-6h", "to": "-2h"},
        {"type": "phase_imbalance", "from": "-6h", "to": "+1d", "phase": "B"},
        {"type": "phase_loss", "from": "-6h", "to": "+1d", "phase": "C"},
        {"type": "clock_drift", "from": "-1d", "offset_s": 600, "rate_s_per_day": 0},
        {"type": "theft", "from": "-6h", "fraction": 0.4},
        {"type": "missing", "from": "-6h", "to": "-4h"},
    ]}
    for f in spec["faults"]:
        f["meter"] = "0:%d" % pick[f["type"]]["index"]
    links = ["no_reply", "late_reply", "bad_checksum", "junk", "truncated", "disconnect"]
    for k, t in enumerate(links, 1):
        f = {"type": t, "concentrator": k, "p": 1.0}
        if t == "late_reply":
            f["delay_ms"] = 1500
        spec["faults"].append(f)
    spec["faults"].append({"type": "offline", "concentrator": 7, "from": "-1h", "to": "+1h"})
    json.dump(spec, open(tmp + "/faults.json", "w"))

    try:
        with ahtest.Sim(tmp, *common, "--faults", tmp + "/faults.json",
                        log_markers=("Sanitizer",)) as sim:
            check(sim, common, tmp, spec, pick)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check(sim, common, tmp, spec, pick):
    base = sim.port_base
    truth = sim.truth().doc
    assert len([f for f in truth["faults"]]) == len(spec["faults"])
    link = Link.connect(base, timeout=2)
    a = lambda name: pick[name]["address"]
    emax = lambda m: m["un_v"] * m["imax_a"] * (3 if m["wiring"] == "3P4W" else 1) * 0.25 / 10.0

    # stopped: frozen while current flows
    r = records(link, a("stopped"), E - 6 * H + 900, 15)
    assert len({x["fwd"] for x in r}) == 1, [x["fwd"] for x in r]
    assert any(abs(x["curr"][0]) > 0 for x in r)
    # reversed CT: negative current, reverse register grows, SW1 D4
    r = records(link, a("reversed"), E - 5 * H, 8)
    assert all(x["curr"][0] < 0 for x in r if x["curr"][0])
    assert r[-1]["rev"] > r[0]["rev"] and r[-1]["fwd"] == r[0]["fwd"]
    sw = link.value(a("reversed"), 0x04000501)
    assert sw[0] & 0x10, sw.hex()
    # backwards: forward register decreases
    r = records(link, a("backwards"), E - 5 * H, 8)
    assert r[-1]["fwd"] < r[0]["fwd"]
    # jumping: one interval above 1.2 x Emax
    r = records(link, a("jumping"), E - 4 * H, 8)
    d = [y["fwd"] - x["fwd"] for x, y in zip(r, r[1:])]
    assert max(d) > 1.2 * emax(pick["jumping"]), (d, emax(pick["jumping"]))
    assert sorted(d)[-2] < emax(pick["jumping"])
    # creeping: 0.01 kWh per interval with no current
    r = records(link, a("creeping"), E - 5 * H, 8)
    d = [y["fwd"] - x["fwd"] for x, y in zip(r, r[1:])]
    assert d == [1] * 7 and all(x["curr"][0] == 0 for x in r), (d, r[0])
    # imbalance: phase B heavy now
    cur = link.value(a("phase_imbalance"), 0x0202FF00)
    i3 = [abs(bcd_le(cur[3 * j:3 * j + 3], True)) for j in range(3)]
    assert (max(i3) - min(i3)) / max(i3) > 0.2 and i3[1] == max(i3), i3
    # phase loss C: voltage near 0 under load, status word 6 D0, event count
    m = pick["phase_loss"]
    v = link.value(a("phase_loss"), 0x0201FF00)
    cur = link.value(a("phase_loss"), 0x0202FF00)
    vc, ic = bcd_le(v[4:6]) / 10.0, bcd_le(cur[6:9], True)
    assert vc < 0.78 * m["un_v"] and ic != 0 and bcd_le(v[0:2]) / 10 > 200, (vc, ic)
    assert link.value(a("phase_loss"), 0x04000506)[0] & 1
    assert bcd_le(link.value(a("phase_loss"), 0x10030001)) == 1
    # clock drift: 600 s ahead
    now_local = time.time() - sim.started + E + TZ
    t = link.value(a("clock_drift"), 0x04000102)
    hms = hms_s(t)
    want = (now_local + 600) % 86400
    assert abs(hms - want) < 10, (hms, want)
    # theft: 40 % registered, cover open event at the start
    r = records(link, a("theft"), E - 4 * H, 5)
    ser = ahtest.amisim_series(common + ["--faults", tmp + "/faults.json"],
                               "2025-03-13T20:00:00Z", "2025-03-13T21:00:00Z",
                               meter=a("theft"))
    tr = [x["true"]["fwd"] for x in ser]
    shown = r[-1]["fwd"] - r[0]["fwd"]
    true_adv = tr[-1] - tr[0]
    assert abs(shown - 0.4 * true_adv) <= 5, (shown, true_adv)
    assert bcd_le(link.value(a("theft"), 0x03300D00)) == 1
    ev = link.value(a("theft"), 0x03300D01)
    assert ev[:6] == bytes([0]) + tm5(E - 6 * H + TZ), ev[:6].hex()
    # missing: the next record after the outage is the one at its end
    r = records(link, a("missing"), E - 6 * H, 1)
    assert r[0]["t"] == tm5(E - 4 * H + TZ), r[0]["t"].hex()
    assert bcd_le(link.value(a("missing"), 0x03110000)) >= 1
    ev = link.value(a("missing"), 0x03110001)
    assert ev == bytes([0]) + tm5(E - 6 * H + TZ) + bytes([0]) + tm5(E - 4 * H + TZ), ev.hex()

    # link faults, concentrators 1..7
    req = lambda k: frame("%06d000001" % (k + 1), 0x11, bytes([0, 0, 1, 0]))
    def talk(k, timeout=1.0):
        s = socket.create_connection(("127.0.0.1", base + k), timeout=2)
        t = time.time()
        s.sendall(req(k))
        buf, closed = recv_frame(s, timeout, check=False)
        s.close()
        return buf, closed, time.time() - t
    buf, closed, _ = talk(1)
    assert buf == b"" and not closed, "no_reply answered"
    buf, closed, dt = talk(2, 3.0)
    assert find_frame(buf) and dt >= 1.4, ("late_reply", dt)
    buf, _, _ = talk(3)
    f = find_frame(buf, check=False)
    assert f and not find_frame(buf), "bad checksum not bad"
    buf, _, _ = talk(4)
    f = find_frame(buf)
    assert f and f[1] > 0 and buf[0] != 0x68, ("junk", buf.hex())
    buf, closed, _ = talk(5)
    assert buf and not find_frame(buf, check=False), ("truncated", buf.hex())
    buf, closed, _ = talk(6)
    assert buf == b"" and closed, "disconnect"
    try:
        buf, closed, _ = talk(7)
        assert buf == b"" and closed, "offline concentrator answered"
    except (ConnectionRefusedError, ConnectionResetError):
        pass
    print("it_sim_faults: ok (10 meter faults, 7 link faults)")


if __name__ == "__main__":
    main()
