"""The ctypes binding in examples/python covers every function of the header
and computes the same map as the command line, bit for bit, also with
Python's torch loaded in the same process.

Exit status 0 passed, 1 failed, 77 skipped (test data or fixture missing).
"""

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("GSCAM_BUILD", ROOT / "build"))
SHARED = Path(os.environ.get("GSCAM_SHARED", ROOT.parent / "shared"))
MODEL = BUILD / "fixtures" / "small-rn.pt"
VOCAB = SHARED / "clip" / "bpe_simple_vocab_16e6.txt.gz"
IMAGE = SHARED / "images" / "chelsea.png"
PROMPT = "a photo of a cat"

os.environ.setdefault("GSCAM_LIBRARY", str(BUILD / "libgscorecam.so.0"))
sys.path.insert(0, str(ROOT / "examples" / "python"))
import gscorecam  # noqa: E402


def header_functions():
    """Names of the functions include/gscorecam.h declares, comments left out."""
    text = subprocess.run(["cc", "-E", "-P", "-I", str(ROOT / "include"), str(ROOT / "include" / "gscorecam.h")],
                          check=True, capture_output=True, text=True).stdout
    return set(re.findall(r"\b(gscam_[a-z0-9_]+)\s*\(", text))


def test_binding_declares_every_function():
    missing = header_functions() - set(gscorecam.FUNCTIONS)
    assert not missing, f"functions of gscorecam.h without argtypes in the binding: {sorted(missing)}"
    for name in gscorecam.FUNCTIONS:
        function = getattr(gscorecam.lib, name)
        assert function.argtypes is not None, f"{name}: argtypes not set"


def test_binding_version_matches_header():
    header = (ROOT / "include" / "gscorecam.h").read_text()
    parts = [re.search(rf"#define GSCAM_VERSION_{p} (\d+)", header).group(1) for p in ("MAJOR", "MINOR", "PATCH")]
    assert gscorecam.version_string() == ".".join(parts)


def test_missing_model_raises_io_error():
    path = BUILD / "fixtures" / "no-such-model.pt"
    try:
        gscorecam.Model(path)
    except gscorecam.GscamError as error:
        assert error.name == "GSCAM_ERR_IO", error
        assert str(path) in error.message, error.message
    else:
        raise AssertionError("loading a missing model did not raise GscamError")


def test_map_equals_command_line_npy():
    with tempfile.TemporaryDirectory() as tmp:
        npy = Path(tmp) / "map.npy"
        subprocess.run([str(BUILD / "gscorecam"), "map", "--model", str(MODEL), "--vocab", str(VOCAB),
                        "--image", str(IMAGE), "--text", PROMPT, "--topk", "100", "--threads", "1",
                        "--quiet", "--npy", str(npy)], check=True, capture_output=True)
        expected = np.load(npy)

    model = gscorecam.Model(MODEL)
    tokenizer = gscorecam.Tokenizer(VOCAB)
    got = gscorecam.map(model, tokenizer, IMAGE, PROMPT, method="gscorecam", topk=100, threads=1)
    model.close()
    tokenizer.close()

    assert got.dtype == np.float32, f"the binding returned {got.dtype}, expected float32"
    assert got.shape == expected.shape, f"the binding returned shape {got.shape}, the command line {expected.shape}"
    assert got.max() > 0.0, "the map is all zero"
    differ = int(np.count_nonzero(got != expected))
    assert differ == 0, f"{differ} of {got.size} values differ from gscorecam map --npy, max {np.abs(got - expected).max()}"


def test_map_with_torch_in_the_same_process():
    """Python's torch shares libtorch's allocator, which the library puts a
    cache in front of. Tensors torch makes before, between and after maps
    stay intact, and the maps do not change."""
    import torch

    before = torch.arange(1 << 20, dtype=torch.float32)
    model = gscorecam.Model(MODEL)
    tokenizer = gscorecam.Tokenizer(VOCAB)
    first = gscorecam.map(model, tokenizer, IMAGE, PROMPT, method="gscorecam", topk=100, threads=1)
    between = torch.full((1 << 21,), 2.0)
    second = gscorecam.map(model, tokenizer, IMAGE, PROMPT, method="gscorecam", topk=100, threads=1)
    model.close()
    tokenizer.close()
    after = torch.ones(1 << 21) + between

    assert float(before[-1]) == float((1 << 20) - 1), "a tensor made before the maps changed"
    assert float(between.sum()) == 2.0 * (1 << 21), "a tensor made between the maps changed"
    assert float(after.min()) == 3.0, "a tensor made after the maps is wrong"
    del before, between, after
    assert np.array_equal(first, second), "two maps of the same input differ"


def main():
    missing = [str(p) for p in (VOCAB, IMAGE) if not p.exists()]
    if missing:
        print(f"SKIPPED: test_ffi_binding: test data not found: {', '.join(missing)} (set GSCAM_SHARED)")
        return 77
    if not MODEL.exists():
        print(f"SKIPPED: test_ffi_binding: {MODEL} not found (run make fixtures)")
        return 77

    failed = 0
    for name, test in sorted(globals().items()):
        if not name.startswith("test_") or not callable(test):
            continue
        try:
            test()
        except Exception as error:  # report every failing test, not only the first
            failed += 1
            print(f"FAILED: {name}: {type(error).__name__}: {error}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
