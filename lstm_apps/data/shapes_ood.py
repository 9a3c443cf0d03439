"""Images from outside the shapes domain, to calibrate and test caption confidence.

    images, kinds = ood_images(count=600, seed=0)      # uint8 (N, 128, 128, 3), kind names

A captioner trained on shapes scenes answers every image with a shapes caption. These are
the inputs an app should not trust it on, made here because nothing can be downloaded:
- "flat": one colour, black, white, grey or any (a blank page, a covered camera);
- "noise": uniform or Gaussian colour noise, fine or blocky;
- "texture": stripes, checkerboards and strong value noise in bright colours;
- "text": words rendered in PIL's default font on plain or bright backgrounds;
- "clutter": crops of generated busy pictures, many overlapping bright shapes, blurred,
  like a crop of a photograph;
- "bright": shapes scenes on a bright background (channels 150-255), outside the spec;
- "crowd": 3 to 6 shapes, which no caption of the vocabulary can describe.

Every image is drawn from `np.random.default_rng([seed, index])` alone: a seed gives the
same images on every machine. Calibration uses one seed and the reported figures another.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from lstm_apps.data.shapes_scene import (
    IMAGE_SIZE,
    PALETTE,
    ShapeObject,
    _place,
    _sample_object,
    object_coverage,
    objects_separated,
)

__all__ = ["OOD_KINDS", "ood_image", "ood_images"]

OOD_KINDS = ("flat", "noise", "texture", "text", "clutter", "bright", "crowd")
_WORDS = (
    "hello", "menu", "open", "STOP", "exit", "42", "total", "Page 3", "lstm", "ok",
    "error", "sale", "north", "map", "index", "TODO", "note", "12:30", "caption", "draft",
)  # fmt: skip
_S = IMAGE_SIZE
Uint8Image = npt.NDArray[np.uint8]


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(0, 256, 3))  # type: ignore[return-value]


def _flat(rng: np.random.Generator) -> Uint8Image:
    choice = rng.integers(4)
    rgb = [(0, 0, 0), (255, 255, 255), (128, 128, 128), _colour(rng)][choice]
    return np.broadcast_to(np.array(rgb, np.uint8), (_S, _S, 3)).copy()


def _noise(rng: np.random.Generator) -> Uint8Image:
    block = int(rng.choice([1, 2, 4, 8]))
    n = _S // block
    if rng.random() < 0.5:
        small = rng.integers(0, 256, (n, n, 3))
    else:
        small = rng.normal(rng.uniform(40, 215), rng.uniform(20, 80), (n, n, 3))
    big = np.repeat(np.repeat(small, block, 0), block, 1)
    return np.clip(big, 0, 255).astype(np.uint8)


def _texture(rng: np.random.Generator) -> Uint8Image:
    yy, xx = np.mgrid[0:_S, 0:_S].astype(np.float64)
    a, b = np.array(_colour(rng), float), np.array(_colour(rng), float)
    kind = rng.integers(3)
    if kind == 0:  # stripes
        theta, period = rng.uniform(0, np.pi), rng.uniform(4, 40)
        t = 0.5 + 0.5 * np.sin((xx * np.cos(theta) + yy * np.sin(theta)) * 2 * np.pi / period)
    elif kind == 1:  # checkerboard
        cell = int(rng.integers(4, 33))
        t = ((xx // cell + yy // cell) % 2).astype(np.float64)
    else:  # strong value noise
        cells = int(rng.integers(4, 17))
        grid = rng.random((cells, cells)).astype(np.float32)
        t = np.asarray(
            Image.fromarray(grid, mode="F").resize((_S, _S), Image.Resampling.BICUBIC), float
        )
        t = np.clip(t, 0, 1)
    img = a * (1 - t[..., None]) + b * t[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


def _text(rng: np.random.Generator) -> Uint8Image:
    bg = (255, 255, 255) if rng.random() < 0.4 else _colour(rng)
    canvas = Image.new("RGB", (_S, _S), bg)
    draw = ImageDraw.Draw(canvas)
    for _ in range(int(rng.integers(1, 6))):
        font = ImageFont.load_default(size=float(rng.integers(10, 33)))
        word = _WORDS[rng.integers(len(_WORDS))]
        fg = (0, 0, 0) if bg == (255, 255, 255) and rng.random() < 0.7 else _colour(rng)
        draw.text((float(rng.integers(0, 90)), float(rng.integers(0, 110))), word, fill=fg,
                  font=font)  # fmt: skip
    return np.asarray(canvas, dtype=np.uint8)


def _clutter(rng: np.random.Generator) -> Uint8Image:
    size = int(rng.integers(160, 400))  # a bigger picture, cropped and resized
    canvas = Image.new("RGB", (size, size), _colour(rng))
    draw = ImageDraw.Draw(canvas)
    for _ in range(int(rng.integers(8, 40))):
        x0, y0 = rng.integers(-40, size, 2)
        w, h = rng.integers(10, size // 2 + 10, 2)
        box = [float(x0), float(y0), float(x0 + w), float(y0 + h)]
        if rng.random() < 0.5:
            draw.ellipse(box, fill=_colour(rng))
        else:
            pts = rng.uniform(-40, size + 40, (int(rng.integers(3, 7)), 2))
            draw.polygon([tuple(p) for p in pts.tolist()], fill=_colour(rng))
    canvas = canvas.filter(ImageFilter.GaussianBlur(float(rng.uniform(0, 3))))
    crop = int(rng.integers(size // 3, size + 1))
    x, y = rng.integers(0, size - crop + 1, 2)
    region = canvas.crop((int(x), int(y), int(x) + crop, int(y) + crop))
    return np.asarray(region.resize((_S, _S), Image.Resampling.BILINEAR), dtype=np.uint8)


def _objects(rng: np.random.Generator, n: int) -> list[ShapeObject]:
    placed: list[ShapeObject] = []
    while len(placed) < n:
        obj = _place(_sample_object(rng), rng)
        if all(objects_separated(obj, other) for other in placed):
            placed.append(obj)
    return placed


def _draw(rng: np.random.Generator, bg: npt.NDArray[np.float64], n: int) -> Uint8Image:
    img = np.broadcast_to(bg, (_S, _S, 3)).astype(np.float32)
    for obj in _objects(rng, n):
        alpha = object_coverage(obj)[..., None]
        img = img * (1 - alpha) + np.asarray(obj.fill, np.float32) * alpha
    img = img + rng.normal(0, rng.uniform(0, 8), img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _bright(rng: np.random.Generator) -> Uint8Image:
    return _draw(rng, rng.uniform(150, 255, 3), int(rng.integers(1, 3)))


def _crowd(rng: np.random.Generator) -> Uint8Image:
    return _draw(rng, rng.uniform(0, 100, 3), int(rng.integers(3, 7)))


_MAKERS = {
    "flat": _flat, "noise": _noise, "texture": _texture, "text": _text, "clutter": _clutter,
    "bright": _bright, "crowd": _crowd,
}  # fmt: skip
assert tuple(_MAKERS) == OOD_KINDS
assert len(PALETTE) == 7  # _crowd and _bright draw the palette's objects


def ood_image(seed: int, index: int) -> tuple[Uint8Image, str]:
    """Image `index` of the set for `seed`: uint8 (128, 128, 3) and its kind. Kinds take
    turns, so every kind has count / 7 images."""
    kind = OOD_KINDS[index % len(OOD_KINDS)]
    return _MAKERS[kind](np.random.default_rng([seed, index])), kind


def ood_images(count: int, seed: int) -> tuple[Uint8Image, list[str]]:
    """`count` images (count, 128, 128, 3) uint8 and their kinds."""
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    pairs = [ood_image(seed, i) for i in range(count)]
    return np.stack([p[0] for p in pairs]), [p[1] for p in pairs]
