"""Audio in: files or arrays to one mono float32 waveform at the model's rate, or a typed error.

    from lstm_apps.runtime.audio import load_audio, fit_length
    x = load_audio("yes.flac")                           # (samples,) float32 at 16 kHz
    x = load_audio(pcm_int16, sample_rate=8000, name="mic")
    clip = fit_length(x, 16000)                          # exactly 1 s

Files are read with soundfile (libsndfile: wav, flac, ogg, mp3, aiff, ...); arrays may be
mono `(samples,)` or multichannel `(samples, channels)` / `(channels, samples)`, and are
downmixed by the mean. Resampling uses soxr. Every problem comes back as a typed error
from `lstm_apps.runtime.errors` whose message names the input and says what was wrong.
"""

from __future__ import annotations

import os
import re
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import soundfile as sf
import soxr

from lstm_apps.runtime.errors import (
    AudioInputError,
    InputDTypeError,
    InputError,
    InputShapeError,
    SampleRateError,
)

# The longest audio load_audio accepts, in seconds. A limit, not a model property: it
# bounds memory (600 s at 16 kHz is ~38 MB of float32) and catches a wrong file or a
# sample rate off by 1000x. Files are checked from their header, before any sample is read.
MAX_AUDIO_SECONDS = 600.0

MIN_SAMPLE_RATE = 1_000  # below this no speech is left; usually kHz passed for Hz
MAX_SAMPLE_RATE = 384_000  # the highest rate audio interfaces use

# (channels, samples) is recognised only when it cannot be a short multichannel clip.
MAX_CHANNELS_FIRST = 8

# Float audio should lie in [-1, 1]. Small overshoot (mixing, resampling ringing) is
# clipped; a larger peak means unscaled PCM stored as float and is refused.
MAX_FLOAT_PEAK = 2.0

_PCM_SCALE: dict[str, tuple[float, float]] = {  # dtype -> (offset, scale): (x - offset) / scale
    "int8": (0.0, 2.0**7),
    "int16": (0.0, 2.0**15),
    "int32": (0.0, 2.0**31),
    "uint8": (128.0, 2.0**7),
}

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a zip archive"),
)

