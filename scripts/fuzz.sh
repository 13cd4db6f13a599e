#!/usr/bin/env bash
# Runs every libFuzzer target of the fuzz build for a given time each and counts
# what they find.
#
#   scripts/fuzz.sh [SECONDS] [NAME ...]     default: 60 seconds, every target
#
# NAME is a target without its fuzz_ prefix (toml, http, ...). The fuzz build
# (build-fuzz, or $FUZZ_BUILD) is configured if missing and brought up to date
# first. Each target runs in libFuzzer's fork mode, so a crash, leak or timeout
# is kept and fuzzing goes on until the time is up. Per target, kept between
# runs and ignored by git:
#   fuzz-corpus/NAME/       the corpus (seeded from tests/fuzz/corpus/NAME/ if any)
#   fuzz-findings/NAME/     crash-*, leak-*, timeout-*, oom-* reproducers
#   fuzz-findings/NAME.log  the last run's output
# A reproducer replays with: build-fuzz/fuzz_NAME fuzz-findings/NAME/crash-...
# At most $FUZZ_JOBS targets (default 2) run at once. Exits 1 when a run found
# anything, 2 when a target could not run.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2
seconds=${1:-60}
shift || true
build=${FUZZ_BUILD:-build-fuzz}
jobs=${FUZZ_JOBS:-2}
case "$seconds" in '' | *[!0-9]*) echo "usage: $0 [SECONDS] [NAME ...]" >&2; exit 2 ;; esac

if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DIOGATE_FUZZ=ON -DIOGATE_TESTS=OFF || exit 2
fi
cmake --build "$build" -j"$jobs" || exit 2

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
    for f in tests/fuzz/fuzz_*.c; do
        n=$(basename "$f" .c)
        names+=("${n#fuzz_}")
    done
fi

run_one() {
    local name=$1 bin="$build/fuzz_$1" corpus="fuzz-corpus/$1" found="fuzz-findings/$1"
    local seeds=()
    mkdir -p "$corpus" "$found"
    [ -d "tests/fuzz/corpus/$name" ] && seeds=("tests/fuzz/corpus/$name")
    local start=$SECONDS
    # rss_limit_mb: a target that grows past it is a finding (oom-*), well
    # below what two targets at once may use on this machine.
    nice "$bin" "$corpus" "${seeds[@]}" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 \
        -ignore_ooms=1 -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$found/" -print_final_stats=1 >"$found.log" 2>&1
    echo "$? $((SECONDS - start))" >"$found.rc"
}

stamp=$(mktemp)
trap 'rm -f "$stamp"' EXIT
running=0
for name in "${names[@]}"; do
    if [ ! -x "$build/fuzz_$name" ]; then
        echo "fuzz: no target $build/fuzz_$name" >&2
        exit 2
    fi
    if [ "$running" -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
    echo "fuzz: fuzz_$name for ${seconds}s"
    run_one "$name" &
    running=$((running + 1))
done
wait

status=0
printf '\n%-16s %12s %8s %8s %9s %s\n' target executions exec/s corpus findings 'sanitizer reports'
for name in "${names[@]}"; do
    log="fuzz-findings/$name.log"
    read -r rc elapsed <"fuzz-findings/$name.rc"
    rm -f "fuzz-findings/$name.rc"
    # Fork mode's status lines start with #RUNS; the last one has the total.
    execs=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#')
    execs=${execs:-0}
    corpus=$(find "fuzz-corpus/$name" -type f | wc -l)
    findings=$(find "fuzz-findings/$name" -type f -newer "$stamp" \
        \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
    reports=$(grep -c '^SUMMARY: ' "$log")
    printf '%-16s %12s %8s %8s %9s %s\n' "fuzz_$name" "$execs" "$((execs / (elapsed > 0 ? elapsed : 1)))" \
        "$corpus" "$findings" "$reports"
    if [ "$findings" -gt 0 ] || [ "$reports" -gt 0 ]; then
        status=1
    elif [ "$rc" -ne 0 ]; then
        echo "  fuzz_$name exited with $rc without a finding: see $log" >&2
        status=2
    fi
done
for name in "${names[@]}"; do
    log="fuzz-findings/$name.log"
    if grep -q '^SUMMARY: ' "$log"; then
        echo
        echo "fuzz_$name, distinct reports (count, summary); reproducers in fuzz-findings/$name/:"
        grep '^SUMMARY: ' "$log" | sort | uniq -c | sort -rn
    fi
done
exit $status
