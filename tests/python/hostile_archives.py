#!/usr/bin/python3
"""Write model archives that are not what they claim, for the loader's tests.

    hostile_archives.py OUT_DIR

Every file is small (a few hundred KB at most). Two are valid: micro-vit.pt
and micro-rn.pt, CLIP layouts with tiny widths, a 16-entry vocabulary and a
context of 8, which the loader must accept. The others are each broken in one
way:

    not-a-zip.pt         a text file
    empty.pt             0 bytes
    truncated.pt         the first half of micro-vit.pt
    huge-record.pt       micro-vit.pt whose directory gives data/0 a size of 3.75 GiB
    huge-zip64.pt        a zip whose zip64 field gives data/0 a size of 2^50 bytes
    missing-tensor.pt    micro-vit without visual.ln_post.weight
    wrong-shape.pt       micro-vit with visual.proj of shape 64 x 9, not 64 x 8
    nan-weights.pt       micro-vit with a NaN in transformer.resblocks.0.mlp.c_fc.weight
    inf-weights.pt       micro-vit with +inf in visual.conv1.weight
    unknown-arch.pt      a torchvision-style ResNet state dict, no CLIP names
    text-in-state.pt     micro-vit with an integer tensor named visual.proj
"""

import pathlib
import struct
import sys
import zipfile

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from clip_archive import save_archive  # noqa: E402
from make_archive import build_layout, make_state_dict  # noqa: E402

MICRO_TEXT = dict(embed_dim=8, text_width=64, text_layers=1, context_length=8, vocab_size=16)
MICRO_VIT = dict(kind="vit", vision_width=64, patch=4, grid=2, vision_layers=1, **MICRO_TEXT)
MICRO_RN = dict(kind="resnet", vision_layers=(1, 1, 1, 1), vision_width=2, resolution=64, **MICRO_TEXT)


def micro_state(config):
    """Return the state dict of a micro model, with seed 1."""
    return make_state_dict(build_layout(config), 1)


def patch_zip_size(data, record_suffix, size):
    """Return data with the central-directory uncompressed size of the record
    whose name ends with record_suffix set to size (below 2^32)."""
    buf = bytearray(data)
    at = 0
    while True:
        at = buf.find(b"PK\x01\x02", at)
        if at < 0:
            raise ValueError(f"no record ending with {record_suffix!r}")
        name_length = struct.unpack_from("<H", buf, at + 28)[0]
        name = bytes(buf[at + 46:at + 46 + name_length]).decode()
        if name.endswith(record_suffix):
            struct.pack_into("<I", buf, at + 24, size)
            return bytes(buf)
        at += 46


def write_zip64_claim(path):
    """Write a stored zip whose data/0 record claims 2^50 bytes through a zip64 field."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        z.writestr("archive/data/0", b"\0" * 16)
    data = bytearray(path.read_bytes())
    at = data.find(b"PK\x01\x02archive/data/0"[:4], data.find(b"PK\x01\x02") + 1)
    # Rewrite the second directory entry: size 0xFFFFFFFF and a zip64 field.
    name_length = struct.unpack_from("<H", data, at + 28)[0]
    extra_length = struct.unpack_from("<H", data, at + 30)[0]
    struct.pack_into("<I", data, at + 24, 0xFFFFFFFF)
    field = struct.pack("<HHQ", 1, 8, 1 << 50)
    insert_at = at + 46 + name_length + extra_length
    struct.pack_into("<H", data, at + 30, extra_length + len(field))
    data[insert_at:insert_at] = field
    # The end record's directory size grows by the inserted field.
    eocd = data.rfind(b"PK\x05\x06")
    size = struct.unpack_from("<I", data, eocd + 12)[0]
    struct.pack_into("<I", data, eocd + 12, size + len(field))
    path.write_bytes(bytes(data))


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = pathlib.Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)

    vit = micro_state(MICRO_VIT)
    save_archive(vit, out / "micro-vit.pt")
    save_archive(micro_state(MICRO_RN), out / "micro-rn.pt")

    (out / "not-a-zip.pt").write_text("this is a text file, not a model\n")
    (out / "empty.pt").write_bytes(b"")
    valid = (out / "micro-vit.pt").read_bytes()
    (out / "truncated.pt").write_bytes(valid[:len(valid) // 2])
    (out / "huge-record.pt").write_bytes(patch_zip_size(valid, "data/0", 0xF0000000))
    write_zip64_claim(out / "huge-zip64.pt")

    missing = dict(vit)
    del missing["visual.ln_post.weight"]
    save_archive(missing, out / "missing-tensor.pt")

    wrong = dict(vit)
    wrong["visual.proj"] = torch.zeros(64, 9, dtype=torch.float16)
    save_archive(wrong, out / "wrong-shape.pt")

    nan = dict(vit)
    nan["transformer.resblocks.0.mlp.c_fc.weight"] = nan["transformer.resblocks.0.mlp.c_fc.weight"].clone()
    nan["transformer.resblocks.0.mlp.c_fc.weight"][3, 5] = float("nan")
    save_archive(nan, out / "nan-weights.pt")

    inf = dict(vit)
    inf["visual.conv1.weight"] = inf["visual.conv1.weight"].clone()
    inf["visual.conv1.weight"][0, 0, 0, 0] = float("inf")
    save_archive(inf, out / "inf-weights.pt")

    other = {"conv1.weight": torch.randn(4, 3, 3, 3), "bn1.weight": torch.ones(4),
             "layer1.0.conv1.weight": torch.randn(4, 4, 1, 1), "fc.weight": torch.randn(10, 4)}
    torch.save(other, out / "unknown-arch.pt")

    ints = dict(vit)
    ints["visual.proj"] = torch.zeros(64, 8, dtype=torch.int64)
    save_archive(ints, out / "text-in-state.pt")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
