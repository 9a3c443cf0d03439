"""Write the PNG decoder's test files: test/png/*.png and, beside each, the RGB pixels the
Python runtime (PIL, lstm_apps.runtime.image.load_image) decodes them to (*.rgb, raw uint8
(H, W, 3)), the source of truth for png.test.js.

    PYTHONPATH=. .venv/bin/python samples/js/test/make_png_fixtures.py

The PNGs are written here by hand (zlib + struct) so that every colour type, bit depth,
all five row filters and Adam7 interlacing occur; PIL cannot write most of them.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from lstm_apps.runtime.image import load_image

OUT = Path(__file__).resolve().parent / "png"
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4),
         (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]  # fmt: skip
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _pack(samples: np.ndarray, depth: int) -> bytes:
    """One row of samples (w * channels,) to bytes at this bit depth (big-endian)."""
    if depth == 16:
        return samples.astype(">u2").tobytes()
    if depth == 8:
        return samples.astype(np.uint8).tobytes()
    per = 8 // depth
    padded = np.zeros(-(-len(samples) // per) * per, np.uint8)
    padded[: len(samples)] = samples
    out = np.zeros(len(padded) // per, np.uint8)
    for k in range(per):
        out |= padded[k::per] << (8 - depth * (k + 1))
    return out.tobytes()


def _filter(rows: list[bytes], bpp: int, rng: np.random.Generator) -> bytes:
    out, prev = b"", bytes(len(rows[0]) if rows else 0)
    for row in rows:
        f = int(rng.integers(0, 5))
        line = bytearray()
        for i, x in enumerate(row):
            a = row[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
            paeth = a if pa <= pb and pa <= pc else b if pb <= pc else c
            p = [0, a, b, (a + b) // 2, paeth][f]
            line.append((x - p) & 255)
        out += bytes([f]) + bytes(line)
        prev = row
    return out


def write_png(path: Path, img: np.ndarray, color: int, depth: int, *, interlace: bool = False,
              palette: np.ndarray | None = None, seed: int = 0) -> None:  # fmt: skip
    """img (H, W, channels) of integer samples at `depth` bits."""
    rng = np.random.default_rng(seed)
    h, w, ch = img.shape
    bpp = max(1, ch * depth // 8)
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    data = b""
    for x0, y0, dx, dy in passes:
        sub = img[y0::dy, x0::dx]
        if sub.size:
            data += _filter([_pack(r.reshape(-1), depth) for r in sub], bpp, rng)
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, int(interlace))
    body = _chunk(b"IHDR", ihdr)
    if palette is not None:
        body += _chunk(b"PLTE", palette.astype(np.uint8).tobytes())
    body += _chunk(b"IDAT", zlib.compress(data)) + _chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)


def main() -> None:
    OUT.mkdir(exist_ok=True)
    rng = np.random.default_rng(15)
    h, w = 11, 13
    cases = []
    for color in (0, 2, 4, 6):
        for depth in (8, 16) + ((1, 2, 4) if color == 0 else ()):
            cases.append((f"c{color}_d{depth}", color, depth, None))
    pal = rng.integers(0, 256, (16, 3))
    cases += [("c3_d8", 3, 8, pal), ("c3_d4", 3, 4, pal), ("c3_d1", 3, 1, pal[:2])]
    for name, color, depth, palette in cases:
        top = len(palette) if palette is not None else 2**depth
        img = rng.integers(0, top, (h, w, CHANNELS[color]))
        if depth == 16:  # the values where v >> 8 and round(v / 257) disagree
            img[0, : min(w, 4)] = [[128], [255], [65280], [65406]][: min(w, 4)]
        for interlace in (False, True):
            path = OUT / f"{name}{'_i' if interlace else ''}.png"
            write_png(path, img, color, depth, interlace=interlace, palette=palette, seed=depth)
            path.with_suffix(".rgb").write_bytes(load_image(path).tobytes())
    print(f"wrote {len(cases) * 2} PNGs and their pixels to {OUT}")


if __name__ == "__main__":
    main()
