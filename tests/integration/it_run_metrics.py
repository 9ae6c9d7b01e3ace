#!/usr/bin/python3
"""it_run_metrics — /metrics as Prometheus users expect it, and an HTTP
endpoint that slow clients cannot hold down (issue 18 #3, issue 17 #7).

`amihead run` against amisim (2 concentrators x 3 meters, no faults, 360x):
- the scrape passes `promtool check metrics`; no series in milliseconds;
  amihead_build_info, process_* (RSS, open fds, CPU seconds), the request
  latency histogram, collection ratios per district and link for the last
  complete interval and day (1.0 with no faults), publish and replay
  counters (a subscriber from seq 1 replays) and the backlog, link up are
  there;
- /healthz answers at once, /readyz once cycles run;
- slowloris: 40 connections from 127.0.0.1 each trickling a header byte a
  second; a scrape from 127.0.0.2 still succeeds, the slow connections are
  shut after MET_AGE_MAX_S (15 s) although they kept sending, and then a
  scrape from 127.0.0.1 succeeds; libmicrohttpd's refusals are counted
  (amihead_http_connections_refused_total, _reaped_total) and reach the log
  only through ah_log at debug level, not one stderr line each;
- a second head-end on the same metrics port exits 1 at start.
Before the fix: the 16-connection limit and idle-only timeout kept the
endpoint down and every refusal printed a raw stderr line.
"""
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ahtest import BIN, Sim, check, fail, free_port_block  # noqa: E402
from ahtest import amihead, export_endpoints, main, run_argv, write_config  # noqa: E402

SCALE = 360
EPOCH = "2025-03-14T00:00:00Z"
STEP = 900


