"""Regression tests for the image defects a fuzzer found (issue 13)."""

from __future__ import annotations

import io
import re
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from lstm_apps.runtime import ImageInputError, InputDTypeError
from lstm_apps.runtime.image import load_image


@pytest.mark.parametrize("dtype", ["m8[s]", "M8[s]", "complex64", "bool", "object", "U1"])
def test_arrays_that_are_not_images_are_refused(dtype: str) -> None:
    with pytest.raises(InputDTypeError, match=re.escape(f"got {np.dtype(dtype)}")):
        load_image(np.zeros((8, 8), dtype), name="frame")


@pytest.mark.parametrize("shape", [(8, 8), (8, 8, 3), (8, 8, 4)])
def test_byte_order_does_not_matter(shape: tuple[int, ...]) -> None:
    little = (np.arange(np.prod(shape)).reshape(shape) * 997 % 65536).astype("<u2")
    want = load_image(little)
    np.testing.assert_array_equal(load_image(little.astype(">u2")), want)
    assert want.max() > 200  # 16-bit values were scaled, not clipped or refused


def test_premultiplied_la_image_is_read_like_la() -> None:
    got = load_image(Image.new("La", (4, 4), (100, 128)))
    want = load_image(Image.new("La", (4, 4), (100, 128)).convert("LA"))
    np.testing.assert_array_equal(got, want)
    assert got[0, 0].tolist() == [199, 199, 199]  # 100 un-premultiplied by alpha 128/255


def test_closed_pil_image_is_an_image_error() -> None:
    im = Image.new("RGB", (8, 8))
    im.close()
    with pytest.raises(ImageInputError, match="PIL image: cannot use the PIL image"):
        load_image(im)


def test_lazily_opened_truncated_file_is_an_image_error(tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 20, 30)).save(buf, "PNG")
    bad = tmp_path / "cut.png"
    bad.write_bytes(buf.getvalue()[:-30])
    with Image.open(bad) as im, pytest.raises(ImageInputError, match="truncated"):
        load_image(im, name="cut.png")


# 16-bit input: one rule, v >> 8 (export/README.md "Input images"). These values tell it
# from round(v / 257): 129 and 255 (0 vs 1), 65280 (255 vs 254).
V16 = np.array([0, 127, 128, 129, 255, 256, 32767, 32768, 32896, 65279, 65280, 65535], np.uint16)
HIGH_BYTE = [0, 0, 0, 0, 0, 1, 127, 128, 128, 254, 255, 255]


def _png16(arr: np.ndarray) -> bytes:
    """A 16-bit PNG (grey, grey+alpha, RGB or RGBA by the last axis), written by hand:
    PIL writes 16-bit grey only."""
    h, w, c = arr.shape
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", w, h, 16, {1: 0, 2: 4, 3: 2, 4: 6}[c], 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))  # fmt: skip


def test_the_values_tell_the_two_16_bit_rules_apart() -> None:
    assert (V16 >> 8).tolist() == HIGH_BYTE
    rounded = np.floor(V16 / 257 + 0.5).astype(int)  # never a half: 257 is odd
    assert np.flatnonzero(rounded != HIGH_BYTE).tolist() == [3, 4, 10]  # 129, 255, 65280


@pytest.mark.parametrize("channels", [1, 2, 3, 4], ids=["grey", "grey+alpha", "RGB", "RGBA"])
def test_16_bit_png_files_keep_the_high_byte(tmp_path: Path, channels: int) -> None:
    path = tmp_path / "deep.png"
    path.write_bytes(_png16(np.repeat(V16[None, :, None], channels, axis=2)))
    got = load_image(path)
    assert got.shape == (1, len(V16), 3)
    assert got[0].tolist() == [[v] * 3 for v in HIGH_BYTE]


@pytest.mark.parametrize(
    "form", ["(H, W)", "(H, W, 1)", "(H, W, 3)", "(H, W, 4)", ">u2", "I;16", "I;16B", "I"]
)
def test_16_bit_arrays_and_pil_images_keep_the_high_byte(form: str) -> None:
    row = V16[None, :]
    source: Any = {
        "(H, W)": row,
        "(H, W, 1)": row[:, :, None],
        "(H, W, 3)": np.repeat(row[:, :, None], 3, axis=2),
        "(H, W, 4)": np.repeat(row[:, :, None], 4, axis=2),
        ">u2": row.astype(">u2"),
        "I;16": Image.fromarray(row),
        "I;16B": Image.frombytes("I;16B", (len(V16), 1), row.astype(">u2").tobytes()),
        "I": Image.fromarray(row.astype(np.int32)),
    }[form]
    assert load_image(source)[0].tolist() == [[v] * 3 for v in HIGH_BYTE]
