#!/usr/bin/env bash
# Installs, from Debian's packages, whatever is missing. Safe to run again: it
# does nothing when all is there.
#   scripts/install-deps.sh          what building and running iogate needs
#   scripts/install-deps.sh --test   that, plus what the tests need (Node.js, Chromium)
#   scripts/install-deps.sh --demo   that, plus Node.js and npm (`make demo`'s browser client)
#   scripts/install-deps.sh --fuzz   that, plus clang and its sanitizer and libFuzzer
#                                    runtime (scripts/fuzz.sh)
set -euo pipefail

packages=(
    build-essential cmake pkg-config
    libuv1-dev libjansson-dev libjwt-dev libcmocka-dev libssl-dev libsqlite3-dev libpq-dev
    node-llhttp libhiredis-dev
    libsystemd-dev
)
if [ "${1:-}" = "--fuzz" ]; then
    # The runtime is only a recommendation of clang's, which is not installed here.
    packages+=(clang libclang-rt-dev)
fi
if [ "${1:-}" = "--demo" ]; then
    command -v node >/dev/null 2>&1 || packages+=(nodejs)
    command -v npm >/dev/null 2>&1 || packages+=(npm)
fi
if [ "${1:-}" = "--test" ]; then
    # Node.js runs the integration tests with the official socket.io-client;
    # tests/node/browser.test.mjs drives Chromium through playwright-core.
    packages+=(chromium)
    # tests/unit/test_redis_link.c starts its own redis-server on a free port.
    packages+=(redis-server)
    # tests/node/metrics.test.mjs checks GET /metrics with promtool.
    packages+=(prometheus)
    # The notifications tests start their own PostgreSQL (initdb, postgres) in a
    # temporary directory on a free port.
    packages+=(postgresql)
    # tests/package: the .deb is checked by lintian, its unit by systemd-analyze
    # verify, its man pages by man and groff; dpkg-shlibdeps computes its Depends.
    packages+=(lintian systemd man-db groff-base dpkg-dev)
    command -v node >/dev/null 2>&1 || packages+=(nodejs)
    command -v npm >/dev/null 2>&1 || packages+=(npm)
fi

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
