#!/usr/bin/python3
"""soak — `make soak` (issue 17): amihead against amisim's default fault mix
for 30 simulated days, 5,000 customer meters (250 concentrators x 20, plus
one district meter each), release binaries, a fast simulated clock. Not part
of `make test` (it takes about half an hour of the whole box).

At the end of every simulated day it samples the head-end process:

  RSS        VmRSS of /proc/PID/status
  fds        entries of /proc/PID/fd, split into RocksDB table files (*.sst)
             and the rest (sockets, WAL, MANIFEST, LOG, eventfds ...)
  store      bytes on disk under storage.path (st_blocks), and per read
             written (amihead_store_reads_written_total from /metrics)

prints one table row per day, and fails when, after the first day (start-up,
the backfill and the first memtables and caches filling), any of them grows
beyond its tolerance:

  RSS        at most day 1 + 25 % (and at least + 64 MB): RocksDB's
             memtables (64 MB write buffer) and block cache (32 MB LRU)
             may still be filling after one day; a leak of 1 KB per read
             (14 M reads) or per link cycle (696,000 cycles) would exceed it
  other fds  at most day 1 + 8: a scrape's socket, a WAL or MANIFEST being
             rolled while sampled; a leak of one per cycle or per reconnect
             (the fault mix disconnects links) would exceed it
  sst fds    no more than the table files on disk and none to a deleted
             file: RocksDB keeps every live table open (max_open_files -1),
             so this count grows with the data by design, not by a leak
  store      bytes per read written, median of the last third of the days
             at most 25 % above the median of days 2..11: the store grows
             with the data (reads are kept; the outbox's 35-day retention is
             not reached in 30 days) and must not grow faster than it; a
             compaction caught half done holds its inputs and its output on
             disk at once, hence medians and the margin

  scripts/soak.py [--days 30] [--concentrators 50] [--meters 100]
                  [--time-scale 1440] [--timeout-ms 500] [--dir DIR]
                  [--bin build/bin]

The request timeout is wall-clock time: at 1440x amihead's default 2 s
would be 48 simulated minutes per silent meter (the fault mix leaves 0.5 %
of requests unanswered), so the soak uses 500 ms (12 simulated minutes);
loopback answers take well under a millisecond.
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from ahtest import free_port_block  # noqa: E402

EPOCH = 1740787200  # 2025-03-01T00:00:00Z
DAY = 86400
MB = 1 << 20


def configure(d, port, timeout_ms):
    """The amihead.yaml amisim wrote: store in DIR/store, one day of
    backfill, the request timeout, export and metrics on free ports."""
    path = os.path.join(d, "amihead.yaml")
    with open(path) as f:
        text = f.read()
    text = re.sub(r"(?m)^  path: .*$", f"  path: {d}/store", text, count=1)
    text = re.sub(r"(?m)^  backfill_days: .*$", "  backfill_days: 1", text, count=1)
    text = re.sub(r"(?m)^  timeout_ms: .*$", f"  timeout_ms: {timeout_ms}", text, count=1)
    text = (text.replace("tcp://127.0.0.1:5556", f"tcp://127.0.0.1:{port}")
            .replace("tcp://127.0.0.1:5557", f"tcp://127.0.0.1:{port + 1}")
            .replace("listen: 127.0.0.1:9464", f"listen: 127.0.0.1:{port + 2}"))
    with open(path, "w") as f:
        f.write(text)
    return path


def scrape(port):
    """Unlabelled totals of /metrics (labelled series summed by name)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=20) as r:
        text = r.read().decode()
    vals = {}
    for ln in text.splitlines():
        m = re.match(r"^([a-z_]+)(\{[^}]*\})? (\S+)$", ln)
        if m:
            try:
                vals[m.group(1)] = vals.get(m.group(1), 0.0) + float(m.group(3))
            except ValueError:
                pass
    return vals


def du(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_blocks * 512
            except FileNotFoundError:
                pass  # a file compaction removed while we walked
    return total


def sample(pid, store, mport):
    """One sample; taken again (up to 3 times, 1 s apart) while an fd points
    to a deleted table file, as one does for a moment during a compaction."""
    for _ in range(3):
        s = sample_once(pid, store, mport)
        if not s["deleted_fds"] and s["sst_fds"] <= s["sst_files"]:
            break
        time.sleep(1)
    return s


def sample_once(pid, store, mport):
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(ln.split()[1]) for ln in f if ln.startswith("VmRSS:")) * 1024
    sst = other = deleted = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            continue
        if target.endswith(".sst") or target.endswith(".sst (deleted)"):
            sst += 1
        else:
            other += 1
        deleted += target.endswith("(deleted)") and target.startswith(store)
    files = sum(1 for f in os.listdir(store) if f.endswith(".sst"))
    m = scrape(mport)
    return {"rss": rss, "sst_fds": sst, "other_fds": other, "deleted_fds": deleted,
            "sst_files": files, "store": du(store),
            "reads": int(m.get("amihead_store_reads_written_total", 0)),
            "overruns": int(m.get("amihead_cycle_overruns_total", 0)),
            "ratio": m.get("amihead_collection_ratio", float("nan"))}


