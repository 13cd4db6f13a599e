#!/usr/bin/env bash
# Checks the rule of docs/architecture.md: a layer of core/ includes only the layers below it.
# The order, bottom first, is the drawing's; a new folder must be placed in it.
#
#   scripts/check-layers.sh      exit 0, or 1 listing each include that goes up or sideways
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
order=(base config http ws eio auth sio cluster rest plugins gateway cli)
declare -A rank
for i in "${!order[@]}"; do rank[${order[$i]}]=$i; done
bad=0
for dir in "$root"/core/*/; do
    layer=$(basename "$dir")
    if [ -z "${rank[$layer]+x}" ]; then
        echo "core/$layer: not in the layer order of scripts/check-layers.sh"
        bad=1
        continue
    fi
    while IFS=: read -r file inc; do
        target=${inc#*\"}
        target=${target%%/*}
        [ -n "${rank[$target]+x}" ] || continue
        if [ "$target" != "$layer" ] && [ "${rank[$target]}" -gt "${rank[$layer]}" ]; then
            echo "${file#"$root"/}: includes $target, a layer above $layer"
            bad=1
        fi
    done < <(grep -H '^#include "[a-z_]*/' "$dir"*.[ch])
done
exit $bad
