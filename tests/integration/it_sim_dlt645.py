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
import json, os, random, socket, subprocess, sys, time

BIN = os.environ.get("AH_BIN", "build/bin")
AMISIM = os.path.join(BIN, "amisim")
EPOCH = "2025-03-14T00:00:00Z"  # 08:00 in the meters' UTC+8
EPOCH_S = 1741910400
TZ = 8 * 3600
N_CONC, N_METERS = 2, 6


def bcd(n):
    return ((n // 10) << 4) | (n % 10)


def frame(addr, c, data):
    a = bytes.fromhex(addr)[::-1]
    d = bytes((x + 0x33) & 0xFF for x in data)
    f = b"\x68" + a + b"\x68" + bytes([c, len(d)]) + d
    return b"\xfe" * 4 + f + bytes([sum(f) & 0xFF, 0x16])


def parse(buf):
    i = buf.find(b"\x68")
    while i >= 0 and len(buf) - i >= 12:
        if buf[i + 7] == 0x68:
            L = buf[i + 9]
            if len(buf) - i < 12 + L:
                return None
            f = buf[i:i + 12 + L]
            if sum(f[:-2]) & 0xFF == f[-2] and f[-1] == 0x16:
                return (f[1:7][::-1].hex(), f[8],
                        bytes((x - 0x33) & 0xFF for x in f[10:10 + L]))
        i = buf.find(b"\x68", i + 1)
    return None


def di_bytes(di):
    return di.to_bytes(4, "little")


def bcd_le(b, sign=False):
    b = bytearray(b)
    neg = False
    if sign and b[-1] & 0x80:
        neg = True
        b[-1] &= 0x7F
    v = int(bytes(b[::-1]).hex())
    return -v if neg else v


def tm5(local_s):
    t = time.gmtime(local_s)
    return bytes([bcd(t.tm_min), bcd(t.tm_hour), bcd(t.tm_mday), bcd(t.tm_mon),
                  bcd(t.tm_year % 100)])


class Link:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=3)

    def ask(self, addr, c, data, timeout=1.5):
        self.s.sendall(frame(addr, c, data))
        buf = b""
        end = time.time() + timeout
        while time.time() < end:
            self.s.settimeout(max(0.01, end - time.time()))
            try:
                chunk = self.s.recv(4096)
            except socket.timeout:
                break
            if not chunk:
                break
            buf += chunk
            p = parse(buf)
            if p:
                return p
        return None

    def read(self, addr, di, extra=b""):
        """11H read with 12H follow-ups; returns (ctrl, payload after DI)."""
        p = self.ask(addr, 0x11, di_bytes(di) + extra)
        assert p, "no reply to %08X from %s" % (di, addr)
        _, c, data = p
        assert data[:4] == di_bytes(di) or c & 0x40, data.hex()
        if c & 0x40:
            return c, data
        payload = data[4:]
        seq = 0
        while c & 0x20:
            seq += 1
            p = self.ask(addr, 0x12, di_bytes(di) + bytes([seq]))
            assert p, "no follow-up %d" % seq
            _, c, data = p
            assert c & 0x1F == 0x12 and data[-1] == seq, (hex(c), data.hex())
            payload += data[4:-1]
        return c, payload


def load_records(payload):
    out = []
    i = 0
    while i < len(payload):
        assert payload[i:i + 2] == b"\xa0\xa0", payload[i:].hex()
        ll = payload[i + 2]
        rec = payload[i:i + 3 + ll]
        assert sum(rec) & 0xFF == payload[i + 3 + ll] and payload[i + 4 + ll] == 0xE5
        t = rec[3:8]
        body = rec[8:]
        # class 1: 3 V (2) 3 I (3) f (2) AA; class 2: 8 × 3 AA; class 3: 4 × 2 AA
        k = 0
        volts = [None if body[k + 2 * j:k + 2 * j + 2] == b"\xff\xff"
                 else bcd_le(body[k + 2 * j:k + 2 * j + 2]) for j in range(3)]
        k += 6
        curr = [None if body[k + 3 * j:k + 3 * j + 3] == b"\xff\xff\xff"
                else bcd_le(body[k + 3 * j:k + 3 * j + 3], True) for j in range(3)]
        k += 9 + 2 + 1 + 24 + 1 + 8 + 1
        fwd = bcd_le(body[k:k + 4])
        rev = bcd_le(body[k + 4:k + 8])
        out.append({"t": t, "fwd": fwd, "rev": rev, "volt": volts, "curr": curr})
        i += 5 + ll
    return out


def start(args):
    for _ in range(20):
        base = random.randint(20000, 40000)
        p = subprocess.Popen([AMISIM, "--port-base", str(base)] + args,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines = []
        deadline = time.time() + 10
        while time.time() < deadline:
            line = p.stdout.readline()
            if not line:
                break
            lines.append(line.strip())
            if line.strip() == "ready":
                return p, base, lines
        p.kill()
        p.wait()
    sys.exit("amisim did not start")


def series(args, frm, to):
    out = subprocess.run([AMISIM] + args + ["--series", "%s,%s" % (frm, to)], check=True,
                         capture_output=True, text=True, timeout=60).stdout
    res = {}
    for line in out.splitlines():
        j = json.loads(line)
        res[(j["meter"], j["t_s"])] = j
    return res


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def main():
    common = ["--concentrators", str(N_CONC), "--meters", str(N_METERS), "--seed", "7",
              "--epoch", EPOCH, "--dlt1997-every", "3", "--faults", "none"]
    truth_path = "/tmp/it_sim_dlt645_%d.json" % os.getpid()
    proc, base, lines = start(common + ["--truth", truth_path])
    try:
        assert lines[0].startswith("concentrator 0 dlt645-tcp 127.0.0.1:%d addr 000000000001"
                                   % base), lines
        truth = json.load(open(truth_path))
        ser = series(common, iso(EPOCH_S - 2 * 86400), iso(EPOCH_S + 1800))
        link = Link(base)

        # 13H read address: the concentrator's own address (§1.4)
        a, c, data = link.ask("aaaaaaaaaaaa", 0x13, b"")
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
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
        err = proc.stderr.read()
        if "ERROR" in err or "Sanitizer" in err:
            print(err, file=sys.stderr)
            sys.exit(1)
        try:
            os.unlink(truth_path)
        except OSError:
            pass


if __name__ == "__main__":
    main()
