#!/bin/sh
# The built libgscorecam.so is compatible with the committed baseline
# (abi/libgscorecam.so.<major>.abi): abidiff may report added functions, and
# nothing else. The integer constants of the header (status codes, option ids,
# info keys, methods, flags) keep the values recorded in abi/constants.txt;
# new ones may be added. After a deliberate change, `make abi-baseline`
# rewrites both files.
build=${GSCAM_BUILD:-build}
major=$(sed -n 's/^#define GSCAM_VERSION_MAJOR \([0-9]*\).*/\1/p' include/gscorecam.h)
baseline=abi/libgscorecam.so.$major.abi
lib=$(readlink -f "$build/libgscorecam.so")
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
failed=0

fail() {
    echo "abi_baseline_test: $*" >&2
    failed=1
}

if ! command -v abidiff > /dev/null; then
    echo "SKIPPED: abi_baseline_test: abidiff not installed (Debian package abigail-tools)"
    exit 77
fi
if [ ! -f "$baseline" ]; then
    echo "abi_baseline_test: $baseline not found; a new major version needs make abi-baseline" >&2
    exit 1
fi
if [ ! -f "$lib" ]; then
    echo "abi_baseline_test: $build/libgscorecam.so not found; run make first" >&2
    exit 1
fi

# abidiff exit status bits: 1 error, 2 usage error, 4 ABI change,
# 8 incompatible change. Bit 4 alone may be only additions, which are
# allowed, or a change that abidiff leaves to a person. The summary lines
# tell them apart.
abidiff_status() {
    abidiff "$@" > "$tmp/report" 2>&1
    echo $?
}

# Check that this abidiff reports a baseline that loses a function as an
# incompatible change, as the exit bits above assume. Both sides are abixml here, so
# no header filter: abidiff 2.2 aborts on --drop-private-types with an abixml
# second file.
awk '/<elf-symbol name=.gscam_cam_score. / { next }
     /<function-decl name=.gscam_cam_score. / { skip = 1 }
     !skip { print }
     skip && /<\/function-decl>/ { skip = 0 }' "$baseline" > "$tmp/removed.abi"
rc=$(abidiff_status "$baseline" "$tmp/removed.abi")
if [ $((rc & 8)) -eq 0 ]; then
    fail "abidiff did not flag a removed function as incompatible (exit $rc):"
    cat "$tmp/report" >&2
fi

# The library's DWARF also describes the private structs behind the handles;
# the header filter keeps them opaque, as in the baseline.
rc=$(abidiff_status --headers-dir2 include --drop-private-types "$baseline" "$lib")
if [ $((rc & 3)) -ne 0 ]; then
    fail "abidiff failed (exit $rc):"
    cat "$tmp/report" >&2
elif [ $((rc & 8)) -ne 0 ]; then
    fail "incompatible ABI change against $baseline (abidiff exit $rc):"
    cat "$tmp/report" >&2
elif [ $((rc & 4)) -ne 0 ] && grep -E '[1-9][0-9]* (Removed|Changed)' "$tmp/report" > /dev/null; then
    fail "ABI change other than additions against $baseline (abidiff exit $rc):"
    cat "$tmp/report" >&2
fi

# Constants: every recorded name keeps its value.
sh abi/constants.sh include/gscorecam.h > "$tmp/constants"
while read -r name value; do
    now=$(awk -v n="$name" '$1 == n { print $2 }' "$tmp/constants")
    if [ -z "$now" ]; then
        fail "constant $name (was $value) is gone from include/gscorecam.h"
    elif [ "$now" != "$value" ]; then
        fail "constant $name changed from $value to $now; numbers never move, append a new one"
    fi
done < abi/constants.txt

[ $failed -eq 0 ] || exit 1
echo "abi_baseline_test: compatible with $baseline and abi/constants.txt"
