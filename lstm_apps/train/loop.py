"""Pieces every training loop shares: schedule, resumable optimizer and RNG state, progress.

Optimizer state goes into `state.safetensors` as flat tensors (no pickle); its non-tensor
parts and the RNG states go into the checkpoint's JSON `extra`.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch import Tensor

from lstm_apps.runtime.files import write_text_atomic

T = TypeVar("T")


def lr_at(step: int, total_steps: int, peak: float, warmup: int, final_frac: float = 0.02) -> float:
    """Linear warm-up to `peak`, then cosine decay to `final_frac * peak`."""
    if step < warmup:
        return peak * (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, total_steps - warmup))
    return peak * (final_frac + (1 - final_frac) * 0.5 * (1 + math.cos(math.pi * t)))


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for group in opt.param_groups:
        group["lr"] = lr


def optimizer_state(opt: torch.optim.Optimizer) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Split an optimizer's state dict into flat tensors and JSON."""
    sd = opt.state_dict()
    tensors: dict[str, Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, st in sd["state"].items():
        for name, value in st.items():
            if isinstance(value, Tensor):
                tensors[f"optim.{idx}.{name}"] = value
            else:
                scalars.setdefault(str(idx), {})[name] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def load_optimizer_state(
    opt: torch.optim.Optimizer, tensors: dict[str, Tensor], meta: dict[str, Any]
) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    for idx, st in meta.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(st)
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def rng_state(np_rng: np.random.Generator) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Torch's RNG as a tensor; numpy's and Python's as JSON."""
    py = random.getstate()
    return {"rng.torch": torch.get_rng_state()}, {
        "numpy": np_rng.bit_generator.state,
        "python": [py[0], list(py[1]), py[2]],
    }


def set_rng_state(
    np_rng: np.random.Generator, tensors: dict[str, Tensor], meta: dict[str, Any]
) -> None:
    if "rng.torch" in tensors:
        torch.set_rng_state(tensors["rng.torch"])
    if "numpy" in meta:
        np_rng.bit_generator.state = meta["numpy"]
    if "python" in meta:
        v, s, g = meta["python"]
        random.setstate((v, tuple(s), g))


def seed_everything(seed: int) -> np.random.Generator:
    random.seed(seed)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def progress(items: Iterable[T], **kwargs: Any) -> Iterator[T]:
    """A tqdm bar on a terminal; plain iteration otherwise (CI logs stay short)."""
    from tqdm.auto import tqdm

    kwargs.setdefault("disable", None)  # None: off when not a TTY
    kwargs.setdefault("dynamic_ncols", True)
    kwargs.setdefault("leave", False)
    yield from tqdm(items, **kwargs)


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


class Stopwatch:
    """Wall time of a run, carried across resumes."""

    def __init__(self, already: float = 0.0) -> None:
        self.already, self.start = already, time.perf_counter()

    @property
    def seconds(self) -> float:
        return self.already + time.perf_counter() - self.start


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def ensure_dir(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    return p
