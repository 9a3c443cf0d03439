"""Draw where each word of a caption looked: one tile per word, the attention as a heat map.

PIL only (no matplotlib), so the inference-only install can draw too.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

from lstm_apps.runtime.errors import InputError
from lstm_apps.runtime.files import atomic_file

TILE = 160  # px per word tile
LABEL = 18  # px of text under each tile


def attention_overlay(
    image: npt.NDArray[np.uint8], attention: npt.NDArray[np.float32]
) -> Image.Image:
    """image (H, W, 3) uint8, attention (grid, grid) -> the image dimmed where attention is low."""
    a = attention / max(float(attention.max()), 1e-8)
    heat = Image.fromarray((a * 255).astype(np.uint8)).resize(
        (TILE, TILE), Image.Resampling.BILINEAR
    )
    base = Image.fromarray(image).convert("RGB").resize((TILE, TILE), Image.Resampling.BILINEAR)
    h = np.asarray(heat, dtype=np.float32)[:, :, None] / 255.0
    px = np.asarray(base, dtype=np.float32)
    warm = np.array([255.0, 200.0, 40.0])
    out = px * (0.25 + 0.75 * h) + warm * 0.35 * h
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))


def save_attention_png(
    path: str | os.PathLike[str],
    image: npt.NDArray[np.uint8],
    words: list[str],
    attention: npt.NDArray[np.float32],
    per_row: int = 6,
) -> Path:
    """Write a grid of tiles: the image, then one overlay per word (attention (words, g, g))."""
    tiles = [(Image.fromarray(image).convert("RGB").resize((TILE, TILE)), "(image)")]
    tiles += [(attention_overlay(image, a), w) for w, a in zip(words, attention, strict=False)]
    cols = min(per_row, len(tiles))
    rows = (len(tiles) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * TILE, rows * (TILE + LABEL)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (tile, word) in enumerate(tiles):
        x, y = (i % cols) * TILE, (i // cols) * (TILE + LABEL)
        sheet.paste(tile, (x, y))
        draw.text((x + 4, y + TILE + 3), word, fill="black")
    try:
        with atomic_file(path) as tmp:
            sheet.save(tmp, format="PNG")
    except OSError as e:  # a folder that cannot be made or written: the caller's path
        raise InputError(f"{path}: cannot write the attention picture ({e})") from e
    return Path(path)
