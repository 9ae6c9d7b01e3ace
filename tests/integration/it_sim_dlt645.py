#!/usr/bin/env python3
"""it_sim_dlt645 — amisim answers DL/T 645-2007/-1997 over TCP like a
concentrator and its meters, with values equal to its own truth.

Started with --faults none: energy, tariff block, voltages, load records
(06000001 with 12H follow-up), 0610 curves and daily freezes (0506) match
`amisim --series`; registers in memory never decrease; 13H answers with the
concentrator address; unsupported DIs get ERR 02; unknown addresses,
broadcasts and 2007 frames to a 1997 meter get silence; customers plus the
configured technical loss match the district meter.
"""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ahtest  # noqa: E402
from dlt645wire import Link, WILDCARD, bcd_le, di_bytes, load_records, tm5  # noqa: E402

EPOCH = "2025-03-14T00:00:00Z"  # 08:00 in the meters' UTC+8
EPOCH_S = 1741910400
TZ = 8 * 3600
N_CONC, N_METERS = 2, 6


def main():
    common = ["--concentrators", str(N_CONC), "--meters", str(N_METERS), "--seed", "7",
              "--epoch", EPOCH, "--dlt1997-every", "3", "--faults", "none"]
    tmp = tempfile.mkdtemp(prefix="it_sim_dlt645_")
    try:
        with ahtest.Sim(tmp, *common, log_markers=("ERROR", "Sanitizer")) as sim:
            check(sim, common)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check(sim, common):
    base, lines = sim.port_base, sim.lines
    assert lines[0].startswith("concentrator 0 dlt645-tcp 127.0.0.1:%d addr 000000000001"
                               % base), lines
    truth = sim.truth().doc
    ser = {(j["meter"], j["t_s"]): j
           for j in ahtest.amisim_series(common, EPOCH_S - 2 * 86400, EPOCH_S + 1800)}
    link = Link.connect(base)

    # 13H read address: the concentrator's own address (§1.4)
    a, c, data = link.ask(WILDCARD, 0x13, b"")
    assert c == 0x93 and a == "000000000001" and data[::-1].hex() == a

    cols = truth["meter_columns"]
    meters = [dict(zip(cols, m)) for m in truth["meters"] if m[1] == 0]
    for m in meters:
        addr = m["address"]
        if m["protocol"] == 1997:
            # a 1997 meter ignores 2007 frames, answers 01H 9010 (§2.10)
            assert link.ask(addr, 0x11, di_bytes(0x00010000), timeout=0.5) is None
            p = link.ask(addr, 0x01, bytes([0x10, 0x90]))
            assert p and p[1] == 0x81 and p[2][:2] == b"\x10\x90", p
            v = bcd_le(p[2][2:6])
            lo, hi = ser[(addr, EPOCH_S)]["shown"]["fwd"], ser[(addr, EPOCH_S + 900)]["shown"]["fwd"]
            assert lo <= v <= hi, (addr, v, lo, hi)
            continue
        # forward active total now, between the interval's truths
        c, pl = link.read(addr, 0x00010000)
        v = bcd_le(pl)
        lo, hi = ser[(addr, EPOCH_S)]["shown"]["fwd"], ser[(addr, EPOCH_S + 900)]["shown"]["fwd"]
        assert lo <= v <= hi, (addr, v, lo, hi)
        # tariff block: total + T1..T4, tariffs sum to the total
        c, pl = link.read(addr, 0x0001FF00)
        vals = [bcd_le(pl[4 * i:4 * i + 4]) for i in range(5)]
        assert len(pl) == 20 and sum(vals[1:]) == vals[0], vals
        # voltage A within ±3 % of 220 V (or 57.7 V behind a PT)
        c, pl = link.read(addr, 0x02010100)
        un = m["un_v"]
        assert abs(bcd_le(pl) / 10.0 - un) <= 0.031 * un, (addr, pl.hex())
        # load records 07:00..08:00 local via 06000001 N=4 (12H follow-ups)
        c, pl = link.read(addr, 0x06000001, bytes([4]) + tm5(EPOCH_S + TZ - 3600))
        recs = load_records(pl)
        assert len(recs) == 4
        prev = None
        for k, r in enumerate(recs):
            t_utc = EPOCH_S - 3600 + 900 * k
            assert r["t"] == tm5(t_utc + TZ), (r["t"].hex(), k)
            assert r["fwd"] == ser[(addr, t_utc)]["shown"]["fwd"], (addr, k, r, ser[(addr, t_utc)])
            assert prev is None or r["fwd"] >= prev
            prev = r["fwd"]
            if m["wiring"] == "1P2W":
                assert r["volt"][1] is None and r["curr"][2] is None
        # 0610 curve of forward energy: same values
        c, pl = link.read(addr, 0x06100601, bytes([4]) + tm5(EPOCH_S + TZ - 3600))
        assert pl[:5] == tm5(EPOCH_S + TZ - 3600)
        pts = [bcd_le(pl[5 + 4 * i:9 + 4 * i]) for i in range(4)]
        assert pts == [r["fwd"] for r in recs], (pts, recs)
        # daily freeze at local midnight: time and forward block
        c, pl = link.read(addr, 0x05060001)
        assert pl == bytes([0x00, 0x00, 0x14, 0x03, 0x25]), pl.hex()
        c, pl = link.read(addr, 0x05060101)
        midnight = EPOCH_S - 8 * 3600
        assert bcd_le(pl[:4]) == ser[(addr, midnight)]["shown"]["fwd"]
        # status words block and clock
        c, pl = link.read(addr, 0x040005FF)
        assert len(pl) == 14
        c, pl = link.read(addr, 0x04000101)
        assert pl[1:] == bytes([0x14, 0x03, 0x25]) and pl[0] == 5  # Friday
        # a day of records never goes backwards (healthy meter)
        allr = []
        for h in range(0, 24, 4):
            c, pl = link.read(addr, 0x06000001,
                              bytes([16]) + tm5(EPOCH_S + TZ - 86400 + h * 3600))
            allr += load_records(pl)
        f = [r["fwd"] for r in allr]
        assert len(f) == 96 and all(b >= a for a, b in zip(f, f[1:])), addr

    a0 = meters[0]["address"]
    # unsupported DI → abnormal reply D1, ERR 02 (§1.7, §3.1 #5)
    p = link.ask(a0, 0x11, di_bytes(0x0F0F0F0F))
    assert p and p[1] == 0xD1 and p[2] == b"\x02", p
    # unknown address, another concentrator's meter, broadcast: silence
    assert link.ask("000009000001", 0x11, di_bytes(0x00010000), 0.4) is None
    assert link.ask("000002000001", 0x11, di_bytes(0x00010000), 0.4) is None
    assert link.ask("999999999999", 0x11, di_bytes(0x00010000), 0.4) is None

    # customers + technical loss = district (daily freezes of yesterday)
    conc = truth["concentrators"][0]
    dist = None
    cust = 0.0
    for m in [dict(zip(cols, x)) for x in truth["meters"] if x[1] == 0]:
        addr = m["address"]
        if m["protocol"] == 1997:
            s0 = ser[(addr, EPOCH_S - 8 * 3600 - 86400)]["shown"]["fwd"]
            s1 = ser[(addr, EPOCH_S - 8 * 3600)]["shown"]["fwd"]
            day = s1 - s0
        else:
            _, p1 = link.read(addr, 0x05060101)
            _, p2 = link.read(addr, 0x05060102)
            day = bcd_le(p1[:4]) - bcd_le(p2[:4])
        e = day * m["ct"] * m["pt"]
        if m["role"] == "district":
            dist = e
        else:
            cust += e
    loss = (dist - cust) / dist
    want = conc["loss_ppm"] / 1e6
    dct = [dict(zip(cols, x)) for x in truth["meters"] if x[1] == 0 and x[3] == "district"][0]["ct"]
    tol = 8 * dct / dist + 1e-4
    assert abs(loss - want) <= tol, (loss, want, tol)
    print("it_sim_dlt645: ok (%d meters, loss %.4f vs %.4f)" % (len(meters), loss, want))


if __name__ == "__main__":
    main()
