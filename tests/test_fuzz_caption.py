"""Property tests (fuzzing) of `Captioner.caption` and caption-bundle loading.

As for speech (tests/test_fuzz_speech.py): any input gives valid captions or an
`LstmAppsError`, within CALL_SECONDS, and equivalent forms of one image (a path and the
array read from it, uint8 and float in [0, 1], a PIL image and its array) give one caption.
LSTM_APPS_FUZZ_EXAMPLES sets the cases per test (default 60).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fuzzing import DAMAGES, FUZZ, bounded, damage_copy, load_damaged, write_tally
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from lstm_apps.runtime.caption import Caption, Captioner
from lstm_apps.runtime.image import load_image

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "export" / "caption"
CAP = Captioner.from_dir(SHIPPED, intra_op_threads=1)
DTYPES = ["uint8", "uint16", ">u2", "float32", "float64", "float16", "int16", "int64", "int8",
          "bool", "complex64", "m8[s]", "object"]  # fmt: skip
MODES = ["1", "L", "P", "RGB", "RGBA", "CMYK", "YCbCr", "LAB", "HSV", "I", "F", "LA", "PA",
         "RGBa", "La", "I;16", "I;16B"]  # fmt: skip


@st.composite
def arrays(draw: st.DrawFn) -> np.ndarray:
    if draw(st.booleans()):  # half are plausible images, so valid calls are tested too
        dtype = np.dtype(draw(st.sampled_from(["uint8", "uint16", "float32"])))
        side = st.integers(1, 96)
        shape: tuple[int, ...] = (draw(side), draw(side), draw(st.sampled_from([1, 3, 4])))
    else:
        dtype = np.dtype(draw(st.sampled_from(DTYPES)))
        shape = tuple(draw(st.lists(st.sampled_from([0, 1, 2, 3, 4, 5, 17, 64]), max_size=4)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    lo, hi = draw(st.sampled_from([(0.0, 1.0), (0.0, 1.0), (-0.2, 1.2)]))
    x = rng.uniform(lo, hi, shape) * draw(st.sampled_from([1.0, 255.0, 65535.0, 1e40]))
    if draw(st.booleans()) and x.size:
        x.flat[int(rng.integers(x.size))] = draw(st.sampled_from([np.nan, np.inf, -1.0]))
    with np.errstate(all="ignore"):
        if dtype.kind in "iub":
            x = np.nan_to_num(x, posinf=0, neginf=0)
            if dtype.kind != "b":
                info = np.iinfo(dtype)
                x = np.clip(x, info.min, info.max)
        return x.astype(dtype)


@st.composite
def pil_images(draw: st.DrawFn) -> Image.Image:
    mode = draw(st.sampled_from(MODES))
    w, h = draw(st.integers(1, 80)), draw(st.integers(1, 80))
    im = Image.new(mode, (w, h))
    if draw(st.booleans()):
        im.close()
    return im


@st.composite
def files(draw: st.DrawFn, tmp: Path) -> Path:
    kind = draw(st.sampled_from(["png", "jpeg", "junk", "cut", "empty", "dir", "long"]))
    path = tmp / f"img{draw(st.integers(0, 10**6))}.{kind}"
    if kind in ("png", "jpeg", "cut"):
        buf = io.BytesIO()
        mode = "RGB" if kind == "jpeg" else draw(st.sampled_from(["RGB", "L", "RGBA", "I;16"]))
        Image.new(mode, (draw(st.integers(1, 90)), draw(st.integers(1, 90)))).save(
            buf, "JPEG" if kind == "jpeg" else "PNG"
        )
        data = buf.getvalue()
        path.write_bytes(data[: len(data) // 2] if kind == "cut" else data)
    elif kind == "junk":
        path.write_bytes(draw(st.binary(max_size=300)))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "dir":
        path.mkdir()
    else:
        path = tmp / ("x" * 300 + ".png")
    return path


def _valid(caps: list[Caption], n: int, max_len: int) -> None:
    assert len(caps) == n
    for c in caps:
        assert all(w in CAP.itos for w in c.tokens) and len(c.tokens) <= max_len
        assert np.isfinite(c.score) and c.attention.shape[0] == len(c.tokens)


PARAMS = dict(
    beam_size=st.one_of(st.integers(-2, 6), st.just(10**9), st.none(), st.floats(), st.booleans()),
    max_len=st.one_of(st.integers(-1, 25), st.just(10**9), st.none(), st.floats()),
    length_penalty=st.one_of(st.floats(-1, 3), st.just(10**9), st.none(), st.floats(),
                             st.text(max_size=2)),
)  # fmt: skip


@FUZZ
@given(images=st.one_of(arrays(), pil_images(), st.lists(arrays(), max_size=3), st.none(),
                        st.integers(), st.lists(pil_images(), max_size=2)), **PARAMS)  # fmt: skip
def test_caption_returns_or_raises_typed(
    images: Any, beam_size: Any, max_len: Any, length_penalty: Any
) -> None:
    kw = {"beam_size": beam_size, "max_len": max_len, "length_penalty": length_penalty}
    kw = {k: v for k, v in kw.items() if v is not None or k == "length_penalty"}
    out, err = bounded(CAP.caption, images, **kw)
    if err is None:
        _valid(out, len(images) if isinstance(images, list) else 1, kw.get("max_len", 20))


@FUZZ
@given(data=st.data())
def test_any_file_returns_or_raises_typed(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    path = data.draw(files(tmp_path_factory.mktemp("img")))
    out, err = bounded(CAP.caption, path, beam_size=1)
    if err is None:
        _valid(out, 1, 20)
    else:
        assert path.name[:50] in str(err)  # the message names the file


@FUZZ
@given(seed=st.integers(0, 2**32 - 1), w=st.integers(8, 96), h=st.integers(8, 96),
       beam=st.integers(1, 3))  # fmt: skip
def test_equivalent_forms_give_one_caption(
    tmp_path_factory: pytest.TempPathFactory, seed: int, w: int, h: int, beam: int
) -> None:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    path = tmp_path_factory.mktemp("eq") / "im.png"
    Image.fromarray(x).save(path)
    forms = [path, load_image(path), x.astype(np.float32) / 255.0, Image.fromarray(x),
             np.dstack([x, np.full((h, w), 255, np.uint8)])]  # fmt: skip
    caps = [CAP.caption(f, beam_size=beam)[0] for f in forms]
    assert len({c.text for c in caps}) == 1
    np.testing.assert_allclose([c.score for c in caps], caps[0].score, atol=1e-5)


_FILES = ["encoder.onnx", "decoder.onnx", "greedy.onnx", "config.json", "vocab.json"]


@FUZZ
@given(name=st.sampled_from(_FILES), damage=st.sampled_from(DAMAGES), where=st.floats(0, 1),
       seed=st.integers(0, 2**16))  # fmt: skip
def test_a_damaged_bundle_fails_at_load_or_works(
    tmp_path_factory: pytest.TempPathFactory, name: str, damage: str, where: float, seed: int
) -> None:
    bundle = tmp_path_factory.mktemp("b") / "caption"
    f, changed, original = damage_copy(SHIPPED, bundle, name, _FILES, damage, where, seed)

    def use(cap: Captioner) -> None:
        c = cap.caption(np.full((32, 32, 3), 90, np.uint8), beam_size=2)[0]
        assert all(w in cap.itos for w in c.tokens)

    load_damaged(Captioner.from_dir, use, bundle, f, changed, original)


def test_write_the_tally() -> None:
    """Last in the file: LSTM_APPS_FUZZ_TALLY=file gets the counts of this file's calls."""
    write_tally()
