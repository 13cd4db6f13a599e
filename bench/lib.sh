# lib.sh - what the benchmark scripts share: a temporary directory, a random JWT
# secret, and stopping the server they started (SIGTERM, then SIGKILL after
# STOP_WAIT_S seconds) when the script ends, however it ends.
# Use: source "$ROOT/bench/lib.sh"; bench_setup NAME; ... SERVER_PID=$!

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
