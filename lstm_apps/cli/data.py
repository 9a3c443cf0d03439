"""`lstm-apps data speech|flite|shapes OUT`: generate data sets in the real formats."""

from __future__ import annotations

import argparse
from typing import Any

from lstm_apps.cli.common import names, per_split
from lstm_apps.runtime.errors import ConfigError


def add_parser(sub: Any) -> None:
    data = sub.add_parser("data", help="generate synthetic data sets in real formats")
    dsub = data.add_subparsers(dest="what", required=True, metavar="KIND")
    s = dsub.add_parser("speech", help="Speech Commands layout, spoken by eSpeak NG")
    s.add_argument("out", help="output folder (must not exist or be empty)")
    s.add_argument(
        "--speakers", type=int, default=None,
        help="cap on eSpeak voice+variant speakers (default: all; 0: none)",
    )  # fmt: skip
    s.add_argument("--repeats", type=int, default=2, help="utterances per word and speaker")
    s.add_argument("--noise-seconds", type=float, default=60.0, help="length of each noise file")
    s.add_argument(
        "--words", default=None,
        help="comma-separated words every speaker says --repeats times (default: the 10 commands)",
    )  # fmt: skip
    s.add_argument(
        "--unknown-per-speaker", type=int, default=None,
        help="other words (of hundreds, near-misses and phrases) each speaker says once "
        "(default: 10, or 0 with --words)",
    )  # fmt: skip
    s.add_argument(
        "--no-transforms", action="store_true",
        help="plain eSpeak: no WORLD voice, room or channel transformations",
    )  # fmt: skip
    s.add_argument(
        "--kokoro", type=int, default=0,
        help="Kokoro speakers (a neural synthesizer, blends of its voices) to add",
    )  # fmt: skip
    s.add_argument(
        "--pico", type=int, default=0,
        help="Pico speakers (an HMM synthesizer of two recorded voices, each at its own "
        "pitch and speed) to add; needs py-nanotts",
    )  # fmt: skip
    s.add_argument("--voices", default=None, help="only these eSpeak voices (comma-separated)")
    s.add_argument("--exclude-voices", default=None, help="never these voices (a held-out family)")
    s.add_argument(
        "--split", choices=["validation", "test"], default=None,
        help="put every clip in this split (a held-out evaluation set)",
    )  # fmt: skip
    s.add_argument("--seed", type=int, default=0, help="same seed, same result")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=_speech)
    s = dsub.add_parser(
        "flite", help="a validation set spoken by flite (another synthesizer; never train on it)"
    )
    s.add_argument("out", help="output folder (must not exist or be empty)")
    s.add_argument("--voices", default=None, help="comma-separated (default: all five)")
    s.add_argument("--words", default=None, help="comma-separated (default: the 30 words)")
    s.add_argument("--seed", type=int, default=0, help="same seed, same result")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=_flite)
    s = dsub.add_parser("shapes", help="shapes scenes with captions, Karpathy split JSON")
    s.add_argument("out", help="output folder (must not exist or be empty)")
    s.add_argument("--count", type=int, default=20000, help="number of images (the shipped set)")
    s.add_argument("--seed", type=int, default=0, help="same seed, same result")
    s.add_argument(
        "--style", default="spec", choices=["spec", "holdout"],
        help="spec: the training data, the whole spread the spec allows (default); holdout: "
        "a variation training never sees (radial and striped backgrounds, blurred edges, half "
        "JPEG), to check a model off its own renderer",
    )  # fmt: skip
    s.add_argument(
        "--splits",
        default="0.8,0.1,0.1",
        metavar="TRAIN,VAL,TEST",
        help="fractions of the images in each split, in order (e.g. 0,0,1: test only)",
    )
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=_shapes)


def _speech_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The generate_speech_commands settings that `data speech` options ask for."""
    from lstm_apps.data.speech_transform import TransformConfig

    return dict(
        speakers=args.speakers, repeats=args.repeats, seed=args.seed,
        noise_seconds=args.noise_seconds, progress=not args.quiet,
        words=names("--words", args.words), extra_per_speaker=args.unknown_per_speaker,
        transforms=TransformConfig.off() if args.no_transforms else None,
        voices=names("--voices", args.voices),
        exclude_voices=names("--exclude-voices", args.exclude_voices) or (),
        split=args.split, kokoro=args.kokoro, pico=args.pico,
    )  # fmt: skip


def _speech(args: argparse.Namespace, command: str) -> int:
    from lstm_apps.data.speech_synth import generate_speech_commands

    r = generate_speech_commands(args.out, **_speech_kwargs(args), command=command)
    print(
        f"wrote {r.n_files} clips from {r.n_speakers} speakers "
        f"({per_split(r.speakers_per_split)}) and {r.n_noise_files} noise files, "
        f"{r.n_bytes / 1e6:.0f} MB, in {r.seconds:.0f}s -> {r.out_dir}"
    )
    return 0


def _flite(args: argparse.Namespace, command: str) -> int:
    from lstm_apps.data.flite import FLITE_VOICES, generate_flite

    split = lambda v: tuple(w.strip() for w in v.split(","))
    r = generate_flite(
        args.out, seed=args.seed, words=split(args.words) if args.words else None,
        voices=split(args.voices) if args.voices else FLITE_VOICES, progress=not args.quiet,
        command=command,
    )  # fmt: skip
    print(f"wrote {r.n_files} clips from {r.n_speakers} flite speakers in {r.seconds:.0f}s -> "
          f"{r.out_dir} (all in validation_list.txt)")  # fmt: skip
    return 0


def _shapes(args: argparse.Namespace, command: str) -> int:
    from lstm_apps.data.shapes import generate_shapes

    try:
        splits = tuple(float(v) for v in args.splits.split(","))
    except ValueError as e:
        raise ConfigError(
            f"--splits must be three comma-separated numbers, got {args.splits!r}"
        ) from e
    r = generate_shapes(
        args.out, count=args.count, seed=args.seed, style=args.style, splits=splits,
        progress=not args.quiet, command=command,
    )  # fmt: skip
    print(
        f"wrote {r.count} images ({per_split(r.split_counts)}), {r.n_bytes / 1e6:.0f} MB, "
        f"in {r.seconds:.0f}s ({r.images_per_second:.0f} images/s) -> {r.json_path}"
    )
    return 0
