"""Generate synthetic scenes of coloured shapes whose positions are known.

A scene is a 128 x 128 RGB image: a flat grey background of level uniform in
[0.35, 0.65] plus Gaussian noise (standard deviation 0.05 per pixel and
channel), and one or more objects that do not overlap. Each object is a circle
(radius r), a square (half side 0.85 r) or an apex-up triangle (apex r above
the centre, base 0.8 r below it, half width 0.6 of the distance from the apex).
Its r is uniform in [10, 21] pixels, and it is filled with one of four flat
colours. No
scene contains the same colour-shape pair twice, and each object's caption
("a red circle") names both.

Coordinates are in pixels, with pixel (row i, column j) covering
[j, j + 1) x [i, i + 1), so its centre is (j + 0.5, i + 0.5).

Command line, for evaluation sets:

    scenes.py --seed S --count N --min-objects 2 --max-objects 3 --out DIR

writes DIR/scene_NNNN.png, DIR/scene_NNNN_labels.png (8-bit, pixel value =
object index + 1, 0 for the background) and DIR/scenes.tsv with one line per
object: scene file, object index, caption, cx, cy, r, x0, y0, x1, y1, where
(x0, y0, x1, y1) is the object's pixel bounding box with x1 and y1 exclusive.
"""

import argparse
import os
import sys

import numpy as np
from PIL import Image

SIZE = 128
COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 180, 60),
    "blue": (40, 70, 220),
    "yellow": (230, 210, 40),
}
SHAPES = ("circle", "square", "triangle")
CAPTIONS = tuple(f"a {c} {s}" for c in COLOURS for s in SHAPES)

RADIUS_MIN, RADIUS_MAX = 10.0, 21.0
# Distance from the centre to the farthest point of each shape, in units of r,
# used to keep objects inside the image and apart from each other.
CIRCUMRADIUS = {"circle": 1.0, "square": 0.85 * 2**0.5, "triangle": (1.08**2 + 0.8**2) ** 0.5}
# Free pixels kept between the bounding circles of two objects.
GAP = 3.0
MAX_PLACEMENT_TRIES = 200


