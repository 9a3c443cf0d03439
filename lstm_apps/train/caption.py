"""Train the attention captioner on a Karpathy-split data set (the shapes set, COCO, ...).

    lstm-apps data shapes data/shapes                      # 20,000 scenes, ~45 s
    lstm-apps train caption --data data/shapes --out runs/caption   # 15 epochs, ~19 min
    torchrun --nproc_per_node 2 -m lstm_apps train caption --data D --out R --device cuda

Images of any size and mode stream from disk through DataLoader workers (caption_data.py);
`--cache` keeps them resized in `<out>/cache/` for fast epochs. The run directory holds
`last/` (resumable), `best/` (best validation score), `vocab.json`, `metrics.json` and
`history.jsonl`. Rerun the same command to resume after an interruption.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from lstm_apps.data import read_generator
from lstm_apps.data.captions import CaptionItem, Vocab
from lstm_apps.nn.caption import CaptionConfig, CaptionModel, generate
from lstm_apps.runtime.errors import ConfigError
from lstm_apps.runtime.search import SearchOptions
from lstm_apps.train.caption_data import (
    HFLIP_SWAP,
    VFLIP_SWAP,
    Augment,
    CaptionArrays,
    CaptionTrainSet,
    EpochPlan,
    ImageSource,
    add_pixel_noise,
    cache_folder,
    epoch_loader,
    image_batches,
    image_source,
    jpeg_round_trip,
    load_caption_split,
    split_items,
)
from lstm_apps.train.caption_eval import caption_scores
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

__all__ = [  # the names callers import from here
    "HFLIP_SWAP", "VFLIP_SWAP", "CaptionArrays", "CaptionTrainConfig", "caption_loss",
    "decode_split", "jpeg_round_trip", "load_caption_split", "train_caption",
]  # fmt: skip


@dataclass(frozen=True)
class CaptionTrainConfig:
    epochs: int = 15  # passes over the training images (the shipped run: 15 on 20,000)
    batch_size: int = 64  # images per step (64 runs ~15% more images/s than 32 on 2 cores)
    lr: float = 3e-3  # peak learning rate (AdamW)
    weight_decay: float = 1e-4  # AdamW decoupled weight decay
    warmup_steps: int = 100  # linear warm-up before the cosine decay
    grad_clip: float = 5.0  # max global gradient norm
    # Doubly stochastic attention (Show, Attend and Tell): weight of mean_k (1 - sum_t alpha)^2.
    # It asks every cell to be looked at about once per caption; with K = 64 cells and ~12
    # words that means spreading attention thin, so a small weight: 1.0 stalled learning.
    alpha_c: float = 0.02
    refs: Literal["all", "first"] = "first"  # train on the first reference, or a random one
    hflip: float = 0.5  # chance of a horizontal mirror (left <-> right in the caption)
    vflip: float = 0.5  # chance of a vertical mirror (above <-> below in the caption)
    jpeg: float = 0.3  # chance of re-encoding the image as JPEG (quality 30-90)
    noise_std: float = 4.0  # max std of added pixel noise, in 0-255 units
    min_count: int = 1  # vocabulary: minimum word count
    eval_beam: int = 3  # beam width for the final test evaluation
    val_images: int = 1000  # validate on the first N val images each epoch (greedy)
    seed: int = 0  # everything random derives from it
    threads: int = 2  # torch intra-op threads
    model: CaptionConfig = field(default_factory=lambda: CaptionConfig(vocab_size=4))

    def __post_init__(self) -> None:
        check_settings(
            self, positive=("epochs", "batch_size", "lr", "min_count", "eval_beam", "val_images",
                            "threads"),
            non_negative=("weight_decay", "warmup_steps", "grad_clip", "alpha_c", "noise_std"),
            probabilities=("hflip", "vflip", "jpeg"),
        )  # fmt: skip
        if self.refs not in ("all", "first"):
            raise ConfigError(
                f"CaptionTrainConfig.refs must be 'all' or 'first', got {self.refs!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["model"] = self.model.to_dict()
        return d


def caption_loss(
    logits: Tensor,
    alphas: Tensor,
    captions: Tensor,
    pad_id: int,
    alpha_c: float,
    tokens: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Cross-entropy on the next token plus the doubly stochastic attention penalty.

    logits (B, T-1, V), alphas (B, T-1, K), captions (B, T). Returns (loss, token accuracy).
    tokens: what the summed cross-entropy is divided by (default: this batch's tokens);
    under DDP the global count / processes, so the averaged gradient is the global mean.
    """
    target = captions[:, 1:]
    mask = target != pad_id
    ce = F.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]), target.reshape(-1), reduction="none"
    )
    ce = (ce * mask.reshape(-1)).sum() / (mask.sum() if tokens is None else tokens)
    coverage = (alphas * mask[..., None]).sum(1)  # (B, K): attention each cell got
    reg = ((1.0 - coverage) ** 2).mean()
    acc = ((logits.argmax(-1) == target) & mask).sum() / mask.sum()
    return ce + alpha_c * reg, acc


