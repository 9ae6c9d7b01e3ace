#!/bin/sh
# it_sim_scale — a 2,000 x 256 fleet (512,000 meters, one TCP endpoint per
# concentrator) starts in one process, answers on its first and last
# endpoint, and stays under 2 KB of resident memory per simulated meter.
set -eu
. "$(dirname "$0")/lib.sh"
NC=2000
NM=256
# 2,000 consecutive free ports, below the ephemeral range (32768..) so that
# no outgoing connection of a test beside it holds one of them, booked for
# this test (ahtest.free_port_block) so that no test beside it draws them
pick_port() {
    P=$(PYTHONPATH="$(dirname "$0")" python3 -c \
        "import ahtest; print(ahtest.free_port_block($NC, owner=$$))")
}
run_amisim() {
    exec "$BIN/amisim" --concentrators $NC --meters $NM --port-base "$P" --faults default \
        --epoch 2025-03-14T00:00:00Z
}
amisim_up 5 600
[ "$(grep -c '^concentrator ' "$TMP/out")" -eq $NC ]
PYTHONPATH="$(dirname "$0")" python3 - "$P" <<'PY'
import sys
from dlt645wire import Link, di_bytes
base = int(sys.argv[1])
for k, addr in [(0, "000001000001"), (1999, "002000000256"), (1999, "002000000000")]:
    ok = False
    for attempt in range(5):  # the default link faults drop a few replies
        link = Link.connect(base + k, timeout=2)
        p = link.ask(addr, 0x11, di_bytes(0x00010000))
        link.s.close()
        if p and p[0] == addr and p[1] == 0x91 and len(p[2]) >= 8:
            ok = True
            break
    assert ok, (k, addr, p)
PY
RSS=$(ps -o rss= -p "$PID" | tr -d ' ')
PER=$(( RSS * 1024 / (NC * (NM + 1)) ))
echo "it_sim_scale: ok ($NC x $NM, rss ${RSS} KiB, ${PER} B per meter)"
[ "$PER" -le 2048 ] || { echo "more than 2 KB per meter"; exit 1; }
