"""Images in: paths, PIL images or arrays to RGB uint8 (H, W, 3), or a typed error.

    from lstm_apps.runtime.image import load_image
    rgb = load_image("photo.jpg")            # EXIF orientation applied
    rgb = load_image(pil_image)               # any mode: RGBA, LA, L, P, CMYK, I;16, I, F
    rgb = load_image(array, name="frame 3")   # (H, W) or (H, W, 1|3|4); uint8, uint16, [0, 1] float

Conversion follows what the training images went through: RGB, 8 bits per channel; the
model resizes inside its graph. Alpha is dropped (the colour channels are kept as they
are), float data in [0, 1] goes to round(v * 255), and every 16-bit sample (16-bit colour
and grey files, uint16 arrays) to its high byte, v >> 8 (`to_8bit`). Images with more
than MAX_IMAGE_PIXELS pixels are refused before decoding (decompression bombs). Files are
decoded by PIL (JPEG: libjpeg-turbo with its default settings; see export/README.md).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

from lstm_apps.runtime.errors import ImageInputError, InputDTypeError, InputShapeError

# The largest image accepted, in pixels (a stated limit: 40 MP, e.g. 8000 x 5000). It is
# checked from the header, before decoding, so a decompression bomb costs nothing.
MAX_IMAGE_PIXELS = 40_000_000

ImageSource = str | os.PathLike[str] | Image.Image | npt.NDArray[Any]


def _check_size(w: int, h: int, label: str) -> None:
    if w <= 0 or h <= 0:
        raise ImageInputError(f"{label}: image has no pixels ({w}x{h})")
    if w * h > MAX_IMAGE_PIXELS:
        raise ImageInputError(
            f"{label}: {w}x{h} = {w * h:,} pixels is over the limit of {MAX_IMAGE_PIXELS:,} "
            "(lstm_apps.runtime.image.MAX_IMAGE_PIXELS)"
        )


def to_8bit(v: npt.NDArray[np.integer[Any]]) -> npt.NDArray[np.uint8]:
    """16-bit samples (0-65535, any integer dtype) to 8 bits: the high byte, v >> 8.

    One rule for every 16-bit input, because it is the rule PIL applies to 16-bit colour
    PNGs (it reads them as 8-bit RGB/RGBA, keeping the high byte, as libpng's
    png_set_strip_16 does) and PIL cannot give us their low bytes; grey files and uint16
    arrays follow it so that one picture reads alike in every form. It is an integer shift:
    exact in every language, with no rounding to specify (round(v / 257) differs from it on
    values such as 255 -> 1 vs 0 and 65280 -> 254 vs 255)."""
    return (v >> 8).astype(np.uint8)


def _from_pil(im: Image.Image, label: str) -> npt.NDArray[np.uint8]:
    _check_size(im.width, im.height, label)
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(im)  # uint16 (either byte order) for I;16*, int32 for I
        if mode.startswith("I;16") or arr.max(initial=0) > 255:  # "I" over 255: 16-bit data
            gray = to_8bit(np.clip(arr.astype(np.int64), 0, 65535))
        else:
            gray = np.clip(arr, 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "F":
        return _from_array(np.asarray(im, dtype=np.float32), label)
    if mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if mode == "La":  # premultiplied: PIL converts it only to LA (un-premultiplied, as RGBa)
        im = im.convert("LA")
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        im = im.convert("RGBA")  # colour channels kept as they are; alpha dropped below
    rgb = np.asarray(im.convert("RGB"), dtype=np.uint8)
    return np.ascontiguousarray(rgb)


def _pil_input(im: Image.Image, label: str) -> npt.NDArray[np.uint8]:
    """A PIL image from the caller: it may be closed, or opened lazily on a bad file."""
    try:
        im.load()  # a no-op for loaded images; decodes a lazily opened one
        return _from_pil(im, label)
    except ImageInputError:
        raise
    except (OSError, ValueError, SyntaxError) as e:  # closed, truncated, corrupt, odd mode
        raise ImageInputError(f"{label}: cannot use the PIL image ({e})") from e


def _from_array(arr: npt.NDArray[Any], label: str) -> npt.NDArray[np.uint8]:
    if arr.dtype.kind not in "uif":  # bool, complex, datetime, timedelta, object, str ...
        raise InputDTypeError(
            f"{label}: image array must be uint8, uint16 or float in [0, 1], got {arr.dtype}"
        )
    if not arr.dtype.isnative:  # the same values in the other byte order: read them alike
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise InputShapeError(
            f"{label}: image array must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), "
            f"got shape {arr.shape}"
        )
    _check_size(arr.shape[1], arr.shape[0], label)
    arr = arr[:, :, :3]
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise ImageInputError(f"{label}: image array holds NaN or inf")
        if arr.min() < 0 or arr.max() > 1:
            raise ImageInputError(
                f"{label}: float images must lie in [0, 1], got [{arr.min():g}, {arr.max():g}]"
            )
        return (arr * 255.0 + 0.5).astype(np.uint8)
    if arr.dtype == np.uint16:
        return to_8bit(arr)
    if arr.min() < 0 or arr.max() > 255:
        raise ImageInputError(
            f"{label}: {arr.dtype} image values must lie in 0-255, got [{arr.min()}, {arr.max()}]"
        )
    return arr.astype(np.uint8)


def _from_file(path: Path, label: str) -> npt.NDArray[np.uint8]:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ImageInputError(f"{label}: no such file") from None
    except (OSError, ValueError) as e:  # a name too long, a NUL byte, no permission, ...
        raise ImageInputError(f"{label}: cannot open the file ({e})") from e
    if not path.is_file():
        raise ImageInputError(f"{label}: not a file")
    if st.st_size == 0:
        raise ImageInputError(f"{label}: the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as opened:
                _check_size(opened.width, opened.height, label)  # header only: not decoded yet
                opened.load()
                upright: Image.Image = ImageOps.exif_transpose(opened) or opened
                return _from_pil(upright, label)
    except ImageInputError:
        raise
    except UnidentifiedImageError as e:
        raise ImageInputError(f"{label}: not an image file PIL can read") from e
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageInputError(f"{label}: {e}") from e
    except (OSError, ValueError, SyntaxError) as e:  # truncated or corrupt data
        raise ImageInputError(f"{label}: cannot decode the image ({e})") from e


def load_image(source: ImageSource, *, name: str | None = None) -> npt.NDArray[np.uint8]:
    """One image as RGB uint8, shape = (H, W, 3)."""
    if isinstance(source, (str, os.PathLike)):
        return _from_file(Path(source), name or os.fspath(source))
    if isinstance(source, Image.Image):
        return _pil_input(source, name or "PIL image")
    if isinstance(source, np.ndarray):
        return _from_array(source, name or "image array")
    raise InputDTypeError(
        f"{name or 'image input'}: expected a path, a PIL image or a numpy array, "
        f"got {type(source).__name__}"
    )
