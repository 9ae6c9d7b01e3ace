#!/bin/sh
# it_sim_scale — a 2,000 x 256 fleet (512,000 meters, one TCP endpoint per
# concentrator) starts in one process, answers on its first and last
# endpoint, and stays under 2 KB of resident memory per simulated meter.
set -eu
BIN=${AH_BIN:-build/bin}
TMP=$(mktemp -d)
PID=
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
NC=2000
NM=256
i=0
while :; do
    # 2,000 consecutive free ports
    P=$(( 20000 + ($(od -An -N2 -tu2 /dev/urandom) % 20) * 2000 ))
    "$BIN/amisim" --concentrators $NC --meters $NM --port-base "$P" --faults default \
        --epoch 2025-03-14T00:00:00Z >"$TMP/out" 2>"$TMP/err" &
    PID=$!
    n=0
    while [ $n -lt 600 ] && ! grep -q '^ready$' "$TMP/out" && kill -0 "$PID" 2>/dev/null; do
        sleep 0.1; n=$((n + 1))
    done
    grep -q '^ready$' "$TMP/out" && break
    kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=
    i=$((i + 1)); [ $i -lt 5 ] || { cat "$TMP/err"; exit 1; }
done
[ "$(grep -c '^concentrator ' "$TMP/out")" -eq $NC ]
python3 - "$P" <<'PY'
import socket, sys, time
base = int(sys.argv[1])
def frame(addr, c, data):
    a = bytes.fromhex(addr)[::-1]
    d = bytes((x + 0x33) & 0xFF for x in data)
    f = b"\x68" + a + b"\x68" + bytes([c, len(d)]) + d
    return b"\xfe" * 4 + f + bytes([sum(f) & 0xFF, 0x16])
for k, addr in [(0, "000001000001"), (1999, "002000000256"), (1999, "002000000000")]:
    ok = False
    for attempt in range(5):  # the default link faults drop a few replies
        s = socket.create_connection(("127.0.0.1", base + k), timeout=3)
        s.sendall(frame(addr, 0x11, bytes([0, 0, 1, 0])))
        buf = b""
        s.settimeout(2)
        try:
            while b"\x16" not in buf[10:]:
                c = s.recv(512)
                if not c:
                    break
                buf += c
        except socket.timeout:
            pass
        s.close()
        i = buf.find(b"\x68")
        if i >= 0 and len(buf) >= i + 20 and buf[i + 1:i + 7][::-1].hex() == addr and buf[i + 8] == 0x91:
            ok = True
            break
    assert ok, (k, addr, buf.hex())
PY
RSS=$(ps -o rss= -p "$PID" | tr -d ' ')
PER=$(( RSS * 1024 / (NC * (NM + 1)) ))
echo "it_sim_scale: ok ($NC x $NM, rss ${RSS} KiB, ${PER} B per meter)"
[ "$PER" -le 2048 ] || { echo "more than 2 KB per meter"; exit 1; }
