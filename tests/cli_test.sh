#!/bin/sh
# The command-line contract: every subcommand on real inputs, and bad input
# answered by exactly one line "gscorecam: <what>: <why>" on stderr with a
# non-zero exit status (1 for failures, 2 for bad usage), never a crash.
set -u
BUILD=${GSCAM_BUILD:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
SHARED=${GSCAM_SHARED:-../shared}
G="$BUILD/gscorecam"
VOCAB="$SHARED/clip/bpe_simple_vocab_16e6.txt.gz"
SMALL="$BUILD/fixtures/small-rn.pt"
RN50="$BUILD/fixtures/RN50.pt"

if [ ! -f "$VOCAB" ] || [ ! -f "$SMALL" ]; then
    echo "SKIPPED: cli: shared test data or fixtures missing (make fixtures; GSCAM_SHARED)"
    exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
checks=0

fail() {
    echo "FAILED: cli: $*"
    failures=$((failures + 1))
}

# expect_error NAME STATUS CMD...: the command must exit with STATUS and
# print exactly one stderr line starting "gscorecam: " (usage errors may
# print the usage text after it).
expect_error() {
    name=$1
    want=$2
    shift 2
    checks=$((checks + 1))
    "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    first=$(head -n 1 "$tmp/err")
    if [ "$rc" -ne "$want" ]; then
        fail "$name: exit $rc, expected $want; stderr: $first"
    elif ! printf '%s' "$first" | grep -q '^gscorecam: '; then
        fail "$name: stderr does not start with 'gscorecam: ': $first"
    elif [ "$want" -eq 1 ] && [ "$(wc -l <"$tmp/err")" -ne 1 ]; then
        fail "$name: $(wc -l <"$tmp/err") stderr lines, expected 1"
    fi
}

expect_ok() {
    name=$1
    shift
    checks=$((checks + 1))
    if ! "$@" >"$tmp/out" 2>"$tmp/err"; then
        fail "$name: exit $?; stderr: $(head -n 3 "$tmp/err")"
        return 1
    fi
    return 0
}

IMG="$SHARED/images/chelsea.png"
MAP="$G map --quiet --model $SMALL --vocab $VOCAB --topk 8"

# ---- bad input ----------------------------------------------------------------
printf 'not a model' >"$tmp/model.txt"
head -c 300 "$SHARED/images/rocket.jpg" >"$tmp/cut.jpg"
printf '\377\376bad' >"$tmp/bad_utf8.txt"
words=$(i=0; while [ $i -lt 200 ]; do printf 'word '; i=$((i + 1)); done)

expect_error missing_image 1 $MAP --image "$tmp/nope.png" --text "a cat"
expect_error missing_model 1 $G map --model "$tmp/nope.pt" --vocab "$VOCAB" --image "$IMG" --text "a cat"
expect_error truncated_jpeg 1 $MAP --image "$SHARED/images/truncated.jpg" --text "a cat"
expect_error cut_jpeg 1 $MAP --image "$tmp/cut.jpg" --text "a cat"
expect_error text_as_model 1 $G map --model "$tmp/model.txt" --vocab "$VOCAB" --image "$IMG" --text "a cat"
expect_error text_as_image 1 $MAP --image "$tmp/model.txt" --text "a cat"
expect_error long_prompt 1 $MAP --image "$IMG" --text "$words"
expect_error invalid_utf8 1 $MAP --image "$IMG" --text "$(cat "$tmp/bad_utf8.txt")"
expect_error topk_zero 1 $MAP --image "$IMG" --text "a cat" --topk 0
expect_error hilacam_on_resnet 1 $MAP --image "$IMG" --text "a cat" --method hilacam
expect_error cuda_without_cuda 1 $MAP --image "$IMG" --text "a cat" --device cuda
expect_error missing_vocab 1 $G tokenize --vocab "$tmp/nope.txt.gz" "a cat"
expect_error unknown_subcommand 2 $G frobnicate
expect_error unknown_option 2 $G map --model "$SMALL" --frob 1
expect_error bad_method 2 $MAP --image "$IMG" --text "a cat" --method nope
expect_error bad_topk_number 2 $MAP --image "$IMG" --text "a cat" --topk 12x
expect_error no_text 2 $MAP --image "$IMG"
expect_error unwritable_npy 1 $MAP --image "$IMG" --text "a cat" --npy /nonexistent/dir/map.npy

# A 0 x 0 PNG: a valid signature and IHDR chunk claiming no pixels.
"$PYTHON" - "$tmp/empty.png" <<'PY'
import struct, sys, zlib
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 0, 0, 8, 2, 0, 0, 0)) \
    + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