def get(port, path, src="127.0.0.1", timeout=5):
    """GET over a socket bound to src (the per-IP limit is per source)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                 source_address=(src, 0))
    try:
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1]) if head else 0
    return status, body.decode()


def series(text):
    out = {}
    for ln in text.splitlines():
        if ln and not ln.startswith("#"):
            k, v = ln.rsplit(" ", 1)
            out[k] = float(v)
    return out


def run(tmp):
    mport = free_port_block(1)
    with Sim(tmp, "--concentrators", "2", "--meters", "3", "--faults", "none",
             "--time-scale", str(SCALE), "--epoch", EPOCH, "--write-config", tmp) as sim:
        ep, rp = export_endpoints()
        yaml, _ = write_config(tmp, 2, ep, rp,
                               replace=[("127.0.0.1:9464", f"127.0.0.1:{mport}")])
        errf = open(os.path.join(tmp, "run.err"), "w+")
        p = subprocess.Popen(run_argv(yaml, SCALE, sim.sim_now()), stdout=subprocess.PIPE,
                             stderr=errf, text=True)
        try:
            t0 = time.monotonic()
            while True:
                try:
                    st, body = get(mport, "/healthz")
                    break
                except OSError:
                    if time.monotonic() - t0 > 30 or p.poll() is not None:
                        fail("metrics endpoint never came up")
                    time.sleep(0.2)
            check(st == 200 and body == "ok\n", f"/healthz: {st} {body!r}")

            # two whole intervals collected (the first cycle backfills a day)
            t0 = time.monotonic()
            vals = {}
            while time.monotonic() - t0 < 60:
                st, text = get(mport, "/metrics")
                vals = series(text)
                if vals.get('amihead_collection_ratio{window="interval"}') == 1.0 and \
                        vals.get('amihead_collection_ratio{window="day"}') == 1.0:
                    break
                time.sleep(0.5)
            # a subscriber from seq 1 fills the past through replay
            t = subprocess.run([os.path.join(BIN, "amihead"), "tail", "--endpoint", ep,
                                 "--replay", rp, "--from-seq", "1", "--until-seq", "5"],
                                capture_output=True, text=True, timeout=60)
            check(t.returncode == 0 and len(t.stdout.splitlines()) == 5,
                  f"tail: {t.returncode} {t.stderr[-500:]}")
            st, ready = get(mport, "/readyz")
            check(st == 200 and ready.startswith("ready"), f"/readyz: {st} {ready!r}")
            st, text = get(mport, "/metrics")
            check(st == 200, f"/metrics: {st}")
            vals = series(text)
            pc = subprocess.run(["promtool", "check", "metrics"], input=text,
                                capture_output=True, text=True)
            check(pc.returncode == 0, f"promtool check metrics: {pc.stdout}{pc.stderr}")
            names = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
            check(not [n for n in names if n.endswith("_ms")], f"_ms series: {names}")
            for want in ("amihead_build_info", "process_resident_memory_bytes",
                         "process_open_fds", "process_cpu_seconds_total",
                         "amihead_request_duration_seconds", "amihead_rtt_seconds",
                         "amihead_link_collection_ratio", "amihead_district_collection_ratio",
                         "amihead_publish_backlog", "amihead_published_messages_total",
                         "amihead_outbox_bytes", "amihead_store_commit_errors_total",
                         "amihead_link_up"):
                check(want in names, f"/metrics lacks {want}")
            # one series for failed store commits (issue 15 review)
            check("amihead_store_write_errors_total" not in names,
                  "amihead_store_write_errors_total duplicates the commit errors")
            check("# TYPE amihead_request_duration_seconds histogram" in text, "histogram")
            check(vals['amihead_collection_ratio{window="interval"}'] == 1.0,
                  f"interval ratio: {vals}")
            check(vals['amihead_collection_ratio{window="day"}'] == 1.0, "day ratio")
            links = [k for k in vals if k.startswith("amihead_link_collection_ratio{")]
            dists = [k for k in vals if k.startswith("amihead_district_collection_ratio{")]
            check(len(links) == 4 and all(vals[k] == 1.0 for k in links),
                  f"link ratios: {[(k, vals[k]) for k in links]}")
            check(len(dists) >= 4 and all(vals[k] == 1.0 for k in dists),
                  f"district ratios: {[(k, vals[k]) for k in dists]}")
            check(vals["process_open_fds"] > 5 and vals["process_resident_memory_bytes"] > 1e6,
                  "process metrics")
            check(vals["amihead_published_messages_total"] > 0, "nothing published")
            check(vals["amihead_replay_requests_total"] >= 1 and
                  vals["amihead_replay_messages_total"] >= 5, "replay counters")
            buckets = [k for k in vals if k.startswith("amihead_request_duration_seconds_count")]
            check(buckets and all(vals[k] > 0 for k in buckets), f"latency counts {buckets}")

            # a second head-end on the same metrics port: refused at start
            yaml2 = os.path.join(tmp, "second.yaml")
            ep2, rp2 = export_endpoints()
            with open(yaml) as f:
                text2 = f.read()
            text2 = re.sub(r"(pub: )tcp://\S+", r"\g<1>" + ep2, text2)
            text2 = re.sub(r"(replay: )tcp://\S+", r"\g<1>" + rp2, text2)
            with open(yaml2, "w") as f:
                f.write(re.sub(r"(?m)^  path: .*$", f"  path: {tmp}/store2", text2))
            r = amihead("run", "-c", yaml2, "--until", EPOCH)
            check(r.returncode == 1 and "metrics.listen" in r.stderr and "busy" in r.stderr,
                  f"busy metrics port: exit {r.returncode}: {r.stderr[-500:]}")

            # slowloris from 127.0.0.1
            slow = []
            for _ in range(40):
                try:
                    s = socket.create_connection(("127.0.0.1", mport), timeout=2)
                    s.sendall(b"GET /metrics HTTP/1.1\r\n")
                    slow.append(s)
                except OSError:
                    pass
            t_slow = time.monotonic()
            try:
                st, text = get(mport, "/metrics", src="127.0.0.2")
            except OSError as e:
                fail(f"scrape from 127.0.0.2 under slowloris: {e}")
            check(st == 200 and "amihead_build_info" in text,
                  f"scrape from 127.0.0.2 under slowloris: {st}")
            # trickle: a header byte a second on every slow socket that is open
            open_ = list(slow)
            while open_ and time.monotonic() - t_slow < 25:
                for s in list(open_):
                    try:
                        s.sendall(b"X")
                        s.settimeout(0.01)
                        if s.recv(1) == b"":
                            open_.remove(s)
                    except socket.timeout:
                        pass
                    except OSError:
                        open_.remove(s)
                time.sleep(1)
            check(not open_, f"{len(open_)} trickling connections still open after 25 s")
            for s in slow:
                s.close()
            try:
                st, text = get(mport, "/metrics")
            except OSError as e:
                fail(f"scrape after slowloris: {e}")
            check(st == 200 and "amihead_build_info" in text, f"scrape after slowloris: {st}")
            v2 = series(text)
            check(v2.get("amihead_http_connections_refused_total", 0) >= 1 and
                  v2.get("amihead_http_connections_reaped_total", 0) >= 1,
                  "slow connections neither refused nor reaped in the counters")
        finally:
            p.terminate()
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        errf.seek(0)
        err = errf.read()
        check(p.returncode == 0, f"amihead run: exit {p.returncode}: {err[-2000:]}")
        check("Sanitizer" not in err, err[-3000:])
        raw = [ln for ln in err.splitlines() if "connection limit" in ln.lower() and
               "[metrics]" not in ln]
        check(not raw, f"libmicrohttpd lines outside ah_log: {raw[:5]}")
        http = [ln for ln in err.splitlines() if "[metrics] http:" in ln or
                '"link":"metrics"' in ln]
        check(len(http) <= 5, f"{len(http)} http log lines: refusals must be counted, "
              f"not logged: {http[:3]}")


if __name__ == "__main__":
    main("it_run_metrics", run)
