"""Test streams for keyword spotting, built from a Speech Commands-layout folder.

    audio, truth = build_stream("data/speech", split="test", seconds=60, seed=0)
    # audio (S,) float32 at 16 kHz; truth: [TruthEvent("yes", 1.32, 1.71, "yes"), ...]
    noise = build_noise(split.noise, seconds=600, seed=0)   # noise-only, for false alarms

A recording is words in random order, each cut to where its energy is (so the pauses
between words are real pauses), separated by random pauses and now and then a longer
noise-only stretch, over one background noise clip at a random speech-to-noise ratio.
Commands (the loader's command words) are labelled with their word; every other word is
`_unknown_`, listed too so false alarms on non-command speech can be counted. Everything
is drawn from numpy generators seeded by (seed, recording): the same seed, the same audio.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from lstm_apps.data.speech_commands import (
    SAMPLE_RATE,
    UNKNOWN,
    WORDS,
    SpeechCommandsSplit,
    read_wav,
)
from lstm_apps.runtime.errors import DataFormatError, InputError

TRIM_FRAME_SECONDS = 0.01  # energy frames of the word trim
TRIM_BELOW_PEAK_DB = 30.0  # a word's frames lie within this of its loudest frame ...
TRIM_ABOVE_FLOOR_DB = 10.0  # ... and this far above the clip's floor (its 10th percentile)
TRIM_PAD_SECONDS = 0.02  # kept either side of the loud part
FADE_SECONDS = 0.005  # fade in and out of each cut word: no clicks at the cut
NOISE_SEGMENT_SECONDS = (5.0, 20.0)  # length of each stretch of the noise-only recording
NOISE_LEVEL_DB = (-60.0, -20.0)  # its RMS level, dBFS
HUM_SHARE = 0.2  # share of noise-only stretches that are mains hum


@dataclass(frozen=True)
class TruthEvent:
    """One word spoken in a test stream."""

    label: str  # the command, or "_unknown_" for any other word
    start: float  # seconds from the recording start
    end: float  # seconds
    word: str = ""  # the folder it came from ("cat" for an _unknown_ "cat")


@dataclass(frozen=True)
class StreamSpec:
    """How a test recording is put together."""

    seconds: float = 60.0  # length of each recording
    snr_db: tuple[float, float] = (5.0, 20.0)  # speech-to-noise ratio, drawn per recording
    pause: tuple[float, float] = (0.3, 1.5)  # silence after each word, seconds
    min_onset_gap: float = 1.0  # word starts at least this far apart, seconds (one a second,
    #                             as people say commands; the detector's refractory is 0.8 s)
    unknown_share: float = 0.3  # chance that a word is a non-command
    gap_prob: float = 0.1  # chance of a noise-only stretch before a word
    gap: tuple[float, float] = (2.0, 6.0)  # its length, seconds
    level_db: float = -26.0  # the words' RMS level, dBFS ...
    level_jitter_db: float = 6.0  # ... plus or minus this, per word

    def __post_init__(self) -> None:
        _check_number("seconds", self.seconds, low=2.0)
        for name in ("snr_db", "pause", "gap"):
            _check_range(name, getattr(self, name), low=-60.0 if name == "snr_db" else 0.0)
        _check_number("min_onset_gap", self.min_onset_gap, low=0.0)
        _check_number("unknown_share", self.unknown_share, low=0.0, high=1.0)
        _check_number("gap_prob", self.gap_prob, low=0.0, high=1.0)
        _check_number("level_db", self.level_db, low=-80.0, high=-3.0)
        _check_number("level_jitter_db", self.level_jitter_db, low=0.0, high=20.0)


def _is_real(x: Any) -> bool:
    return (
        isinstance(x, (int, float, np.integer, np.floating))
        and not isinstance(x, bool)
        and bool(np.isfinite(x))
    )


def _check_number(name: str, x: Any, *, low: float, high: float | None = None) -> None:
    if not _is_real(x) or x < low or (high is not None and x > high):
        want = f"a number >= {low:g}" if high is None else f"a number in [{low:g}, {high:g}]"
        raise InputError(f"{name} must be {want}, got {x!r}")


def _check_range(name: str, x: Any, *, low: float) -> None:
    if (
        not isinstance(x, (tuple, list))
        or len(x) != 2
        or not all(_is_real(v) and v >= low for v in x)
        or x[0] > x[1]
    ):
        raise InputError(
            f"{name} must be a pair (low, high) with {low:g} <= low <= high, got {x!r}"
        )


def trim_word(x: npt.NDArray[np.float32], rate: int = SAMPLE_RATE) -> tuple[int, int]:
    """Where the word is in a clip x (samples,): (start, end) sample indices.

    Keeps the 10 ms frames whose RMS is within TRIM_BELOW_PEAK_DB of the loudest frame and
    TRIM_ABOVE_FLOOR_DB above the clip's floor (at most 6 dB below the peak, for clips that
    are all noise), from the first such frame to the last, padded by TRIM_PAD_SECONDS.
    """
    frame = max(1, round(TRIM_FRAME_SECONDS * rate))
    n = len(x) // frame
    if n == 0:
        return 0, len(x)
    x64 = x[: n * frame].astype(np.float64).reshape(n, frame)
    db = 10 * np.log10(np.maximum((x64**2).mean(axis=1), 1e-20))
    peak, floor = float(db.max()), float(np.percentile(db, 10))
    thr = min(max(peak - TRIM_BELOW_PEAK_DB, floor + TRIM_ABOVE_FLOOR_DB), peak - 6.0)
    loud = np.flatnonzero(db >= thr)
    pad = round(TRIM_PAD_SECONDS * rate)
    return max(0, int(loud[0]) * frame - pad), min(len(x), (int(loud[-1]) + 1) * frame + pad)


def _rms(x: npt.NDArray[Any]) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


def _faded(x: npt.NDArray[np.float64], rate: int) -> npt.NDArray[np.float64]:
    k = min(len(x) // 2, round(FADE_SECONDS * rate))
    if k:
        ramp = np.linspace(0.0, 1.0, k, endpoint=False)
        x[:k] *= ramp
        x[len(x) - k :] *= ramp[::-1]
    return x


def _loop(clip: npt.NDArray[np.float32], n: int, rng: np.random.Generator) -> npt.NDArray[Any]:
    """n samples of `clip` from a random offset, looped when the clip is shorter."""
    start = int(rng.integers(0, len(clip)))
    reps = -(-(start + n) // len(clip))
    return np.tile(clip, reps)[start : start + n].astype(np.float64)


def word_pools(data: SpeechCommandsSplit) -> tuple[list[tuple[str, Any]], list[tuple[str, Any]]]:
    """(commands, others): (label, path) of the split's command words and other words."""
    commands = [(ex.label, ex.path) for ex in data.examples if ex.path and ex.label != UNKNOWN]
    others = [(ex.label, ex.path) for ex in data.examples if ex.path and ex.label == UNKNOWN]
    if not commands:
        raise DataFormatError(f"{data.root}: no command words in the {data.split!r} split")
    if not data.noise:
        raise DataFormatError(
            f"{data.root}/_background_noise_ holds no noise clips: a test stream needs them"
        )
    return commands, others


