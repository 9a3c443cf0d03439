"""Clip accuracy of a speech model on any Speech Commands-layout folder.

    from lstm_apps.eval.speech import evaluate_speech, format_report
    report = evaluate_speech("export/speech", "data/heldout", split="all", out_dir="eval/")
    print(format_report(report))   # per-class table; eval/ gets speech_eval.json + a PNG

The model is a bundle (onnxruntime only: no torch needed) or a training run (its best/
checkpoint, in torch). Clips are read as `lstm_apps.train.speech.load_split` reads them for
validation and test: each fitted (centre-padded or cropped) to 1 s, and `_silence_`
examples cut from the folder's `_background_noise_` at a fixed, seeded level (-50 to
-10 dB re the clip's std; every fifth one digital zeros), so two runs with one seed score
the same clips.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from lstm_apps.data.speech_commands import (
    WORDS,
    SpeechCommandsSplit,
    commands_of,
    load_speech_commands,
    read_wav,
)
from lstm_apps.eval.models import load_eval_model
from lstm_apps.runtime.audio import fit_length
from lstm_apps.runtime.errors import DataFormatError, InputError
from lstm_apps.runtime.files import atomic_file

SPLITS = ("train", "validation", "test", "all")
BATCH = 256  # clips per model call: bounds memory on large folders
# Seed offset of the silence noise per split; train/speech.py's load_split uses the first
# three (and leaves train's silence as zeros, for augmentation to fill).
_SPLIT_SEED = {"train": 0, "validation": 1, "test": 2, "all": 3}


@dataclass(frozen=True)
class SpeechEvalReport:
    """One model scored on one split of one folder."""

    model: str  # the bundle or run folder
    model_kind: str  # "bundle" (onnxruntime) or "run" (torch)
    data: str  # the Speech Commands folder
    split: str  # train, validation, test or all
    labels: tuple[str, ...]  # the model's classes: the confusion matrix's order
    n: int  # clips scored
    accuracy: float  # correct / n
    per_class: dict[str, tuple[int, int]]  # true label -> (correct, clips)
    confusion: list[list[int]]  # [true][predicted] counts, (C, C)
    seed: int  # of the unknown-word draw and the silence noise
    figure: str | None = None  # the confusion PNG written, if any
    json_path: str | None = None  # speech_eval.json written, if any
    command: str | None = None  # what asked for it (the CLI line), for model cards

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["labels"] = list(self.labels)
        d["per_class"] = {k: {"correct": c, "n": n} for k, (c, n) in self.per_class.items()}
        return d


def check_split(split: Any) -> str:
    if split not in SPLITS:
        raise InputError(f"split must be one of {SPLITS}, got {split!r}")
    return str(split)


def index_split(
    data_dir: str | os.PathLike[str],
    split: str,
    *,
    seed: int,
    silence_fraction: float,
    unknown_fraction: float,
    commands: Sequence[str] = WORDS,
) -> SpeechCommandsSplit:
    """`load_speech_commands` with argument errors as InputError (its format errors pass).
    `commands`: the model's command words (`commands_of(model.labels)`); other words are
    `_unknown_`."""
    check_split(split)
    try:
        return load_speech_commands(
            data_dir, split,  # type: ignore[arg-type]
            silence_fraction=silence_fraction, unknown_fraction=unknown_fraction, seed=seed,
            commands=commands,
        )  # fmt: skip
    except DataFormatError:
        raise
    except ValueError as e:  # a bad fraction, or a split this loader version lacks
        raise InputError(f"reading {data_dir} ({split!r} split): {e}") from e


def iter_clips(
    data: SpeechCommandsSplit, clip_samples: int, seed: int, batch: int = BATCH
) -> Iterator[npt.NDArray[np.float32]]:
    """The split's clips in example order, `batch` at a time: (B, clip_samples) float32.

    Silence examples are noise crops drawn exactly as load_split draws them (one rng seeded
    with seed + the split's offset, two draws per noisy silence example, in order; every
    fifth silence example stays digital zeros), so for validation and test the clips equal
    load_split's. (load_split leaves train's silence as zeros; here train gets noise too.)
    """
    s = clip_samples
    rng = np.random.default_rng(seed + _SPLIT_SEED[data.split])
    bank = np.concatenate(data.noise) if data.noise else np.zeros(s * 2, np.float32)
    k = 0  # silence examples so far
    for i in range(0, len(data.examples), batch):
        part = data.examples[i : i + batch]
        x = np.zeros((len(part), s), np.float32)
        for j, ex in enumerate(part):
            if ex.path is not None:
                x[j] = fit_length(read_wav(ex.path), s)
                continue
            k += 1
            if k % 5 == 0:  # a muted input is _silence_ too
                continue
            start = rng.integers(0, max(1, bank.size - s))
            crop = bank[start : start + s]
            x[j, : crop.size] = crop * 10 ** (rng.uniform(-50, -10) / 20) / max(crop.std(), 1e-6)
        yield x


def evaluate_speech(
    model: str | os.PathLike[str],
    data_dir: str | os.PathLike[str],
    *,
    split: str = "test",
    out_dir: str | os.PathLike[str] | None = None,
    seed: int = 0,
    silence_fraction: float = 0.1,
    unknown_fraction: float = 0.1,
    threads: int = 1,
    device: str = "auto",
    precision: str = "fp32",
    command: str | None = None,
) -> SpeechEvalReport:
    """Classify every clip of `split` and count. With `out_dir`, also write
    speech_eval.json and confusion_<split>.png there.

    Raises InputError for a bad argument or a model path that is neither a bundle nor a
    run; DataFormatError for a folder not in the Speech Commands layout, or one whose
    labels the model does not have.
    """
    check_split(split)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InputError(f"seed must be an int, got {seed!r}")
    m = load_eval_model(model, threads=threads, device=device, precision=precision)
    data = index_split(
        data_dir, split, seed=seed, silence_fraction=silence_fraction,
        unknown_fraction=unknown_fraction, commands=commands_of(m.labels),
    )  # fmt: skip
    labels = m.labels
    missing = sorted({ex.label for ex in data.examples} - set(labels))
    if missing:
        raise DataFormatError(
            f"{data_dir}: labels {missing} of the {split!r} split are not among the model's "
            f"classes {list(labels)}"
        )
    truth = np.array([labels.index(ex.label) for ex in data.examples], np.int64)
    pred = np.concatenate(
        [m.probabilities(x).argmax(1) for x in iter_clips(data, m.clip_samples, seed)]
    )
    k = len(labels)
    conf = np.zeros((k, k), np.int64)
    np.add.at(conf, (truth, pred), 1)
    n = int(conf.sum())
    per_class = {lab: (int(conf[i, i]), int(conf[i].sum())) for i, lab in enumerate(labels)}
    report = SpeechEvalReport(
        model=str(model), model_kind=m.kind, data=str(data_dir), split=split,
        labels=labels, n=n, accuracy=float(np.trace(conf)) / n, per_class=per_class,
        confusion=conf.tolist(), seed=seed, command=command,
    )  # fmt: skip
    if out_dir is None:
        return report
    return _write(report, Path(out_dir))


def _write(report: SpeechEvalReport, out: Path) -> SpeechEvalReport:
    from dataclasses import replace

    from lstm_apps.eval.plots import plot_confusion

    folder = Path(report.data).resolve().name
    title = (
        f"{folder} ({report.split} split): accuracy {report.accuracy:.2%} over "
        f"{report.n} clips\nmodel {Path(report.model).resolve().name} ({report.model_kind})"
    )
    png = plot_confusion(
        np.array(report.confusion), report.labels, out / f"confusion_{report.split}.png", title
    )
    report = replace(report, figure=str(png), json_path=str(out / "speech_eval.json"))
    with atomic_file(out / "speech_eval.json") as tmp:
        tmp.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
    return report


def format_report(report: SpeechEvalReport) -> str:
    """A per-class table (label, clips, accuracy) and the overall figure."""
    width = max(8, *(len(s) for s in report.labels))
    lines = [
        f"{report.model} ({report.model_kind}) on {report.data}, {report.split} split",
        f"{'label':<{width}}  {'clips':>6}  {'accuracy':>8}",
    ]
    for label, (correct, n) in report.per_class.items():
        acc = f"{correct / n:8.2%}" if n else f"{'-':>8}"
        lines.append(f"{label:<{width}}  {n:6d}  {acc}")
    lines.append(f"{'overall':<{width}}  {report.n:6d}  {report.accuracy:8.2%}")
    if report.figure:
        lines.append(f"wrote {report.figure} and {report.json_path}")
    return "\n".join(lines)
