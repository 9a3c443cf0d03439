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
    s.add_argument(
        "--max-drop",
        type=float,
        default=0.005,
        help="refuse if int8 loses more content accuracy than this (0.005: 0.5 points)",
    )
    s.set_defaults(func=_quantize)
    calibrate = sub.add_parser(
        "calibrate", help="add a calibrated per-caption confidence to a bundle (confidence.json)"
    )
    csub = calibrate.add_subparsers(dest="what", required=True, metavar="KIND")
    s = csub.add_parser(
        "caption",
        help="fit Caption.confidence on the validation split and generated out-of-domain "
        "images; report AUROC right vs wrong and in vs out of domain on the test split and "
        "other generated images; writes BUNDLE/confidence.json and a MODEL_CARD.md section",
    )
    s.add_argument("bundle", help="a caption bundle folder (updated atomically)")
    s.add_argument("--data", required=True, help="its shapes data (train, val and test splits)")
    s.add_argument(
        "--holdout",
        default=None,
        help="another shapes folder to report on (e.g. data shapes --style holdout)",
    )
    s.add_argument("--beam", type=int, default=3, help="beam size the captions are made with")
    s.add_argument("--limit", type=int, default=None, help="only the first N images per split")
    s.add_argument("--out", default=None, help="folder for confidence.png")
    s.set_defaults(func=_calibrate)


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
                          max_drop=args.max_drop, command=command)  # fmt: skip
    print(
        f"{args.bundle}: encoder.int8.onnx, decoder.int8.onnx added; content accuracy on "
        f"{r['n']} {r['split']} images, beam 3: fp32 {r['fp32'][3]:.2%}, int8 "
        f"{r['int8'][3]:.2%} (beam 1: {r['fp32'][1]:.2%}, {r['int8'][1]:.2%})"
    )
    return 0


def _calibrate(args: argparse.Namespace, command: str) -> int:
    from lstm_apps.onnx.caption_confidence import calibrate_caption

    r = calibrate_caption(args.bundle, args.data, holdout=args.holdout, beam=args.beam,
                          limit=args.limit, out_dir=args.out, command=command)  # fmt: skip
    print(f"{args.bundle}/confidence.json written ({r['seconds']:.0f}s)")
    for name in ("test", "holdout"):
        if name in r:
            t = r[name]
            print(
                f"  {name}: {t['n']} images, content accuracy {t['accuracy']:.2%}, AUROC right vs "
                f"wrong {t['auroc_right_vs_wrong']:.3f}, in vs out of domain "
                f"{t['auroc_in_vs_out']:.3f}"
            )
    kinds = ", ".join(f"{k} {v['auroc']:.3f}" for k, v in r["ood_per_kind"].items())
    print(f"  AUROC per out-of-domain kind: {kinds}")
    if "plot" in r:
        print(f"  wrote {r['plot']}")
    return 0


def _done(checkpoint: Path, out: Path, sizes: dict[str, int], checks: list[str]) -> int:
    print(f"exported {checkpoint} -> {out}")
    for line in checks:
        print(f"  {line}")
    print_sizes(sizes)
    return 0
