"""Voice, room and channel transformations for synthesized words (data-generation time).

One synthesizer has one way of making a voice. These transformations vary what it cannot,
with real speech-processing tools, so the classifier learns the word and not the engine:

- voice (pyworld, the WORLD vocoder): analyse, then resynthesise with a new f0 level and
  contour (scale, slope, wobble, jitter), a vocal-tract-length warp of the spectral
  envelope (formants move together), a smooth random envelope perturbation (+-dB bumps
  and tilt), and more aperiodicity (breathiness);
- room (pyroomacoustics): a simulated shoebox room impulse response, random size, RT60,
  source and microphone positions, convolved in;
- channel (pedalboard): microphone / loudspeaker EQ (high-pass, low-pass, peaks,
  shelves), telephone band (300-3400 Hz) with GSM full-rate coding, MP3 coding, low bit
  depth, clipping, DC offset.

Each is applied with its own probability and drawn from the caller's generator, so a
clip is a pure function of the seed; `TransformConfig` is recorded in generator.json.

    >>> y, applied = transform(x, np.random.default_rng(0), TransformConfig())
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from lstm_apps.runtime.errors import DependencyError

__all__ = ["TransformConfig", "channel", "room", "transform", "world_voice"]

SAMPLE_RATE = 16000
Audio = npt.NDArray[np.float64]


@dataclass(frozen=True)
class TransformConfig:
    """Probabilities and ranges of the transformations; all off with `TransformConfig.off()`."""

    world_prob: float = 0.6  # resynthesise with WORLD
    f0_scale: tuple[float, float] = (0.65, 1.7)  # f0 level factor (log-uniform)
    f0_slope_semitones: float = 4.0  # a linear rise or fall over the word, up to this
    f0_wobble_semitones: float = 1.5  # slow random f0 movement, up to this
    vtl_warp: tuple[float, float] = (0.82, 1.2)  # spectral-envelope frequency factor
    envelope_db: float = 6.0  # smooth random envelope bumps and tilt, up to this
    breath: tuple[float, float] = (0.0, 0.7)  # aperiodicity mixed in (0 = as analysed)
    room_prob: float = 0.35  # convolve a simulated room
    rt60: tuple[float, float] = (0.15, 0.8)  # reverberation time, seconds
    channel_prob: float = 0.6  # microphone / loudspeaker EQ
    phone_prob: float = 0.08  # telephone band + GSM coding
    mp3_prob: float = 0.08  # MP3 coding
    bits_prob: float = 0.05  # 6-12 bit quantisation
    clip_prob: float = 0.05  # hard clipping after up to 12 dB of gain
    dc_prob: float = 0.05  # a DC offset

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def off(cls) -> TransformConfig:
        zero = {k: 0.0 for k in cls.__dataclass_fields__ if k.endswith("_prob")}
        return cls(**zero)


def _need(module: str, package: str) -> None:
    """A DependencyError naming the pip package, instead of a bare ModuleNotFoundError."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise DependencyError(
            f"the speech transformations need {package}: pip install {package} "
            "(or the training extras: pip install .[train])"
        )


def _smooth_curve(rng: np.random.Generator, n: int, knots: int, scale: float) -> Audio:
    """A smooth random curve of n points: `knots` uniform values in [-scale, scale],
    linearly interpolated."""
    pts = rng.uniform(-scale, scale, knots)
    return np.interp(np.linspace(0, knots - 1, n), np.arange(knots), pts)


def world_voice(x: Audio, rng: np.random.Generator, cfg: TransformConfig) -> Audio:
    """Resynthesise x (float64 at 16 kHz) with WORLD after changing f0, envelope and
    aperiodicity. Same length as x."""
    _need("pyworld", "pyworld")
    import pyworld as pw

    period = 10.0  # ms; coarser than WORLD's 5 ms default: half the cost, same effect here
    f0, t = pw.dio(x, SAMPLE_RATE, frame_period=period)
    f0 = pw.stonemask(x, f0, t, SAMPLE_RATE)
    sp = pw.cheaptrick(x, f0, t, SAMPLE_RATE)  # (frames, 513)
    ap = pw.d4c(x, f0, t, SAMPLE_RATE)
    n, bins = sp.shape
    lo, hi = np.log(cfg.f0_scale)
    semis = (
        rng.uniform(-1, 1) * cfg.f0_slope_semitones * np.linspace(-0.5, 0.5, n)
        + _smooth_curve(rng, n, 4, cfg.f0_wobble_semitones)
        + rng.normal(0, 0.1, n)  # jitter
    )
    f0 = f0 * np.exp(rng.uniform(lo, hi)) * 2 ** (semis / 12)
    f0 = np.clip(f0, 0, 600)  # unvoiced frames stay 0
    # Vocal-tract length: the envelope at frequency f takes the value it had at f / alpha.
    alpha = rng.uniform(*cfg.vtl_warp)
    src = np.clip(np.arange(bins) / alpha, 0, bins - 1)
    sp = np.stack([np.interp(src, np.arange(bins), row) for row in sp])
    gain_db = _smooth_curve(rng, bins, 6, cfg.envelope_db) + np.linspace(
        0, rng.uniform(-cfg.envelope_db, cfg.envelope_db), bins
    )
    sp = sp * 10 ** (gain_db / 10)[None, :]
    b = rng.uniform(*cfg.breath)
    ap = 1.0 - (1.0 - ap) * (1.0 - b * np.linspace(0.3, 1.0, bins))[None, :]
    y = pw.synthesize(np.ascontiguousarray(f0), np.ascontiguousarray(sp),
                      np.ascontiguousarray(np.clip(ap, 0, 1)), SAMPLE_RATE, period)  # fmt: skip
    y = y[: len(x)]
    return np.pad(y, (0, len(x) - len(y)))


