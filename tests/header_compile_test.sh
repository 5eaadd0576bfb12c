#!/bin/sh
# include/gscorecam.h compiles on its own, with every warning an error, as
# C99 and as C++11, twice in one file (the include guard), and a C++ program
# links against libgscorecam.so (the declarations have C linkage).
build=${GSCAM_BUILD:-build}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
failed=0

fail() {
    echo "header_compile_test: $*" >&2
    failed=1
}

cat > "$tmp/alone.c" <<'SRC'
#include "gscorecam.h"
#include "gscorecam.h"

int main(void)
{
    return gscam_is_error(GSCAM_OK);
}
SRC
cp "$tmp/alone.c" "$tmp/alone.cpp"

if ! ${CC:-cc} -std=c99 -pedantic -Wall -Wextra -Wstrict-prototypes -Werror -Iinclude \
        -c "$tmp/alone.c" -o "$tmp/alone_c.o"; then
    fail "the header does not compile as C99 (cc -std=c99 -pedantic -Wall -Werror)"
fi

if ! ${CXX:-c++} -std=c++11 -pedantic -Wall -Wextra -Werror -Iinclude \
        -c "$tmp/alone.cpp" -o "$tmp/alone_cpp.o"; then
    fail "the header does not compile as C++11 (c++ -std=c++11 -pedantic -Wall -Werror)"
fi

# A C++ caller only links if the header wraps its declarations in extern "C".
if [ -f "$tmp/alone_cpp.o" ] && [ -e "$build/libgscorecam.so" ]; then
    if ! ${CXX:-c++} -o "$tmp/alone_cpp" "$tmp/alone_cpp.o" -L"$build" -lgscorecam; then
        fail "a C++ program does not link against $build/libgscorecam.so"
    fi
fi

[ $failed -eq 0 ] || exit 1
echo "header_compile_test: compiles as C99 and C++11"
