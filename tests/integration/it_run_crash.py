#!/usr/bin/python3
"""it_run_crash — kill -9 of `amihead run` in the middle of a run.

amisim, one concentrator with five meters (and its district meter), no
faults, 360x. `amihead tail` subscribes before the head-end starts and stays
connected throughout. The head-end runs ~12 s (over an hour simulated, with
its one-day backfill), is killed with SIGKILL, and is started again on the
same store for another simulated hour.

Then:
- every read the store held right after the kill is still there with the
  same quality and registers, and `amihead query` shows each interval once;
- the subscriber's messages carry seq 1..N without a gap or a repeat, across
  the kill (what the killed process committed but never sent comes from
  replay of the restarted one);
- it received every billable stored read (no fault bit, or released) exactly
  once, and no other read (a meter's last few clean reads may still be held
  back at the final stop, at most 3);
- `amihead events --json` lists no episode start twice;
- the local day 2025-03-14 (ending 16:00Z, after the restart) is judged
  once: `amihead districts --day` shows it complete with a loss rate
  amisim's 2–6 % technical loss explains, and daily/<district> was
  published once for it with the same totals.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ahtest import BIN, Sim, check, fail, free_port_block, iso, utc  # noqa: E402

SCALE = 360
EPOCH = "2025-03-14T15:00:00Z"  # 23:00 local (UTC+8): a local day ends
FAULT_BITS = (1 << 24) - 1
RELEASED = 1 << 27


def amihead(*args, timeout=30):
    return subprocess.run([os.path.join(BIN, "amihead"), *args], capture_output=True,
                          text=True, timeout=timeout)


def stored(yaml, meter):
    r = amihead("query", "-c", yaml, "--meter", meter, "--json")
    check(r.returncode == 0, f"query {meter}: {r.stderr}")
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    ends = [x["interval_end"] for x in rows]
    check(len(ends) == len(set(ends)), f"{meter}: an interval stored twice")
    return {utc(x["interval_end"]): x for x in rows}


def main():
    tmp = tempfile.mkdtemp(prefix="it_run_crash.")
    try:
        run(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("ok")


def run(tmp):
    port = free_port_block(2)
    ep, rp = f"tcp://127.0.0.1:{port}", f"tcp://127.0.0.1:{port + 1}"
    with Sim(tmp, "--concentrators", "1", "--meters", "5", "--faults", "none",
             "--time-scale", str(SCALE), "--epoch", EPOCH, "--write-config", tmp) as sim:
        yaml = os.path.join(tmp, "amihead.yaml")
        with open(yaml) as f:
            text = f.read()
        with open(yaml, "w") as f:
            f.write(text.replace("backfill_days: 3", "backfill_days: 1")
                    .replace("tcp://127.0.0.1:5556", ep)
                    .replace("tcp://127.0.0.1:5557", rp))
        with open(os.path.join(tmp, "meters.csv")) as f:
            next(f)
            meters = [ln.split(",")[0] for ln in f if ln.strip() and ln[0] != "#"]

        tail_out = open(os.path.join(tmp, "tail.out"), "w+")
        tail = subprocess.Popen([os.path.join(BIN, "amihead"), "tail", "--endpoint", ep,
                                 "--replay", rp, "--from-seq", "1"],
                                stdout=tail_out, stderr=subprocess.PIPE, text=True)
        try:
            log1 = open(os.path.join(tmp, "run1.log"), "w")
            head = subprocess.Popen([os.path.join(BIN, "amihead"), "run", "-c", yaml,
                                     "--time-scale", str(SCALE), "--epoch",
                                     str(sim.sim_now())],
                                    stdout=subprocess.DEVNULL, stderr=log1)
            time.sleep(12)
            check(head.poll() is None, "amihead run ended before the kill")
            head.send_signal(signal.SIGKILL)
            head.wait(timeout=10)
            before = {m: stored(yaml, m) for m in meters}
            check(sum(map(len, before.values())) > 6 * 96,
                  f"only {sum(map(len, before.values()))} reads before the kill")

            start = sim.sim_now()
            until = start + 3600
            head = subprocess.Popen([os.path.join(BIN, "amihead"), "run", "-c", yaml,
                                     "--time-scale", str(SCALE), "--epoch", str(start),
                                     "--until", str(until)],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True)
            try:
                _, err = head.communicate(timeout=(until - start) / SCALE + 30)
            except subprocess.TimeoutExpired:
                head.kill()
                _, err = head.communicate()
                fail(f"restarted amihead run did not stop: {err[-2000:]}")
            check(head.returncode == 0, f"restart: exit {head.returncode}: {err[-2000:]}")
            log1.close()
            with open(log1.name) as f:
                err1 = f.read()
            for e in (err, err1):
                check("Sanitizer" not in e and "runtime error" not in e, e[-3000:])
            last = -1
            while True:
                time.sleep(1.5)
                size = os.path.getsize(tail_out.name)
                if size == last:
                    break
                last = size
        finally:
            tail.terminate()
            try:
                tail.wait(timeout=10)
            except subprocess.TimeoutExpired:
                tail.kill()
        tail_out.seek(0)
        msgs = []
        for line in tail_out:
            seq, topic, body = line.rstrip("\n").split(" ", 2)
            msgs.append((int(seq), topic, json.loads(body)))

    after = {m: stored(yaml, m) for m in meters}
    for m in meters:
        for t, row in before[m].items():
            now = after[m].get(t)
            check(now is not None, f"{m} {iso(t)}: committed before the kill, gone after")
            check(now["quality"] == row["quality"] and now["registers"] == row["registers"],
                  f"{m} {iso(t)}: changed across the restart: {row} -> {now}")

    seqs = [s for s, _, _ in msgs]
    check(seqs and seqs == list(range(1, len(seqs) + 1)),
          f"sequence not 1..N once each across the kill: "
          f"{[(a, b) for a, b in zip(seqs, seqs[1:]) if b != a + 1][:5]}")

    published = {}
    for _, topic, body in msgs:
        check(body["seq"] == _, f"seq {_}: body says {body['seq']}")
        if body["type"] == "read":
            key = (body["meter"], utc(body["end"]))
            check(key not in published, f"read {key} published twice across the kill")
            published[key] = body
    for m in meters:
        reads = after[m]
        held = 0
        for t in sorted(reads, reverse=True):
            if (m, t) in published or reads[t]["quality"] & FAULT_BITS:
                break
            held += 1
        check(held <= 3, f"{m}: last {held} clean reads never published")
        for t, row in sorted(reads.items())[:len(reads) - held]:
            q = row["quality"]
            billable = not (q & FAULT_BITS) or q & RELEASED
            pub = published.pop((m, t), None)
            check(bool(pub) == bool(billable),
                  f"{m} {iso(t)} quality {q:#x}: {'published' if pub else 'not published'}")
    check(not published, f"published reads the store does not hold: {list(published)[:3]}")

    r = amihead("events", "-c", yaml, "--json")
    check(r.returncode == 0, f"events: {r.stderr}")
    starts = [(e["type"], e.get("meter"), e.get("since"))
              for e in map(json.loads, r.stdout.splitlines()) if e.get("state") == "start"]
    check(len(starts) == len(set(starts)), f"an episode start listed twice: {starts}")


    r = amihead("districts", "-c", yaml, "--json")
    check(r.returncode == 0, f"districts: {r.stderr}")
    days = [json.loads(x) for x in r.stdout.splitlines()]
    keys = [(d["district"], d["day"]) for d in days]
    check(len(keys) == len(set(keys)), f"a district day judged twice: {keys}")
    daily = [b for _, _, b in msgs if b["type"] == "daily"]
    dkeys = [(b["district"], b["day"]) for b in daily]
    check(len(dkeys) == len(set(dkeys)) and set(dkeys) == set(keys),
          f"daily messages {dkeys} vs judged days {keys}")
    day = [d for d in days if d["day"] == "2025-03-14"]
    check(len(day) == 1 and day[0]["complete"] and day[0]["flags"] == [] and
          1.0 < day[0]["loss_pct"] < 7.0, f"2025-03-14: {day}")
    r = amihead("districts", "-c", yaml, "--day", "2025-03-14", "--json")
    check(r.returncode == 0 and len(r.stdout.splitlines()) == 1, f"--day: {r.stdout}")
    pub = [b for b in daily if b["day"] == "2025-03-14"][0]
    check(pub["complete"] and abs(float(pub["loss_rate_pct"]) - day[0]["loss_pct"]) < 0.006,
          f"daily message {pub} vs {day[0]}")


if __name__ == "__main__":
    main()
