"""Measure how well CAM maps of a shapes CLIP point at the named object.

For every object of every scene in a directory written by scenes.py, the
caption "a red circle" is the prompt and each method computes a map over the
scene. The map's maximum is the first maximum in row-major order, as
numpy.argmax finds it. It is a hit when it lies on the named object or within
15 pixels of it (the pointing game). It is nearest when it is closer to the
named object than to every other object of the scene.

Near the top and left borders the resized map has a flat maximum (bilinear
resizing clamps at the edge), and its first pixel can lie up to half a cell
from the cell's centre. So the output also gives the pointing share measured
at the centre of the set of maximum pixels.

    scenes.py --seed 1001 --count 100 --min-objects 2 --max-objects 3 --out /tmp/heldout
    check_localisation.py --model shapes-rn.pt --vocab shapes-vocab.txt.gz --scenes /tmp/heldout

The methods follow the gScoreCAM algorithm on layer4's output. GradCAM weights
channels by their mean gradient. ScoreCAM weights them by the softmax of the
logit of the input masked by each channel. gScoreCAM scores only the k
channels of largest mean gradient (k defaults to a tenth of the channels).
"""

import argparse
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS_PYTHON = os.path.join(HERE, "..", "..", "tests", "python")
sys.path.insert(0, TESTS_PYTHON)

import bpe  # noqa: E402
import scenes  # noqa: E402
from clip_archive import load_state_dict  # noqa: E402
from model import build_from_state_dict, to_input  # noqa: E402

# The pointing game's tolerance around the object, in pixels.
TOLERANCE = 15.0
MASK_EPS = 1e-6
MAP_EPS = 1e-8
METHODS = ("gradcam", "gscorecam", "scorecam")


def scale_map(cam):
    """Subtract the minimum, then divide by (the new maximum + 1e-8)."""
    cam = cam - cam.min()
    return cam / (cam.max() + MAP_EPS)


def finish_map(activation, weights, out_size):
    """Return relu(sum_c weights_c A_c), scaled, resized to out_size and scaled again."""
    cam = F.relu((weights.view(-1, 1, 1) * activation[0]).sum(dim=0))
    if bool((cam == 0).all()):
        return torch.zeros(out_size)
    cam = scale_map(cam)
    cam = F.interpolate(cam[None, None], size=out_size, mode="bilinear", align_corners=False)
    return scale_map(cam[0, 0])


def channel_masks(activation, resolution):
    """Upsample every channel to R x R (align_corners=True) and min-max scale it.

    A constant channel gives an all-zero mask.
    """
    maps = activation[0].unsqueeze(1)
    constant = maps.amax(dim=(1, 2, 3)) == maps.amin(dim=(1, 2, 3))
    up = F.interpolate(maps, size=(resolution, resolution), mode="bilinear", align_corners=True)[:, 0]
    low = up.amin(dim=(1, 2), keepdim=True)
    high = up.amax(dim=(1, 2), keepdim=True)
    masks = (up - low) / (high - low + MASK_EPS)
    return torch.where(constant.view(-1, 1, 1), torch.zeros_like(masks), masks)


def scene_maps(model, x, text_tokens, methods, topk, out_size, batch):
    """Compute each method's map for each prompt of one scene.

    Returns {method: [map per prompt]}. The masked inputs x * mask_c do not
    depend on the prompt, so their image embeddings are computed once per
    scene and scored against every prompt. A gScoreCAM score is therefore the
    same number as the ScoreCAM score of that channel.
    """
    with torch.no_grad():
        text = model.encode_text(text_tokens)
    with torch.enable_grad():
        activation = model.visual.features(x).detach().requires_grad_(True)
        logits = model.logits(model.visual.attnpool(activation), text)[0]
        grads = [torch.autograd.grad(logit, activation, retain_graph=True)[0] for logit in logits]
    activation = activation.detach()
    channels = activation.shape[1]

    all_scores = None
    if {"gscorecam", "scorecam"} & set(methods):
        masks = channel_masks(activation, x.shape[-1])
        chunks = []
        with torch.no_grad():
            for start in range(0, channels, batch):
                masked = x * masks[start:start + batch].unsqueeze(1)
                chunks.append(model.logits(model.encode_image(masked), text))
        all_scores = torch.cat(chunks)
        all_scores = torch.where(torch.isnan(all_scores), torch.zeros_like(all_scores), all_scores)

    maps = {method: [] for method in methods}
    for prompt, grad in enumerate(grads):
        importance = grad[0].mean(dim=(1, 2))
        if "gradcam" in methods:
            maps["gradcam"].append(finish_map(activation, importance, out_size))
        if "scorecam" in methods:
            weights = all_scores[:, prompt].softmax(dim=0)
            maps["scorecam"].append(finish_map(activation, weights, out_size))
        if "gscorecam" in methods:
            chosen = torch.topk(importance, min(topk, channels)).indices
            scores = torch.zeros(channels)
            scores[chosen] = all_scores[chosen, prompt]
            maps["gscorecam"].append(finish_map(activation, scores.softmax(dim=0), out_size))
    return maps


def distances_to_objects(labels, count, row, col):
    """Return the distance in pixels from (row, col) to each object's nearest pixel."""
    distances = []
    for index in range(count):
        rows, cols = np.nonzero(labels == index + 1)
        distances.append(float(np.sqrt(((rows - row) ** 2 + (cols - col) ** 2).min())))
    return distances


