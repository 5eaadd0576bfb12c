#!/bin/sh
# The dynamic symbol table of libgscorecam.so contains exactly the functions that
# include/gscorecam.h declares, each under a GSCORECAM_<major>.<minor> version
# node, and nothing from the C++ shim, libtorch or the C++ runtime. The SONAME
# and the file name follow the version macros of the header.
build=${GSCAM_BUILD:-build}
lib=$build/libgscorecam.so
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
failed=0

fail() {
    echo "abi_exports_test: $*" >&2
    failed=1
}

if [ ! -e "$lib" ]; then
    echo "abi_exports_test: $lib not found; run make first" >&2
    exit 1
fi

# Functions the header declares, from the preprocessed header so that names
# in comments do not count.
${CC:-cc} -E -P -Iinclude include/gscorecam.h |
    grep -o 'gscam_[a-z0-9_]*[[:space:]]*(' | tr -d '( \t' | LC_ALL=C sort -u > "$tmp/declared"

# Exported symbols as "TYPE NAME@@NODE", without the version-node symbols
# (type A) and the _init/_fini the linker may add.
nm -D --defined-only "$lib" | awk '$2 != "A" { print $2, $3 }' |
    grep -v -E ' (_init|_fini)$' > "$tmp/exported"
sed 's/^. //; s/@.*//' "$tmp/exported" | LC_ALL=C sort -u > "$tmp/exported_names"

if [ ! -s "$tmp/declared" ]; then
    fail "found no function declarations in include/gscorecam.h"
fi

missing=$(LC_ALL=C comm -23 "$tmp/declared" "$tmp/exported_names")
if [ -n "$missing" ]; then
    fail "declared in the header but not exported (add them to lib/gscorecam.map):" $missing
fi

extra=$(LC_ALL=C comm -13 "$tmp/declared" "$tmp/exported_names")
if [ -n "$extra" ]; then
    fail "exported but not declared in the header:" $extra
fi

not_functions=$(awk '$1 != "T" { print $2 }' "$tmp/exported")
if [ -n "$not_functions" ]; then
    fail "exported symbols that are not functions (no variables cross the ABI):" $not_functions
fi

unversioned=$(awk '$2 !~ /@@GSCORECAM_[0-9]+\.[0-9]+$/ { print $2 }' "$tmp/exported")
if [ -n "$unversioned" ]; then
    fail "exported without a GSCORECAM_<major>.<minor> version node:" $unversioned
fi

major=$(sed -n 's/^#define GSCAM_VERSION_MAJOR \([0-9]*\).*/\1/p' include/gscorecam.h)
minor=$(sed -n 's/^#define GSCAM_VERSION_MINOR \([0-9]*\).*/\1/p' include/gscorecam.h)
patch=$(sed -n 's/^#define GSCAM_VERSION_PATCH \([0-9]*\).*/\1/p' include/gscorecam.h)

soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')
if [ "$soname" != "libgscorecam.so.$major" ]; then
    fail "SONAME is '$soname', expected libgscorecam.so.$major from GSCAM_VERSION_MAJOR"
fi

if [ ! -f "$build/libgscorecam.so.$major.$minor.$patch" ]; then
    fail "$build/libgscorecam.so.$major.$minor.$patch not found (version $major.$minor.$patch in the header)"
fi

# Every node named in the table must be one this version may define.
for node in $(sed 's/.*@@//' "$tmp/exported" | LC_ALL=C sort -u); do
    node_major=$(echo "$node" | sed 's/GSCORECAM_\([0-9]*\)\..*/\1/')
    node_minor=$(echo "$node" | sed 's/GSCORECAM_[0-9]*\.//')
    if [ "$node_major" != "$major" ] || [ "$node_minor" -gt "$minor" ]; then
        fail "version node $node does not belong to version $major.$minor"
    fi
done

[ $failed -eq 0 ] || exit 1
echo "abi_exports_test: $(wc -l < "$tmp/exported_names") functions exported, matching the header"
