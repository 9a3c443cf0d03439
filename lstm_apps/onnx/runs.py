"""Export a training run folder to a bundle: `lstm-apps export speech|caption RUN OUT`.

    from lstm_apps.onnx.runs import export_speech_run
    export_speech_run("runs/speech", "export/speech", max_mb=20)

The run supplies everything export needs besides the weights: its own test split as the
parity inputs, metrics.json and the evaluations for the model card, the tuned detector.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from lstm_apps.eval.prior import apply_unknown_offset, read_unknown_offset
from lstm_apps.eval.tune import read_detector
from lstm_apps.onnx.caption import CaptionExportReport, export_caption
from lstm_apps.onnx.caption_card import read_caption_evaluations
from lstm_apps.onnx.speech import SpeechExportReport, export_speech
from lstm_apps.onnx.speech_card import read_evaluations
from lstm_apps.runtime.errors import ConfigError
from lstm_apps.train.caption import load_caption_split
from lstm_apps.train.loop import recorded_command
from lstm_apps.train.runs import load_caption_run, load_speech_run, run_data
from lstm_apps.train.speech import SpeechTrainConfig, load_split


def max_bytes(max_mb: float | None) -> int | None:
    """The bundle size limit in bytes for a limit in MB (None: no limit)."""
    if max_mb is None:
        return None
    if not max_mb > 0:
        raise ConfigError(f"max_mb (--max-mb) must be positive, got {max_mb}")
    return int(max_mb * 1e6)


R = TypeVar("R", SpeechExportReport, CaptionExportReport)


@dataclass(frozen=True)
class RunExport(Generic[R]):
    """Which checkpoint went to which bundle, with the export's parity report."""

    checkpoint: Path
    out: Path
    report: R


def export_speech_run(
    run: str | Path,
    out: str | Path,
    *,
    checkpoint: str = "best",
    data: str | Path | None = None,
    min_int8_agreement: float = 0.99,
    max_mb: float | None = None,
    command: str | None = None,
) -> RunExport[SpeechExportReport]:
    """Export `run/checkpoint` to `out`, checked on the run's test split (from `data`, or the
    folder metrics.json names)."""
    loaded = load_speech_run(run, checkpoint)
    apply_unknown_offset(loaded.model, read_unknown_offset(run))  # RUN/prior.json, if tuned
    split_cfg = SpeechTrainConfig.split_config_from_run(loaded.metrics, loaded.model.config)
    test, _ = load_split(run_data(run, data, loaded.metrics), "test", split_cfg)
    report = export_speech(
        loaded.model, out, test.x.numpy(), metrics=loaded.metrics,
        command=recorded_command(command, "lstm_apps.onnx.runs.export_speech_run"),
        min_int8_agreement=min_int8_agreement, max_bytes=max_bytes(max_mb),
        evaluations=read_evaluations(Path(run)), detector=read_detector(run),
    )  # fmt: skip
    return RunExport(loaded.checkpoint, Path(out), report)


def export_caption_run(
    run: str | Path,
    out: str | Path,
    *,
    checkpoint: str = "best",
    data: str | Path | None = None,
    parity_images: int = 100,
    max_mb: float | None = None,
    command: str | None = None,
) -> RunExport[CaptionExportReport]:
    """Export `run/checkpoint` to `out`, with greedy-token parity on the first
    `parity_images` test images of the run's data (or `data`)."""
    if parity_images < 1:
        raise ConfigError(f"parity_images (--parity-images) must be >= 1, got {parity_images}")
    loaded = load_caption_run(run, checkpoint)
    test = load_caption_split(
        run_data(run, data, loaded.metrics), "test", limit=parity_images,
        size=loaded.model.config.image_size,
    )  # fmt: skip
    report = export_caption(
        loaded.model, loaded.vocab, out, test.images, metrics=loaded.metrics,
        command=recorded_command(command, "lstm_apps.onnx.runs.export_caption_run"),
        max_bytes=max_bytes(max_mb), evaluations=read_caption_evaluations(Path(run)),
    )  # fmt: skip
    return RunExport(loaded.checkpoint, Path(out), report)
