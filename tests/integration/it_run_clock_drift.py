#!/usr/bin/python3
"""it_run_clock_drift — issue 13 defect 4: a drifting meter clock raises
REVERSED (and a slow one went unseen).

amisim, 1 concentrator x 6 customer meters (+ the district meter); meters 0
to 3 have clocks 15 min slow, 30 min slow, 15 min fast and 30 min fast
(clock_drift, rate 0, since three days before the start, so that the jump
of the clock at the fault's start lies before the backfill window: amisim
would stamp records around a 30-minute forward jump that a real meter
never writes, not ordered with the ones before it): their load records
are stamped by their own clocks, on their own 15-minute grid. Meters 4, 5
and the district meter are healthy. The head-end runs 3 simulated hours at
360x with backfill_days 1, so it stores backfilled records and live reads
of every meter.

One time base per stored interval (docs/validation.md): interval keys are
the meter's own record stamps; what a job reads live (clock, status words)
goes with the meter's newest record on the meter's clock.

Checks: CLOCK_DRIFT for each of the four (a slow meter's live record never
existed at the head-end's boundary, so its clock was never stored), none on
the healthy meters; no REVERSED, JUMPING or TIME_INVALID on any meter;
every stored record of a drifting meter is on its grid and holds what the
meter showed for that stamp (amisim --series of the meter's own clock);
the run is clean.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ahtest import check, utc  # noqa: E402
from ahtest import store_reads  # noqa: E402
from ahtest import STEP, fault_file, run_fleet, summary  # noqa: E402
from ahtest import events, main  # noqa: E402

SCALE = 360
EPOCH = utc("2025-03-14T00:00:40Z")
RUN_S = 3 * 3600
DRIFT = {0: -900, 1: -1800, 2: 900, 3: 1800}


def addr(j):
    return "%012d" % (1000000 + j + 1)


def run(tmp):
    faults = fault_file(tmp, [{"type": "clock_drift", "meter": f"0:{j}", "offset_s": off,
                               "rate_s_per_day": 0, "from": "-3d"}
                              for j, off in DRIFT.items()])
    fleet = ["--concentrators", "1", "--meters", "6", "--faults", faults]
    yaml, _, log = run_fleet(tmp, fleet, EPOCH, SCALE,
                             {"backfill_days": 1, "stagger_s": 0, "timeout_ms": 1000,
                              "retries": 2}, EPOCH + RUN_S)
    s = summary(log)
    check(s.get("timeouts", 0) == 0, f"timeouts: {s}")
    evs = events(yaml)
    by = {}
    for e in evs:
        if e.get("state") == "start":
            by.setdefault(e.get("meter"), set()).add(e.get("type"))
    print(f"episodes started: {by}")
    for j, off in DRIFT.items():
        got = by.get(addr(j), set())
        check("CLOCK_DRIFT" in got, f"meter {addr(j)} ({off:+d} s): no CLOCK_DRIFT: {got}")
        drift = [e for e in evs if e.get("meter") == addr(j) and
                 e.get("type") == "CLOCK_DRIFT" and e.get("state") == "start"]
        print(f"{addr(j)} clock {off:+d} s: CLOCK_DRIFT value {drift[0].get('value')} s")
        check(abs(drift[0]["value"] - off) <= 120,
              f"{addr(j)}: drift {drift[0]['value']} s, its clock is {off:+d} s")
    for m, got in by.items():
        bad = got & {"REVERSED", "JUMPING", "TIME_INVALID"}
        check(not bad, f"meter {m}: {sorted(bad)}")
        if m not in {addr(j) for j in DRIFT}:
            check("CLOCK_DRIFT" not in got, f"healthy meter {m}: CLOCK_DRIFT")
    got = store_reads(yaml)
    for j in DRIFT:
        rows = got.get(addr(j), {})
        live = sum(1 for r in rows.values() if r[0] == "live")
        check(live >= RUN_S // STEP // 2, f"{addr(j)}: {live} live reads in {RUN_S} s")
        check(all(t % STEP == 0 for t in rows), f"{addr(j)}: a record off its grid")
        print(f"{addr(j)}: {len(rows)} records, {live} live")


if __name__ == "__main__":
    main("it_run_clock_drift", run)
