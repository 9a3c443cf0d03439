"""Caption images streamed from disk: decoded, resized and augmented in DataLoader workers.

Every image goes through the runtime's own conversion (`runtime.image.load_image`: grey,
CMYK, palette, 16-bit and EXIF-rotated files all become RGB uint8), then the encoder's own
resize to the model's S x S input (bilinear, no antialias), rounded to uint8; an image
already S x S passes unchanged. Augmentation (mirrors, JPEG, pixel noise) happens after
that, at S, on what the encoder sees.

Memory does not grow with the data set: a split is a list of paths. `ImageCache` can keep
the resized images in one raw uint8 file, read with `os.pread` (the kernel's page cache
holds it, not the process), so later epochs skip decoding.

Everything random about an epoch (order, augmentation, noise) is drawn up front from the
run's generator (`EpochPlan`): the same with any number of workers or processes, saved
with the run, so a resumed run sees what an uninterrupted one would.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from lstm_apps.data.captions import CaptionItem, Vocab, load_karpathy
from lstm_apps.runtime.errors import ConfigError, DataFormatError, ImageInputError
from lstm_apps.runtime.files import atomic_file, write_text_atomic
from lstm_apps.runtime.image import load_image
from lstm_apps.train.engine import Setup, loader_generator, shard
from lstm_apps.train.loop import progress

# `--cache auto` keeps resized images on disk up to this size (the shipped set: 1 GB)
AUTO_CACHE_BYTES = 8 * 2**30

# Augmentations that keep a caption true: a mirror swaps these words.
HFLIP_SWAP = {"left": "right", "right": "left"}
VFLIP_SWAP = {"above": "below", "below": "above"}


def fit_image(img: np.ndarray, size: int) -> np.ndarray:
    """RGB uint8 (H, W, 3) -> (size, size, 3) by the encoder's own resize, rounded."""
    if img.shape[:2] == (size, size):
        return img
    x = torch.from_numpy(np.array(img, np.float32)).permute(2, 0, 1)[None]
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=False)
    return x[0].permute(1, 2, 0).round_().clamp_(0, 255).to(torch.uint8).numpy()


def read_image(item: CaptionItem, size: int) -> np.ndarray:
    try:
        return fit_image(load_image(item.image_path), size)  # train = serve
    except ImageInputError as e:
        raise DataFormatError(str(e)) from e


