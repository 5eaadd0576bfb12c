#!/usr/bin/python3
"""Independent reference of CLIP and its CAM methods, for parity tests.

Written from the project's specification of the algorithm and of CLIP's
architecture alone, in plain float32 torch operations, so that the C library
has a check that shares none of its code. Commands:

    reference.py map --model M.pt --input crop.rgb --ids "49406 320 2368 49407"
                     [--method gscorecam|scorecam|gradcam|gradcam++|hilacam]
                     [--topk 300] [--out-size H W] --npy out.npy
                     [--channels out.txt] [--logit out.txt] [--batch 32] [--threads N]
    reference.py score --model M.pt --input crop.rgb --ids "..." [--ids "..."]
    reference.py info --model M.pt

--input is the R x R x 3 RGB8 input (what `gscorecam preprocess` writes);
--ids are token ids, padded with 0 to the model's context length.

Importable: load_model, infer_architecture, encode_image, encode_text, logits,
target_activation, and one function per method (gscorecam, scorecam, gradcam,
gradcam_pp, hilacam), each returning a CamResult.
"""

import argparse
import math
import pathlib
import re
import sys
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from clip_archive import load_state_dict  # noqa: E402

# CLIP's per-channel normalisation of RGB values in [0, 1].
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

# gScoreCAM's default number of channels scored.
DEFAULT_TOPK = 300
# Masked inputs scored per forward pass; only speed and memory depend on it.
DEFAULT_BATCH = 32

LAYER_NORM_EPS = 1e-5
BATCH_NORM_EPS = 1e-5
# Channels per attention head in every CLIP model (no archive records heads).
HEAD_WIDTH = 64
# Added to a mask's range before dividing, as the algorithm specifies.
MASK_EPS = 1e-6
# Added to a map's maximum before dividing, as the algorithm specifies.
MAP_EPS = 1e-8
# Added to the denominator of GradCAM++'s alpha, as the algorithm specifies.
GRADCAM_PP_EPS = 1e-6

METHODS = ("gscorecam", "scorecam", "gradcam", "gradcam++", "hilacam")

# Release hyperparameters, used only to name an archive's architecture.
RELEASES = {
    ("resnet", (3, 4, 6, 3), 64, 224, 1024): "RN50",
    ("resnet", (3, 4, 23, 3), 64, 224, 512): "RN101",
    ("resnet", (4, 6, 10, 6), 80, 288, 640): "RN50x4",
    ("resnet", (6, 8, 18, 8), 96, 384, 768): "RN50x16",
    ("resnet", (3, 15, 36, 10), 128, 448, 1024): "RN50x64",
    ("vit", 12, 768, 224, 512, 32): "ViT-B/32",
    ("vit", 12, 768, 224, 512, 16): "ViT-B/16",
    ("vit", 24, 1024, 224, 768, 14): "ViT-L/14",
    ("vit", 24, 1024, 336, 768, 14): "ViT-L/14@336px",
}


class ModelError(ValueError):
    """An archive that is not a usable CLIP model."""


@dataclass
class Architecture:
    """Hyperparameters inferred from a state dict."""
    is_vit: bool
    vision_width: int
    vision_layers: object  # int (ViT blocks) or a tuple of 4 (ResNet blocks per stage)
    vision_heads: int
    input_resolution: int
    grid: int
    patch: int
    embed_dim: int
    context_length: int
    vocab_size: int
    text_width: int
    text_heads: int
    text_layers: int

    @property
    def name(self):
        if self.is_vit:
            key = ("vit", self.vision_layers, self.vision_width, self.input_resolution,
                   self.embed_dim, self.patch)
            return RELEASES.get(key, "ViT")
        key = ("resnet", self.vision_layers, self.vision_width, self.input_resolution,
               self.embed_dim)
        return RELEASES.get(key, "ResNet")

    @property
    def target_layer(self):
        if self.is_vit:
            return f"visual.transformer.resblocks.{self.vision_layers - 1}"
        return "visual.layer4"

    @property
    def target_channels(self):
        return self.vision_width if self.is_vit else 32 * self.vision_width


