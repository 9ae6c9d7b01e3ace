#!/usr/bin/python3
"""it_scorecard — scripts/scorecard.py (what `make demo` ends with) against a
real run: amisim 2 concentrators x 5 meters with a stopped meter (the
busiest of concentrator 0, from 18:00 local the evening before, so its reads
come in as backfill) and concentrator 1 offline for 30 minutes from 20
minutes into the run; `amihead run` two simulated hours at 120x with a day
of backfill, `amihead tail --from-seq 1` standing in for billing.

- The scorecard finds both faults: the stopped meter by STOPPED within 90
  minutes of its start, the offline concentrator by LINK_DOWN c1; it prints the
  district table and billing gapless from seq 1; exit 0. (A theft needs a
  judged district day: make demo, after item 3 of issue 14, shows it.)
- It can fail: a truth file with one more fault amihead cannot have seen (a
  reversed CT on a healthy meter) is MISSED, exit 1; a billing file with one
  message removed is NOT gapless, exit 1.
"""
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ahtest import BIN, Sim, Truth, check, iso, utc  # noqa: E402
from ahtest import configure  # noqa: E402
from ahtest import Tail, main, run_until  # noqa: E402

SRC = os.environ.get("AH_SRC", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                            "..", ".."))
SCALE = 120
EPOCH = utc("2025-03-14T16:00:00Z")  # 00:00 local on 15 March
FLEET = ["--concentrators", "2", "--meters", "5", "--seed", "7"]


def scorecard(tmp, yaml, truth, billing, *extra):
    return subprocess.run(["/usr/bin/python3", os.path.join(SRC, "scripts", "scorecard.py"),
                           "--amihead", os.path.join(BIN, "amihead"), "--truth", truth,
                           "-c", yaml, "--billing", billing, *extra],
                          capture_output=True, text=True, timeout=120)


def run(tmp):
    plain = os.path.join(tmp, "plain.json")
    subprocess.run([os.path.join(BIN, "amisim"), *FLEET, "--epoch", iso(EPOCH), "--truth",
                    plain], check=True, timeout=60)
    doc = Truth(plain).doc
    cols = doc["meter_columns"]
    rows = [dict(zip(cols, r)) for r in doc["meters"]]
    busy = max((m for m in rows if m["conc"] == 0 and m["role"] == "customer"),
               key=lambda m: sum(m["mean_import_per_tariff"]))
    healthy = next(m for m in rows if m["conc"] == 1 and m["role"] == "customer")
    stop_from = EPOCH - 6 * 3600  # 18:00 local the evening before
    faults = os.path.join(tmp, "faults.json")
    with open(faults, "w") as f:
        json.dump({"faults": [
            {"type": "stopped", "meter": busy["address"], "from": iso(stop_from)},
            {"type": "offline", "concentrator": 1, "from": iso(EPOCH + 20 * 60),
             "to": iso(EPOCH + 50 * 60)}]}, f)

    with Sim(tmp, *FLEET, "--faults", faults, "--epoch", iso(EPOCH), "--time-scale",
             str(SCALE), "--write-config", tmp) as sim:
        yaml, _ = configure(tmp, {"backfill_days": 1, "timeout_ms": 500})
        with open(yaml) as f:
            m = re.search(r"pub: (tcp://\S+)\n\s+replay: (tcp://\S+)", f.read())
        with Tail(tmp, m.group(1), m.group(2)) as tail:
            start = sim.sim_now()
            rc, err = run_until(yaml, SCALE, start, EPOCH + 2 * 3600, 90, "run did not stop")
            check(rc == 0, f"run: {err[-2000:]}")
            tail.drain()
        truth = sim.truth_path
    billing = tail.out.name

    r = scorecard(tmp, yaml, truth, billing)
    print(r.stdout)
    check(r.returncode == 0, f"scorecard exit {r.returncode}: {r.stderr}")
    js = json.loads(scorecard(tmp, yaml, truth, billing, "--json").stdout)
    got = {(x["fault"], x["where"]): x for x in js["faults"]}
    s = got[("stopped", busy["address"])]
    check(s["found"] and s["rule"] == "STOPPED" and 0 < s["minutes"] <= 90,
          f"stopped meter: {s}")
    o = got[("offline", "c1")]
    check(o["found"] and o["rule"] == "LINK_DOWN c1", f"offline concentrator: {o}")
    check(js["billing"]["gapless_from_1"] and js["billing"]["first"] == 1,
          f"billing: {js['billing']}")
    check("== district line loss" in r.stdout and "gapless from seq 1" in r.stdout,
          "scorecard sections")

    # it can fail: a fault nobody injected into the meters is missed ...
    with open(truth) as f:
        doc = json.load(f)
    doc["faults"].append({"type": "reversed", "concentrator": 1,
                          "meter": healthy["address"], "from": iso(EPOCH + 1800)})
    fake = os.path.join(tmp, "fake-truth.json")
    with open(fake, "w") as f:
        json.dump(doc, f)
    r = scorecard(tmp, yaml, fake, billing)
    check(r.returncode == 1 and re.search(rf"reversed\s+{healthy['address']}.*MISSED",
                                          r.stdout), f"fake fault: {r.stdout}")
    # ... and a lost message is a gap
    with open(billing) as f:
        lines = f.readlines()
    holed = os.path.join(tmp, "holed.txt")
    with open(holed, "w") as f:
        f.writelines(lines[:5] + lines[6:])
    r = scorecard(tmp, yaml, truth, holed)
    check(r.returncode == 1 and "NOT gapless from 1" in r.stdout, f"gap: {r.stdout}")


if __name__ == "__main__":
    main("it_scorecard", run)
