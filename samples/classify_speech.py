"""Classify speech-command clips with the exported bundle, no torch needed.

    python samples/classify_speech.py                          # the sample WAVs
    python samples/classify_speech.py my.wav --model export/speech

Clips may be any length, rate, or channel count: they are resampled to 16 kHz, downmixed,
and padded to 1 s (longer clips are read as 1 s windows; the strongest command wins).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lstm_apps.runtime.speech import SpeechClassifier

HERE = Path(__file__).resolve().parent


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("wav", nargs="*", help="audio files (default: samples/speech/*.wav)")
    p.add_argument("--model", default=str(HERE.parent / "export" / "speech"), help="bundle folder")
    p.add_argument("--int8", action="store_true", help="use the int8 model")
    args = p.parse_args()
    wavs = args.wav or sorted(str(f) for f in (HERE / "speech").glob("*_*.wav"))
    clf = SpeechClassifier.from_dir(args.model, int8=args.int8, intra_op_threads=1)
    for path, pred in zip(wavs, clf.classify(wavs), strict=True):
        top3 = sorted(pred.scores.items(), key=lambda kv: -kv[1])[:3]
        ranking = "  ".join(f"{k} {v:.0%}" for k, v in top3)
        print(f"{Path(path).name:28s} -> {pred.label:10s} ({ranking})")


if __name__ == "__main__":
    main()
