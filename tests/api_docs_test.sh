#!/bin/sh
# docs/API.md documents the whole public interface: every function exported by
# libgscorecam.so, every typedef and integer constant of include/gscorecam.h.
# Every function the header declares is exported.
build=${GSCAM_BUILD:-build}
lib=$build/libgscorecam.so
doc=docs/API.md
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
failed=0

fail() {
    echo "api_docs_test: $*" >&2
    failed=1
}

if [ ! -e "$lib" ]; then
    echo "api_docs_test: $lib not found; run make first" >&2
    exit 1
fi

nm -D --defined-only "$lib" | awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }' |
    grep -v -E '^(_init|_fini)$' | LC_ALL=C sort -u > "$tmp/exported"
${CC:-cc} -E -P -Iinclude include/gscorecam.h |
    grep -o 'gscam_[a-z0-9_]*[[:space:]]*(' | tr -d '( \t' | LC_ALL=C sort -u > "$tmp/declared"
${CC:-cc} -E -P -Iinclude include/gscorecam.h |
    sed -n 's/.*typedef .*\(gscam_[a-z0-9_]*\).*/\1/p' | LC_ALL=C sort -u > "$tmp/types"
sh abi/constants.sh include/gscorecam.h | cut -d' ' -f1 > "$tmp/constants"

# A function counts as documented when its name appears as code, `name`, or in
# a heading.
for name in $(cat "$tmp/exported"); do
    grep -q -E "(\`$name\`|^#+ .*\\b$name\\b|\\b$name\\()" "$doc" || fail "exported function $name is not in $doc"
done

for name in $(LC_ALL=C comm -23 "$tmp/declared" "$tmp/exported"); do
    fail "declared in include/gscorecam.h but not exported: $name"
done

for name in $(cat "$tmp/types") $(cat "$tmp/constants") GSCAM_API GSCAM_VERSION_MAJOR GSCAM_VERSION_MINOR \
    GSCAM_VERSION_PATCH GSCAM_VERSION_NUMBER; do
    grep -q -w "$name" "$doc" || fail "$name of include/gscorecam.h is not in $doc"
done

[ -s "$tmp/exported" ] || fail "no function exported by $lib"
[ -s "$tmp/types" ] || fail "found no typedef in include/gscorecam.h"

[ $failed -eq 0 ] || exit 1
echo "api_docs_test: $(wc -l < "$tmp/exported") functions, $(wc -l < "$tmp/types") types and" \
    "$(wc -l < "$tmp/constants") constants documented in $doc"
