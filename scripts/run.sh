#!/bin/sh
# run.sh BIN CONFIG [--create] - what `make run` does once iogate is built: prints how to try
# the server (its URL, a token, a socket to watch, a notification sent with curl), then
# becomes the server (exec), so Ctrl-C reaches it directly and it stops cleanly.
# --create: CONFIG is the development configuration; when it does not exist yet it is
# written once by `iogate genconfig` (the defaults and a fresh JWT secret), and kept.
set -eu

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    echo "usage: $0 BIN CONFIG [--create]" >&2
    exit 2
fi
bin=$1
config=$2
create=${3:-}

if [ "$create" = --create ] && [ ! -e "$config" ]; then
    mkdir -p -- "$(dirname -- "$config")"
    "$bin" genconfig "$config" >/dev/null
    echo "run: wrote $config: the default configuration with a fresh JWT secret (mode 0600)."
    echo "     It is kept for the next runs; delete it for a new secret."
elif [ "$create" = --create ] && ! "$bin" --check-config "$config" >/dev/null; then
    echo "run: $config (written by an earlier \`make run\`) no longer loads: delete it and" \
         "\`make run\` writes a new one" >&2
    exit 1
fi

# Where to send requests: [server] host and port of the effective configuration.
effective=$("$bin" --print-config --config "$config")
host=$(printf '%s\n' "$effective" | sed -n '/^\[server\]/,/^\[/s/^host = "\(.*\)"$/\1/p')
port=$(printf '%s\n' "$effective" | sed -n '/^\[server\]/,/^\[/s/^port = \([0-9]*\)$/\1/p')
case $host in
"" | 0.0.0.0 | ::) host=127.0.0.1 ;;
*:*) host="[$host]" ;;
esac
[ "$port" = 0 ] && port=PORT # a free port: the "listening on" line names it
url="http://$host:$port"

echo "run: $bin --config $config   (Ctrl-C stops it). Then, in another shell:"
[ "$port" = PORT ] && echo "  (port 0: PORT is the one the \"listening on\" line below names)"
echo "  curl $url/healthz"
if err=$("$bin" token --config "$config" --sub alice 2>&1 >/dev/null); then
    cat <<HINTS
  TOKEN=\$($bin token --config $config --sub alice)
  ADMIN=\$($bin token --config $config --sub admin --claim role=admin)
  node scripts/watch.mjs $url "\$TOKEN" &   # alice's socket; needs make node-deps; kill %1 ends it
  curl -X POST $url/notifications -H "Authorization: Bearer \$ADMIN" \\
       -H 'Content-Type: application/json' -d '{"userId":"alice","message":"Hello"}'
  curl $url/notifications -H "Authorization: Bearer \$TOKEN"
HINTS
else
    echo "  (no tokens: $err)"
fi
echo
exec "$bin" --config "$config"
