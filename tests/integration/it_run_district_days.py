#!/usr/bin/python3
"""it_run_district_days — issue 13 defects 1, 2 and 5 and issue 14 item 3
through `amihead run` against amisim: how a district day is judged.

amisim, 4 concentrators x 12 customer meters (+ district meters), every
district 4 % technical loss of its supply, the fourth a PV district
(--pv-districts 4: 40 % prosumers exporting 1.5 x their import, part of
it used by their neighbours). The head-end starts fresh on Wednesday
2025-03-12 at 23:50 local with backfill_days 2, and runs to Thursday 00:20.
Its first cycle's window reaches back to Monday 23:45, so Monday is
partial, Tuesday and Wednesday are whole local days.

Meters placed by the truth file of a first, files-only amisim (the busiest
one-way customer meter of a district that is not the thief of anything):
  d0000: memory holes (30 % of the load records lost) on two meters, one
         over Tuesday 00:15-23:45, one over Wednesday 00:15-23:45; the
         day-boundary records and the daily freeze are intact;
  d0001: the import register steps back by 213 kWh mid-range on
         Wednesday 10:00 (a register fault, not a rollover);
  d0002: a healthy meter whose import register really wraps past
         999999.99 on Wednesday 12:00;
  d0003: the PV district.

Checked (events and `amihead districts --json`):
  - issue 14.3: Tuesday and Wednesday of every district are judged by
    Thursday 00:20 (the first cycles; not backfill_days later), Monday is
    reported INCOMPLETE exactly once and blocks nothing;
  - defect 2: d0000's days with memory holes are judged from the boundary
    registers, loss 4 % within 0.3 points;
  - defect 1: d0001's Wednesday is judged on the other eleven customers
    (PARTIAL) naming the meter whose register went down ("register
    decrease"), never with a made-up +999,786 kWh: its loss is an upper
    bound (that meter's consumption shows as loss), not a -100,000 %;
    the meter has a REVERSED episode from Wednesday 10:00; d0002's rollover day is judged at 4 % and the
    rollover meter has no episode at all;
  - defect 5: d0003's days come out at 4 % (supply = district forward +
    customers' export, sales = customers' import + district reverse), no
    LINE_LOSS; a balance without the export would be about -3 %.
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
CONC, METERS = 4, 12
SEED = 20251303
START = utc("2025-03-12T15:50:00Z")        # Wednesday 23:50 local
MON = utc("2025-03-09T16:00:00Z")          # Monday 00:00 local
TUE, WED, THU = MON + 86400, MON + 2 * 86400, MON + 3 * 86400
UNTIL = THU + 20 * 60                      # Thursday 00:20 local
SCALE = 40  # 45 s: the ASan build on a loaded box still backfills 2 days by 00:20
LOSS = 4.0


def fleet_args():
    return ["--concentrators", str(CONC), "--meters", str(METERS), "--seed", str(SEED),
            "--epoch", iso(START), "--loss", str(LOSS), "--pv-districts", "4"]


def customers(truth_path):
    doc = Truth(truth_path).doc
    cols = doc["meter_columns"]
    out = []
    for r in doc["meters"]:
        m = dict(zip(cols, r))
        if m["role"] == "customer":
            m["mean_import"] = sum(m["mean_import_per_tariff"])
            out.append(m)
    return out


def place(meters):
    def busiest(k, n, skip=()):
        mine = [m for m in meters if m["conc"] == k and not m["pv"] and
                m["address"] not in skip]
        mine.sort(key=lambda m: -m["mean_import"])
        return [m["address"] for m in mine[:n]]
    holes = busiest(0, 2)
    faults = [
        {"type": "memory_holes", "meter": holes[0], "from": iso(TUE + STEP),
         "to": iso(TUE + 86400 - STEP), "share": 0.3},
        {"type": "memory_holes", "meter": holes[1], "from": iso(WED + STEP),
         "to": iso(WED + 86400 - STEP), "share": 0.3},
        {"type": "decrease", "meter": busiest(1, 1)[0], "from": iso(WED + 10 * 3600),
         "kwh": 213},
        {"type": "rollover", "meter": busiest(2, 1)[0], "from": iso(WED + 12 * 3600)},
    ]
    return faults


def run(tmp):
    t0 = time.monotonic()
    amisim = os.path.join(BIN, "amisim")
    plain = os.path.join(tmp, "plain.json")
    subprocess.run([amisim, *fleet_args(), "--truth", plain], check=True, timeout=60)
    faults = place(customers(plain))
    fpath = os.path.join(tmp, "faults.json")
    with open(fpath, "w") as fh:
        json.dump({"faults": faults}, fh, indent=1)
    by_type = {f["type"]: f["meter"] for f in faults}

    with Sim(tmp, *fleet_args(), "--faults", fpath, "--time-scale", str(SCALE),
             "--write-config", tmp, log_markers=["Sanitizer"]) as sim:
        yaml, _ = configure(tmp, {"backfill_days": 2, "stagger_s": 5, "timeout_ms": 500,
                                  "retries": 1})
        start = sim.sim_now()
        with Run(yaml, "--time-scale", str(SCALE), "--epoch", str(start), "--until",
                 str(UNTIL)) as hd:
            hd.wait_exit((UNTIL - start) / SCALE + 120)
        truth = sim.truth()
    t_run = time.monotonic() - t0
    pv = [d for d in truth.doc["concentrators"] if d["pv_local"] > 0]
    check([d["district"] for d in pv] == ["d0003"], f"PV districts {pv}")

    r = amihead("districts", "-c", yaml, "--json")
    check(r.returncode == 0, f"districts: {r.stderr}")
    days = [json.loads(x) for x in r.stdout.splitlines()]
    r = amihead("events", "-c", yaml, "--json")
    check(r.returncode == 0, f"events: {r.stderr}")
    evs = [json.loads(x) for x in r.stdout.splitlines()]

    def dayname(t):
        return time.strftime("%Y-%m-%d", time.gmtime(t + TZ))
    got = {}
    for d in days:
        check((d["district"], d["day"]) not in got,
              f"{d['district']} {d['day']} judged twice")
        got[(d["district"], d["day"])] = d
    print(f"district days {CONC}x{METERS} (run {t_run:.1f} s, {len(days)} judged by "
          f"Thursday 00:20 local)")
    for (dist, day), d in sorted(got.items()):
        print(f"  {dist} {day}: loss {d.get('loss_pct')} flags {d['flags']} "
              f"supply {d.get('supply_kwh')} sales {d.get('sales_kwh')} "
              f"export {d.get('customers_export_kwh')} unknown {d.get('unknown')}")

    inc = [e for e in evs if e.get("type") == "INCOMPLETE"]
    for k in range(CONC):
        dist = f"d{k:04d}"
        mon = [e for e in inc if e["district"] == dist and e["day"] == dayname(MON)]
        check(len(mon) == 1, f"{dist} Monday reported INCOMPLETE {len(mon)} times")
        for t in (TUE, WED):
            check((dist, dayname(t)) in got,
                  f"{dist} {dayname(t)} not judged by Thursday 00:20 (issue 14.3)")

    def near_loss(dist, t, what):
        d = got[(dist, dayname(t))]
        loss = d.get("loss_pct")
        check(loss is not None and abs(loss - LOSS) < 0.3 and not d["flags"],
              f"{what}: {dist} {dayname(t)} loss {loss} flags {d['flags']} "
              f"unknown {d.get('unknown')}, expected {LOSS} %")

    # defect 2: holes inside the day do not matter
    near_loss("d0000", TUE, "memory holes")
    near_loss("d0000", WED, "memory holes")
    # defect 1: a decrease is no rollover; the day is INCOMPLETE, the meter named
    near_loss("d0001", TUE, "before the decrease")
    w = got[("d0001", dayname(WED))]
    check("PARTIAL" in w["flags"] and not w["complete"] and
          LOSS - 0.3 < w.get("loss_pct", -1e9) < 100, f"decrease day: {w}")
    check([u["meter"] for u in w["unknown"]] == [by_type["decrease"]] and
          "decrease" in w["unknown"][0]["reason"], f"decrease day names {w['unknown']}")
    check(by_type["decrease"] not in [c["meter"] for c in w["customers"]],
          "the meter with unknown energy listed as a mover")
    rev = [e for e in evs if e.get("type") == "REVERSED" and e.get("state") == "start" and
           e.get("meter") == by_type["decrease"]]
    check(len(rev) == 1 and abs(utc(rev[0]["at"]) - (WED + 10 * 3600)) <= 2 * STEP,
          f"REVERSED on the decreased meter: {rev}")
    # a real rollover is neither
    near_loss("d0002", WED, "rollover")
    ro = [e for e in evs if e.get("state") == "start" and
          e.get("meter") == by_type["rollover"]]
    check(not ro, f"episodes on the rollover meter: {ro}")
    # defect 5: the PV district balances with the export
    near_loss("d0003", TUE, "PV export")
    near_loss("d0003", WED, "PV export")
    check(got[("d0003", dayname(TUE))]["customers_export_kwh"] > 0, "no PV export seen")
    holes = [e for e in evs if e.get("state") == "start" and
             e.get("meter") in (faults[0]["meter"], faults[1]["meter"])]
    check(not holes, f"episodes on meters with memory holes: {holes}")


if __name__ == "__main__":
    main("it_run_district_days", run)