@dataclass
class Model:
    """A state dict (float32) and its architecture."""
    arch: Architecture
    weights: dict


@dataclass
class CamResult:
    """A map and what led to it.

    map is (H, W) float32 in [0, 1]. flat is True when the weighted
    activations were all zero after ReLU, so the map is all zero. channels
    are the scored channels by descending importance (gscorecam and scorecam
    only), logit the unmasked logit.
    """
    map: torch.Tensor
    flat: bool
    logit: float
    channels: list = field(default_factory=list)
    weights: torch.Tensor = None


# ---------------------------------------------------------------------------
# Architecture inference
# ---------------------------------------------------------------------------

def _count_indices(weights, prefix):
    """Count the distinct N in keys "prefix.N.*"."""
    pattern = re.compile(re.escape(prefix) + r"\.(\d+)\.")
    return len({m.group(1) for k in weights for m in [pattern.match(k)] if m})


def _require(weights, key):
    if key not in weights:
        raise ModelError(f"state dict has no tensor {key!r}")
    return weights[key]


def _exact_sqrt(n, what):
    root = math.isqrt(n)
    if root * root != n:
        raise ModelError(f"{what} has {n} positions, not a square")
    return root


def _heads(width, what):
    if width % HEAD_WIDTH:
        raise ModelError(f"{what} width {width} is not a multiple of {HEAD_WIDTH}")
    return width // HEAD_WIDTH


def infer_architecture(weights):
    """Infer the architecture from tensor names and shapes, as OpenAI's loader does."""
    is_vit = "visual.proj" in weights
    if is_vit:
        conv1 = _require(weights, "visual.conv1.weight")
        vision_width = conv1.shape[0]
        patch = conv1.shape[-1]
        vision_layers = _count_indices(weights, "visual.transformer.resblocks")
        rows = _require(weights, "visual.positional_embedding").shape[0]
        grid = _exact_sqrt(rows - 1, "visual.positional_embedding")
        resolution = patch * grid
        vision_heads = _heads(vision_width, "vision")
    else:
        vision_layers = tuple(_count_indices(weights, f"visual.layer{s}") for s in (1, 2, 3, 4))
        if 0 in vision_layers:
            raise ModelError(f"ResNet stages have {vision_layers} blocks; each needs at least one")
        vision_width = _require(weights, "visual.layer1.0.conv1.weight").shape[0]
        rows = _require(weights, "visual.attnpool.positional_embedding").shape[0]
        grid = _exact_sqrt(rows - 1, "visual.attnpool.positional_embedding")
        resolution = 32 * grid
        patch = 32
        vision_heads = _heads(32 * vision_width, "attention pooling")
    text_width = _require(weights, "ln_final.weight").shape[0]
    return Architecture(
        is_vit=is_vit, vision_width=vision_width, vision_layers=vision_layers,
        vision_heads=vision_heads, input_resolution=resolution, grid=grid, patch=patch,
        embed_dim=_require(weights, "text_projection").shape[1],
        context_length=_require(weights, "positional_embedding").shape[0],
        vocab_size=_require(weights, "token_embedding.weight").shape[0],
        text_width=text_width, text_heads=_heads(text_width, "text"),
        text_layers=_count_indices(weights, "transformer.resblocks"))


def load_model(path):
    """Load an archive (TorchScript or torch.save dict) as a float32 Model."""
    weights = load_state_dict(path)
    return Model(infer_architecture(weights), weights)


# ---------------------------------------------------------------------------
# Towers
# ---------------------------------------------------------------------------

def _batch_norm(x, w, prefix):
    return F.batch_norm(x, w[f"{prefix}.running_mean"], w[f"{prefix}.running_var"],
                        w[f"{prefix}.weight"], w[f"{prefix}.bias"], training=False,
                        eps=BATCH_NORM_EPS)


def _layer_norm(x, w, prefix):
    return F.layer_norm(x, (x.shape[-1],), w[f"{prefix}.weight"], w[f"{prefix}.bias"],
                        eps=LAYER_NORM_EPS)


