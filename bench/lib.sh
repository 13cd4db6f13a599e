# lib.sh - what the benchmark scripts share: a temporary directory, a random JWT
# secret, and stopping the processes they started (SIGTERM, then SIGKILL after
# STOP_WAIT_S seconds) when the script ends, however it ends: SERVER_PID and the
# pids in BENCH_PIDS first, then those in BENCH_PIDS_LAST (what the servers use,
# such as Redis, goes last so that they do not see it go).
# Use: source "$ROOT/bench/lib.sh"; bench_build NAME TARGET...; bench_setup NAME; ... SERVER_PID=$!

# Stops the given pids that are still running: SIGTERM to each, then SIGKILL to those
# still there after STOP_WAIT_S seconds.
bench_stop_pids() {
    local pid left running=()
    for pid in "$@"; do
        if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
            running+=("$pid")
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    (( ${#running[@]} )) || return 0
    for _ in $(seq $((${STOP_WAIT_S:-5} * 10))); do
        left=0
        for pid in "${running[@]}"; do
            if kill -0 "$pid" 2>/dev/null; then left=1; fi
        done
        (( left )) || return 0
        sleep 0.1
    done
    for pid in "${running[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
}

bench_cleanup() {
    bench_stop_pids "${SERVER_PID:-}" "${BENCH_PIDS[@]}"
    bench_stop_pids "${BENCH_PIDS_LAST[@]}"
    rm -rf "$TMP"
}

# Sets TMP (a fresh directory), SECRET (a random HS256 secret), SERVER_PID (""), and
# BENCH_PIDS and BENCH_PIDS_LAST (empty).
bench_setup() {
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    SERVER_PID=
    BENCH_PIDS=()
    BENCH_PIDS_LAST=()
    SECRET=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

# Writes a benchmark server's config to FILE: 127.0.0.1:PORT, room for CONNS connections,
# warnings only, SECRET, the test routes, the core without plugins; then EXTRA (TOML).
bench_config() {
    local file=$1 port=$2 conns=$3 extra=${4:-}
    cat >"$file" <<EOF
[server]
host = "127.0.0.1"
port = $port
shutdown_grace_ms = 2000

[http]
max_connections = $conns

[log]
level = "warn"

[auth]
jwt_secret = "$SECRET"

[testing]
emit_routes = true

# The core alone: no plugin (the defaults load notifications on SQLite).
[plugins]
load = []
$extra
EOF
}

# Starts BIN --config CONFIG in the background with the highest open-file limit allowed
# and stderr to LOG, and sets STARTED_PID. Returns 0 once PORT accepts connections;
# otherwise 1 with STARTED_PID "" (a server that did not listen within 10 s is stopped).
bench_start_server() {
    local bin=$1 config=$2 log=$3 port=$4
    # exec keeps $! the server's pid.
    ( ulimit -n "$(ulimit -Hn)"; exec "$bin" --config "$config" ) 2>"$log" &
    STARTED_PID=$!
    for _ in $(seq 100); do
        if ! kill -0 "$STARTED_PID" 2>/dev/null; then break; fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    bench_stop_pids "$STARTED_PID"
    STARTED_PID=
    return 1
}

# Builds TARGETs in BUILD_DIR (a Release build, configured on first use); NAME is the
# calling script, for the warning when BUILD_DIR was configured otherwise.
bench_build() {
    local name=$1
    shift
    if [[ ! -f $BUILD_DIR/CMakeCache.txt ]]; then
        cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DIOGATE_TESTS=OFF >/dev/null
    fi
    if ! grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' "$BUILD_DIR/CMakeCache.txt"; then
        echo "$name: warning: $BUILD_DIR is not a Release build; figures will not be representative" >&2
    fi
    local jobs
    jobs=$(nproc 2>/dev/null || echo 2)
    # A target added since BUILD_DIR was configured is unknown to its makefiles: configure again.
    if ! cmake --build "$BUILD_DIR" -j"$jobs" --target "$@" >/dev/null 2>&1; then
        cmake -S "$ROOT" -B "$BUILD_DIR" >/dev/null
        cmake --build "$BUILD_DIR" -j"$jobs" --target "$@" >/dev/null
    fi
}

# A private redis-server: loopback, no persistence, on a free port; stopped by pid after the
# servers. Sets REDIS_PORT and REDIS_PID; NAME is the calling script, for the error.
bench_redis() {
    local name=$1 started=0
    for _ in 1 2 3; do # a free port may be taken between the probe and the bind
        REDIS_PORT=$("$LOADGEN_BIN" --free-port)
        redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
            --dir "$TMP" >"$TMP/redis.log" 2>&1 &
        REDIS_PID=$!
        BENCH_PIDS_LAST=("$REDIS_PID")
        for _ in $(seq 100); do
            if ! kill -0 "$REDIS_PID" 2>/dev/null; then break; fi
            if [[ $(redis-cli -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]; then started=1; break; fi
            sleep 0.1
        done
        (( started )) && return 0
        bench_stop_pids "$REDIS_PID"
    done
    echo "$name: redis-server did not start; its log:" >&2
    cat "$TMP/redis.log" >&2
    exit 2
}

# Waits (up to WAIT_S, 10 s) until COUNT nodes have subscribed to the request channel of "/",
# as serverCount() counts them; exits 2 otherwise.
bench_wait_subscribed() {
    local name=$1 count=$2 got=
    for _ in $(seq $((${WAIT_S:-10} * 10))); do
        got=$(redis-cli -p "$REDIS_PORT" pubsub numsub 'socket.io-request#/#' 2>/dev/null | sed -n 2p)
        [[ $got == "$count" ]] && return 0
        sleep 0.1
    done
    echo "$name: $got of $count nodes subscribed to Redis in ${WAIT_S:-10} s" >&2
    exit 2
}

# Calls FN (which starts a server on a free port and returns non-zero when it did not listen)
# up to three times, since a free port may be taken between the probe and the bind; otherwise
# prints LOG and exits 2. NAME is the calling script, for the error.
bench_start_retrying() {
    local name=$1 log=$2 fn=$3
    for _ in 1 2 3; do
        if "$fn"; then return 0; fi
    done
    echo "$name: the server did not start; its log:" >&2
    cat "$log" >&2
    exit 2
}
