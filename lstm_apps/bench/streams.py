"""Many streams on one core: `StreamBatch` (one batched stream.onnx call per tick) against one
`CommandStream` per stream (one call per stream per chunk).

Every stream gets 100 ms chunks of the synthetic audio from its own offset; a tick gives
each stream one chunk and runs them. The figure is how many such streams one core keeps
in real time: streams x 0.1 s / (time of one tick). For one call per stream that is
0.1 s / (time of one stream's chunk), the same for any number of streams.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from lstm_apps.bench.sources import SpeechSource
from lstm_apps.bench.speech import CHUNK_SECONDS, synthetic_audio
from lstm_apps.bench.timing import BenchSettings, Timing, measure_interleaved
from lstm_apps.runtime.speech import SpeechClassifier

TICKS = 10  # ticks per timed pass
SOLO_STREAMS = 32  # one-call-per-stream streams timed (the cost per stream is flat)


def bench_streams(
    source: SpeechSource,
    settings: BenchSettings,
    counts: tuple[int, ...],
    record: Callable[[dict[str, Any], Timing], None],
) -> None:
    """Time one tick of `n` batched streams for each n in `counts`, and one tick of
    SOLO_STREAMS separate streams, at one thread."""
    clf = SpeechClassifier(source.model, source.stream, intra_op_threads=1)
    hop = round(CHUNK_SECONDS * clf.bundle.stream.sample_rate)
    audio = synthetic_audio(60.0)
    rng = np.random.default_rng(0)

    def ticks(n: int) -> list[list[np.ndarray]]:
        offsets = rng.integers(0, len(audio) - hop * TICKS, n)
        return [[audio[o + hop * t : o + hop * (t + 1)] for o in offsets] for t in range(TICKS)]

    one_pass = BenchSettings(settings.repeats, settings.warmup, 0.0, 1)
    for i, n in enumerate(counts):
        batch, chunks = clf.stream_batch(), ticks(n)
        keys = [batch.open() for _ in range(n)]

        def batched(batch: Any = batch, keys: list[Any] = keys, chunks: Any = chunks) -> None:
            for tick in chunks:
                for key, chunk in zip(keys, tick, strict=True):
                    batch.accept(key, chunk)
                batch.step()

        runs: dict[str, Callable[[], None]] = {"batched": batched}
        sizes = {"batched": n}
        if i == 0:  # one call per stream costs the same per stream at any count
            sizes["solo"] = m = min(n, SOLO_STREAMS)
            streams, solo_chunks = [clf.stream() for _ in range(m)], ticks(m)

            def separate(streams: Any = streams, chunks: Any = solo_chunks) -> None:
                for tick in chunks:
                    for s, chunk in zip(streams, tick, strict=True):
                        s.accept(chunk)

            runs["solo"] = separate
        for name, t in measure_interleaved(runs, one_pass, interleave=True).items():
            tick_ms = t.median_ms / TICKS
            record({
                "model": "speech", "case": "streams", "batch": sizes[name], "threads": 1,
                "backend": name, "tick_ms": tick_ms, "chunk_seconds": CHUNK_SECONDS,
                "streams_real_time": sizes[name] * CHUNK_SECONDS * 1e3 / tick_ms,
            }, t)  # fmt: skip
