#!/usr/bin/python3
"""it_run_clock_midnight — issue 13 defect 3: date and time read apart give
a clock one day off.

amisim, 3 concentrators x 1 customer meter (+ the district meter), every
customer meter without 0400010C (--no-datetime-every 1: it answers ERR 02,
as meters of other programmes do) and 25 s slow (clock_drift offset -25 s,
rate 0: healthy, far below validation.clock_drift_s); the district meters
have 0400010C. Every link is a 4G link with 1000 ms round trips (amisim
`latency` fault, min = max), which at 30x is 30 simulated seconds per
request.

The head-end starts at local 23:45:10 (backfill_days 0, stagger 0, no daily
freeze that day) and runs to local 00:10. Its 00:00 cycle begins each link
with the customer meter whose clock still shows 23:59:35+: a date read then
and a time read one round trip later (00:00:05+) are one day apart — the
field's "-86,318 s" — unless the clock is read atomically (0400010C) or as
time, date, time with the pair accepted only when consistent.

Checks: no CLOCK_DRIFT and no TIME_INVALID event; every stored meter clock
within 30 min of its interval; the customer meters' clocks read after
midnight are there (the clock was not simply dropped); the run is clean.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ahtest import check, iso, utc  # noqa: E402
from ahtest import fault_file, meter_ids, run_fleet  # noqa: E402
from ahtest import events, main, query  # noqa: E402

SCALE = 30
LOCAL_MIDNIGHT = utc("2025-03-14T16:00:00Z")  # local 2025-03-15 00:00 (UTC+8)
EPOCH = LOCAL_MIDNIGHT - 14 * 60 - 50         # local 23:45:10
UNTIL = LOCAL_MIDNIGHT + 10 * 60
CONC = 3
SLOW_S = 25


def run(tmp):
    faults = fault_file(tmp, [
        *({"type": "latency", "concentrator": k, "min_ms": 1000, "max_ms": 1000}
          for k in range(CONC)),
        *({"type": "clock_drift", "meter": f"{k}:0", "offset_s": -SLOW_S,
           "rate_s_per_day": 0} for k in range(CONC))])
    fleet = ["--concentrators", str(CONC), "--meters", "1", "--no-datetime-every", "1",
             "--faults", faults]
    yaml, start, log = run_fleet(tmp, fleet, EPOCH, SCALE,
                                 {"backfill_days": 0, "stagger_s": 0,
                                  "daily_freeze_after": '"23:59"', "timeout_ms": 3000,
                                  "retries": 1}, UNTIL)
    check(start < LOCAL_MIDNIGHT - 10 * 60, f"started late: {iso(start)}")
    bad = [e for e in events(yaml) if e.get("type") in ("CLOCK_DRIFT", "TIME_INVALID")]
    worst = 0
    after = 0
    for m in meter_ids(tmp):
        for row in query(yaml, m):
            if "meter_clock" not in row:
                continue
            end = utc(row["interval_end"][:19] + "Z")
            clock = utc(row["meter_clock"][:19] + "Z")
            d = clock - end
            print(f"{m} {row['interval_end']} meter clock {row['meter_clock']} "
                  f"({d:+d} s after the interval end)")
            worst = max(worst, abs(d))
            check(-300 <= d <= 1800, f"{m} {row['interval_end']}: meter clock "
                  f"{row['meter_clock']} is {d} s from its interval")
            if m.endswith("000001") and end >= LOCAL_MIDNIGHT - 15 * 60 and \
                    clock >= LOCAL_MIDNIGHT:
                after += 1
    check(not bad, f"clock events on healthy meters: {bad[:4]}")
    check(after >= CONC, f"only {after} customer clocks read after midnight")
    check("Sanitizer" not in log, log[-3000:])
    print(f"worst meter clock - interval end: {worst} s; "
          f"{after} customer clocks read across midnight")


if __name__ == "__main__":
    main("it_run_clock_midnight", run)
