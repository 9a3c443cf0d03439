"""Timing and the machine: how every benchmark number is taken, and where it was taken.

    t = measure(fn, BenchSettings(repeats=15))   # Timing(median_ms, p25_ms, p75_ms, ...)

A measurement is: `warmup` untimed calls, then `repeats` timed blocks of `inner` calls
each (`inner` is chosen so that a block lasts about `block_seconds`, so short calls are
not dominated by the clock), reported as the median per-call time over the blocks and
the spread between the 25th and 75th percentile blocks. At one thread the backends of
one case are timed in turn, block by block (`measure_interleaved`).
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from lstm_apps.runtime.errors import ConfigError


@dataclass(frozen=True)
class BenchSettings:
    repeats: int = 15  # timed blocks per measurement
    warmup: int = 3  # untimed calls first (allocators, caches, lazy initialisation)
    block_seconds: float = 0.05  # target length of one timed block
    max_inner: int = 200  # most calls in one block

    def __post_init__(self) -> None:
        if self.repeats < 1 or self.warmup < 0 or self.max_inner < 1:
            raise ConfigError(f"need repeats >= 1, warmup >= 0, max_inner >= 1; got {self}")


QUICK = BenchSettings(repeats=1, warmup=1, block_seconds=0.0, max_inner=1)


@dataclass(frozen=True)
class Timing:
    median_ms: float  # median over the blocks of the time per call
    p25_ms: float  # 25th percentile block
    p75_ms: float  # 75th percentile block
    min_ms: float  # fastest block
    repeats: int  # timed blocks
    inner: int  # calls per block

    @property
    def spread(self) -> float:
        """(p75 - p25) / median: the relative interquartile spread."""
        return (self.p75_ms - self.p25_ms) / self.median_ms if self.median_ms > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "spread": round(self.spread, 4)}


def measure(fn: Callable[[], object], settings: BenchSettings) -> Timing:
    """Time `fn()` as the module docstring says."""
    return measure_interleaved({"fn": fn}, settings)["fn"]


def measure_interleaved(
    fns: Mapping[str, Callable[[], object]], settings: BenchSettings, interleave: bool = True
) -> dict[str, Timing]:
    """Time several functions doing the same work (one per backend).

    interleave=True takes their blocks in turn (repeat 1 of each, then repeat 2 of each,
    ...): a burst of load from elsewhere on the machine then slows every backend alike,
    so the ratios of the medians hold even when the absolute times move. Use it at one
    thread only: with thread pools, the pool the previous backend left spinning (torch's
    OpenMP, onnxruntime's) takes a core from the next one, so interleave=False times one
    backend after the other, each after its own warm-up.
    """
    inner: dict[str, int] = {}
    per_call: dict[str, list[float]] = {name: [] for name in fns}

    def block(name: str) -> None:
        fn, n = fns[name], inner[name]
        start = time.perf_counter()
        for _ in range(n):
            fn()
        per_call[name].append((time.perf_counter() - start) / n * 1e3)

    def prepare(name: str) -> None:
        fn = fns[name]
        for _ in range(settings.warmup):
            fn()
        inner[name] = 1
        if settings.block_seconds > 0:
            start = time.perf_counter()
            fn()
            once = max(time.perf_counter() - start, 1e-7)
            inner[name] = int(min(settings.max_inner, max(1, settings.block_seconds // once)))

    if interleave:
        for name in fns:
            prepare(name)
        for _ in range(settings.repeats):
            for name in fns:
                block(name)
    else:
        for name in fns:
            prepare(name)
            for _ in range(settings.repeats):
                block(name)
    return {name: _timing(np.array(ms), inner[name]) for name, ms in per_call.items()}


def _timing(ms: npt.NDArray[np.float64], inner: int) -> Timing:
    return Timing(
        median_ms=float(np.median(ms)),
        p25_ms=float(np.percentile(ms, 25)),
        p75_ms=float(np.percentile(ms, 75)),
        min_ms=float(ms.min()),
        repeats=len(ms),
        inner=inner,
    )


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo; else what platform knows)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """CPU, cores, OS and the versions of everything that sets the speed."""
    import onnxruntime
    import torch

    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "os": f"{platform.system()} {platform.release()}",
        "load_average_1m": round(load[0], 2) if load else None,
        "versions": {
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__,
        },
    }
