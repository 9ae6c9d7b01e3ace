#!/usr/bin/python3
"""make bench: merge the figures of every benchmark's output into the one
JSON line printed last ({"name": {"value", "unit", "goal", "ok"}, ...}).
A benchmark whose last line is a JSON object gives its figures as they are;
the older text-only ones (bench_dlt645, scaleout_bench) are read from their
printed lines. A benchmark that failed is a figure with ok false."""
import json
import re
import sys

out = {}
for path in sys.argv[1:]:
    name = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    with open(path, errors="replace") as f:
        lines = [ln.strip() for ln in f if ln.strip()]
    rc_line = [ln for ln in lines if ln.startswith("exit status ")]
    rc = int(rc_line[-1].split()[-1]) if rc_line else 0
    body = [ln for ln in lines if not ln.startswith("exit status ")]
    if body and body[-1].startswith("{"):
        try:
            out.update(json.loads(body[-1]))
        except ValueError:
            pass
    text = "\n".join(body)
    m = re.search(r"dlt645_parse .* ratio ([0-9.]+)", text)
    if m:
        out["dlt645_parse_ratio"] = {"value": float(m.group(1)), "unit": "x memory pass",
                                     "goal": "report", "ok": True}
    m = re.search(r"bridge .*?: ([0-9]+) reads/s = ([0-9.]+) x ceiling", text)
    if m:
        out["scaleout_bridge"] = {"value": int(m.group(1)), "unit": "reads/s",
                                  "goal": "report", "ok": True}
    m = re.search(r"sink .*?: ([0-9]+) rows/s = ([0-9.]+) x ceiling", text)
    if m:
        out["scaleout_sink"] = {"value": int(m.group(1)), "unit": "rows/s",
                                "goal": "report", "ok": True}
    m = re.search(r"headroom over 1.7 k reads/s: ([0-9]+) x", text)
    if m:
        v = int(m.group(1))
        out["scaleout_headroom"] = {"value": v, "unit": "x city reads/s", "goal": ">= 20",
                                    "ok": v >= 20}
    if rc:
        out[name + "_exit"] = {"value": rc, "unit": "exit status", "goal": "0", "ok": False}
print(json.dumps(out))
