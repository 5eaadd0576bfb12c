#!/usr/bin/python3
"""Check make_archive.py against the release layouts.

Every release's state dict must have exactly the names, shapes and dtypes of
its layout file, with the release values of the metadata scalars. RN50,
ViT-B-32 and the two small models are written to disk and read back with
torch.jit.load. The larger releases are checked on the in-memory state dict,
because writing them takes most of this test's time for no extra coverage.

Run: /usr/bin/python3 tests/python/test_archives.py
"""

import math
import pathlib
import subprocess
import sys
import tempfile
import unittest

import torch

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import make_archive  # noqa: E402
import reference  # noqa: E402

# Releases written to disk and loaded back; the others are checked in memory.
WRITTEN_RELEASES = ("RN50", "ViT-B-32")
ALL_RELEASES = ("RN50", "RN101", "RN50x4", "RN50x16", "RN50x64",
                "ViT-B-32", "ViT-B-16", "ViT-L-14", "ViT-L-14-336px")
# Names gscam_model_architecture() gives the releases.
RELEASE_NAMES = {"RN50": "RN50", "RN101": "RN101", "RN50x4": "RN50x4", "RN50x16": "RN50x16",
                 "RN50x64": "RN50x64", "ViT-B-32": "ViT-B/32", "ViT-B-16": "ViT-B/16",
                 "ViT-L-14": "ViT-L/14", "ViT-L-14-336px": "ViT-L/14@336px"}


def layouts_present():
    return (make_archive.shared_dir() / "clip" / "architectures").is_dir()


def skip_without_layouts(test):
    if not layouts_present():
        reason = f"no release layouts under {make_archive.shared_dir()} (set GSCAM_SHARED)"
        print(f"SKIPPED: {test.id()}: {reason}")
        raise unittest.SkipTest(reason)


def config_from_architecture(arch):
    """Turn an inferred Architecture into make_archive's layout config."""
    config = dict(embed_dim=arch.embed_dim, text_width=arch.text_width,
                  text_layers=arch.text_layers, context_length=arch.context_length,
                  vocab_size=arch.vocab_size, vision_width=arch.vision_width,
                  vision_layers=arch.vision_layers)
    if arch.is_vit:
        config.update(kind="vit", patch=arch.patch, grid=arch.grid)
    else:
        config.update(kind="resnet", resolution=arch.input_resolution)
    return config


class ArchiveLayoutTest(unittest.TestCase):

    def assert_matches_layout(self, state, layout):
        expected = {key: (shape, dtype, value) for key, shape, dtype, value in layout}
        self.assertEqual(sorted(state), sorted(expected))
        for key, tensor in state.items():
            shape, dtype, value = expected[key]
            self.assertEqual(tuple(tensor.shape), shape, key)
            self.assertEqual(tensor.dtype, dtype, key)
            if value is not None:
                self.assertEqual(int(tensor), value, key)
            if tensor.is_floating_point():
                self.assertTrue(bool(torch.isfinite(tensor).all()), f"{key} is not finite")

    def write_and_load(self, arch, seed=1):
        with tempfile.TemporaryDirectory() as tmp:
            path = pathlib.Path(tmp) / f"{arch}.pt"
            subprocess.run([sys.executable, str(HERE / "make_archive.py"), "--arch", arch,
                            "--seed", str(seed), "--out", str(path)],
                           check=True, capture_output=True)
            return torch.jit.load(str(path), map_location="cpu").state_dict()

    def test_written_releases_match_layout(self):
        skip_without_layouts(self)
        for arch in WRITTEN_RELEASES:
            with self.subTest(arch=arch):
                state = self.write_and_load(arch)
                self.assert_matches_layout(state, make_archive.read_layout(arch))

    def test_other_releases_match_layout_in_memory(self):
        skip_without_layouts(self)
        for arch in ALL_RELEASES:
            if arch in WRITTEN_RELEASES:
                continue
            with self.subTest(arch=arch):
                layout = make_archive.read_layout(arch)
                state = make_archive.make_state_dict(layout, seed=1)
                self.assert_matches_layout(state, layout)
                del state

    def test_small_models_load_back(self):
        for arch in ("small-rn", "small-vit"):
            with self.subTest(arch=arch):
                state = self.write_and_load(arch)
                self.assert_matches_layout(state, make_archive.layout_for(arch))

    def test_layout_builder_reproduces_releases(self):
        # The small models come from build_layout, so it must give every
        # release exactly its layout file, order included.
        skip_without_layouts(self)
        for arch in ALL_RELEASES:
            with self.subTest(arch=arch):
                layout = make_archive.read_layout(arch)
                meta = {key: torch.empty(shape, dtype=dtype, device="meta")
                        for key, shape, dtype, _ in layout}
                inferred = reference.infer_architecture(meta)
                self.assertEqual(inferred.name, RELEASE_NAMES[arch])
                built = make_archive.build_layout(config_from_architecture(inferred))
                self.assertEqual(built, layout)

    def test_release_dtype_rule_matches_layouts(self):
        skip_without_layouts(self)
        for arch in ALL_RELEASES:
            for key, _, dtype, _ in make_archive.read_layout(arch):
                self.assertEqual(make_archive.release_dtype(key), dtype, f"{arch}: {key}")

    def test_seed_determines_weights(self):
        layout = make_archive.layout_for("small-rn")
        first = make_archive.make_state_dict(layout, seed=3)
        again = make_archive.make_state_dict(layout, seed=3)
        other = make_archive.make_state_dict(layout, seed=4)
        key = "visual.layer4.0.conv2.weight"
        self.assertTrue(torch.equal(first[key], again[key]))
        self.assertFalse(torch.equal(first[key], other[key]))

    def test_logit_scale_is_ln_100(self):
        state = make_archive.make_state_dict(make_archive.layout_for("small-vit"), seed=1)
        self.assertEqual(state["logit_scale"].dtype, torch.float32)
        self.assertAlmostEqual(float(state["logit_scale"]), math.log(100.0), places=6)

    def test_unknown_architecture_fails(self):
        result = subprocess.run([sys.executable, str(HERE / "make_archive.py"), "--arch", "RN42",
                                 "--out", "/nonexistent/x.pt"], capture_output=True, text=True)
        self.assertEqual(result.returncode, 2)
        self.assertIn("unknown architecture 'RN42'", result.stderr)


if __name__ == "__main__":
    torch.set_num_threads(1)
    unittest.main()
