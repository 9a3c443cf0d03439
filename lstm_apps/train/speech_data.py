"""Speech clips streamed from disk: read and fitted to one second in DataLoader workers.

A split is an index (paths, labels, silence flags) plus the background-noise bank; the
audio is read when a batch asks for it, so memory does not grow with the data set
(Speech Commands v2 would be about 7 GB of float32 in memory). Validation and test
silence examples get fixed noise crops, drawn once here with a generator seeded by the
run seed and the split, so evaluation is repeatable; every fifth stays digital zeros (a
muted input is `_silence_` too). Training silence stays zeros: the augmentation fills it.

Augmentation runs on whole batches in the training process, on the training device
(speech_augment.py): babble is made from the other clips of the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from lstm_apps.data.speech_commands import commands_of, load_speech_commands, read_wav
from lstm_apps.nn.speech import SpeechConfig
from lstm_apps.runtime.audio import fit_length
from lstm_apps.runtime.errors import ConfigError
from lstm_apps.train.engine import loader_generator
from lstm_apps.train.loop import progress


class SplitSettings(Protocol):
    """What decides the clips of a split (SpeechTrainConfig has them)."""

    @property
    def seed(self) -> int: ...
    @property
    def silence_fraction(self) -> float: ...
    @property
    def unknown_fraction(self) -> float: ...
    @property
    def eval_unknown_fraction(self) -> float: ...
    @property
    def model(self) -> SpeechConfig: ...


_SPLIT_SEED = {"train": 0, "validation": 1, "test": 2, "all": 3}


@dataclass
class SplitArrays:
    """One split in memory: clips (N, S) float32, labels (N,) int64, silence flags (N,)."""

    x: Tensor
    y: Tensor
    silence: Tensor


class SpeechClips(Dataset[np.ndarray]):
    """Clip i of a split as float32 (S,): the wav centred in S samples, as the runtime
    fits it, or a silence example (zeros, or its fixed noise crop)."""

    def __init__(
        self,
        paths: Sequence[Path | None],
        samples: int,
        bank: np.ndarray,
        fill: np.ndarray,
    ) -> None:
        self.paths, self.samples, self.bank, self.fill = paths, samples, bank, fill

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> np.ndarray:
        path, s = self.paths[i], self.samples
        if path is not None:
            return fit_length(read_wav(path), s)
        x = np.zeros(s, np.float32)
        start, gain, std = self.fill[i]
        if gain > 0:  # in float32, in this order: the clips evaluation has always used
            crop = self.bank[int(start) : int(start) + s]
            x[: crop.size] = crop * np.float32(gain) / np.float32(std)
        return x


@dataclass
class SpeechSplit:
    """The index of one split: its clips (a Dataset), labels, silence flags, noise bank."""

    clips: SpeechClips
    y: np.ndarray
    silence: np.ndarray
    noise: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.y)

    def loader(
        self, batches: Sequence[Sequence[int]] | int, workers: int = 0, pin_memory: bool = False
    ) -> DataLoader[Any]:
        """Clips (B, S) float32 for each batch of indices (or, given an int, the split in
        order in batches of that size)."""
        if isinstance(batches, int):
            n = len(self)
            batches = [range(i, min(i + batches, n)) for i in range(0, n, batches)]
        return DataLoader(
            self.clips, batch_sampler=batches, num_workers=workers, collate_fn=_stack,
            pin_memory=pin_memory, generator=loader_generator(),
        )  # fmt: skip

    def arrays(self, desc: str) -> SplitArrays:
        """The whole split in memory (small evaluation sets)."""
        x = np.zeros((len(self), self.clips.samples), np.float32)
        for i in progress(range(len(self)), desc=f"read {desc}", unit="clip"):
            x[i] = self.clips[i]
        return SplitArrays(
            torch.from_numpy(x), torch.from_numpy(self.y), torch.from_numpy(self.silence)
        )


def _stack(clips: list[np.ndarray]) -> Tensor:
    return torch.from_numpy(np.stack(clips))


def index_split(
    root: Path, split: str, cfg: SplitSettings, *, all_unknown: bool = False
) -> SpeechSplit:
    """Index one split (nothing but the noise bank is read yet)."""
    data = load_speech_commands(
        root, split, silence_fraction=cfg.silence_fraction,  # type: ignore[arg-type]
        unknown_fraction=cfg.unknown_fraction if split == "train" else cfg.eval_unknown_fraction,
        seed=cfg.seed, all_unknown=all_unknown, commands=commands_of(cfg.model.labels),
    )  # fmt: skip
    if tuple(data.labels) != tuple(cfg.model.labels):
        raise ConfigError(
            f"model labels {list(cfg.model.labels)}: expected the commands, then _silence_ "
            f"and _unknown_: {list(data.labels)}"
        )
    s = cfg.model.clip_samples
    silence = np.array([ex.path is None for ex in data.examples], bool)
    bank = np.concatenate(data.noise) if data.noise else np.zeros(s * 2, np.float32)
    fill = np.zeros((len(silence), 3))  # (start, gain, crop std); gain 0: zeros
    if split != "train" and silence.any():
        rng = np.random.default_rng(cfg.seed + _SPLIT_SEED[split])
        for k, i in enumerate(np.flatnonzero(silence)):
            if k % 5 == 4:
                continue
            start = rng.integers(0, max(1, bank.size - s))
            crop = bank[start : start + s]
            fill[i] = start, 10 ** (rng.uniform(-50, -10) / 20), max(crop.std(), 1e-6)
    clips = SpeechClips([ex.path for ex in data.examples], s, bank, fill)
    y = np.array([ex.label_index for ex in data.examples], np.int64)
    return SpeechSplit(clips, y, silence, data.noise)


def load_split(
    root: Path, split: str, cfg: SplitSettings, *, all_unknown: bool = False
) -> tuple[SplitArrays, list[np.ndarray]]:
    """Read one split into memory (evaluation and export checks; training streams)."""
    index = index_split(root, split, cfg, all_unknown=all_unknown)
    return index.arrays(split), index.noise
