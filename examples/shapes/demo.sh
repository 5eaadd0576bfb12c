#!/bin/sh
# make demo: one scene with three objects, gScoreCAM for one of them with the
# bundled shapes model, the overlay in demo/overlay.png, and where the map
# peaks compared with where the named object is.
set -eu
BUILD=${1:-build}
PYTHON=${2:-/usr/bin/python3}
SHAPES=examples/shapes

mkdir -p demo
"$PYTHON" "$SHAPES/scenes.py" --seed 4242 --count 1 --min-objects 3 --max-objects 3 --out demo >/dev/null
caption=$(sed -n 2p demo/scenes.tsv | cut -f3)
echo "scene: demo/scene_0000.png, objects:$(tail -n +2 demo/scenes.tsv | cut -f3 | sed 's/^/ /' | tr '\n' ',' | sed 's/,$//')"
echo "prompt: \"$caption\""

"$BUILD/gscorecam" map --model "$SHAPES/shapes-rn.pt" --vocab "$SHAPES/shapes-vocab.txt.gz" \
    --image demo/scene_0000.png --text "$caption" --out demo/overlay.png --npy demo/map.npy

"$PYTHON" - <<'PY'
import numpy as np
from PIL import Image

m = np.load("demo/map.npy")
labels = np.asarray(Image.open("demo/scene_0000_labels.png"))
captions = [line.split("\t")[2] for line in open("demo/scenes.tsv").read().splitlines()[1:]]
y, x = np.unravel_index(np.argmax(m), m.shape)
hit = labels[y, x]
where = f"on {captions[hit - 1]}" if hit else "on the background"
verdict = "the named object" if hit == 1 else "not the named object"
print(f"map peaks at x {x}, y {y}: {where} ({verdict})")
print("overlay written to demo/overlay.png")
PY
