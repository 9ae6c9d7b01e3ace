#!/bin/sh
# make demo — the main job: a simulated district collected by the head-end,
# validated, stored and published to billing.
#
#  1. amisim plays 3 concentrators × 20 DL/T 645-2007 meters (plus each
#     district's transformer meter) with faults (scripts/demo-faults.json):
#     a stopped meter, a reversed CT, phase imbalance, a theft, the default
#     link-fault rates (lost, late, corrupted replies, junk, dropped
#     connections — late replies 0.6 s instead of 6 s, because at 60× a 6 s
#     silence would be six simulated minutes) and concentrator 2 offline for
#     45 simulated minutes,
#     and writes the head-end config and meter inventory for itself.
#  2. amihead run polls them on a simulated clock running 60× real time,
#     from 23:50 local: its first cycle backfills two days from the meters'
#     memory, then it collects every 15-minute interval live, validates each
#     read, stores it in RocksDB and publishes clean reads. After midnight
#     the two whole days just collected are judged district by district
#     (line loss, and its swing from one day to the next: the theft).
#  3. amihead tail stands in for billing: it subscribes, fills any gap
#     through replay and prints messages in sequence order.
#  4. Afterwards: completeness per link, one meter read on site, and the
#     scorecard (scripts/scorecard.py): every fault amisim injected, whether
#     amihead found it, by which rule and how soon; the district line-loss
#     table with the thief; what billing received, gapless from seq 1.
set -eu
BIN=${BIN:-build/bin}
tmp=$(mktemp -d)
SIM= TAIL=
cleanup() {
    for p in $TAIL $SIM; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -n "${KEEP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

EPOCH=2025-03-14T15:50:00Z   # 23:50 on 14 March in the meters' time (UTC+8)
UNTIL=2025-03-14T18:00:00Z   # 02:00 local: 2 h 10 min of live collection
SCALE=60                     # 15-minute cycles every 15 real seconds
base=$(( 20000 + $$ % 20000 ))
pub=$((base + 200)) replay=$((base + 201)) metrics=$((base + 202))

"$BIN/amisim" --concentrators 3 --meters 20 --port-base "$base" \
    --faults "$(dirname "$0")/demo-faults.json" \
    --epoch "$EPOCH" --time-scale "$SCALE" --write-config "$tmp/site" \
    --truth "$tmp/truth.json" >"$tmp/sim.out" 2>"$tmp/sim.err" &
SIM=$!
for _ in $(seq 1 100); do grep -q '^ready' "$tmp/sim.out" 2>/dev/null && break; sleep 0.1; done
grep -q '^ready' "$tmp/sim.out" || { echo "amisim did not start"; cat "$tmp/sim.err"; exit 1; }

cfg=$tmp/site/amihead.yaml
sed -i -e "s|^  path: .*|  path: $tmp/store|" -e "s|backfill_days: .*|backfill_days: 3|" \
    -e "s|timeout_ms: .*|timeout_ms: 1000|" \
    -e "s|tcp://127.0.0.1:5556|tcp://127.0.0.1:$pub|" \
    -e "s|tcp://127.0.0.1:5557|tcp://127.0.0.1:$replay|" \
    -e "s|listen: 127.0.0.1:9464|listen: 127.0.0.1:$metrics|" "$cfg"

echo "== amisim: 3 concentrators × 20 meters, faults from scripts/demo-faults.json"
sed -n '1,3p' "$tmp/sim.out"
echo
echo "\$ amihead check-config -c amihead.yaml"
"$BIN/amihead" check-config -c "$cfg"

"$BIN/amihead" tail --from-seq 1 --endpoint "tcp://127.0.0.1:$pub" \
    --replay "tcp://127.0.0.1:$replay" >"$tmp/billing.txt" 2>"$tmp/tail.err" &
TAIL=$!

echo
echo "\$ amihead run -c amihead.yaml --epoch $EPOCH --time-scale $SCALE --until $UNTIL"
"$BIN/amihead" run -c "$cfg" --epoch "$EPOCH" --time-scale "$SCALE" --until "$UNTIL" \
    2>"$tmp/run.log" &
RUN=$!
# the live line: simulated time, cycles done, reads stored and completeness
# of the window so far (amihead stats beside the running head-end)
/usr/bin/python3 - "$BIN/amihead" "$cfg" "$tmp/run.log" "$EPOCH" "$SCALE" "$RUN" <<'PY' || true
import calendar, json, os, re, subprocess, sys, time
ah, cfg, log, epoch, scale, pid = sys.argv[1:]
t0, scale = time.time(), float(scale)
e0 = calendar.timegm(time.strptime(epoch, "%Y-%m-%dT%H:%M:%SZ"))
tty = sys.stdout.isatty()
last_print = 0
while True:
    try:
        os.kill(int(pid), 0)
        alive = True
    except OSError:
        alive = False
    now = e0 + (time.time() - t0) * scale
    with open(log, errors="replace") as fh:
        cycles = len(set(re.findall(r"cycle (\S+) done", fh.read())))
    r = subprocess.run([ah, "stats", "-c", cfg, "--from", "2025-03-13T16:00:00Z", "--to",
                        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)), "--json"],
                       capture_output=True, text=True)
    rows = [json.loads(x) for x in r.stdout.splitlines() if '"district"' in x]
    exp = sum(x["expected"] for x in rows)
    got = sum(x["collected"] for x in rows)
    line = (f"   sim {time.strftime('%Y-%m-%d %H:%M', time.gmtime(now + 8 * 3600))} "
            f"(UTC+8)  cycles {cycles}  reads {got}  "
            f"complete {100.0 * got / exp if exp else 0:.1f} %")
    if tty:
        print("\r" + line, end="", flush=True)
    elif time.time() - last_print >= 15 or not alive:
        print(line, flush=True)
        last_print = time.time()
    if not alive:
        break
    time.sleep(1)
if tty:
    print()
PY
wait $RUN
grep -E 'stopping' "$tmp/run.log" | sed 's/^/   /'
sleep 2
kill $TAIL 2>/dev/null || true; wait $TAIL 2>/dev/null || true; TAIL=

echo
echo "\$ amihead stats -c amihead.yaml --from 2025-03-13T16:00:00Z --to $UNTIL"
"$BIN/amihead" stats -c "$cfg" --from 2025-03-13T16:00:00Z --to "$UNTIL" | grep -E '^(interval|link)'

tcp=$(awk '$1=="concentrator" && $3=="dlt645-tcp" {print $4; exit}' "$tmp/sim.out")
echo
echo "== on site: amihead read, one meter, the way a field engineer reads it"
for di in 00010000 0201FF00; do
    echo "\$ amihead read --tcp $tcp --addr 000001000001 --di $di"
    "$BIN/amihead" read --tcp "$tcp" --addr 000001000001 --di $di || true
done

echo
/usr/bin/python3 "$(dirname "$0")/scorecard.py" --amihead "$BIN/amihead" \
    --truth "$tmp/truth.json" -c "$cfg" --billing "$tmp/billing.txt" || true
echo "   (details: amihead events / districts / query -c amihead.yaml; KEEP=1 keeps $tmp)"
