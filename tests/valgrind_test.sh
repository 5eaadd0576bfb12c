#!/bin/sh
# Runs the command-line program under valgrind's memcheck on bad inputs:
# truncated, corrupt and oversized images, archives that are not models,
# invalid prompts and invalid options. Every run must fail with the
# program's own exit status 1, with no memcheck error and no definite or
# indirect leak. Still-reachable blocks are not counted, because
# libtorch keeps its operator registry and thread pools until exit.
#
# Environment: GSCAM_BUILD (build folder, default build), GSCAM_SHARED
# (shared test data, default ../shared), PYTHON (default /usr/bin/python3).
# Each run costs about 30 s of CPU time, mostly libtorch starting up under
# valgrind; the 13 runs take 6 min of CPU time in all.
set -u

if ! command -v valgrind >/dev/null 2>&1; then
    echo "SKIPPED: valgrind_test.sh: valgrind is not installed (apt-get install valgrind)"
    exit 77
fi
if [ -n "${GSCAM_SANITIZE:-}" ]; then
    echo "SKIPPED: valgrind_test.sh: the build uses -fsanitize=$GSCAM_SANITIZE, which valgrind cannot run"
    exit 77
fi
build=${GSCAM_BUILD:-build}
shared=${GSCAM_SHARED:-../shared}
python=${PYTHON:-/usr/bin/python3}
program="$build/gscorecam"
vocab="$shared/clip/bpe_simple_vocab_16e6.txt.gz"
if [ ! -x "$program" ]; then
    echo "SKIPPED: valgrind_test.sh: $program not built"
    exit 77
fi
if [ ! -d "$shared/images" ]; then
    echo "SKIPPED: valgrind_test.sh: shared test data not found at $shared"
    exit 77
fi

tmp=$(mktemp -d /tmp/gscam-valgrind-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
runs=0

# valgrind's own failure status, distinct from the program's 1 and 2.
memcheck_status=99

# Runs run number $1 under memcheck, with standard input from $stdin_file;
# $2 is the expected exit status. Writes "ok" or the failure to $tmp/$1.result.
run_one() {
    n=$1
    expected=$2
    shift 2
    valgrind --quiet --error-exitcode=$memcheck_status --leak-check=full \
        --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
        --suppressions=tests/valgrind.supp --log-file="$tmp/$n.valgrind" \
        "$program" "$@" <"$stdin_file" >"$tmp/$n.stdout" 2>"$tmp/$n.stderr"
    rc=$?
    if [ $rc -ne "$expected" ] || [ -s "$tmp/$n.valgrind" ]; then
        echo "FAILED: gscorecam $* exited $rc, expected $expected"
        sed 's/^/  stderr: /' "$tmp/$n.stderr" | head -n 5
        sed 's/^/  valgrind: /' "$tmp/$n.valgrind" | head -n 60
    else
        printf 'ok: exit %d: %s\n' "$rc" "$(head -c 200 "$tmp/$n.stderr" | tr '\n' ' ')"
    fi >"$tmp/$n.result"
}

# Starts one run in the background, two at a time: libtorch's start-up
# under valgrind takes most of each run's 20 to 60 seconds.
check() {
    runs=$((runs + 1))
    run_one $runs "$@" &
    if [ $((runs % 2)) -eq 0 ]; then
        wait
    fi
}
stdin_file=/dev/null

# ---- inputs --------------------------------------------------------------

png="$shared/images/chelsea.png"
jpg="$shared/images/rocket.jpg"
head -c 5000 "$png" >"$tmp/cut5000.png"
head -c 20000 "$jpg" >"$tmp/cut20000.jpg"
printf 'a text file, not a model\n' >"$tmp/notes.pt"

"$python" - "$png" "$tmp" <<'EOF' || { echo "FAILED: cannot generate inputs"; exit 1; }
import struct, sys, zlib
png, out = sys.argv[1], sys.argv[2]

def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

def ihdr(width, height, depth=8, colour=2):
    return chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0))

sig = b"\x89PNG\r\n\x1a\n"
data = bytearray(open(png, "rb").read())
data[8 + 8 + 13] ^= 0xFF  # the IHDR CRC
open(f"{out}/bad-crc.png", "wb").write(data)
idat = chunk(b"IDAT", zlib.compress(b"\0" * 64))
end = chunk(b"IEND", b"")
open(f"{out}/zero.png", "wb").write(sig + ihdr(0, 0) + idat + end)
open(f"{out}/huge.png", "wb").write(sig + ihdr(60000, 60000, 16, 6) + idat + end)
open(f"{out}/gigabytes.png", "wb").write(sig + ihdr(9000, 9000, 16, 6) + idat + end)
# SOF0 claiming 65535 x 65535, 3 components, then a scan and EOI.
open(f"{out}/huge.jpg", "wb").write(bytes([
    0xff, 0xd8, 0xff, 0xc0, 0x00, 0x11, 0x08, 0xff, 0xff, 0xff, 0xff, 0x03, 0x01, 0x11, 0x00,
    0x02, 0x11, 0x00, 0x03, 0x11, 0x00, 0xff, 0xda, 0x00, 0x0c, 0x03, 0x01, 0x00, 0x02, 0x00,
    0x03, 0x00, 0x00, 0x3f, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xd9]))
EOF
"$python" tests/python/hostile_archives.py "$tmp" >/dev/null 2>&1 || { echo "FAILED: cannot generate archives"; exit 1; }

# One prompt per line: invalid UTF-8, empty, and 200 words (too long
# without --truncate).
{
    printf 'caf\351\n\n'
    for i in $(seq 1 200); do printf 'word%d ' "$i"; done
    printf '\n'
} >"$tmp/prompts.txt"

# ---- runs ----------------------------------------------------------------

for image in cut5000.png cut20000.jpg bad-crc.png zero.png huge.png gigabytes.png huge.jpg; do
    check 1 decode --image "$tmp/$image" --out "$tmp/pixels.rgb"
done
check 1 preprocess --image "$tmp/notes.pt" --size 224 --out "$tmp/input.rgb"

stdin_file="$tmp/prompts.txt"
check 1 tokenize --vocab "$vocab"
stdin_file=/dev/null

for model in notes.pt wrong-shape.pt nan-weights.pt; do
    check 1 info --model "$tmp/$model"
done
check 1 map --model "$tmp/micro-rn.pt" --vocab "$vocab" --image "$png" --text "a cat" --topk 0
wait

failures=0
for n in $(seq 1 $runs); do
    cat "$tmp/$n.result"
    grep -q '^FAILED' "$tmp/$n.result" && failures=$((failures + 1))
done
echo "valgrind_test.sh: $runs runs, $failures failed"
[ $failures -eq 0 ]
