#!/usr/bin/python3
"""Time the Python reference (tests/python/reference.py) on one method.

    reference_timing.py --model M.pt --input crop.rgb --ids "49406 ... 49407"
                        --method gscorecam [--topk 300] [--batch 32]
                        [--threads N] [--runs 5]

Runs one warm-up (for the scoring methods, on a single batch of channels, so
every kernel and allocation size has been seen once), then --runs timed maps.
Prints one line: median seconds, peak resident KiB (ru_maxrss), and the
float32 size of the model's tensors in bytes.
"""

import argparse
import pathlib
import resource
import statistics
import sys
import time

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests" / "python"))
import reference  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--input", required=True, help="R x R x 3 RGB8 input file")
    parser.add_argument("--ids", required=True, help="token ids separated by spaces")
    parser.add_argument("--method", required=True, choices=reference.METHODS)
    parser.add_argument("--topk", type=int, default=reference.DEFAULT_TOPK)
    parser.add_argument("--batch", type=int, default=reference.DEFAULT_BATCH)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--runs", type=int, default=5, help="timed maps after the warm-up")
    args = parser.parse_args()

    torch.set_num_threads(max(1, args.threads))
    model = reference.load_model(args.model)
    model_bytes = sum(t.numel() * 4 for t in model.weights.values() if t.is_floating_point())
    r = model.arch.input_resolution
    with open(args.input, "rb") as f:
        x = reference.normalise_rgb8(f.read(), r)
    ids = reference.pad_ids([int(t) for t in args.ids.split()], model.arch.context_length)
    out_size = (r, r)

    scored = args.method in ("gscorecam", "scorecam")
    if scored:
        reference.gscorecam(model, x, ids, args.batch, out_size, args.batch)
    else:
        reference.compute_map(model, x, ids, args.method, args.topk, out_size, args.batch)

    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        reference.compute_map(model, x, ids, args.method, args.topk, out_size, args.batch)
        times.append(time.perf_counter() - start)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{statistics.median(times):.6f} {peak_kib} {model_bytes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