def score_point(cam, labels, count, target):
    """Return (hit, nearest, hit_at_centre) for the map and the target object index.

    hit and nearest use the first maximum pixel; hit_at_centre uses the mean
    position of all pixels within 1e-6 of the maximum.
    """
    row, col = np.unravel_index(int(np.argmax(cam)), cam.shape)
    distances = distances_to_objects(labels, count, row, col)
    hit = distances[target] <= TOLERANCE
    others = [d for i, d in enumerate(distances) if i != target]
    nearest = distances[target] == 0 or all(distances[target] < d for d in others)

    centre_row, centre_col = np.argwhere(cam >= cam.max() - 1e-6).mean(axis=0)
    hit_at_centre = distances_to_objects(labels, count, centre_row, centre_col)[target] <= TOLERANCE
    return hit, nearest, hit_at_centre


def compare_with_reference(archive, x, token_ids, topk, ours):
    """Return the largest difference between our gScoreCAM map and reference.py's."""
    import reference

    ref_model = reference.load_model(archive)
    ids = torch.tensor([token_ids])
    theirs = reference.gscorecam(ref_model, x, ids, topk=topk, out_size=tuple(ours.shape)).map
    return float((theirs - ours).abs().max())


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Pointing game of CAM maps on shape scenes.")
    parser.add_argument("--model", default=os.path.join(HERE, "shapes-rn.pt"), help="CLIP archive")
    parser.add_argument("--vocab", default=os.path.join(HERE, "shapes-vocab.txt.gz"),
                        help="vocabulary file")
    parser.add_argument("--scenes", required=True, help="directory written by scenes.py")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--topk", type=int, help="channels scored by gscorecam (default C / 10)")
    parser.add_argument("--limit", type=int, help="use only the first LIMIT scenes")
    parser.add_argument("--batch", type=int, default=128, help="masked inputs per forward pass")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--reference", type=int, default=0,
                        help="compare the first N gscorecam maps with tests/python/reference.py")
    parser.add_argument("--details", help="write one TSV line per map and method to this file: "
                        "scene, object, caption, method, hit, nearest, hit at plateau centre")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if not os.path.exists(os.path.join(args.scenes, "scenes.tsv")):
        sys.exit(f"check_localisation.py: {args.scenes}/scenes.tsv not found; write the scenes "
                 "first with scenes.py --seed S --count N --out DIR")
    model = build_from_state_dict(load_state_dict(args.model))
    resolution = model.image_resolution
    channels = model.visual.attnpool.positional_embedding.shape[1]
    topk = args.topk or max(1, round(channels / 10))
    tokenizer = bpe.Tokenizer.from_file(args.vocab)
    context = model.context_length

    records = {method: [] for method in args.methods}
    details = open(args.details, "w", buffering=1) if args.details else None
    reference_differences = []
    start = time.time()
    for scene_number, (name, objects) in enumerate(sorted(scenes.read_scenes(args.scenes).items())):
        if args.limit is not None and scene_number >= args.limit:
            break
        image = np.asarray(Image.open(os.path.join(args.scenes, name)).convert("RGB"))
        labels = np.asarray(Image.open(os.path.join(args.scenes, name.replace(".png", "_labels.png"))))
        x = to_input(image[None], resolution)
        token_ids = [tokenizer.tokenize(obj["caption"], context) for obj in objects]
        maps = scene_maps(model, x, torch.tensor(token_ids), args.methods, topk,
                          image.shape[:2], args.batch)

        for method in args.methods:
            for obj, cam in zip(objects, maps[method]):
                hit, nearest, hit_at_centre = score_point(cam.numpy(), labels, len(objects),
                                                          obj["index"])
                records[method].append((hit, nearest, len(objects), hit_at_centre))
                if details:
                    details.write(f"{name}\t{obj['index']}\t{obj['caption']}\t{method}"
                                  f"\t{int(hit)}\t{int(nearest)}\t{int(hit_at_centre)}\n")
        if "gscorecam" in args.methods:
            for obj, ids, cam in zip(objects, token_ids, maps["gscorecam"]):
                if len(reference_differences) < args.reference:
                    reference_differences.append(compare_with_reference(args.model, x, ids, topk, cam))
    if details:
        details.close()

    print(f"model {args.model}: R {resolution}, {channels} channels, gscorecam k {topk}; "
          f"{len(next(iter(records.values())))} maps in {time.time() - start:.0f}s")
    for method, rows in records.items():
        hits = np.mean([r[0] for r in rows])
        nearest = np.mean([r[1] for r in rows])
        hits_at_centre = np.mean([r[3] for r in rows])
        by_count = ", ".join(
            f"{n} objects: {np.mean([r[0] for r in rows if r[2] == n]):.3f}"
            for n in sorted({r[2] for r in rows})
        )
        print(f"{method:10s} pointing {hits:.3f}  nearest {nearest:.3f}  "
              f"pointing at plateau centre {hits_at_centre:.3f}  (pointing with {by_count})")
    if reference_differences:
        print(f"gscorecam vs reference.py: max difference {max(reference_differences):.2e} "
              f"over {len(reference_differences)} maps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