def _bottleneck(x, w, prefix, planes, stride):
    out = F.relu(_batch_norm(F.conv2d(x, w[f"{prefix}.conv1.weight"]), w, f"{prefix}.bn1"))
    out = F.conv2d(out, w[f"{prefix}.conv2.weight"], padding=1)
    out = F.relu(_batch_norm(out, w, f"{prefix}.bn2"))
    if stride > 1:
        out = F.avg_pool2d(out, stride)
    out = _batch_norm(F.conv2d(out, w[f"{prefix}.conv3.weight"]), w, f"{prefix}.bn3")

    identity = x
    if stride > 1 or x.shape[1] != planes * 4:
        key = f"{prefix}.downsample.0.weight"
        if key not in w:
            raise ModelError(f"state dict has no tensor {key!r}, needed by the block's shortcut")
        if stride > 1:
            identity = F.avg_pool2d(identity, stride)
        identity = _batch_norm(F.conv2d(identity, w[key]), w, f"{prefix}.downsample.1")
    return F.relu(out + identity)


def _resnet_features(model, x):
    """Run the ResNet stem and four stages; return layer4's output (N x C x h x w)."""
    w, arch = model.weights, model.arch
    # Padding 1 in the stem: with it, h = R / 32 as the architecture requires.
    for conv, stride in (("conv1", 2), ("conv2", 1), ("conv3", 1)):
        bn = "bn" + conv[-1]
        x = F.conv2d(x, w[f"visual.{conv}.weight"], stride=stride, padding=1)
        x = F.relu(_batch_norm(x, w, f"visual.{bn}"))
    x = F.avg_pool2d(x, 2)
    for stage, blocks in enumerate(arch.vision_layers, 1):
        planes = arch.vision_width * 2 ** (stage - 1)
        for i in range(blocks):
            stride = 2 if stage > 1 and i == 0 else 1
            x = _bottleneck(x, w, f"visual.layer{stage}.{i}", planes, stride)
    return x


def _attention_pool(model, features):
    """Pool N x C x h x w features to N x embed with the mean token as the only query."""
    w, heads = model.weights, model.arch.vision_heads
    n, c = features.shape[:2]
    tokens = features.flatten(2).transpose(1, 2)                  # N x hw x C
    tokens = torch.cat([tokens.mean(dim=1, keepdim=True), tokens], dim=1)
    tokens = tokens + w["visual.attnpool.positional_embedding"]

    q = F.linear(tokens[:, :1], w["visual.attnpool.q_proj.weight"], w["visual.attnpool.q_proj.bias"])
    k = F.linear(tokens, w["visual.attnpool.k_proj.weight"], w["visual.attnpool.k_proj.bias"])
    v = F.linear(tokens, w["visual.attnpool.v_proj.weight"], w["visual.attnpool.v_proj.bias"])
    out, _ = _multi_head(q, k, v, heads)
    out = F.linear(out, w["visual.attnpool.c_proj.weight"], w["visual.attnpool.c_proj.bias"])
    return out[:, 0]


def _multi_head(q, k, v, heads, mask=None):
    """Scaled dot-product attention over batch-first N x L x width tensors.

    Returns the output (N x Lq x width) and the attention probabilities
    (N x heads x Lq x Lk).
    """
    n, lq, width = q.shape
    lk = k.shape[1]
    head_dim = width // heads
    q = q.reshape(n, lq, heads, head_dim).transpose(1, 2) * head_dim ** -0.5
    k = k.reshape(n, lk, heads, head_dim).transpose(1, 2)
    v = v.reshape(n, lk, heads, head_dim).transpose(1, 2)
    scores = q @ k.transpose(-2, -1)
    if mask is not None:
        scores = scores + mask
    probs = scores.softmax(dim=-1)
    out = (probs @ v).transpose(1, 2).reshape(n, lq, width)
    return out, probs