@torch.no_grad()
def decode_split(
    model: CaptionModel,
    images: np.ndarray,
    vocab: Vocab,
    beam: int,
    batch_size: int = 100,
    engine: Engine | None = None,
) -> list[list[str]]:
    """Captions (token lists) for images (N, H, W, 3) uint8 (on the engine's device)."""
    engine = engine or Engine(Setup(device="cpu"))
    model.eval()
    opts = SearchOptions(
        beam_size=beam, max_len=model.config.max_len, start_id=vocab.start_id, end_id=vocab.end_id
    )
    out: list[list[str]] = []
    for i in range(0, len(images), batch_size):
        with engine.autocast():
            hyps = generate(model, engine.to(torch.from_numpy(images[i : i + batch_size])), opts)
        out += [vocab.decode(h.tokens) for h in hyps]
    return out


@torch.no_grad()
def decode_images(
    model: CaptionModel, batches: Any, vocab: Vocab, beam: int, engine: Engine, desc: str
) -> list[list[str]]:
    """Captions (token lists) for a loader of uint8 image batches, on the engine's device."""
    model.eval()
    opts = SearchOptions(
        beam_size=beam, max_len=model.config.max_len, start_id=vocab.start_id, end_id=vocab.end_id
    )
    out: list[list[str]] = []
    for images in progress(batches, desc=desc, unit="batch"):
        with engine.autocast():
            hyps = generate(model, engine.to(images), opts)
        out += [vocab.decode(h.tokens) for h in hyps]
    return out


def train_caption(
    data_dir: str | Path,
    out_dir: str | Path,
    cfg: CaptionTrainConfig | None = None,
    *,
    resume: bool = True,
    log: Callable[[str], None] = print,
    command: str | None = None,
    setup: Setup | None = None,
    cache: str = "auto",
) -> dict[str, Any]:
    """Train with teacher forcing, validate (greedy) every epoch, test the best with beam.

    setup: device, precision and DataLoader workers (not part of the recipe: a run may
    resume with another). Under torchrun every process calls this; rank 0 logs and writes.
    cache: "auto" | "always" | "never" | a folder, for the resized images (see caption_data).
    command: the `lstm-apps ...` line that asked for this run, quoted by metrics.json and
    the model card (None: the call came from Python, and metrics.json says so).
    """
    cfg, setup = cfg or CaptionTrainConfig(), setup or Setup()
    with Engine(setup, threads=cfg.threads) as engine:  # leaves the process group on exit
        return _train(Path(data_dir), Path(out_dir), cfg, engine, resume, log, command, cache)