class ImageCache:
    """The resized images of a split in one raw file: image i at i * size * size * 3.

    `<dir>/<name>.u8` is written once (atomically) and reused while the key in
    `<dir>/<name>.json` matches: the size and every file's path, length and mtime."""

    def __init__(self, folder: Path, name: str, items: Sequence[CaptionItem], size: int) -> None:
        self.path, self.meta = folder / f"{name}.u8", folder / f"{name}.json"
        self.items, self.size, self.stride = items, size, size * size * 3
        self._fd: tuple[int, int] | None = None  # (pid, fd): one descriptor per process

    def key(self) -> str:
        h = hashlib.sha256(f"{self.size}\n".encode())
        for it in self.items:
            st = it.image_path.stat()
            h.update(f"{it.image_path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        return h.hexdigest()

    def ready(self) -> bool:
        try:
            meta = json.loads(self.meta.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        size_ok = self.path.is_file() and self.path.stat().st_size == self.stride * len(self.items)
        return size_ok and meta.get("key") == self.key()

    def build(self, workers: int, progress: Callable[..., Iterator[Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        source = ImageSource(self.items, self.size)
        loader = DataLoader(
            source, batch_size=64, num_workers=workers, collate_fn=_stack,
            generator=loader_generator(),
        )  # fmt: skip
        self.meta.unlink(missing_ok=True)  # the key goes last: a killed build is not ready
        with atomic_file(self.path) as tmp, tmp.open("wb") as f:
            for batch in progress(loader, desc=f"cache {self.path.stem}", unit="batch"):
                f.write(batch.numpy().tobytes())
        info = {"key": self.key(), "size": self.size, "images": len(self.items)}
        write_text_atomic(self.meta, json.dumps(info) + "\n")

    def __getitem__(self, i: int) -> np.ndarray:
        if self._fd is None or self._fd[0] != os.getpid():  # a forked worker opens its own
            self._fd = (os.getpid(), os.open(self.path, os.O_RDONLY))
        raw = os.pread(self._fd[1], self.stride, i * self.stride)
        if len(raw) != self.stride:
            raise DataFormatError(f"{self.path} is shorter than its {len(self.items)} images")
        return np.frombuffer(raw, np.uint8).reshape(self.size, self.size, 3)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_fd": None}


def _stack(images: list[np.ndarray]) -> Tensor:
    return torch.from_numpy(np.stack(images))


class ImageSource(Dataset[np.ndarray]):
    """The images of a split at size x size, from the cache when one is given."""

    def __init__(
        self, items: Sequence[CaptionItem], size: int, cache: ImageCache | None = None
    ) -> None:
        self.items, self.size, self.cache = items, size, cache

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> np.ndarray:
        if self.cache is not None:
            return self.cache[i]
        return read_image(self.items[i], self.size)


@dataclass(frozen=True)
class Augment:
    """The training augmentation of one image (CaptionTrainConfig's fields)."""

    refs: str = "first"
    hflip: float = 0.5
    vflip: float = 0.5
    jpeg: float = 0.3
    noise_std: float = 4.0
    max_tokens: int = 19


# What the run's generator decided for one example: (index, reference, hflip, vflip,
# JPEG quality or 0).
Plan = tuple[int, int, bool, bool, int]


@dataclass(frozen=True)
class EpochPlan:
    """Every random choice of one epoch, drawn up front in the training process from the
    run's generator: the order, each example's augmentation, each step's noise. Workers
    only carry it out, so the result does not depend on how many there are, and every
    process of a torchrun job draws the same plan and takes its part of each step. The
    draws are made in the order the in-memory trainer made them (per image: reference,
    mirrors, JPEG; per step: noise levels, then a seed for the noise), so a run trains
    exactly as it did before the data streamed."""

    steps: list[list[Plan]]
    noise_std: list[np.ndarray]  # (B,) per step
    noise_seed: list[int]  # per step

    @classmethod
    def draw(
        cls, rng: np.random.Generator, n_refs: Sequence[int], steps: int, batch: int,
        a: Augment,
    ) -> EpochPlan:  # fmt: skip
        order = rng.permutation(len(n_refs))
        plans, stds, seeds = [], [], []
        for i in range(steps):
            step = []
            for k in order[i * batch : (i + 1) * batch]:
                ref = 0 if a.refs == "first" else int(rng.integers(n_refs[k]))
                hflip, vflip = bool(rng.random() < a.hflip), bool(rng.random() < a.vflip)
                quality = int(rng.integers(30, 91)) if rng.random() < a.jpeg else 0
                step.append((int(k), ref, hflip, vflip, quality))
            plans.append(step)
            if a.noise_std > 0:  # a set smaller than a batch makes one short step
                stds.append(rng.uniform(0, a.noise_std, len(step)).astype(np.float32))
                seeds.append(int(rng.integers(2**63)))
            else:
                stds.append(np.zeros(len(step), np.float32))
                seeds.append(0)
        return cls(plans, stds, seeds)


Sample = tuple[np.ndarray, list[int]]


class CaptionTrainSet(Dataset[Sample]):
    """(augmented image, token ids) for one Plan; the pixel noise is added per batch on
    the training device (`add_pixel_noise`), one torch draw for the whole batch."""

    def __init__(self, images: ImageSource, vocab: Vocab, augment: Augment) -> None:
        self.images, self.vocab, self.augment = images, vocab, augment

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, plan: Plan) -> Sample:  # type: ignore[override]
        i, ref, hflip, vflip, quality = plan
        img, tokens = self.images[i], self.images.items[i].captions[ref]
        if hflip:
            img, tokens = img[:, ::-1], [HFLIP_SWAP.get(t, t) for t in tokens]
        if vflip:
            img, tokens = img[::-1], [VFLIP_SWAP.get(t, t) for t in tokens]
        if quality:
            img = jpeg_round_trip(np.ascontiguousarray(img), quality)
        return img, self.vocab.encode(tokens[: self.augment.max_tokens])


def collate_captions(batch: list[Sample]) -> tuple[Tensor, Tensor]:
    """Images (B, S, S, 3) uint8 and token ids (B, T) padded with <pad> = 0."""
    images = torch.from_numpy(np.stack([img for img, _ in batch]))  # the one copy
    t = max(len(ids) for _, ids in batch)
    out = np.zeros((len(batch), t), np.int64)
    for r, (_, ids) in enumerate(batch):
        out[r, : len(ids)] = ids
    return images, torch.from_numpy(out)


def add_pixel_noise(images: Tensor, std: np.ndarray, seed: int, part: slice) -> Tensor:
    """images (b, S, S, 3) uint8 + Gaussian noise, std[j] for image j of the global batch
    (std has the global batch's length), rounded back to uint8. The noise is one CPU draw
    for the whole global batch from a generator seeded `seed`, of which this process
    keeps `part`: N processes add what one process would, on any device."""
    if not (std > 0).any():
        return images
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn((len(std), *images.shape[1:]), generator=g)
    noise = (noise * torch.from_numpy(std)[:, None, None, None])[part]
    return (
        (images + noise.to(images.device, non_blocking=True))
        .round_()
        .clamp_(0, 255)
        .to(torch.uint8)
    )


def epoch_loader(
    data: CaptionTrainSet,
    plan: EpochPlan,
    *,
    world: int = 1,
    rank: int = 0,
    workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader[Any]:
    """This process's batches of one epoch: its part (rank of world) of each step's
    plan; the processes' parts of step i together are step i of one process."""
    batches = [step[shard(len(step), world, rank)] for step in plan.steps]
    return DataLoader(
        data, batch_sampler=batches, num_workers=workers, collate_fn=collate_captions,
        pin_memory=pin_memory, generator=loader_generator(),
    )  # fmt: skip


def image_batches(images: ImageSource, batch_size: int = 100, workers: int = 0) -> DataLoader[Any]:
    """The images of a split in order, in batches (for decoding val and test)."""
    return DataLoader(
        images, batch_size=batch_size, num_workers=workers, collate_fn=_stack,
        generator=loader_generator(),
    )  # fmt: skip


@dataclass
class CaptionArrays:
    """One split in memory (for evaluation and export checks): images (N, H, W, 3) uint8,
    token lists per image, canonical refs. Training streams instead (caption_data.py)."""

    images: np.ndarray
    captions: list[list[list[str]]]
    items: list[CaptionItem]


def split_items(data_dir: Path, split: str, limit: int | None = None) -> list[CaptionItem]:
    """The items of one split of the Karpathy file in `data_dir`; `limit`: the first N."""
    jsons = sorted(data_dir.glob("dataset_*.json"))
    if not jsons:
        raise DataFormatError(f"{data_dir} has no dataset_<name>.json (Karpathy split file)")
    items = load_karpathy(jsons[0], image_root=data_dir).split(split)[:limit]
    if not items:
        raise DataFormatError(f"{jsons[0]} has no {split!r} images")
    return items


def load_caption_split(
    data_dir: Path, split: str, limit: int | None = None, *, size: int | None = None
) -> CaptionArrays:
    """Read one split into memory, every image resized to size x size as the encoder
    does (size None: as stored, and all must share one size)."""
    items = split_items(data_dir, split, limit)
    images = []
    for item in progress(items, desc=f"read {split}", unit="img"):
        img = read_image(item, size) if size else _stored(item)
        if images and img.shape != images[0].shape:
            raise DataFormatError(
                f"{item.image_path} is {img.shape[1]}x{img.shape[0]}, not "
                f"{images[0].shape[1]}x{images[0].shape[0]}; give a size to resize to"
            )
        images.append(img)
    return CaptionArrays(np.stack(images), [it.captions for it in items], items)


def _stored(item: CaptionItem) -> np.ndarray:
    try:
        return load_image(item.image_path)
    except ImageInputError as e:
        raise DataFormatError(str(e)) from e


def jpeg_round_trip(img: np.ndarray, quality: int) -> np.ndarray:
    """img (H, W, 3) uint8 encoded as JPEG at `quality` (1-100) and decoded again: the
    training augmentation, and the robustness check of `eval caption --jpeg`."""
    if not 1 <= quality <= 100:
        raise ConfigError(f"JPEG quality must be in 1..100, got {quality}")
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"))


def image_source(
    items: list[CaptionItem], size: int, cache: Path | None, name: str, setup: Setup,
    log: Callable[[str], None],
) -> ImageSource:  # fmt: skip
    """The split's images at size, through a cache in `cache` when one is wanted."""
    if cache is None:
        return ImageSource(items, size)
    store = ImageCache(cache, f"{name}-{size}px", items, size)
    if not store.ready():
        log(f"caching {len(items)} {name} images at {size}x{size} in {store.path}")
        store.build(setup.workers, progress)
    return ImageSource(items, size, store)


def cache_folder(
    cache: str, out: Path, n: int, size: int, log: Callable[[str], None]
) -> Path | None:
    """Where resized images are kept: `--cache auto` (up to AUTO_CACHE_BYTES), `always`,
    `never`, or a folder."""
    if cache == "never":
        return None
    if cache == "auto":
        need = n * size * size * 3
        if need > AUTO_CACHE_BYTES:
            log(f"not caching: {need / 2**30:.1f} GB of resized images (--cache always to force)")
            return None
        return out / "cache"
    return out / "cache" if cache == "always" else Path(cache)
