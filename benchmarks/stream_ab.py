"""Side by side: the real-time factor of `CommandStream` (100 ms chunks, detector included)
for two speech bundles, in interleaved rounds on one thread (benchmarks/notes.md, session 10).

    python benchmarks/stream_ab.py OLD_BUNDLE NEW_BUNDLE [--rounds 12]
"""

import argparse
import time

import numpy as np

from lstm_apps import SpeechClassifier


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bundles", nargs=2, help="two speech bundle folders")
    p.add_argument("--rounds", type=int, default=12)
    p.add_argument("--seconds", type=float, default=20.0)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    audio = (rng.standard_normal(int(16000 * args.seconds)) * 0.05).astype(np.float32)
    clfs = {b: SpeechClassifier.from_dir(b, intra_op_threads=1) for b in args.bundles}
    rates: dict[str, list[float]] = {b: [] for b in clfs}
    for _ in range(args.rounds):
        for b, clf in clfs.items():
            s, t = clf.stream(), time.perf_counter()
            for i in range(0, len(audio), 1600):
                s.accept(audio[i : i + 1600])
            rates[b].append(args.seconds / (time.perf_counter() - t))
    for b, v in rates.items():
        print(f"{b}: median {np.median(v):.0f}x real time (rounds {min(v):.0f}-{max(v):.0f})")
    old, new = (float(np.median(rates[b])) for b in args.bundles)
    print(f"second / first: {new / old:.3f}")


if __name__ == "__main__":
    main()
