#!/bin/sh
# build-examples.sh BUILD_DIR [WORK_DIR] - builds the example plugins the way a
# plugin author does: installs the SDK from BUILD_DIR into WORK_DIR/sdk-prefix,
# then configures and builds each examples/X out of tree in WORK_DIR/examples/X
# against that install (find_package(iogate) through CMAKE_PREFIX_PATH only),
# and copies the .so files into WORK_DIR/examples-plugins/, where
# tests/node/examples.test.mjs loads them from. WORK_DIR defaults to BUILD_DIR.
# BUILD_DIR must hold a built iogate (cmake --build BUILD_DIR).
# Warnings are errors here (the examples' own CMakeLists keep them warnings).
set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 BUILD_DIR [WORK_DIR]" >&2
    exit 2
fi
root=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
build=$(CDPATH= cd -- "$1" && pwd)
work=$build
if [ $# -eq 2 ]; then
    mkdir -p -- "$2"
    work=$(CDPATH= cd -- "$2" && pwd)
fi
prefix=$work/sdk-prefix
out=$work/examples-plugins

rm -rf -- "$prefix" "$out"
cmake --install "$build" --prefix "$prefix" >/dev/null
mkdir -p -- "$out"

for src in "$root"/examples/*/; do
    [ -f "$src/CMakeLists.txt" ] || continue
    name=$(basename -- "$src")
    bdir=$work/examples/$name
    echo "build-examples: $name"
    cmake -S "$src" -B "$bdir" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_C_FLAGS=-Werror >/dev/null
    cmake --build "$bdir" -j2
    found=0
    for so in "$bdir"/plugins/*.so; do
        [ -f "$so" ] || continue
        cp -- "$so" "$out/"
        found=1
    done
    if [ $found -eq 0 ]; then
        echo "build-examples: $name produced no plugin in $bdir/plugins" >&2
        exit 1
    fi
done
echo "build-examples: plugins in $out:"
ls -1 -- "$out" | sed 's/^/  /'
