#!/usr/bin/python3
"""Self-tests of the CLIP and CAM reference on the small random models.

Run: /usr/bin/python3 tests/python/test_reference.py
Tests that need a photograph from the shared test data print
"SKIPPED: <test>: <reason>" when it is absent ($GSCAM_SHARED, or ../shared
beside the checkout).
"""

import pathlib
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import make_archive  # noqa: E402
import reference  # noqa: E402

PHOTO = "chelsea.png"
# "a cat" in OpenAI's vocabulary, with start and end tokens.
CAT_IDS = [49406, 320, 2368, 49407]
DOG_IDS = [49406, 320, 1929, 49407]
# A ResNet with 64 layer4 channels and one attention head, so that ScoreCAM
# over every channel stays quick with torch's generic BLAS.
TINY_RESNET = dict(kind="resnet", vision_layers=(1, 1, 1, 1), vision_width=2, resolution=64,
                   embed_dim=64, text_width=64, text_layers=1)


def photo_path():
    return make_archive.shared_dir() / "images" / PHOTO


def uses_photo(test_method):
    """Mark a test that reads the photograph, so that setUp skips it when absent."""
    test_method.uses_photo = True
    return test_method


def photo_input_bytes(resolution):
    """Return the photo squashed to R x R RGB8 with Pillow's bicubic."""
    image = Image.open(photo_path()).convert("RGB")
    return image.resize((resolution, resolution), Image.BICUBIC).tobytes()


class ReferenceTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(1)
        cls.tmp = tempfile.TemporaryDirectory()
        cls.paths = {}
        cls.models = {}
        for arch in ("small-rn", "small-vit", "tiny-rn"):
            path = pathlib.Path(cls.tmp.name) / f"{arch}.pt"
            layout = make_archive.build_layout(TINY_RESNET) if arch == "tiny-rn" \
                else make_archive.layout_for(arch)
            state = make_archive.make_state_dict(layout, seed=1)
            make_archive.save_archive(state, path)
            cls.paths[arch] = path
            cls.models[arch] = reference.load_model(path)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def setUp(self):
        method = getattr(self, self._testMethodName)
        if getattr(method, "uses_photo", False) and not photo_path().is_file():
            reason = f"{photo_path()} not found (set GSCAM_SHARED)"
            print(f"SKIPPED: {self.id()}: {reason}")
            self.skipTest(reason)

    def photo(self, arch):
        model = self.models[arch]
        data = photo_input_bytes(model.arch.input_resolution)
        return model, reference.normalise_rgb8(data, model.arch.input_resolution)

    def ids(self, model, ids=CAT_IDS):
        return reference.pad_ids(ids, model.arch.context_length)

    def assert_valid_map(self, result, shape):
        self.assertEqual(tuple(result.map.shape), shape)
        self.assertEqual(result.map.dtype, torch.float32)
        self.assertTrue(bool(torch.isfinite(result.map).all()))
        self.assertGreaterEqual(float(result.map.min()), 0.0)
        self.assertLessEqual(float(result.map.max()), 1.0)
        self.assertFalse(result.flat)
        self.assertGreater(float(result.map.max()), 0.99)

    # ---- architecture -----------------------------------------------------

    def test_infer_small_resnet(self):
        arch = self.models["small-rn"].arch
        self.assertFalse(arch.is_vit)
        self.assertEqual(arch.name, "ResNet")
        self.assertEqual(arch.vision_layers, (1, 1, 2, 1))
        self.assertEqual(arch.input_resolution, 128)
        self.assertEqual(arch.grid, 4)
        self.assertEqual(arch.target_channels, 512)
        self.assertEqual(arch.vision_heads, 8)
        self.assertEqual(arch.embed_dim, 64)
        self.assertEqual((arch.text_width, arch.text_heads, arch.text_layers), (64, 1, 2))
        self.assertEqual((arch.context_length, arch.vocab_size), (77, 49408))

    def test_infer_small_vit(self):
        arch = self.models["small-vit"].arch
        self.assertTrue(arch.is_vit)
        self.assertEqual(arch.name, "ViT")
        self.assertEqual((arch.vision_width, arch.patch, arch.grid), (64, 16, 4))
        self.assertEqual(arch.input_resolution, 64)
        self.assertEqual(arch.vision_layers, 2)
        self.assertEqual(arch.target_layer, "visual.transformer.resblocks.1")
        self.assertEqual(arch.target_channels, 64)

    def test_info_command(self):
        out = subprocess.run([sys.executable, str(HERE / "reference.py"), "info",
                              "--model", str(self.paths["small-rn"])],
                             check=True, capture_output=True, text=True).stdout
        self.assertEqual(out.splitlines(), ["architecture: ResNet", "input_resolution: 128",
                                            "embed_dim: 64", "target_layer: visual.layer4",
                                            "target_channels: 512", "grid: 4"])

    # ---- towers -----------------------------------------------------------

    @uses_photo
    def test_forward_on_photo_is_informative(self):
        for arch in ("small-rn", "small-vit"):
            with self.subTest(arch=arch):
                model, x = self.photo(arch)
                ids = torch.cat([self.ids(model), self.ids(model, DOG_IDS)])
                with torch.no_grad():
                    logits = reference.logits(model, x, ids)
                    activation, grad, _ = reference.target_activation(model, x, ids[:1])
                self.assertTrue(bool(torch.isfinite(logits).all()))
                self.assertNotAlmostEqual(float(logits[0, 0]), float(logits[0, 1]), places=3)
                self.assertTrue(bool(torch.isfinite(activation).all()))
                self.assertTrue(bool((activation != 0).any()))
                channel_means = activation[0].mean(dim=(1, 2))
                self.assertGreater(float(channel_means.std()), 1e-3)
                spatial_std = activation[0].flatten(1).std(dim=1)
                self.assertGreater(int((spatial_std > 1e-4).sum()), activation.shape[1] // 4)
                self.assertGreater(float(grad.abs().max()), 0.0)

    def test_attention_matches_torch_multi_head(self):
        # The hand-written attention against torch's own implementation.
        torch.manual_seed(0)
        width, heads, length = 128, 2, 5
        x = torch.randn(1, length, width)
        in_w, in_b = torch.randn(3 * width, width) / width ** 0.5, torch.randn(3 * width) * 0.1
        out_w, out_b = torch.randn(width, width) / width ** 0.5, torch.randn(width) * 0.1
        mask = torch.full((length, length), float("-inf")).triu(1)
        q, k, v = F.linear(x, in_w, in_b).chunk(3, dim=-1)
        ours, _ = reference._multi_head(q, k, v, heads, mask)
        ours = F.linear(ours, out_w, out_b)
        seq = x.transpose(0, 1)
        theirs, _ = F.multi_head_attention_forward(
            seq, seq, seq, width, heads, in_w, in_b, None, None, False, 0.0, out_w, out_b,
            training=False, need_weights=False, attn_mask=mask)
        torch.testing.assert_close(ours, theirs.transpose(0, 1), rtol=1e-5, atol=1e-5)

    def test_text_ignores_tokens_after_end(self):
        # The causal mask keeps the end token's features blind to later positions.
        model = self.models["small-rn"]
        plain = self.ids(model)
        noisy = plain.clone()
        noisy[0, len(CAT_IDS):] = 400
        with torch.no_grad():
            a = reference.encode_text(model, plain)
            b = reference.encode_text(model, noisy)
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)

    # ---- methods ----------------------------------------------------------

    @uses_photo
    def test_every_method_gives_map_in_unit_range(self):
        # ScoreCAM on small-rn scores 512 masked inputs; tiny-rn covers it.
        cases = [("small-rn", m) for m in ("gscorecam", "gradcam", "gradcam++")]
        cases += [("tiny-rn", m) for m in ("gscorecam", "scorecam", "gradcam", "gradcam++")]
        cases += [("small-vit", m) for m in reference.METHODS]
        for arch, method in cases:
            with self.subTest(arch=arch, method=method):
                model, x = self.photo(arch)
                resolution = model.arch.input_resolution
                result = reference.compute_map(model, x, self.ids(model), method, topk=20)
                self.assert_valid_map(result, (resolution, resolution))
                resized = reference.compute_map(model, x, self.ids(model), method, topk=20,
                                                out_size=(50, 70))
                self.assert_valid_map(resized, (50, 70))

    @uses_photo
    def test_gscorecam_with_all_channels_equals_scorecam(self):
        for arch in ("tiny-rn", "small-vit"):
            with self.subTest(arch=arch):
                model, x = self.photo(arch)
                channels = model.arch.target_channels
                full = reference.gscorecam(model, x, self.ids(model), topk=channels)
                score = reference.scorecam(model, x, self.ids(model))
                clamped = reference.gscorecam(model, x, self.ids(model), topk=channels + 1000)
                self.assertTrue(torch.equal(full.map, score.map))
                self.assertTrue(torch.equal(clamped.map, score.map))
                self.assertEqual(len(clamped.channels), channels)

    @uses_photo
    def test_gscorecam_channels_follow_importance(self):
        model, x = self.photo("small-rn")
        result = reference.gscorecam(model, x, self.ids(model), topk=20)
        with torch.no_grad():
            _, grad, logit = reference.target_activation(model, x, self.ids(model))
        importance = grad[0].mean(dim=(1, 2))
        self.assertEqual(len(result.channels), 20)
        self.assertEqual(result.channels, torch.topk(importance, 20).indices.tolist())
        chosen = importance[result.channels]
        self.assertTrue(bool((chosen[:-1] >= chosen[1:]).all()))
        self.assertAlmostEqual(result.logit, logit, places=5)

    @uses_photo
    def test_gscorecam_batch_size_does_not_change_map(self):
        model, x = self.photo("small-rn")
        one = reference.gscorecam(model, x, self.ids(model), topk=10, batch=1)
        seven = reference.gscorecam(model, x, self.ids(model), topk=10, batch=7)
        torch.testing.assert_close(one.map, seven.map, rtol=0, atol=1e-4)

    @uses_photo
    def test_vit_gradient_is_class_token_gradient(self):
        model, x = self.photo("small-vit")
        activation, grad, _ = reference.target_activation(model, x, self.ids(model))
        grid = model.arch.grid
        self.assertEqual(tuple(activation.shape), (1, 64, grid, grid))
        self.assertTrue(torch.equal(grad, grad[:, :, :1, :1].expand_as(grad)))

    @uses_photo
    def test_topk_zero_is_invalid(self):
        model, x = self.photo("small-rn")
        for topk in (0, -3):
            with self.subTest(topk=topk):
                with self.assertRaises(ValueError):
                    reference.gscorecam(model, x, self.ids(model), topk=topk)

    @uses_photo
    def test_hilacam_rejects_resnet(self):
        model, x = self.photo("small-rn")
        with self.assertRaises(ValueError):
            reference.hilacam(model, x, self.ids(model))

    # ---- degenerate cases ---------------------------------------------------

    def test_constant_channel_gives_zero_mask(self):
        activation = torch.rand(1, 3, 4, 4)
        activation[0, 1] = 0.3
        masks = reference.channel_masks(activation, torch.tensor([0, 1, 2]), 128)
        self.assertTrue(bool(torch.isfinite(masks).all()))
        self.assertTrue(bool((masks[1] == 0).all()))
        self.assertGreater(float(masks[0].max()), 0.99)
        self.assertEqual(float(masks[0].min()), 0.0)

    def test_nan_score_becomes_zero(self):
        model = self.models["small-rn"]
        resolution = model.arch.input_resolution
        x = torch.randn(1, 3, resolution, resolution)
        masks = torch.rand(4, resolution, resolution)
        real_encode = reference.encode_image

        def encode_with_nan(m, images):
            out = real_encode(m, images).clone()
            out[1] = float("nan")
            return out

        with torch.no_grad(), mock.patch.object(reference, "encode_image", encode_with_nan):
            scores = reference.masked_scores(model, x, self.ids(model), masks, batch=4)
        self.assertEqual(float(scores[1]), 0.0)
        self.assertTrue(bool(torch.isfinite(scores).all()))
        self.assertTrue(bool((scores[[0, 2, 3]] != 0).all()))

    def test_all_zero_cam_gives_flat_zero_map(self):
        activation = torch.rand(1, 5, 4, 4)
        weights = -torch.rand(5)
        result = reference.finish_map(activation, weights, (9, 11), logit=1.0)
        self.assertTrue(result.flat)
        self.assertEqual(tuple(result.map.shape), (9, 11))
        self.assertTrue(bool((result.map == 0).all()))

    def test_constant_positive_cam_gives_zero_map_not_nan(self):
        # relu(cam) is constant but non-zero: scaling gives 0 everywhere.
        activation = torch.ones(1, 2, 4, 4)
        result = reference.finish_map(activation, torch.tensor([0.5, 0.5]), (8, 8), 1.0)
        self.assertFalse(result.flat)
        self.assertTrue(bool(torch.isfinite(result.map).all()))
        self.assertTrue(bool((result.map == 0).all()))

    # ---- command line -------------------------------------------------------

    def run_reference(self, *args):
        return subprocess.run([sys.executable, str(HERE / "reference.py"), *args],
                              capture_output=True, text=True)

    def write_photo(self, arch, folder):
        resolution = self.models[arch].arch.input_resolution
        path = pathlib.Path(folder) / "crop.rgb"
        path.write_bytes(photo_input_bytes(resolution))
        return path

    @uses_photo
    def test_map_command_writes_outputs(self):
        with tempfile.TemporaryDirectory() as tmp:
            crop = self.write_photo("small-rn", tmp)
            npy, channels, logit = (pathlib.Path(tmp) / n for n in ("m.npy", "c.txt", "l.txt"))
            result = self.run_reference(
                "map", "--model", str(self.paths["small-rn"]), "--input", str(crop),
                "--ids", " ".join(map(str, CAT_IDS)), "--method", "gscorecam", "--topk", "12",
                "--out-size", "30", "40", "--npy", str(npy), "--channels", str(channels),
                "--logit", str(logit), "--batch", "8")
            self.assertEqual(result.returncode, 0, result.stderr)
            saved = np.load(npy)
            self.assertEqual(saved.shape, (30, 40))
            self.assertEqual(saved.dtype, np.float32)
            self.assertGreaterEqual(float(saved.min()), 0.0)
            self.assertLessEqual(float(saved.max()), 1.0)
            self.assertEqual(len(channels.read_text().split()), 12)
            self.assertEqual(len(channels.read_text().splitlines()), 1)
            float(logit.read_text())

    @uses_photo
    def test_score_command_prints_logits_and_probabilities(self):
        with tempfile.TemporaryDirectory() as tmp:
            crop = self.write_photo("small-vit", tmp)
            result = self.run_reference(
                "score", "--model", str(self.paths["small-vit"]), "--input", str(crop),
                "--ids", " ".join(map(str, CAT_IDS)), "--ids", " ".join(map(str, DOG_IDS)))
            self.assertEqual(result.returncode, 0, result.stderr)
            rows = [list(map(float, line.split())) for line in result.stdout.splitlines()]
            self.assertEqual(len(rows), 2)
            self.assertAlmostEqual(rows[0][1] + rows[1][1], 1.0, places=5)

    def test_map_command_rejects_wrong_input_size(self):
        with tempfile.TemporaryDirectory() as tmp:
            crop = pathlib.Path(tmp) / "short.rgb"
            crop.write_bytes(bytes(100))
            result = self.run_reference(
                "map", "--model", str(self.paths["small-rn"]), "--input", str(crop),
                "--ids", "49406 49407", "--npy", str(pathlib.Path(tmp) / "m.npy"))
            self.assertEqual(result.returncode, 1)
            self.assertIn("input holds 100 bytes", result.stderr)


if __name__ == "__main__":
    unittest.main()
