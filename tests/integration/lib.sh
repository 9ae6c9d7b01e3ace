# lib.sh — start-up shared by the shell integration tests (sourced, never
# run: only it_* files are tests): a scratch directory and one amisim
# helper, both gone when the test exits however it exits.
#
# The sourcing test defines pick_port (sets P to a port base for one try)
# and run_amisim (execs "$BIN/amisim" on "$P"), then calls amisim_up.
BIN=${AH_BIN:-build/bin}
TMP=$(mktemp -d)
PID=
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

# rand16: a random number 0..65535, for picking port bases
rand16() {
    od -An -N2 -tu2 /dev/urandom | tr -d ' '
}

# amisim_up TRIES TENTHS: start amisim until it prints 'ready' within TENTHS
# tenths of a second (a taken port makes it exit: try another), at most
# TRIES times. Its stdout is in $TMP/out, its stderr in $TMP/err, its pid
# in PID; on giving up, print its stderr and fail the test.
amisim_up() {
    _try=0
    while [ "$_try" -lt "$1" ]; do
        pick_port
        run_amisim >"$TMP/out" 2>"$TMP/err" &
        PID=$!
        _n=0
        while [ "$_n" -lt "$2" ] && ! grep -q '^ready$' "$TMP/out" && kill -0 "$PID" 2>/dev/null; do
            sleep 0.1
            _n=$((_n + 1))
        done
        grep -q '^ready$' "$TMP/out" && return 0
        kill "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
        PID=
        _try=$((_try + 1))
    done
    cat "$TMP/err"
    exit 1
}
