#!/usr/bin/env bash
# bench/notifications.sh - the notifications plugin's benchmark (by hand, not CI), on both
# stores, printed side by side: SQLite (a file in WAL mode) and PostgreSQL (a private
# server this script starts and stops by pid, fsync on, as a real one). For each store, a
# Release iogate with the plugin, on a free loopback port:
#   1. notifications created per second through POST /notifications, 8 and 64 REST
#      connections (a fresh database);
#   2. POST /notifications -> "notification" event at a paced 1,000 requests/s, received
#      by 100 official socket.io-client users: p50/p99 from sending the request to the
#      event, and to the 201;
#   3. the broadcast to N connected WebSocket users (first and last delivery);
#   4. GET /notifications?limit=20 with 1,000,000 stored notifications over 10,000 users:
#      first page and the next page (cursor) for random users, then the plan of the list
#      query in that database (bench/notif_db_*.c: EXPLAIN (ANALYZE, BUFFERS) on
#      PostgreSQL, EXPLAIN QUERY PLAN and the statement's counters on SQLite).
# The 1,000,000 rows are written once by iogate-notif-db with SQL straight into the
# plugin's schema (generate_series on PostgreSQL, a recursive query on SQLite, one
# transaction each: about a minute in all), not through the REST API, and kept in
# CACHE for the next runs: 999,009 rows for users u0..u9999 (about 100 each), 991
# broadcasts, every third user row read.
#
#   bench/notifications.sh [N] [bench/notifications.mjs options...]
#
# N is the number of WebSocket users of the broadcast (default 1000). Options go to the
# client, e.g. --seconds 5 --latency-seconds 5 --list-seconds 5 --broadcasts 0.
# STORES="sqlite postgres" (the default) picks the stores. CACHE (default
# /var/tmp/iogate-bench) holds the seeded databases and the PostgreSQL cluster; remove it
# to start over. BUILD_DIR picks the build directory (default build-bench, configured
# Release). About 2.5 minutes once seeded.
# Exit status: 0 every phase correct (every create 201, no event lost, every broadcast
# complete, every GET 200), 1 otherwise, 2 when the run could not be made, 3 when a
# server died.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
CACHE=${CACHE:-/var/tmp/iogate-bench}
STORES=${STORES:-sqlite postgres}
N=${1:-1000}
if [[ $# -gt 0 ]]; then shift; fi
if ! [[ $N =~ ^[0-9]+$ ]]; then
    echo "usage: bench/notifications.sh [N] [options...]" >&2
    exit 2
fi
SEED_ROWS=1000000 SEED_USERS=10000 SEED_EVERY=1009
SEED_KEY="$SEED_ROWS-$SEED_USERS-$SEED_EVERY-v1"

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
bench_build notifications.sh iogate notifications iogate-loadgen iogate-notif-db
NOTIF_DB=$BUILD_DIR/bench/iogate-notif-db

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [[ $(ulimit -n) != unlimited ]] && (( N + 400 > $(ulimit -n) )); then
    echo "notifications.sh: N=$N needs more open files than allowed ($(ulimit -n))" >&2
    exit 2
fi

STOP_WAIT_S=10
bench_setup iogate-notif-bench
mkdir -p "$CACHE"
load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "machine: $(nproc) CPUs ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)), load average $(load) at the start"

# ---- PostgreSQL: a private server on the cached cluster, as postgres when we are root.
pg_bin() {
    local d
    for d in $(printf "%s\n" /usr/lib/postgresql/*/bin | sort -V -r); do
        [[ -x $d/postgres ]] && { echo "$d"; return; }
    done
    command -v postgres >/dev/null && dirname "$(command -v postgres)"
}
# The server refuses to run as root: as root, run it as the package's postgres user.
as_pg() {
    if (( EUID == 0 )); then setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; else "$@"; fi
}
exec_as_pg() {
    if (( EUID == 0 )); then exec setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; else exec "$@"; fi
}
pg_sql() {
    PGOPTIONS='-c client_min_messages=warning' psql -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 \
        -p "$PG_PORT" -U postgres -d "${2:-postgres}" -c "$1"
}
start_postgres() {
    PG_BIN=$(pg_bin)
    if [[ -z $PG_BIN ]] || ! command -v psql >/dev/null; then
        echo "notifications.sh: PostgreSQL not found (Debian: apt-get install postgresql)" >&2
        return 1
    fi
    local dir=$CACHE/pg
    if [[ ! -f $dir/data/PG_VERSION ]]; then
        rm -rf "$dir"
        mkdir -p "$dir"
        chmod 700 "$dir"
        (( EUID == 0 )) && chown postgres:postgres "$dir"
        as_pg "$PG_BIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C >"$TMP/initdb.log" 2>&1 ||
            { cat "$TMP/initdb.log" >&2; return 1; }
    fi
    PG_PORT=$("$BUILD_DIR/bench/iogate-loadgen" --free-port)
    # exec all the way: the pid is the server's own (postmaster), stopped after iogate.
    ( cd "$dir" && exec_as_pg "$PG_BIN/postgres" -D "$dir/data" -p "$PG_PORT" \
        -c listen_addresses=127.0.0.1 -c unix_socket_directories="$dir" -c max_connections=200 ) \
        >"$TMP/postgres.log" 2>&1 &
    PG_PID=$!
    BENCH_PIDS_LAST=("$PG_PID")
    for _ in $(seq 300); do
        if ! kill -0 "$PG_PID" 2>/dev/null; then break; fi
        if pg_sql 'SELECT 1' >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    echo "notifications.sh: PostgreSQL did not start:" >&2
    cat "$TMP/postgres.log" >&2
    return 1
}

# ---- iogate with the plugin on DATABASE: sets SERVER_PID and PORT.
start_iogate() {
    local database=$1 name=$2
    PORT=$("$BUILD_DIR/bench/iogate-loadgen" --free-port)
    cat >"$TMP/$name.toml" <<TOML
[server]
host = "127.0.0.1"
port = $PORT
shutdown_grace_ms = 2000
[http]
max_connections = $((N + 1000))
[log]
level = "warn"
[auth]
jwt_secret = "$SECRET"
[plugins]
dir = "$BUILD_DIR/plugins"
load = ["notifications"]
[plugin.notifications]
database = "$database"
TOML
    if ! bench_start_server "$BUILD_DIR/iogate" "$TMP/$name.toml" "$TMP/$name.log" "$PORT"; then
        echo "notifications.sh: iogate did not start:" >&2
        cat "$TMP/$name.log" >&2
        exit 2
    fi
    SERVER_PID=$STARTED_PID
}
stop_iogate() {
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "notifications.sh: the server died:" >&2
        tail -20 "$1" >&2
        exit 3
    fi
    bench_stop_pids "$SERVER_PID"
    SERVER_PID=
}

# ---- the databases: a fresh one for the writes, the cached 1M one for the reads.
fresh_db() { # store -> DATABASE
    if [[ $1 == sqlite ]]; then
        echo "$TMP/notifications.db"
    else
        pg_sql 'DROP DATABASE IF EXISTS notif_bench_run' >/dev/null
        pg_sql 'CREATE DATABASE notif_bench_run' >/dev/null
        echo "postgresql://postgres@127.0.0.1:$PG_PORT/notif_bench_run"
    fi
}
seeded_db() { # store -> DATABASE, seeding it unless the cache has it
    local db mark=$CACHE/seeded-$1-$SEED_KEY
    if [[ $1 == sqlite ]]; then
        db=$CACHE/notifications-$SEED_KEY.db
        [[ -f $mark && -f $db ]] && { echo "$db"; return; }
        rm -f "$db" "$db-wal" "$db-shm" "$mark"
    else
        db="postgresql://postgres@127.0.0.1:$PG_PORT/notif_bench_1m"
        if [[ -f $mark ]] && [[ $(pg_sql "SELECT count(*) FROM pg_database WHERE datname = 'notif_bench_1m'") == 1 ]]; then
            echo "$db"
            return
        fi
        rm -f "$mark"
        pg_sql 'DROP DATABASE IF EXISTS notif_bench_1m' >/dev/null
        pg_sql 'CREATE DATABASE notif_bench_1m' >/dev/null
    fi
    echo "seeding $1 (once; kept in $CACHE):" >&2
    "$NOTIF_DB" seed "$db" --rows "$SEED_ROWS" --users "$SEED_USERS" --broadcast-every "$SEED_EVERY" >&2
    touch "$mark"
    echo "$db"
}

status=0
REPORT=()
for store in $STORES; do
    case $store in
        sqlite) label=SQLite ;;
        postgres) label=PostgreSQL; [[ -n ${PG_PID:-} ]] || start_postgres || exit 2 ;;
        *) echo "notifications.sh: unknown store $store (sqlite, postgres)" >&2; exit 2 ;;
    esac
    echo
    echo "==== $label"
    start_iogate "$(fresh_db "$store")" "$store-run"
    node "$ROOT/bench/notifications.mjs" --port "$PORT" --secret "$SECRET" --users "$N" \
        --label "$label" --json "$TMP/$store-run.json" "$@" || status=1
    stop_iogate "$TMP/$store-run.log"

    db=$(seeded_db "$store")
    start_iogate "$db" "$store-list"
    node "$ROOT/bench/notifications.mjs" --port "$PORT" --secret "$SECRET" "$@" --phases list \
        --list-users "$SEED_USERS" --label "$label" --json "$TMP/$store-list.json" || status=1
    stop_iogate "$TMP/$store-list.log"
    echo "-- the list query's plan in the 1M database"
    "$NOTIF_DB" explain "$db" --user u4242 --limit 20 || status=1
    REPORT+=("$label=$TMP/$store-run.json,$TMP/$store-list.json")
done

echo
echo "load average $(load) at the end"
echo
node "$ROOT/bench/notifications.mjs" report "${REPORT[@]}"
exit "$status"
