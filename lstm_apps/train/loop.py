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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch import Tensor

from lstm_apps.runtime.errors import ConfigError, DataFormatError
from lstm_apps.runtime.files import recover_dir, write_text_atomic

T = TypeVar("T")


def recorded_command(command: str | None, api: str) -> str:
    """What metrics.json and model cards quote as the command that made a run: the
    `lstm-apps ...` line the caller passed, or, called from Python, the function's name."""
    return command if command is not None else f"{api}() from Python"


def check_settings(
    config: object,
    *,
    positive: tuple[str, ...] = (),
    non_negative: tuple[str, ...] = (),
    fractions: tuple[str, ...] = (),
    probabilities: tuple[str, ...] = (),
    ranges: tuple[str, ...] = (),
) -> None:
    """Raise ConfigError naming the first field of `config` outside what is allowed:
    positive (> 0), non_negative (>= 0), fractions ([0, 1)), probabilities ([0, 1]),
    ranges ((lo, hi) pairs with lo <= hi)."""
    name = type(config).__name__
    rules: list[tuple[tuple[str, ...], Callable[[Any], bool], str]] = [
        (positive, lambda v: v > 0, "> 0"),
        (non_negative, lambda v: v >= 0, ">= 0"),
        (fractions, lambda v: 0 <= v < 1, "in [0, 1)"),
        (probabilities, lambda v: 0 <= v <= 1, "in [0, 1]"),
        (ranges, lambda v: len(v) == 2 and v[0] <= v[1], "a (low, high) pair with low <= high"),
    ]
    for fields, ok, allowed in rules:
        for field_name in fields:
            value = getattr(config, field_name)
            if not ok(value):
                raise ConfigError(f"{name}.{field_name} must be {allowed}, got {value!r}")


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


@dataclass
class RunState:
    """Where a training run stands: the next epoch, the best score, the history, the clock."""

    epoch: int = 0
    best: float = -1.0
    history: list[dict[str, Any]] = field(default_factory=list)
    clock: Stopwatch = field(default_factory=Stopwatch)


def resume_run(
    out: Path,
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    rng: np.random.Generator,
    fingerprint: dict[str, Any],
    log: Callable[[str], None],
    resume: bool = True,
    *,
    repair: bool = True,
) -> RunState:
    """Restore `out/last` (weights, optimizer, RNG, history) when resuming; it must have
    been written with the same fingerprint (training config, vocabulary, ...).
    repair: also put the run folder in order (the process that writes it; under DDP the
    other processes only read, after rank 0 has)."""
    from lstm_apps.train.checkpoint import load_checkpoint

    for folder in ("last", "best"):  # finish or undo a swap a kill interrupted; clean up
        if repair:
            recover_dir(out / folder)
    if not (resume and (out / "last" / "config.json").is_file()):
        if repair:
            (out / "history.jsonl").unlink(missing_ok=True)
        return RunState()
    ck = load_checkpoint(out / "last", with_state=True)
    for key, value in json.loads(json.dumps(fingerprint)).items():
        if ck.extra.get(key) != value:
            raise DataFormatError(f"{out}/last was trained with another {key}; use a new --out")
    model.load_state_dict(ck.model.state_dict())
    load_optimizer_state(opt, ck.state, ck.extra["optimizer"])
    set_rng_state(rng, ck.state, ck.extra["rng"])
    state = RunState(
        ck.extra["epoch"] + 1, ck.extra["best_score"], ck.extra["history"],
        Stopwatch(ck.extra["seconds"]),
    )  # fmt: skip
    # last/ is the truth: a kill between saving it and appending to history.jsonl (or in
    # the middle of the append) must not leave the log short or torn
    if repair:
        lines = "".join(json.dumps(h) + "\n" for h in state.history)
        write_text_atomic(out / "history.jsonl", lines)
        log(f"resuming from {out / 'last'} at epoch {state.epoch + 1}")
    return state


def save_run(
    out: Path,
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    rng: np.random.Generator,
    *,
    kind: str,
    state: RunState,
    fingerprint: dict[str, Any],
) -> None:
    """Write `out/last` so the run can resume after `state.epoch`, then log the epoch."""
    from lstm_apps.train.checkpoint import save_checkpoint

    tensors, opt_meta = optimizer_state(opt)
    rng_tensors, rng_meta = rng_state(rng)
    extra = {
        "epoch": state.epoch, "best_score": state.best, "history": state.history,
        "seconds": state.clock.seconds, "optimizer": opt_meta, "rng": rng_meta, **fingerprint,
    }  # fmt: skip
    save_checkpoint(out / "last", model, kind=kind, extra=extra, state={**tensors, **rng_tensors})
    with (out / "history.jsonl").open("a", encoding="utf-8") as f:
        f.write(json.dumps(state.history[-1]) + "\n")
