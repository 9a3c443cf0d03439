"""Streaming evaluation of a keyword spotter: recall, false alarms, latency, a threshold sweep.

    from lstm_apps.eval.stream import evaluate_stream, format_stream_report
    report = evaluate_stream("export/speech", "data/heldout", n_recordings=10, out_dir="eval/")
    print(format_stream_report(report))  # eval/ gets stream_eval.json, stream_thresholds.png

Test recordings come from `stream_audio.py`. The model's per-frame posteriors are computed
once per recording (a bundle through its own CommandStream, chunk by chunk; a run in torch);
the runtime's `Detector` then runs over them at every threshold, fed in the chunks a live
stream would see, so each detection also has the moment it came out (`emitted`).

Detections are matched to the truth by `stream_score.score_detections` (a pure function;
the rule is in its module docstring): hits, wrong labels, false alarms per non-command word
in the word recordings and per hour in noise-only ones, latency from the word's end.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from lstm_apps.data.speech_commands import SpeechCommandsSplit, commands_of
from lstm_apps.eval.models import EvalModel, load_eval_model
from lstm_apps.eval.stream_audio import StreamSpec, TruthEvent, build_noise, make_recording
from lstm_apps.eval.stream_score import (
    MATCH_AFTER,
    MATCH_BEFORE,
    StreamScore,
    TimedDetection,
    chunk_bounds,
    run_detector,
    score_detections,
)
from lstm_apps.runtime.detect import DetectorConfig
from lstm_apps.runtime.errors import InputError, InputShapeError
from lstm_apps.runtime.files import atomic_file

NOISE_PIECE_MINUTES = 10.0  # noise-only audio is scored as recordings of at most this
DEFAULT_THRESHOLDS = tuple(float(t) for t in np.round(np.linspace(0.3, 0.99, 24), 4))


@dataclass(frozen=True)
class PosteriorStream:
    """One recording as the detector sees it."""

    posteriors: npt.NDArray[np.float32]  # (frames, classes) softmax outputs
    truth: tuple[TruthEvent, ...] = ()  # empty for noise-only audio


@dataclass(frozen=True)
class ThresholdPoint:
    """Every figure at one detection threshold."""

    threshold: float
    recall: float | None  # hits / commands
    hits: int
    wrong_label: int  # commands detected with another label
    false_alarms: int  # detections matching no command, in the word recordings
    fa_per_unknown_word: float | None  # false_alarms / non-command words spoken
    noise_false_alarms: int  # detections in the noise-only recordings
    fa_per_hour: float | None  # noise_false_alarms per hour of noise
    latency_median: float | None  # detection (peak) time - word end, seconds
    latency_p90: float | None
    emission_median: float | None  # when the detector returned it - word end, seconds
    emission_p90: float | None


def _stat(xs: Sequence[float], q: float) -> float | None:
    return round(float(np.percentile(xs, q)), 4) if xs else None


def check_posteriors(p: Any, n_labels: int) -> npt.NDArray[np.float32]:
    if not isinstance(p, np.ndarray) or p.ndim != 2 or p.shape[1] != n_labels:
        shape = p.shape if isinstance(p, np.ndarray) else type(p).__name__
        raise InputShapeError(f"posteriors must be (frames, {n_labels}) arrays, got {shape}")
    x = p.astype(np.float32, copy=False)
    if x.size and (not np.isfinite(x).all() or x.min() < -1e-4 or x.max() > 1 + 1e-4):
        raise InputError("posteriors must be finite probabilities in [0, 1]")
    return x


def at_threshold(config: DetectorConfig, threshold: float) -> DetectorConfig:
    """`config` at another threshold; an explicit release threshold keeps its ratio to the
    threshold (the default release, threshold / 2, does so by itself)."""
    release = config.release_threshold
    if release is not None:
        release = release * threshold / config.threshold
    return replace(config, threshold=threshold, release_threshold=release)


def sweep_thresholds(
    streams: Sequence[PosteriorStream],
    noise: Sequence[PosteriorStream],
    labels: Sequence[str],
    config: DetectorConfig,
    thresholds: Sequence[float],
    *,
    chunk: int,
    hop: int,
) -> tuple[list[ThresholdPoint], list[StreamScore]]:
    """Score every threshold: points, and the word recordings' merged score at each.

    streams : word recordings with truth; noise : noise-only recordings (may be empty).
    chunk, hop : samples per stream piece and per frame (fix when detections come out).
    """
    n_labels = len(labels)
    checked = [(check_posteriors(s.posteriors, n_labels), s.truth) for s in streams]
    quiet = [check_posteriors(s.posteriors, n_labels) for s in noise]
    hours = sum(len(q) for q in quiet) * config.frame_seconds / 3600
    points, scores = [], []
    for t in thresholds:
        cfg = at_threshold(config, float(t))
        score = StreamScore(0, 0, 0, 0, 0, 0)
        for p, truth in checked:
            score = score + score_detections(
                run_detector(p, labels, cfg, chunk_bounds(len(p), chunk, hop)), truth
            )
        noise_fa = sum(len(run_detector(q, labels, cfg, chunk_bounds(len(q), chunk, hop)))
                       for q in quiet)  # fmt: skip
        words = score.unknown_words
        points.append(ThresholdPoint(
            threshold=float(t), recall=score.recall, hits=score.hits,
            wrong_label=score.wrong_label, false_alarms=score.false_alarms,
            fa_per_unknown_word=score.false_alarms / words if words else None,
            noise_false_alarms=noise_fa, fa_per_hour=noise_fa / hours if hours else None,
            latency_median=_stat(score.latencies, 50), latency_p90=_stat(score.latencies, 90),
            emission_median=_stat(score.emission_latencies, 50),
            emission_p90=_stat(score.emission_latencies, 90),
        ))  # fmt: skip
        scores.append(score)
    return points, scores


@dataclass(frozen=True)
class StreamEvalReport:
    """A model's keyword spotting on test streams built from one folder."""

    model: str  # the bundle or run folder
    model_kind: str  # "bundle" or "run"
    data: str  # the Speech Commands folder the words came from
    split: str
    labels: tuple[str, ...]
    seed: int
    n_recordings: int
    seconds: float  # per word recording
    noise_minutes: float  # of noise-only audio
    chunk_ms: float  # stream piece size
    snr_db: tuple[float, ...]  # speech-to-noise ratio of each word recording
    commands: int  # command words spoken
    unknown_words: int  # non-command words spoken
    detector: dict[str, Any]  # DetectorConfig.settings() at the operating point, frame_seconds
    operating: ThresholdPoint  # at the model's own threshold
    per_label: dict[str, tuple[int, int]]  # at the operating threshold: command -> (hits, n)
    sweep: tuple[ThresholdPoint, ...]  # ascending thresholds
    figure: str | None = None  # the threshold curve PNG, if written
    json_path: str | None = None
    command: str | None = None  # what asked for it (the CLI line), for model cards

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["labels"], d["snr_db"] = list(self.labels), [round(s, 2) for s in self.snr_db]
        d["per_label"] = {k: {"hits": h, "n": n} for k, (h, n) in self.per_label.items()}
        d["sweep"] = [asdict(p) for p in self.sweep]
        return d


