#!/bin/sh
# Prints "NAME VALUE" for every integer constant #defined in the public
# header (status codes, option ids, info keys, methods, flags), sorted by
# name. The version macros are left out because they change every release.
# Usage: sh abi/constants.sh include/gscorecam.h
set -e
header=${1:-include/gscorecam.h}
sed -n 's/^#define \(GSCAM_[A-Z0-9_]*\)[ 	][ 	]*\([0-9][0-9a-fA-FxX]*[uU]\{0,1\}\).*/\1 \2/p' "$header" |
    grep -v '^GSCAM_VERSION_' | LC_ALL=C sort
