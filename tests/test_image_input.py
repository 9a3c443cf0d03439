"""Regression tests for the image defects a fuzzer found (issue 13)."""

from __future__ import annotations

import io
import re
from pathlib import Path

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
