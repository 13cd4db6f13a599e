#!/usr/bin/env bash
# bench/floor.sh - build iogate-floor (the kernel floor under figure [3], see
# README.md) in BUILD_DIR (default build-bench, Release) and run it; every
# argument goes to iogate-floor (for example -n 10000 --per-write 4).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
bench_build floor.sh iogate-floor
exec "$BUILD_DIR/bench/iogate-floor" "$@"
