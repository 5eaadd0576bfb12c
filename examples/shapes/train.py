"""Train the small shapes CLIP and save it as a release-style archive.

Each step draws fresh scenes (scenes.py), pairs every scene with the caption of
each of its objects, and minimises CLIP's symmetric contrastive loss with
in-batch negatives. A caption that describes several scenes of the batch is a
positive for each of them, so other scenes holding the same object are left
out of a pair's negatives instead of being pushed away. Half of the objects
after the first share their colour or shape with an earlier one, so that only
the pairing of colour and shape separates a caption from its negatives.

With --start-resolution, the first --start-steps steps run at that smaller
input size and the rest at --resolution. Trained from scratch at 192, the
network learned colour but was still at chance on shape after 400 steps,
while at 128 it learned both within 200 steps. Starting small and then
enlarging keeps what was learned and ends with the finer grid of the larger
input.

    train.py --seed 1 --resolution 192 --start-resolution 128 --start-steps 400 --steps 650
"""

import argparse
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "python"))

import bpe  # noqa: E402
import scenes  # noqa: E402
from clip_archive import load_state_dict, save_archive  # noqa: E402
from model import CLIP, build_from_state_dict, release_state_dict, to_input  # noqa: E402

# Objects after the first share colour or shape with an earlier one this often.
SHARE_PROB = 0.5
# Scenes of the fixed validation set used to report caption accuracy.
VALIDATION_SCENES = 256
# OpenAI clamps the learned temperature so that exp(logit_scale) <= 100.
MAX_LOGIT_SCALE = math.log(100.0)


def draw_batch(rng, batch_size, resolution):
    """Return (images, present): model inputs and a batch x 12 bool caption mask."""
    images, present = [], np.zeros((batch_size, len(scenes.CAPTIONS)), bool)
    for i in range(batch_size):
        image, _, objects = scenes.make_scene(rng, 1, 3, share_prob=SHARE_PROB)
        images.append(image)
        for obj in objects:
            present[i, scenes.CAPTIONS.index(obj["caption"])] = True
    return to_input(np.stack(images), resolution), torch.from_numpy(present)


def contrastive_loss(logits, present):
    """Return CLIP's symmetric loss over every (scene, caption of one of its objects) pair.

    logits is scenes x captions, present marks the pairs. The columns are the
    distinct captions of the batch, so a caption shared by several scenes is
    one column with several positives. For each pair, the image-to-text term
    is a softmax over that caption and the captions absent from the scene,
    and the text-to-image term a softmax over that scene and the scenes that
    lack the caption.
    """
    columns = present.any(dim=0)
    logits, present = logits[:, columns], present[:, columns]
    negatives = logits.masked_fill(present, float("-inf"))
    row_negatives = torch.logsumexp(negatives, dim=1, keepdim=True)
    column_negatives = torch.logsumexp(negatives, dim=0, keepdim=True)
    image_to_text = torch.logaddexp(logits, row_negatives) - logits
    text_to_image = torch.logaddexp(logits, column_negatives) - logits
    return (image_to_text[present].mean() + text_to_image[present].mean()) / 2


def caption_accuracy(model, images, present, text_tokens):
    """Share of scenes whose n highest-scoring captions are exactly their n objects."""
    with torch.no_grad():
        logits = model.logits(model.encode_image(images), model.encode_text(text_tokens))
    hits = 0
    for row, mask in zip(logits, present):
        count = int(mask.sum())
        top = set(row.topk(count).indices.tolist())
        hits += top == set(mask.nonzero().flatten().tolist())
    return hits / len(logits)


def resize_attention_pool(model, optimizer, resolution):
    """Make the model take resolution x resolution inputs.

    The attention pool's positional embedding is the only tensor whose shape
    depends on the input size. Its spatial rows are resized bicubically from
    the old grid to the new one into a new parameter, which replaces the old
    one in the optimizer with fresh moments.
    """
    pool = model.visual.attnpool
    old = pool.positional_embedding
    old_grid = round((old.shape[0] - 1) ** 0.5)
    new_grid = resolution // 32
    with torch.no_grad():
        spatial = old[1:].reshape(1, old_grid, old_grid, -1).permute(0, 3, 1, 2)
        spatial = F.interpolate(spatial, size=(new_grid, new_grid), mode="bicubic",
                                align_corners=False)
        spatial = spatial.permute(0, 2, 3, 1).reshape(new_grid * new_grid, -1)
        pool.positional_embedding = torch.nn.Parameter(torch.cat([old[:1], spatial]))

    optimizer.state.pop(old, None)
    for group in optimizer.param_groups:
        group["params"] = [pool.positional_embedding if p is old else p for p in group["params"]]
    model.image_resolution = resolution
    model.visual.input_resolution = resolution


