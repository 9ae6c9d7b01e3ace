#!/usr/bin/python3
"""it_run_modbus_rtu — `amihead run` polling Modbus RTU meters, two
simulated hours at 360x:

- amisim --modbus-rtu serves two meters, each on its own pseudo-terminal
  (9600 8N1, unit 1): 900000000000 with the sdm630 map (FC 04 input
  registers), 900000000001 with the dtsu666 map (FC 03 holding registers);
  the fleet has one concentrator with no customer meters (only its district
  meter, which nobody polls);
- amihead has one modbus-rtu link per pty (mbpoll's RTU path through mbio).

Then `amihead query --json` holds, for each meter, exactly one read per
interval boundary after the start, stamped with the boundary, source live,
import registers non-decreasing and equal to amisim's own register (--series)
at the boundary, give or take the moment of the live read (amisim's clock
may lag by its start-up; the read comes a little after the boundary) and
the float32 register's resolution (about 0.008 kWh at 80,000 kWh); a
scrape of /metrics during the run shows both links up, with reads and no
timeouts.
"""
import os
import re
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ahtest import Sim, amisim_series, check, fail, iso  # noqa: E402
from ahtest import check_clean_stop, export_endpoints, main, query, run_argv  # noqa: E402
from ahtest import free_port_block  # noqa: E402

SCALE = 360
EPOCH = "2025-03-14T00:00:00Z"
STEP = 900
HOURS = 2
# float32 of a register near 80,000 kWh: 2^-7 kWh per step, plus rounding
# to 0.01 kWh in the store
TOL_KWH = 0.015
# amisim's clock may run behind the --epoch the test hands amihead by its own
# start-up time (under ASan up to about a second = 360 simulated seconds)
LAG_S = 450
FLEET = ["--concentrators", "1", "--meters", "0", "--seed", "3", "--faults", "none",
         "--epoch", EPOCH, "--modbus-meters", "2"]

CSV_HEAD = ("meter_id,protocol,link,address,unit_id,map,wiring,ct,pt,rated_current,"
            "max_current,nominal_voltage,district,class,role,bidirectional\n")


