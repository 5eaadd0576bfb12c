#!/bin/sh
# `gscorecam info` on an archive of every released CLIP layout (random
# weights, generated here, deleted after use): the architecture name, input
# size, target layer, channel count and grid must be those of the release.
set -u
BUILD=${GSCAM_BUILD:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
SHARED=${GSCAM_SHARED:-../shared}

if [ ! -d "$SHARED/clip/architectures" ]; then
    echo "SKIPPED: info_layouts: shared test data not found at $SHARED"
    exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0

# arch  name  input_resolution  target_layer  target_channels  grid
while read -r arch name res layer channels grid; do
    "$PYTHON" tests/python/make_archive.py --arch "$arch" --seed 1 --out "$tmp/$arch.pt" >/dev/null || {
        echo "FAILED: info_layouts: cannot generate $arch"
        failed=1
        continue
    }
    "$BUILD/gscorecam" info --model "$tmp/$arch.pt" >"$tmp/info.txt" 2>&1
    for expected in "architecture: $name" "input_resolution: $res" "target_layer: $layer" \
        "target_channels: $channels" "grid: $grid"; do
        if ! grep -qx "$expected" "$tmp/info.txt"; then
            echo "FAILED: info_layouts: $arch: expected '$expected', got:"
            cat "$tmp/info.txt"
            failed=1
        fi
    done
    rm -f "$tmp/$arch.pt"
done <<'TABLE'
RN50 RN50 224 visual.layer4 2048 7
RN101 RN101 224 visual.layer4 2048 7
RN50x4 RN50x4 288 visual.layer4 2560 9
RN50x16 RN50x16 384 visual.layer4 3072 12
RN50x64 RN50x64 448 visual.layer4 4096 14
ViT-B-32 ViT-B/32 224 visual.transformer.resblocks.11 768 7
ViT-B-16 ViT-B/16 224 visual.transformer.resblocks.11 768 14
ViT-L-14 ViT-L/14 224 visual.transformer.resblocks.23 1024 16
ViT-L-14-336px ViT-L/14@336px 336 visual.transformer.resblocks.23 1024 24
TABLE
exit $failed
