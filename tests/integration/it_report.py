#!/usr/bin/python3
"""it_report — `amihead report` and GET /report (issue 18 #4).

amisim: 2 concentrators x 5 meters from local midnight, with a stopped
meter, a meter clock 8 minutes fast, a theft and concentrator 1 offline for
an hour; `amihead run` (360x, backfill 2 days) collects 5 simulated hours
after backfilling the previous local day.

- While it runs, GET /report?day=D0..D1 on the metrics listener answers
  200 text/html with every chart.
- Afterwards `amihead report --day D0..D1 -o report.html` writes one page
  with no external reference (no http(s) URL, no <script>, no <link>).
- Headless Chromium renders it: a screenshot is taken (a PNG of the whole
  page), and the DOM it dumps is checked: every chart (svg.chart) and
  table is there, with counts computed here from the store through other
  commands: one series per district and per link, one bar group per hour,
  the anomaly table = the episode events of the range (amihead events),
  the line-loss table = the DAILY events, the swing list = their listed
  customers, the gap table = meters with a missing or backfilled interval
  (amihead query), the outage table = runs of intervals in which the other
  link was read live but this one not (amihead query), and the clock-drift
  table names the meter whose clock runs fast.
"""
import glob
import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ahtest import Sim, check, fail, free_port_block, utc  # noqa: E402
from ahtest import (amihead, events, export_endpoints, main, meter_rows,  # noqa: E402
                     query, run_argv, write_config)

SCALE = 360
# 23:45 on 14 March, UTC+8. District days are judged in order from the day
# of (start − backfill window − 2 intervals) = 12 March, given up as
# INCOMPLETE 45 minutes after the start; the 2-day window reaches back to
# 13 March 00:00, so 13 and 14 March are judged complete (pipeline.c).
EPOCH = "2025-03-14T15:45:00Z"
DAYS = "2025-03-14..2025-03-15"
STEP = 900
TZ = 8 * 3600
FAULTS = {"faults": [
    {"type": "stopped", "meter": "0:2", "from": "-20h"},
    {"type": "clock_drift", "meter": "1:1", "from": "-30h", "offset_s": 480,
     "rate_s_per_day": 0},
    {"type": "theft", "meter": "1:3", "from": "-16h", "fraction": 0.4},
    {"type": "offline", "concentrator": 1, "from": "+60m", "to": "+120m"},
]}


class Dom(html.parser.HTMLParser):
    """Elements of the dumped DOM as (tag, attrs, ancestors' ids)."""

    def __init__(self):
        super().__init__()
        self.stack, self.els = [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        ids = [x[1].get("id") for x in self.stack if x[1].get("id")]
        self.els.append((tag, a, ids))
        if tag not in ("meta", "br", "img", "input", "link"):
            self.stack.append((tag, a))

    def handle_startendtag(self, tag, attrs):
        a = dict(attrs)
        ids = [x[1].get("id") for x in self.stack if x[1].get("id")]
        self.els.append((tag, a, ids))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break

    def within(self, id_, tag=None, cls=None):
        return [e for e in self.els if id_ in e[2] and (tag is None or e[0] == tag) and
                (cls is None or cls in e[1].get("class", "").split())]

    def by_id(self, id_):
        m = [e for e in self.els if e[1].get("id") == id_]
        check(len(m) == 1, f"DOM: {len(m)} elements with id {id_}")
        return m[0]


def chromium(args, timeout=120):
    exe = shutil.which("chromium") or fail("chromium missing (Debian package chromium)")
    return subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu",
                           "--disable-dev-shm-usage", "--no-first-run",
                           "--user-data-dir=" + args[0], *args[1:]],
                          capture_output=True, text=True, timeout=timeout)