def make_recording(
    data: SpeechCommandsSplit, spec: StreamSpec, *, seed: int, recording: int = 0
) -> tuple[npt.NDArray[np.float32], list[TruthEvent], float]:
    """One recording from an indexed split: audio (S,) float32, truth, its SNR in dB."""
    commands, others = word_pools(data)
    rate = SAMPLE_RATE
    rng = np.random.default_rng([seed, recording, 0x57E4])
    total = round(spec.seconds * rate)
    speech = np.zeros(total, np.float64)
    truth: list[TruthEvent] = []
    t = rng.uniform(0.5, 1.0)  # lead-in
    while True:
        if rng.random() < spec.gap_prob:
            t += rng.uniform(*spec.gap)
        pool = others if others and rng.random() < spec.unknown_share else commands
        label, path = pool[int(rng.integers(len(pool)))]
        clip = read_wav(path)
        a, b = trim_word(clip, rate)
        word = clip[a:b].astype(np.float64)
        level = spec.level_db + rng.uniform(-spec.level_jitter_db, spec.level_jitter_db)
        word = _faded(word * 10 ** (level / 20) / max(_rms(word), 1e-9), rate)
        start = round(t * rate)
        if start + len(word) > total - round(0.5 * rate):
            break
        speech[start : start + len(word)] = word
        end = start + len(word)
        truth.append(TruthEvent(label, start / rate, end / rate, path.parent.name))
        t = end / rate + max(rng.uniform(*spec.pause), spec.min_onset_gap - len(word) / rate)
    snr = float(rng.uniform(*spec.snr_db))
    noise = _loop(data.noise[int(rng.integers(len(data.noise)))], total, rng)
    noise *= 10 ** ((spec.level_db - snr) / 20) / max(_rms(noise), 1e-9)
    audio = np.clip(speech + noise, -1.0, 1.0).astype(np.float32)
    return audio, truth, snr


