#!/usr/bin/python3
"""Write a CLIP archive with OpenAI's layout and random weights.

    make_archive.py --arch NAME --seed N --out PATH

NAME is a released model with a layout file in <shared>/clip/architectures
(RN50, RN101, RN50x4, RN50x16, RN50x64, ViT-B-32, ViT-B-16, ViT-L-14,
ViT-L-14-336px), or one of two small models with the same layout:

    small-rn   ModifiedResNet, vision width 16 (512 channels and 8 attention
               heads at layer4), blocks per stage 1,1,2,1, input 128 (grid 4)
    small-vit  ViT, width 64, patch 16, grid 4 (input 64), 2 blocks

Both small models have embed dim 64 and a text tower of width 64 (1 head),
2 blocks, context 77 and OpenAI's 49,408-entry vocabulary. Every tensor has
the dtype the releases give a tensor of its kind: convolution, linear and
attention weights and biases fp16, norms and embeddings fp32, int64 counters
and metadata. <shared> is $GSCAM_SHARED, or ../shared beside the checkout.

How weights are drawn, so that activations stay finite and informative through
every layer of the deepest release (RN50x64: 64 Bottlenecks; ViT-L: 24 blocks)
without calibration data:
- Convolutions: He-normal, std sqrt(2 / fan_in), which keeps the second moment
  of a ReLU network roughly constant. The last convolution of a Bottleneck
  (conv3) is scaled by a gain that shrinks with depth (see RESIDUAL_BUDGET),
  so the residual sums grow by a bounded factor over the tower instead of
  a constant factor per block. The shortcut convolution (downsample.0) uses
  std sqrt(1 / fan_in) because its output is not followed by a ReLU.
- Batch norm: weight uniform in [0.8, 1.2], bias and running mean normal with
  std 0.05, running variance uniform in [0.8, 1.2]. The layer is then close to
  the identity, and the spread makes channels differ from each other.
- Linear and attention projections (attnpool q/k/v/c_proj, in_proj, out_proj,
  c_fc, c_proj, text_projection, visual.proj): normal with std 1 / sqrt(fan_in),
  so unit-variance inputs give unit-variance outputs. Biases: normal, std 0.01.
  The projections that end a transformer's residual branch (out_proj,
  mlp.c_proj) get the same depth-dependent gain as conv3.
- ViT patchify convolution: std 1 / sqrt(fan_in), so patch tokens start near
  unit variance.
- Embeddings (token, positional, class, attnpool positional): std 0.02.
- Layer norm: weight uniform in [0.9, 1.1], bias normal with std 0.02.
- logit_scale: ln(100) in fp32, as in the releases, so logits are
  100 x cosine similarity.
- num_batches_tracked: 0. Metadata scalars: the release values.

Tensors are drawn in layout order from one torch.Generator seeded with --seed,
so a seed always gives the same archive on the same torch version.
"""

import argparse
import math
import os
import pathlib
import re
import sys
import time

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from clip_archive import save_archive  # noqa: E402

# Scale of the layer that closes a residual branch is RESIDUAL_BUDGET /
# sqrt(number of branches in the tower), capped at 1. Each branch then adds
# about RESIDUAL_BUDGET^2 / branches to the second moment of the sum, so the
# growth over the whole tower stays near exp(RESIDUAL_BUDGET^2) whatever its
# depth: RN50 gets 0.5, RN50x64 0.25, ViT-L's 48 branches 0.29.
RESIDUAL_BUDGET = 2.0

# Metadata scalars every release archive carries, with their int64 values.
METADATA_KEYS = ("input_resolution", "context_length", "vocab_size")

# OpenAI's vocabulary size and context length, shared by every release.
VOCAB_SIZE = 49408
CONTEXT_LENGTH = 77

SMALL_MODELS = {
    "small-rn": dict(kind="resnet", vision_layers=(1, 1, 2, 1), vision_width=16,
                     resolution=128, embed_dim=64, text_width=64, text_layers=2),
    "small-vit": dict(kind="vit", vision_width=64, patch=16, grid=4, vision_layers=2,
                      embed_dim=64, text_width=64, text_layers=2),
}


