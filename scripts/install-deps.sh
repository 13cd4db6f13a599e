#!/usr/bin/env bash
# Installs, from Debian's packages, whatever the build and the tests need and
# is not installed yet. Safe to run again: it does nothing when all is there.
set -euo pipefail

packages=(
    build-essential cmake pkg-config
    libuv1-dev libjansson-dev libjwt-dev libcmocka-dev libssl-dev libsqlite3-dev
    node-llhttp
    chromium  # tests/node/browser.test.mjs drives it through playwright-core
)
# Node.js runs the integration tests with the official socket.io-client.
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

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
