"""`lstm-apps classify|stream|caption`: the shipped (or a given) bundle on files. No torch."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lstm_apps.runtime.errors import ConfigError

if TYPE_CHECKING:  # onnxruntime: imported by the handlers only
    from lstm_apps.runtime.speech import SpeechClassifier


def add_speech_parsers(sub: Any) -> None:
    def model_args(s: argparse.ArgumentParser) -> None:
        s.add_argument("--model", default=None, help="bundle folder (default: the shipped one)")
        s.add_argument("--int8", action="store_true", help="use model.int8.onnx")
        s.add_argument("--threads", type=int, default=1, help="onnxruntime threads")

    s = sub.add_parser("classify", help="label speech-command clips (no torch needed)")
    s.add_argument("wav", nargs="+", help="audio files (any rate, mono or stereo)")
    model_args(s)
    s.set_defaults(func=_classify)

    s = sub.add_parser("stream", help="spot commands in a long recording, chunk by chunk")
    s.add_argument("wav", help="an audio file")
    s.add_argument("--chunk-ms", type=float, default=100.0, help="chunk length fed per call")
    s.add_argument("--threshold", type=float, default=None,
                   help="smoothed score to fire (default: the bundle's)")  # fmt: skip
    model_args(s)
    s.set_defaults(func=_stream)


def add_caption_parser(sub: Any) -> None:
    s = sub.add_parser("caption", help="caption images (no torch needed)")
    s.add_argument("image", nargs="+", help="image files (any size or mode)")
    s.add_argument("--model", default=None, help="bundle folder (default: the shipped one)")
    s.add_argument("--beam", type=int, default=3, help="beam width (1 = greedy)")
    s.add_argument("--max-len", type=int, default=None, help="most words per caption")
    s.add_argument("--attention-png", default=None, metavar="DIR",
                   help="write each word's attention over the image here")  # fmt: skip
    s.add_argument("--threads", type=int, default=1, help="onnxruntime threads")
    s.set_defaults(func=_caption)


def _speech_model(args: argparse.Namespace) -> SpeechClassifier:
    from lstm_apps.runtime.speech import SpeechClassifier

    kw = {"int8": args.int8, "intra_op_threads": args.threads}
    if args.model is None:
        return SpeechClassifier.default(**kw)
    return SpeechClassifier.from_dir(args.model, **kw)


def _classify(args: argparse.Namespace, command: str) -> int:
    clf = _speech_model(args)
    width = max(len(str(p)) for p in args.wav)
    long = []
    for path, pred in zip(args.wav, clf.classify(args.wav), strict=True):
        runner_up = sorted(pred.scores.items(), key=lambda kv: -kv[1])[1]
        print(
            f"{path!s:{width}s}  {pred.label:10s} {pred.score:6.1%}"
            f"   (next: {runner_up[0]} {runner_up[1]:.1%})"
        )
        if pred.windows > 1:
            long.append(str(path))
    if long:
        print(
            f"({', '.join(long)}: longer than a clip, so the most confident 1 s window "
            "is shown; `lstm-apps stream` gives every command with its time)"
        )
    return 0


MAX_CHUNK_MS = 600_000.0  # 10 minutes, the longest audio load_audio reads


def _stream(args: argparse.Namespace, command: str) -> int:
    from lstm_apps.runtime.audio import load_audio

    if not 0 < args.chunk_ms <= MAX_CHUNK_MS:  # NaN and inf fail too
        raise ConfigError(
            f"--chunk-ms must be from 0 to {MAX_CHUNK_MS:g} ms, got {args.chunk_ms:g}"
        )
    clf = _speech_model(args)
    x = load_audio(args.wav, target_rate=clf.sample_rate)
    overrides = {} if args.threshold is None else {"threshold": args.threshold}
    stream = clf.stream(clf.detector_config(**overrides))
    chunk = max(1, round(args.chunk_ms / 1000 * clf.sample_rate))
    print(f"{args.wav}: {len(x) / clf.sample_rate:.1f} s in {args.chunk_ms:g} ms chunks")
    found = 0
    for d in stream.feed(x, chunk):
        print(f"  {d.time:7.2f} s  {d.label:8s} {d.score:6.1%}")
        found += 1
    print(f"{found} command(s) detected")
    return 0


def _caption(args: argparse.Namespace, command: str) -> int:
    from lstm_apps.runtime.caption import Captioner

    kw = {"intra_op_threads": args.threads}
    cap = Captioner.default(**kw) if args.model is None else Captioner.from_dir(args.model, **kw)
    caps = cap.caption(args.image, beam_size=args.beam, max_len=args.max_len)
    width = max(len(str(p)) for p in args.image)
    for i, (path, c) in enumerate(zip(args.image, caps, strict=True)):
        print(f"{path!s:{width}s}  {c.text}   (log-probability {c.score:.2f})")
        if args.attention_png:
            from lstm_apps.runtime.attention_png import save_attention_png
            from lstm_apps.runtime.image import load_image

            stem = Path(path).stem if len(args.image) == 1 else f"{i + 1:02d}_{Path(path).stem}"
            out = Path(args.attention_png) / f"{stem}_attention.png"
            save_attention_png(out, load_image(path), c.tokens, c.attention)
            print(f"{'':{width}s}  attention -> {out}")
    return 0
