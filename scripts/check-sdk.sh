#!/bin/sh
# check-sdk.sh BUILD_DIR WORK_DIR - checks the installed plugin SDK as its users
# see it: `cmake --install` lays out the expected files, pkg-config answers,
# new-plugin.sh scaffolds a project that builds against the install, the
# examples build out of tree (scripts/build-examples.sh), and every plugin
# exports iogate_plugin_entry and nothing else. Run by ctest (sdk/check).
set -eu

if [ $# -ne 2 ]; then
    echo "usage: $0 BUILD_DIR WORK_DIR" >&2
    exit 2
fi
root=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
build=$(CDPATH= cd -- "$1" && pwd)
rm -rf -- "$2"
mkdir -p -- "$2"
work=$(CDPATH= cd -- "$2" && pwd)
prefix=$work/sdk-prefix
fail() {
    echo "check-sdk: FAIL: $*" >&2
    exit 1
}

# The examples, which also installs the SDK into $prefix.
"$root/scripts/build-examples.sh" "$build" "$work"

for f in bin/iogate include/iogate/iogate.h lib/cmake/iogate/iogateConfig.cmake \
         lib/cmake/iogate/iogateConfigVersion.cmake lib/cmake/iogate/iogateTargets.cmake \
         lib/cmake/iogate/iogatePlugin.cmake share/pkgconfig/iogate.pc \
         share/iogate/new-plugin.sh share/iogate/README.md share/iogate/template/CMakeLists.txt \
         "share/iogate/template/@NAME@.c" "share/iogate/template/@NAME@.h"; do
    [ -f "$prefix/$f" ] || fail "$f is not installed"
done
[ -x "$prefix/share/iogate/new-plugin.sh" ] || fail "new-plugin.sh is not executable"

if command -v pkg-config >/dev/null 2>&1; then
    cflags=$(PKG_CONFIG_PATH=$prefix/share/pkgconfig pkg-config --cflags iogate)
    inc=${cflags#-I}
    inc=${inc%% *}
    [ -f "$inc/iogate/iogate.h" ] || fail "pkg-config --cflags iogate gave '$cflags'"
    [ -z "$(PKG_CONFIG_PATH=$prefix/share/pkgconfig pkg-config --libs iogate | tr -d ' ')" ] ||
        fail "pkg-config --libs iogate is not empty"
fi

# A bad name is refused; a good one gives a project that builds with -Werror.
if "$prefix/share/iogate/new-plugin.sh" Bad-Name "$work/bad" 2>/dev/null; then
    fail "new-plugin.sh accepted 'Bad-Name'"
fi
"$prefix/share/iogate/new-plugin.sh" sdk_check "$work/scaffold" >/dev/null
cmake -S "$work/scaffold" -B "$work/scaffold/build" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_FLAGS="-Werror" >/dev/null
cmake --build "$work/scaffold/build" >/dev/null
[ -f "$work/scaffold/build/plugins/sdk_check.so" ] || fail "the scaffolded plugin did not build"

# Hidden visibility: the entry point is the only symbol a plugin exports.
if command -v nm >/dev/null 2>&1; then
    for so in "$work"/examples-plugins/*.so "$work/scaffold/build/plugins/sdk_check.so"; do
        syms=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVW]$/ { print $3 }' | sort | tr '\n' ' ')
        [ "$syms" = "iogate_plugin_entry " ] || fail "$so exports: $syms"
    done
fi
echo "check-sdk: ok"
