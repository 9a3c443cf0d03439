"""Train the attention captioner on a Karpathy-split data set (the shapes set, COCO, ...).

    lstm-apps data shapes data/shapes                      # 20,000 scenes, ~45 s
    lstm-apps train caption --data data/shapes --out runs/caption   # 15 epochs, ~19 min

The run directory holds `last/` (resumable), `best/` (best validation score), `vocab.json`,
`metrics.json` and `history.jsonl`. Rerun the same command to resume after an interruption.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from lstm_apps.data import read_generator
from lstm_apps.data.captions import CaptionItem, Vocab, load_karpathy
from lstm_apps.nn.caption import CaptionConfig, CaptionModel, generate
from lstm_apps.runtime.errors import ConfigError, DataFormatError, ImageInputError
from lstm_apps.runtime.image import load_image
from lstm_apps.runtime.search import SearchOptions
from lstm_apps.train.caption_eval import caption_scores
from lstm_apps.train.checkpoint import load_checkpoint, save_checkpoint
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

# Augmentations that keep a caption true: a mirror swaps these words.
HFLIP_SWAP = {"left": "right", "right": "left"}
VFLIP_SWAP = {"above": "below", "below": "above"}


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


@dataclass
class CaptionArrays:
    """One split in memory: images (N, H, W, 3) uint8, token lists per image, canonical refs."""

    images: np.ndarray
    captions: list[list[list[str]]]
    items: list[CaptionItem]


def load_images(items: list[CaptionItem], desc: str) -> np.ndarray:
    """Read every image as RGB uint8; all must share one size (resize happens in the model)."""
    out = None
    for i, item in enumerate(progress(items, desc=f"read {desc}", unit="img")):
        try:
            arr = load_image(item.image_path)  # the runtime's own conversion: train = serve
        except ImageInputError as e:
            raise DataFormatError(str(e)) from e
        if out is None:
            out = np.empty((len(items), *arr.shape), np.uint8)
        if arr.shape != out.shape[1:]:
            raise DataFormatError(
                f"{item.image_path} is {arr.shape[1]}x{arr.shape[0]}; this trainer keeps one "
                f"size in memory ({out.shape[2]}x{out.shape[1]}): resize the set first"
            )
        out[i] = arr
    if out is None:
        raise DataFormatError(f"the {desc} split has no images")
    return out


def load_caption_split(data_dir: Path, split: str, limit: int | None = None) -> CaptionArrays:
    """Read one split into memory; `limit` keeps only its first N images."""
    jsons = sorted(data_dir.glob("dataset_*.json"))
    if not jsons:
        raise DataFormatError(f"{data_dir} has no dataset_<name>.json (Karpathy split file)")
    items = load_karpathy(jsons[0], image_root=data_dir).split(split)[:limit]
    if not items:
        raise DataFormatError(f"{jsons[0]} has no {split!r} images")
    return CaptionArrays(load_images(items, split), [it.captions for it in items], items)


def _swap(tokens: list[str], table: dict[str, str]) -> list[str]:
    return [table.get(t, t) for t in tokens]


def jpeg_round_trip(img: np.ndarray, quality: int) -> np.ndarray:
    """img (H, W, 3) uint8 encoded as JPEG at `quality` (1-100) and decoded again: the
    training augmentation, and the robustness check of `eval caption --jpeg`."""
    if not 1 <= quality <= 100:
        raise ConfigError(f"JPEG quality must be in 1..100, got {quality}")
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"))


def _torch_generator(rng: np.random.Generator) -> torch.Generator:
    """A torch generator seeded from `rng`: torch draws stay reproducible from the run seed."""
    return torch.Generator().manual_seed(int(rng.integers(2**63)))


def make_batch(
    data: CaptionArrays,
    idx: np.ndarray,
    vocab: Vocab,
    cfg: CaptionTrainConfig,
    rng: np.random.Generator,
) -> tuple[Tensor, Tensor]:
    """Augmented images (B, H, W, 3) uint8 and padded token ids (B, T) for teacher forcing."""
    images, seqs = [], []
    for i in idx:
        img = data.images[i]
        refs = data.captions[i]
        tokens = refs[0] if cfg.refs == "first" else refs[int(rng.integers(len(refs)))]
        if rng.random() < cfg.hflip:
            img, tokens = img[:, ::-1], _swap(tokens, HFLIP_SWAP)
        if rng.random() < cfg.vflip:
            img, tokens = img[::-1], _swap(tokens, VFLIP_SWAP)
        if rng.random() < cfg.jpeg:
            img = jpeg_round_trip(np.ascontiguousarray(img), int(rng.integers(30, 91)))
        images.append(img)
        seqs.append(vocab.encode(tokens[: cfg.model.max_len - 1]))
    batch = torch.from_numpy(np.stack(images))
    if cfg.noise_std > 0:  # one torch draw for the batch (5x numpy's), a strength per image
        std = torch.from_numpy(rng.uniform(0, cfg.noise_std, (len(batch), 1, 1, 1)))
        noise = torch.randn(batch.shape, generator=_torch_generator(rng)) * std.float()
        batch = (batch + noise).round_().clamp_(0, 255).to(torch.uint8)
    t = max(len(s) for s in seqs)
    ids = np.zeros((len(seqs), t), np.int64)  # <pad> = 0
    for r, s in enumerate(seqs):
        ids[r, : len(s)] = s
    return batch, torch.from_numpy(ids)


def caption_loss(
    logits: Tensor, alphas: Tensor, captions: Tensor, pad_id: int, alpha_c: float
) -> tuple[Tensor, Tensor]:
    """Cross-entropy on the next token plus the doubly stochastic attention penalty.

    logits (B, T-1, V), alphas (B, T-1, K), captions (B, T). Returns (loss, token accuracy).
    """
    target = captions[:, 1:]
    mask = target != pad_id
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), reduction="none")
    ce = (ce * mask.reshape(-1)).sum() / mask.sum()
    coverage = (alphas * mask[..., None]).sum(1)  # (B, K): attention each cell got
    reg = ((1.0 - coverage) ** 2).mean()
    acc = ((logits.argmax(-1) == target) & mask).sum() / mask.sum()
    return ce + alpha_c * reg, acc


@torch.no_grad()
def decode_split(
    model: CaptionModel, images: np.ndarray, vocab: Vocab, beam: int, batch_size: int = 100
) -> list[list[str]]:
    """Captions (token lists) for images (N, H, W, 3) uint8."""
    model.eval()
    opts = SearchOptions(
        beam_size=beam, max_len=model.config.max_len, start_id=vocab.start_id, end_id=vocab.end_id
    )
    out: list[list[str]] = []
    for i in range(0, len(images), batch_size):
        hyps = generate(model, torch.from_numpy(images[i : i + batch_size]), opts)
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
) -> dict[str, Any]:
    """Train with teacher forcing, validate (greedy) every epoch, test the best with beam.

    command: the `lstm-apps ...` line that asked for this run, quoted by metrics.json and
    the model card (None: the call came from Python, and metrics.json says so).
    """
    cfg = cfg or CaptionTrainConfig()
    data_dir, out = Path(data_dir), ensure_dir(out_dir)
    torch.set_num_threads(cfg.threads)
    rng = seed_everything(cfg.seed)
    train = load_caption_split(data_dir, "train")
    val = load_caption_split(data_dir, "val", limit=cfg.val_images)
    vocab = Vocab.build([c for caps in train.captions for c in caps], min_count=cfg.min_count)
    cfg = replace(cfg, model=replace(cfg.model, vocab_size=len(vocab)))
    model = CaptionModel(cfg.model)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = max(1, len(train.images) // cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    fingerprint = {"train_config": cfg.to_dict(), "vocab": list(vocab.itos)}
    run = resume_run(out, model, opt, rng, fingerprint, log, resume)
    history, clock = run.history, run.clock
    vocab.save(out / "vocab.json")
    log(
        f"caption: {len(train.images)} train / {len(val.images)} val images, vocab {len(vocab)}, "
        f"{count_parameters(model):,} parameters, {cfg.epochs} epochs x {steps_per_epoch} steps"
    )
    for epoch in range(run.epoch, cfg.epochs):
        model.train()
        order = rng.permutation(len(train.images))
        bar = progress(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="step")
        loss_sum, acc_sum = 0.0, 0.0
        for i in bar:
            set_lr(opt, lr_at(epoch * steps_per_epoch + i, total, cfg.lr, cfg.warmup_steps))
            idx = order[i * cfg.batch_size : (i + 1) * cfg.batch_size]
            images, captions = make_batch(train, idx, vocab, cfg, rng)
            logits, alphas = model(images, captions)
            loss, acc = caption_loss(logits, alphas, captions, vocab.pad_id, cfg.alpha_c)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            loss_sum += float(loss.detach())
            acc_sum += float(acc)
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(
                    loss=f"{loss_sum / (i + 1):.3f}", tok_acc=f"{acc_sum / (i + 1):.3f}"
                )
        hyps = decode_split(model, val.images, vocab, beam=1)
        scores = caption_scores(hyps, val.captions)
        score = scores.get("content_accuracy", scores["bleu4"])
        row = {
            "epoch": epoch + 1, "train_loss": loss_sum / steps_per_epoch,
            "token_accuracy": acc_sum / steps_per_epoch, "val_bleu4": scores["bleu4"],
            "val_content_accuracy": scores.get("content_accuracy"),
            "seconds": round(clock.seconds, 1),
        }  # fmt: skip
        history.append(row)
        content = scores.get("content_accuracy")
        log(
            f"epoch {epoch + 1:3d}  loss {row['train_loss']:.4f}  tok {row['token_accuracy']:.3f}"
            f"  val BLEU-4 {scores['bleu4']:.3f}"
            + (f"  content {content:.3f}" if content is not None else "")
            + f"  {clock.seconds:6.0f}s   e.g. {' '.join(hyps[0])!r}"
        )
        if score > run.best:
            run.best = score
            save_checkpoint(
                out / "best", model, kind="caption",
                extra={"epoch": epoch, "vocab": list(vocab.itos), **row},
            )  # fmt: skip
        run.epoch = epoch
        save_run(out, model, opt, rng, kind="caption", state=run, fingerprint=fingerprint)
    return evaluate_caption_run(
        data_dir, out, cfg, history=history, seconds=clock.seconds, log=log, command=command
    )


def evaluate_caption_run(
    data_dir: Path,
    out: Path,
    cfg: CaptionTrainConfig,
    *,
    history: list[dict[str, Any]],
    seconds: float,
    log: Callable[[str], None] = print,
    command: str | None = None,
) -> dict[str, Any]:
    """Score `best/` on the test split, greedy and beam; write metrics.json."""
    model = load_checkpoint(out / "best").model
    assert isinstance(model, CaptionModel)
    vocab = Vocab.load(out / "vocab.json")
    test = load_caption_split(data_dir, "test")
    results: dict[str, Any] = {}
    for beam in sorted({1, cfg.eval_beam}):
        hyps = decode_split(model, test.images, vocab, beam=beam)
        results[f"beam{beam}"] = caption_scores(hyps, test.captions)
        results[f"beam{beam}"]["examples"] = [" ".join(h) for h in hyps[:5]]
    main = results[f"beam{cfg.eval_beam}"]
    metrics = {
        "test": results,
        "test_bleu4": main["bleu4"],
        "test_content_accuracy": main.get("content_accuracy"),
        "test_cider": main.get("cider"),
        "beam": cfg.eval_beam,
        "n_test": len(test.images),
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
        + f" over {len(test.images)} images; {seconds:.0f}s of training -> {out}"
    )
    return metrics