def _residual_block(x, w, prefix, heads, mask=None, keep_probs=None):
    """One transformer block on batch-first N x L x width tokens.

    When keep_probs is a list, the attention probabilities are appended to it.
    """
    h = _layer_norm(x, w, f"{prefix}.ln_1")
    q, k, v = F.linear(h, w[f"{prefix}.attn.in_proj_weight"],
                       w[f"{prefix}.attn.in_proj_bias"]).chunk(3, dim=-1)
    attn, probs = _multi_head(q, k, v, heads, mask)
    if keep_probs is not None:
        keep_probs.append(probs)
    x = x + F.linear(attn, w[f"{prefix}.attn.out_proj.weight"], w[f"{prefix}.attn.out_proj.bias"])

    h = _layer_norm(x, w, f"{prefix}.ln_2")
    h = F.linear(h, w[f"{prefix}.mlp.c_fc.weight"], w[f"{prefix}.mlp.c_fc.bias"])
    h = h * torch.sigmoid(1.702 * h)  # QuickGELU
    return x + F.linear(h, w[f"{prefix}.mlp.c_proj.weight"], w[f"{prefix}.mlp.c_proj.bias"])


def _vit_features(model, x, keep_probs=None):
    """Run the ViT up to the last block's output; return N x (1 + g*g) x width tokens."""
    w, arch = model.weights, model.arch
    x = F.conv2d(x, w["visual.conv1.weight"], stride=arch.patch)   # N x width x g x g
    x = x.flatten(2).transpose(1, 2)                                # row-major patches
    cls = w["visual.class_embedding"].expand(x.shape[0], 1, -1)
    x = torch.cat([cls, x], dim=1) + w["visual.positional_embedding"]
    x = _layer_norm(x, w, "visual.ln_pre")
    for i in range(arch.vision_layers):
        x = _residual_block(x, w, f"visual.transformer.resblocks.{i}", arch.vision_heads,
                            keep_probs=keep_probs)
    return x


def visual_features(model, x, keep_probs=None):
    """Return the target layer's output for a batch of normalised images.

    ResNet: N x C x h x w. ViT: N x (1 + g*g) x width, class token first.
    """
    if model.arch.is_vit:
        return _vit_features(model, x, keep_probs)
    return _resnet_features(model, x)


def visual_head(model, features):
    """Map the target layer's output to image embeddings (N x embed)."""
    if model.arch.is_vit:
        w = model.weights
        return _layer_norm(features[:, 0], w, "visual.ln_post") @ w["visual.proj"]
    return _attention_pool(model, features)


def encode_image(model, x):
    """Embed a batch of normalised images (N x 3 x R x R)."""
    return visual_head(model, visual_features(model, x))


def encode_text(model, ids):
    """Embed a batch of token-id rows (N x context, int64), end token = largest id."""
    w, arch = model.weights, model.arch
    x = w["token_embedding.weight"][ids] + w["positional_embedding"]
    length = ids.shape[1]
    causal = torch.full((length, length), float("-inf")).triu(1)
    for i in range(arch.text_layers):
        x = _residual_block(x, w, f"transformer.resblocks.{i}", arch.text_heads, mask=causal)
    x = _layer_norm(x, w, "ln_final")
    x = x[torch.arange(x.shape[0]), ids.argmax(dim=-1)]
    return x @ w["text_projection"]


def logits_from_embeddings(model, image_embeddings, text_embeddings):
    """exp(logit_scale) * cosine similarity, N_images x N_texts."""
    image = image_embeddings / image_embeddings.norm(dim=-1, keepdim=True)
    text = text_embeddings / text_embeddings.norm(dim=-1, keepdim=True)
    return model.weights["logit_scale"].exp() * image @ text.t()


def logits(model, x, ids):
    """CLIP logits of images x (N x 3 x R x R) against prompts ids (M x context)."""
    return logits_from_embeddings(model, encode_image(model, x), encode_text(model, ids))


# ---------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------

def normalise_rgb8(data, resolution):
    """Turn R x R x 3 RGB8 bytes into a normalised 1 x 3 x R x R float32 tensor."""
    expected = resolution * resolution * 3
    if len(data) != expected:
        raise ValueError(f"input holds {len(data)} bytes; a {resolution} x {resolution} RGB8 "
                         f"input holds {expected}")
    pixels = torch.from_numpy(np.frombuffer(data, dtype=np.uint8).copy()).float() / 255.0
    pixels = pixels.reshape(resolution, resolution, 3).permute(2, 0, 1)
    mean = torch.tensor(CLIP_MEAN).view(3, 1, 1)
    std = torch.tensor(CLIP_STD).view(3, 1, 1)
    return ((pixels - mean) / std).unsqueeze(0)


