"""Where a StreamBatch tick goes: cProfile over N streams x 10 ticks of 100 ms chunks on the
shipped speech bundle, one onnxruntime thread (benchmarks/notes.md: many streams).

    python benchmarks/stream_batch_profile.py [--streams 512] [--top 18]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats

import numpy as np

from lstm_apps.bench.speech import synthetic_audio
from lstm_apps.runtime.speech import SpeechClassifier

TICKS = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=512)
    parser.add_argument("--top", type=int, default=18, help="functions shown")
    args = parser.parse_args()
    clf = SpeechClassifier.default(intra_op_threads=1)
    audio = synthetic_audio(60.0)
    hop = round(0.1 * clf.sample_rate)
    offsets = np.random.default_rng(0).integers(0, len(audio) - 2 * TICKS * hop, args.streams)
    batch = clf.stream_batch()
    keys = [batch.open() for _ in range(args.streams)]

    def ticks(first: int) -> None:
        for t in range(first, first + TICKS):
            for key, o in zip(keys, offsets, strict=True):
                batch.accept(key, audio[o + hop * t : o + hop * (t + 1)])
            batch.step()

    ticks(0)  # warm-up
    profile = cProfile.Profile()
    profile.enable()
    ticks(TICKS)
    profile.disable()
    pstats.Stats(profile).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
