#!/usr/bin/python3
"""it_run_late_cycle — issue 13 defect 4, second half: a live cycle that
runs late must not file what it reads under an interval that ended before
the read.

amisim, 1 concentrator x 8 customer meters (+ the district meter) behind a
slow link (latency 100..140 ms real per request: 12..17 simulated seconds
at 120x), so that one live sweep of the 9 meters takes about 20 simulated
minutes, longer than the 15-minute interval. Meter 7 (the last customer
meter of the bus) gets a reversed CT at R, the boundary after the first
one (`reversed` fault from R): from R on its status words carry the
reverse-flow bits.

The head-end starts 20 s after a boundary B0 (backfill_days 0). Its first
cycle reaches meter 7 after R. Filing the status words read then under
B0 (the cycle's boundary, the interval before the reversal) starts a
STATUS_FAULT episode at B0, before the fault. With one time base per
interval they go with the meter's newest record on its clock, R.

Checks: meter 7 shows the reversal (a STATUS_FAULT or REVERSED episode),
no episode of meter 7 starts before R, and the cycles overran (the case
is real); every meter was read live.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ahtest import check, iso, utc  # noqa: E402
from ahtest import store_reads  # noqa: E402
from ahtest import fault_file, meter_ids, run_fleet, summary  # noqa: E402
from ahtest import events, main  # noqa: E402

SCALE = 120
B0 = utc("2025-03-14T04:00:00Z")  # local 12:00, a daytime load
R = B0 + 900
EPOCH = B0 + 20
UNTIL = R + 3600
VICTIM = "000001000008"  # customer meter index 7


def run(tmp):
    faults = fault_file(tmp, [
        {"type": "latency", "concentrator": 0, "min_ms": 100, "max_ms": 140},
        {"type": "reversed", "meter": "0:7", "from": iso(R)}])
    fleet = ["--concentrators", "1", "--meters", "8", "--faults", faults]
    yaml, start, log = run_fleet(tmp, fleet, EPOCH, SCALE,
                                 {"backfill_days": 0, "stagger_s": 0, "timeout_ms": 2000,
                                  "retries": 2}, UNTIL)
    check(start < B0 + 120, f"started late: {iso(start)}")
    s = summary(log)
    print(f"run: {s}")
    check(s.get("overruns", 0) >= 1, f"the live sweep fitted the interval: {s}")
    evs = [e for e in events(yaml) if e.get("meter") == VICTIM and
           e.get("state") == "start"]
    for e in evs:
        print(f"{VICTIM}: {e['type']} since {e['since']}")
    check(any(e["type"] in ("STATUS_FAULT", "REVERSED") for e in evs),
          f"{VICTIM}: the reversal was not seen: {evs}")
    for e in evs:
        check(utc(e["since"][:19] + "Z") >= R,
              f"{VICTIM}: {e['type']} since {e['since']}, before the reversal at "
              f"{iso(R)}: read late, filed under an older interval")
    got = store_reads(yaml)
    for m in meter_ids(tmp):
        check(any(r[0] == "live" for r in got.get(m, {}).values()),
              f"{m}: never read live")


if __name__ == "__main__":
    main("it_run_late_cycle", run)
