#!/bin/sh
# The bundled shapes model must localise: gScoreCAM's pointing-game accuracy
# on 50 held-out scenes with two or three objects must be at least 0.75.
set -u
BUILD=${GSCAM_BUILD:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
MODEL=examples/shapes/shapes-rn.pt
VOCAB=examples/shapes/shapes-vocab.txt.gz

if [ ! -f "$MODEL" ] || [ ! -x "$BUILD/evaluate" ]; then
    echo "SKIPPED: shapes_eval: $MODEL or $BUILD/evaluate missing"
    exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PYTHON" examples/shapes/scenes.py --seed 900001 --count 50 --min-objects 2 --max-objects 3 --out "$tmp" >/dev/null ||
    exit 1
"$BUILD/evaluate" --model "$MODEL" --vocab "$VOCAB" --scenes "$tmp" --limit 50 --methods gscorecam,gradcam \
    --min-pointing 0.75
