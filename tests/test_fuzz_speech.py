"""Property tests (fuzzing) of the speech entry points: `SpeechClassifier.classify`,
`CommandStream.accept/feed`, and bundle loading.

Each asserts what the runtime promises for any input: it returns a valid result or raises
an `LstmAppsError` subclass (nothing else escapes), it returns within CALL_SECONDS (a
bound on hangs, far above the milliseconds a call takes), and equivalent forms of one
input give one answer. The seed is fixed (derandomize); LSTM_APPS_FUZZ_EXAMPLES sets the
number of cases per test (default 60, about a minute for the whole suite):

    LSTM_APPS_FUZZ_EXAMPLES=10000 python -m pytest tests/test_fuzz_speech.py
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from fuzzing import DAMAGES, FUZZ, bounded, damage_copy, load_damaged, write_tally
from hypothesis import given
from hypothesis import strategies as st

from lstm_apps.runtime.audio import load_audio
from lstm_apps.runtime.speech import Prediction, SpeechClassifier

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "export" / "speech"
CLF = SpeechClassifier.from_dir(SHIPPED, intra_op_threads=1)
DTYPES = ["float32", "float64", "float16", "int16", "int32", "int8", "uint8", "uint16",
          "int64", "bool", "complex64", "object", "m8[s]", ">f4", ">i2"]  # fmt: skip
ANY_RATE = st.one_of(
    st.sampled_from([16000, 8000, 44100, 48000, 22050, 1000, 384000]),
    st.just(16000),
    st.integers(-5, 10**7), st.floats(allow_nan=True, allow_infinity=True),
    st.none(), st.booleans(), st.text(max_size=3), st.just(16000.0),
)  # fmt: skip
RATES = st.one_of(st.sampled_from([16000, 8000, 44100]), ANY_RATE)  # valid half the time


@st.composite
def arrays(draw: st.DrawFn) -> np.ndarray:
    """Arrays a caller might pass as audio: any rank up to 3, odd shapes, any dtype,
    values from silence to NaN, inf and unscaled PCM."""
    if draw(st.booleans()):  # half are plausible audio, so valid calls are tested too
        dtype = np.dtype(draw(st.sampled_from(["float32", "int16", "float64"])))
        shape: tuple[int, ...] = (draw(st.sampled_from([1, 400, 8000, 16000, 17001])),)
        shape += draw(st.sampled_from([(), (), (1,), (2,)]))
    else:
        dtype = np.dtype(draw(st.sampled_from(DTYPES)))
        ndim = draw(st.integers(0, 3))
        shape = tuple(draw(st.lists(st.sampled_from([0, 1, 2, 3, 9, 400, 16000, 17001]),
                                    min_size=ndim, max_size=ndim)))  # fmt: skip
    if int(np.prod(shape)) > 60000:
        shape = shape[:1]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = draw(st.sampled_from([0.0, 1e-6, 0.1, 0.1, 0.3, 1.0, 1.5, 3.0, 3e4, 1e40]))
    scale = scale * 3e4 if dtype.kind == "i" and draw(st.booleans()) else scale
    x = rng.standard_normal(shape) * scale
    special = draw(st.sampled_from([None, np.nan, np.inf, -np.inf]))
    if special is not None and x.size:
        x.flat[int(rng.integers(x.size))] = special
    with np.errstate(all="ignore"):
        if dtype.kind in "iub":
            info = np.iinfo(dtype) if dtype.kind != "b" else None
            x = np.nan_to_num(x, posinf=0, neginf=0)
            x = np.clip(x, info.min, info.max) if info else x > 0
        return x.astype(dtype)


def _valid(preds: list[Prediction], n: int) -> None:
    assert len(preds) == n
    for p in preds:
        assert p.label in CLF.labels
        assert 0.0 <= p.score <= 1.0 and np.isfinite(list(p.scores.values())).all()
        assert abs(sum(p.scores.values()) - 1.0) < 1e-4


@FUZZ
@given(x=st.one_of(arrays(), arrays(), arrays(), st.lists(arrays(), max_size=3), st.none(),
                   st.floats(), st.integers(), st.text(max_size=5)),
       rate=RATES)  # fmt: skip
def test_classify_returns_or_raises_typed(x: Any, rate: Any) -> None:
    out, err = bounded(CLF.classify, x, sample_rate=rate)
    if err is None:
        _valid(out, len(x) if isinstance(x, list) else 1)


@FUZZ
@given(data=st.binary(max_size=3000), suffix=st.sampled_from([".wav", ".flac", ".raw", ""]),
       header=st.sampled_from([b"", b"RIFF", b"RIFF$\x00\x00\x00WAVEfmt ", b"fLaC"]))  # fmt: skip
def test_any_file_returns_or_raises_typed(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, suffix: str, header: bytes
) -> None:
    path = tmp_path_factory.mktemp("f") / f"clip{suffix}"
    path.write_bytes(header + data)
    out, err = bounded(CLF.classify, path)
    if err is None:
        _valid(out, 1)
    else:
        assert str(path) in str(err)  # the message names the file


@FUZZ
@given(seed=st.integers(0, 2**32 - 1), seconds=st.floats(0.05, 2.5),
       rate=st.sampled_from([8000, 16000, 22050, 44100]), stereo=st.booleans())  # fmt: skip
def test_equivalent_forms_give_one_answer(
    tmp_path_factory: pytest.TempPathFactory, seed: int, seconds: float, rate: int, stereo: bool
) -> None:
    rng = np.random.default_rng(seed)
    n = max(1, int(seconds * rate))
    t = np.arange(n) / rate
    mono = (0.3 * np.sin(2 * np.pi * rng.uniform(100, 900) * t) * rng.uniform(0, 1, n)).astype(
        np.float32
    )
    path = tmp_path_factory.mktemp("eq") / "clip.wav"
    sf.write(path, mono, rate, subtype="FLOAT")
    want = CLF.classify(path)[0]
    as_array = CLF.classify(mono, sample_rate=rate)[0]
    both = np.stack([mono, mono], axis=1 if stereo else 0)  # (samples, 2) or (2, samples)
    as_stereo = CLF.classify(both, sample_rate=rate)[0]
    pcm = CLF.classify((np.clip(mono, -1, 1) * 32767).astype(np.int16), sample_rate=rate)[0]
    for got, tol in ((as_array, 1e-6), (as_stereo, 1e-6), (pcm, 2e-3)):
        assert got.label == want.label or abs(got.score - want.score) < 10 * tol
        np.testing.assert_allclose(list(got.scores.values()), list(want.scores.values()), atol=tol)


@FUZZ
@given(calls=st.lists(st.tuples(arrays(), RATES), min_size=1, max_size=6))
def test_a_refused_chunk_changes_no_state(calls: list[tuple[np.ndarray, Any]]) -> None:
    """Any run of accept() calls: the stream ends where a stream fed only the accepted
    calls ends, detection for detection, sample for sample."""
    fuzzed, clean = CLF.stream(), CLF.stream()
    got, want = [], []
    for chunk, rate in calls:
        out, err = bounded(fuzzed.accept, chunk, sample_rate=rate)
        if err is None:
            got += out
            want += clean.accept(chunk, sample_rate=rate)
    assert got == want
    assert fuzzed.seconds == clean.seconds
    assert fuzzed.flush() == clean.flush()


@FUZZ
@given(audio=st.one_of(arrays(), arrays(), arrays(), st.none(), st.floats()),
       chunk=st.one_of(st.integers(1, 5000), st.integers(-3, 5000), st.floats(), st.none()),
       rate=RATES)  # fmt: skip
def test_feed_returns_or_raises_typed(audio: Any, chunk: Any, rate: Any) -> None:
    def feed_all() -> list[Any]:
        return list(CLF.stream().feed(audio, chunk, rate))

    out, err = bounded(feed_all)
    if err is None:
        assert all(d.label in CLF.labels and d.time >= 0 for d in out)


def test_feed_of_a_file_equals_feed_of_its_array() -> None:
    path = ROOT / "samples" / "speech" / "stream.wav"
    x, rate = sf.read(path, dtype="float32")
    a = list(CLF.stream().feed(load_audio(path), 1600))
    b = list(CLF.stream().feed(x, 1600, rate))
    c = list(CLF.stream().feed(np.stack([x, x]), 1600, rate))  # duplicated stereo
    assert a == b == c and len(a) >= 5


_BUNDLE_FILES = ["model.onnx", "stream.onnx", "config.json", "labels.json", "model.int8.onnx"]


@FUZZ
@given(name=st.sampled_from(_BUNDLE_FILES), damage=st.sampled_from(DAMAGES),
       where=st.floats(0, 1), seed=st.integers(0, 2**16))  # fmt: skip
def test_a_damaged_bundle_fails_at_load_or_works(
    tmp_path_factory: pytest.TempPathFactory, name: str, damage: str, where: float, seed: int
) -> None:
    bundle = tmp_path_factory.mktemp("b") / "speech"
    f, changed, original = damage_copy(SHIPPED, bundle, name, _BUNDLE_FILES, damage, where, seed)

    def use(clf: SpeechClassifier) -> None:  # a clip and a stream
        assert clf.classify(np.zeros(16000, np.float32), sample_rate=16000)[0].label in clf.labels
        if clf.stream_model is not None:
            list(clf.stream().feed(np.zeros(3200, np.float32), 1600))

    load_damaged(SpeechClassifier.from_dir, use, bundle, f, changed, original)


def test_write_the_tally() -> None:
    """Last in the file: LSTM_APPS_FUZZ_TALLY=file gets the counts of this file's calls."""
    write_tally()