def pad_ids(ids, context_length):
    """Return a 1 x context int64 tensor of ids padded with 0."""
    ids = list(ids)
    if len(ids) > context_length:
        raise ValueError(f"{len(ids)} ids do not fit the context length {context_length}")
    return torch.tensor([ids + [0] * (context_length - len(ids))], dtype=torch.int64)


# ---------------------------------------------------------------------------
# CAM methods
# ---------------------------------------------------------------------------

def target_activation(model, x, ids):
    """Forward one image and prompt; return (A, G, logit).

    A is the target layer's activation as 1 x C x h x w, G the gradient of
    the logit with respect to it in the same layout, logit a float. For a ViT,
    the class token is dropped from A. The logit depends on the last block's
    output only through the class token, so G is the class token's gradient,
    the same for every position of the g x g map.

    NOTE: the specification names the class-token gradient for channel
    importance only. GradCAM and GradCAM++ on a ViT use this broadcast G too,
    because the patch tokens' own gradient is zero and would give a flat map.
    """
    text = encode_text(model, ids).detach()
    with torch.enable_grad():
        features = visual_features(model, x).detach().requires_grad_(True)
        logit = logits_from_embeddings(model, visual_head(model, features), text)[0, 0]
        (grad,) = torch.autograd.grad(logit, features)
    features = features.detach()
    if model.arch.is_vit:
        g = model.arch.grid
        activation = features[:, 1:].transpose(1, 2).reshape(1, -1, g, g)
        grad = grad[:, :1].transpose(1, 2).unsqueeze(-1).expand(1, -1, g, g).contiguous()
    else:
        activation = features
    return activation, grad, float(logit)


def scale_map(cam):
    """Subtract the minimum, then divide by (the new maximum + 1e-8)."""
    cam = cam - cam.min()
    return cam / (cam.max() + MAP_EPS)


def finish_map(activation, weights, out_size, logit, channels=()):
    """Steps shared by every method: weighted sum, ReLU, scaling, resizing."""
    cam = F.relu((weights.view(-1, 1, 1) * activation[0]).sum(dim=0))
    return _finish_cam(cam, out_size, logit, channels, weights)


def _finish_cam(cam, out_size, logit, channels=(), weights=None):
    flat = bool((cam == 0).all())
    if flat:
        return CamResult(torch.zeros(out_size), True, logit, list(channels), weights)
    cam = scale_map(cam)
    resized = F.interpolate(cam[None, None], size=tuple(out_size), mode="bilinear",
                            align_corners=False, antialias=False)[0, 0]
    return CamResult(scale_map(resized), False, logit, list(channels), weights)


def channel_masks(activation, channels, resolution):
    """Upsample the chosen channels to R x R and min-max scale each one.

    A constant channel gives an all-zero mask. The test is on the channel
    before upsampling, because bilinear weights do not sum to exactly 1 in
    float32: a constant 0.3 comes back with a spread of about 6e-8, which
    the division would blow up to values near 0.06.
    """
    maps = activation[0, channels].unsqueeze(1)                     # k x 1 x h x w
    constant = maps.amax(dim=(1, 2, 3)) == maps.amin(dim=(1, 2, 3))
    up = F.interpolate(maps, size=(resolution, resolution), mode="bilinear",
                       align_corners=True)[:, 0]
    low = up.amin(dim=(1, 2), keepdim=True)
    high = up.amax(dim=(1, 2), keepdim=True)
    masks = (up - low) / (high - low + MASK_EPS)
    flat = constant.view(-1, 1, 1) | (high == low)
    return torch.where(flat, torch.zeros_like(masks), masks)


