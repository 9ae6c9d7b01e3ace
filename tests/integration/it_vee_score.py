#!/usr/bin/python3
"""it_vee_score — issue 5's scoring through the real head-end: amisim's
meter faults found by `amihead run`, scored against amisim's truth file.

amisim, 3 concentrators x 50 customer meters (+ district meters), meters
on Beijing time (UTC+8). The head-end starts on Wednesday 2025-03-12 at
23:50 local with backfill_days 2: its first cycle collects every interval
from Monday 23:45 on, so Tuesday and Wednesday are whole local days.
District days are judged each on its own as soon as their boundary
registers are in: Monday (partial) is INCOMPLETE at once, Tuesday within
the first cycle, Wednesday just after Thursday 00:00. The run ends at 02:00
local (110x, about 72 s under ASan).

Fault schedule (docs/amisim.md's placement rules for the default mix; the
meter columns of a first, files-only truth file say which meter can show
what): per concentrator and per meter-fault type two meters, one whose
fault starts on Wednesday 09:00-11:15 local, before the head-end runs (its
reads come in as backfill), one on Thursday 00:15-00:45 (live reads; the
biggest load that can show the fault, as it is night); all starts on the
15-minute grid. Stopped, reversed, backwards, imbalance and phase loss on
loads that move the register by >= 0.02 kWh per interval on average,
imbalance on 3P4W meters, reversed on one-way meters, creeping in vacant
homes where there are some. Clock drift from Thursday 00:00:01 (a meter
clock minutes off moves its load records off the grid, and Wednesday must
stay whole): one 480 s off (beyond the 300 s limit at the first clock
read), one 240 s + 2 s/min (crossing the limit at 00:30). Theft (40 %
registered) on each district's biggest consumer from Wednesday 00:00 local
(not a Monday: see tests/unit/test_vee_fleet.c), Tuesday clean. `missing`
is left out: a meter without supply has no episode, its intervals are gaps
(it_run_vee_pub covers them).

Scored from `amihead events --json` (episode starts) and `amihead districts
--json` against the truth file's "faults", as tests/unit/test_vee_fleet.c
scores vee in process: detected = an episode of the type's rule starting
on that meter with `at` within 4 intervals of the fault's start (clock
drift: of the first clock read beyond 300 s; a clock beyond the limit
from the start: at any time); every episode start on a healthy customer
meter, or of a rule other than the meter's fault's, is a false positive
(a single-phase meter that lost its only phase registers nothing:
STOPPED is a true finding there). Theft: its district's Wednesday
LINE_LOSS / LINE_LOSS_SWING with the thief among the listed customers.
Recall and precision >= 99 % for every type with >= 5 samples, every
fault found for the smaller ones; the per-type table is printed.
STATUS_FAULT on a meter whose fault amisim reports in the status words
(reversed, backwards, phase loss, imbalance) is the meter's own account
of that fault, not a false positive.

Issue 13's field behaviours join the mix: per concentrator two meters with
memory holes (30 % of the load records lost, Tuesday 00:15 - Wednesday
23:45 backfilled, Thursday 00:15 - 01:45 live; the daily freeze still
there), two real rollovers at 999999.99 (Wednesday 12:00 backfilled,
Thursday 00:15 live) and two mid-range register decreases of 213 kWh (both
live on Thursday 00:30 / 00:45, so that no district day with a theft
loses its energy to a decrease: it_run_district_days has the backfilled
one). The third district is a PV district (--pv-districts 3: 40 % of its
homes export 1.5 x their import). Every third customer meter has no
0400010C (--no-datetime-every 3): its clock is read time, date, time,
and the run starts at 23:50 local, so the first cycles read those clocks
across midnight, where a date and a time read apart are a day off; any
CLOCK_DRIFT or TIME_INVALID on a healthy meter is a false positive. Memory holes and rollovers are no
meter fault: any episode on those meters is a false positive; a decrease
must be REVERSED within 4 intervals. District days: Monday (partial) is
reported INCOMPLETE exactly once, Tuesday and Wednesday of every district
are judged (their boundary values are all there, holes or not), and
Tuesday, before any fault, comes out at the district's true loss within
0.5 points (the PV district's too: supply = district forward + Sigma
export, sales = Sigma import + district reverse).

The time scale matters for the clock: the scheduler stamps the live read
with the head-end clock when its load record arrives, after the meter's
backfill requests (one per missing interval, about 190 per meter in the
first cycle), not when the meter clock was read. Under ASan those take
up to about 2 s: at 110x that is 220 s of apparent drift, below the 300 s
limit; at 200x-600x healthy meters were flagged CLOCK_DRIFT (-381 s at
200x) in the first cycle.
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ahtest import BIN, Sim, Truth, check, iso, utc  # noqa: E402
from ahtest import Run, amihead, configure  # noqa: E402
from ahtest import main  # noqa: E402

STEP = 900
TZ = 8 * 3600
CONC, METERS = 3, 50
SEED = 20250313
START = utc("2025-03-12T15:50:00Z")        # Wednesday 23:50 local
WED = utc("2025-03-11T16:00:00Z")          # Wednesday 00:00 local
THU = WED + 86400                          # Thursday 00:00 local
BACKFILLED = WED + 9 * 3600                # Wednesday 09:00 local
LIVE = THU + 900                           # Thursday 00:15 local
WITHIN = 4                                 # intervals from start to detection
SCALE = 110
LIMIT_S = 300                              # vee's clock_drift_s
# the type order of docs/amisim.md's table; the most constrained placed first
ORDER = ["theft", "phase_imbalance", "reversed", "stopped", "backwards", "phase_loss",
         "creeping", "jumping", "clock_drift", "decrease", "rollover", "memory_holes"]
RULE = {"stopped": "STOPPED", "reversed": "REVERSED", "backwards": "REVERSED",
        "jumping": "JUMPING", "creeping": "CREEPING", "phase_imbalance": "PHASE_IMBALANCE",
        "phase_loss": "PHASE_LOSS", "clock_drift": "CLOCK_DRIFT", "theft": "COVER_OPEN",
        "decrease": "REVERSED", "rollover": None, "memory_holes": None}
# no meter fault: found when the meter has no episode at all
QUIET = {"rollover", "memory_holes"}
TUE = WED - 86400
MON = TUE - 86400
# faults the meter's own status words report (docs/amisim.md: SW1 D4,
# SW4-6 D0/D6 ...): STATUS_FAULT there is the meter telling the same story
STATUS_SHOWN = {"reversed", "backwards", "phase_loss", "phase_imbalance"}
LOADED = 2.0 * 96  # mean import >= 0.02 kWh per interval (0.01 kWh a day)


def fleet_args():
    return ["--concentrators", str(CONC), "--meters", str(METERS), "--seed", str(SEED),
            "--epoch", iso(START), "--pv-districts", "3", "--no-datetime-every", "3"]


def meters_of(truth_path):
    """{address: row as dict} of the customer meters of a truth file."""
    doc = Truth(truth_path).doc
    cols = doc["meter_columns"]
    out = {}
    for r in doc["meters"]:
        m = dict(zip(cols, r))
        if m["role"] == "customer":
            m["mean_import"] = sum(m["mean_import_per_tariff"])
            out[m["address"]] = m
    return out


def can_show(m, t):
    load = m["mean_import"] >= LOADED
    if t in ("stopped", "backwards", "phase_loss", "decrease", "rollover"):
        return load
    if t == "reversed":
        return load and not m["pv"]
    if t == "phase_imbalance":
        return load and m["wiring"] == "3P4W"
    return True


def place(meters):
    """The fault file's entries: two meters per type and concentrator (one
    backfilled, one live), the thief on the district's biggest consumer."""
    faults = []
    for k in range(CONC):
        mine = sorted((m for m in meters.values() if m["conc"] == k),
                      key=lambda m: m["index"])
        used = set()
        for t in ORDER:
            if t == "theft":
                thief = max(mine, key=lambda m: m["mean_import"] * m["ct"] * m["pt"])
                used.add(thief["address"])
                faults.append({"type": "theft", "meter": thief["address"],
                               "from": iso(WED), "fraction": 0.4})
                continue
            i = ORDER.index(t) - 1
            start = (i * 5 + 1 + k) % METERS
            cands = [mine[(start + n) % METERS] for n in range(METERS)]
            cands = [m for m in cands if m["address"] not in used and can_show(m, t)]
            if t == "creeping":
                vacant = [m for m in cands if m["mean_import"] == 0]
                cands = vacant + [m for m in cands if m["mean_import"] > 0]
            check(len(cands) >= 2, f"concentrator {k}: no two meters for {t}")
            # the live one at night: the biggest load that can show it
            big = max(cands[1:], key=lambda m: m["mean_import"])
            for m, live in ((cands[0], False), (big, True)):
                used.add(m["address"])
                at = LIVE + k * STEP if live else BACKFILLED + (k + i) * STEP
                f = {"type": t, "meter": m["address"], "from": iso(at)}
                if t in ("stopped", "reversed", "backwards", "creeping", "phase_loss",
                         "phase_imbalance"):
                    f["to"] = iso(at + 6 * 3600)
                if t in ("phase_loss", "phase_imbalance"):
                    f["phase"] = "ABC"[k % 3] if m["wiring"] == "3P4W" else "A"
                if t == "decrease":
                    f.update({"from": iso(THU + (2 + live) * STEP), "kwh": 213})
                if t == "rollover" and not live:
                    f["from"] = iso(WED + 12 * 3600 + k * STEP)
                if t == "memory_holes":
                    f.update({"from": iso(THU + STEP if live else TUE + STEP),
                              "to": iso(THU + 7 * STEP if live else THU - STEP),
                              "share": 0.3})
                if t == "clock_drift":
                    # from just after Thursday 00:00: a meter clock off by
                    # minutes moves its load records off the grid, and
                    # Wednesday must stay whole for the district days.
                    # 480 s: beyond the limit at the first clock read; 240 s
                    # + 2 s/min crosses it at 00:30
                    f.update({"from": iso(THU + 1), "offset_s": 240 if live else 480,
                              "rate_s_per_day": 2880 if live else 60})
                faults.append(f)
    return faults


