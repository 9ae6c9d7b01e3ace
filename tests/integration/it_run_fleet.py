#!/usr/bin/python3
"""it_run_fleet — issue 4's first acceptance case: amisim, 200 concentrators
x 100 meters (20,200 meters with the district meters), --faults none, one
simulated day.

The head-end starts at the end of local day D (2025-03-15 00:00 +08:00 =
2025-03-14T16:00:00Z) with backfill_days: 1, at time scale 1, so its first
cycle on every link reads the whole day from the meters' load-record memory
(06000001, DL/T 645-2007 §2.9 / protocols.md §2.9) and the live read of the
boundary itself. The test follows /metrics until every link has handed
96 reads per meter to the pipeline and its requests have stopped, then
stops the head-end with SIGTERM (it commits what it has).

Then every interval of every meter of day D (96 interval ends from 00:15 to
24:00 local) is read from the store and compared with amisim's ground truth
(--truth-series, the forward and reverse registers the meter shows):
none missing, none extra, registers equal; the boundary read is "live",
the rest "backfill" with BACKFILLED (vee.h bit 26) set exactly on them; and
`amihead stats --json` shows 100 % for every district and link.

Size: the acceptance fleet, 200 x 100, with release binaries (about 80 s on
the 2-core box, docs/run-acceptance.md). Under the ASan/UBSan test build
(`make test`) amisim serves load records about 15 times slower, so the full
day of 200 x 100 would take about half an hour: there the fleet is 10 x 100
(1,010 meters, 96,960 intervals, about 85 s). AH_FLEET="C,M" sets the size.

`make test` builds the release tree as well as the sanitised one, and CTest
passes its bin directory as AH_RELEASE_BIN: this test then runs the full
acceptance fleet on the release binaries (the sanitisers have the smaller
tests), and says so.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

_rel = os.environ.get("AH_RELEASE_BIN", "")
if _rel and all(os.access(os.path.join(_rel, b), os.X_OK) for b in ("amihead", "amisim")):
    os.environ["AH_BIN"] = _rel  # before ahtest reads it
    print(f"it_run_fleet: release binaries from {_rel}")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ahtest import BIN, Sim, Truth, check, fail, iso, utc  # noqa: E402
from ahtest import store_reads  # noqa: E402
from ahtest import STEP, Run, amihead, configure, meter_ids, summary  # noqa: E402



def sanitized():
    with open(os.path.join(BIN, "amihead"), "rb") as f:
        return b"__asan_init" in f.read()


CONC, METERS = (int(x) for x in os.environ.get(
    "AH_FLEET", "10,100" if sanitized() else "200,100").split(","))
DAY_END = utc("2025-03-14T16:00:00Z")  # local 2025-03-15 00:00 (+08:00)
LO = DAY_END - 86400 + STEP            # first interval end of day D
BACKFILLED = 1 << 26


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    vals = {}
    for ln in text.splitlines():
        m = re.match(r'^(amihead_[a-z_]+)\{link="([^"]+)"\} (\S+)$', ln)
        if m:
            vals.setdefault(m.group(1), {})[m.group(2)] = float(m.group(3))
    return vals


def main():
    tmp = tempfile.mkdtemp(prefix="it_run_fleet.")
    try:
        run(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("ok")


def run(tmp):
    fleet = ["--concentrators", str(CONC), "--meters", str(METERS), "--faults", "none"]
    t_start = time.monotonic()
    # ground truth: every meter's shown registers at every interval end of
    # D; amisim computes it while the head-end collects
    tpath = os.path.join(tmp, "truth-day.json")
    tproc = subprocess.Popen([os.path.join(BIN, "amisim"), *fleet, "--truth", tpath,
                              "--truth-series", f"{iso(LO)},{iso(DAY_END)}"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        collect(tmp, fleet, t_start, tproc, tpath)
    finally:
        if tproc.poll() is None:
            tproc.kill()
            tproc.wait()


def collect(tmp, fleet, t_start, tproc, tpath):
    # 30 s after the day's end, so the record ending at 24:00 is written
    with Sim(tmp, *fleet, "--epoch", iso(DAY_END + 30), "--time-scale", "1",
             "--write-config", tmp, log_markers=["Sanitizer"]) as sim:
        yaml, mport = configure(tmp, {"backfill_days": 1, "stagger_s": 0})
        meters = meter_ids(tmp)
        check(len(meters) == CONC * (METERS + 1), f"inventory: {len(meters)} meters")
        # day D's 96 intervals and the boundary read that starts it (the
        # backfill window includes it: issue 14)
        want_reads = (METERS + 1) * 97
        with Run(yaml, "--time-scale", "1", "--epoch", str(sim.sim_now())) as hd:
            t_run = time.monotonic()
            last_req, stable_since, vals = None, None, {}
            deadline = t_run + 420
            while True:
                time.sleep(1.0)
                check(hd.proc.poll() is None,
                      f"amihead run exited {hd.proc.returncode}: "
                      f"{chr(10).join(hd.lines[-20:])}")
                try:
                    vals = scrape(mport)
                except OSError:
                    continue
                reads = vals.get("amihead_reads_total", {})
                req = sum(vals.get("amihead_requests_total", {}).values())
                done = len(reads) == CONC and all(v >= want_reads for v in reads.values())
                if req != last_req:
                    last_req, stable_since = req, time.monotonic()
                if done and time.monotonic() - stable_since >= 2.0:
                    break
                if time.monotonic() > deadline:
                    low = sorted(reads.items(), key=lambda kv: kv[1])[:5]
                    hd.kill()
                    fail(f"first cycle not done in 420 s: {len(reads)} links, "
                         f"lowest reads {low}, want {want_reads} each")
            t_cycle = time.monotonic() - t_run
            log = hd.stop()
        t_stopped = time.monotonic()
    s = summary(log)
    print(f"fleet {CONC}x{METERS} ({'ASan' if sanitized() else 'release'}): first cycle {t_cycle:.1f} s, {s.get('requests')} "
          f"requests, {s.get('reads')} reads; stop {t_stopped - t_run - t_cycle:.1f} s")
    check(s["timeouts"] == 0 and s["meter errors"] == 0 and s["link drops"] == 0,
          f"run summary: {s}")
    check(max(vals["amihead_timeouts_total"].values()) == 0, "timeouts in /metrics")

    try:
        _, terr = tproc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        fail("amisim --truth-series did not finish in 240 s")
    check(tproc.returncode == 0, f"amisim --truth-series: {terr}")
    truth = Truth(tpath)
    series = truth.series
    check(series["from_s"] == LO and series["step_s"] == STEP, f"truth series {series}")
    t_truth = time.monotonic()

    got = store_reads(yaml)
    t_store = time.monotonic()

    ends = list(range(LO, DAY_END + 1, STEP))
    check(len(ends) == 96, "day D has 96 interval ends")
    check(set(got) == set(meters), f"store meters {len(got)}, inventory {len(meters)}: "
          f"{sorted(set(meters) - set(got))[:5]} missing")
    n = 0
    for m in meters:
        rows = got[m]
        tm = series["meters"].get(m)
        check(tm is not None, f"truth has no series for {m}")
        day = sorted(t for t in rows if LO <= t <= DAY_END)
        check(day == ends, f"{m}: {len(day)} intervals of day D, want 96; missing "
              f"{[iso(t) for t in sorted(set(ends) - set(day))][:5]}")
        extra = [t for t in rows if (t < LO or t > DAY_END) and t != LO - STEP]
        check(LO - STEP in rows and rows[LO - STEP][0] == "backfill",
              f"{m}: no backfilled boundary read at the start of day D")
        check(not extra, f"{m}: reads outside the window: {[iso(t) for t in extra][:5]}")
        for i, t in enumerate(ends):
            src, q, present, imp, exp = rows[t]
            check(present & 1 and present & 4, f"{m} {iso(t)}: present {present:#x}")
            check(imp == tm["fwd"][i] and exp == tm["rev"][i],
                  f"{m} {iso(t)}: import {imp} export {exp} (0.01 kWh), meter shows "
                  f"{tm['fwd'][i]} / {tm['rev'][i]}")
            want_src = "live" if t == DAY_END else "backfill"
            check(src == want_src and bool(q & BACKFILLED) == (want_src == "backfill"),
                  f"{m} {iso(t)}: source {src} quality {q:#x}, want {want_src}")
            n += 1
    t_cmp = time.monotonic()

    r = amihead("stats", "-c", yaml, "--from", iso(LO), "--to", iso(DAY_END), "--json",
                timeout=120)
    check(r.returncode == 0, f"stats: exit {r.returncode}: {r.stderr}")
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    check(len([x for x in rows if "district" in x]) == CONC and
          len([x for x in rows if "link" in x]) == CONC, f"stats rows: {len(rows)}")
    for row in rows:
        check(row["expected"] == row["meters"] * 96 and row["collected"] == row["expected"]
              and row["completeness_pct"] == 100.0, f"stats: {row}")
    t_end = time.monotonic()
    print(f"compared {n} intervals of {len(meters)} meters; truth ready "
          f"{t_truth - t_stopped:.1f} s later, store scan {t_store - t_truth:.1f} s, compare "
          f"{t_cmp - t_store:.1f} s, stats {t_end - t_cmp:.1f} s, total "
          f"{t_end - t_start:.1f} s")


if __name__ == "__main__":
    main()
