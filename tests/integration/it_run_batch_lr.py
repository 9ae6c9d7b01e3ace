#!/usr/bin/python3
"""it_run_batch_lr — issue 16 item 2: catch-up reads ask 06000001 for N
load-record blocks at once (protocols.md §1.4 (c), §2.9), the replies over
one frame come by 12H follow-ups (§1.6), and N is learned per meter.

One concentrator (amisim, 6 customer meters + the district meter). Meter
0:1 runs firmware that refuses N > 1 (ERR 02; N = 1 works), meter 0:2
firmware that answers at most 3 blocks whatever N asks. Schedule:
backfill_days 1, so the first cycle backfills a day (97 intervals) of
every meter.

Run 1 (two cycles):
- every meter has every interval of the day stored: nothing lost to the
  refusals or the truncations (the refused gap was asked again with N = 1);
- the head-end logged, once each, that 0:1 refuses more than one record and
  that 0:2 answers 3, and nothing of the kind for the other meters;
- requests (frames written, 12H follow-ups included) per meter are well
  below one per interval: the figure is printed.
Run 2 (same store, started after a pause of several intervals, so the
catch-up asks runs of N > 1 again): no meter is learned again — the limits
came back from the store — and the new intervals are stored too.
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ahtest import Sim, check, iso, utc  # noqa: E402
from ahtest import STEP, Run, configure, fault_file, main, meter_ids, stored  # noqa: E402
from ahtest import summary  # noqa: E402

SCALE = 300
EPOCH = utc("2025-03-14T10:00:30Z")
SINGLE, TRUNC = "000001000002", "000001000003"


def learned(log):
    out = {}
    for ln in log.splitlines():
        m = re.search(r"meter (\d{12}) (refuses|answers fewer)[^:]*: (\d+) load record",
                      ln)
        if m:
            out.setdefault(m.group(1), []).append(int(m.group(3)))
    return out


def run(tmp):
    faults = fault_file(tmp, [{"type": "lr_single", "meter": "0:1"},
                              {"type": "lr_truncate", "meter": "0:2", "blocks": 3}])
    with Sim(tmp, "--concentrators", "1", "--meters", "6", "--faults", faults,
             "--epoch", iso(EPOCH), "--time-scale", str(SCALE), "--write-config", tmp,
             log_markers=["Sanitizer"]) as sim:
        yaml, _ = configure(tmp, {"backfill_days": 1, "stagger_s": 0})
        ids = meter_ids(tmp)
        check(SINGLE in ids and TRUNC in ids, f"inventory: {ids}")
        start = sim.sim_now()
        first = (start // STEP) * STEP
        until = first + STEP + STEP // 2
        with Run(yaml, "--time-scale", str(SCALE), "--epoch", str(start), "--until",
                 str(until)) as hd:
            log1 = hd.wait_exit((until - start) / SCALE + 90)

        got = learned(log1)
        check(got == {SINGLE: [1], TRUNC: [3]}, f"learned limits {got}: {log1[-3000:]}")
        s1 = summary(log1)
        window = set(range(first - 96 * STEP, first + STEP + 1, STEP))
        for m in ids:
            ends = set(stored(yaml, m))
            miss = sorted(window - ends)
            check(not miss, f"meter {m}: {len(miss)} intervals missing, first "
                            f"{[iso(t) for t in miss[:5]]}")
        per_meter = s1["requests"] / len(ids)
        print(f"run 1: {s1['requests']} requests for {len(ids)} meters x "
              f"{len(window)} intervals (two live jobs each): {per_meter:.1f} per meter, "
              f"against >= {len(window) + 10} with one record per request")
        # N = 1 costs one request per interval plus two live jobs (>= 10
        # requests each); one refusing and one truncating meter included
        check(per_meter < 0.8 * (len(window) + 10), f"{per_meter:.1f} requests per meter")

        # a pause of several intervals: run 2 backfills them in runs of N
        gap_from = sim.sim_now()
        while sim.sim_now() < gap_from + 4 * STEP:
            time.sleep(0.5)
        start2 = sim.sim_now()
        first2 = (start2 // STEP) * STEP
        until2 = start2 + STEP // 2
        with Run(yaml, "--time-scale", str(SCALE), "--epoch", str(start2), "--until",
                 str(until2)) as hd:
            log2 = hd.wait_exit((until2 - start2) / SCALE + 90)
        check(not learned(log2), f"run 2 learned again: {learned(log2)}")
        check("load record(s) per request" not in log2, log2[-2000:])
        for m in ids:
            ends = set(stored(yaml, m))
            miss = [t for t in range(first + 2 * STEP, first2 + 1, STEP) if t not in ends]
            check(not miss, f"meter {m} after run 2: missing {[iso(t) for t in miss]}: "
                            f"{log2[-4000:]}")
        print(f"run 2: {summary(log2)['requests']} requests, "
              f"{(first2 - first) // STEP} intervals caught up per meter")


if __name__ == "__main__":
    main("it_run_batch_lr", run)
