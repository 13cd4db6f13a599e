#!/bin/sh
# new-plugin.sh NAME DIR - creates a new iogate plugin project in DIR from the
# SDK template, with NAME substituted for @NAME@ (and @NAME_UPPER@) in file
# names and contents. DIR must not exist or be empty.
#
# The template is found, in this order: $IOGATE_TEMPLATE_DIR; template/ next to
# this script (share/iogate/ once installed, sdk/ in the source tree); the
# share/iogate/template of the prefix this script sits under.
set -eu
# Byte-wise character ranges for the name checks and tr.
LC_ALL=C
export LC_ALL

prog=$(basename "$0")
usage() {
    echo "usage: $prog NAME DIR" >&2
    echo "  NAME: [a-z][a-z0-9_]* (the plugin's name, its .so and its [plugin.NAME] table)" >&2
    exit 2
}

[ $# -eq 2 ] || usage
name=$1
dir=$2

case $name in
    [a-z]*) ;;
    *) echo "$prog: invalid name '$name': it must start with a lowercase letter" >&2; exit 2 ;;
esac
case $name in
    *[!a-z0-9_]*) echo "$prog: invalid name '$name': use only [a-z0-9_]" >&2; exit 2 ;;
esac
if [ ${#name} -gt 64 ]; then
    echo "$prog: invalid name '$name': at most 64 characters" >&2
    exit 2
fi

here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
template=
for t in "${IOGATE_TEMPLATE_DIR:-}" "$here/template" "$here/../share/iogate/template"; do
    if [ -n "$t" ] && [ -f "$t/@NAME@.c" ]; then
        template=$t
        break
    fi
done
if [ -z "$template" ]; then
    echo "$prog: SDK template not found (looked next to $here; set IOGATE_TEMPLATE_DIR)" >&2
    exit 1
fi

if [ -e "$dir" ]; then
    if [ ! -d "$dir" ]; then
        echo "$prog: $dir exists and is not a directory" >&2
        exit 1
    fi
    if [ -n "$(ls -A -- "$dir")" ]; then
        echo "$prog: $dir is not empty" >&2
        exit 1
    fi
fi
mkdir -p -- "$dir"

upper=$(printf '%s' "$name" | tr 'a-z' 'A-Z')
# The template is flat: one level of regular files.
for src in "$template"/*; do
    [ -f "$src" ] || continue
    base=$(basename -- "$src")
    dst=$dir/$(printf '%s' "$base" | sed "s/@NAME@/$name/g")
    sed -e "s/@NAME_UPPER@/$upper/g" -e "s/@NAME@/$name/g" "$src" >"$dst"
done

echo "created plugin '$name' in $dir:"
ls -1 -- "$dir" | sed 's/^/  /'
echo "build it with: cmake -S $dir -B $dir/build [-DCMAKE_PREFIX_PATH=<iogate prefix>] && cmake --build $dir/build"