def _train(
    data_dir: Path, out: Path, cfg: CaptionTrainConfig, engine: Engine, resume: bool,
    log: Callable[[str], None], command: str | None, cache: str,
) -> dict[str, Any]:  # fmt: skip
    log, setup, size = engine.log(log), engine.setup, cfg.model.image_size
    engine.check_batch(cfg.batch_size, "train caption")
    rng = seed_everything(cfg.seed)
    train_items = split_items(data_dir, "train")
    val_items = split_items(data_dir, "val", cfg.val_images)
    folder = cache_folder(cache, out, len(train_items) + len(val_items), size, log)
    with engine.main_first() as main:  # rank 0 makes the run folder and the cache
        if main:
            ensure_dir(out)
            for items, name in ((train_items, "train"), (val_items, "val")):
                image_source(items, size, folder, name, setup, log)
    train_images = image_source(train_items, size, folder, "train", setup, log)
    vocab = Vocab.build([c for it in train_items for c in it.captions], min_count=cfg.min_count)
    cfg = replace(cfg, model=replace(cfg.model, vocab_size=len(vocab)))
    model = CaptionModel(cfg.model).to(engine.device)  # before the optimizer's state
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = max(1, len(train_items) // cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    fingerprint = {"train_config": cfg.to_dict(), "vocab": list(vocab.itos)}
    with engine.main_first() as main:  # rank 0 repairs last/ and best/ before anyone reads
        if main:
            run = resume_run(out, model, opt, rng, fingerprint, log, resume)
    if not engine.is_main:
        run = resume_run(out, model, opt, rng, fingerprint, log, resume, repair=False)
    history, clock = run.history, run.clock
    net = engine.wrap(model)
    if engine.is_main:
        vocab.save(out / "vocab.json")
    augment = Augment(
        cfg.refs, cfg.hflip, cfg.vflip, cfg.jpeg, cfg.noise_std, cfg.model.max_len - 1
    )
    data = CaptionTrainSet(train_images, vocab, augment)
    n_refs = [len(it.captions) for it in train_items]
    log(
        f"caption: {len(train_items)} train / {len(val_items)} val images, vocab {len(vocab)}, "
        f"{count_parameters(model):,} parameters, {cfg.epochs} epochs x {steps_per_epoch} steps"
        f" of {cfg.batch_size}, on {engine.describe()}, {setup.workers} loader workers"
    )
    for epoch in range(run.epoch, cfg.epochs):
        net.train()
        plan = EpochPlan.draw(rng, n_refs, steps_per_epoch, cfg.batch_size, augment)
        batches = epoch_loader(
            data, plan, world=engine.world, rank=engine.rank, workers=setup.workers,
            pin_memory=engine.pin_memory,
        )  # fmt: skip
        bar = progress(
            batches, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="step", total=steps_per_epoch,
            disable=None if engine.is_main else True,
        )  # fmt: skip
        loss_sum, acc_sum, start = 0.0, 0.0, time.perf_counter()
        for i, (images, captions) in enumerate(bar):
            set_lr(opt, lr_at(epoch * steps_per_epoch + i, total, cfg.lr, cfg.warmup_steps))
            images, captions = engine.to(images), engine.to(captions)
            part = engine.shard(len(plan.steps[i]))
            images = add_pixel_noise(images, plan.noise_std[i], plan.noise_seed[i], part)
            tokens = engine.total((captions[:, 1:] != vocab.pad_id).sum()) / engine.world
            with engine.autocast():
                logits, alphas = net(images, captions)
            loss, acc = caption_loss(
                logits, alphas.float(), captions, vocab.pad_id, cfg.alpha_c, tokens
            )
            engine.step(loss, opt, params, cfg.grad_clip)
            loss_sum += engine.mean(loss)
            acc_sum += engine.mean(acc)
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(
                    loss=f"{loss_sum / (i + 1):.3f}", tok_acc=f"{acc_sum / (i + 1):.3f}"
                )
        train_seconds = time.perf_counter() - start  # the steps alone: loading included
        stats = {
            "train_loss": loss_sum / steps_per_epoch, "token_accuracy": acc_sum / steps_per_epoch,
            "train_seconds": round(train_seconds, 3),
            "images_per_second": round(steps_per_epoch * cfg.batch_size / train_seconds, 1),
        }  # fmt: skip
        with engine.main_first() as main:
            if main:
                _end_epoch(
                    out, model, opt, rng, cfg, run, vocab, fingerprint, epoch, engine,
                    image_source(val_items, size, folder, "val", setup, log), val_items,
                    stats, log,
                )  # fmt: skip
    if not engine.is_main:
        return {}
    return evaluate_caption_run(
        data_dir, out, cfg, history=history, seconds=clock.seconds, log=log, command=command,
        engine=engine,
    )  # fmt: skip


def _end_epoch(
    out: Path, model: CaptionModel, opt: torch.optim.Optimizer, rng: np.random.Generator,
    cfg: CaptionTrainConfig, run: Any, vocab: Vocab, fingerprint: dict[str, Any], epoch: int,
    engine: Engine, val: ImageSource, val_items: list[CaptionItem], stats: dict[str, float],
    log: Callable[[str], None],
) -> None:  # fmt: skip
    """Validate (greedy), log, keep the best, save last/ (rank 0)."""
    batches = image_batches(val, workers=engine.setup.workers)
    hyps = decode_images(model, batches, vocab, 1, engine, "validate")
    scores = caption_scores(hyps, [it.captions for it in val_items])
    score = scores.get("content_accuracy", scores["bleu4"])
    row = {
        "epoch": epoch + 1, **stats, "val_bleu4": scores["bleu4"],
        "val_content_accuracy": scores.get("content_accuracy"),
        "seconds": round(run.clock.seconds, 1),
    }  # fmt: skip
    loss, acc = stats["train_loss"], stats["token_accuracy"]
    run.history.append(row)
    content = scores.get("content_accuracy")
    log(
        f"epoch {epoch + 1:3d}  loss {loss:.4f}  tok {acc:.3f}  val BLEU-4 {scores['bleu4']:.3f}"
        + (f"  content {content:.3f}" if content is not None else "")
        + f"  {run.clock.seconds:6.0f}s  {stats['images_per_second']:.0f} img/s"
        + f"   e.g. {' '.join(hyps[0])!r}"
    )
    if score > run.best:
        run.best = score
        save_checkpoint(
            out / "best", model, kind="caption",
            extra={"epoch": epoch, "vocab": list(vocab.itos), **row},
        )  # fmt: skip
    run.epoch = epoch
    save_run(out, model, opt, rng, kind="caption", state=run, fingerprint=fingerprint)


def evaluate_caption_run(
    data_dir: Path,
    out: Path,
    cfg: CaptionTrainConfig,
    *,
    history: list[dict[str, Any]],
    seconds: float,
    log: Callable[[str], None] = print,
    command: str | None = None,
    engine: Engine | None = None,
) -> dict[str, Any]:
    """Score `best/` on the test split, greedy and beam; write metrics.json."""
    engine = engine or Engine()
    model = load_checkpoint(out / "best").model
    assert isinstance(model, CaptionModel)
    model.to(engine.device)
    vocab = Vocab.load(out / "vocab.json")
    items = split_items(data_dir, "test")
    test = ImageSource(items, cfg.model.image_size)
    refs = [it.captions for it in items]
    results: dict[str, Any] = {}
    for beam in sorted({1, cfg.eval_beam}):
        batches = image_batches(test, workers=engine.setup.workers)
        hyps = decode_images(model, batches, vocab, beam, engine, f"test beam {beam}")
        results[f"beam{beam}"] = caption_scores(hyps, refs)
        results[f"beam{beam}"]["examples"] = [" ".join(h) for h in hyps[:5]]
    main = results[f"beam{cfg.eval_beam}"]
    metrics = {
        "test": results,
        "test_bleu4": main["bleu4"],
        "test_content_accuracy": main.get("content_accuracy"),
        "test_cider": main.get("cider"),
        "beam": cfg.eval_beam,
        "n_test": len(items),
        "train_seconds": round(seconds, 1),
        "command": recorded_command(command, "lstm_apps.train.caption.train_caption"),
        "data": str(data_dir),
        "data_generator": read_generator(data_dir),
        "parameters": count_parameters(model),
        "train_config": cfg.to_dict(),
        "history": history,
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    write_json(out / "metrics.json", metrics)
    content = main.get("content_accuracy")
    log(
        f"test (beam {cfg.eval_beam}): BLEU-4 {main['bleu4']:.3f}, CIDEr {main.get('cider', 0):.3f}"
        + (f", content accuracy {content:.3f}" if content is not None else "")
        + f" over {len(items)} images; {seconds:.0f}s of training -> {out}"
    )
    return metrics
