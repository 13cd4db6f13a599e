#!/usr/bin/env bash
# bench/workers.sh - one iogate with [server] workers on a private Redis, all on this machine:
# build if needed, start redis-server and a Release iogate (a supervisor and its workers) on a
# free loopback port, run iogate-loadgen with N authenticated WebSocket users, stop them all.
#
#   bench/workers.sh [N] [iogate-loadgen options...]
#
# N users (default 100000). WORKERS iogate workers (default: enough that each holds at most
# 15,000 connections, at least 2). What runs by default:
#   - the handshakes (connect rate), spread by the kernel over the workers;
#   - the RSS of the supervisor and every worker together, idle, per connection;
#   - 3 broadcasts to every user, each once the one before reached everyone: first and last
#     delivery;
#   - emit_to_user at 2,000/s for 10 s: latency p50/p99;
#   - lost, duplicated, misrouted (must be 0).
# The load generator uses LG_WORKERS processes (default: 1 per 12,500 users) and SOURCES
# source addresses 127.0.0.2.. (default: 1 per 20,000 users, at least 4): each source address
# gives about 28,000 ports towards one destination. Options after N go to iogate-loadgen
# after those defaults, so they win.
# BUILD_DIR picks the build directory (default build-bench, configured as Release).
# Exit status: iogate-loadgen's (0 all correct, 1 a correctness count is not zero, 2 the run
# could not be made); 3 when the server or Redis died.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
N=${1:-100000}
if [[ $# -gt 0 ]]; then shift; fi
if ! [[ $N =~ ^[0-9]+$ ]] || (( N < 1 )); then
    echo "usage: [WORKERS=W] bench/workers.sh [N] [iogate-loadgen options...]" >&2
    exit 2
fi
WORKERS=${WORKERS:-$(( (N + 14999) / 15000 ))}
(( WORKERS < 2 )) && WORKERS=2
LG_WORKERS=${LG_WORKERS:-$(( (N + 12499) / 12500 ))}
(( LG_WORKERS > 64 )) && LG_WORKERS=64
SOURCES=${SOURCES:-$(( (N + 19999) / 20000 ))}
(( SOURCES < 4 )) && SOURCES=4
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    echo "workers.sh: needs redis-server and redis-cli (Debian: redis-server)" >&2
    exit 2
fi

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
bench_build workers.sh iogate iogate-loadgen
SERVER_BIN=$BUILD_DIR/iogate
LOADGEN_BIN=$BUILD_DIR/bench/iogate-loadgen

HARD_NOFILE=$(ulimit -Hn)
PER_WORKER=$(( (N + WORKERS - 1) / WORKERS ))
if [[ $HARD_NOFILE != unlimited ]] && (( PER_WORKER + 1000 > HARD_NOFILE )); then
    echo "workers.sh: $PER_WORKER connections per worker need more open files than a process" \
        "may have ($HARD_NOFILE): raise WORKERS" >&2
    exit 2
fi

bench_setup iogate-workers-bench
bench_redis workers.sh

start_server() {
    PORT=$("$LOADGEN_BIN" --free-port)
    # The kernel's spread over the workers is not even: room for twice a fair share.
    bench_config "$TMP/iogate.toml" "$PORT" $((2 * PER_WORKER + 1000)) "
[cluster]
adapter = \"redis\"
redis_url = \"redis://127.0.0.1:$REDIS_PORT\""
    sed -i "s/^shutdown_grace_ms = .*/&\nworkers = $WORKERS/" "$TMP/iogate.toml"
    local ok=0
    bench_start_server "$SERVER_BIN" "$TMP/iogate.toml" "$TMP/server.log" "$PORT" || ok=1
    SERVER_PID=$STARTED_PID
    return $ok
}

bench_start_retrying workers.sh "$TMP/server.log" start_server
WAIT_S=30 bench_wait_subscribed workers.sh "$WORKERS"

echo "redis: $(redis-server --version | cut -d' ' -f1-3) (pid $REDIS_PID) on 127.0.0.1:$REDIS_PORT, no persistence"
echo "server: $SERVER_BIN (supervisor pid $SERVER_PID, $WORKERS workers) on 127.0.0.1:$PORT"
echo "load generator: $LG_WORKERS processes, $SOURCES source addresses"
echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)," \
    "load average $(cut -d' ' -f1-3 /proc/loadavg), open-file limit $HARD_NOFILE per process," \
    "fs.file-max $(cat /proc/sys/fs/file-max), ports $(tr '\t' - </proc/sys/net/ipv4/ip_local_port_range)"
# Progress the load generator does not print: the connections established to the port, every
# SAMPLE_S seconds (ss counts both ends of loopback connections: the server's side is sport).
(
    start=$(date +%s)
    while sleep "${SAMPLE_S:-30}"; do
        n=$(ss -Htn state established "( sport = :$PORT )" 2>/dev/null | wc -l)
        echo "progress: $(( $(date +%s) - start )) s: $n connections established," \
            "load average $(cut -d' ' -f1 /proc/loadavg)"
    done
) &
SAMPLER_PID=$!
BENCH_PIDS+=("$SAMPLER_PID")
status=0
IOGATE_BENCH_SECRET=$SECRET "$LOADGEN_BIN" -n "$N" --port "$PORT" --pid "$SERVER_PID" --server-workers \
    --redis-pid "$REDIS_PID" --workers "$LG_WORKERS" --sources "$SOURCES" \
    --broadcasts 3 --broadcast-wait --rate 2000 --duration 10 --warmup 0 \
    --handshake-timeout 120 --phase-timeout 300 --deadline 1800 "$@" || status=$?
kill "$SAMPLER_PID" 2>/dev/null || true

dead=0
if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "workers.sh: the server exited during the run; its log:" >&2
    tail -n 40 "$TMP/server.log" >&2
    dead=1
else
    restarts=$(grep -c 'restarting it in' "$TMP/server.log" || true)
    echo "worker restarts during the run: $restarts"
    if [[ -s $TMP/server.log ]]; then
        echo "server log (warnings and errors, last 10 lines):"
        tail -n 10 "$TMP/server.log"
    fi
fi
if ! kill -0 "$REDIS_PID" 2>/dev/null; then
    echo "workers.sh: redis-server exited during the run; its log:" >&2
    tail -n 20 "$TMP/redis.log" >&2
    dead=1
fi
echo "machine after the run: load average $(cut -d' ' -f1-3 /proc/loadavg)"
if (( dead )); then exit 3; fi
exit "$status"
