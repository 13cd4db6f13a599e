#!/usr/bin/env bash
# bench/cluster.sh - a fleet on one Redis: build if needed, start a private redis-server
# and NODES Release iogate nodes ([cluster] adapter = "redis") on free loopback ports with
# temporary configs, run iogate-loadgen with its users spread over the nodes, stop them all.
#
#   bench/cluster.sh [PER_NODE] [iogate-loadgen options...]
#
# PER_NODE authenticated WebSocket users per node (default 5000); NODES nodes (default 3),
# named A, B, C ... User i sits on node i % NODES. What runs by default:
#   - 20 broadcasts to every authenticated user (REST on node A), each sent once the one
#     before reached every user: first and last delivery, per node;
#   - emit_to_user from REST on node A to users of node B: 10 s at 1,000/s, then 10 s at
#     5,000/s; latency from the send time carried in the payload;
#   - per phase: each node's CPU (utime+stime) per delivery and Redis's CPU;
#   - lost, duplicated, misrouted (must be 0), and the nodes' cluster counters.
# Options after PER_NODE go to iogate-loadgen after those defaults, so they win
# (e.g. --rate 2000 --duration 20, or --broadcasts 0). NODES=1 runs one node on Redis
# under the same defaults, to set against bench/run.sh (emits then go to any user, and
# the load generator's warm-up and RSS figure are those of run.sh).
# BUILD_DIR picks the build directory (default build-bench, configured as Release).
# Exit status: iogate-loadgen's (0 all correct, 1 a correctness count is not zero, 2 the
# run could not be made); 3 when a node or Redis died.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
NODES=${NODES:-3}
PER_NODE=${1:-5000}
if [[ $# -gt 0 ]]; then shift; fi
if ! [[ $PER_NODE =~ ^[0-9]+$ ]] || (( PER_NODE < 1 )) || ! [[ $NODES =~ ^[0-9]+$ ]] ||
    (( NODES < 1 || NODES > 16 )); then
    echo "usage: [NODES=3] bench/cluster.sh [PER_NODE] [iogate-loadgen options...]" >&2
    exit 2
fi
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    echo "cluster.sh: needs redis-server and redis-cli (Debian: redis-server)" >&2
    exit 2
fi

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
bench_build cluster.sh iogate iogate-loadgen
SERVER_BIN=$BUILD_DIR/iogate
LOADGEN_BIN=$BUILD_DIR/bench/iogate-loadgen

HARD_NOFILE=$(ulimit -Hn)
if [[ $HARD_NOFILE != unlimited ]] && (( PER_NODE + 200 > HARD_NOFILE )); then
    echo "cluster.sh: $PER_NODE users per node need more open files than a node may have ($HARD_NOFILE)" >&2
    exit 2
fi

bench_setup iogate-cluster-bench
NAMES=ABCDEFGHIJKLMNOP # the load generator names the nodes so, in --ports order

# Node i: its own config and log; sets PORTS[i] and PIDS[i].
start_node() {
    local i=$1
    PORTS[i]=$("$LOADGEN_BIN" --free-port)
    bench_config "$TMP/node$i.toml" "${PORTS[i]}" $((PER_NODE + 1000)) "
[cluster]
adapter = \"redis\"
redis_url = \"redis://127.0.0.1:$REDIS_PORT\""
    bench_start_server "$SERVER_BIN" "$TMP/node$i.toml" "$TMP/node$i.log" "${PORTS[i]}" ||
        return 1
    PIDS[i]=$STARTED_PID
    BENCH_PIDS+=("$STARTED_PID")
}

bench_redis cluster.sh
PORTS=()
PIDS=()
for ((i = 0; i < NODES; i++)); do
    started=0
    for _ in 1 2 3; do
        if start_node "$i"; then started=1; break; fi
    done
    if (( ! started )); then
        echo "cluster.sh: node ${NAMES:i:1} did not start; its log:" >&2
        cat "$TMP/node$i.log" >&2
        exit 2
    fi
done
bench_wait_subscribed cluster.sh "$NODES"

join() { local IFS=,; echo "$*"; }
echo "redis: $(redis-server --version | cut -d' ' -f1-3) (pid $REDIS_PID) on 127.0.0.1:$REDIS_PORT, no persistence"
for ((i = 0; i < NODES; i++)); do
    echo "node ${NAMES:i:1}: $SERVER_BIN (pid ${PIDS[i]}) on 127.0.0.1:${PORTS[i]}"
done
echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), open-file limit $HARD_NOFILE"

if (( NODES == 1 )); then
    servers=(--port "${PORTS[0]}" --pid "${PIDS[0]}")
else
    servers=(--ports "$(join "${PORTS[@]}")" --pids "$(join "${PIDS[@]}")"
        --emit-port "${PORTS[0]}" --target-port "${PORTS[1]}")
fi
status=0
IOGATE_BENCH_SECRET=$SECRET "$LOADGEN_BIN" -n $((PER_NODE * NODES)) "${servers[@]}" \
    --redis-pid "$REDIS_PID" --broadcasts 20 --broadcast-wait --rate 1000,5000 --duration 10 \
    "$@" || status=$?

dead=0
for ((i = 0; i < NODES; i++)); do
    if ! kill -0 "${PIDS[i]}" 2>/dev/null; then
        echo "cluster.sh: node ${NAMES:i:1} (pid ${PIDS[i]}) exited during the run; its log:" >&2
        tail -n 40 "$TMP/node$i.log" >&2
        dead=1
    elif [[ -s $TMP/node$i.log ]]; then
        echo "node ${NAMES:i:1} log (warnings and errors, last 10 lines):"
        tail -n 10 "$TMP/node$i.log"
    fi
done
if ! kill -0 "$REDIS_PID" 2>/dev/null; then
    echo "cluster.sh: redis-server exited during the run; its log:" >&2
    tail -n 20 "$TMP/redis.log" >&2
    dead=1
fi
echo "machine after the run: load average $(cut -d' ' -f1-3 /proc/loadavg)"
if (( dead )); then exit 3; fi
exit "$status"
