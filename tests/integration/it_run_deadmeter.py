#!/usr/bin/python3
"""it_run_deadmeter — issue 4: "a meter that never answers costs the rest of
its bus at most its timeout x retries per cycle".

One concentrator (amisim, 10 customer meters + the district meter, no
faults) and in the inventory, between the fifth and the sixth meter of its
bus, a meter 000001000099 that amisim does not serve: frames to it get no
answer (DL/T 645-2007 §1.3, an address nobody on the bus has). Schedule:
timeout 400 ms, 2 retries, backoff after 2 failed cycles, at most 4 cycles
skipped; backfill_days 0; 10 cycles at 300x.

From the head-end's log ("cycle B done in N ms (head-end clock)", one
"no valid reply ... after 3 attempt(s)" per cycle that tried the dead
meter, "backing off") and its run summary:
- every cycle that tried the dead meter logged exactly one failed
  transaction of 3 attempts, i.e. the meter's job ends at its first request;
- those cycles are longer than the cycles that skipped it by about
  timeout x (retries + 1) = 1.2 s of real time and never by more than that
  plus 0.4 s of scheduling noise;
- the attempts follow the backoff: tried, tried, (backing off) skipped,
  tried, skipped, skipped, tried, skipped x 4 (cadence_backoff_skip: after
  backoff_after failures a meter waits 1, 2, 4 … cycles, at most
  backoff_max_cycles);
- every other meter of the bus has a read for every cycle's interval.
"""
import json
import os
import re
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ahtest import Sim, check, iso, utc  # noqa: E402
from ahtest import STEP, Run, amihead, configure, meter_ids, summary  # noqa: E402

SCALE = 300
EPOCH = utc("2025-03-14T16:00:30Z")
CYCLES = 10
TIMEOUT_MS, RETRIES = 400, 2
DEAD = "000001000099"
# tried (A) or skipped (S), cycle by cycle, for backoff_after 2, max 4
PATTERN = "AASASSASSS"


def main():
    tmp = tempfile.mkdtemp(prefix="it_run_deadmeter.")
    try:
        run(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("ok")


def run(tmp):
    with Sim(tmp, "--concentrators", "1", "--meters", "10", "--faults", "none",
             "--epoch", iso(EPOCH), "--time-scale", str(SCALE), "--write-config", tmp,
             log_markers=["Sanitizer"]) as sim:
        yaml, _ = configure(tmp, {"backfill_days": 0, "stagger_s": 0,
                                  "timeout_ms": TIMEOUT_MS, "retries": RETRIES,
                                  "backoff_after": 2, "backoff_max_cycles": 4})
        # the dead meter in the middle of the bus, so live meters follow it
        csv = os.path.join(tmp, "meters.csv")
        with open(csv) as f:
            rows = f.readlines()
        check(rows[6].startswith("000001000006,"), f"inventory order: {rows[6]}")
        rows.insert(6, f"{DEAD},dlt645-2007,c0,{DEAD},,,1P2W,1,1,5.0,60.0,220.0,d0000,"
                       "C,customer,no\n")
        with open(csv, "w") as f:
            f.writelines(rows)
        start = sim.sim_now()
        first = (start // STEP) * STEP
        until = first + (CYCLES - 1) * STEP + STEP // 2
        with Run(yaml, "--time-scale", str(SCALE), "--epoch", str(start), "--until",
                 str(until)) as hd:
            log = hd.wait_exit((until - start) / SCALE + 60)

    # walk the log: dead-meter failures belong to the cycle that ends next
    cycles = []  # (boundary, real ms, tried dead meter?)
    fails = 0
    backing_off_at = None
    for ln in log.splitlines():
        if f"meter {DEAD}: no valid reply" in ln:
            check(f"after {RETRIES + 1} attempt(s)" in ln, f"attempts: {ln}")
            fails += 1
        if f"meter {DEAD} failed 2 cycles in a row: backing off" in ln:
            backing_off_at = len(cycles)
        m = re.search(r"\[c0\] cycle (\S+Z) done in (\d+) ms \(head-end clock\)", ln)
        if m:
            check(fails <= 1, f"cycle {m.group(1)}: {fails} failed transactions")
            cycles.append((utc(m.group(1)), int(m.group(2)) / SCALE, fails == 1))
            fails = 0
    check([c[0] for c in cycles] == list(range(first, first + CYCLES * STEP, STEP)),
          f"cycles {[iso(c[0]) for c in cycles]}: {log[-3000:]}")
    pattern = "".join("A" if c[2] else "S" for c in cycles)
    check(pattern == PATTERN, f"dead meter tried/skipped {pattern}, want {PATTERN}")
    check(backing_off_at == 1, f"'backing off' logged in cycle {backing_off_at}")

    tried = [c[1] for c in cycles[1:] if c[2]]
    skipped = [c[1] for c in cycles[1:] if not c[2]]
    cost = statistics.median(tried) - statistics.median(skipped)
    bound = TIMEOUT_MS * (RETRIES + 1)
    print(f"cycle real ms: tried {[round(x) for x in tried]}, skipped "
          f"{[round(x) for x in skipped]}; dead meter costs {cost:.0f} ms per cycle, "
          f"bound {bound} ms")
    check(bound * 0.9 <= cost <= bound + 400,
          f"dead meter costs {cost:.0f} ms per cycle, bound {bound} ms")
    check(max(tried) <= max(skipped) + bound + 400,
          f"slowest tried cycle {max(tried):.0f} ms vs skipped {max(skipped):.0f} ms")

    s = summary(log)
    check(s["timeouts"] == PATTERN.count("A") and s["backed off"] == PATTERN.count("S"),
          f"summary {s}")

    for m in meter_ids(tmp):
        r = amihead("query", "-c", yaml, "--meter", m, "--json")
        if m == DEAD:
            check((r.returncode == 0 and not r.stdout) or
                  (r.returncode == 1 and "no reads" in r.stderr),
                  f"dead meter has reads: {r.returncode} {r.stdout[:300]} {r.stderr}")
            continue
        check(r.returncode == 0, f"query {m}: {r.stderr}")
        ends = sorted(json.loads(x)["interval_end"] for x in r.stdout.splitlines())
        want = [iso(t) for t in range(first, first + CYCLES * STEP, STEP)]
        check(ends == want, f"{m}: intervals {ends}, want {want}")


if __name__ == "__main__":
    main()
