#!/bin/sh
# it_alert_rules — the operator's examples work as shipped (issue 18 #5):
# examples/prometheus/amihead-alerts.yml passes `promtool check rules` and
# its unit tests (`promtool test rules`: district-day below 99.99 %, a link
# down longer than one interval, a growing publish backlog, a failing store
# write — each firing when it should and not before); prometheus.yml passes
# `promtool check config`; the Grafana dashboard is valid JSON and every
# amihead_ series the rules and the dashboard use is one the code exports
# (a renamed metric breaks this test, not the control room's dashboard).
set -u
: "${AH_SRC:?AH_SRC not set}"
P="$AH_SRC/examples/prometheus"
G="$AH_SRC/examples/grafana/amihead-dashboard.json"
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v promtool >/dev/null || fail "promtool missing (Debian package prometheus)"

promtool check rules "$P/amihead-alerts.yml" || fail "promtool check rules"
(cd "$P" && promtool test rules amihead-alerts.test.yml) || fail "promtool test rules"
promtool check config "$P/prometheus.yml" || fail "promtool check config"

python3 - "$G" "$P/amihead-alerts.yml" "$AH_SRC/src" <<'PY' || fail "dashboard / rules use series the code does not export"
import json, os, re, sys
dash, rules, src = sys.argv[1:4]
d = json.load(open(dash))
exprs = [t["expr"] for p in d["panels"] for t in p.get("targets", [])]
assert len(exprs) >= 15, f"{len(exprs)} dashboard queries"
text = "\n".join(exprs) + open(rules).read()
used = set(re.findall(r"\b((?:amihead|process)_[a-z_]+)", text))
code = ""
for root, _, files in os.walk(src):
    for f in files:
        if f.endswith(".c"):
            code += open(os.path.join(root, f)).read()
missing = []
for name in sorted(used):
    base = re.sub(r"_(bucket|sum|count)$", "", name)
    if f'"{name}' not in code and f'"{base}"' not in code and f"{name} " not in code:
        missing.append(name)
assert not missing, f"not exported: {missing}"
print(f"dashboard: {len(d['panels'])} panels, {len(exprs)} queries; {len(used)} series used")
PY
echo ok
