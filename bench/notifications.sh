#!/usr/bin/env bash
# bench/notifications.sh - the notifications plugin's benchmark (by hand, not CI).
# Builds a Release iogate with the plugin if needed, starts it on a free loopback
# port with a temporary config and database, then runs bench/notifications.mjs:
#   - notifications created per second through POST /notifications;
#   - the broadcast time to N connected WebSocket users (first to last delivery).
#
#   bench/notifications.sh [N] [bench/notifications.mjs options...]
#
# N is the number of connected users (default 10000). Options go to the client,
# e.g. --creates 20000 --seconds 10 --conns 8 --broadcasts 3.
# BUILD_DIR picks the build directory (default build-bench, configured Release).
# DATABASE picks the store: a PostgreSQL URL (postgresql://...), or by default a
# SQLite file in the temporary directory.
# Exit status: the client's (0 every create answered 201 and every broadcast
# reached every user), 2 when the run could not be made, 3 when the server died.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
N=${1:-10000}
if [[ $# -gt 0 ]]; then shift; fi
if ! [[ $N =~ ^[0-9]+$ ]] || (( N < 1 )); then
    echo "usage: bench/notifications.sh [N] [options...]" >&2
    exit 2
fi

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
bench_build notifications.sh iogate notifications

# Both the server and the client hold one descriptor per user.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [[ $(ulimit -n) != unlimited ]] && (( N + 200 > $(ulimit -n) )); then
    echo "notifications.sh: N=$N needs more open files than allowed ($(ulimit -n))" >&2
    exit 2
fi

STOP_WAIT_S=10
bench_setup iogate-notif-bench
DATABASE=${DATABASE:-$TMP/notifications.db}
cat >"$TMP/iogate.toml" <<TOML
[server]
host = "127.0.0.1"
port = 0
shutdown_grace_ms = 2000
[http]
max_connections = $((N + 1000))
[socketio]
transports = ["websocket"]
[auth]
jwt_secret = "$SECRET"
[plugins]
dir = "$BUILD_DIR/plugins"
load = ["notifications"]
[plugin.notifications]
database = "$DATABASE"
TOML

"$BUILD_DIR/iogate" --config "$TMP/iogate.toml" >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
PORT=
for _ in $(seq 100); do
    PORT=$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$TMP/server.log" | head -1)
    [[ -n $PORT ]] && break
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
    sleep 0.1
done
if [[ -z $PORT ]]; then
    echo "notifications.sh: the server did not start:" >&2
    cat "$TMP/server.log" >&2
    exit 2
fi
echo "server pid $SERVER_PID on 127.0.0.1:$PORT, database ${DATABASE%%://*}"

status=0
node "$ROOT/bench/notifications.mjs" --port "$PORT" --secret "$SECRET" --users "$N" "$@" || status=$?
if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "notifications.sh: the server died:" >&2
    tail -20 "$TMP/server.log" >&2
    exit 3
fi
exit "$status"