def shared_dir():
    """Return the shared test-data folder: $GSCAM_SHARED or ../shared beside the checkout."""
    env = os.environ.get("GSCAM_SHARED")
    if env:
        return pathlib.Path(env)
    return pathlib.Path(__file__).resolve().parents[3] / "shared"


def release_names():
    """Return the release names that have a layout file, sorted."""
    folder = shared_dir() / "clip" / "architectures"
    return sorted(p.stem for p in folder.glob("*.tsv"))


def read_layout(name):
    """Parse <shared>/clip/architectures/NAME.tsv into (key, shape, dtype, value) rows.

    shape is a tuple (() for a scalar), dtype a torch dtype, value the int64
    metadata value or None.
    """
    path = shared_dir() / "clip" / "architectures" / f"{name}.tsv"
    dtypes = {"float16": torch.float16, "float32": torch.float32, "int64": torch.int64}
    rows = []
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            fields = line.split("\t")
            if len(fields) != 3:
                raise ValueError(f"{path}:{line_no}: expected 3 tab-separated fields, got {len(fields)}")
            key, shape_text, dtype_text = fields
            shape = () if shape_text == "scalar" else tuple(int(d) for d in shape_text.split("x"))
            value = None
            if "value" in dtype_text:
                value = int(dtype_text.rsplit("value", 1)[1].strip(" )"))
            rows.append((key, shape, dtypes[dtype_text.split()[0]], value))
    return rows


def release_dtype(key):
    """Return the dtype a release archive gives the tensor named key."""
    leaf = key.rsplit(".", 1)[-1]
    if leaf == "num_batches_tracked" or key in METADATA_KEYS:
        return torch.int64
    parts = key.split(".")
    is_norm = any(p.startswith("bn") or p.startswith("ln_") for p in parts) or ".downsample.1." in key
    if is_norm or "embedding" in key or key == "logit_scale":
        return torch.float32
    return torch.float16


def _batch_norm_layout(prefix, channels):
    return [(f"{prefix}.weight", (channels,)), (f"{prefix}.bias", (channels,)),
            (f"{prefix}.running_mean", (channels,)), (f"{prefix}.running_var", (channels,)),
            (f"{prefix}.num_batches_tracked", ())]


def _residual_block_layout(prefix, width):
    return [(f"{prefix}.attn.in_proj_weight", (3 * width, width)),
            (f"{prefix}.attn.in_proj_bias", (3 * width,)),
            (f"{prefix}.attn.out_proj.weight", (width, width)),
            (f"{prefix}.attn.out_proj.bias", (width,)),
            (f"{prefix}.ln_1.weight", (width,)), (f"{prefix}.ln_1.bias", (width,)),
            (f"{prefix}.mlp.c_fc.weight", (4 * width, width)),
            (f"{prefix}.mlp.c_fc.bias", (4 * width,)),
            (f"{prefix}.mlp.c_proj.weight", (width, 4 * width)),
            (f"{prefix}.mlp.c_proj.bias", (width,)),
            (f"{prefix}.ln_2.weight", (width,)), (f"{prefix}.ln_2.bias", (width,))]


