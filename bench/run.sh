#!/usr/bin/env bash
# bench/run.sh - build if needed, start a Release iogate on a free loopback
# port with a temporary config, run iogate-loadgen against it, stop it.
#
#   bench/run.sh [N] [iogate-loadgen options...]
#
# N is the number of authenticated WebSocket users (default 10000). Anything
# after N goes to iogate-loadgen (for example --rate 5000 --duration 20).
# BUILD_DIR picks the build directory (default: build-bench, configured as
# Release; the developer build in build/ is not a Release build). BENCH_CONFIG is
# TOML added to the server's config (e.g. a [socketio] table).
# The exit status is iogate-loadgen's: 0 all correct, 1 a correctness count
# is not zero, 2 the run could not be made; 3 when the server died.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
N=${1:-10000}
if [[ $# -gt 0 ]]; then shift; fi
if ! [[ $N =~ ^[0-9]+$ ]] || (( N < 1 )); then
    echo "usage: bench/run.sh [N] [iogate-loadgen options...]" >&2
    exit 2
fi

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
bench_build run.sh iogate iogate-loadgen
SERVER_BIN=$BUILD_DIR/iogate
LOADGEN_BIN=$BUILD_DIR/bench/iogate-loadgen

HARD_NOFILE=$(ulimit -Hn)
if [[ $HARD_NOFILE != unlimited ]] && (( N + 200 > HARD_NOFILE )); then
    echo "run.sh: N=$N needs more open files than the server may have ($HARD_NOFILE)" >&2
    exit 2
fi

bench_setup iogate-bench
LOG=$TMP/server.log

start_server() {
    PORT=$("$LOADGEN_BIN" --free-port)
    bench_config "$TMP/iogate.toml" "$PORT" $((N + 1000)) "${BENCH_CONFIG:-}"
    local ok=0
    bench_start_server "$SERVER_BIN" "$TMP/iogate.toml" "$LOG" "$PORT" || ok=1
    SERVER_PID=$STARTED_PID
    return $ok
}

bench_start_retrying run.sh "$LOG" start_server

echo "server: $SERVER_BIN (pid $SERVER_PID) on 127.0.0.1:$PORT, open-file limit $HARD_NOFILE"
status=0
IOGATE_BENCH_SECRET=$SECRET "$LOADGEN_BIN" --port "$PORT" --pid "$SERVER_PID" -n "$N" "$@" ||
    status=$?

if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    wait "$SERVER_PID" 2>/dev/null && code=0 || code=$?
    echo "run.sh: the server exited during the run (status $code); its log:" >&2
    tail -n 40 "$LOG" >&2
    SERVER_PID=
    exit 3
fi
if [[ -s $LOG ]]; then
    echo "server log (warnings and errors, last 20 lines):"
    tail -n 20 "$LOG"
fi
exit "$status"
