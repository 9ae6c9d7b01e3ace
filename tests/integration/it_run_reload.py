#!/usr/bin/python3
"""it_run_reload — SIGHUP reloads amihead.yaml and the inventory without
losing or repeating a read (issue 18 #2).

amisim: 2 concentrators x 4 meters (+ district meters), no faults, 360x.
The head-end starts with two customer meters left out of meters.csv and a
subscriber (`amihead tail`) on the export. While it collects:
1. amihead.yaml is broken (interval_min: 7) and SIGHUP sent: the reload is
   refused with check-config's message (FILE:LINE: key) in the log, and the
   running config keeps collecting;
2. the yaml is restored, the two meters added to meters.csv and SIGHUP
   sent: the log says 2 added; the run goes on to --until.
Then:
- every meter of the first inventory has every interval of the run (from
  its first cycle's window to the last complete cycle) stored exactly once
  and published exactly once, on one gapless sequence 1..N across the two
  reloads;
- the added meters have every interval from the cycle after the reload on;
- stored reads are published when billable (ahtest.billable_published);
- per meter and rule, episode starts and clears alternate (a reload that
  lost a meter's validation state would start an open episode again).
"""
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ahtest import Sim, check, iso  # noqa: E402
from ahtest import (Tail, billable_published, check_sequence, events,  # noqa: E402
                     export_endpoints, finish_run,
                     main, meter_rows, published_reads, run_argv, stored, write_config)

SCALE = 360
EPOCH = "2025-03-14T00:00:00Z"
STEP = 900
RUN_S = 4 * 3600  # simulated


def wait_log(errf, pattern, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        errf.seek(0)
        m = re.search(pattern, errf.read())
        if m:
            return m
        time.sleep(0.2)
    errf.seek(0)
    check(False, f"log never said {pattern!r}: {errf.read()[-2000:]}")


def run(tmp):
    ep, rp = export_endpoints()
    with Sim(tmp, "--concentrators", "2", "--meters", "4", "--faults", "none",
             "--time-scale", str(SCALE), "--epoch", EPOCH, "--write-config", tmp) as sim:
        yaml, _ = write_config(tmp, 1, ep, rp,
                               replace=[("listen: 127.0.0.1:9464", 'listen: ""')])
        with open(yaml) as f:
            good_yaml = f.read()
        csv = os.path.join(tmp, "meters.csv")
        with open(csv) as f:
            full = f.read()
        rows = meter_rows(tmp)
        customers = [r for r in rows if r[14].strip() == "customer"]
        late = [customers[0][0], customers[-1][0]]  # one on each concentrator
        check(customers[0][2] != customers[-1][2], "late meters on one link")
        with open(csv, "w") as f:
            f.write("".join(ln for ln in full.splitlines(True)
                            if ln.split(",")[0] not in late))
        first_ids = [r[0] for r in rows if r[0] not in late]

        errf = open(os.path.join(tmp, "run.err"), "w+")
        with Tail(tmp, ep, rp) as tail:
            start = sim.sim_now()
            until = start + RUN_S
            p = subprocess.Popen(run_argv(yaml, SCALE, start, until), stdout=subprocess.PIPE,
                                 stderr=errf, text=True)
            try:
                while sim.sim_now() < start + 3 * STEP:
                    time.sleep(0.2)
                # 1. a broken config is refused, the old one keeps running
                with open(yaml, "w") as f:
                    f.write(good_yaml.replace("interval_min: 15", "interval_min: 7"))
                p.send_signal(signal.SIGHUP)
                wait_log(errf, r"refused, the running config is kept", 30)
                errf.seek(0)
                log = errf.read()
                check(re.search(r"\[reload\] .*amihead\.yaml:\d+:.*interval_min", log),
                      f"refused reload without check-config's message: {log[-1500:]}")
                check(p.poll() is None, "a refused reload stopped the head-end")
                while sim.sim_now() < start + 6 * STEP:
                    time.sleep(0.2)
                # 2. the fixed config with two more meters
                with open(yaml, "w") as f:
                    f.write(good_yaml)
                with open(csv, "w") as f:
                    f.write(full)
                t_hup = sim.sim_now()
                p.send_signal(signal.SIGHUP)
                m = wait_log(errf, r"\[reload\] \d+ links, (\d+) meters \((\d+) added, "
                             r"(\d+) removed\)", 60)
                check((int(m.group(1)), int(m.group(2)), int(m.group(3))) ==
                      (len(rows), 2, 0), f"reload said {m.group(0)}")
                rc, _ = finish_run(p, (until - sim.sim_now()) / SCALE + 60,
                                   "amihead run did not stop at --until")
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            tail.drain()
            msgs = tail.messages()
        errf.seek(0)
        err = errf.read()
        check(rc == 0, f"amihead run: exit {rc}: {err[-3000:]}")
        check("Sanitizer" not in err, err[-3000:])
        check(err.count("[reload] SIGHUP") == 2, "two SIGHUPs, two reload attempts")

    check_sequence(msgs)
    published = published_reads(msgs)
    first = (start // STEP) * STEP
    lo = first - 86400 + STEP
    hi = (until // STEP) * STEP - STEP
    want = set(range(lo, hi + 1, STEP))
    for mid in first_ids:
        reads = stored(yaml, mid)  # fails on an interval stored twice
        missing = want - set(reads)
        check(not missing, f"{mid}: {len(missing)} intervals missing, first "
              f"{iso(min(missing)) if missing else ''}")
        # stored reads that are billable published once, no others
        billable_published(mid, reads, published)
    new_from = (t_hup // STEP) * STEP + 2 * STEP
    for mid in late:
        reads = stored(yaml, mid)
        need = set(range(new_from, hi + 1, STEP))
        check(need and not (need - set(reads)),
              f"{mid}: added meter lacks {len(need - set(reads))} of {len(need)} intervals "
              f"after the reload")
    # a reload that lost a meter's validation state starts an open
    # episode again: per meter and rule, starts and clears must alternate
    last = {}
    for e in events(yaml):
        if e.get("state") not in ("start", "cleared"):
            continue
        key = (e["meter"], e["type"])
        check(last.get(key, "cleared") != e["state"],
              f"{key}: '{e['state']}' twice in a row: validation state lost in a reload")
        last[key] = e["state"]
    print(f"reload: {len(first_ids)} meters x {len(want)} intervals once each, "
          f"{len(late)} added, {len(msgs)} messages gapless")


if __name__ == "__main__":
    main("it_run_reload", run)
