"""Matching a stream's detections to what was said: hits, wrong labels, false alarms, latency.

    score = score_detections(detections, truth)   # one recording; scores add up with +
    score.recall, score.false_alarms, score.latencies

The rule: a detection matches a spoken command when its time (the detector's peak time)
lies in [start - MATCH_BEFORE, end + MATCH_AFTER] of a command not matched yet; among
several, the one with the same label first, then the nearest word. Same label: a hit;
another label: a wrong label (the command counts as missed). A detection that matches no
command is a false alarm; the ones inside a non-command word's window are counted apart.
Latency is detection time - word end (hits only; negative when the peak lies inside the
word); emission latency is the moment the stream returned it - word end.

Pure numpy and the runtime's Detector: no model, so the rule is testable with made-up
posteriors and detections.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from lstm_apps.data.speech_commands import UNKNOWN
from lstm_apps.eval.stream_audio import TruthEvent
from lstm_apps.runtime.detect import Detection, Detector, DetectorConfig

MATCH_BEFORE = 0.25  # seconds before a word's start a detection may lie
MATCH_AFTER = 0.5  # seconds after its end


@dataclass(frozen=True)
class TimedDetection:
    """A detection and when the stream returned it."""

    detection: Detection
    emitted: float  # seconds of audio consumed when the detector returned it


@dataclass(frozen=True)
class StreamScore:
    """Counts from matching detections to the truth of one or more recordings."""

    commands: int  # command words spoken
    unknown_words: int  # non-command words spoken
    hits: int  # commands detected with their own label
    wrong_label: int  # commands detected with another label
    false_alarms: int  # detections matching no command
    false_alarms_on_unknown: int  # of those, inside a non-command word's window
    latencies: tuple[float, ...] = ()  # hits: detection time - word end, seconds
    emission_latencies: tuple[float, ...] = ()  # hits: emitted - word end, when known
    per_label: dict[str, tuple[int, int]] = field(default_factory=dict)  # -> (hits, spoken)

    @property
    def recall(self) -> float | None:
        return self.hits / self.commands if self.commands else None

    def __add__(self, other: StreamScore) -> StreamScore:
        per = dict(self.per_label)
        for k, (h, n) in other.per_label.items():
            h0, n0 = per.get(k, (0, 0))
            per[k] = (h0 + h, n0 + n)
        return StreamScore(
            self.commands + other.commands, self.unknown_words + other.unknown_words,
            self.hits + other.hits, self.wrong_label + other.wrong_label,
            self.false_alarms + other.false_alarms,
            self.false_alarms_on_unknown + other.false_alarms_on_unknown,
            self.latencies + other.latencies,
            self.emission_latencies + other.emission_latencies, dict(sorted(per.items())),
        )  # fmt: skip


def _distance(t: float, ev: TruthEvent) -> float:
    return 0.0 if ev.start <= t <= ev.end else min(abs(t - ev.start), abs(t - ev.end))


def score_detections(
    detections: Sequence[Detection | TimedDetection],
    truth: Sequence[TruthEvent],
    *,
    before: float = MATCH_BEFORE,
    after: float = MATCH_AFTER,
) -> StreamScore:
    """Match one recording's detections to its truth (the rule in the module docstring)."""
    timed = [
        d if isinstance(d, TimedDetection) else TimedDetection(d, math.nan) for d in detections
    ]
    timed.sort(key=lambda d: d.detection.time)
    commands = [i for i, ev in enumerate(truth) if ev.label != UNKNOWN]
    others = [ev for ev in truth if ev.label == UNKNOWN]
    matched: set[int] = set()
    hits = wrong = fa = fa_unknown = 0
    lat: list[float] = []
    emit: list[float] = []
    got: dict[str, int] = {}
    for td in timed:
        d = td.detection
        cands = [
            i for i in commands
            if i not in matched and truth[i].start - before <= d.time <= truth[i].end + after
        ]  # fmt: skip
        if not cands:
            fa += 1
            fa_unknown += any(ev.start - before <= d.time <= ev.end + after for ev in others)
            continue
        best = min(cands, key=lambda i: (truth[i].label != d.label, _distance(d.time, truth[i])))
        matched.add(best)
        ev = truth[best]
        if ev.label != d.label:
            wrong += 1
            continue
        hits += 1
        got[ev.label] = got.get(ev.label, 0) + 1
        lat.append(d.time - ev.end)
        if not math.isnan(td.emitted):
            emit.append(td.emitted - ev.end)
    spoken: dict[str, int] = {}
    for i in commands:
        spoken[truth[i].label] = spoken.get(truth[i].label, 0) + 1
    per = {k: (got.get(k, 0), n) for k, n in sorted(spoken.items())}
    return StreamScore(
        len(commands), len(others), hits, wrong, fa, fa_unknown, tuple(lat), tuple(emit), per
    )


def chunk_bounds(frames: int, chunk: int, hop: int) -> list[int]:
    """Frames a stream has completed after each `chunk`-sample piece of a recording of
    `frames` frames (the last bound, `frames`, is reached at the latest at the flush)."""
    if frames <= 0:
        return []
    ks = np.arange(1, -(-frames * hop // chunk) + 1, dtype=np.int64)
    bounds = np.unique(np.minimum(ks * chunk // hop, frames))
    out = [int(b) for b in bounds if b > 0]
    return out if out and out[-1] == frames else [*out, frames]


def run_detector(
    posteriors: npt.NDArray[np.float32],
    labels: Sequence[str],
    config: DetectorConfig,
    bounds: Sequence[int],
) -> list[TimedDetection]:
    """Detections over posteriors (frames, classes), pushed in the pieces `bounds` marks
    (as `chunk_bounds` gives), then flushed; each stamped with the time it came out."""
    det = Detector(labels, config)
    fs = config.frame_seconds
    out: list[TimedDetection] = []
    a = 0
    for b in bounds:
        out += [TimedDetection(d, b * fs) for d in det.push_trusted(posteriors[a:b])]
        a = b
    return out + [TimedDetection(d, a * fs) for d in det.flush()]
