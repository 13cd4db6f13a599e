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
# source addresses 127.0.0.2.. (default: 1 per 20,000 users, at least 4; the load generator
# binds ports 1,024 to 65,535 of each itself). Options after N go to iogate-loadgen
# after those defaults, so they win.
# BUILD_DIR picks the build directory (default build-bench, configured as Release). BENCH_CONFIG
# is TOML appended to the server's config (BENCH_CONFIG=$'[socketio]\nping_interval_ms = 60000').
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
redis_url = \"redis://127.0.0.1:$REDIS_PORT\"
${BENCH_CONFIG:-}"
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
# Progress the load generator does not print, every SAMPLE_S seconds: the machine's TCP
# sockets in use (/proc/net/sockstat: both ends of each loopback connection; ss, which could
# count the port's alone, takes tens of seconds of CPU at 700,000 sockets) and where the CPUs
# went since the last line (/proc/stat: system includes hard interrupts). At the end, the
# kernel's TCP counters that say a connection attempt waited (a full accept queue makes the
# client retry its SYN after 1 s, 3 s, 7 s...) or memory ran short.
tcp_counters() {
    nstat -az 2>/dev/null | awk '{v[$1] = $2} END {if (length(v) > 1) print v["TcpExtListenOverflows"] + 0,
        v["TcpExtTCPSynRetrans"] + 0, v["TcpExtTCPMemoryPressures"] + 0, v["TcpExtTCPAbortOnMemory"] + 0}'
}
cpu_ticks() { awk '/^cpu / {print $2 + $3, $4 + $7, $8, $5 + $6, $2+$3+$4+$5+$6+$7+$8; exit}' /proc/stat; }
TCP_START=$(tcp_counters)
(
    start=$(date +%s)
    read -r u0 s0 q0 i0 t0 < <(cpu_ticks)
    while sleep "${SAMPLE_S:-30}"; do
        n=$(awk '/^TCP:/ {print $3}' /proc/net/sockstat)
        read -r u1 s1 q1 i1 t1 < <(cpu_ticks)
        dt=$(( t1 - t0 > 0 ? t1 - t0 : 1 ))
        echo "progress: $(( $(date +%s) - start )) s: $n TCP sockets," \
            "load average $(cut -d' ' -f1 /proc/loadavg)," \
            "CPU user $(( 100 * (u1 - u0) / dt ))% system $(( 100 * (s1 - s0) / dt ))%" \
            "softirq $(( 100 * (q1 - q0) / dt ))% idle $(( 100 * (i1 - i0) / dt ))%," \
            "slab $(awk '/^Slab:/ {printf "%.0f MiB", $2 / 1024}' /proc/meminfo)"
        u0=$u1 s0=$s1 q0=$q1 i0=$i1 t0=$t1
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
if [[ -n $TCP_START ]]; then
    read -r o0 r0 p0 a0 <<<"$TCP_START"
    read -r o1 r1 p1 a1 <<<"$(tcp_counters)"
    echo "kernel TCP during the run (the whole machine): $((o1 - o0)) accept-queue overflows," \
        "$((r1 - r0)) SYN retransmissions, $((p1 - p0)) memory-pressure entries," \
        "$((a1 - a0)) connections aborted for memory"
fi

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