def masked_scores(model, x, ids, masks, batch):
    """Logit of x * mask for each mask, in batches; NaN scores become 0."""
    text = encode_text(model, ids)
    scores = []
    for start in range(0, masks.shape[0], batch):
        chunk = masks[start:start + batch].unsqueeze(1)             # b x 1 x R x R
        image = encode_image(model, x * chunk)
        scores.append(logits_from_embeddings(model, image, text)[:, 0])
    scores = torch.cat(scores)
    return torch.where(torch.isnan(scores), torch.zeros_like(scores), scores)


def _check_topk(topk):
    if topk <= 0:
        raise ValueError(f"top-k is {topk}; it must be at least 1")


@torch.no_grad()
def gscorecam(model, x, ids, topk=DEFAULT_TOPK, out_size=None, batch=DEFAULT_BATCH):
    """ScoreCAM on the topk channels of largest mean gradient (topk clamped to C)."""
    _check_topk(topk)
    out_size = out_size or (model.arch.input_resolution,) * 2
    activation, grad, logit = target_activation(model, x, ids)
    channels_total = activation.shape[1]
    importance = grad[0].mean(dim=(1, 2))
    k = min(topk, channels_total)
    channels = torch.topk(importance, k).indices

    masks = channel_masks(activation, channels, model.arch.input_resolution)
    scores = torch.zeros(channels_total)
    scores[channels] = masked_scores(model, x, ids, masks, batch)
    weights = scores.softmax(dim=0)
    return finish_map(activation, weights, out_size, logit, channels.tolist())


def scorecam(model, x, ids, out_size=None, batch=DEFAULT_BATCH):
    """ScoreCAM: gScoreCAM with k = C."""
    return gscorecam(model, x, ids, topk=model.arch.target_channels, out_size=out_size,
                     batch=batch)


@torch.no_grad()
def gradcam(model, x, ids, out_size=None):
    """GradCAM: channel weight = mean gradient."""
    out_size = out_size or (model.arch.input_resolution,) * 2
    activation, grad, logit = target_activation(model, x, ids)
    return finish_map(activation, grad[0].mean(dim=(1, 2)), out_size, logit)


@torch.no_grad()
def gradcam_pp(model, x, ids, out_size=None):
    """GradCAM++ weights: sum over positions of relu(G) * G^2 / (2 G^2 + sum(A) G^3 + 1e-6)."""
    out_size = out_size or (model.arch.input_resolution,) * 2
    activation, grad, logit = target_activation(model, x, ids)
    g = grad[0]
    g2 = g * g
    activation_sum = activation[0].sum(dim=(1, 2), keepdim=True)
    alpha = g2 / (2 * g2 + activation_sum * g2 * g + GRADCAM_PP_EPS)
    alpha = torch.where(g == 0, torch.zeros_like(alpha), alpha)
    weights = (F.relu(g) * alpha).sum(dim=(1, 2))
    return finish_map(activation, weights, out_size, logit)


@torch.no_grad()
def hilacam(model, x, ids, out_size=None):
    """Relevance of the class token to the patches through every ViT block (Chefer et al.)."""
    if not model.arch.is_vit:
        raise ValueError(f"hilacam needs a ViT model; this one is {model.arch.name}")
    out_size = out_size or (model.arch.input_resolution,) * 2
    text = encode_text(model, ids)
    with torch.enable_grad():
        # The weights hold no gradient, so the input carries the graph.
        probs = []
        features = visual_features(model, x.detach().requires_grad_(True), keep_probs=probs)
        logit = logits_from_embeddings(model, visual_head(model, features), text)[0, 0]
        grads = torch.autograd.grad(logit, probs)

    tokens = probs[0].shape[-1]
    relevance = torch.eye(tokens)
    for p, g in zip(probs, grads):
        cam = (p[0] * g[0]).clamp(min=0).mean(dim=0)                # tokens x tokens
        relevance = relevance + cam @ relevance
    grid = model.arch.grid
    cam = relevance[0, 1:].reshape(grid, grid)
    return _finish_cam(F.relu(cam), out_size, float(logit))


