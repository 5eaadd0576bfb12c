#!/bin/sh
# Installs the Debian packages the build and the tests need, when missing.
# libopenblas0-pthread replaces the reference BLAS behind libtorch's matrix
# products (Debian's libtorch links libblas.so.3), which is many times faster.
# Runs apt-get only if something is absent, so repeated runs are quick.
set -e
PACKAGES="build-essential pkg-config libtorch-dev python3-torch python3-numpy python3-pil \
check libsubunit-dev libpng-dev libjpeg62-turbo-dev libpcre2-dev libutf8proc-dev zlib1g-dev libopenblas0-pthread abigail-tools valgrind"

missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "installing Debian packages:$missing" >&2
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: not root; run: sudo apt-get install -y$missing" >&2
    exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing
