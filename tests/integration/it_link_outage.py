#!/usr/bin/python3
"""it_link_outage — logs a person reads and link outages that become events
(issue 14, item 7).

amisim, 1 concentrator x 3 meters at 60x, goes offline 20 simulated minutes
after the head-end starts, for 30 minutes: its listener accepts and closes
every connection at once (a concentrator whose modem is down behind a port
forward). The head-end runs from the simulator's clock for 70 minutes.

- Cycle lines name their interval boundary in ISO time, never epoch seconds.
- A link that accepts and drops backs off exponentially: over the 30 real
  seconds of the outage (from the first drop, at the 16:30 cycle, about 20)
  it reconnects at most 10 times (1, 2, then a quarter interval, 3.75 s at
  60x: about 7), where a retry every second would be about 20.
- The outage, longer than one interval, is one LINK_DOWN event (in `amihead
  events --type LINK_DOWN`, since its start) and one LINK_UP once the link
  answers again; both are on the feed as anomaly/LINK_DOWN/c0 and
  anomaly/LINK_UP/c0, valid by docs/wire-format.schema.json;
  amihead_link_outages_total{link="c0"} counts 1.
"""
import json
import os
import re
import sys
import urllib.request

import jsonschema

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ahtest import Sim, check, iso, utc  # noqa: E402
from ahtest import Run, configure  # noqa: E402
from ahtest import Tail, amihead, main  # noqa: E402

SCALE = 60
STEP = 900
SRC = os.environ.get("AH_SRC", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                            "..", ".."))


def run(tmp):
    epoch = utc("2025-03-14T16:00:00Z")
    down, up = epoch + 20 * 60, epoch + 50 * 60
    faults = os.path.join(tmp, "faults.json")
    with open(faults, "w") as f:
        json.dump({"faults": [{"type": "offline", "concentrator": 0, "from": iso(down),
                               "to": iso(up)}]}, f)
    with Sim(tmp, "--concentrators", "1", "--meters", "3", "--faults", faults,
             "--epoch", iso(epoch), "--time-scale", str(SCALE), "--write-config",
             tmp) as sim:
        yaml, mport = configure(tmp, {"backfill_days": 1, "timeout_ms": 500,
                                      "retries": 1})
        with open(yaml) as f:
            m = re.search(r"pub: (tcp://\S+)\n\s+replay: (tcp://\S+)", f.read())
        check(m, "no export endpoints in the config")
        until = epoch + 70 * 60
        with Tail(tmp, m.group(1), m.group(2)) as tail, \
                Run(yaml, "--time-scale", str(SCALE), "--epoch", str(sim.sim_now()),
                    "--until", str(until)) as hd:
            hd.wait_for(lambda ls: any("LINK_UP" in ln for ln in ls),
                        (until - epoch) / SCALE + 60, "LINK_UP in the log")
            metrics = urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics",
                                             timeout=10).read().decode()
            hd.wait_exit((until - epoch) / SCALE + 60)
            tail.drain()
            msgs = tail.messages()
    log = hd.lines
    print("\n".join(ln for ln in log if "LINK_" in ln or "stopping" in ln))

    cycles = [ln for ln in log if " cycle " in ln and " done in " in ln]
    check(cycles, "no cycle lines")
    check(all(re.search(r"cycle \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ done", ln) for ln in cycles),
          f"cycle lines without an ISO time: {cycles[:3]}")
    check(not any(re.search(r"cycle (of )?\d{9,}", ln) for ln in log),
          "a cycle line with epoch seconds")

    summary = next(ln for ln in log if "stopping:" in ln)
    recon = int(re.search(r"(\d+) reconnects", summary).group(1))
    print(f"reconnects over the run (30 real s offline): {recon}")
    check(recon <= 10, f"{recon} reconnects: no exponential backoff ({summary})")

    r = amihead("events", "-c", yaml, "--json")
    check(r.returncode == 0, f"events: {r.stderr}")
    evs = [json.loads(x) for x in r.stdout.splitlines()]
    downs = [e for e in evs if e["type"] == "LINK_DOWN"]
    ups = [e for e in evs if e["type"] == "LINK_UP"]
    check(len(downs) == 1 and len(ups) == 1, f"LINK_DOWN {downs}, LINK_UP {ups}")
    check(downs[0]["link"] == "c0", f"LINK_DOWN of {downs[0]}")
    since = utc(downs[0]["since"])
    check(down - STEP <= since <= down + STEP, f"outage since {downs[0]['since']}, "
          f"amisim went offline at {iso(down)}")
    check(utc(ups[0]["at"]) >= up, f"LINK_UP at {ups[0]['at']} before {iso(up)}")
    r = amihead("events", "-c", yaml, "--type", "LINK_DOWN")
    check(r.returncode == 0 and "LINK_DOWN" in r.stdout, f"events --type: {r.stdout}")

    topics = [t for _, t, _ in msgs]
    check("anomaly/LINK_DOWN/c0" in topics and "anomaly/LINK_UP/c0" in topics,
          f"feed topics: {sorted(set(t.split('/')[0] + '/' + t.split('/')[1] for t in topics))}")
    with open(os.path.join(SRC, "docs", "wire-format.schema.json")) as f:
        validator = jsonschema.Draft7Validator(json.load(f))
    for _, t, body in msgs:
        if t.startswith("anomaly/LINK_"):
            errs = [e.message for e in validator.iter_errors(body)]
            check(not errs, f"{t} does not match the wire schema: {errs} {body}")
    check(re.search(r'amihead_link_outages_total\{link="c0"\} 1\b', metrics),
          f"metric: {[ln for ln in metrics.splitlines() if 'outage' in ln]}")


if __name__ == "__main__":
    main("it_link_outage", run)
