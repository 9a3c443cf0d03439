"""What one `lstm-apps bench` run measures and where it writes: `BenchOptions`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lstm_apps.bench.timing import BenchSettings

FULL = BenchSettings(repeats=15, warmup=3)
QUICK_SETTINGS = BenchSettings(repeats=3, warmup=1, block_seconds=0.0, max_inner=1)


@dataclass(frozen=True)
class BenchOptions:
    quick: bool = False  # few repeats, one thread count, short stream (what CI runs)
    threads: tuple[int, ...] = (1, 2)  # onnxruntime intra-op threads = torch threads
    repeats: int | None = None  # timed blocks per number (default: 15 full, 3 quick)
    only: str | None = None  # "speech" or "caption"
    json_path: Path = Path("benchmarks/results.json")
    markdown_path: Path | None = Path("BENCHMARKS.md")
    notes_path: Path | None = Path("benchmarks/notes.md")  # hand-written, appended to the .md
    speech_bundle: Path | None = None  # default: the shipped bundle
    caption_bundle: Path | None = None
    speech_checkpoint: Path | None = None  # torch weights the bundle was exported from
    caption_checkpoint: Path | None = None
    speech_batches: tuple[int, ...] = (1, 8, 32)
    caption_batches: tuple[int, ...] = (1, 16)
    stream_seconds: float = 10.0
    stream_counts: tuple[int, ...] = (64, 512, 2048)  # StreamBatch sizes, one thread
    memory: bool = True  # peak RSS children
    command: str = "lstm-apps bench"  # what the report says reproduces it
    speech_config: Any = None  # a SpeechConfig to export fresh instead (tests: tiny models)
    caption_config: Any = None  # a CaptionConfig likewise

    @property
    def settings(self) -> BenchSettings:
        base = QUICK_SETTINGS if self.quick else FULL
        if self.repeats is None:
            return base
        return BenchSettings(self.repeats, base.warmup, base.block_seconds, base.max_inner)