def compute_map(model, x, ids, method, topk=DEFAULT_TOPK, out_size=None, batch=DEFAULT_BATCH):
    """Run one method by name (see METHODS)."""
    if method == "gscorecam":
        return gscorecam(model, x, ids, topk, out_size, batch)
    if method == "scorecam":
        return scorecam(model, x, ids, out_size, batch)
    if method == "gradcam":
        return gradcam(model, x, ids, out_size)
    if method == "gradcam++":
        return gradcam_pp(model, x, ids, out_size)
    if method == "hilacam":
        return hilacam(model, x, ids, out_size)
    raise ValueError(f"unknown method {method!r}: expected one of {', '.join(METHODS)}")


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------

def _parse_ids(text):
    try:
        return [int(t) for t in text.split()]
    except ValueError:
        raise ValueError(f"ids {text!r} are not space-separated integers") from None


def _load_input(model, args):
    with open(args.input, "rb") as f:
        return normalise_rgb8(f.read(), model.arch.input_resolution)


def _command_info(args):
    model = load_model(args.model)
    arch = model.arch
    print(f"architecture: {arch.name}")
    print(f"input_resolution: {arch.input_resolution}")
    print(f"embed_dim: {arch.embed_dim}")
    print(f"target_layer: {arch.target_layer}")
    print(f"target_channels: {arch.target_channels}")
    print(f"grid: {arch.grid}")
    return 0


@torch.no_grad()
def _command_score(args):
    model = load_model(args.model)
    x = _load_input(model, args)
    ids = torch.cat([pad_ids(_parse_ids(t), model.arch.context_length) for t in args.ids])
    row = logits(model, x, ids)[0]
    probs = row.softmax(dim=0)
    for logit, prob in zip(row.tolist(), probs.tolist()):
        print(f"{logit:.6f} {prob:.6f}")
    return 0


def _command_map(args):
    if len(args.ids) != 1:
        raise ValueError(f"map takes one --ids, got {len(args.ids)}")
    if args.batch < 1:
        raise ValueError(f"batch is {args.batch}; it must be at least 1")
    model = load_model(args.model)
    x = _load_input(model, args)
    ids = pad_ids(_parse_ids(args.ids[0]), model.arch.context_length)
    if args.channels and args.method not in ("gscorecam", "scorecam"):
        raise ValueError(f"--channels applies to gscorecam and scorecam, not {args.method}")

    result = compute_map(model, x, ids, args.method, args.topk, args.out_size, args.batch)
    np.save(args.npy, result.map.numpy().astype(np.float32))
    if args.channels:
        with open(args.channels, "w") as f:
            f.write(" ".join(str(c) for c in result.channels) + "\n")
    if args.logit:
        with open(args.logit, "w") as f:
            f.write(f"{result.logit:.9g}\n")
    if result.flat:
        print("reference: the weighted activations are all zero; the map is all zero",
              file=sys.stderr)
    return 0


def _parser():
    parser = argparse.ArgumentParser(description="Independent CLIP and CAM reference.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("map", "score", "info"):
        p = sub.add_parser(name)
        p.add_argument("--model", required=True, help="CLIP archive (.pt)")
        p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
        if name == "info":
            continue
        p.add_argument("--input", required=True, help="R x R x 3 RGB8 input file")
        p.add_argument("--ids", action="append", required=True,
                       help='token ids separated by spaces, such as "49406 320 2368 49407"')
    m = sub.choices["map"]
    m.add_argument("--method", default="gscorecam", choices=METHODS)
    m.add_argument("--topk", type=int, default=DEFAULT_TOPK, help="channels scored (gscorecam)")
    m.add_argument("--out-size", type=int, nargs=2, metavar=("H", "W"),
                   help="map height and width (default R x R)")
    m.add_argument("--npy", required=True, help="output .npy of the float32 map")
    m.add_argument("--channels", help="file for the scored channels, by descending importance")
    m.add_argument("--logit", help="file for the unmasked logit")
    m.add_argument("--batch", type=int, default=DEFAULT_BATCH, help="masked inputs per pass")
    return parser


def main(argv=None):
    args = _parser().parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    commands = {"map": _command_map, "score": _command_score, "info": _command_info}
    try:
        return commands[args.command](args)
    except (OSError, ValueError, RuntimeError) as e:
        print(f"reference: {args.command}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
