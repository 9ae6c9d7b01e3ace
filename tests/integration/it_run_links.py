#!/usr/bin/python3
"""it_run_links — `amihead run` over every link kind at once, about two
simulated hours at 360x against two amisim fleets:

- fleet A (amisim --port-base, --pty, --modbus-tcp-base): concentrator 0 by
  dlt645-tcp, concentrator 1 by dlt645-serial on its pseudo-terminal, and
  two Modbus TCP meters (sdm630, dtsu666);
- fleet B (amisim --dial): two concentrators dial in to the head-end's
  dlt645-listen address; only 000000000001 is configured, 000000000002 must
  be refused with a log line naming the peer and the address it gave;
  half-way, a second connection identifies as 000000000001 while the real
  one is connected: the old connection still answers, so the claim is an
  address conflict and the newcomer is refused (issue 17 item 3).

Then `amihead query --json` holds every interval from the first cycle to
the last for every DL/T 645 meter (registers equal to amisim's load records)
and every boundary after start for the Modbus meters, and a scrape of
/metrics during the run shows the amihead_* series with plausible values.
"""
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ahtest import Amisim, Sim, amisim_series, check, fail, iso  # noqa: E402
from dlt645wire import decode, frame, recv_frame  # noqa: E402
from ahtest import check_clean_stop, main, query, run_argv  # noqa: E402
from ahtest import free_port_block  # noqa: E402

SCALE = 360
EPOCH = "2025-03-14T00:00:00Z"
STEP = 900
HOURS = 2


CSV_HEAD = ("meter_id,protocol,link,address,unit_id,map,wiring,ct,pt,rated_current,"
            "max_current,nominal_voltage,district,class,role,bidirectional\n")


def dlt_rows(prefix, link, conc, n):
    """Inventory rows of concentrator conc's n customer meters + district meter."""
    rows, ids = [], {}
    for i in range(n + 1):
        addr = Amisim.meter_addr(conc, i) if i < n else "%012d" % ((conc + 1) * 1000000)
        mid = prefix + addr
        ids[mid] = addr
        role = "customer" if i < n else "district"
        rows.append(f"{mid},dlt645-2007,{link},{addr},,,3P4W,1,1,10.0,100.0,220.0,"
                    f"d{prefix}{conc},C,{role},yes\n")
    return rows, ids


def write_config(tmp, sim, lport, mport, pub, rep):
    mb = sim.endpoint_lines("modbus-tcp")
    check(len(mb) == 2, f"amisim modbus lines: {mb}")
    yaml = f"""headend:
  id: it-run-links
  timezone: Asia/Shanghai
  log_level: info
inventory: meters.csv
storage:
  path: {tmp}/store
  sync: false
schedule:
  interval_min: 15
  backfill_days: 0
  stagger_s: 5
  daily_freeze_after: "00:05"
  timeout_ms: 1500
  retries: 2
  backoff_after: 3
  backoff_max_cycles: 8
  # every live read carries its meter clock (checked below): the clock
  # each interval, not hourly as the default read plan has it
  read_plan: "clock=every"
links:
  - name: tcp0
    type: dlt645-tcp
    endpoint: {sim.tcp_endpoint(0)}
  - name: ser1
    type: dlt645-serial
    device: {sim.pty_path(1)}
    baud: 115200
    parity: even
  - name: dial1
    type: dlt645-listen
    listen: 127.0.0.1:{lport}
    address: "000000000001"
  - name: mb0
    type: modbus-tcp
    endpoint: {mb[0][2]}
  - name: mb1
    type: modbus-tcp
    endpoint: {mb[1][2]}
export:
  pub: tcp://127.0.0.1:{pub}
  replay: tcp://127.0.0.1:{rep}
metrics:
  listen: 127.0.0.1:{mport}
"""
    with open(os.path.join(tmp, "amihead.yaml"), "w") as f:
        f.write(yaml)
    groups = {}
    rows = []
    for prefix, link, conc in (("t", "tcp0", 0), ("s", "ser1", 1), ("d", "dial1", 0)):
        r, ids = dlt_rows(prefix, link, conc, 2)
        rows += r
        groups[link] = ids
    groups["mb"] = {}
    for k, f in enumerate(mb):
        # modbus-tcp K HOST:PORT unit U map MAP meter ID
        mid = "mb" + f[8]
        groups["mb"][mid] = f[6]
        rows.append(f"{mid},modbus,mb{k},,{f[4]},{f[6]},3P4W,1,1,10.0,100.0,220.0,"
                    f"dmb,B,customer,yes\n")
    with open(os.path.join(tmp, "meters.csv"), "w") as f:
        f.write(CSV_HEAD + "".join(rows))
    return os.path.join(tmp, "amihead.yaml"), groups


