#!/usr/bin/python3
"""make bench, scale part: `amihead run` with a city's inventory (1.56 M
meters on 6,094 concentrators of 256, bench/citygen.py) on a fresh store.

start-up: process start to the "N links, M meters" line, after which the
scheduler issues its first requests (all links here refuse connections, so
no request completes: the figure is the head-end's own start-up work).
The same-run ceiling is `amihead check-config` on the same files: loading
and checking the inventory, the part no start-up can skip.
RSS: peak resident memory over 40 s of running (steady state: every
meter's state loaded by the first gap tick).
Prints one JSON line of figures last."""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from citygen import write_city  # noqa: E402

BIN = os.environ.get("BIN", os.path.join(HERE, "..", "build", "bin"))
METERS = int(os.environ.get("BENCH_CITY_METERS", "1560000"))
RUN_S = 40


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for ln in f:
                if ln.startswith("VmRSS:"):
                    return int(ln.split()[1])
    except OSError:
        pass
    return 0


def main():
    tmp = tempfile.mkdtemp(prefix="city_bench.")
    try:
        ports = []
        for _ in range(2):  # free ports for the publisher, picked by the kernel
            so = socket.socket()
            so.bind(("127.0.0.1", 0))
            ports.append(so)
        pp, rp = (so.getsockname()[1] for so in ports)
        for so in ports:
            so.close()
        y = write_city(os.path.join(BIN, "amisim"), tmp, METERS, 256, 1,
                       os.path.join(tmp, "store"), pp, rp)
        a = time.monotonic()
        subprocess.run([os.path.join(BIN, "amihead"), "check-config", "-c", y],
                       capture_output=True, check=True)
        ceil_s = time.monotonic() - a

        t0 = time.monotonic()
        log = os.path.join(tmp, "run.log")
        with open(log, "w") as lf:
            p = subprocess.Popen([os.path.join(BIN, "amihead"), "run", "-c", y],
                                 stderr=lf, stdout=subprocess.DEVNULL)
        start_s = None
        peak = 0
        progress = 0
        while time.monotonic() - t0 < RUN_S + 60:
            if start_s is None:
                with open(log, errors="replace") as lf:
                    text = lf.read()
                progress = text.count("registering meters:")
                if "links, %d meters" % METERS in text:
                    start_s = time.monotonic() - t0
            peak = max(peak, rss_kib(p.pid))
            if p.poll() is not None:
                break
            if start_s is not None and time.monotonic() - t0 > start_s + RUN_S:
                break
            time.sleep(0.1)
        p.terminate()
        p.wait(timeout=120)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if start_s is None:
        print("city: amihead never reached its scheduler")
        start_s = float("inf")
    rss_mb = peak / 1024
    print("city: %d meters: start-up %.1f s (goal <= 10) = %.1f x check-config's %.1f s "
          "(ceiling); %d progress lines" % (METERS, start_s, start_s / ceil_s, ceil_s,
                                             progress))
    print("city: peak RSS over %d s %.0f MB (goal <= 512) = %.0f B per meter"
          % (RUN_S, rss_mb, peak * 1024 / METERS))
    print(json.dumps({
        "scale_startup": {"value": round(start_s, 2), "unit": "s", "goal": "<= 10",
                          "ok": start_s <= 10 and METERS >= 1560000},
        "scale_rss": {"value": round(rss_mb), "unit": "MB", "goal": "<= 512",
                      "ok": rss_mb <= 512 and METERS >= 1560000},
        "scale_meters": {"value": METERS, "unit": "meters", "goal": ">= 1560000",
                         "ok": METERS >= 1560000},
    }))


main()
