#!/bin/sh
# make bench — every benchmark prints its figures as a ratio to a ceiling
# measured in the same run (this machine is shared and noisy: absolute
# numbers mean little, ratios travel).
set -eu
BIN=${BIN:-build/bin}
for b in "$BIN"/bench_*; do
    [ -x "$b" ] || continue
    echo "== $(basename "$b")"
    "$b"
done
# scale-out (issue 19): needs real servers, which bench/scaleout.py starts
echo "== scaleout_bench"
python3 bench/scaleout.py