def cpu_s(pid):
    """User + system CPU seconds of a process (/proc/PID/stat fields 14, 15)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def row(day, s):
    bpr = s["store"] / s["reads"] if s["reads"] else float("nan")
    return (f"{day:>3} {s['rss'] / MB:>8.1f} {s['other_fds']:>6} {s['sst_fds']:>4}/"
            f"{s['sst_files']:<4} {s['store'] / MB:>9.1f} {s['reads']:>10} {bpr:>7.1f} "
            f"{s['overruns']:>8} {s['ratio']:>6.3f}")


def judge(samples):
    """The tolerances of the docstring; returns the failures."""
    bad = []
    d1 = samples[0][1]
    rss_cap = d1["rss"] + max(64 * MB, d1["rss"] // 4)
    for day, s in samples[1:]:
        if s["rss"] > rss_cap:
            bad.append(f"day {day}: RSS {s['rss'] / MB:.1f} MB beyond {rss_cap / MB:.1f} MB")
        if s["other_fds"] > d1["other_fds"] + 8:
            bad.append(f"day {day}: {s['other_fds']} non-table fds, day 1 had "
                       f"{d1['other_fds']}")
        if s["deleted_fds"] or s["sst_fds"] > s["sst_files"]:
            bad.append(f"day {day}: {s['sst_fds']} table fds for {s['sst_files']} table "
                       f"files, {s['deleted_fds']} to deleted files")
    # bytes per read: medians of the first and last third after day 1, so a
    # compaction caught half done (inputs and output both on disk) is noise
    n = len(samples) - 1
    if n >= 3:
        bpr = [s["store"] / max(1, s["reads"]) for _, s in samples[1:]]
        k = max(1, n // 3)
        early, late = sorted(bpr[:k])[k // 2], sorted(bpr[-k:])[k // 2]
        if late > early * 1.25:
            bad.append(f"store: {late:.1f} B per read in the last {k} days, {early:.1f} "
                       f"in days 2..{k + 1}")
    return bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--concentrators", type=int, default=250)
    ap.add_argument("--meters", type=int, default=20)
    ap.add_argument("--timeout-ms", type=int, default=500)
    ap.add_argument("--time-scale", type=float, default=1440)
    ap.add_argument("--dir", help="work directory, kept (default: a temporary one, removed)")
    ap.add_argument("--bin", default="build/bin")
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("soak: terminated"))
    d = a.dir or tempfile.mkdtemp(prefix="amihead-soak.")
    os.makedirs(d, exist_ok=True)
    binp = os.path.abspath(a.bin)
    ports = free_port_block(a.concentrators + 3)
    log = open(os.path.join(d, "amihead.log"), "w")
    simlog = open(os.path.join(d, "amisim.log"), "w")
    sim = subprocess.Popen([os.path.join(binp, "amisim"), "--concentrators", str(a.concentrators),
                            "--meters", str(a.meters), "--port-base", str(ports + 3),
                            "--faults", "default", "--time-scale", str(a.time_scale),
                            "--epoch", str(EPOCH), "--write-config", d],
                           stdout=subprocess.PIPE, stderr=simlog, text=True)
    t0 = time.time()
    head = None
    try:
        for ln in sim.stdout:
            if ln.strip() == "ready":
                break
        else:
            sys.exit(f"soak: amisim exited {sim.wait()}")
        threading.Thread(target=sim.stdout.read, daemon=True).start()
        yaml = configure(d, ports, a.timeout_ms)
        # amisim's clock started at t0; the head-end joins it where it is now
        start = int(EPOCH + (time.time() - t0) * a.time_scale)
        until = EPOCH + a.days * DAY
        head = subprocess.Popen([os.path.join(binp, "amihead"), "run", "-c", yaml,
                                 "--time-scale", str(a.time_scale), "--epoch", str(start),
                                 "--until", str(until)],
                                stdout=subprocess.DEVNULL, stderr=log)
        store = os.path.join(d, "store")
        print(f"soak: {a.concentrators} x {a.meters} meters, --faults default, "
              f"{a.days} simulated days at {a.time_scale:g}x (about "
              f"{a.days * DAY / a.time_scale / 60:.0f} min), work dir {d}", flush=True)
        print("day   RSS MB  o.fds sst/files  store MB      reads   B/read overruns  ratio",
              flush=True)
        samples = []
        for day in range(1, a.days + 1):
            # a little before the day's end, so the last day is sampled live
            at = t0 + (EPOCH + day * DAY - 600 - EPOCH) / a.time_scale
            while time.time() < at:
                if head.poll() is not None:
                    sys.exit(f"soak: amihead exited {head.returncode} on day {day} "
                             f"(log {d}/amihead.log)")
                time.sleep(min(1.0, max(0.01, at - time.time())))
            s = sample(head.pid, store, ports + 2)
            cpu = (cpu_s(head.pid), cpu_s(sim.pid))
            samples.append((day, s))
            print(row(day, s), flush=True)
        print(f"soak: CPU by the last sample: amihead {cpu[0]:.0f} s, amisim {cpu[1]:.0f} s, "
              f"wall {time.time() - t0:.0f} s", flush=True)
        rc = head.wait(timeout=600)
        head = None
        if rc != 0:
            sys.exit(f"soak: amihead exit {rc} (log {d}/amihead.log)")
        bad = judge(samples)
        first, last = samples[0][1], samples[-1][1]
        print(f"soak: day 1 -> day {a.days}: RSS {first['rss'] / MB:.1f} -> "
              f"{last['rss'] / MB:.1f} MB (max {max(s['rss'] for _, s in samples) / MB:.1f}), "
              f"other fds {first['other_fds']} -> {last['other_fds']} (max "
              f"{max(s['other_fds'] for _, s in samples)}), store "
              f"{first['store'] / MB:.1f} -> {last['store'] / MB:.1f} MB for "
              f"{last['reads']} reads, wall {(time.time() - t0) / 60:.1f} min")
        for b in bad:
            print(f"soak: FAIL {b}")
        if bad:
            sys.exit(1)
        print("soak: ok")
    finally:
        if head and head.poll() is None:
            head.send_signal(signal.SIGTERM)
            try:
                head.wait(timeout=60)
            except subprocess.TimeoutExpired:
                head.kill()
        sim.terminate()
        sim.wait()
        if not a.dir:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
