#!/usr/bin/python3
"""Write the seed corpora of the fuzz harnesses.

    make_seeds.py OUT_DIR

OUT_DIR/fuzz_image gets small PNG and JPEG files of every colour type, bit
depth and coding the decoders support, plus the shared sample images under
64 KB. OUT_DIR/fuzz_tokenizer gets the prompts of the shared tokenizer
vectors and a few hostile ones. OUT_DIR/fuzz_archive gets the micro and
hostile archives of tests/python/hostile_archives.py and two small torch.save
files. The shared folder is $GSCAM_SHARED, or ../shared beside the checkout.
"""

import io
import os
import pathlib
import subprocess
import sys

import torch
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Seeds above this size slow every mutation and add little.
MAX_SHARED_IMAGE_BYTES = 65536


def shared_dir():
    env = os.environ.get("GSCAM_SHARED")
    return pathlib.Path(env) if env else ROOT.parent / "shared"


def gradient(mode, width, height):
    """Return a small image with distinct pixel values in the given mode."""
    img = Image.new("RGB", (width, height))
    img.putdata([((x * 37) % 256, (y * 59) % 256, ((x + y) * 23) % 256)
                 for y in range(height) for x in range(width)])
    if mode == "I;16":
        return img.convert("L").convert("I").point(lambda v: v * 257).convert("I;16")
    return img.convert(mode)


def image_seeds(out):
    def save(name, img, **kw):
        buf = io.BytesIO()
        img.save(buf, **kw)
        (out / name).write_bytes(buf.getvalue())

    for mode in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16"):
        save(f"png-{mode.replace(';', '')}.png", gradient(mode, 9, 7), format="PNG")
    palette = gradient("P", 8, 8)
    palette.info["transparency"] = 3
    save("png-palette-trns.png", palette, format="PNG", transparency=3)
    exif = Image.Exif()
    exif[0x0112] = 6
    save("png-exif.png", gradient("RGB", 5, 3), format="PNG", exif=exif)

    for mode in ("L", "RGB", "CMYK"):
        save(f"jpeg-{mode}.jpg", gradient(mode, 17, 9), format="JPEG", quality=80)
    save("jpeg-progressive.jpg", gradient("RGB", 24, 16), format="JPEG", progressive=True)
    save("jpeg-444.jpg", gradient("RGB", 8, 8), format="JPEG", subsampling=0)
    save("jpeg-exif.jpg", gradient("RGB", 6, 4), format="JPEG", exif=exif)

    for path in sorted((shared_dir() / "images").glob("*")):
        if path.stat().st_size <= MAX_SHARED_IMAGE_BYTES:
            (out / f"shared-{path.name}").write_bytes(path.read_bytes())


def tokenizer_seeds(out):
    rows = (shared_dir() / "vectors" / "tokenizer.tsv").read_text(encoding="utf-8").split("\n")
    count = 0
    for row in rows:
        if row.startswith("#") or not row.strip():
            continue
        (out / f"vector-{count:03d}.txt").write_bytes(bytes.fromhex(row.split("\t")[0]))
        count += 1
    extra = [b"", b"<|startoftext|>a<|endoftext|>", b"a\0cat", b"\xff\xfe", b"caf\xc3\xa9 &amp; &#x1F600;",
             b"\xc3\x83\xc2\xa9", b"\xef\xac\x81 \xef\xbc\xa1", b"word " * 200, b"\x1b[31mred\x1b[0m"]
    for i, text in enumerate(extra):
        (out / f"extra-{i}.txt").write_bytes(text)


def archive_seeds(out):
    subprocess.run([sys.executable, str(ROOT / "tests" / "python" / "hostile_archives.py"), str(out)],
                   check=True)
    torch.save({"a": torch.ones(2, 3), "b": torch.tensor(7)}, out / "dict.pt")
    torch.save({"logit_scale": torch.tensor(4.6), "visual.proj": torch.zeros(4, 2, dtype=torch.float16)},
               out / "dict-clip-names.pt")


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    base = pathlib.Path(argv[1])
    for name, fill in (("fuzz_image", image_seeds), ("fuzz_tokenizer", tokenizer_seeds),
                       ("fuzz_archive", archive_seeds)):
        folder = base / name
        folder.mkdir(parents=True, exist_ok=True)
        fill(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
