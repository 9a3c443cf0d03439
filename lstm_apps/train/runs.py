"""Reading a finished training run folder back: its metrics, its data, its model.

    run/metrics.json    what `train speech|caption` wrote: data folder, settings, scores
    run/best/, last/    checkpoints (train/checkpoint.py)
    run/vocab.json      the caption vocabulary

Export and evaluation start from a run; these are the checks they share, so that a run
whose files do not belong together fails with a message that names the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lstm_apps.data.captions import Vocab
from lstm_apps.nn.caption import CaptionModel
from lstm_apps.nn.speech import SpeechClassifierNet
from lstm_apps.runtime.errors import CheckpointError, InputError
from lstm_apps.train.caption import decode_split, jpeg_round_trip, load_caption_split
from lstm_apps.train.caption_eval import caption_scores
from lstm_apps.train.checkpoint import load_checkpoint


def run_metrics(run: str | Path) -> dict[str, Any]:
    """The run's metrics.json (it names the data and the training settings), or {}."""
    f = Path(run) / "metrics.json"
    return json.loads(f.read_text(encoding="utf-8")) if f.is_file() else {}


def run_data(run: str | Path, given: str | Path | None, metrics: dict[str, Any]) -> Path:
    """The data folder to use with a run: `given`, else the one its metrics.json names."""
    data = given or metrics.get("data")
    if data is None:
        raise InputError(f"{run}/metrics.json not found: pass --data DIR for the parity inputs")
    return Path(data)


@dataclass(frozen=True)
class SpeechRun:
    """A speech run's model (from checkpoint `best` or `last`) and metrics.json."""

    model: SpeechClassifierNet
    metrics: dict[str, Any]
    checkpoint: Path


def load_speech_run(run: str | Path, checkpoint: str = "best") -> SpeechRun:
    path = Path(run) / checkpoint
    net = load_checkpoint(path).model
    if not isinstance(net, SpeechClassifierNet):
        raise CheckpointError(f"{path} holds a {type(net).__name__}, not a speech model")
    return SpeechRun(net, run_metrics(run), path)


@dataclass(frozen=True)
class CaptionRun:
    """A caption run's model, the vocabulary it was trained on, and metrics.json."""

    model: CaptionModel
    vocab: Vocab
    metrics: dict[str, Any]
    checkpoint: Path


def load_caption_run(run: str | Path, checkpoint: str = "best") -> CaptionRun:
    """Load `run/checkpoint` and `run/vocab.json`, refusing a vocabulary the model was not
    trained on (the checkpoint keeps its own copy in `extra.vocab`)."""
    run, path = Path(run), Path(run) / checkpoint
    ck = load_checkpoint(path)
    if not isinstance(ck.model, CaptionModel):
        raise CheckpointError(f"{path} holds a {type(ck.model).__name__}, not a caption model")
    vocab = Vocab.load(run / "vocab.json")
    if "vocab" in ck.extra and ck.extra["vocab"] != list(vocab.itos):
        raise CheckpointError(f"{run}/vocab.json is not the vocabulary {path} was trained on")
    if len(vocab) != ck.model.config.vocab_size:
        raise CheckpointError(
            f"{run}/vocab.json has {len(vocab)} words, the model {ck.model.config.vocab_size}"
        )
    return CaptionRun(ck.model, vocab, run_metrics(run), path)


@dataclass(frozen=True)
class CaptionRunScores:
    split: str
    n_images: int
    beam: int
    jpeg: int | None  # the JPEG quality images were re-encoded at first, or None
    scores: dict[str, float]  # bleu1..4, cider, content_accuracy (shapes), ...


def score_caption_run(
    run: str | Path,
    *,
    split: str = "test",
    beam: int = 3,
    jpeg: int | None = None,
    checkpoint: str = "best",
    data: str | Path | None = None,
    device: str = "auto",
    precision: str = "fp32",
) -> CaptionRunScores:
    """Caption a split of the run's data (or `data`) with the torch model and score it.
    jpeg: re-encode every image at this quality first (robustness to lossy input).
    device, precision: where and at what autocast precision the model runs."""
    from lstm_apps.train.engine import Engine, Setup

    engine = Engine(Setup(device=device, precision=precision))  # type: ignore[arg-type]
    loaded = load_caption_run(run, checkpoint)
    size = loaded.model.config.image_size  # a batch shares one size: the encoder's input
    arrays = load_caption_split(run_data(run, data, loaded.metrics), split, size=size)
    images = arrays.images
    if jpeg is not None:
        images = np.stack([jpeg_round_trip(im, jpeg) for im in images])
    hyps = decode_split(loaded.model.to(engine.device), images, loaded.vocab, beam, engine=engine)
    return CaptionRunScores(split, len(hyps), beam, jpeg, caption_scores(hyps, arrays.captions))