def shape_mask(shape, cx, cy, r, size=SIZE):
    """Return a boolean size x size mask of the pixels whose centres lie in the shape."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    dx, dy = xs - cx, ys - cy
    if shape == "circle":
        return dx * dx + dy * dy <= r * r
    if shape == "square":
        half = 0.85 * r
        return (np.abs(dx) <= half) & (np.abs(dy) <= half)
    if shape == "triangle":
        # Apex at dy = -r, base at dy = +0.8 r; the half width grows by 0.6
        # per pixel of distance from the apex.
        from_apex = dy + r
        return (from_apex >= 0) & (dy <= 0.8 * r) & (np.abs(dx) <= 0.6 * from_apex)
    raise ValueError(f"unknown shape {shape!r}, expected one of {SHAPES}")


def pick_pairs(rng, count, share_prob=None):
    """Pick count distinct (colour, shape) pairs.

    With share_prob None every pair is drawn uniformly from the unused ones.
    Otherwise each object after the first shares, with probability share_prob,
    its colour or its shape with an earlier object. In such scenes only the
    pairing of colour and shape distinguishes the objects.
    """
    colours = list(COLOURS)
    all_pairs = [(c, s) for c in colours for s in SHAPES]
    pairs = []
    for _ in range(count):
        unused = [p for p in all_pairs if p not in pairs]
        if pairs and share_prob is not None and rng.random() < share_prob:
            sharing = [p for p in unused if any(p[0] == q[0] or p[1] == q[1] for q in pairs)]
            if sharing:
                unused = sharing
        pairs.append(unused[rng.integers(len(unused))])
    return pairs


def place_objects(rng, pairs, size=SIZE):
    """Draw a radius and a centre for each pair so that no two objects overlap.

    Returns a list of dicts (colour, shape, caption, cx, cy, r), or None when
    some object found no free place. The caller then draws a new scene.
    """
    objects = []
    for colour, shape in pairs:
        r = float(rng.uniform(RADIUS_MIN, RADIUS_MAX))
        extent = CIRCUMRADIUS[shape] * r
        for _ in range(MAX_PLACEMENT_TRIES):
            cx = float(rng.uniform(extent, size - extent))
            cy = float(rng.uniform(extent, size - extent))
            if all(
                np.hypot(cx - o["cx"], cy - o["cy"]) > extent + o["extent"] + GAP
                for o in objects
            ):
                break
        else:
            return None
        objects.append(
            {"colour": colour, "shape": shape, "caption": f"a {colour} {shape}",
             "cx": cx, "cy": cy, "r": r, "extent": extent}
        )
    return objects


def make_scene(rng, min_objects=1, max_objects=3, share_prob=None, size=SIZE):
    """Render one scene.

    Returns (image, labels, objects). The image is size x size x 3 uint8, and
    labels is size x size uint8 with object index + 1 on each object's pixels.
    Each object is a dict with colour, shape, caption, cx, cy, r and the
    bounding box x0, y0, x1, y1 (x1, y1 exclusive).
    """
    count = int(rng.integers(min_objects, max_objects + 1))
    while True:
        objects = place_objects(rng, pick_pairs(rng, count, share_prob), size)
        if objects is not None:
            break

    level = rng.uniform(0.35, 0.65)
    image = level + rng.normal(0.0, 0.05, size=(size, size, 3))
    image = np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
    labels = np.zeros((size, size), np.uint8)
    for index, obj in enumerate(objects):
        mask = shape_mask(obj["shape"], obj["cx"], obj["cy"], obj["r"], size)
        image[mask] = COLOURS[obj["colour"]]
        labels[mask] = index + 1
        rows, cols = np.nonzero(mask)
        obj["x0"], obj["y0"] = int(cols.min()), int(rows.min())
        obj["x1"], obj["y1"] = int(cols.max()) + 1, int(rows.max()) + 1
        del obj["extent"]
    return image, labels, objects


def write_scenes(seed, count, min_objects, max_objects, out_dir):
    """Write count scenes, their label images and scenes.tsv under out_dir."""
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(seed)
    with open(os.path.join(out_dir, "scenes.tsv"), "w") as tsv:
        tsv.write("scene\tobject\tcaption\tcx\tcy\tr\tx0\ty0\tx1\ty1\n")
        for n in range(count):
            image, labels, objects = make_scene(rng, min_objects, max_objects)
            name = f"scene_{n:04d}.png"
            Image.fromarray(image).save(os.path.join(out_dir, name))
            Image.fromarray(labels).save(os.path.join(out_dir, f"scene_{n:04d}_labels.png"))
            for index, obj in enumerate(objects):
                tsv.write(
                    f"{name}\t{index}\t{obj['caption']}\t{obj['cx']:.2f}\t{obj['cy']:.2f}"
                    f"\t{obj['r']:.2f}\t{obj['x0']}\t{obj['y0']}\t{obj['x1']}\t{obj['y1']}\n"
                )


def read_scenes(directory):
    """Read scenes.tsv under directory as a dict: scene file -> list of objects."""
    scenes = {}
    with open(os.path.join(directory, "scenes.tsv")) as tsv:
        next(tsv)
        for line in tsv:
            name, index, caption, cx, cy, r, x0, y0, x1, y1 = line.rstrip("\n").split("\t")
            scenes.setdefault(name, []).append(
                {"index": int(index), "caption": caption, "cx": float(cx), "cy": float(cy),
                 "r": float(r), "box": (int(x0), int(y0), int(x1), int(y1))}
            )
    return scenes


def main(argv=None):
    parser = argparse.ArgumentParser(description="Write synthetic shape scenes for evaluation.")
    parser.add_argument("--seed", type=int, required=True, help="random seed")
    parser.add_argument("--count", type=int, required=True, help="number of scenes")
    parser.add_argument("--min-objects", type=int, default=1, help="minimum objects per scene")
    parser.add_argument("--max-objects", type=int, default=3, help="maximum objects per scene")
    parser.add_argument("--out", required=True, help="output directory")
    args = parser.parse_args(argv)
    if not 1 <= args.min_objects <= args.max_objects <= 3:
        parser.error(
            f"object counts {args.min_objects}..{args.max_objects} are invalid: "
            "need 1 <= --min-objects <= --max-objects <= 3"
        )
    if args.count < 0:
        parser.error(f"--count {args.count} is negative")
    write_scenes(args.seed, args.count, args.min_objects, args.max_objects, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
