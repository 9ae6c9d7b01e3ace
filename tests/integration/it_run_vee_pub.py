#!/usr/bin/python3
"""it_run_vee_pub — validation and publishing in `amihead run`, end to end.

amisim, one concentrator with five customer meters (and its district
meter), 08:00 local, no backfill: meter 0:1 stops registering at +1h while current
flows, meter 0:2 has its CT reversed at +1h, the rest are healthy.
`amihead tail` subscribes before the head-end starts and stays connected;
`amihead run` polls three simulated hours at 360x; half-way through an
operator releases the stopped meter's suspect reads.

Then:
- the tail's messages carry seq 1..N without a gap, each once;
- read/<district>/<meter> carries exactly the stored reads that are
  billable (no fault bit, or released), each once, and nothing else (a
  meter's last few clean reads may still be held back while a run that
  could start an episode is going, docs/operations.md): no
  read of the stopped or reversed meter after +1h except the released ones;
- anomaly/STOPPED/<stopped> and anomaly/REVERSED/<reversed> arrive (start);
- `amihead events --json` lists each episode start once, and the release
  with its operator and reason;
- gap/<meter> announces, once each, exactly the intervals the store lacks
  (meter 0:3 loses its supply from +1h to +1h45m; backfill_days 0, so they
  are never collected and never estimated);
- the released reads reach the subscriber with source "released", stored
  with the RELEASED bit (27) beside their fault bits.
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ahtest import Sim, check, iso, utc  # noqa: E402
from ahtest import (RELEASED, Tail, amihead, billable_published,  # noqa: E402
                     check_sequence, events, export_endpoints, finish_run, main,
                     meter_rows, published_reads, run_argv, stored, write_config)

SCALE = 360
EPOCH = "2025-03-14T00:00:00Z"
STEP = 900
FAULT_FROM = utc(EPOCH) + 3600
RUN_S = 3 * 3600


def run(tmp):
    faults = os.path.join(tmp, "faults.json")
    with open(faults, "w") as f:
        json.dump({"faults": [
            {"type": "stopped", "meter": "0:1", "from": "+1h"},
            {"type": "reversed", "meter": "0:2", "from": "+1h"},
            {"type": "missing", "meter": "0:3", "from": "+1h", "to": "+1h45m"}]}, f)
    stopped, reversed_ = Sim.meter_addr(0, 1), Sim.meter_addr(0, 2)
    missing = Sim.meter_addr(0, 3)
    ep, rp = export_endpoints()
    with Sim(tmp, "--concentrators", "1", "--meters", "5", "--faults", faults,
             "--time-scale", str(SCALE), "--epoch", EPOCH, "--write-config", tmp) as sim:
        # no backfill: an interval missed is a gap one interval later
        # short timeouts: the meter without supply must not stretch a
        # cycle over the next interval at 360x
        yaml, _ = write_config(tmp, 0, ep, rp, (("timeout_ms: 2000", "timeout_ms: 300"),
                                                ("retries: 2", "retries: 1")))
        district = {r[0]: r[12] for r in meter_rows(tmp)}

        with Tail(tmp, ep, rp) as tail:
            start = sim.sim_now()
            until = start + RUN_S
            head = subprocess.Popen(run_argv(yaml, SCALE, start, until),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True)
            try:
                # the operator, once STOPPED has been found (+1h + 4 intervals)
                rel_to = FAULT_FROM + 5 * STEP
                while sim.sim_now() < rel_to + 2 * STEP and head.poll() is None:
                    time.sleep(0.2)
                r = amihead("release", "-c", yaml, "--meter", stopped, "--from",
                            iso(FAULT_FROM), "--to", iso(rel_to), "--reason",
                            "meter replaced, registers confirmed on site", "--operator",
                            "li.wei", "--wait", "10")
                check(r.returncode == 0, f"release: exit {r.returncode}: {r.stderr}")
            except BaseException:
                head.kill()
                raise
            rc, err = finish_run(head, (until - start) / SCALE + 30,
                                 "amihead run did not stop")
            check(rc == 0, f"amihead run: exit {rc}: {err[-2000:]}")
            check("Sanitizer" not in err, err[-3000:])
            tail.drain()
        msgs = tail.messages()

    check_sequence(msgs)
    published = published_reads(msgs, district)

    released = 0
    gaps = {}
    for _, topic, body in msgs:
        if body["type"] == "gap":
            check(topic == f"gap/{body['meter']}", f"topic {topic}")
            t, last = utc(body["first"]), utc(body["last"])
            while t <= last:
                check((body["meter"], t) not in gaps, f"gap {body['meter']} {iso(t)} twice")
                gaps[(body["meter"], t)] = body
                t += body["step_s"]
    first_live = (start // STEP + 1) * STEP
    for m in district:
        reads = stored(yaml, m)
        for t in range(first_live, until - 3 * STEP, STEP):
            check((t in reads) != ((m, t) in gaps),
                  f"{m} {iso(t)}: {'stored' if t in reads else 'missing'}, "
                  f"{'announced' if (m, t) in gaps else 'not announced'} as a gap")
    check(sum(1 for g in gaps if g[0] == missing) >= 2,
          f"the missing meter's intervals were not announced: {sorted(gaps)}")
    for m in district:
        for t, row, pub in billable_published(m, stored(yaml, m), published):
            if m in (stopped, reversed_) and t > FAULT_FROM:
                check(m == stopped and pub["source"] == "released" and
                      row["quality"] & RELEASED and row["quality"] & 1,
                      f"{m} {iso(t)}: read after the fault published: {pub}; stored "
                      f"quality {row['quality']:#x} {row.get('flags')} source "
                      f"{row.get('source')}")
                released += 1
    check(not published, f"published reads the store does not hold: {list(published)[:3]}")
    check(released >= 4, f"{released} released reads of {stopped} reached the subscriber")

    anomalies = {(b["type"] if False else t.split("/")[1], b["meter"], b["state"])
                 for _, t, b in msgs if b["type"] == "anomaly"}
    check(("STOPPED", stopped, "start") in anomalies, f"no anomaly/STOPPED: {anomalies}")
    check(("REVERSED", reversed_, "start") in anomalies, f"no anomaly/REVERSED: {anomalies}")

    ev = events(yaml)
    starts = [(e["type"], e["meter"], e["since"]) for e in ev if e.get("state") == "start"]
    check(len(starts) == len(set(starts)), f"an episode start listed twice: {starts}")
    for ty, m in (("STOPPED", stopped), ("REVERSED", reversed_)):
        mine = [s for s in starts if s[0] == ty and s[1] == m]
        check(len(mine) == 1, f"{ty} {m}: {len(mine)} episode starts, want 1: {mine}")
        check(utc(mine[0][2]) > FAULT_FROM - STEP, f"{ty} {m} since {mine[0][2]}")
    rel = [e for e in ev if e["type"] == "RELEASE"]
    check(len(rel) == 1 and rel[0]["operator"] == "li.wei" and
          rel[0]["meter"] == stopped and "registers confirmed" in rel[0]["reason"] and
          rel[0]["released"] == released, f"release event: {rel}")
    r = amihead("events", "-c", yaml, "--json", "--meter", stopped, "--type", "stopped")
    check(r.returncode == 0 and r.stdout.count('"start"') == 1,
          f"events --meter --type: {r.stdout} {r.stderr}")


if __name__ == "__main__":
    main("it_run_vee_pub", run)
