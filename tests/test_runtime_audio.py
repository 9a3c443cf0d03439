"""Audio input: files and arrays to mono float32 at 16 kHz; a typed error for every bad input."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from lstm_apps.runtime import (
    AudioInputError,
    InputDTypeError,
    InputShapeError,
    LstmAppsError,
    SampleRateError,
)
from lstm_apps.runtime.audio import MAX_AUDIO_SECONDS, fit_length, load_audio


def tone(freq: float, rate: int, seconds: float = 1.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spectrum)])


@pytest.fixture()
def good_wav(tmp_path: Path) -> Path:
    path = tmp_path / "good.wav"
    sf.write(path, tone(440, 16000), 16000, subtype="PCM_16")
    return path


def test_inference_modules_do_not_import_torch() -> None:
    code = (
        "import sys, lstm_apps.runtime.audio, lstm_apps.runtime.detect\n"
        "bad = [m for m in sys.modules if m == 'torch' or m.startswith('torch.')]\n"
        "assert not bad, bad; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


# ---- good input -------------------------------------------------------------------------


def test_wav_file_round_trip(good_wav: Path) -> None:
    x = load_audio(good_wav)
    ref, rate = sf.read(good_wav, dtype="int16")
    assert rate == 16000 and x.dtype == np.float32 and x.shape == (16000,)
    np.testing.assert_array_equal(x, ref.astype(np.float32) / 32768)


@pytest.mark.parametrize("fmt, rate", [("FLAC", 44100), ("OGG", 22050), ("WAV", 8000)])
def test_other_formats_and_rates_are_resampled(tmp_path: Path, fmt: str, rate: int) -> None:
    path = tmp_path / f"a.{fmt.lower()}"
    sf.write(path, np.stack([tone(440, rate), tone(440, rate)], axis=1), rate, format=fmt)
    x = load_audio(str(path))
    assert x.dtype == np.float32 and x.ndim == 1
    assert abs(len(x) - 16000) <= 1
    assert abs(peak_hz(x, 16000) - 440) <= 2


@pytest.mark.parametrize("rate", [8000, 44100])
def test_resampling_keeps_frequency_and_duration(rate: int) -> None:
    x = load_audio(tone(440, rate), sample_rate=rate)
    assert x.dtype == np.float32 and x.shape == (16000,)
    assert abs(peak_hz(x, 16000) - 440) <= 1
    # the resampled tone keeps its level (soxr HQ): RMS of a 0.5 sine is 0.354
    assert abs(float(np.sqrt(np.mean(x[1000:-1000] ** 2))) - 0.5 / np.sqrt(2)) < 0.01


def test_target_rate_other_than_16k() -> None:
    x = load_audio(tone(440, 16000), sample_rate=16000, target_rate=8000)
    assert x.shape == (8000,) and abs(peak_hz(x, 8000) - 440) <= 1


def test_int_pcm_is_scaled() -> None:
    i16 = np.array([0, 16384, -32768, 32767], np.int16)
    np.testing.assert_array_equal(
        load_audio(i16, sample_rate=16000), np.array([0, 0.5, -1, 32767 / 32768], np.float32)
    )
    u8 = np.array([128, 0, 255, 192], np.uint8)
    np.testing.assert_array_equal(
        load_audio(u8, sample_rate=16000), np.array([0, -1, 127 / 128, 0.5], np.float32)
    )
    i32 = np.array([0, 2**30, -(2**31)], np.int32)
    np.testing.assert_array_equal(
        load_audio(i32, sample_rate=16000), np.array([0, 0.5, -1], np.float32)
    )


def test_float64_becomes_float32_and_silence_is_fine() -> None:
    x = load_audio(np.zeros(1600, np.float64), sample_rate=16000)
    assert x.dtype == np.float32 and x.shape == (1600,) and not x.any()


def test_stereo_downmix_is_the_mean() -> None:
    rng = np.random.default_rng(0)
    st = rng.uniform(-0.5, 0.5, (4000, 2)).astype(np.float32)
    want = st.mean(axis=1)
    np.testing.assert_allclose(load_audio(st, sample_rate=16000), want, rtol=0, atol=1e-7)
    # channels-first (channels <= 8 < samples) is recognised and gives the same result
    np.testing.assert_allclose(load_audio(st.T, sample_rate=16000), want, rtol=0, atol=1e-7)
    six = rng.uniform(-0.5, 0.5, (6, 300)).astype(np.float32)
    np.testing.assert_allclose(load_audio(six, sample_rate=16000), six.mean(0), atol=1e-7)


def test_small_overshoot_is_clipped_large_peak_refused() -> None:
    x = load_audio(np.array([0.0, 1.5, -1.2, 0.3], np.float32), sample_rate=16000)
    np.testing.assert_array_equal(x, np.array([0, 1, -1, 0.3], np.float32))
    with pytest.raises(AudioInputError, match=r"clip: .*peak is 3\.277e\+04.*integer PCM"):
        load_audio(np.array([0.0, 32767.0], np.float32), sample_rate=16000, name="clip")


def test_exactly_max_seconds_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    sf.write(path, np.zeros(int(MAX_AUDIO_SECONDS * 1000), np.int16), 1000, subtype="PCM_U8")
    assert load_audio(path, target_rate=1000).shape == (int(MAX_AUDIO_SECONDS * 1000),)


# ---- bad files ----------------------------------------------------------------------------


def _raises(err: type[Exception], *words: str) -> Any:
    return pytest.raises(err, match="(?s)" + ".*".join(re.escape(w) for w in words))


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.wav"
    with _raises(AudioInputError, str(path), "file not found"):
        load_audio(path)


def test_directory(tmp_path: Path) -> None:
    with _raises(AudioInputError, str(tmp_path), "is a directory"):
        load_audio(tmp_path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with _raises(AudioInputError, str(path), "empty file (0 bytes)"):
        load_audio(path)


def test_wav_truncated_mid_data(tmp_path: Path, good_wav: Path) -> None:
    data = good_wav.read_bytes()
    path = tmp_path / "cut.wav"
    path.write_bytes(data[: len(data) // 2 + 1])  # odd cut: mid-sample too
    with _raises(AudioInputError, str(path), "truncated", "promises 32000 bytes"):
        load_audio(path)


def test_wav_cut_inside_header(tmp_path: Path, good_wav: Path) -> None:
    path = tmp_path / "hdr.wav"
    path.write_bytes(good_wav.read_bytes()[:30])
    with _raises(AudioInputError, str(path), "corrupt"):
        load_audio(path)


@pytest.mark.parametrize("fmt", ["FLAC", "OGG"])
def test_compressed_file_truncated(tmp_path: Path, fmt: str) -> None:
    good = tmp_path / f"g.{fmt.lower()}"
    sf.write(good, tone(440, 16000), 16000, format=fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with _raises(AudioInputError, str(path), "corrupt"):
        load_audio(path)


def test_png_is_not_audio(tmp_path: Path) -> None:
    path = tmp_path / "pic.wav"  # the extension lies; the bytes say PNG
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    with _raises(AudioInputError, str(path), "not an audio file", "PNG image"):
        load_audio(path)


def test_text_is_not_audio(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("yes no up down\n" * 50)
    with _raises(AudioInputError, str(path), "not an audio file", "text"):
        load_audio(path)


def test_file_without_samples(tmp_path: Path) -> None:
    path = tmp_path / "none.wav"
    sf.write(path, np.zeros(0, np.int16), 16000)
    with _raises(AudioInputError, str(path), "no audio samples"):
        load_audio(path)


def test_float_file_with_nan(tmp_path: Path) -> None:
    path = tmp_path / "nan.wav"
    x = tone(440, 16000)
    x[100] = np.nan
    sf.write(path, x, 16000, subtype="FLOAT")
    with _raises(AudioInputError, str(path), "1 NaN and 0 inf", "sample 100"):
        load_audio(path)


def test_file_with_absurd_rate(tmp_path: Path) -> None:
    path = tmp_path / "slow.wav"
    sf.write(path, np.zeros(100, np.int16), 500)
    with _raises(SampleRateError, str(path), "500", "1000 to 384000"):
        load_audio(path)


def test_too_long_file_rejected_from_header(tmp_path: Path, monkeypatch: Any) -> None:
    path = tmp_path / "long.wav"  # 601 s of 8-bit silence at 1 kHz: 601 kB
    sf.write(path, np.zeros(601_000, np.int16), 1000, subtype="PCM_U8")

    def no_read(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("samples were read before the length check")

    monkeypatch.setattr(sf.SoundFile, "read", no_read)
    with _raises(AudioInputError, str(path), "too long", "601.0 s", "600 s"):
        load_audio(path)


# ---- bad arrays ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "x, err, words",
    [
        (np.array([0.1, np.nan, 0.2, np.nan], np.float32), AudioInputError, ["2 NaN", "sample 1"]),
        (np.array([0.1, 0.2, np.inf], np.float64), AudioInputError, ["0 NaN and 1 inf"]),
        (np.zeros(0, np.float32), AudioInputError, ["no audio samples"]),
        (np.zeros((0, 2), np.float32), AudioInputError, ["no audio samples"]),
        (np.zeros(10, np.complex64), InputDTypeError, ["complex64", "not supported"]),
        (np.zeros(10, object), InputDTypeError, ["object"]),
        (np.zeros(10, bool), InputDTypeError, ["bool"]),
        (np.array(["a", "b"]), InputDTypeError, ["<U1"]),
        (np.zeros(10, np.int64), InputDTypeError, ["int64"]),
        (np.zeros((2, 3, 100), np.float32), InputShapeError, ["1-D", "(2, 3, 100)"]),
        (np.array(0.5, np.float32), InputShapeError, ["shape ()"]),
    ],
)
def test_bad_arrays(x: np.ndarray, err: type[Exception], words: list[str]) -> None:
    with _raises(err, "array #2: ", *words):
        load_audio(x, sample_rate=16000, name="array #2")


def test_not_a_path_or_array() -> None:
    with _raises(InputDTypeError, "clip", "path", "numpy array", "list"):
        load_audio([0.0, 0.1], sample_rate=16000, name="clip")  # type: ignore[arg-type]


def test_array_needs_sample_rate() -> None:
    with _raises(SampleRateError, "array #0", "sample_rate is required"):
        load_audio(np.zeros(100, np.float32), name="array #0")


@pytest.mark.parametrize("rate", [0, -16000, 999, 384001, 16000.5, True, float("nan"), "16k"])
def test_bad_sample_rates(rate: Any) -> None:
    with _raises(SampleRateError, "mic: sample_rate"):
        load_audio(np.zeros(100, np.float32), sample_rate=rate, name="mic")
    with _raises(SampleRateError, "target_rate"):
        load_audio(np.zeros(100, np.float32), sample_rate=16000, target_rate=rate)


def test_too_long_array() -> None:
    # a zero-copy view: the check must come before any conversion
    x = np.broadcast_to(np.zeros(1, np.int16), (601 * 1000,))
    with _raises(AudioInputError, "array #1", "too long", "601.0 s"):
        load_audio(x, sample_rate=1000, name="array #1")


def test_too_short_to_resample() -> None:
    with _raises(AudioInputError, "too short to resample"):
        load_audio(np.zeros(1, np.float32), sample_rate=44100)


def test_every_error_is_typed(tmp_path: Path) -> None:
    """No soundfile/numpy exception escapes, whatever garbage the file holds."""
    rng = np.random.default_rng(1)
    for i in range(20):
        path = tmp_path / f"junk{i}.wav"
        head = b"RIFF" if i % 2 else b""
        path.write_bytes(head + rng.integers(0, 256, int(rng.integers(1, 300)), np.uint8).tobytes())
        with pytest.raises(LstmAppsError, match=re.escape(str(path))):
            load_audio(path)


# ---- fit_length ---------------------------------------------------------------------------


def test_fit_length_pads_and_crops_at_the_centre() -> None:
    x = np.arange(1, 6, dtype=np.float32)  # 5 samples
    np.testing.assert_array_equal(fit_length(x, 9), [0, 0, 1, 2, 3, 4, 5, 0, 0])
    np.testing.assert_array_equal(fit_length(x, 8), [0, 1, 2, 3, 4, 5, 0, 0])
    np.testing.assert_array_equal(fit_length(x, 3), [2, 3, 4])
    np.testing.assert_array_equal(fit_length(x, 2), [3, 4])
    same = fit_length(x, 5)
    np.testing.assert_array_equal(same, x)
    assert same is not x and fit_length(x, 9).dtype == np.float32
    assert fit_length(np.ones(12345, np.float32), 16000).shape == (16000,)


def test_fit_length_errors() -> None:
    with pytest.raises(InputShapeError, match=r"1-D.*\(2, 3\)"):
        fit_length(np.zeros((2, 3), np.float32), 4)
    with pytest.raises(LstmAppsError, match="positive int, got 0"):
        fit_length(np.zeros(3, np.float32), 0)