def build_stream(
    data_dir: str | os.PathLike[str],
    *,
    split: str = "test",
    seconds: float = 60.0,
    seed: int = 0,
    snr_db: tuple[float, float] = (5.0, 20.0),
    pause: tuple[float, float] = (0.3, 1.5),
    unknown_share: float = 0.3,
    recording: int = 0,
    commands: Sequence[str] = WORDS,
) -> tuple[npt.NDArray[np.float32], list[TruthEvent]]:
    """One test recording from the words of `split`: audio (S,) float32 at 16 kHz with
    S = round(seconds * 16000), and its truth in time order (see the module docstring).
    `commands`: the word folders labelled as commands (a model's); others are `_unknown_`."""
    from lstm_apps.eval.speech import index_split

    spec = StreamSpec(seconds=seconds, snr_db=snr_db, pause=pause, unknown_share=unknown_share)
    data = index_split(
        data_dir, split, seed=seed, silence_fraction=0.0, unknown_fraction=0.5, commands=commands
    )
    audio, truth, _ = make_recording(data, spec, seed=seed, recording=recording)
    return audio, truth


def _hum(rng: np.random.Generator, n: int, rate: int) -> npt.NDArray[np.float64]:
    """Mains hum, 50 or 60 Hz: the recipe of the generator's hum files."""
    from lstm_apps.data.speech_clips import mains_hum

    assert rate == SAMPLE_RATE  # the generator's recipe is at 16 kHz
    return mains_hum(rng, n, 50.0 if rng.random() < 0.5 else 60.0)


def build_noise(
    noise: Sequence[npt.NDArray[np.float32]], seconds: float, *, seed: int = 0, piece: int = 0
) -> npt.NDArray[np.float32]:
    """A noise-only recording (S,) float32 at 16 kHz: stretches of NOISE_SEGMENT_SECONDS,
    each a background clip (or, HUM_SHARE of them, mains hum) at a level drawn from
    NOISE_LEVEL_DB, faded in and out. Every detection in it is a false alarm. `piece`
    numbers the recordings of one seed (long noise is scored as several)."""
    _check_number("noise seconds", seconds, low=0.0)
    if not noise:
        raise DataFormatError("no background noise clips to build a noise-only recording from")
    rate = SAMPLE_RATE
    rng = np.random.default_rng([seed, piece, 0x401E])
    total = round(seconds * rate)
    out = np.zeros(total, np.float64)
    pos = 0
    while pos < total:
        n = min(total - pos, round(rng.uniform(*NOISE_SEGMENT_SECONDS) * rate))
        if rng.random() < HUM_SHARE:
            seg = _hum(rng, n, rate)
        else:
            seg = _loop(noise[int(rng.integers(len(noise)))], n, rng)
        level = rng.uniform(*NOISE_LEVEL_DB)
        seg = seg * 10 ** (level / 20) / max(_rms(seg), 1e-9)
        out[pos : pos + n] = _faded(seg, rate) if n > 4 * FADE_SECONDS * rate else seg
        pos += n
    return np.clip(out, -1.0, 1.0).astype(np.float32)
