# lib.sh - what the benchmark scripts share: a temporary directory, a random JWT
# secret, and stopping the server they started (SIGTERM, then SIGKILL after
# STOP_WAIT_S seconds) when the script ends, however it ends.
# Use: source "$ROOT/bench/lib.sh"; bench_build NAME TARGET...; bench_setup NAME; ... SERVER_PID=$!

bench_cleanup() {
    if [[ -n ${SERVER_PID:-} ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq $((${STOP_WAIT_S:-5} * 10))); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}

# Sets TMP (a fresh directory), SECRET (a random HS256 secret) and SERVER_PID ("").
bench_setup() {
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    SERVER_PID=
    SECRET=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
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
