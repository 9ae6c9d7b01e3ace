#!/usr/bin/python3
"""amihead read against amisim's DL/T 645-2007 meters, over TCP and over a
paced pseudo-terminal (2400 bit/s 8E1, real response delay).

What a field engineer does with a laptop at a concentrator: read the energy
register, the voltages, the clock, a load record and a daily freeze; see an
unsupported DI fail at once (ERR=02, no retries) and a silent address fail
with the configured retries and a timeout. Values are checked against the
simulator's truth file."""
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ahtest  # noqa: E402

BIN = os.environ.get("AH_BIN", "build/bin")
AMIHEAD = os.path.join(BIN, "amihead")

EPOCH = "2025-03-14T00:00:00Z"   # 08:00 meter local time (UTC+8)
SERIES = "2025-03-13T15:00:00Z,2025-03-14T03:00:00Z"


def read(link, addr, di, *extra, timeout_ms=2000, retries=2):
    cmd = [AMIHEAD, "read", *link, "--addr", addr, "--di", di, "--json",
           "--timeout-ms", str(timeout_ms), "--retries", str(retries), *extra]
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    return p, time.monotonic() - t0


def ok(link, addr, di, *extra):
    p, _ = read(link, addr, di, *extra)
    if p.returncode != 0:
        ahtest.fail(f"read {di} from {addr}: exit {p.returncode}: {p.stderr}")
    obj = json.loads(p.stdout)
    ahtest.check(obj["addr"] == addr and obj["di"] == di, f"echo of addr/di: {obj}")
    return obj


def scenario(link, sim, label):
    addr = sim.meter_addr(0, 0)
    truth = sim.truth()

    e = ok(link, addr, "00010000")
    ahtest.check(e["name"] == "forward_active_total" and e["unit"] == "kWh", e)
    now = sim.sim_now()
    lo, hi = truth.register_bounds(addr, now - 120, now + 120)
    ahtest.check(lo <= e["value"] <= hi,
                 f"{label}: 00010000 = {e['value']} outside truth [{lo}, {hi}]")

    # a healthy meter's register never decreases
    e2 = ok(link, addr, "00010000")
    ahtest.check(e2["value"] >= e["value"], f"{label}: register went back {e} -> {e2}")

    tariffs = ok(link, addr, "0001FF00")
    ahtest.check(len(tariffs["value"]) == 5, f"block of total + 4 tariffs: {tariffs}")
    ahtest.check(abs(sum(tariffs["value"][1:]) - tariffs["value"][0]) < 0.005,
                 f"{label}: tariffs do not add up to the total: {tariffs}")

    v = ok(link, addr, "0201FF00")
    ahtest.check(len(v["value"]) == 3 and v["unit"] == "V", v)
    ahtest.check(180 < v["value"][0] < 260, f"{label}: phase A voltage {v}")

    d = ok(link, addr, "04000101")
    ahtest.check(d["value"]["date"].startswith("2025-03-1"), f"{label}: meter date {d}")
    ok(link, addr, "04000102")

    # load record from meter memory, meter-local time (UTC+8): 00:00 local
    # on 14 March is 16:00 UTC on the 13th — within the simulated history
    lr = ok(link, addr, "06000001", "--n", "1", "--from", "2025-03-14 00:00")
    rec = lr["value"][0]
    ahtest.check(rec["time"] == "2025-03-14T00:00", f"{label}: record time {rec}")
    want = truth.register_at(addr, ahtest.utc("2025-03-13T16:00:00Z"))
    ahtest.check(abs(rec["forward_active_total"] - want) < 0.005,
                 f"{label}: load record register {rec['forward_active_total']} != truth {want}")

    fz = ok(link, addr, "05060101")
    ahtest.check(len(fz["value"]) == 5, f"{label}: daily freeze block {fz}")
    want = truth.register_at(addr, ahtest.utc("2025-03-13T16:00:00Z"))
    ahtest.check(abs(fz["value"][0] - want) < 0.005,
                 f"{label}: daily freeze {fz['value'][0]} != truth at 00:00 local {want}")

    # unsupported DI: ERR=02 at once, no retries
    p, dt = read(link, addr, "04000C01", timeout_ms=1500, retries=3)
    ahtest.check(p.returncode == 1, f"{label}: unsupported DI exit {p.returncode}")
    ahtest.check("ERR=02" in p.stderr and "no requested data" in p.stderr, p.stderr)
    ahtest.check(dt < 1.5, f"{label}: error reply took {dt:.2f}s: it was retried")

    # silent address: retries, then a timeout naming it
    p, dt = read(link, "999999000001", "00010000", timeout_ms=300, retries=2)
    ahtest.check(p.returncode == 1, f"{label}: silent meter exit {p.returncode}")
    ahtest.check("no reply after 3 attempt" in p.stderr and "timed out" in p.stderr,
                 p.stderr)
    ahtest.check(dt >= 0.85, f"{label}: 3 attempts of 300 ms took only {dt:.2f}s")
    print(f"ok: {label}")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        with ahtest.Sim(tmp, "--concentrators", "1", "--meters", "4", "--faults", "none",
                        "--epoch", EPOCH, "--time-scale", "1", "--truth-series", SERIES) as sim:
            scenario(["--tcp", sim.tcp_endpoint(0)], sim, "tcp")
        with ahtest.Sim(tmp, "--concentrators", "1", "--meters", "2", "--faults", "none",
                        "--epoch", EPOCH, "--time-scale", "1", "--truth-series", SERIES, "--pty", "--baud", "2400",
                        "--td-ms", "50") as sim:
            scenario(["--serial", sim.pty_path(0), "--baud", "2400", "--parity", "even"],
                     sim, "pty 2400 8E1")


if __name__ == "__main__":
    main()
