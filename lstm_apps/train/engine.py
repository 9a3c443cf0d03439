"""Where a run computes: the device, the precision, and the processes of a torchrun job.

    lstm-apps train caption --data D --out R --device cuda --precision bf16
    torchrun --nproc_per_node 2 -m lstm_apps train speech --data D --out R

One code path for every case. On one CPU process it is the plain loop (autocast off,
no process group); `--device cuda` moves the model and each batch (pinned memory,
non-blocking copies); under torchrun (WORLD_SIZE > 1) the model is wrapped in
DistributedDataParallel over gloo (CPU) or nccl (CUDA).

`--batch-size` is the global batch: each of N processes computes batch / N examples of
every step, so a recipe means the same on any number of processes. Everything random
that decides what a step sees (the order, the augmentation) is drawn the same way on
every process, so N processes train on exactly the examples one process would.
Logging, checkpoints, evaluation and the progress bar happen on rank 0 only.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.distributed as dist
from torch import Tensor, nn

from lstm_apps.runtime.errors import ConfigError

Device = Literal["auto", "cpu", "cuda", "mps"]
Precision = Literal["fp32", "bf16", "fp16"]
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")
PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Setup:
    """How a run computes, not what it learns: none of it is part of the recipe, so a run
    may resume on another device, precision or number of workers."""

    device: Device = "auto"  # cuda if present, else mps, else cpu
    precision: Precision = "fp32"  # autocast dtype; fp16 adds a GradScaler
    workers: int = 0  # DataLoader worker processes (0: load in the training process)

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ConfigError(f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        if self.precision not in PRECISIONS:
            raise ConfigError(
                f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}"
            )
        if not isinstance(self.workers, int) or self.workers < 0:
            raise ConfigError(f"workers must be an int >= 0, got {self.workers!r}")


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """'auto' -> the best device present; 'cuda' / 'mps' must be present (ConfigError)."""
    if name == "auto":
        if torch.cuda.is_available():
            name = "cuda"
        elif torch.backends.mps.is_available():
            name = "mps"
        else:
            name = "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("--device cuda: torch sees no CUDA device on this machine")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if name == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("--device mps: torch sees no MPS device on this machine")
    return torch.device(name)


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    """torch.autocast at `precision` on `device` (fp32: no autocast)."""
    dtype = _DTYPES.get(precision)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def check_precision(device: torch.device, precision: str) -> None:
    """ConfigError for a precision the device cannot run."""
    if device.type == "mps" and precision == "bf16":
        raise ConfigError("--precision bf16 is not supported on mps; use fp16 or fp32")
    if device.type == "cpu" and precision == "fp16":
        raise ConfigError(
            "--precision fp16 needs a GPU (cuda or mps): the CPU has no fp16 LSTM kernel; "
            "use bf16 on the CPU"
        )


class Engine:
    """The device, autocast, gradient scaler and process group of one training process."""

    def __init__(self, setup: Setup | None = None, *, threads: int | None = None) -> None:
        """threads: torch threads for the machine, shared by the processes on it (None:
        leave torch's setting alone)."""
        self.setup = setup = setup or Setup()
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(self.world)))
        self.device = resolve_device(setup.device, local)
        check_precision(self.device, setup.precision)
        if threads is not None:
            torch.set_num_threads(max(1, threads // local_world))
        self.distributed = self.world > 1
        if self.distributed and not dist.is_initialized():
            backend = "nccl" if self.device.type == "cuda" else "gloo"
            dist.init_process_group(backend, timeout=datetime.timedelta(minutes=60))
        self.dtype = _DTYPES.get(setup.precision)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=setup.precision == "fp16")
        self.pin_memory = self.device.type == "cuda"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def describe(self) -> str:
        procs = f", {self.world} processes ({'nccl' if self.device.type == 'cuda' else 'gloo'})"
        return f"{self.device} {self.setup.precision}" + (procs if self.distributed else "")

    def log(self, log: Callable[[str], None]) -> Callable[[str], None]:
        """`log` on rank 0, silence elsewhere."""
        return log if self.is_main else (lambda _msg: None)

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        return autocast(self.device, self.setup.precision)

    def to(self, t: Tensor) -> Tensor:
        return t.to(self.device, non_blocking=True)

    def wrap(self, model: nn.Module) -> nn.Module:
        """The module the training step calls: the model itself, or its DDP wrapper."""
        model.to(self.device)
        if not self.distributed:
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def shard(self, n: int) -> slice:
        """This process's part of a global batch of n examples."""
        return shard(n, self.world, self.rank)

    def check_batch(self, batch_size: int, what: str) -> None:
        if batch_size % self.world:
            raise ConfigError(
                f"--batch-size {batch_size} is the global batch and must divide evenly over "
                f"the {self.world} processes ({what})"
            )

    def step(
        self, loss: Tensor, opt: torch.optim.Optimizer, params: list[Tensor], clip: float
    ) -> None:
        """Backward (scaled for fp16), clip the global gradient norm, step."""
        opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(opt)
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(params, clip)
        self.scaler.step(opt)
        self.scaler.update()

    def mean(self, value: Tensor) -> float:
        """The mean of a scalar over the processes (for logging the global loss)."""
        if not self.distributed:
            return float(value.detach())
        t = value.detach().float().reshape(1).to("cpu" if self._gloo else self.device)
        dist.all_reduce(t)
        return float(t) / self.world

    def total(self, value: Tensor) -> Tensor:
        """The sum of a tensor over the processes (token counts for a global mean)."""
        if not self.distributed:
            return value
        t = value.detach().clone().to("cpu" if self._gloo else self.device)
        dist.all_reduce(t)
        return t.to(value.device)

    @property
    def _gloo(self) -> bool:
        return self.device.type != "cuda"

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    @contextlib.contextmanager
    def main_first(self) -> Iterator[bool]:
        """Rank 0 runs the block (writes files), the others wait for it; yields is_main."""
        try:
            yield self.is_main
        finally:
            self.barrier()

    def close(self) -> None:
        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def shard(n: int, world: int, rank: int) -> slice:
    """Part `rank` of `world` of n examples: equal parts when world divides n (a full
    batch), near-equal ones otherwise (the one short step of a set smaller than a batch)."""
    return slice(rank * n // world, (rank + 1) * n // world)


def loader_generator() -> torch.Generator:
    """For every DataLoader: its workers' base seed then comes from here, not from the
    global torch RNG, which stays the model's alone (dropout draws the same numbers with
    or without a loader, with any number of workers)."""
    return torch.Generator().manual_seed(0)


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DDP wrapper (what checkpoints save)."""
    return model.module if hasattr(model, "module") else model
