"""`lstm-apps export speech|caption RUN OUT`: a training run -> an ONNX bundle, with parity."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from lstm_apps.cli.common import MAX_MB_HELP, print_sizes


def add_parser(sub: Any) -> None:
    export = sub.add_parser("export", help="export a trained run to an ONNX bundle")
    esub = export.add_subparsers(dest="what", required=True, metavar="KIND")
    s = esub.add_parser("speech", help="model.onnx, stream.onnx, model.int8.onnx + JSON")
    s.add_argument("run", help="the run folder of `train speech`")
    s.add_argument("out", help="bundle folder (replaced atomically)")
    s.add_argument("--checkpoint", default="best", help="best or last")
    s.add_argument("--data", default=None, help="data folder (default: the run's)")
    s.add_argument("--min-int8-agreement", type=float, default=0.99,
                   help="fail unless int8 and fp32 agree on this share of test clips")  # fmt: skip
    s.add_argument("--max-mb", type=float, default=None, help=MAX_MB_HELP)
    s.set_defaults(func=_speech)
    s = esub.add_parser("caption", help="encoder.onnx, decoder.onnx, greedy.onnx + JSON")
    s.add_argument("run", help="the run folder of `train caption`")
    s.add_argument("out", help="bundle folder (replaced atomically)")
    s.add_argument("--checkpoint", default="best", help="best or last")
    s.add_argument("--data", default=None, help="data folder (default: the run's)")
    s.add_argument("--parity-images", type=int, default=100, help="test images for parity")
    s.add_argument("--max-mb", type=float, default=None, help=MAX_MB_HELP)
    s.set_defaults(func=_caption)
    quantize = sub.add_parser(
        "quantize", help="add int8 graphs to a bundle, if they keep its accuracy"
    )
    qsub = quantize.add_subparsers(dest="what", required=True, metavar="KIND")
    s = qsub.add_parser(
        "caption",
        help="encoder.int8.onnx + decoder.int8.onnx: written only if content accuracy at "
        "beam 3 on the test split is at most 0.5 points below fp32",
    )
    s.add_argument("bundle", help="a caption bundle folder (updated atomically)")
    s.add_argument("--data", required=True, help="the data folder (Karpathy split JSON)")
    s.add_argument("--split", default="test", help="split to check on")
    s.add_argument("--limit", type=int, default=None, help="only its first N images")
    s.set_defaults(func=_quantize)


def _speech(args: argparse.Namespace, command: str) -> int:
    from lstm_apps.onnx.runs import export_speech_run

    done = export_speech_run(
        args.run, args.out, checkpoint=args.checkpoint, data=args.data,
        min_int8_agreement=args.min_int8_agreement, max_mb=args.max_mb, command=command,
    )  # fmt: skip
    r = done.report
    return _done(done.checkpoint, done.out, r.sizes, [
        f"torch vs model.onnx          max |diff| {r.offline_max_diff:.2e}",
        f"stream.onnx vs model.onnx    max |diff| {r.stream_max_diff:.2e}",
        f"int8 top-1 agreement         {r.int8_agreement:.2%} over {r.n_clips} test clips",
    ])  # fmt: skip


def _caption(args: argparse.Namespace, command: str) -> int:
    from lstm_apps.onnx.runs import export_caption_run

    done = export_caption_run(
        args.run, args.out, checkpoint=args.checkpoint, data=args.data,
        parity_images=args.parity_images, max_mb=args.max_mb, command=command,
    )  # fmt: skip
    r = done.report
    return _done(done.checkpoint, done.out, r.sizes, [
        f"greedy tokens agree (torch, encoder+decoder, greedy.onnx): {r.images_checked} images",
        f"decoder.onnx vs torch logprobs  max |diff| {r.max_logprob_diff:.2e}",
    ])  # fmt: skip


def _quantize(args: argparse.Namespace, command: str) -> int:
    from lstm_apps.onnx.caption_int8 import add_int8_captions

    r = add_int8_captions(args.bundle, args.data, split=args.split, limit=args.limit,
                          command=command)  # fmt: skip
    print(
        f"{args.bundle}: encoder.int8.onnx, decoder.int8.onnx added; content accuracy on "
        f"{r['n']} {r['split']} images, beam 3: fp32 {r['fp32'][3]:.2%}, int8 "
        f"{r['int8'][3]:.2%} (beam 1: {r['fp32'][1]:.2%}, {r['int8'][1]:.2%})"
    )
    return 0


def _done(checkpoint: Path, out: Path, sizes: dict[str, int], checks: list[str]) -> int:
    print(f"exported {checkpoint} -> {out}")
    for line in checks:
        print(f"  {line}")
    print_sizes(sizes)
    return 0
