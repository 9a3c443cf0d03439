"""Spot commands in a long recording, fed chunk by chunk as a microphone would.

    python samples/stream_speech.py                            # samples/speech/stream.wav
    python samples/stream_speech.py long.wav --chunk-ms 50

The LSTM state and the frontend's overlap context are carried from chunk to chunk inside
`CommandStream`; each spoken command gives one detection with its time.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from lstm_apps.runtime.audio import load_audio
from lstm_apps.runtime.speech import SpeechClassifier

HERE = Path(__file__).resolve().parent


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("wav", nargs="?", default=str(HERE / "speech" / "stream.wav"))
    p.add_argument("--model", default=str(HERE.parent / "export" / "speech"), help="bundle folder")
    p.add_argument("--chunk-ms", type=float, default=100.0, help="chunk length per call")
    args = p.parse_args()
    clf = SpeechClassifier.from_dir(args.model, intra_op_threads=1)
    audio = load_audio(args.wav, target_rate=clf.sample_rate)
    chunk = int(args.chunk_ms / 1000 * clf.sample_rate)
    stream = clf.stream()
    print(
        f"{Path(args.wav).name}: {len(audio) / clf.sample_rate:.1f} s, {args.chunk_ms:g} ms chunks"
    )
    start = time.perf_counter()
    detections = []
    for i in range(0, len(audio), chunk):
        detections += stream.accept(audio[i : i + chunk])
    detections += stream.flush()
    spent = time.perf_counter() - start
    for d in detections:
        print(f"  {d.time:6.2f} s  {d.label:6s}  {d.score:.0%}")
    rtf = (len(audio) / clf.sample_rate) / spent
    print(f"{len(detections)} commands; processed {rtf:.0f}x faster than real time")


if __name__ == "__main__":
    main()
