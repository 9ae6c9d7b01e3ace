#!/bin/sh
# Long libFuzzer campaign: every fuzz target of a test build, SECONDS each,
# corpus kept in BUILD/fuzz-corpus/<target>. Prints the execution counts.
#   usage: scripts/fuzz.sh BUILD_DIR SECONDS [TARGET...]
set -eu
build=$1 secs=$2
shift 2
src=$(cd "$(dirname "$0")/.." && pwd)
targets=${*:-$(cd "$build/bin" && ls fuzz_* 2>/dev/null)}
for t in $targets; do
    mkdir -p "$build/fuzz-corpus/$t"
    echo "== $t: ${secs}s"
    "$build/bin/$t" -max_total_time="$secs" -timeout=5 -rss_limit_mb=2048 \
        -print_final_stats=1 "$build/fuzz-corpus/$t" "$src/tests/fuzz/corpus/$t" \
        2>"$build/fuzz-$t.log" || { tail -40 "$build/fuzz-$t.log"; exit 1; }
    grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "$build/fuzz-$t.log"
done
