"""Speech benchmarks: a 1 s clip at several batch sizes, and a stream in 100 ms chunks.

torch runs the model's `forward` (and `SpeechStream` chunk by chunk) in eager mode under
`torch.inference_mode()`; onnxruntime runs the runtime's own classes (`OnnxModel` for a
clip, `CommandStream` for a stream, which includes the keyword detector). The torch stream
drives the same numpy detector, so both stream paths do the same work.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from lstm_apps.bench.sources import SpeechSource
from lstm_apps.bench.timing import BenchSettings, Timing, measure_interleaved
from lstm_apps.nn.speech import SpeechStream
from lstm_apps.runtime.detect import Detector, DetectorConfig, softmax
from lstm_apps.runtime.session import OnnxModel
from lstm_apps.runtime.speech import SpeechClassifier
from lstm_apps.runtime.speech_bundle import StreamSpec

CHUNK_SECONDS = 0.1  # streaming chunk


def synthetic_audio(seconds: float, rate: int = 16000, seed: int = 0) -> np.ndarray:
    """Deterministic audio: low noise with bursts of harmonic tones, (samples,) float32."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    x = 0.01 * rng.standard_normal(n)
    for start in np.arange(0.2, seconds - 0.5, 1.3):
        on = (t >= start) & (t < start + 0.4)
        f0 = rng.uniform(120, 240)
        x[on] += sum(0.1 / k * np.sin(2 * np.pi * k * f0 * t[on]) for k in range(1, 6))
    return x.astype(np.float32)


class TorchStream:
    """The torch twin of CommandStream for audio already at 16 kHz in hop multiples."""

    def __init__(self, source: SpeechSource, spec: StreamSpec, labels: tuple[str, ...]):
        self.step = SpeechStream(source.net).eval()
        self.state = (spec.num_layers, 1, spec.hidden_size)
        self.context = spec.context
        self.detector = Detector(labels, DetectorConfig(frame_seconds=spec.frame_seconds))
        self.reset()

    def reset(self) -> None:
        self.h, self.c = torch.zeros(self.state), torch.zeros(self.state)
        self.ctx = torch.zeros(1, self.context)
        self.detector.reset()

    def accept(self, chunk: np.ndarray) -> list[Any]:
        with torch.inference_mode():
            logits, self.h, self.c, self.ctx = self.step(
                torch.from_numpy(chunk)[None], self.ctx, self.h, self.c
            )
        return self.detector.push(softmax(logits[0].numpy()))


def _stream_runner(accept: Callable[[np.ndarray], object], reset: Callable[[], object],
                   chunks: list[np.ndarray]) -> Callable[[], None]:  # fmt: skip
    def run() -> None:
        reset()
        for c in chunks:
            accept(c)

    return run


def _chunk_latency(accept: Callable[[np.ndarray], object], reset: Callable[[], object],
                   chunks: list[np.ndarray]) -> dict[str, float]:  # fmt: skip
    """Per-chunk latency over one pass: median and 90th percentile, ms."""
    reset()
    ms = []
    for c in chunks:
        start = time.perf_counter()
        accept(c)
        ms.append((time.perf_counter() - start) * 1e3)
    return {"chunk_median_ms": float(np.median(ms)), "chunk_p90_ms": float(np.percentile(ms, 90))}


def bench_speech(
    source: SpeechSource,
    threads: int,
    settings: BenchSettings,
    batches: tuple[int, ...],
    stream_seconds: float,
    record: Callable[[dict[str, Any], Timing], None],
) -> None:
    """Time every speech case at `threads`; `record(row, timing)` receives each result."""
    torch.set_num_threads(threads)
    fp32 = OnnxModel(source.model, intra_op_threads=threads)
    int8 = OnnxModel(source.model_int8, intra_op_threads=threads)
    samples = source.net.config.clip_samples
    rng = np.random.default_rng(0)
    for batch in batches:
        x = (rng.standard_normal((batch, samples)) * 0.1).astype(np.float32)
        tx = torch.from_numpy(x)
        with torch.inference_mode():
            times = measure_interleaved(
                {
                    "torch": lambda tx=tx: source.net(tx),
                    "ort_fp32": lambda x=x: fp32.run({"waveform": x}),
                    "ort_int8": lambda x=x: int8.run({"waveform": x}),
                },
                settings,
                interleave=threads == 1,
            )
        for name, t in times.items():
            record({"model": "speech", "case": "clip", "batch": batch, "threads": threads,
                    "backend": name}, t)  # fmt: skip

    audio = synthetic_audio(stream_seconds)
    n = round(CHUNK_SECONDS * source.net.config.frontend.sample_rate)
    chunks = [audio[i : i + n] for i in range(0, len(audio) - n + 1, n)]
    seconds = len(chunks) * CHUNK_SECONDS
    streams: dict[str, Any] = {}
    for name, model, stream in (
        ("ort_fp32", source.model, source.stream),
        ("ort_int8", source.model_int8, source.stream_int8),
    ):
        clf = SpeechClassifier(model, stream, intra_op_threads=threads)
        streams[name] = clf.stream()
    streams = {"torch": TorchStream(source, clf.bundle.stream, clf.labels), **streams}
    one_pass = BenchSettings(repeats=settings.repeats, warmup=settings.warmup, block_seconds=0.0)
    times = measure_interleaved(
        {name: _stream_runner(s.accept, s.reset, chunks) for name, s in streams.items()},
        one_pass,
        interleave=threads == 1,
    )
    for name, t in times.items():
        s = streams[name]
        row = {"model": "speech", "case": "stream", "batch": 1, "threads": threads,
               "backend": name, "audio_seconds": seconds, "chunks": len(chunks)}  # fmt: skip
        row |= _chunk_latency(s.accept, s.reset, chunks)
        row["per_chunk_ms"] = t.median_ms / len(chunks)
        row["real_time_factor"] = seconds / (t.median_ms / 1e3)
        record(row, t)