def write_config(tmp, sim, mport):
    """One modbus-rtu link per pty; the meter ids are amisim's addresses."""
    # modbus-rtu I PATH unit U map MAP 9600 8N1 meter ID
    rtu = sim.endpoint_lines("modbus-rtu")
    check(len(rtu) == 2, f"amisim modbus-rtu lines: {rtu}")
    check([f[6] for f in rtu] == ["sdm630", "dtsu666"], f"amisim maps: {rtu}")
    check(all(f[7:9] == ["9600", "8N1"] for f in rtu), f"amisim line settings: {rtu}")
    ep, rp = export_endpoints()
    links, rows, meters = [], [], {}
    for f in rtu:
        name, dev, unit, mp, mid = f"rtu{f[1]}", f[2], f[4], f[6], f[10]
        check(os.path.exists(dev), f"amisim pty {dev} does not exist")
        links.append(f"""  - name: {name}
    type: modbus-rtu
    device: {dev}
    baud: 9600
    parity: none
    stop_bits: 1
""")
        rows.append(f"{mid},modbus,{name},,{unit},{mp},3P4W,1,1,10.0,100.0,220.0,"
                    f"drtu,B,customer,no\n")
        meters[mid] = name
    yaml = f"""headend:
  id: it-run-modbus-rtu
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
  timeout_ms: 1500
  retries: 2
links:
{"".join(links)}export:
  pub: {ep}
  replay: {rp}
metrics:
  listen: 127.0.0.1:{mport}
"""
    path = os.path.join(tmp, "amihead.yaml")
    with open(path, "w") as f:
        f.write(yaml)
    with open(os.path.join(tmp, "meters.csv"), "w") as f:
        f.write(CSV_HEAD + "".join(rows))
    return path, meters


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
    mport = free_port_block(1)
    with Sim(tmp, *FLEET, "--time-scale", str(SCALE), "--modbus-rtu",
             log_markers=["Sanitizer"]) as sim:
        yaml, meters = write_config(tmp, sim, mport)
        start = sim.sim_now()
        first = (start // STEP + 1) * STEP  # mbpoll's first boundary after start
        last = first + HOURS * 3600 - STEP
        until = last + STEP * 6 // 10
        log = open(os.path.join(tmp, "amihead.log"), "w+")
        p = subprocess.Popen(run_argv(yaml, SCALE, start, until),
                             stdout=subprocess.DEVNULL, stderr=log)
        try:
            # scrape once most of the run is over (a few cycles done)
            time.sleep(max(0.0, (last - start) / SCALE - 1.0))
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
    check_clean_stop(p.returncode, err)

    for name in ("amihead_reads_total", "amihead_requests_total",
                 "amihead_timeouts_total", "amihead_link_up",
                 "amihead_link_success_ratio", "amihead_cycle_overruns_total"):
        for ln in meters.values():
            check((name, ln) in vals, f"/metrics lacks {name}{{link=\"{ln}\"}}: "
                  f"{text[:2000]}")
    for ln in meters.values():
        check(vals[("amihead_link_up", ln)] == 1, f"{ln}: not up: {vals}")
        check(vals[("amihead_reads_total", ln)] >= HOURS * 4 - 2, f"{ln}: reads {vals}")
        check(vals[("amihead_requests_total", ln)] >= vals[("amihead_reads_total", ln)],
              f"{ln}: fewer requests than reads: {vals}")
        check(vals[("amihead_timeouts_total", ln)] == 0, f"{ln}: timeouts {vals}")
        check(vals[("amihead_cycle_overruns_total", ln)] == 0, f"{ln}: overruns {vals}")
        check(vals[("amihead_link_success_ratio", ln)] == 1.0, f"{ln}: ratio {vals}")

    want = [iso(t) for t in range(first, last + 1, STEP)]
    series = {(s["meter"], s["t_s"]): s["shown"]
              for s in amisim_series([*FLEET, "--modbus-tcp-base", "1"],
                                     first - STEP, last + STEP)}
    for mid, link in meters.items():
        rows = query(yaml, mid, "--from", iso(first - STEP), "--to", iso(last + STEP))
        got = [r["interval_end"] for r in rows]
        check(got == want, f"{link} {mid}: intervals {got}, want {want}")
        prev = None
        for r in rows:
            t = r["interval_end"]
            check(r["source"] == "live", f"{mid} {t}: {r}")
            sec = r["registers"]["secondary"]
            imp = sec["import_kwh"]
            t_s = first + STEP * want.index(t)
            bef, at, aft = (series.get((mid, t_s + k * STEP)) for k in (-1, 0, 1))
            check(bef and at and aft, f"amisim has no series for {mid} {t}")
            for reg, key in (("import_kwh", "fwd"), ("export_kwh", "rev")):
                v = sec.get(reg)
                check(v is not None, f"{mid} {t}: no {reg}: {r}")
                # the register LAG_S before the boundary (linear inside the
                # quarter hour) .. the next boundary's
                lo = (at[key] - (at[key] - bef[key]) * LAG_S / STEP) / 100.0
                hi = aft[key] / 100.0
                check(lo - TOL_KWH <= v <= hi + TOL_KWH,
                      f"{mid} {t}: {reg} {v}, amisim {at[key] / 100.0} at the boundary "
                      f"(allowed {lo:.2f} .. {hi:.2f})")
            check(prev is None or imp >= prev, f"{mid} {t}: import {imp} after {prev}")
            prev = imp
        check(rows[-1]["registers"]["secondary"]["import_kwh"] >
              rows[0]["registers"]["secondary"]["import_kwh"],
              f"{mid}: import did not advance in {HOURS} h: {rows}")


if __name__ == "__main__":
    main("it_run_modbus_rtu", run)