def run(tmp):
    fpath = os.path.join(tmp, "faults.json")
    with open(fpath, "w") as f:
        json.dump(FAULTS, f)
    mport = free_port_block(1)
    with Sim(tmp, "--concentrators", "2", "--meters", "5", "--faults", fpath,
             "--time-scale", str(SCALE), "--epoch", EPOCH, "--write-config", tmp) as sim:
        yaml, _ = write_config(tmp, 2, *export_endpoints(),
                               replace=[("127.0.0.1:9464", f"127.0.0.1:{mport}")])
        start = sim.sim_now()
        until = utc(EPOCH) + 5 * 3600 + 900
        p = subprocess.Popen(run_argv(yaml, SCALE, start, until), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            while sim.sim_now() < until - 1800 and p.poll() is None:
                time.sleep(0.5)
            with urllib.request.urlopen(f"http://127.0.0.1:{mport}/report?day={DAYS}",
                                        timeout=30) as r:
                live = r.read().decode()
                check(r.status == 200 and r.headers["Content-Type"].startswith("text/html"),
                      f"/report: {r.status} {r.headers['Content-Type']}")
            for cid in ("chart-collection-district", "chart-collection-link", "chart-gaps",
                        "chart-lineloss", "chart-drift", "chart-outages"):
                check(f'id="{cid}"' in live, f"/report lacks {cid}")
            _, err = p.communicate(timeout=(until - sim.sim_now()) / SCALE + 60)
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
        check(p.returncode == 0, f"amihead run: exit {p.returncode}: {err[-2000:]}")

    page = os.path.join(tmp, "report.html")
    r = amihead("report", "-c", yaml, "--day", DAYS, "-o", page, timeout=120)
    check(r.returncode == 0, f"report: {r.returncode}: {r.stderr}")
    with open(page) as f:
        text = f.read()
    check(not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text), "a network reference")
    check("<script" not in text and "<link" not in text, "script or link in the page")
    bad = amihead("report", "-c", yaml, "--day", "2025-03-15..2025-03-14")
    check(bad.returncode == 2, f"reversed range: exit {bad.returncode}")

    # Chromium: a screenshot and the DOM it built
    png = os.path.join(tmp, "report.png")
    c = chromium([os.path.join(tmp, "chr1"), f"--screenshot={png}",
                  "--window-size=1100,5200", "--hide-scrollbars", "file://" + page])
    check(os.path.exists(png) and os.path.getsize(png) > 20000,
          f"no screenshot: {c.returncode} {c.stderr[-1500:]}")
    with open(png, "rb") as f:
        check(f.read(8) == b"\x89PNG\r\n\x1a\n", "screenshot is not a PNG")
    if os.environ.get("AH_REPORT_SHOT"):
        shutil.copy(png, os.environ["AH_REPORT_SHOT"])
    c = chromium([os.path.join(tmp, "chr2"), "--dump-dom", "file://" + page])
    check(c.returncode == 0 and "</html>" in c.stdout, f"dump-dom: {c.stderr[-1500:]}")
    dom = Dom()
    dom.feed(c.stdout)

    rows = meter_rows(tmp)
    ids = [r[0] for r in rows]
    link_of = {r[0]: r[2] for r in rows}
    districts = sorted({r[12] for r in rows})
    links = sorted({r[2] for r in rows})

    def series(cid):
        return {e[1]["data-name"] for e in dom.within(cid, "g", "series")}
    check(series("chart-collection-district") == set(districts),
          f"district series {series('chart-collection-district')} vs {districts}")
    check(series("chart-collection-link") == set(links), "link series")
    check(series("chart-lineloss") == set(districts), "line-loss series")
    check(len(dom.within("chart-gaps", "g", "bucket")) == 48, "48 hourly bucket groups")
    check(len(dom.within("chart-lineloss", "line", "threshold")) == 2, "two loss limits")

    def table_rows(tid):
        t = dom.by_id(tid)
        n = len([e for e in dom.within(tid, "tr")]) - 1
        check(int(t[1]["data-rows"]) == n, f"{tid}: data-rows {t[1]['data-rows']} vs {n}")
        return n

    d0, d1 = utc("2025-03-14T00:00:00Z") - TZ, utc("2025-03-16T00:00:00Z") - TZ
    evs = [e for e in events(yaml, "--from", "2025-03-13T16:00:00Z", "--to",
                             "2025-03-15T16:00:00Z")]
    evs = [e for e in evs]
    epis = [e for e in evs if e.get("state") in ("start", "cleared")]
    daily = [e for e in evs if e["type"] == "DAILY" and
             e["day"] in ("2025-03-14", "2025-03-15")]
    gaps = [e for e in evs if e["type"] == "GAP"]
    check(table_rows("table-anomalies") == len(epis), f"anomalies vs {len(epis)} events")
    check(len(epis) > 0 and any(e["type"] == "STOPPED" for e in epis), "no STOPPED episode")
    check(table_rows("table-lineloss") == len(daily), f"line loss vs {len(daily)} DAILY")
    check(len(daily) >= len(districts), f"no district day judged: {sorted(set(e['type'] for e in evs))} {len(evs)}")
    check(table_rows("table-swing") == sum(len(e.get("customers", [])) for e in daily),
          "swing list")
    check(table_rows("table-gap-events") == len(gaps), "gap events")

    # reads of every meter: missing / backfilled, and live per link
    reads = {m: {utc(x["interval_end"]): x["source"] for x in
                 query(yaml, m, "--from", "2025-03-13T16:15:00Z", "--to",
                       "2025-03-15T16:00:00Z")} for m in ids}
    newest = max(t for v in reads.values() for t in v)
    due = list(range(d0 + STEP, min(d1, newest) + 1, STEP))
    with_gaps = [m for m in ids if any(reads[m].get(t) in (None, "backfill") for t in due)]
    check(table_rows("table-gaps") == min(20, len(with_gaps)) and
          int(dom.by_id("table-gaps")[1]["data-total"]) == len(with_gaps),
          f"gap table vs {len(with_gaps)} meters with a missing or backfilled interval")
    live = {ln: {t for m in ids if link_of[m] == ln for t, s in reads[m].items()
                 if s == "live"} for ln in links}
    running = set().union(*live.values())
    outages = 0
    for ln in links:
        down = [t in running and t not in live[ln] for t in due]
        outages += sum(1 for i, d in enumerate(down) if d and (i == 0 or not down[i - 1]))
    check(outages >= 1, "the offline concentrator left no outage")
    check(table_rows("table-outages") == outages, f"outage table vs {outages} runs")
    check(len(dom.within("chart-outages", "rect", "outage")) == outages, "outage bars")
    check(len(dom.within("chart-outages", "g", "lane")) == len(links), "outage lanes")
    nd = table_rows("table-drift")
    check(len(dom.within("chart-drift", "rect", "drift")) == nd, "drift bars vs rows")
    check(nd >= 1, "no meter in the clock-drift table (one runs 8 minutes fast)")
    print(f"report: {len(text)} bytes, screenshot {os.path.getsize(png)} bytes, "
          f"{len(epis)} anomalies, {len(daily)} district days, {outages} outages, "
          f"{len(with_gaps)} meters with gaps/backfill, {nd} drifting clocks")


if __name__ == "__main__":
    main("it_report", run)