PY
expect_error zero_by_zero_image 1 $MAP --image "$tmp/empty.png" --text "a cat"

# ---- valid input ----------------------------------------------------------------
# An empty prompt is valid: it tokenizes to the start and end tokens.
expect_ok empty_prompt_map $MAP --image "$IMG" --text "" --npy "$tmp/empty.npy"
expect_ok long_prompt_truncated $MAP --image "$IMG" --text "$words" --truncate

if expect_ok tokenize_empty $G tokenize --vocab "$VOCAB" ""; then
    [ "$(cat "$tmp/out")" = "49406 49407" ] || fail "tokenize_empty: got '$(cat "$tmp/out")'"
fi
if expect_ok tokenize_stdin sh -c "printf 'a cat\nA Cat\n' | $G tokenize --vocab $VOCAB"; then
    [ "$(sed -n 1p "$tmp/out")" = "$(sed -n 2p "$tmp/out")" ] || fail "tokenize_stdin: lines differ"
    [ "$(wc -l <"$tmp/out")" -eq 2 ] || fail "tokenize_stdin: expected 2 lines"
fi
if expect_ok decode $G decode --image "$IMG" --out "$tmp/pixels.rgb"; then
    [ "$(cat "$tmp/out")" = "451 300" ] || fail "decode: printed '$(cat "$tmp/out")'"
    [ "$(wc -c <"$tmp/pixels.rgb")" -eq $((451 * 300 * 3)) ] || fail "decode: wrong byte count"
fi
if expect_ok preprocess $G preprocess --image "$IMG" --size 224 --fit crop --out "$tmp/crop.rgb"; then
    [ "$(wc -c <"$tmp/crop.rgb")" -eq $((224 * 224 * 3)) ] || fail "preprocess: wrong byte count"
fi
if expect_ok info $G info --model "$SMALL"; then
    for key in architecture input_resolution embed_dim target_layer target_channels grid; do
        grep -q "^$key: " "$tmp/out" || fail "info: no '$key' line"
    done
fi
if expect_ok score $G score --model "$SMALL" --vocab "$VOCAB" --image "$IMG" --text "a cat" --text "a dog"; then
    [ "$(wc -l <"$tmp/out")" -eq 2 ] || fail "score: expected 2 lines"
    awk -F'\t' '{ s += $2 } END { exit (s > 0.9999 && s < 1.0001) ? 0 : 1 }' "$tmp/out" ||
        fail "score: probabilities do not sum to 1"
fi

# The main job on a full-size RN50 archive: the .npy has the displayed
# image's shape, values in [0, 1], and the overlay is a PNG.
if [ -f "$RN50" ]; then
    if expect_ok rn50_map $G map --model "$RN50" --vocab "$VOCAB" --image "$IMG" --text "a cat" \
        --npy "$tmp/rn50.npy" --out "$tmp/rn50.png"; then
        "$PYTHON" -c "
import numpy as np, sys
m = np.load('$tmp/rn50.npy')
assert m.dtype == np.float32, m.dtype
assert m.shape == (300, 451), m.shape
assert np.isfinite(m).all(), 'non-finite values'
assert m.min() >= 0.0, m.min()
assert m.max() <= 1.0, m.max()
assert open('$tmp/rn50.png', 'rb').read(8) == b'\x89PNG\r\n\x1a\n'
" || fail "rn50_map: bad outputs"
        grep -q "scoring masked images: 300/300" "$tmp/err" || fail "rn50_map: no progress on stderr"
    fi
else
    echo "SKIPPED: cli rn50_map: fixture $RN50 not built"
fi

echo "cli: $checks checks, $failures failed"
[ $failures -eq 0 ]
