#!/usr/bin/python3
"""it_run_small — `amihead run` against amisim, 2 concentrators x 5 meters
(plus their district meters), no faults, about three simulated hours at
360x (the whole test stays under a minute of real time).

Then:
- `amihead query --json` holds every interval of every meter from the first
  cycle's backfill window (one day, set in the config) to the last complete
  cycle, with import/export registers equal to the load records amisim
  serves (its --series "shown" values, the bytes a 06000001 read returns);
  intervals from the first cycle on are "live", older ones "backfill";
  the quality carries BACKFILLED exactly on backfilled reads;
- `amihead stats --json` shows 100 % for every district and link;
- a broken config makes `amihead run` print FILE:LINE: key and exit 1;
- SIGTERM ends a run with exit 0.
"""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ahtest import BIN, Sim, check, fail, iso  # noqa: E402
from ahtest import (amihead, export_endpoints, main, meter_ids, query,  # noqa: E402
                     run_argv, run_until, write_config)

SCALE = 360
EPOCH = "2025-03-14T00:00:00Z"
HOURS = 3
STEP = 900


def run(tmp):
    fleet = ["--concentrators", "2", "--meters", "5"]
    with Sim(tmp, *fleet, "--faults", "none", "--time-scale", str(SCALE),
             "--epoch", EPOCH, "--write-config", tmp) as sim:
        yaml, text = write_config(tmp, 1, *export_endpoints())

        # a broken copy is refused like check-config refuses it
        bad = os.path.join(tmp, "bad.yaml")
        with open(bad, "w") as f:
            f.write(text.replace("interval_min: 15", "interval_min: 7"))
        r = amihead("run", "-c", bad, "--until", EPOCH)
        check(r.returncode == 1, f"bad config: exit {r.returncode}, want 1: {r.stderr}")
        check("bad.yaml:" in r.stderr and "interval_min" in r.stderr,
              f"bad config: no FILE:LINE: key message: {r.stderr}")

        # the head-end's clock starts where the simulator's is now
        start = sim.sim_now()
        until = (start // STEP) * STEP + HOURS * 3600
        rc, err = run_until(yaml, SCALE, start, until, 20,
                            "amihead run did not stop at --until")
        check(rc == 0, f"amihead run: exit {rc}: {err[-2000:]}")
        check("stopping:" in err and " 0 overruns" in err and " 0 timeouts" in err,
              f"run summary: {err[-1000:]}")

        # SIGTERM: commits and exits 0
        p2 = subprocess.Popen(run_argv(yaml, SCALE, sim.sim_now()),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        p2.send_signal(signal.SIGTERM)
        try:
            _, err2 = p2.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            p2.kill()
            p2.communicate()
            fail("amihead run ignored SIGTERM")
        check(p2.returncode == 0, f"SIGTERM: exit {p2.returncode}: {err2[-1000:]}")

    first = (start // STEP) * STEP          # the first cycle's live interval
    lo = first - 86400 + STEP               # its one-day backfill window
    hi = (until // STEP) * STEP - STEP      # the last cycle --until did not cut
    n_iv = (hi - lo) // STEP + 1

    meters = meter_ids(tmp)
    check(len(meters) == 12, f"inventory: {len(meters)} meters, want 10 + 2 district")

    series = {}
    r = subprocess.run([os.path.join(BIN, "amisim"), *fleet, "--series",
                        f"{iso(lo)},{iso(hi)}"], capture_output=True, text=True,
                       timeout=30)
    check(r.returncode == 0, f"amisim --series: {r.stderr}")
    for line in r.stdout.splitlines():
        s = json.loads(line)
        series[(s["meter"], s["t_s"])] = s

    for m in meters:
        rows = query(yaml, m, "--from", iso(lo), "--to", iso(hi))
        got = {row["interval_end"]: row for row in rows}
        check(len(rows) == n_iv and len(got) == n_iv,
              f"meter {m}: {len(rows)} intervals, want {n_iv}")
        for t in range(lo, hi + 1, STEP):
            row = got.get(iso(t))
            check(row is not None, f"meter {m}: interval {iso(t)} missing")
            s = series.get((m, t))
            check(s is not None and s["has_record"], f"amisim has no record {m} {iso(t)}")
            reg = row["registers"]
            want_imp = s["shown"]["fwd"] / 100.0
            want_exp = s["shown"]["rev"] / 100.0
            check(abs(reg["secondary"]["import_kwh"] - want_imp) < 0.005,
                  f"{m} {iso(t)}: import {reg['secondary']['import_kwh']}, meter {want_imp}")
            check(abs(reg["secondary"]["export_kwh"] - want_exp) < 0.005,
                  f"{m} {iso(t)}: export {reg['secondary']['export_kwh']}, meter {want_exp}")
            k = row["ct"] * row["pt"]
            check(abs(reg["import_kwh"] - want_imp * k) < 0.005 * k,
                  f"{m} {iso(t)}: primary import {reg['import_kwh']} != {want_imp} x {k}")
            want_src = "live" if t >= first else "backfill"
            check(row["source"] == want_src,
                  f"{m} {iso(t)}: source {row['source']}, want {want_src}")
            # BACKFILLED (vee.h bit 26) marks exactly the backfilled reads and
            # nothing was released; the fault bits are validation's verdict,
            # scored against amisim's truth by the validation tests
            q = row["quality"]
            check(bool(q & (1 << 26)) == (want_src == "backfill") and not q & (1 << 27),
                  f"{m} {iso(t)}: quality {q:#x} for a {want_src} read")
            if t >= first:
                check("meter_clock" in row, f"{m} {iso(t)}: live read without meter clock")

    r = amihead("stats", "-c", yaml, "--from", iso(lo), "--to", iso(hi), "--json")
    check(r.returncode == 0, f"stats: exit {r.returncode}: {r.stderr}")
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    check(len([x for x in rows if "district" in x]) == 2 and
          len([x for x in rows if "link" in x]) == 2, f"stats rows: {rows}")
    for row in rows:
        check(row["expected"] == row["meters"] * n_iv and row["collected"] == row["expected"]
              and row["completeness_pct"] == 100.0, f"stats: {row}")


if __name__ == "__main__":
    main("it_run_small", run)
