#!/bin/sh
# it_check_config — `amihead check-config` on the shipped example (exit 0,
# one-line summary) and on a broken copy (exit 1, every problem as
# FILE:LINE: key: message on stderr).
set -u
: "${AH_BIN:?AH_BIN not set}" "${AH_SRC:?AH_SRC not set}"
AMIHEAD="$AH_BIN/amihead"
tmp=$(mktemp -d /tmp/it_check_config.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
fail() { echo "FAIL: $*" >&2; exit 1; }

# 1. The example is valid.
timeout 10 "$AMIHEAD" check-config -c "$AH_SRC/examples/amihead.yaml" \
    >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] || { cat "$tmp/err" >&2; fail "example: exit $rc, want 0"; }
# The example names the packaged paths and ports (/var/lib/amihead, 9464):
# on a build box those may be missing or busy, which check-config says as
# warnings about this machine, never about the file.
grep -Eq '^ok: 5 links, 13 meters, 3 districts( \(see the warnings\))?$' "$tmp/out" ||
    fail "example summary: $(cat "$tmp/out")"
cp "$tmp/out" "$tmp/ok.out"
if grep -v -e ': warning: storage.path ' -e ': warning: metrics.listen ' \
        -e ': warning: export.pub ' -e ': warning: export.replay ' "$tmp/err" | grep -q .; then
    cat "$tmp/err" >&2; fail "example: warnings beyond this machine's paths and ports"
fi

# 2. A broken copy: a typo in a key, a bad link and two bad inventory rows.
sed -e 's/^  retries: 2$/  retires: 2/' \
    -e 's/^    endpoint: 10.12.3.40:502$/    endpoint: 10.12.3.40/' \
    "$AH_SRC/examples/amihead.yaml" >"$tmp/amihead.yaml"
sed -e 's/^TQ0701-002,dlt645-2007,c0,000000101002,/TQ0701-002,dlt645-2007,c0,00000010100,/' \
    -e 's/^TQ0703-006,modbus,rtu1,,2,/TQ0703-006,modbus,rtu1,,1,/' \
    "$AH_SRC/examples/meters.csv" >"$tmp/meters.csv"
y_retries=$(grep -n '^  retires: 2$' "$tmp/amihead.yaml" | cut -d: -f1)
y_endpoint=$(grep -n '^    endpoint: 10.12.3.40$' "$tmp/amihead.yaml" | cut -d: -f1)
c_addr=$(grep -n '^TQ0701-002,' "$tmp/meters.csv" | cut -d: -f1)
c_unit=$(grep -n '^TQ0703-006,' "$tmp/meters.csv" | cut -d: -f1)

timeout 10 "$AMIHEAD" check-config -c "$tmp/amihead.yaml" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] || fail "broken config: exit $rc, want 1"
[ ! -s "$tmp/out" ] || fail "broken config printed a summary: $(cat "$tmp/out")"
for want in \
    "$tmp/amihead.yaml:$y_retries: schedule.retires: unknown key" \
    "$tmp/amihead.yaml:$y_endpoint: links[pv1].endpoint: '10.12.3.40' is not host:port" \
    "$tmp/meters.csv:$c_addr: address: '00000010100' is not a DL/T 645 address" \
    "$tmp/meters.csv:$c_unit: unit_id: unit 1 already used on link 'rtu1' by meter 'TQ0703-005'"
do
    grep -qF "$want" "$tmp/err" || { cat "$tmp/err" >&2; fail "missing: $want"; }
done
grep -q '4 errors' "$tmp/err" || { cat "$tmp/err" >&2; fail "want exactly 4 errors"; }

# Issue 17 item 9: a release reason that is not UTF-8 is named as such
# (it used to say "out of memory").
timeout 10 "$AMIHEAD" release -c "$tmp/amihead.yaml" --meter TQ0701-001 \
    --from 2025-03-14T00:00:00Z --to 2025-03-14T01:00:00Z \
    --reason "$(printf 'bad \377\376')" --operator op >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 2 ] || fail "release with a non-UTF-8 reason: exit $rc, want 2"
grep -q -- '--reason is not valid UTF-8' "$tmp/err" || { cat "$tmp/err" >&2; fail "release: no UTF-8 message"; }

# 3. Usage errors exit 2.
timeout 10 "$AMIHEAD" check-config >/dev/null 2>&1
rc=$?
[ $rc -eq 2 ] || fail "no -c: exit $rc, want 2"

# 4. Read plans (issue 16 item 1): check-config states each DL/T 645 link's
# requests per cycle, warns when requests x round trip do not fit the
# interval, and names the line of a cadence the interval cannot carry.
grep -Eq '^link c0: 4 meters x 1\.82 requests per 15-minute cycle \(read plan\) = 7, x 200 ms round trip' "$tmp/ok.out" ||
    fail "example: no requests per cycle for c0: $(cat "$tmp/ok.out")"
sed -e 's/^    timeout_ms: 5000 .*$/    timeout_ms: 5000\n    round_trip_ms: 60000\n    read_plan: "clock=every,instant=every,status=every,events=every"/' \
    "$AH_SRC/examples/amihead.yaml" >"$tmp/plan.yaml"
cp "$AH_SRC/examples/meters.csv" "$tmp/meters.csv"
y_c1=$(grep -n '^  - name: c1$' "$tmp/plan.yaml" | cut -d: -f1)
timeout 10 "$AMIHEAD" check-config -c "$tmp/plan.yaml" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] || { cat "$tmp/err" >&2; fail "4G plan: exit $rc, want 0 (a warning)"; }
grep -q "^link c1: 3 meters x 8\.03 requests per 15-minute cycle (read plan) = 24, x 60000 ms" "$tmp/out" ||
    fail "c1 line: $(cat "$tmp/out")"
grep -qF "$tmp/plan.yaml:$y_c1: warning: links[c1]: 24 requests x 60000 ms = 1446 s do not fit the 900 s interval" "$tmp/err" ||
    { cat "$tmp/err" >&2; fail "no 'do not fit' warning for c1"; }
sed -e 's/^    read_plan: .*$/    read_plan: "instant=20m"/' "$tmp/plan.yaml" >"$tmp/bad.yaml"
timeout 10 "$AMIHEAD" check-config -c "$tmp/bad.yaml" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] || fail "instant=20m: exit $rc, want 1"
grep -qF "$tmp/bad.yaml:$y_c1: links[c1].read_plan: instant every 20 min: not a multiple of the 15 min interval" "$tmp/err" ||
    { cat "$tmp/err" >&2; fail "bad cadence not named"; }
echo "ok"