# libsndfile logs "data : <declared> (should be <present>)" when a header promises more
# sample bytes than the file holds (it then silently reads what is there).
_SHORT_CHUNK = re.compile(r"^\s*(?:data|SSND|Data Size)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.M)
_UNKNOWN_LENGTH = {0xFFFFFFFF, 0x7FFFFFFF}  # streaming writers' "length unknown" markers

T = TypeVar("T", bound=np.generic)


def check_sample_rate(rate: Any, what: str) -> int:
    """Return `rate` as an int in [MIN_SAMPLE_RATE, MAX_SAMPLE_RATE] or raise SampleRateError."""
    if isinstance(rate, (bool, np.bool_)) or not isinstance(
        rate, (int, float, np.integer, np.floating)
    ):
        raise SampleRateError(f"{what} must be an integer number of Hz, got {rate!r}")
    if not float(rate).is_integer():
        raise SampleRateError(f"{what} must be an integer number of Hz, got {rate!r}")
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise SampleRateError(
            f"{what} is {rate!r} Hz; expected {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz"
        )
    return int(rate)


def load_audio(
    source: str | os.PathLike[str] | npt.NDArray[Any],
    *,
    sample_rate: int | None = None,
    target_rate: int = 16000,
    name: str | None = None,
) -> npt.NDArray[np.float32]:
    """Load one recording as mono float32 in [-1, 1] at `target_rate`.

    source : a path to any file libsndfile reads, or a numpy array, shape = (samples,),
        (samples, channels) or (channels, samples) with channels <= 8 < samples; dtype
        float16/32/64 in [-1, 1], or PCM int8/int16/int32/uint8 (scaled to [-1, 1]).
    sample_rate : the rate of an array, required for arrays; ignored for files, whose
        header states their rate.
    target_rate : the rate of the result (the speech model's is 16000).
    name : how error messages call the input (default: the path, or "audio array").

    Returns shape = (samples,), float32. Silence is valid. Float peaks up to MAX_FLOAT_PEAK
    are clipped to [-1, 1]; a larger peak, NaN/inf, empty audio, audio longer than
    MAX_AUDIO_SECONDS, rates outside [MIN_SAMPLE_RATE, MAX_SAMPLE_RATE] and unreadable files
    raise AudioInputError (or its SampleRateError); a bad dtype raises InputDTypeError and
    a bad rank InputShapeError.
    """
    target = check_sample_rate(target_rate, "target_rate")
    if isinstance(source, (str, os.PathLike)):
        label = name if name is not None else os.fspath(source)
        x, rate = _read_file(source, label)
    elif isinstance(source, np.ndarray):
        label = name if name is not None else "audio array"
        if sample_rate is None:
            raise SampleRateError(
                f"{label}: sample_rate is required for arrays (only files state their own rate)"
            )
        rate = check_sample_rate(sample_rate, f"{label}: sample_rate")
        x = _array_to_float(source, rate, label)
    else:
        label = name if name is not None else "audio input"
        raise InputDTypeError(
            f"{label}: expected a path (str or os.PathLike) or a numpy array, "
            f"got {type(source).__name__}"
        )
    return _finish(x, rate, target, label)


def fit_length(x: npt.NDArray[T], n: int) -> npt.NDArray[T]:
    """Centre-pad with zeros or centre-crop `x`, shape = (samples,), to exactly `n` samples.

    An odd difference puts the extra sample of padding after the signal, and the extra
    cropped sample at the front. Always returns a new array of x's dtype.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InputError(f"fit_length: n must be a positive int, got {n!r}")
    if not isinstance(x, np.ndarray) or x.ndim != 1:
        shape = x.shape if isinstance(x, np.ndarray) else type(x).__name__
        raise InputShapeError(f"fit_length: x must be a 1-D array (samples,), got {shape}")
    n = int(n)
    size = x.shape[0]
    if size >= n:
        start = (size - n + 1) // 2
        return x[start : start + n].copy()
    out = np.zeros(n, dtype=x.dtype)
    left = (n - size) // 2
    out[left : left + size] = x
    return out


def samples_first(x: npt.NDArray[T], label: str) -> npt.NDArray[T]:
    """An audio array as (samples, channels): (samples,) gets a channel axis, and a 2-D
    array is (samples, channels) when it has at most MAX_CHANNELS_FIRST columns, else
    (channels, samples) and transposed. Other shapes raise InputShapeError."""
    if x.ndim == 1:
        return x[:, None]
    if x.ndim == 2:
        rows, cols = x.shape
        if cols <= MAX_CHANNELS_FIRST:
            return x
        if rows <= MAX_CHANNELS_FIRST:
            return x.T
        raise InputShapeError(
            f"{label}: a 2-D array of shape {x.shape} has no channel axis of at most "
            f"{MAX_CHANNELS_FIRST}; for several clips pass a list of 1-D arrays"
        )
    raise InputShapeError(
        f"{label}: audio must be 1-D (samples,) or 2-D (samples, channels), got shape {x.shape}"
    )


def _read_file(path: str | os.PathLike[str], label: str) -> tuple[npt.NDArray[np.float32], int]:
    """Read a file as (samples, channels) float32 after checking it from its header."""
    if not os.path.exists(path):
        raise AudioInputError(f"{label}: file not found")
    if os.path.isdir(path):
        raise AudioInputError(f"{label}: is a directory, expected an audio file")
    try:
        size = os.path.getsize(path)
    except OSError as e:
        raise AudioInputError(f"{label}: cannot read the file: {e}") from e
    if size == 0:
        raise AudioInputError(f"{label}: empty file (0 bytes)")
    if not os.access(path, os.R_OK):
        raise AudioInputError(f"{label}: permission denied")
    try:
        with sf.SoundFile(path) as f:
            frames, rate, log, fmt = f.frames, f.samplerate, f.extra_info, f.format
            rate = check_sample_rate(rate, f"{label}: the file's sample rate")
            short = _short_chunk(log)
            if short is not None:
                raise AudioInputError(
                    f"{label}: truncated or corrupt file: its header promises {short[0]} bytes "
                    f"of samples but only {short[1]} are present"
                )
            if frames <= 0:
                raise AudioInputError(f"{label}: contains no audio samples (0 frames)")
            _check_duration(frames, rate, label, "its header says")
            data = f.read(frames, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as e:
        raise AudioInputError(_unreadable(path, label, e)) from e
    except TypeError as e:  # soundfile: a headerless .raw file needs a rate and format
        raise AudioInputError(
            f"{label}: headerless raw audio ({e}); convert it to WAV or FLAC, or read it "
            "with numpy and pass the array with its sample_rate"
        ) from e
    except (OSError, MemoryError) as e:
        raise AudioInputError(f"{label}: cannot read the file: {e}") from e
    # MP3 headers may only estimate the length; every other format states it exactly.
    slack = frames // 100 if fmt == "MP3" else 0
    if data.shape[0] < frames - slack:
        raise AudioInputError(
            f"{label}: truncated or corrupt file: read {data.shape[0]} of the "
            f"{frames} frames its header promises"
        )
    if data.shape[0] == 0:
        raise AudioInputError(f"{label}: contains no audio samples")
    _check_values(data, label)
    return data, rate


def _short_chunk(log: str) -> tuple[int, int] | None:
    for match in _SHORT_CHUNK.finditer(log):
        declared, present = int(match.group(1)), int(match.group(2))
        if declared > present and declared not in _UNKNOWN_LENGTH:
            return declared, present
    return None


def _unreadable(path: str | os.PathLike[str], label: str, err: Exception) -> str:
    """Say why libsndfile refused a file, naming what it looks like when it is not audio."""
    detail = str(getattr(err, "error_string", None) or err).strip()
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError as e:
        return f"{label}: cannot read the file: {e}"
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return f"{label}: not an audio file (it looks like {kind}); libsndfile: {detail}"
    if "not recognised" in detail.lower():
        if _looks_like_text(head):
            return f"{label}: not an audio file (it looks like text); libsndfile: {detail}"
        return f"{label}: not an audio file in any format libsndfile reads ({detail})"
    if "system error" in detail.lower():
        return f"{label}: cannot read the file (libsndfile: {detail})"
    return f"{label}: truncated or corrupt audio file; libsndfile: {detail}"


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start >= len(head) - 3  # a multi-byte character cut by the 512-byte read
    return True


def _check_duration(frames: int, rate: int, label: str, source: str) -> None:
    seconds = frames / rate
    if seconds > MAX_AUDIO_SECONDS:
        raise AudioInputError(
            f"{label}: audio too long: {source} {frames} samples at {rate} Hz = "
            f"{seconds:.1f} s; the limit is MAX_AUDIO_SECONDS = {MAX_AUDIO_SECONDS:g} s"
        )


def _array_to_float(x: npt.NDArray[Any], rate: int, label: str) -> npt.NDArray[np.float32]:
    """Check an array and return it as (samples, channels) float32."""
    kind = x.dtype.kind
    dtype = x.dtype.name if kind != "f" else ""  # dtype.name is slow: only PCM needs it
    if kind not in "fiu" or (kind in "iu" and dtype not in _PCM_SCALE):
        raise InputDTypeError(
            f"{label}: audio dtype {x.dtype} is not supported; expected float16/32/64 "
            f"in [-1, 1] or PCM int8/int16/int32/uint8"
        )
    x2 = samples_first(x, label)
    if x2.shape[0] == 0 or x2.shape[1] == 0:
        raise AudioInputError(f"{label}: contains no audio samples (shape {x.shape})")
    _check_duration(x2.shape[0], rate, label, "the array has")
    if kind == "f":
        _check_values(x2, label)  # before the cast: float64 beyond float32's range -> inf
        return x2.astype(np.float32)
    offset, scale = _PCM_SCALE[dtype]
    return ((x2.astype(np.float64) - offset) / scale).astype(np.float32)


def _check_values(x: npt.NDArray[Any], label: str) -> None:
    """Float samples, shape = (samples, channels): finite, and at most MAX_FLOAT_PEAK."""
    peak = float(np.abs(x).max())  # NaN and inf make it NaN or inf: one pass for all
    if peak <= MAX_FLOAT_PEAK:
        return
    finite = np.isfinite(x)
    if not finite.all():
        n_nan = int(np.isnan(x).sum())
        n_inf = int(finite.size - finite.sum()) - n_nan
        first = int(np.argmin(finite.all(axis=1)))
        raise AudioInputError(
            f"{label}: {n_nan} NaN and {n_inf} inf samples (first at sample {first}); "
            "audio must be finite"
        )
    raise AudioInputError(
        f"{label}: float samples must lie in [-1, 1] but the peak is {peak:.4g}; "
        "is this integer PCM stored as float? (divide int16 values by 32768)"
    )


def _finish(
    x: npt.NDArray[np.float32], rate: int, target: int, label: str
) -> npt.NDArray[np.float32]:
    """(samples, channels) float32 -> downmixed, resampled, clipped (samples,) float32."""
    mono = x[:, 0] if x.shape[1] == 1 else x.mean(axis=1, dtype=np.float32)
    mono = np.ascontiguousarray(mono, dtype=np.float32)
    if rate != target:
        mono = np.asarray(soxr.resample(mono, rate, target, quality="HQ"), dtype=np.float32)
        if mono.shape[0] == 0:
            raise AudioInputError(
                f"{label}: too short to resample from {rate} Hz to {target} Hz "
                f"({x.shape[0]} samples)"
            )
    return np.minimum(np.maximum(mono, -1.0, out=mono), 1.0, out=mono)  # np.clip, faster
