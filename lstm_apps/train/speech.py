"""Train the speech-command classifier on a Speech Commands folder.

    lstm-apps data speech data/speech
    lstm-apps train speech --data data/speech --out runs/speech

The run directory holds `last/` (resumable: weights, optimizer and RNG state), `best/`
(the best validation accuracy so far), `metrics.json`, `history.jsonl` and
`confusion_test.png`. Start the same command again after an interruption and it resumes
from `last/`; the same seed gives the same result.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from lstm_apps.data import read_generator
from lstm_apps.data.speech_commands import WORDS, check_command_folders, commands_of
from lstm_apps.nn.speech import SpeechClassifierNet, SpeechConfig
from lstm_apps.runtime.errors import ConfigError, DataFormatError
from lstm_apps.train.checkpoint import load_checkpoint, save_checkpoint
from lstm_apps.train.engine import Engine, Setup
from lstm_apps.train.loop import (
    check_settings,
    count_parameters,
    ensure_dir,
    lr_at,
    progress,
    recorded_command,
    resume_run,
    save_run,
    seed_everything,
    set_lr,
    write_json,
)
from lstm_apps.train.speech_augment import AugmentConfig, augment_waveforms, spec_augment, warp_mel
from lstm_apps.train.speech_data import SpeechSplit, SplitArrays, index_split, load_split

__all__ = ["SpeechTrainConfig", "SplitArrays", "load_split", "predict", "train_speech"]


@dataclass(frozen=True)
class SpeechTrainConfig:
    epochs: int = 35  # passes over the training split
    batch_size: int = 64  # clips per step
    lr: float = 3e-3  # peak learning rate (AdamW)
    weight_decay: float = 1e-2  # AdamW decoupled weight decay
    warmup_steps: int = 200  # linear warm-up before the cosine decay
    grad_clip: float = 1.0  # max global gradient norm
    seed: int = 0  # everything random derives from it
    threads: int = 2  # torch intra-op threads
    silence_fraction: float = 0.1  # share of _silence_ examples per split
    unknown_fraction: float = 0.15  # share of _unknown_ in each training epoch, drawn
    # afresh from every unknown clip
    eval_unknown_fraction: float = 0.1  # share in validation and test (Speech Commands')
    model: SpeechConfig = field(default_factory=SpeechConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self) -> None:
        self.model.decoder  # noqa: B018  checks width, layers, dropout and cell before any data
        check_settings(
            self, positive=("epochs", "batch_size", "lr", "threads"),
            non_negative=("weight_decay", "warmup_steps", "grad_clip"),
            fractions=("silence_fraction", "unknown_fraction", "eval_unknown_fraction"),
        )  # fmt: skip
        if self.silence_fraction + self.unknown_fraction >= 1:
            raise ConfigError(
                f"SpeechTrainConfig.silence_fraction + unknown_fraction must be < 1, got "
                f"{self.silence_fraction} + {self.unknown_fraction}"
            )

    @classmethod
    def split_config_from_run(
        cls, metrics: dict[str, Any], model: SpeechConfig
    ) -> SpeechTrainConfig:
        """The settings that decide which clips a run's splits hold (seed, silence and
        unknown shares), read back from its metrics.json, for `model`: export and
        evaluation then see the run's own test split."""
        tc = metrics.get("train_config", {})
        return cls(
            model=model, seed=tc.get("seed", 0),
            silence_fraction=tc.get("silence_fraction", 0.1),
            unknown_fraction=tc.get("unknown_fraction", 0.1),
            eval_unknown_fraction=tc.get("eval_unknown_fraction", tc.get("unknown_fraction", 0.1)),
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["model"], d["augment"] = self.model.to_dict(), self.augment.to_dict()
        return d


@torch.no_grad()
def predict(net: SpeechClassifierNet, x: Tensor, batch_size: int = 256) -> Tensor:
    """Logits (N, C) of clips x (N, S), in eval mode."""
    net.eval()
    return torch.cat([net(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])


@torch.no_grad()
def accuracy(net: SpeechClassifierNet, split: SpeechSplit, engine: Engine) -> float:
    """Top-1 accuracy over a split streamed from disk, on the engine's device."""
    net.eval()
    pred = []
    for x in split.loader(256, engine.setup.workers, engine.pin_memory):
        with engine.autocast():
            pred.append(net(engine.to(x)).argmax(1).cpu())
    return float((torch.cat(pred).numpy() == split.y).mean())


def feature_stats(net: SpeechClassifierNet, x: Tensor) -> tuple[Tensor, Tensor]:
    """Per-feature mean and std over clips x (N, S): the model's fixed normalisation."""
    with torch.no_grad():
        f = net.frontend(x, fast=True).reshape(-1, net.config.frontend.n_features)
    return f.mean(0), f.std(0)


def train_speech(
    data_dir: str | Path,
    out_dir: str | Path,
    cfg: SpeechTrainConfig | None = None,
    *,
    resume: bool = True,
    val_data: str | Path | None = None,
    log: Callable[[str], None] = print,
    command: str | None = None,
    setup: Setup | None = None,
) -> dict[str, Any]:
    """Train, validate every epoch, keep the best, evaluate on test; returns metrics.

    val_data: a second validation folder from another generator (every clip of its
    validation split), never trained on. With it, the best epoch is the one with the
    highest mean of the two validation accuracies, and metrics.json reports both.
    setup: device, precision and DataLoader workers (not part of the recipe: a run may
    resume with another). Under torchrun every process calls this; rank 0 logs and writes.
    command: the `lstm-apps ...` line that asked for this run, quoted by metrics.json and
    the model card (None: the call came from Python, and metrics.json says so).
    """
    cfg, setup = cfg or SpeechTrainConfig(), setup or Setup()
    with Engine(setup, threads=cfg.threads) as engine:  # leaves the process group on exit
        return _train(Path(data_dir), Path(out_dir), cfg, engine, resume, val_data, log, command)


def _train(
    data_dir: Path, out: Path, cfg: SpeechTrainConfig, engine: Engine, resume: bool,
    val_data: str | Path | None, log: Callable[[str], None], command: str | None,
) -> dict[str, Any]:  # fmt: skip
    log, workers = engine.log(log), engine.setup.workers
    engine.check_batch(cfg.batch_size, "train speech")
    rng = seed_everything(cfg.seed)
    if (commands := commands_of(cfg.model.labels)) != WORDS:
        # named commands must all be there; the default ten may be partly (quick sets)
        check_command_folders(data_dir, commands)
    cross = index_split(Path(val_data), "validation", cfg) if val_data else None  # fail early
    train = index_split(data_dir, "train", cfg, all_unknown=True)
    val = index_split(data_dir, "validation", cfg)
    unknown = cfg.model.labels.index("_unknown_") if "_unknown_" in cfg.model.labels else -1
    is_unknown = train.y == unknown
    always, pool = np.flatnonzero(~is_unknown), np.flatnonzero(is_unknown)
    n_known = int((~is_unknown & ~train.silence).sum())
    share = cfg.unknown_fraction / (1 - cfg.silence_fraction - cfg.unknown_fraction)
    n_unknown = min(len(pool), round(share * n_known))
    if not train.noise:
        raise DataFormatError(f"{data_dir}/_background_noise_ has no noise clips to mix in")
    bank = engine.to(torch.from_numpy(np.concatenate(train.noise)))
    y_all, silence_all = torch.from_numpy(train.y), torch.from_numpy(train.silence)
    net = SpeechClassifierNet(cfg.model)
    sample = rng.permutation(len(train))[:1000]
    first = next(iter(train.loader([sample], workers)))
    net.set_normalization(*feature_stats(net, first))
    net.to(engine.device)  # before the optimizer and its resumed state are made
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = max(1, (len(always) + n_unknown) // cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    fingerprint = {"train_config": cfg.to_dict(), "val_data": str(val_data) if val_data else None}
    with engine.main_first() as main:  # rank 0 makes and repairs the run folder first
        if main:
            run = resume_run(ensure_dir(out), net, opt, rng, fingerprint, log, resume)
    if not engine.is_main:
        run = resume_run(out, net, opt, rng, fingerprint, log, resume, repair=False)
    history, clock = run.history, run.clock
    model = engine.wrap(net)
    log(
        f"speech: {len(always) + n_unknown} train clips per epoch ({n_unknown} of "
        f"{len(pool)} unknown drawn afresh), {len(val)} validation"
        + (f", {len(cross)} cross-generator validation ({val_data})" if cross else "")
        + f", {count_parameters(net):,} parameters, {cfg.epochs} epochs x {steps_per_epoch}"
        f" steps of {cfg.batch_size}, on {engine.describe()}, {workers} loader workers"
    )
    for epoch in range(run.epoch, cfg.epochs):
        net.train()
        chosen = np.concatenate([always, rng.choice(pool, n_unknown, replace=False)])
        order = rng.permutation(chosen)
        batches = [order[i * cfg.batch_size : (i + 1) * cfg.batch_size]
                   for i in range(steps_per_epoch)]  # fmt: skip
        clips = train.loader(batches, workers, engine.pin_memory)
        bar = progress(
            clips, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="step", total=steps_per_epoch,
            disable=None if engine.is_main else True,
        )  # fmt: skip
        loss_sum, correct, seen, start = 0.0, 0, 0, time.perf_counter()
        for i, x in enumerate(bar):
            step = epoch * steps_per_epoch + i
            set_lr(opt, lr_at(step, total, cfg.lr, cfg.warmup_steps))
            idx = torch.from_numpy(batches[i])
            part = engine.shard(len(idx))  # a set smaller than a batch: one short step
            y, silence = engine.to(y_all[idx]), engine.to(silence_all[idx])
            # every process augments the whole global batch with the same draws (babble
            # comes from the batch), then trains on its own part of it
            wav = augment_waveforms(
                engine.to(x), silence, bank, cfg.augment, rng, is_command=~silence & (y != unknown)
            )
            with torch.no_grad():
                feats = warp_mel(net.frontend(wav, fast=True), rng, cfg.augment.warp)
                feats = (feats - net.feat_mean) / net.feat_std
                feats = spec_augment(feats, cfg.augment, rng)
            with engine.autocast():
                logits = model(feats[part], frames=True)
            loss = F.cross_entropy(logits.float(), y[part])
            engine.step(loss, opt, list(net.parameters()), cfg.grad_clip)
            loss_sum += engine.mean(loss) * len(idx)
            correct += int(engine.total((logits.argmax(1) == y[part]).sum()))
            seen += len(idx)
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}")
        train_seconds = time.perf_counter() - start  # the steps alone: loading included
        with engine.main_first() as main:
            if not main:
                continue
            val_acc = accuracy(net, val, engine)
            row = {
                "epoch": epoch + 1, "train_loss": loss_sum / seen,
                "train_accuracy": correct / seen, "val_accuracy": val_acc,
                "seconds": round(clock.seconds, 1), "train_seconds": round(train_seconds, 3),
                "clips_per_second": round(seen / train_seconds, 1),
            }  # fmt: skip
            score = val_acc
            if cross is not None:
                row["cross_val_accuracy"] = accuracy(net, cross, engine)
                score = (val_acc + row["cross_val_accuracy"]) / 2
            history.append(row)
            log(
                f"epoch {epoch + 1:3d}  loss {row['train_loss']:.4f}  train "
                f"{row['train_accuracy']:.3f}  val {val_acc:.4f}"
                + (f"  cross-val {row['cross_val_accuracy']:.4f}" if cross is not None else "")
                + f"  {clock.seconds:6.0f}s  {row['clips_per_second']:.0f} clips/s"
            )
            if score > run.best:
                run.best = score
                save_checkpoint(out / "best", net, kind="speech", extra={"epoch": epoch, **row})
            run.epoch = epoch
            save_run(out, net, opt, rng, kind="speech", state=run, fingerprint=fingerprint)
    if not engine.is_main:
        return {}
    return evaluate_run(
        data_dir, out, cfg, history=history, seconds=clock.seconds, val_data=val_data, log=log,
        command=command,
    )  # fmt: skip


def evaluate_run(
    data_dir: Path,
    out: Path,
    cfg: SpeechTrainConfig,
    *,
    history: list[dict[str, Any]],
    seconds: float,
    val_data: str | Path | None = None,
    log: Callable[[str], None] = print,
    command: str | None = None,
) -> dict[str, Any]:
    """Score `best/` on validation and test (and the cross-generator validation folder);
    write metrics.json and confusion_test.png."""
    net = load_checkpoint(out / "best").model
    assert isinstance(net, SpeechClassifierNet)
    metrics: dict[str, Any] = {}
    sets = [("validation", data_dir, "validation"), ("test", data_dir, "test")]
    if val_data:
        sets.append(("cross_validation", Path(val_data), "validation"))
    for split, folder, which in sets:
        arrays, _ = load_split(folder, which, cfg)
        pred = predict(net, arrays.x).argmax(1)
        n = len(cfg.model.labels)
        conf = torch.zeros(n, n, dtype=torch.long)
        conf.index_put_((arrays.y, pred), torch.ones_like(pred), accumulate=True)
        metrics[split] = {
            "accuracy": float((pred == arrays.y).float().mean()),
            "n": len(arrays.y),
            "confusion": conf.tolist(),
        }
        if split == "test":
            plot_confusion(conf.numpy(), cfg.model.labels, out / "confusion_test.png")
    result = {
        "test_accuracy": metrics["test"]["accuracy"],
        "val_accuracy": metrics["validation"]["accuracy"],
        "train_seconds": round(seconds, 1),
        "command": recorded_command(command, "lstm_apps.train.speech.train_speech"),
        "data": str(data_dir),
        "data_generator": read_generator(data_dir),
        **(
            {
                "cross_val_accuracy": metrics["cross_validation"]["accuracy"],
                "val_data": str(val_data),
                "val_data_generator": read_generator(Path(val_data)),
            }
            if val_data
            else {}
        ),
        "labels": list(cfg.model.labels),
        "parameters": count_parameters(net),
        "train_config": cfg.to_dict(),
        "history": history,
        "splits": metrics,
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    write_json(out / "metrics.json", result)
    log(
        f"test accuracy {result['test_accuracy']:.4f} ({metrics['test']['n']} clips), "
        f"validation {result['val_accuracy']:.4f}"
        + (f", cross-generator validation {result['cross_val_accuracy']:.4f}" if val_data else "")
        + f", {seconds:.0f}s of training -> {out}"
    )
    return result


def plot_confusion(conf: np.ndarray, labels: tuple[str, ...], path: Path) -> None:
    """The training run's confusion_test.png (eval/plots.py draws it)."""
    from lstm_apps.eval.plots import plot_confusion as draw

    acc = np.trace(conf) / max(conf.sum(), 1)
    draw(conf, labels, path, f"test split: accuracy {acc:.2%} over {conf.sum()} clips")