def clock_deadline(f):
    """The interval end of the first clock read beyond the limit, plus
    WITHIN - 1 intervals; None when beyond it from the head-end's start."""
    frm = utc(f["from"])
    off, rate = f["offset_s"], f["rate_s_per_day"]
    t = (START // STEP + 1) * STEP
    if off + rate * (t + 5 - frm) / 86400 > LIMIT_S:
        return None
    while off + rate * (t + 5 - frm) / 86400 <= LIMIT_S:
        t += STEP
    return t + (WITHIN - 1) * STEP


def stamp(v):
    return v if isinstance(v, int) else utc(v)


def run(tmp):
    t0 = time.monotonic()
    amisim = os.path.join(BIN, "amisim")
    plain = os.path.join(tmp, "plain.json")

    subprocess.run([amisim, *fleet_args(), "--truth", plain], check=True, timeout=60)
    faults = place(meters_of(plain))
    fpath = os.path.join(tmp, "faults.json")
    with open(fpath, "w") as fh:
        json.dump({"faults": faults}, fh, indent=1)
    spec = {f["meter"]: f for f in faults}
    last = max(utc(f["from"]) for f in faults if f["type"] not in ("clock_drift",
                                                                   "memory_holes"))
    until = last + WITHIN * STEP + STEP

    with Sim(tmp, *fleet_args(), "--faults", fpath, "--time-scale", str(SCALE),
             "--write-config", tmp, log_markers=["Sanitizer"]) as sim:
        yaml, _ = configure(tmp, {"backfill_days": 2, "stagger_s": 5, "timeout_ms": 500,
                                  "retries": 1})
        start = sim.sim_now()
        with Run(yaml, "--time-scale", str(SCALE), "--epoch", str(start), "--until",
                 str(until)) as hd:
            hd.wait_exit((until - start) / SCALE + 60)
        truth = sim.truth()
    t_run = time.monotonic() - t0
    meters = meters_of(sim.truth_path)
    injected = {f["meter"]: f for f in truth.faults() if f.get("meter") in meters}
    check(set(injected) == set(spec),
          f"truth faults {sorted(injected)} differ from the spec {sorted(spec)}")

    r = amihead("events", "-c", yaml, "--json")
    check(r.returncode == 0, f"events: {r.stderr}")
    evs = [json.loads(x) for x in r.stdout.splitlines()]
    first = {}  # (meter, rule) -> first episode start's interval end
    other = []  # episode starts on district meters: not scored
    for e in evs:
        if e.get("state") != "start" or "meter" not in e:
            continue
        if e["meter"] not in meters:
            other.append((e["meter"], e["type"], e["at"]))
            continue
        key = (e["meter"], e["type"])
        at = stamp(e["at"])
        first[key] = min(first.get(key, at), at)
        if e["type"] == "CLOCK_DRIFT":
            print(f"  CLOCK_DRIFT {e['meter']} at {e['at']}: {e.get('value')} s")
    r = amihead("districts", "-c", yaml, "--json")
    check(r.returncode == 0, f"districts: {r.stderr}")
    days = [json.loads(x) for x in r.stdout.splitlines()]

    faulty, hit, flagged, flagged_ok = {}, {}, {}, {}
    false_pos, status = [], []
    for (m, rule), at in sorted(first.items()):
        flagged[rule] = flagged.get(rule, 0) + 1
        f = injected.get(m)
        if f and (RULE[f["type"]] == rule or (f["type"] == "phase_loss" and
                                              rule == "STOPPED" and
                                              meters[m]["wiring"] == "1P2W")):
            flagged_ok[rule] = flagged_ok.get(rule, 0) + 1
        elif f and rule == "STATUS_FAULT" and f["type"] in STATUS_SHOWN:
            status.append(f["type"])
        else:
            false_pos.append((m, rule, iso(at), f["type"] if f else "healthy"))
    for m, f in sorted(injected.items()):
        t = f["type"]
        faulty[t] = faulty.get(t, 0) + 1
        frm = utc(f["from"])
        if t == "theft":
            dist = f"d{meters[m]['conc']:04d}"
            ok = any(d["district"] == dist and d.get("day") and
                     utc(d["day"] + "T00:00:00Z") - TZ + 86400 > frm and
                     {"LINE_LOSS", "LINE_LOSS_SWING"} & set(d.get("flags", [])) and
                     m in [c["meter"] for c in d.get("customers", [])] for d in days)
            for d in days:
                if d["district"] == dist and d.get("flags"):
                    print(f"  {dist} {d['day']}: loss {d.get('loss_pct')} % "
                          f"{d['flags']}, thief listed "
                          f"{m in [c['meter'] for c in d.get('customers', [])]}")
            if not ok:
                print(f"  missed theft on {m}: {[d for d in days if d['district'] == dist]}")
        elif t in QUIET:
            eps = [r for (mm, r) in first if mm == m]
            ok = not eps
            if not ok:
                print(f"  episodes on a {t} meter {m}: {eps}")
        else:
            at = first.get((m, RULE[t]))
            dl = frm + WITHIN * STEP
            if t == "clock_drift":
                dl = clock_deadline(spec[m])
            ok = at is not None and (dl is None or frm - STEP < at <= dl)
            if not ok:
                print(f"  missed {t} on {m} ({meters[m]['kind']} {meters[m]['wiring']} "
                      f"pv {meters[m]['pv']}): from {f['from']} deadline "
                      f"{iso(dl) if dl else '-'} seen {iso(at) if at else '-'}")
        hit[t] = hit.get(t, 0) + ok

    print(f"vee score {CONC}x{METERS} (run {t_run:.1f} s, {len(days)} district days)")
    print("| fault type | rule | faulty meters | detected in time | recall | flagged "
          "meters | precision |\n|---|---|---|---|---|---|---|")
    ok_all = True
    for t in ORDER:
        rule = RULE[t]
        n, h = faulty.get(t, 0), hit.get(t, 0)
        if t == "theft":
            rule, fl, fo = "district LINE_LOSS(_SWING) listing the thief", n, h
        elif t in QUIET:
            rule, fl, fo = "no episode (not a fault)", n, h
        else:
            fl, fo = flagged.get(rule, 0), flagged_ok.get(rule, 0)
        rec = 100.0 * h / n if n else 0.0
        prec = 100.0 * fo / fl if fl else 0.0
        print(f"| {t} | {rule} | {n} | {h} | {rec:.1f} % | {fl} | {prec:.1f} % |")
        good = n > 0 and (h * 100 >= n * 99 if n >= 5 else h == n) and \
            (fo * 100 >= fl * 99 if fl >= 5 else fo == fl)
        ok_all = ok_all and good
    print(f"  STATUS_FAULT on meters whose status words show their fault: "
          f"{sorted(status)}")
    print(f"  episode starts on district meters (not scored): {other}")
    for fp in false_pos:
        print(f"  false positive: {fp}")
    # district days (issues 13 and 14): Monday once INCOMPLETE, Tuesday and
    # Wednesday judged everywhere, Tuesday at the true loss
    def dayname(t):
        return time.strftime("%Y-%m-%d", time.gmtime(t + TZ))
    judged = {(d["district"], d["day"]): d for d in days}
    inc = [e for e in evs if e.get("type") == "INCOMPLETE"]
    dist_ok = True
    for c in truth.doc["concentrators"]:
        dist, want = c["district"], c["loss_ppm"] / 1e4
        mon = [e for e in inc if e["district"] == dist and e["day"] == dayname(MON)]
        tue = judged.get((dist, dayname(TUE)), {})
        wed = judged.get((dist, dayname(WED)), {})
        print(f"  {dist} (PV {c['pv_local'] > 0}): Monday INCOMPLETE x{len(mon)}, "
              f"Tuesday loss {tue.get('loss_pct')} (true {want}) export "
              f"{tue.get('customers_export_kwh')} kWh, Wednesday loss {wed.get('loss_pct')} "
              f"{wed.get('flags')}")
        dist_ok = dist_ok and len(mon) == 1 and "loss_pct" in wed and \
            tue.get("loss_pct") is not None and abs(tue["loss_pct"] - want) <= 0.5
    check(ok_all, "recall or precision below the mark (table above)")
    check(dist_ok, "district days not judged as they should be (lines above)")
    check(not false_pos, f"{len(false_pos)} false positives: {false_pos[:10]}")


if __name__ == "__main__":
    main("it_vee_score", run)
