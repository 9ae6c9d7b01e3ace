#!/bin/sh
# it_sim_modbus — mbpoll (Debian) reads amisim's Modbus TCP and RTU meters
# (SDM630 input registers, DTSU666 holding registers, float32 ABCD,
# reference/protocols.md §4.2/§4.3) and gets values consistent with the
# simulator's own truth (`amisim --series`).
set -eu
. "$(dirname "$0")/lib.sh"
command -v mbpoll >/dev/null || { echo "mbpoll missing"; exit 1; }

EPOCH=2025-03-14T00:00:00Z
ARGS="--concentrators 1 --meters 1 --seed 11 --epoch $EPOCH --modbus-meters 2"
pick_port() { P=$(( 20000 + $(rand16) % 20000 )); }
run_amisim() { exec "$BIN/amisim" $ARGS --modbus-tcp-base "$P" --modbus-rtu; }
amisim_up 10 100
RTU0=$(awk '$1 == "modbus-rtu" && $2 == 0 {print $3}' "$TMP/out")
RTU1=$(awk '$1 == "modbus-rtu" && $2 == 1 {print $3}' "$TMP/out")

# true import registers (0.01 kWh) around now: at the epoch and 15 min later
"$BIN/amisim" $ARGS --modbus-tcp-base 1 --series "$EPOCH,2025-03-14T00:15:00Z" \
    --series-meter 900000000000 >"$TMP/s0"
"$BIN/amisim" $ARGS --modbus-tcp-base 1 --series "$EPOCH,2025-03-14T00:15:00Z" \
    --series-meter 900000000001 >"$TMP/s1"

poll() { # poll ARGS... -> values, one per line
    timeout 10 mbpoll "$@" | awk -F'\t' '/^\[[0-9]+\]:/ {print $2}'
}
check() { # check LABEL VALUE LO HI
    awk -v v="$2" -v lo="$3" -v hi="$4" -v l="$1" 'BEGIN {
        if (v + 0 < lo || v + 0 > hi) { printf "%s: %s not in [%s, %s]\n", l, v, lo, hi; exit 1 }
    }'
}
lo0=$(python3 -c "import json,sys; l=[json.loads(x) for x in open('$TMP/s0')]; print(l[0]['shown']['fwd']/100 - 0.02, l[1]['shown']['fwd']/100 + 0.02)")
lo1=$(python3 -c "import json,sys; l=[json.loads(x) for x in open('$TMP/s1')]; print(l[0]['shown']['fwd']/100 - 0.02, l[1]['shown']['fwd']/100 + 0.02)")

# voltages_and_import NAME FC VREG VLO VHI EREG ELO EHI HOW: the three
# phase voltages from VREG each in [VLO, VHI] and the import energy from
# EREG in [ELO, EHI], over the link mbpoll options HOW (float32 ABCD)
voltages_and_import() {
    poll $9 -a 1 -r "$3" -c 3 -t "$2":float -B -1 >"$TMP/v"
    [ "$(wc -l <"$TMP/v")" -eq 3 ] || { echo "$1 voltages: $9"; exit 1; }
    while read -r v; do check "$1 V ($9)" "$v" "$4" "$5"; done <"$TMP/v"
    e=$(poll $9 -a 1 -r "$6" -c 1 -t "$2":float -B -1)
    check "$1 import kWh ($9)" "$e" "$7" "$8"
}

# SDM630, FC 04, PDU 0x0000..: three phase voltages; 0x0048 import energy
for how in "-m tcp -p $P 127.0.0.1" "-m rtu -b 9600 -P none $RTU0"; do
    voltages_and_import sdm630 3 1 213.4 226.6 73 $lo0 "$how"
    f=$(poll $how -a 1 -r 71 -c 1 -t 3:float -B -1)
    check "sdm630 Hz ($how)" "$f" 49.9 50.1
done

# DTSU666, FC 03, 0x2006.. raw floats V x 10 (§4.3); 0x101E import energy
for how in "-m tcp -p $((P + 1)) 127.0.0.1" "-m rtu -b 9600 -P none $RTU1"; do
    voltages_and_import "dtsu666" 4 8199 2134 2266 4127 $lo1 "$how"
done
if grep -q -i 'sanitizer\|ERROR' "$TMP/err"; then cat "$TMP/err"; exit 1; fi
echo "it_sim_modbus: ok"
