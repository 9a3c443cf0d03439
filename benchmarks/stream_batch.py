"""How many streams per stream.onnx call: the measurement behind StreamBatch's MAX_BATCH.

    python benchmarks/stream_batch.py [BUNDLE]      # default: export/speech; one thread

1. onnxruntime alone: one call of B rows of 100 ms (5 frames), for B from 8 to 2048, the
   sizes interleaved over 9 rounds; the median time per row.
2. The whole StreamBatch step (accept + step, detector included) for 512 streams with
   max_batch 16 .. 512, interleaved over 7 rounds; ms per 100 ms tick and the streams one
   core keeps in real time.
"""

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from lstm_apps import SpeechClassifier  # noqa: E402
from lstm_apps.bench.speech import synthetic_audio  # noqa: E402

bundle = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "export" / "speech"
clf = SpeechClassifier.from_dir(bundle, intra_op_threads=1)
model, rng = clf.stream_model, np.random.default_rng(0)
assert model is not None

sizes = (8, 16, 32, 64, 128, 512, 2048)
feeds = {b: ((rng.standard_normal((b, 1600)) * 0.1).astype(np.float32), model.initial_state(b))
         for b in sizes}  # fmt: skip
per_row: dict[int, list[float]] = {b: [] for b in sizes}
for _ in range(9):
    for b in sizes:
        x, s = feeds[b]
        n = max(1, 2048 // b)
        start = time.perf_counter()
        for _ in range(n):
            model.run(x, s, check=False)
        per_row[b].append((time.perf_counter() - start) / n / b * 1e6)
print("onnxruntime, one call of B streams x 100 ms, per stream (median of 9):")
for b in sizes:
    print(f"  B {b:5d}: {np.median(per_row[b]):6.1f} us")

n_streams, audio = 512, synthetic_audio(30.0)
offsets = rng.integers(0, len(audio) - 16000, n_streams)
ticks = [[audio[o + 1600 * t : o + 1600 * (t + 1)] for o in offsets] for t in range(10)]
batches = {mb: clf.stream_batch(max_batch=mb) for mb in (16, 32, 64, 128, 512)}
keys = {mb: [b.open() for _ in range(n_streams)] for mb, b in batches.items()}
tick_s: dict[int, list[float]] = {mb: [] for mb in batches}
for _ in range(7):
    for mb, batch in batches.items():
        start = time.perf_counter()
        for tick in ticks:
            for key, chunk in zip(keys[mb], tick, strict=True):
                batch.accept(key, chunk)
            batch.step()
        tick_s[mb].append((time.perf_counter() - start) / len(ticks))
print(f"StreamBatch, {n_streams} streams, whole step (median of 7):")
for mb, t in tick_s.items():
    m = float(np.median(t))
    print(f"  max_batch {mb:4d}: {m * 1e3:6.1f} ms per tick, {n_streams * 0.1 / m:5.0f} streams")
