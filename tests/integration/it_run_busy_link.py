#!/usr/bin/python3
"""it_run_busy_link — issue 13 defect 6: the tail of a busy line starves.

amisim, 1 concentrator x 8 customer meters (+ the district meter) behind a
slow link (amisim `latency` fault, 20..40 ms of real time per request: at
120x 2.4..4.8 simulated seconds, a 4G round trip of 300..1000 ms made a
few times slower so that a small bus is oversubscribed). The head-end
starts with an empty store and backfill_days 3 — the same as a link's
first cycle after a 3-day gap: 9 meters x 288 missing records, about 2.6
simulated hours of link time, while one live sweep (clock, V, I, status
words, counters, the newest record) of the 9 meters takes about 6 minutes.

It runs 1 simulated hour. Checks:
- live reads of every meter before backfill of any: every meter's first
  live read is in the first cycle's interval;
- backfill does not starve live collection: no meter goes longer than two
  intervals (30 min) without a live read (the worst case is printed);
- the first cycle ends within two intervals (it was 1.8 simulated hours:
  192 load records per meter, meter after meter, before the last meter's
  live read; in 2 hours 8 of the 9 meters had no live read);
- backfill still goes on: at least one meter's whole 3-day backlog is in
  after the hour (backfill goes meter after meter and yields at each
  boundary to the next live sweep).
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ahtest import check, iso, utc  # noqa: E402
from ahtest import store_reads  # noqa: E402
from ahtest import STEP, fault_file, meter_ids, run_fleet, summary  # noqa: E402
from ahtest import main  # noqa: E402

SCALE = 120
EPOCH = utc("2025-03-14T04:00:20Z")  # local 12:00:20
RUN_S = int(os.environ.get("AH_RUN_S", 3600))


def run(tmp):
    faults = fault_file(tmp, [{"type": "latency", "concentrator": 0, "min_ms": 20,
                               "max_ms": 40}])
    fleet = ["--concentrators", "1", "--meters", "8", "--faults", faults]
    until = EPOCH + RUN_S
    yaml, start, log = run_fleet(tmp, fleet, EPOCH, SCALE,
                                 {"backfill_days": 3, "stagger_s": 0, "timeout_ms": 1000,
                                  "retries": 2}, until)
    if os.environ.get("AH_LOG_OUT"):
        with open(os.environ["AH_LOG_OUT"], "w") as f:
            f.write(log)
    s = summary(log)
    check(s.get("timeouts", 0) == 0, f"timeouts on a slow but sound link: {s}")
    done = [(utc(b[:19] + "Z"), int(ms)) for b, ms in
            re.findall(r"cycle (\S+Z) done in (\d+) ms", log)]
    # no cycle finished: the first one took the whole run at least
    first_b, first_ms = done[0] if done else (start // STEP * STEP, (until - start) * 1000)
    first_s = first_ms / 1000
    got = store_reads(yaml)
    b0 = start // STEP * STEP
    top = until // STEP * STEP
    worst, worst_m = 0, None
    problems = []
    total_back = 0
    for m in meter_ids(tmp):
        rows = got.get(m, {})
        live = sorted(t for t, r in rows.items() if r[0] == "live")
        back = sum(1 for r in rows.values() if r[0] == "backfill")
        if not live:
            problems.append(f"{m}: never read live")
            continue
        # staleness: how long the meter's newest live read lags the
        # interval the head-end is in
        marks = [b0] + live + [top]
        lag = max(b - a for a, b in zip(marks, marks[1:]))
        print(f"{m}: {len(live)} live reads, first {iso(live[0])}, {back} backfilled, "
              f"longest without a live read {lag // 60} min")
        if lag > worst:
            worst, worst_m = lag, m
        if live[0] > b0 + STEP:
            problems.append(f"{m}: first live read {iso(live[0])}: it waited behind "
                            f"other meters' backfill")
        total_back += back
    print(f"first cycle {iso(first_b)} took {first_s / 60:.1f} simulated min; "
          f"worst staleness {worst // 60} min ({worst_m}); {len(done)} cycles; {s}")
    if total_back < 287:
        problems.append(f"{total_back} records backfilled in the hour: backfill starves")
    check(not problems, "; ".join(problems[:6]))
    check(first_s <= 2 * STEP, f"first cycle took {first_s / 3600:.2f} simulated h")
    check(worst <= 2 * STEP, f"{worst_m} went {worst // 60} min without a live read")


if __name__ == "__main__":
    main("it_run_busy_link", run)
