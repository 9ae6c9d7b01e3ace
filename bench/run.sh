#!/bin/sh
# make bench — every benchmark prints its figures as a ratio to a ceiling
# measured in the same run (this machine is shared and noisy: absolute
# numbers mean little, ratios travel). The last line printed is one JSON
# object holding every figure (bench/merge.py); docs/benchmarks.md has the
# table and what each goal means.
set -u
BIN=${BIN:-build/bin}
export BIN
OUT=$(mktemp -d /tmp/amihead-bench.XXXXXX)
run() { # name command...
    n=$1
    shift
    echo "== $n"
    "$@" >"$OUT/$n.log" 2>&1
    rc=$?
    cat "$OUT/$n.log"
    echo "exit status $rc" >>"$OUT/$n.log"
}
for b in "$BIN"/bench_*; do
    [ -x "$b" ] || continue
    run "$(basename "$b")" "$b"
done
# scale (issue 16): a city's inventory in one head-end
run city python3 bench/city.py
# polling CPU per request against amisim (issue 16)
run polling python3 bench/polling.py
# 4G (issue 16): 256 meters on one concentrator at 500 ms per request
run fourg python3 bench/fourg.py
# scale-out (issue 19): needs real servers, which bench/scaleout.py starts
run scaleout_bench python3 bench/scaleout.py
python3 bench/merge.py "$OUT"/*.log
rm -rf "$OUT"