def room(x: Audio, rng: np.random.Generator, cfg: TransformConfig) -> Audio:
    """x convolved with a simulated room impulse response (image method, order <= 10),
    cut to x's length plus up to 0.3 s of reverberant tail."""
    _need("pyroomacoustics", "pyroomacoustics")
    import pyroomacoustics as pra
    from scipy.signal import fftconvolve

    dims = np.array([rng.uniform(3, 10), rng.uniform(3, 8), rng.uniform(2.4, 4)])
    rt60 = rng.uniform(*cfg.rt60)
    try:
        absorption, order = pra.inverse_sabine(rt60, dims)
    except ValueError:  # an RT60 the room cannot have: take a drier one
        absorption, order = pra.inverse_sabine(0.2, dims)
    shoebox = pra.ShoeBox(
        dims, fs=SAMPLE_RATE, materials=pra.Material(absorption), max_order=min(order, 10)
    )
    margin = 0.5
    shoebox.add_source(rng.uniform(margin, dims - margin))
    shoebox.add_microphone(rng.uniform(margin, dims - margin))
    shoebox.compute_rir()
    rir = np.asarray(shoebox.rir[0][0], np.float64)[: int(0.5 * SAMPLE_RATE)]
    start = int(np.argmax(np.abs(rir)))  # the direct path: no added delay
    y = fftconvolve(x, rir[start:])[: len(x) + int(0.3 * SAMPLE_RATE)]
    return y * (np.abs(x).max() / max(float(np.abs(y).max()), 1e-12))


def channel(x: Audio, rng: np.random.Generator, cfg: TransformConfig) -> tuple[Audio, list[str]]:
    """Microphone, loudspeaker and line effects; returns the audio and what was applied."""
    _need("pedalboard", "pedalboard")
    import pedalboard as pb

    done: list[str] = []
    y = x.astype(np.float32)
    if rng.random() < cfg.channel_prob:
        board = [
            pb.HighpassFilter(float(np.exp(rng.uniform(np.log(40), np.log(500))))),
            pb.LowpassFilter(float(np.exp(rng.uniform(np.log(2500), np.log(7800))))),
        ]
        for _ in range(int(rng.integers(0, 3))):
            freq = float(np.exp(rng.uniform(np.log(200), np.log(6000))))
            gain, q = float(rng.uniform(-12, 12)), float(rng.uniform(0.5, 4))
            board.append(pb.PeakFilter(freq, gain, q))
        if rng.random() < 0.5:
            shelf = pb.LowShelfFilter if rng.random() < 0.5 else pb.HighShelfFilter
            board.append(shelf(float(rng.uniform(300, 3000)), float(rng.uniform(-10, 10))))
        y = pb.Pedalboard(board)(y, SAMPLE_RATE)
        done.append("eq")
    if rng.random() < cfg.phone_prob:
        board = [pb.HighpassFilter(300.0), pb.LowpassFilter(3400.0), pb.GSMFullRateCompressor()]
        y = pb.Pedalboard(board)(y, SAMPLE_RATE)
        done.append("phone")
    if rng.random() < cfg.mp3_prob:
        q = float(rng.uniform(2, 9.5))
        y = pb.Pedalboard([pb.MP3Compressor(vbr_quality=q)])(y, SAMPLE_RATE)
        done.append("mp3")
    out = y.astype(np.float64)
    if rng.random() < cfg.bits_prob:
        levels = 2 ** int(rng.integers(6, 13)) / 2
        out = np.round(out / max(float(np.abs(out).max()), 1e-12) * levels) / levels
        done.append("bits")
    if rng.random() < cfg.clip_prob:
        peak = max(float(np.abs(out).max()), 1e-12)
        out = np.clip(out / peak * 10 ** (rng.uniform(1, 12) / 20), -1, 1)
        done.append("clip")
    if rng.random() < cfg.dc_prob:
        out = out + rng.uniform(-0.1, 0.1) * float(np.abs(out).max())
        done.append("dc")
    return out, done


def transform(x: Audio, rng: np.random.Generator, cfg: TransformConfig) -> tuple[Audio, list[str]]:
    """Apply voice, room and channel transformations to x (float64, 16 kHz, a trimmed word);
    returns the new audio (finite; as long as x, plus a reverberant tail after a room) and
    the names of what was applied."""
    applied: list[str] = []
    if rng.random() < cfg.world_prob and len(x) > 1024:
        x = world_voice(x, rng, cfg)
        applied.append("world")
    if rng.random() < cfg.room_prob:
        x = room(x, rng, cfg)
        applied.append("room")
    x, done = channel(x, rng, cfg)
    applied += done
    if not np.isfinite(x).all():  # never seen; a tool misbehaving must not poison a clip
        raise RuntimeError(f"transformations {applied} gave non-finite audio")
    return x, applied