def make_optimizer(model, lr, weight_decay):
    """AdamW with weight decay on convolution, linear and projection weights only."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        embedding = "embedding" in name or name == "logit_scale"
        (decay if param.dim() >= 2 and not embedding else no_decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.98), eps=1e-6)


def learning_rate(step, steps, peak, warmup):
    """Linear warm-up to peak, then cosine decay to zero at the last step."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * 0.5 * (1.0 + math.cos(math.pi * progress))


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Train the shapes CLIP.")
    parser.add_argument("--seed", type=int, default=1, help="seed of the model and the scenes")
    parser.add_argument("--steps", type=int, default=650, help="optimizer steps")
    parser.add_argument("--batch-size", type=int, default=64, help="scenes per step")
    parser.add_argument("--lr", type=float, default=2e-3, help="peak learning rate")
    parser.add_argument("--warmup", type=int, default=40, help="warm-up steps")
    parser.add_argument("--weight-decay", type=float, default=0.05, help="AdamW weight decay")
    parser.add_argument("--resolution", type=int, default=192, help="input resolution R, a multiple of 32")
    parser.add_argument("--start-resolution", type=int, default=128,
                        help="input resolution of the first --start-steps steps, a multiple of 32")
    parser.add_argument("--start-steps", type=int, default=400,
                        help="steps at --start-resolution before switching to --resolution")
    parser.add_argument("--vision-width", type=int, default=16, help="ResNet width; layer4 has 32x this many channels")
    parser.add_argument("--embed-dim", type=int, default=64, help="joint embedding size")
    parser.add_argument("--text-width", type=int, default=64, help="text transformer width, a multiple of 64")
    parser.add_argument("--context-length", type=int, default=77, help="text positions")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--log-every", type=int, default=20, help="steps between log lines")
    parser.add_argument("--validate-every", type=int, default=200, help="steps between validation runs")
    parser.add_argument("--vocab", default=os.path.join(HERE, "shapes-vocab.txt.gz"),
                        help="vocabulary file, learned from the captions when missing")
    parser.add_argument("--out", default=os.path.join(HERE, "shapes-rn.pt"), help="archive to write")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    start_resolution = args.start_resolution or args.resolution
    for option, value in (("--resolution", args.resolution), ("--start-resolution", start_resolution)):
        if value % 32:
            sys.exit(f"train.py: {option} {value} is invalid: it must be a multiple of 32")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)

    if not os.path.exists(args.vocab):
        bpe.write_vocab(bpe.learn_merges(scenes.CAPTIONS), args.vocab)
    tokenizer = bpe.Tokenizer.from_file(args.vocab)
    text_tokens = torch.tensor([tokenizer.tokenize(c, args.context_length) for c in scenes.CAPTIONS])

    model = CLIP(
        embed_dim=args.embed_dim, image_resolution=start_resolution, vision_layers=(1, 1, 1, 1),
        vision_width=args.vision_width, context_length=args.context_length,
        vocab_size=tokenizer.vocab_size, transformer_width=args.text_width, transformer_layers=1,
    )
    optimizer = make_optimizer(model, args.lr, args.weight_decay)
    print(f"parameters: {sum(p.numel() for p in model.parameters())}, "
          f"vocabulary size {tokenizer.vocab_size}, R {start_resolution}", flush=True)

    # Training and validation scenes come from separate generators, and the
    # evaluation sets of check_localisation.py use other seeds again.
    train_rng = np.random.default_rng([args.seed, 0])
    val_rng = np.random.default_rng([args.seed, 1])
    val_scenes = [scenes.make_scene(val_rng, 1, 3, share_prob=SHARE_PROB) for _ in range(VALIDATION_SCENES)]
    val_present = torch.tensor([
        [caption in {obj["caption"] for obj in objects} for caption in scenes.CAPTIONS]
        for _, _, objects in val_scenes
    ])
    val_uint8 = np.stack([image for image, _, _ in val_scenes])

    start = time.time()
    running = 0.0
    for step in range(args.steps):
        if step == args.start_steps and model.image_resolution != args.resolution:
            resize_attention_pool(model, optimizer, args.resolution)
            print(f"step {step}: input resolution now {args.resolution}", flush=True)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, args.steps, args.lr, args.warmup)
        images, present = draw_batch(train_rng, args.batch_size, model.image_resolution)
        model.train()
        logits = model.logits(model.encode_image(images), model.encode_text(text_tokens))
        loss = contrastive_loss(logits, present)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0.0, MAX_LOGIT_SCALE)

        running += loss.item()
        if (step + 1) % args.log_every == 0:
            print(f"step {step + 1}/{args.steps} loss {running / args.log_every:.4f} "
                  f"scale {model.logit_scale.exp().item():.1f} "
                  f"elapsed {time.time() - start:.0f}s", flush=True)
            running = 0.0
        if (step + 1) % args.validate_every == 0 or step + 1 == args.steps:
            model.eval()
            val_images = to_input(val_uint8, model.image_resolution)
            accuracy = caption_accuracy(model, val_images, val_present, text_tokens)
            print(f"step {step + 1} validation caption accuracy {accuracy:.3f}", flush=True)
            save_archive(release_state_dict(model), args.out)

    # Reload what was written, so a broken archive fails here and not later.
    reloaded = build_from_state_dict(load_state_dict(args.out))
    val_images = to_input(val_uint8, reloaded.image_resolution)
    accuracy = caption_accuracy(reloaded, val_images, val_present, text_tokens)
    print(f"done in {time.time() - start:.0f}s; archive {args.out} "
          f"({os.path.getsize(args.out)} bytes) reloads with validation caption accuracy "
          f"{accuracy:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
