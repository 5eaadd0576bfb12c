#!/bin/sh
# `make install` and `make uninstall` honour PREFIX, DESTDIR, LIBDIR and
# INCLUDEDIR. The installed gscorecam.pc is enough to build the C and C++
# examples, and the C example computes a map on the small ResNet fixture.
build=${GSCAM_BUILD:-build}
shared=${GSCAM_SHARED:-../shared}
# A sanitized library needs its runtime loaded first in every consumer, which
# an ordinary pkg-config build of the examples does not do.
if [ -n "${GSCAM_SANITIZE:-}" ]; then
    echo "SKIPPED: install_examples: the library is built with -fsanitize=$GSCAM_SANITIZE"
    exit 77
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
failed=0

fail() {
    echo "install_examples_test: $*" >&2
    failed=1
}

# A make started from `make check` must not join its parent's job server.
run_make() {
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory -s "$@" > "$tmp/make.log" 2>&1 || {
        cat "$tmp/make.log" >&2
        return 1
    }
}

version=$(sed -n 's/^#define GSCAM_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\).*/\2/p' include/gscorecam.h |
    paste -s -d.)
major=${version%%.*}

# Lists every file and link under a root, relative to it.
list_files() {
    (cd "$1" && find . ! -type d | LC_ALL=C sort)
}

# --- staged install: DESTDIR, custom LIBDIR and INCLUDEDIR ----------------
stage=$tmp/stage
if run_make install DESTDIR="$stage" PREFIX=/opt/gs LIBDIR=/opt/gs/lib64 INCLUDEDIR=/opt/gs/inc; then
    cat > "$tmp/expected" <<LIST
./opt/gs/bin/gscorecam
./opt/gs/inc/gscorecam.h
./opt/gs/lib64/libgscorecam.so
./opt/gs/lib64/libgscorecam.so.$major
./opt/gs/lib64/libgscorecam.so.$version
./opt/gs/lib64/pkgconfig/gscorecam.pc
./opt/gs/share/man/man1/gscorecam.1
LIST
    list_files "$stage" > "$tmp/staged"
    if ! diff -u "$tmp/expected" "$tmp/staged" >&2; then
        fail "the staged install differs from the expected file list (- expected, + installed)"
    fi
    pc=$stage/opt/gs/lib64/pkgconfig/gscorecam.pc
    grep -q '^libdir=/opt/gs/lib64$' "$pc" || fail "gscorecam.pc: libdir is not /opt/gs/lib64"
    grep -q '^includedir=/opt/gs/inc$' "$pc" || fail "gscorecam.pc: includedir is not /opt/gs/inc"
    grep -q "^Version: $version\$" "$pc" || fail "gscorecam.pc: Version is not $version"
    [ "$(readlink "$stage/opt/gs/lib64/libgscorecam.so.$major")" = "libgscorecam.so.$version" ] ||
        fail "libgscorecam.so.$major does not point to libgscorecam.so.$version"
    [ "$(readlink "$stage/opt/gs/lib64/libgscorecam.so")" = "libgscorecam.so.$major" ] ||
        fail "libgscorecam.so does not point to libgscorecam.so.$major"

    if run_make uninstall DESTDIR="$stage" PREFIX=/opt/gs LIBDIR=/opt/gs/lib64 INCLUDEDIR=/opt/gs/inc; then
        left=$(list_files "$stage")
        [ -z "$left" ] || fail "make uninstall left files behind:" $left
    else
        fail "make uninstall DESTDIR=... failed"
    fi
else
    fail "make install DESTDIR=... failed"
fi

# --- install into a fresh PREFIX and build the examples with pkg-config ---
prefix=$tmp/prefix
if ! run_make install PREFIX="$prefix"; then
    fail "make install PREFIX=$prefix failed"
    exit 1
fi
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"

libs=$(pkg-config --libs gscorecam) || fail "pkg-config does not find the installed gscorecam.pc"
case " $libs " in
*torch*|*stdc++*|*png*|*jpeg*) fail "pkg-config --libs names private dependencies: $libs" ;;
esac
pkg-config --static --libs gscorecam | grep -q -- '-ltorch' ||
    fail "pkg-config --static --libs does not name libtorch"

# Word splitting of the pkg-config output is intended.
# shellcheck disable=SC2046
${CC:-cc} -std=c99 -Wall -Wextra -Werror -o "$tmp/map_c" examples/c/map.c \
    $(pkg-config --cflags --libs gscorecam) || fail "examples/c/map.c does not build against the install"
# shellcheck disable=SC2046
${CXX:-c++} -std=c++11 -Wall -Wextra -Werror -o "$tmp/map_cpp" examples/cpp/map.cpp \
    $(pkg-config --cflags --libs gscorecam) || fail "examples/cpp/map.cpp does not build against the install"

"$prefix/bin/gscorecam" --version | grep -q "^gscorecam $version\$" ||
    fail "the installed gscorecam --version does not print $version"
if command -v groff > /dev/null; then
    warnings=$(groff -man -Tutf8 -ww -z "$prefix/share/man/man1/gscorecam.1" 2>&1)
    [ -z "$warnings" ] || fail "groff warns about gscorecam.1: $warnings"
fi

[ $failed -eq 0 ] || exit 1

# --- run the C example on the small ResNet fixture ------------------------
model=$build/fixtures/small-rn.pt
vocab=$shared/clip/bpe_simple_vocab_16e6.txt.gz
image=$shared/images/chelsea.png
if [ ! -f "$vocab" ] || [ ! -f "$image" ]; then
    echo "SKIPPED: install_examples_test: test data not found in $shared (set GSCAM_SHARED)"
    exit 77
fi
if [ ! -f "$model" ]; then
    echo "SKIPPED: install_examples_test: $model not found (run make fixtures)"
    exit 77
fi

out=$(LD_LIBRARY_PATH="$prefix/lib" "$tmp/map_c" "$model" "$vocab" "$image" "a cat") ||
    fail "examples/c/map.c failed on $model"
echo "$out" | grep -q -E '^map 451 x 300, peak 1\.000 at x [0-9]+ y [0-9]+$' ||
    fail "examples/c/map.c printed '$out', expected 'map 451 x 300, peak 1.000 at x X y Y'"

run_make uninstall PREFIX="$prefix" || fail "make uninstall PREFIX=$prefix failed"
left=$(list_files "$prefix")
[ -z "$left" ] || fail "make uninstall PREFIX=... left files behind:" $left

[ $failed -eq 0 ] || exit 1
echo "install_examples_test: $out"
