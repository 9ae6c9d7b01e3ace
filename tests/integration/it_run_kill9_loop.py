#!/usr/bin/python3
"""it_run_kill9_loop — the kill -9 loop of issue 17's campaign: `amihead
run` killed with SIGKILL 20 times at random moments (0.3 to 2.5 s after each
start, seeded) while it collects and publishes, restarted each time on the
same store, then run to a clean stop. amisim: 1 concentrator x 4 meters, no
faults, 360x; `amihead tail` subscribed from seq 1 throughout.

Checked against amisim's truth and the store:
- 0 lost: every read stored before a kill is there after it, its registers
  unchanged, and its verdict too once it was published (a read deferred
  unjudged behind its meter's backlog gets its verdict later);
- 0 duplicated: each interval stored once, each read published once;
- the subscriber's sequence is 1..N without a gap or a repeat, and its
  lines equal the outbox byte for byte (topic and body);
- every stored register equals the load record amisim serves;
- the backfill window up to the last cycle is complete at the end.
"""
import json
import os
import random
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ahtest import store_outbox  # noqa: E402
from ahtest import Sim, check, check_window_complete, iso, utc  # noqa: E402
from ahtest import (Tail, check_sequence, export_endpoints, main, meter_ids,  # noqa: E402
                     published_reads, run_argv, run_until, stored, write_config)

SCALE = 360
EPOCH = "2025-03-14T00:00:00Z"
STEP = 900
KILLS = 20


def run(tmp):
    rnd = random.Random(1717)
    ep, rp = export_endpoints()
    fleet = ["--concentrators", "1", "--meters", "4"]
    with Sim(tmp, *fleet, "--faults", "none", "--time-scale", str(SCALE), "--epoch",
             EPOCH, "--write-config", tmp) as sim:
        yaml, _ = write_config(tmp, 1, ep, rp)
        meters = meter_ids(tmp)
        t_first = sim.sim_now()
        seen = {m: {} for m in meters}
        waits = []
        with Tail(tmp, ep, rp) as tail:
            for k in range(KILLS):
                log = open(os.path.join(tmp, f"run{k}.log"), "w")
                head = subprocess.Popen(run_argv(yaml, SCALE, sim.sim_now()),
                                        stdout=subprocess.DEVNULL, stderr=log)
                wait = rnd.uniform(0.3, 2.5)
                waits.append(wait)
                time.sleep(wait)
                check(head.poll() is None, f"kill {k}: amihead ended by itself")
                head.send_signal(signal.SIGKILL)
                head.wait(timeout=10)
                log.close()
                with open(log.name) as f:
                    err = f.read()
                check("Sanitizer" not in err and "runtime error" not in err, err[-3000:])
                # a read stored ahead of its meter's backlog waits unjudged
                # (deferred) and may get its verdict after the restart; one
                # published clean must never change
                bodies = [json.loads(b) for _, _, b in store_outbox(yaml)]
                pub = {(b["meter"], utc(b["end"])) for b in bodies if b["type"] == "read"}
                for m in meters:
                    now = stored(yaml, m)  # also: each interval once
                    for t, row in seen[m].items():
                        got = now.get(t)
                        check(got is not None, f"kill {k}: {m} {iso(t)} lost")
                        check(got["registers"] == row["registers"] and
                              (got["quality"] == row["quality"] or (m, t) not in pub),
                              f"kill {k}: {m} {iso(t)} changed: {row} -> {got}")
                    seen[m] = now
            start = sim.sim_now()
            until = (start // STEP) * STEP + 2 * 3600
            rc, err = run_until(yaml, SCALE, start, until, 30, "the last run did not stop")
            check(rc == 0 and "Sanitizer" not in err, f"last run: exit {rc}: {err[-2000:]}")
            tail.drain()
        msgs = tail.messages()

    n_before = sum(map(len, seen.values()))
    check(n_before > 4 * 96, f"only {n_before} reads stored across the kills")
    check_sequence(msgs)
    published_reads(msgs)  # each read once
    box = store_outbox(yaml)
    check(len(box) == len(msgs) and box[0][0] == 1,
          f"outbox {len(box)} messages (first {box[:1]}), subscriber {len(msgs)}")
    sub = {}
    with open(os.path.join(tmp, "tail.out"), "rb") as f:
        for line in f:
            seq, topic, body = line.rstrip(b"\n").split(b" ", 2)
            sub[int(seq)] = (topic.decode(), body)
    for seq, topic, body in box:
        check(sub.get(seq) == (topic, body), f"seq {seq}: subscriber {sub.get(seq)} != "
              f"outbox {(topic, body)}")

    first = (t_first // STEP) * STEP
    # the last boundary's cycle may still be running at --until on a loaded
    # box: completeness is judged up to the one before it
    lo, hi = first - 86400 + STEP, (until // STEP) * STEP - 2 * STEP
    check_window_complete(
        yaml, fleet, meters, lo, hi,
        lambda m, missing: f"{m}: missing at the end {missing} (window {iso(lo)}.."
        f"{iso(hi)}, last run from {iso(start)}): {err[-2500:]}")
    print(f"{KILLS} kills after {min(waits):.1f}..{max(waits):.1f} s; {n_before} reads "
          f"kept across them; {len(msgs)} messages, seq 1..{len(msgs)}, equal to the outbox")


if __name__ == "__main__":
    main("it_run_kill9_loop", run)