def impostor(lport):
    """Dial in, answer 13H as concentrator 000000000001 (DL/T 645-2007 §1.4:
    93H, DATA = the address), then hang up."""
    with socket.create_connection(("127.0.0.1", lport), timeout=5) as s:
        buf, closed = recv_frame(s, 5)
        check(not closed and buf, "dial-in: no 13H request from amihead")
        _, c, _ = decode(buf[buf.index(0x68):])
        check(c == 0x13, f"dial-in: first request has C={c:02X}, want 13H")
        addr = "000000000001"
        s.sendall(frame(addr, 0x93, bytes.fromhex(addr)[::-1]))
        time.sleep(0.2)


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    vals = {}
    for ln in text.splitlines():
        m = re.match(r'^(amihead_[a-z_]+)\{link="([^"]+)"\} (\S+)$', ln)
        if m:
            vals[(m.group(1), m.group(2))] = float(m.group(3))
    return text, vals


def run(tmp):
    fleet_a = ["--concentrators", "2", "--meters", "2"]
    fleet_b = ["--concentrators", "2", "--meters", "2", "--seed", "2"]
    base = free_port_block(4)
    lport, mport, pub, rep = base, base + 1, base + 2, base + 3
    mbbase = free_port_block(2)  # amisim serves its two Modbus TCP meters on mbbase, mbbase+1
    with Sim(tmp, *fleet_a, "--faults", "none", "--time-scale", str(SCALE), "--epoch",
             EPOCH, "--pty", "--baud", "115200", "--td-ms", "20",
             "--modbus-tcp-base", str(mbbase), "--modbus-meters", "2",
             log_markers=["Sanitizer"]) as sim:
        yaml, groups = write_config(tmp, sim, lport, mport, pub, rep)
        start = sim.sim_now()
        first = (start // STEP) * STEP
        until = first + HOURS * 3600 + STEP * 6 // 10
        log = open(os.path.join(tmp, "amihead.log"), "w+")
        p = subprocess.Popen(run_argv(yaml, SCALE, start, until),
                             stdout=subprocess.DEVNULL, stderr=log)
        try:
            time.sleep(0.5)
            # fleet B's clock continues fleet A's
            with Amisim(*fleet_b, "--faults", "none", "--time-scale", str(SCALE),
                        "--epoch", iso(sim.sim_now()), "--dial", f"127.0.0.1:{lport}",
                        log_markers=["Sanitizer"]):
                # half-way, a second connection claims to be 000000000001:
                # the old one answers its probe, the newcomer is refused
                time.sleep((until - start) / SCALE / 2)
                impostor(lport)
                # scrape once most of the run is over
                time.sleep(max(0.0, (until - start) / SCALE / 2 - 4.0))
                text, vals = scrape(mport)
                try:
                    p.wait(timeout=(until - start) / SCALE + 30)
                except subprocess.TimeoutExpired:
                    fail("amihead run did not stop at --until")
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        log.seek(0)
        err = log.read()
        log.close()
    # every request of a cycle (clock, V, I, status words 040005FF, event
    # counters, daily freeze 05060001/05060101, meter number, load records)
    # was answered
    check_clean_stop(p.returncode, err)

    # the unconfigured concentrator was refused, with its peer and address
    check(re.search(r"refused 127\.0\.0\.1:\d+: it gave address 000000000002", err),
          f"no refusal of concentrator 000000000002 in the log: {err[-3000:]}")
    check("concentrator 000000000001 dialled in from 127.0.0.1:" in err,
          f"dial-in of 000000000001 not logged: {err[-3000:]}")
    check(re.search(r"address conflict: 127\.0\.0\.1:\d+ claims concentrator "
                    r"000000000001", err), f"no address conflict logged: {err[-3000:]}")
    check("replacing its old connection" not in err,
          f"a live connection was replaced: {err[-3000:]}")
    check("(termios)" in err, f"serial link not opened through termios: {err[-2000:]}")

    # metrics: every series per link, plausible values
    links = ["tcp0", "ser1", "dial1", "mb0", "mb1"]
    for name in ("amihead_reads_total", "amihead_requests_total", "amihead_retries_total",
                 "amihead_timeouts_total", "amihead_rtt_seconds", "amihead_link_success_ratio",
                 "amihead_missing_intervals", "amihead_cycle_overruns_total",
                 "amihead_link_up"):
        check(f"# TYPE {name} " in text, f"/metrics lacks {name}: {text[:2000]}")
        for ln in links:
            check((name, ln) in vals, f"/metrics lacks {name}{{link=\"{ln}\"}}")
    for ln in links:
        check(vals[("amihead_reads_total", ln)] >= 4, f"{ln}: reads {vals}")
        check(vals[("amihead_requests_total", ln)] >= vals[("amihead_reads_total", ln)],
              f"{ln}: fewer requests than reads")
        check(vals[("amihead_timeouts_total", ln)] == 0, f"{ln}: timeouts {vals}")
        check(vals[("amihead_cycle_overruns_total", ln)] == 0, f"{ln}: overruns")
        check(vals[("amihead_link_up", ln)] == 1, f"{ln}: not up")
        check(vals[("amihead_link_success_ratio", ln)] == 1.0, f"{ln}: success ratio")
        check(0 <= vals[("amihead_rtt_seconds", ln)] < 1.5, f"{ln}: rtt")
        check(0 <= vals[("amihead_missing_intervals", ln)] <= 3, f"{ln}: backlog")

    last = first + HOURS * 3600
    dlt_iv = list(range(first, last + 1, STEP))
    mb_iv = list(range(first + STEP, last + 1, STEP))

    def by_end(mid):
        return {row["interval_end"]: row
                for row in query(yaml, mid, "--from", iso(first), "--to", iso(last))}

    for link, args in (("tcp0", fleet_a), ("ser1", fleet_a), ("dial1", fleet_b)):
        series = {(s["meter"], s["t_s"]): s
                  for s in amisim_series(args, first, last)}
        for mid, addr in groups[link].items():
            got = by_end(mid)
            check(len(got) == len(dlt_iv),
                  f"{link} {mid}: {len(got)} intervals, want {len(dlt_iv)}: {sorted(got)}")
            for t in dlt_iv:
                row = got.get(iso(t))
                check(row is not None, f"{link} {mid}: {iso(t)} missing")
                s = series.get((addr, t)) or series.get((mid, t))
                check(s is not None, f"amisim has no series for {addr} {iso(t)}")
                want = s["shown"]["fwd"] / 100.0
                imp = row["registers"]["secondary"]["import_kwh"]
                check(abs(imp - want) < 0.005, f"{link} {mid} {iso(t)}: import {imp}, "
                      f"meter {want}")
                check(row["source"] == "live" and "meter_clock" in row,
                      f"{link} {mid} {iso(t)}: {row}")

    for mid in groups["mb"]:
        got = by_end(mid)
        check(sorted(got) == [iso(t) for t in mb_iv],
              f"modbus {mid}: intervals {sorted(got)}, want {[iso(t) for t in mb_iv]}")
        prev = None
        for t in mb_iv:
            imp = got[iso(t)]["registers"]["secondary"]["import_kwh"]
            check(imp > 0 and (prev is None or imp >= prev),
                  f"modbus {mid} {iso(t)}: import {imp} after {prev}")
            prev = imp


if __name__ == "__main__":
    main("it_run_links", run)
