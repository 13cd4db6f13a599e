#!/bin/sh
# demo.sh BUILD_DIR - what `make demo` runs once everything is built: the web demo
# (examples/web-demo, DEVELOPMENT ONLY) with the notifications plugin, on loopback, with a
# JWT secret generated for this run. Prints the URL to open and the commands that mint
# tokens for it, then becomes the server (exec): Ctrl-C reaches it directly, it stops
# cleanly with exit code 0 and nothing is left running.
#   IOGATE_DEMO_PORT  the port (default 3000)
#   IOGATE_DEMO_DIR   where its configuration, plugin links and database live
#                     (default var/demo; the database is kept between runs)
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi
root=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
build=$(CDPATH= cd -- "$1" && pwd)
port=${IOGATE_DEMO_PORT:-3000}
state=${IOGATE_DEMO_DIR:-$root/var/demo}
bin=$build/iogate
client_js=$root/tests/node/node_modules/socket.io-client/dist/socket.io.min.js

need() {
    if [ ! -e "$1" ]; then
        echo "demo: $1 is missing: $2" >&2
        exit 1
    fi
}
need "$bin" "make build"
need "$build/plugins/notifications.so" "make build"
need "$build/examples-plugins/webdemo.so" "scripts/build-examples.sh $1 (make demo does it)"
need "$client_js" "make node-deps (the socket.io browser client the page loads)"
case $port in
'' | *[!0-9]*)
    echo "demo: IOGATE_DEMO_PORT must be a port number (got '$port')" >&2
    exit 2
    ;;
esac

# Private: the configuration holds the secret, and the plugin directory must not be
# writable by others or iogate refuses to load from it.
umask 077
mkdir -p -- "$state/plugins"
chmod 700 -- "$state" "$state/plugins"
ln -sf -- "$build/plugins/notifications.so" "$state/plugins/notifications.so"
ln -sf -- "$build/examples-plugins/webdemo.so" "$state/plugins/webdemo.so"

# A new secret each run, from the kernel's CSPRNG: 48 bytes, 64 base64 characters.
secret=$(head -c 48 /dev/urandom | base64 | tr -d '\n')
config=$state/iogate.toml
cat >"$config.tmp" <<CONFIG
# Written by scripts/demo.sh (make demo) for one run; DEVELOPMENT ONLY: POST /demo/login
# hands out a valid token, admin included, to anyone on this machine who asks.
[server]
host = "127.0.0.1"
port = $port
shutdown_grace_ms = 2000

[auth]
jwt_secret = "$secret"

[plugins]
dir = "$state/plugins"
load = ["notifications", "webdemo"]

[plugin.notifications]
database = "$state/notifications.db"

[plugin.webdemo]
# Signs the page's logins: the same secret as [auth] jwt_secret.
jwt_secret = "$secret"
client_js = "$client_js"
allow_remote = false
CONFIG
mv -f -- "$config.tmp" "$config"

# Paths as typed from the source tree, where make runs.
show() {
    case $1 in
    "$root"/*) printf '%s' "${1#"$root"/}" ;;
    *) printf '%s' "$1" ;;
    esac
}
b=$(show "$bin")
c=$(show "$config")
url=http://127.0.0.1:$port
cat <<BANNER
demo: the notifications web demo, DEVELOPMENT ONLY (anyone on this machine may sign in as anyone).

  Open $url/demo in two browser windows (one of them private):
  sign in as alice in one and as admin (tick "admin") in the other, then send alice a
  notification.

  From a shell, tokens signed with this run's secret:
    TOKEN=\$($b token --config $c --sub alice)
    ADMIN=\$($b token --config $c --sub admin --claim role=admin)
    curl -X POST $url/notifications -H "Authorization: Bearer \$ADMIN" \\
         -H 'Content-Type: application/json' -d '{"userId":"alice","message":"Hello"}'

  Ctrl-C stops it.

BANNER
cd -- "$root"
exec "$bin" --config "$config"
