"""Keyword spotting on a stream: per-frame class posteriors in, one Detection per spoken word out.

    det = Detector(labels, DetectorConfig(frame_seconds=0.02))
    for probs in chunks:                  # (frames, classes) float32, any chunk sizes
        for d in det.push(probs):
            print(d.label, d.score, d.time)
    det.flush()                           # at the end of the stream: a word still in progress

Pure numpy and stateful, so frames can arrive in chunks of any size: the detections are
identical whatever the chunking.

The rule, frame by frame. Frame i is at time i * frame_seconds; a duration setting becomes
round(seconds / frame_seconds) frames (Python's round: halves go to even), giving
smooth_frames (at least 1), hold_frames, refractory_frames and max_bump_frames (at least
min_frames).

1. Smooth: s_i = the mean of the last `smooth_frames` posterior frames (a trailing moving
   average; the stream is taken to start in silence, i.e. zeros before frame 0).
2. Score: m_i = max of s_i over the labels not in `ignore`, and a_i = that label (the
   first in label order on a tie).
3. Bump: a bump starts at a frame with m_i >= threshold and goes on while m_i >= release
   (`release_threshold`; by default threshold / 2). A dip below release ends it only once
   the dip has lasted more than hold_frames frames; if m is back to >= release sooner, the
   bump goes on, the dip included. So a bump closes at the frame hold_frames + 1 after its
   last frame with m >= release.
4. Refractory: a frame with m_i >= threshold less than refractory_frames after the previous
   detection's peak frame starts no bump; the frames from it are ignored until m < release.
5. Detect: a bump gives one Detection when it closes, provided m_i >= threshold on at
   least `min_frames` of its frames (not necessarily consecutive). Its label and score are
   a_i and m_i at the bump's peak (its frame of highest m; the first such frame on a tie),
   and its time is the peak frame minus the moving average's delay of
   (smooth_frames - 1) / 2 frames, clamped at 0: the centre of the window, where the raw
   posteriors peak.
6. Cap: a bump that reaches max_bump_frames frames, counted from its start (dips
   included), is decided at once as in 5, and the frames after it are ignored until
   m < release: a score that stays high can neither delay nor repeat a detection.

Arithmetic: s and m are float32 (each window summed oldest frame first, then divided by
smooth_frames). m is compared with threshold and release exactly: the float32 value against
the setting as a float64 (do not round the setting to float32: float32(0.7) < 0.7). The peak
moves to a later frame only if that frame's m is strictly greater. The precision is part of
the rule: saturated posteriors sum to exactly 1.0 in float32, a plateau of ties whose first
frame is the peak, where float64 sums differ and peak later (export/README.md).

So a word's label is decided over its bump, not at the first crossing: an early bump of the
wrong label on a word's onset ("go" on the start of "down") joins the word's real bump and
loses to its higher score, and a label switch inside one word (e.g. "off" briefly ahead of
"up") gives one detection, labelled by the highest smoothed score. A bump gives at most one
detection. The peak frames of two detections are at least refractory_frames apart (a bump
starts that long after the previous peak or later, and its peak is not before its start),
hence so are their times, unless the first was clamped at 0. Two words whose bumps are
less than hold_frames + 1 frames apart become one bump, one detection, unless the first
reached the cap before the second began.

Latency: a detection is emitted at the frame its bump closes, hold_frames + 1 frames after
its last frame with m >= release, or at the bump's max_bump_frames-th frame if sooner.
Against deciding at the first frame below threshold, that adds the fall of m from
threshold to release (a few frames with 0.2 s smoothing) plus hold_seconds + one frame
(0.18 s with the defaults). flush() decides a bump still open at the end of the stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from lstm_apps.runtime.errors import InputDTypeError, InputError, InputShapeError

F = TypeVar("F", bound=np.floating[Any])

_IDLE, _BUMP, _IGNORE = 0, 1, 2  # no bump / a bump that may fire / ignoring until m < release
_PROB_TOL = 1e-4  # posteriors may stray this far outside [0, 1] from float rounding


@dataclass(frozen=True)
class Detection:
    """One spotted keyword."""

    label: str  # the command
    score: float  # its smoothed posterior at the peak, in [0, 1]
    time: float  # seconds from the stream start to the peak


@dataclass(frozen=True)
class DetectorConfig:
    """How posteriors become detections; see the module docstring for the exact rule."""

    frame_seconds: float  # hop between posterior frames: the model's frame rate, e.g. 0.02
    smooth_seconds: float = 0.2  # moving-average window over the posteriors
    threshold: float = 0.7  # the smoothed posterior a command must reach
    refractory_seconds: float = 0.8  # after a detection, no command can fire for this long
    min_frames: int = 3  # a bump must have this many frames >= threshold to fire
    ignore: tuple[str, ...] = ("_silence_", "_unknown_")  # labels that never fire
    release_threshold: float | None = None  # a bump goes on while >= this; None: threshold / 2
    hold_seconds: float = 0.16  # a dip below release up to this long does not end a bump
    max_bump_seconds: float = 0.8  # a bump this long is decided at once (a score stuck high)

    def __post_init__(self) -> None:
        def bad(field: str, value: Any, want: str) -> InputError:
            return InputError(f"DetectorConfig.{field} must be {want}, got {value!r}")

        if not _is_real(self.frame_seconds) or not self.frame_seconds > 0:
            raise bad("frame_seconds", self.frame_seconds, "a positive number of seconds")
        if not _is_real(self.smooth_seconds) or not self.smooth_seconds >= 0:
            raise bad("smooth_seconds", self.smooth_seconds, "a number of seconds >= 0")
        if not _is_real(self.threshold) or not 0 < self.threshold <= 1:
            raise bad("threshold", self.threshold, "in (0, 1]")
        if not _is_real(self.refractory_seconds) or not self.refractory_seconds >= 0:
            raise bad("refractory_seconds", self.refractory_seconds, "a number of seconds >= 0")
        if isinstance(self.min_frames, bool) or not isinstance(self.min_frames, int):
            raise bad("min_frames", self.min_frames, "a positive int")
        if self.min_frames < 1:
            raise bad("min_frames", self.min_frames, "a positive int")
        if isinstance(self.ignore, str) or not all(isinstance(s, str) for s in self.ignore):
            raise bad("ignore", self.ignore, "a tuple of label strings")
        release = self.release_threshold
        if release is not None and (not _is_real(release) or not 0 < release <= self.threshold):
            raise bad("release_threshold", release, f"None or in (0, threshold={self.threshold}]")
        if not _is_real(self.hold_seconds) or not self.hold_seconds >= 0:
            raise bad("hold_seconds", self.hold_seconds, "a number of seconds >= 0")
        if not _is_real(self.max_bump_seconds) or not self.max_bump_seconds > 0:
            raise bad("max_bump_seconds", self.max_bump_seconds, "a positive number of seconds")

    def settings(self) -> dict[str, Any]:
        """Everything but frame_seconds (a property of the model), as JSON: what a bundle's
        `detector` metadata holds."""
        settings = asdict(self)
        del settings["frame_seconds"]
        return {**settings, "ignore": list(self.ignore)}

    @classmethod
    def from_settings(cls, frame_seconds: float, settings: dict[str, Any]) -> DetectorConfig:
        """The inverse of `settings()`; missing keys take the defaults (bundles written before
        a setting existed lack it), unknown keys are an InputError naming them."""
        known = {f.name for f in fields(cls)} - {"frame_seconds"}
        if set(settings) - known:
            raise InputError(f"detector settings: unknown keys {sorted(set(settings) - known)}")
        kw = {**settings, "ignore": tuple(settings.get("ignore", cls.ignore))}
        if "max_bump_seconds" not in kw and "refractory_seconds" in kw:
            # bundles from before the cap was a setting capped a run at the refractory time
            kw["max_bump_seconds"] = max(kw["refractory_seconds"], frame_seconds)
        return cls(frame_seconds=frame_seconds, **kw)

    @property
    def smooth_frames(self) -> int:
        """The moving-average window in frames (at least 1: no smoothing)."""
        return max(1, round(self.smooth_seconds / self.frame_seconds))

    @property
    def refractory_frames(self) -> int:
        return round(self.refractory_seconds / self.frame_seconds)

    @property
    def hold_frames(self) -> int:
        return round(self.hold_seconds / self.frame_seconds)

    @property
    def release(self) -> float:
        """The release threshold in effect: release_threshold, or threshold / 2 if None."""
        return self.threshold / 2 if self.release_threshold is None else self.release_threshold

    @property
    def max_bump_frames(self) -> int:
        """The cap: a bump this long is decided at once."""
        return max(round(self.max_bump_seconds / self.frame_seconds), self.min_frames)


def _is_real(x: Any) -> bool:
    return (
        isinstance(x, (int, float, np.integer, np.floating))
        and not isinstance(x, bool)
        and bool(np.isfinite(x))
    )


class Detector:
    """Stateful detector over a stream of posteriors.

    labels : the class names, in the order of the posterior columns.
    config : a DetectorConfig; `frame_seconds` must be the model's hop.
    """

    def __init__(self, labels: Sequence[str], config: DetectorConfig) -> None:
        if isinstance(labels, str) or not all(isinstance(s, str) for s in labels):
            raise InputError(f"Detector: labels must be a sequence of str, got {labels!r}")
        if len(labels) == 0 or len(set(labels)) != len(labels):
            raise InputError(f"Detector: labels must be non-empty and unique, got {labels!r}")
        if not isinstance(config, DetectorConfig):
            raise InputError(f"Detector: config must be a DetectorConfig, got {config!r}")
        self.labels = tuple(labels)
        self.config = config
        # The columns that may fire; a slice when they are contiguous (a view, no copy).
        self._live = np.array([i for i, s in enumerate(labels) if s not in config.ignore], int)
        self._cols: slice | npt.NDArray[np.int_] = self._live
        if self._live.size and (np.diff(self._live) == 1).all():
            self._cols = slice(int(self._live[0]), int(self._live[-1]) + 1)
        self._window = config.smooth_frames
        # Plain floats: m arrives as the exact float64 value of a float32, so `>=` against
        # these is the exact comparison the module docstring specifies.
        self._threshold, self._release = float(config.threshold), float(config.release)
        self._hold, self._refractory = config.hold_frames, config.refractory_frames
        self._cap = config.max_bump_frames
        self.reset()

    def reset(self) -> None:
        """Forget everything: the next push starts a new stream at time 0."""
        self._history = np.zeros((self._window - 1, self._live.size), np.float32)  # live only
        self.frames_seen = 0
        self._mode = _IDLE
        self._len = 0  # frames in the current bump so far
        self._above = 0  # of which m >= threshold
        self._dip = 0  # consecutive frames with m < release, up to now
        self._peak = (-1.0, -1, -1)  # (score, frame, label index) of the current bump
        self._last_peak: int | None = None  # peak frame of the last detection

    def push(self, probs: npt.NDArray[np.floating[Any]]) -> list[Detection]:
        """Feed the next frames; return the detections completed by them, in time order.

        probs : shape = (frames, classes), float posteriors in [0, 1] (softmax outputs);
            frames may be 0.
        """
        return self.push_trusted(self._check(probs))

    def push_trusted(self, x: npt.NDArray[np.float32]) -> list[Detection]:
        """`push` without the input checks, for callers whose frames are softmax outputs
        already (CommandStream): x float32 (frames, classes), finite, in [0, 1]."""
        n = x.shape[0]
        if n == 0:
            return []
        start = self.frames_seen
        self.frames_seen += n
        if self._live.size == 0:
            return []
        buf = np.concatenate([self._history, x[:, self._cols]])  # (window - 1 + n, live)
        # Sum the window term by term, always in the same order, so every frame's value
        # is bit-identical whatever the chunk boundaries (a cumsum would not be).
        acc = buf[:n] + buf[1 : 1 + n] if self._window > 1 else buf[:n].copy()
        for j in range(2, self._window):
            acc += buf[j : j + n]
        smooth = np.divide(acc, np.float32(self._window), out=acc)  # (n, live classes)
        self._history = buf[n:]
        top = smooth.max(axis=1)
        # Idle (no bump or ignore run open) and no score reaching the threshold: no frame
        # can change anything but the history, so skipping them is exact (as in push_many).
        if self._mode == _IDLE and top.max() < self._threshold:  # NaN: the full path
            return []
        best = top.tolist()
        which = self._live[smooth.argmax(axis=1)].tolist()
        out: list[Detection] = []
        for i, (score, label) in enumerate(zip(best, which, strict=True)):
            det = self._step(start + i, score, label)
            if det is not None:
                out.append(det)
        return out

    def flush(self) -> list[Detection]:
        """End of stream: decide the bump in progress, as if it closed (call reset() next)."""
        if self._mode != _BUMP:
            return []
        self._mode = _IGNORE
        det = self._emit()
        return [det] if det is not None else []

    def _step(self, t: int, score: float, label: int) -> Detection | None:
        if self._mode == _IGNORE:  # no hold here: a dip is where the next word may start
            if score < self._release:
                self._mode = _IDLE
            return None
        if self._mode == _IDLE:
            if score < self._threshold:
                return None
            if self._last_peak is not None and t - self._last_peak < self._refractory:
                self._mode = _IGNORE
                return None
            self._mode, self._len, self._above, self._dip = _BUMP, 0, 0, 0
            self._peak = (score, t, label)
        self._dip = 0 if score >= self._release else self._dip + 1
        if self._dip > self._hold:  # the bump closes; this frame is not part of it
            self._mode = _IDLE
            return self._emit()
        self._len += 1
        if score >= self._threshold:
            self._above += 1
        if score > self._peak[0]:
            self._peak = (score, t, label)
        if self._len >= self._cap:
            self._mode = _IGNORE
            return self._emit()
        return None

    def _emit(self) -> Detection | None:
        if self._above < self.config.min_frames:
            return None
        score, frame, label = self._peak
        self._last_peak = frame
        centre = max(0.0, frame - (self._window - 1) / 2)
        return Detection(self.labels[label], score, centre * self.config.frame_seconds)

    def _check(self, probs: Any) -> npt.NDArray[np.float32]:
        if not isinstance(probs, np.ndarray) or probs.dtype.kind != "f":
            what = probs.dtype if isinstance(probs, np.ndarray) else type(probs).__name__
            raise InputDTypeError(f"Detector.push: probs must be a float array, got {what}")
        if probs.ndim != 2 or probs.shape[1] != len(self.labels):
            raise InputShapeError(
                f"Detector.push: probs must have shape (frames, {len(self.labels)}), "
                f"got {probs.shape}"
            )
        x = probs.astype(np.float32, copy=False)
        if x.size and not np.isfinite(x).all():
            raise InputError("Detector.push: probs contain NaN or inf")
        if x.size and (x.min() < -_PROB_TOL or x.max() > 1 + _PROB_TOL):
            raise InputError(
                f"Detector.push: probs must be probabilities in [0, 1], got values in "
                f"[{x.min():.4g}, {x.max():.4g}]; apply softmax() to logits first"
            )
        return x


def softmax(logits: npt.NDArray[F], axis: int = -1) -> npt.NDArray[F]:
    """Numerically stable softmax along `axis`; the result keeps the input's float dtype.

    -inf logits (masked classes) get probability 0; NaN, +inf, or a slice that is all -inf
    raise InputError.
    """
    if not isinstance(logits, np.ndarray) or logits.dtype.kind != "f":
        what = logits.dtype if isinstance(logits, np.ndarray) else type(logits).__name__
        raise InputDTypeError(f"softmax: logits must be a float array, got {what}")
    if not -logits.ndim <= axis < logits.ndim:
        raise InputShapeError(f"softmax: axis {axis} is out of range for shape {logits.shape}")
    if logits.shape[axis] == 0:
        raise InputShapeError(f"softmax: axis {axis} of shape {logits.shape} is empty")
    if np.isnan(logits).any() or np.isposinf(logits).any():
        raise InputError("softmax: logits contain NaN or +inf")
    if not np.isfinite(logits.max(axis=axis)).all():
        raise InputError(f"softmax: a slice along axis {axis} has every logit -inf")
    return softmax_trusted(logits, axis)


def softmax_trusted(logits: npt.NDArray[F], axis: int = -1) -> npt.NDArray[F]:
    """`softmax` without its checks, for logits a model has just produced from checked
    input (the stream's hot path): float, no NaN or +inf, no slice all -inf."""
    e = np.exp(logits - logits.max(axis=axis, keepdims=True))
    out: npt.NDArray[F] = e / e.sum(axis=axis, keepdims=True)
    return out


def push_many(
    detectors: Sequence[Detector], probs: npt.NDArray[np.float32]
) -> list[list[Detection]]:
    """`[d.push_trusted(probs[i]) for i, d in enumerate(detectors)]`, with the same result
    bit for bit, in one set of array operations for the detectors that share a config and
    labels: the moving average and the per-frame maxima of all streams at once, and the
    frame-by-frame rule only for the streams whose scores reach the threshold or that are
    inside a bump. probs : float32 (streams, frames, classes), softmax outputs."""
    if len(detectors) != probs.shape[0]:
        raise InputShapeError(f"push_many: {len(detectors)} detectors, {probs.shape[0]} rows")
    first = detectors[0] if detectors else None
    if first is None or any(
        (d.config is not first.config and d.config != first.config) or d.labels != first.labels
        for d in detectors
    ):
        return [d.push_trusted(p) for d, p in zip(detectors, probs, strict=True)]
    n = probs.shape[1]
    if n == 0 or first._live.size == 0:
        for d in detectors:
            d.frames_seen += n
        return [[] for _ in detectors]
    window = first._window
    history = np.stack([d._history for d in detectors])  # (B, window - 1, live)
    buf = np.concatenate([history, probs[:, :, first._cols]], axis=1)
    # The same sums in the same order as push_trusted: bit-identical smoothed scores.
    acc = buf[:, :n] + buf[:, 1 : 1 + n] if window > 1 else buf[:, :n].copy()
    for j in range(2, window):
        acc += buf[:, j : j + n]
    smooth = np.divide(acc, np.float32(window), out=acc)  # (B, n, live)
    best = smooth.max(axis=2)
    which = first._live[smooth.argmax(axis=2)]
    # Frames that cannot change anything but the history: the detector is idle (no bump
    # or ignore run open) and no score reaches the threshold. Skipping them is exact.
    hot = (best.max(axis=1) >= first._threshold).tolist()
    out: list[list[Detection]] = []
    for i, d in enumerate(detectors):
        d._history = buf[i, n:].copy()
        start = d.frames_seen
        d.frames_seen += n
        found: list[Detection] = []
        if hot[i] or d._mode != _IDLE:
            for t, (score, label) in enumerate(
                zip(best[i].tolist(), which[i].tolist(), strict=True)
            ):
                det = d._step(start + t, score, label)
                if det is not None:
                    found.append(det)
        out.append(found)
    return out
