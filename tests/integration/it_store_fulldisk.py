#!/usr/bin/python3
"""it_store_fulldisk — the store's disk fills up under a running head-end
(issue 17 item 1). Debian's RocksDB 7.8 aborts (exit 134, assertion
`sync_without_flush_called_`) on the first write that meets a full disk,
and again on every restart: the head-end must never let it get there.

On a 24 MB tmpfs mounted for the test (root only; skipped otherwise),
storage.reserve_mb 4, 2 concentrators x 10 meters at 360x:
- the run collects; then a filler file leaves 2 MB free (below the
  reserve, yet room for a write already under way): the head-end stays up,
  says "no space for the store" and /metrics shows amihead_store_full 1;
- the filler goes: writing resumes by itself (amihead_store_full 0), the
  run stops at --until with exit 0, and every interval of the one-day
  backfill window up to the last cycle is stored (nothing committed lost,
  the held reads written, the paused cycles backfilled);
- a restart while below the reserve exits 1 at once with a message naming
  the reserve, not 134, and the store opens fine once space is back.
"""
import os
import re
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ahtest import Sim, check, fail, free_port_block, iso  # noqa: E402
from ahtest import (amihead, export_endpoints, finish_run, main,  # noqa: E402
                     meter_ids, query, run_argv, write_config)

SCALE = 360
EPOCH = "2025-03-14T00:00:00Z"
STEP = 900
HOURS = 4


def metric(port, name):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return None
    m = re.search(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def wait_metric(p, port, name, want, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if p.poll() is not None:
            fail(f"{what}: amihead exited {p.returncode}: {p.communicate()[1][-3000:]}")
        if metric(port, name) == want:
            return
        time.sleep(0.3)
    fail(f"{what}: {name} not {want} within {timeout}s (last {metric(port, name)})")


def fill(disk, leave):
    """A filler file leaving `leave` bytes free, made in one fallocate so no
    write in between meets a full disk."""
    st = os.statvfs(disk)
    free = st.f_bavail * st.f_frsize
    path = os.path.join(disk, "filler")
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
    try:
        os.posix_fallocate(fd, os.fstat(fd).st_size, max(free - leave, 4096))
    finally:
        os.close(fd)
    return path


def run(tmp):
    disk = os.path.join(tmp, "disk")
    os.mkdir(disk)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", disk],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(f"skipped: cannot mount a tmpfs ({r.stderr.strip()})")
        return
    try:
        body(tmp, disk)
    finally:
        subprocess.run(["umount", "-l", disk])


def body(tmp, disk):
    mport = free_port_block(1)
    with Sim(tmp, "--concentrators", "2", "--meters", "10", "--faults", "none",
             "--time-scale", str(SCALE), "--epoch", EPOCH, "--write-config", tmp) as sim:
        yaml, _ = write_config(tmp, 1, *export_endpoints(), replace=[
            ("listen: 127.0.0.1:9464", f"listen: 127.0.0.1:{mport}")])
        with open(yaml) as f:
            text, n = re.subn(r"^  path: .*$", f"  path: {disk}/store\n  reserve_mb: 4",
                              f.read(), count=1, flags=re.M)
        check(n == 1, "no storage.path in the written config")
        with open(yaml, "w") as f:
            f.write(text)

        start = sim.sim_now()
        until = (start // STEP) * STEP + HOURS * 3600
        p = subprocess.Popen(run_argv(yaml, SCALE, start, until), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        # collecting: the first cycle's backfill is stored
        wait_metric(p, mport, "amihead_store_full", 0, 30, "metrics up")
        time.sleep(4)
        filler = fill(disk, 2 << 20)
        wait_metric(p, mport, "amihead_store_full", 1, 40, "disk below the reserve")
        time.sleep(5)  # 30 simulated minutes on hold: two cycles pile up
        check(p.poll() is None, f"amihead died on a full disk: exit {p.returncode}")
        os.unlink(filler)
        wait_metric(p, mport, "amihead_store_full", 0, 40, "space freed")
        rc, err = finish_run(p, (until - start) / SCALE + 60, "run did not stop")
        check(rc == 0, f"amihead run: exit {rc}: {err[-3000:]}")
        check("Sanitizer" not in err, err[-3000:])
        check("no space for the store" in err and "below the 4096 kB reserve" in err,
              f"no clear no-space message: {err[-3000:]}")
        check("store writable again" in err, f"no resume message: {err[-3000:]}")

        first = (start // STEP) * STEP
        lo = first - 86400 + STEP
        hi = (until // STEP) * STEP - STEP
        n_iv = (hi - lo) // STEP + 1
        for m in meter_ids(tmp):
            rows = query(yaml, m, "--from", iso(lo), "--to", iso(hi))
            got = sorted({row["interval_end"] for row in rows})
            missing = sorted(set(iso(t) for t in range(lo, hi + 1, STEP)) - set(got))
            check(len(got) == n_iv, f"meter {m}: {len(got)} of {n_iv} intervals, "
                  f"missing {missing[:6]}")

        # a restart below the reserve: refused with a message, no abort
        filler = fill(disk, 1 << 20)
        r = amihead("run", "-c", yaml, "--until", iso(until + 3600), "--epoch",
                    iso(until))
        check(r.returncode == 1, f"restart on a full disk: exit {r.returncode}, want 1: "
              f"{r.stderr[-2000:]}")
        check("reserve" in r.stderr and "free" in r.stderr,
              f"restart message: {r.stderr[-2000:]}")
        os.unlink(filler)
        r = amihead("query", "-c", yaml, "--meter", meter_ids(tmp)[0], "--json")
        check(r.returncode == 0 and r.stdout.count("\n") >= n_iv,
              f"store after the full disk: {r.returncode} {r.stderr}")


if __name__ == "__main__":
    main("it_store_fulldisk", run)