def _resnet_visual_layout(layers, width, resolution, embed_dim):
    rows = []
    stem = [("conv1", "bn1", 3, width // 2), ("conv2", "bn2", width // 2, width // 2),
            ("conv3", "bn3", width // 2, width)]
    for conv, bn, cin, cout in stem:
        rows.append((f"visual.{conv}.weight", (cout, cin, 3, 3)))
        rows += _batch_norm_layout(f"visual.{bn}", cout)
    inplanes = width
    for stage, blocks in enumerate(layers, 1):
        planes = width * 2 ** (stage - 1)
        for i in range(blocks):
            p = f"visual.layer{stage}.{i}"
            stride = 2 if stage > 1 and i == 0 else 1
            rows.append((f"{p}.conv1.weight", (planes, inplanes, 1, 1)))
            rows += _batch_norm_layout(f"{p}.bn1", planes)
            rows.append((f"{p}.conv2.weight", (planes, planes, 3, 3)))
            rows += _batch_norm_layout(f"{p}.bn2", planes)
            rows.append((f"{p}.conv3.weight", (planes * 4, planes, 1, 1)))
            rows += _batch_norm_layout(f"{p}.bn3", planes * 4)
            if stride > 1 or inplanes != planes * 4:
                rows.append((f"{p}.downsample.0.weight", (planes * 4, inplanes, 1, 1)))
                rows += _batch_norm_layout(f"{p}.downsample.1", planes * 4)
            inplanes = planes * 4
    channels = width * 32
    tokens = (resolution // 32) ** 2 + 1
    rows.append(("visual.attnpool.positional_embedding", (tokens, channels)))
    for proj in ("k_proj", "q_proj", "v_proj"):
        rows += [(f"visual.attnpool.{proj}.weight", (channels, channels)),
                 (f"visual.attnpool.{proj}.bias", (channels,))]
    rows += [("visual.attnpool.c_proj.weight", (embed_dim, channels)),
             ("visual.attnpool.c_proj.bias", (embed_dim,))]
    return rows


def _vit_visual_layout(width, patch, grid, layers, embed_dim):
    rows = [("visual.class_embedding", (width,)),
            ("visual.positional_embedding", (grid * grid + 1, width)),
            ("visual.proj", (width, embed_dim)),
            ("visual.conv1.weight", (width, 3, patch, patch)),
            ("visual.ln_pre.weight", (width,)), ("visual.ln_pre.bias", (width,))]
    for i in range(layers):
        rows += _residual_block_layout(f"visual.transformer.resblocks.{i}", width)
    rows += [("visual.ln_post.weight", (width,)), ("visual.ln_post.bias", (width,))]
    return rows


def build_layout(config):
    """Return (key, shape, dtype, value) rows, in release order, for a model config.

    config has kind "resnet" (vision_layers, vision_width, resolution) or "vit"
    (vision_width, patch, grid, vision_layers), plus embed_dim, text_width,
    text_layers and optionally context_length and vocab_size.
    """
    context = config.get("context_length", CONTEXT_LENGTH)
    vocab = config.get("vocab_size", VOCAB_SIZE)
    text_width = config["text_width"]
    embed_dim = config["embed_dim"]
    shapes = [("positional_embedding", (context, text_width)),
              ("text_projection", (text_width, embed_dim)),
              ("logit_scale", ())]
    if config["kind"] == "resnet":
        resolution = config["resolution"]
        shapes += _resnet_visual_layout(config["vision_layers"], config["vision_width"],
                                        resolution, embed_dim)
    else:
        resolution = config["patch"] * config["grid"]
        shapes += _vit_visual_layout(config["vision_width"], config["patch"], config["grid"],
                                     config["vision_layers"], embed_dim)
    for i in range(config["text_layers"]):
        shapes += _residual_block_layout(f"transformer.resblocks.{i}", text_width)
    shapes += [("token_embedding.weight", (vocab, text_width)),
               ("ln_final.weight", (text_width,)), ("ln_final.bias", (text_width,))]
    rows = [(key, shape, release_dtype(key), None) for key, shape in shapes]
    values = {"input_resolution": resolution, "context_length": context, "vocab_size": vocab}
    rows += [(key, (), torch.int64, values[key]) for key in METADATA_KEYS]
    return rows


def _normal(gen, shape, std):
    return torch.randn(shape, generator=gen) * std


def _uniform(gen, shape, low, high):
    return torch.rand(shape, generator=gen) * (high - low) + low


def residual_gains(layout):
    """Return {tower prefix: gain} for the layers that close a residual branch."""
    keys = [row[0] for row in layout]
    gains = {}
    towers = (("visual.layer", r"visual\.layer\d+\.\d+\.", 1),
              ("visual.transformer.resblocks.", r"visual\.transformer\.resblocks\.\d+\.", 2),
              ("transformer.resblocks.", r"transformer\.resblocks\.\d+\.", 2))
    for prefix, block_pattern, branches_per_block in towers:
        blocks = {m.group(0) for k in keys for m in [re.match(block_pattern, k)] if m}
        if blocks:
            gains[prefix] = min(1.0, RESIDUAL_BUDGET / math.sqrt(branches_per_block * len(blocks)))
    return gains


def _residual_gain(key, gains):
    # The layers that close a residual branch: Bottleneck conv3, and a
    # transformer block's attention output and MLP output projections.
    closes_branch = key.endswith(".conv3.weight") and key.startswith("visual.layer") or \
        key.endswith(".attn.out_proj.weight") or key.endswith(".mlp.c_proj.weight")
    if not closes_branch:
        return 1.0
    return next(gain for prefix, gain in gains.items() if key.startswith(prefix))


def draw_tensor(key, shape, gen, is_vit, gains):
    """Draw the float32 value of the tensor named key (see the module docstring)."""
    leaf = key.rsplit(".", 1)[-1]
    if key == "logit_scale":
        return torch.tensor(math.log(100.0))
    if "embedding" in key:
        return _normal(gen, shape, 0.02)
    if ".bn" in key or key.startswith("visual.bn") or ".downsample.1." in key:
        if leaf in ("weight", "running_var"):
            return _uniform(gen, shape, 0.8, 1.2)
        return _normal(gen, shape, 0.05)
    if ".ln_" in key or key.startswith("ln_"):
        if leaf == "weight":
            return _uniform(gen, shape, 0.9, 1.1)
        return _normal(gen, shape, 0.02)
    if len(shape) == 1:
        return _normal(gen, shape, 0.01)
    if key in ("text_projection", "visual.proj"):
        return _normal(gen, shape, 1.0 / math.sqrt(shape[0]))
    fan_in = math.prod(shape[1:])
    gain = _residual_gain(key, gains)
    if len(shape) == 4:
        # He-normal where a ReLU follows; the shortcut and the ViT patchify
        # convolution feed a sum or a layer norm instead.
        no_relu = key.endswith("downsample.0.weight") or is_vit
        return _normal(gen, shape, gain * math.sqrt((1.0 if no_relu else 2.0) / fan_in))
    return _normal(gen, shape, gain / math.sqrt(fan_in))


def make_state_dict(layout, seed):
    """Draw every tensor of layout with a generator seeded by seed, in the layout's dtypes."""
    gen = torch.Generator().manual_seed(seed)
    is_vit = any(row[0] == "visual.proj" for row in layout)
    gains = residual_gains(layout)
    state = {}
    for key, shape, dtype, value in layout:
        if dtype == torch.int64:
            state[key] = torch.tensor(value if value is not None else 0, dtype=torch.int64)
        else:
            state[key] = draw_tensor(key, shape, gen, is_vit, gains).to(dtype)
    return state


def layout_for(arch):
    """Return the layout rows of a release name or a small model name."""
    if arch in SMALL_MODELS:
        return build_layout(SMALL_MODELS[arch])
    names = release_names()
    if arch not in names:
        raise ValueError(f"unknown architecture {arch!r}: expected one of "
                         f"{', '.join(names + sorted(SMALL_MODELS))}")
    return read_layout(arch)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", required=True,
                        help="release name (RN50, ViT-B-32, ...), small-rn or small-vit")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weight generator")
    parser.add_argument("--out", required=True, help="path of the archive to write")
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    start = time.monotonic()
    try:
        layout = layout_for(args.arch)
    except (OSError, ValueError) as e:
        print(f"make_archive: {e}", file=sys.stderr)
        return 2
    state = make_state_dict(layout, args.seed)
    save_archive(state, args.out)
    print(f"make_archive: wrote {args.arch} ({len(state)} tensors) to {args.out} "
          f"in {time.monotonic() - start:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