def _check_args(n_recordings: Any, noise_minutes: Any, chunk_ms: Any, thresholds: Any) -> None:
    if isinstance(n_recordings, bool) or not isinstance(n_recordings, int) or n_recordings < 1:
        raise InputError(f"n_recordings must be a positive int, got {n_recordings!r}")
    for name, v in (("noise_minutes", noise_minutes), ("chunk_ms", chunk_ms)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise InputError(f"{name} must be a number, got {v!r}")
    if noise_minutes < 0:
        raise InputError(f"noise_minutes must be >= 0, got {noise_minutes!r}")
    if not 1 <= chunk_ms <= 10_000:
        raise InputError(f"chunk_ms must be in [1, 10000] ms, got {chunk_ms!r}")
    ts = list(np.asarray(thresholds, dtype=np.float64).ravel()) if _is_seq(thresholds) else []
    if not ts or not all(math.isfinite(t) and 0 < t <= 1 for t in ts):
        raise InputError(f"thresholds must be a non-empty sequence in (0, 1], got {thresholds!r}")


def _is_seq(x: Any) -> bool:
    try:
        np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return not isinstance(x, (str, bytes))


def stream_posteriors(
    m: EvalModel,
    data: SpeechCommandsSplit,
    spec: StreamSpec,
    n_recordings: int,
    noise_minutes: float,
    chunk: int,
    seed: int,
) -> tuple[list[PosteriorStream], list[PosteriorStream], list[float]]:
    """Run the model once over `n_recordings` word recordings and `noise_minutes` of noise
    (in pieces of at most NOISE_PIECE_MINUTES): (word streams, noise streams, SNRs)."""
    streams, snrs = [], []
    for i in range(n_recordings):
        audio, truth, snr = make_recording(data, spec, seed=seed, recording=i)
        streams.append(PosteriorStream(m.frame_posteriors(audio, chunk), tuple(truth)))
        snrs.append(snr)
    noise = []
    for k in range(math.ceil(noise_minutes / NOISE_PIECE_MINUTES)):
        minutes = min(NOISE_PIECE_MINUTES, noise_minutes - k * NOISE_PIECE_MINUTES)
        audio = build_noise(data.noise, minutes * 60, seed=seed, piece=k)
        noise.append(PosteriorStream(m.frame_posteriors(audio, chunk)))
    return streams, noise, snrs


def evaluate_stream(
    model: str | os.PathLike[str],
    data_dir: str | os.PathLike[str],
    *,
    split: str = "test",
    n_recordings: int = 10,
    seconds: float = 60.0,
    noise_minutes: float = 10.0,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    snr_db: tuple[float, float] = (5.0, 20.0),
    out_dir: str | os.PathLike[str] | None = None,
    chunk_ms: float = 100.0,
    seed: int = 0,
    threads: int = 1,
    device: str = "auto",
    precision: str = "fp32",
    command: str | None = None,
) -> StreamEvalReport:
    """Build `n_recordings` word recordings of `seconds` and `noise_minutes` of noise-only
    audio from `split` of `data_dir`, stream them through the model once, and score the
    detector at every threshold and at the model's own. With `out_dir`, write
    stream_eval.json and stream_thresholds.png there. Bad arguments raise InputError
    naming them; a model path that is neither a bundle nor a run too."""
    from lstm_apps.eval.speech import check_split, index_split

    check_split(split)
    _check_args(n_recordings, noise_minutes, chunk_ms, thresholds)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InputError(f"seed must be an int, got {seed!r}")
    spec = StreamSpec(seconds=seconds, snr_db=snr_db)
    m = load_eval_model(model, threads=threads, device=device, precision=precision)
    data = index_split(
        data_dir, split, seed=seed, silence_fraction=0.0, unknown_fraction=0.5,
        commands=commands_of(m.labels),
    )  # fmt: skip
    chunk = max(1, round(chunk_ms * m.sample_rate / 1000))
    streams, noise, snrs = stream_posteriors(
        m, data, spec, n_recordings, noise_minutes, chunk, seed
    )
    config = m.detector_config()
    ts = sorted({float(t) for t in np.asarray(thresholds, np.float64).ravel()})
    sweep, _ = sweep_thresholds(streams, noise, m.labels, config, ts, chunk=chunk, hop=m.hop)
    (op,), (op_score,) = sweep_thresholds(
        streams, noise, m.labels, config, [config.threshold], chunk=chunk, hop=m.hop
    )
    report = StreamEvalReport(
        model=str(model), model_kind=m.kind, data=str(data_dir), split=split, labels=m.labels,
        seed=seed, n_recordings=n_recordings, seconds=float(seconds),
        noise_minutes=float(noise_minutes), chunk_ms=float(chunk_ms), snr_db=tuple(snrs),
        commands=op_score.commands, unknown_words=op_score.unknown_words,
        detector={**config.settings(), "frame_seconds": config.frame_seconds},
        operating=op, per_label=op_score.per_label, sweep=tuple(sweep), command=command,
    )  # fmt: skip
    return report if out_dir is None else _write(report, Path(out_dir))


def _write(report: StreamEvalReport, out: Path) -> StreamEvalReport:
    from lstm_apps.eval.plots import plot_threshold_curve

    op = report.operating
    title = (
        f"{Path(report.data).resolve().name} ({report.split}): {report.commands} commands, "
        f"{report.unknown_words} other words in {report.n_recordings} x {report.seconds:g} s; "
        f"{report.noise_minutes:g} min of noise\nmodel {Path(report.model).resolve().name} "
        f"({report.model_kind}), threshold sweep"
    )
    png = plot_threshold_curve(
        [p.threshold for p in report.sweep], [p.recall or 0.0 for p in report.sweep],
        [p.fa_per_hour for p in report.sweep], [p.fa_per_unknown_word for p in report.sweep],
        (op.threshold, op.recall or 0.0, op.fa_per_hour, op.fa_per_unknown_word),
        out / "stream_thresholds.png", title,
    )  # fmt: skip
    report = replace(report, figure=str(png), json_path=str(out / "stream_eval.json"))
    with atomic_file(out / "stream_eval.json") as tmp:
        tmp.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
    return report


def _f(x: float | None, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def format_stream_report(report: StreamEvalReport) -> str:
    """The operating point, recall per command, and the sweep as a table."""
    op = report.operating
    lines = [
        f"{report.model} ({report.model_kind}) on {report.data}, {report.split} split: "
        f"{report.n_recordings} x {report.seconds:g} s ({report.commands} commands, "
        f"{report.unknown_words} other words), {report.noise_minutes:g} min of noise",
        f"operating threshold {op.threshold:.2f}: recall {_f(op.recall, '.1%')}, "
        f"{op.wrong_label} wrong labels, {_f(op.fa_per_hour, '.2f')} false alarms/h on noise, "
        f"{_f(op.fa_per_unknown_word, '.3f')} per non-command word",
        f"latency (peak - word end): median {_f(op.latency_median, '+.2f')} s, p90 "
        f"{_f(op.latency_p90, '+.2f')} s; emitted: median {_f(op.emission_median, '+.2f')} s, "
        f"p90 {_f(op.emission_p90, '+.2f')} s ({report.chunk_ms:g} ms chunks)",
        "",
        f"{'command':<10} {'spoken':>6} {'recall':>7}",
    ]
    for label, (h, n) in report.per_label.items():
        lines.append(f"{label:<10} {n:6d} {_f(h / n if n else None, '7.1%')}")
    lines += ["", "thresh  recall  wrong   FA/h  FA/word  lat.med  lat.p90  emit.med  emit.p90"]
    for p in report.sweep:
        lines.append(
            f"{p.threshold:6.3f}  {_f(p.recall, '6.1%')}  {p.wrong_label:5d}  "
            f"{_f(p.fa_per_hour, '5.1f'):>5}  {_f(p.fa_per_unknown_word, '7.3f'):>7}  "
            f"{_f(p.latency_median, '+7.2f'):>7}  {_f(p.latency_p90, '+7.2f'):>7}  "
            f"{_f(p.emission_median, '+8.2f'):>8}  {_f(p.emission_p90, '+8.2f'):>8}"
        )
    if report.figure:
        lines.append(f"wrote {report.figure} and {report.json_path}")
    return "\n".join(lines)


__all__ = [
    "DEFAULT_THRESHOLDS",
    "MATCH_AFTER",
    "MATCH_BEFORE",
    "PosteriorStream",
    "StreamEvalReport",
    "StreamScore",
    "ThresholdPoint",
    "TimedDetection",
    "TruthEvent",
    "at_threshold",
    "chunk_bounds",
    "evaluate_stream",
    "format_stream_report",
    "run_detector",
    "score_detections",
    "sweep_thresholds",
]
