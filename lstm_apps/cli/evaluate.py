"""`lstm-apps eval speech|stream|detector|caption`: score a bundle or a run on a data set."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from lstm_apps.cli.common import add_device_options


def add_parser(sub: Any) -> None:
    evl = sub.add_parser("eval", help="score a trained run or a bundle on a data set")
    vsub = evl.add_subparsers(dest="what", required=True, metavar="KIND")
    for what in ("speech", "stream"):
        s = vsub.add_parser(
            what,
            help="accuracy per class and a confusion PNG"
            if what == "speech"
            else "keyword spotting on long recordings built from a split: recall, false "
            "alarms, latency, a threshold curve (PNG)",
        )
        s.add_argument("model", help="a bundle folder (onnxruntime) or a training run (torch)")
        s.add_argument("--data", required=True, help="any Speech Commands-layout folder")
        s.add_argument(
            "--split", choices=["train", "validation", "test", "all"], default="test",
            help="which clips (all: every clip in the folder)",
        )  # fmt: skip
        s.add_argument("--out", default=None, help="folder for the JSON report and the PNG")
        s.add_argument("--seed", type=int, default=0, help="same seed, same result")
        s.add_argument("--threads", type=int, default=1, help="torch / onnxruntime threads")
        add_run_device_options(s)
        if what == "stream":
            s.add_argument("--recordings", type=int, default=10, help="word recordings")
            s.add_argument("--seconds", type=float, default=60.0, help="length of each")
            s.add_argument(
                "--noise-minutes", type=float, default=30.0,
                help="noise-only audio for false alarms per hour",
            )  # fmt: skip
            s.add_argument("--chunk-ms", type=float, default=100.0, help="stream chunk size")
        s.set_defaults(func=_speech if what == "speech" else _stream)
    s = vsub.add_parser(
        "detector",
        help="pick a run's detector settings on a validation stream (never the held-out set); "
        "writes RUN/detector.json, which eval stream and export speech use",
    )
    s.add_argument("run", help="a training run folder")
    s.add_argument("--data", required=True, help="a validation folder, e.g. lstm-apps data flite")
    s.add_argument("--split", default="validation", help="its split")
    s.add_argument("--recordings", type=int, default=8, help="60 s word recordings")
    s.add_argument("--noise-minutes", type=float, default=20.0, help="noise-only audio")
    s.add_argument("--seed", type=int, default=0, help="same seed, same result")
    s.add_argument("--threads", type=int, default=2, help="torch threads")
    s.set_defaults(func=_detector)
    s = vsub.add_parser(
        "prior",
        help="lower a run's _unknown_ logit by the offset that is best on its own and a "
        "cross-generator validation split (never a test set); writes RUN/prior.json, which "
        "eval speech|stream and export speech apply. Run it before eval detector",
    )
    s.add_argument("run", help="a training run folder")
    s.add_argument("--data", required=True, help="a validation folder, e.g. lstm-apps data flite")
    s.add_argument("--split", default="validation", help="its split")
    s.add_argument("--threads", type=int, default=2, help="torch threads")
    s.set_defaults(func=_prior)
    s = vsub.add_parser(
        "caption",
        help="BLEU-1..4, CIDEr, content accuracy; for shapes data accuracy by background "
        "spread and size / colour / shape confusion (a table and a PNG)",
    )
    s.add_argument("model", help="a caption bundle (onnxruntime) or a training run (torch)")
    s.add_argument("--data", default=None, help="Karpathy-layout folder (default: a run's own)")
    s.add_argument("--split", default="test", choices=["train", "val", "test"], help="split")
    s.add_argument("--beam", type=int, default=3, help="beam size (1: greedy)")
    s.add_argument("--limit", type=int, default=None, help="only the first N images")
    s.add_argument("--int8", action="store_true", help="a bundle's int8 graphs")
    s.add_argument(
        "--jpeg",
        type=int,
        default=None,
        metavar="Q",
        help="a run only: re-encode as JPEG first, BLEU/CIDEr/accuracy only",
    )
    s.add_argument("--checkpoint", default="best",
                   help="a run only: best or last")  # fmt: skip
    s.add_argument("--out", default=None, help="folder for caption_eval.json and the PNG")
    add_run_device_options(s)
    s.set_defaults(func=_caption)


def add_run_device_options(s: argparse.ArgumentParser) -> None:
    add_device_options(
        s, "where a training run computes (a bundle runs in onnxruntime on the CPU)",
        "autocast precision of a training run (default: fp32)",
    )  # fmt: skip


def _speech(args: argparse.Namespace, command: str) -> int:
    from lstm_apps.eval.speech import evaluate_speech, format_report

    report = evaluate_speech(
        args.model, args.data, split=args.split, out_dir=args.out, seed=args.seed,
        threads=args.threads, command=command, device=args.device, precision=args.precision,
    )  # fmt: skip
    print(format_report(report))
    return 0


def _stream(args: argparse.Namespace, command: str) -> int:
    from lstm_apps.eval.stream import evaluate_stream, format_stream_report

    report = evaluate_stream(
        args.model, args.data, split=args.split, n_recordings=args.recordings,
        seconds=args.seconds, noise_minutes=args.noise_minutes, out_dir=args.out,
        chunk_ms=args.chunk_ms, seed=args.seed, threads=args.threads, command=command,
        device=args.device, precision=args.precision,
    )  # fmt: skip
    print(format_stream_report(report))
    return 0


def _detector(args: argparse.Namespace, command: str) -> int:
    from lstm_apps.eval.tune import DETECTOR_JSON, tune_detector

    r = tune_detector(
        args.run, args.data, split=args.split, seed=args.seed, threads=args.threads,
        n_recordings=args.recordings, noise_minutes=args.noise_minutes, command=command,
    )  # fmt: skip
    c = r["chosen"]
    print(
        f"chose {r['settings']} on {args.data} ({args.split}): recall {c['recall']:.1%}, "
        f"{c['fa_per_unknown_word']:.3f} false alarms per non-command word, "
        f"{c['fa_per_hour']:.1f} per hour of noise ({len(r['grid'])} settings tried) -> "
        f"{Path(args.run) / DETECTOR_JSON}"
    )
    return 0


def _prior(args: argparse.Namespace, command: str) -> int:
    from lstm_apps.eval.prior import PRIOR_JSON, tune_prior

    r = tune_prior(args.run, args.data, cross_split=args.split, threads=args.threads,
                   command=command)  # fmt: skip
    v, c, t = r["validation_accuracy"], r["cross_validation_accuracy"], r["test_accuracy"]
    print(
        f"_unknown_ offset {r['unknown_offset']:g}: validation {v['before']:.2%} -> "
        f"{v['after']:.2%}, {args.data} {c['before']:.2%} -> {c['after']:.2%} (test "
        f"{t['before']:.2%} -> {t['after']:.2%}) -> {Path(args.run) / PRIOR_JSON}"
    )
    for path in r.get("removed", []):
        print(f"removed {path}: made without this offset (run eval detector / eval again)")
    return 0


def _caption(args: argparse.Namespace, command: str) -> int:
    if args.jpeg is not None:
        from lstm_apps.runtime.errors import ConfigError
        from lstm_apps.train.runs import score_caption_run

        if args.out or args.limit or args.int8:
            raise ConfigError("--jpeg gives the scores of a run only: drop --out, --limit, --int8")
        r = score_caption_run(
            args.model, split=args.split, beam=args.beam, jpeg=args.jpeg,
            checkpoint=args.checkpoint, data=args.data, device=args.device,
            precision=args.precision,
        )  # fmt: skip
        jpeg = f", JPEG quality {r.jpeg}" if r.jpeg is not None else ""
        print(f"{r.split} split, {r.n_images} images, beam {r.beam}{jpeg}:")
        for k, v in r.scores.items():
            print(f"  {k:18s} {v:.4f}")
        return 0
    from lstm_apps.eval.caption import evaluate_caption, format_caption_report

    report = evaluate_caption(
        args.model, args.data, split=args.split, beam=args.beam, limit=args.limit,
        int8=args.int8, out_dir=args.out, command=command, device=args.device,
        precision=args.precision, checkpoint=args.checkpoint,
    )  # fmt: skip
    print(format_caption_report(report))
    return 0
