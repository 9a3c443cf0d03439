"""The `lstm-apps` command (also `python -m lstm_apps`).

    lstm-apps data speech data/speech          synthetic Speech Commands (eSpeak NG)
    lstm-apps train speech --data data/speech --out runs/speech
    lstm-apps export speech runs/speech export/speech
    lstm-apps classify a.wav b.wav             labels for clips (no torch needed)
    lstm-apps stream long.wav --chunk-ms 100   timed detections from a stream

Subcommands import what they need when they run, so `lstm-apps --help` and the inference
commands work without torch.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from lstm_apps.runtime.errors import LstmAppsError

_ARGV: list[str] | None = None  # the arguments main() is running, for command_line()


def command_line() -> str:
    """The `lstm-apps ...` command being run: what metrics.json and model cards quote."""
    import shlex

    return shlex.join(["lstm-apps", *(_ARGV if _ARGV is not None else sys.argv[1:])])


def _cmd_smoke(args: argparse.Namespace) -> int:
    from lstm_apps.onnx.smoke import run_core_smoke

    run_core_smoke(args.out, seed=args.seed)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from lstm_apps.demo import run_demo

    return 1 if run_demo(args.out, args.samples) else 0


def _per_split(counts: dict[str, int]) -> str:
    return ", ".join(f"{split} {n}" for split, n in counts.items())


def _cmd_data_speech(args: argparse.Namespace) -> int:
    from lstm_apps.data.speech_synth import generate_speech_commands
    from lstm_apps.data.speech_transform import TransformConfig

    def names(flag: str, value: str | None) -> list[str] | None:
        got = [w.strip() for w in value.split(",")] if value else None
        if got is not None and (not all(got) or len(set(got)) != len(got)):
            raise LstmAppsError(f"{flag} {value!r}: give distinct, non-empty names")
        return got

    words = names("--words", args.words)
    try:
        r = generate_speech_commands(
            args.out, speakers=args.speakers, repeats=args.repeats, seed=args.seed,
            noise_seconds=args.noise_seconds, progress=not args.quiet, words=words,
            extra_per_speaker=args.unknown_per_speaker,
            transforms=TransformConfig.off() if args.no_transforms else None,
            voices=names("--voices", args.voices),
            exclude_voices=names("--exclude-voices", args.exclude_voices) or (),
            split=args.split, kokoro=args.kokoro, command=command_line(),
        )  # fmt: skip
    except ValueError as exc:
        raise LstmAppsError(f"data speech: {exc}") from exc
    print(
        f"wrote {r.n_files} clips from {r.n_speakers} speakers "
        f"({_per_split(r.speakers_per_split)}) and {r.n_noise_files} noise files, "
        f"{r.n_bytes / 1e6:.0f} MB, in {r.seconds:.0f}s -> {r.out_dir}"
    )
    return 0


def _cmd_data_flite(args: argparse.Namespace) -> int:
    from lstm_apps.data.flite import FLITE_VOICES, generate_flite

    voices = tuple(v.strip() for v in args.voices.split(",")) if args.voices else FLITE_VOICES
    if unknown := sorted(set(voices) - set(FLITE_VOICES)):
        raise LstmAppsError(f"--voices: {unknown} not among flite's {list(FLITE_VOICES)}")
    words = [w.strip() for w in args.words.split(",")] if args.words else None
    if words is not None and (
        len(set(words)) != len(words) or any(not w or "/" in w or w.startswith("_") for w in words)
    ):
        raise LstmAppsError(f"--words {args.words!r}: give distinct, non-empty plain words")
    r = generate_flite(
        args.out, seed=args.seed, words=words, voices=voices, progress=not args.quiet,
        command=command_line(),
    )  # fmt: skip
    print(f"wrote {r.n_files} clips from {r.n_speakers} flite speakers in {r.seconds:.0f}s -> "
          f"{r.out_dir} (all in validation_list.txt)")  # fmt: skip
    return 0


def _cmd_data_shapes(args: argparse.Namespace) -> int:
    from lstm_apps.data.shapes import generate_shapes

    r = generate_shapes(
        args.out, count=args.count, seed=args.seed, progress=not args.quiet,
        command=command_line(),
    )  # fmt: skip
    print(
        f"wrote {r.count} images ({_per_split(r.split_counts)}), {r.n_bytes / 1e6:.0f} MB, "
        f"in {r.seconds:.0f}s ({r.images_per_second:.0f} images/s) -> {r.json_path}"
    )
    return 0


def _cmd_train_speech(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from lstm_apps.nn.speech import SpeechConfig
    from lstm_apps.train.speech import SpeechTrainConfig, train_speech

    model = SpeechConfig(
        hidden_size=args.hidden, num_layers=args.layers, cell=args.cell, dropout=args.dropout
    )
    cfg = SpeechTrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
        threads=args.threads, model=model,
    )  # fmt: skip
    if args.no_augment:
        from lstm_apps.train.speech_augment import AugmentConfig

        off = AugmentConfig(
            speed=(1.0, 1.0), shift_seconds=0.0, gain_db=(0.0, 0.0), noise_prob=0.0,
            prefix_prob=0.0, warp=(1.0, 1.0), time_masks=0, freq_masks=0, babble_prob=0.0,
        )  # fmt: skip
        cfg = replace(cfg, augment=off)
    train_speech(args.data, args.out, cfg, resume=not args.no_resume, val_data=args.val_data)
    return 0


def _run_metrics(run: Path) -> dict:  # type: ignore[type-arg]
    """The run's metrics.json (it names the data and the training settings), or {}."""
    f = run / "metrics.json"
    return json.loads(f.read_text()) if f.is_file() else {}


def _run_data(run: Path, given: str | None, metrics: dict) -> Path:  # type: ignore[type-arg]
    data = given or metrics.get("data")
    if data is None:
        raise LstmAppsError(f"{run}/metrics.json not found: pass --data DIR for the parity inputs")
    return Path(data)


def _print_sizes(sizes: dict[str, int]) -> None:
    for name, size in sizes.items():
        print(f"  {name:30s} {size / 1e6:7.2f} MB")


def _cmd_export_speech(args: argparse.Namespace) -> int:
    from lstm_apps.eval.tune import read_detector
    from lstm_apps.onnx.speech import export_speech
    from lstm_apps.onnx.speech_card import read_evaluations
    from lstm_apps.train.checkpoint import load_checkpoint
    from lstm_apps.train.speech import SpeechTrainConfig, load_split

    run = Path(args.run)
    ck = load_checkpoint(run / args.checkpoint)
    metrics = _run_metrics(run)
    data = _run_data(run, args.data, metrics)
    tc = metrics.get("train_config", {})
    split_cfg = SpeechTrainConfig(
        model=ck.config, seed=tc.get("seed", 0),
        silence_fraction=tc.get("silence_fraction", 0.1),
        unknown_fraction=tc.get("unknown_fraction", 0.1),
        eval_unknown_fraction=tc.get("eval_unknown_fraction", tc.get("unknown_fraction", 0.1)),
    )  # fmt: skip
    test, _ = load_split(data, "test", split_cfg)
    r = export_speech(
        ck.model, args.out, test.x.numpy(), metrics=metrics,  # type: ignore[arg-type]
        command=command_line(), min_int8_agreement=args.min_int8_agreement,
        max_bytes=_max_bytes(args), evaluations=read_evaluations(run),
        detector=read_detector(run),
    )  # fmt: skip
    print(f"exported {run / args.checkpoint} -> {args.out}")
    print(f"  torch vs model.onnx          max |diff| {r.offline_max_diff:.2e}")
    print(f"  stream.onnx vs model.onnx    max |diff| {r.stream_max_diff:.2e}")
    print(f"  int8 top-1 agreement         {r.int8_agreement:.2%} over {r.n_clips} test clips")
    _print_sizes(r.sizes)
    return 0


def _speech_model(args: argparse.Namespace) -> object:
    from lstm_apps.runtime.speech import SpeechClassifier

    kw = {"int8": args.int8, "intra_op_threads": args.threads}
    if args.model is None:
        return SpeechClassifier.default(**kw)
    return SpeechClassifier.from_dir(args.model, **kw)


def _cmd_classify(args: argparse.Namespace) -> int:
    from lstm_apps.runtime.speech import SpeechClassifier

    clf = _speech_model(args)
    assert isinstance(clf, SpeechClassifier)
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


def _cmd_stream(args: argparse.Namespace) -> int:
    from lstm_apps.runtime.audio import load_audio
    from lstm_apps.runtime.speech import SpeechClassifier

    clf = _speech_model(args)
    assert isinstance(clf, SpeechClassifier)
    x = load_audio(args.wav, target_rate=clf.sample_rate)
    overrides = {} if args.threshold is None else {"threshold": args.threshold}
    stream = clf.stream(clf.detector_config(**overrides))
    if not args.chunk_ms > 0:
        raise LstmAppsError(f"--chunk-ms must be positive, got {args.chunk_ms:g}")
    chunk = max(1, round(args.chunk_ms / 1000 * clf.sample_rate))
    print(f"{args.wav}: {len(x) / clf.sample_rate:.1f} s in {args.chunk_ms:g} ms chunks")
    found = 0
    for d in stream.feed(x, chunk):
        print(f"  {d.time:7.2f} s  {d.label:8s} {d.score:6.1%}")
        found += 1
    print(f"{found} command(s) detected")
    return 0


def _cmd_train_caption(args: argparse.Namespace) -> int:
    from lstm_apps.nn.caption import CaptionConfig
    from lstm_apps.train.caption import CaptionTrainConfig, train_caption

    model = CaptionConfig(
        vocab_size=4, backbone=args.backbone, image_size=args.image_size,
        hidden_size=args.hidden, cell=args.cell, weights_path=args.weights,
        train_backbone=args.train_backbone if args.weights else "scratch",
    )  # fmt: skip
    cfg = CaptionTrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
        refs=args.refs, threads=args.threads, model=model, hflip=args.hflip, vflip=args.vflip,
    )  # fmt: skip
    train_caption(args.data, args.out, cfg, resume=not args.no_resume)
    return 0


def _caption_run(run: Path, checkpoint: str) -> tuple[object, object, dict]:  # type: ignore[type-arg]
    from lstm_apps.data.captions import Vocab
    from lstm_apps.train.checkpoint import load_checkpoint

    ck = load_checkpoint(run / checkpoint)
    vocab = Vocab.load(run / "vocab.json")
    if "vocab" in ck.extra and ck.extra["vocab"] != list(vocab.itos):
        raise LstmAppsError(
            f"{run}/vocab.json is not the vocabulary {run / checkpoint} was trained on"
        )
    if len(vocab) != ck.config.vocab_size:
        raise LstmAppsError(
            f"{run}/vocab.json has {len(vocab)} words, the model {ck.config.vocab_size}"
        )
    return ck.model, vocab, _run_metrics(run)


def _max_bytes(args: argparse.Namespace) -> int | None:
    if args.max_mb is None:
        return None
    if not args.max_mb > 0:
        raise LstmAppsError(f"--max-mb must be positive, got {args.max_mb}")
    return int(args.max_mb * 1e6)


def _cmd_export_caption(args: argparse.Namespace) -> int:
    from lstm_apps.onnx.caption import export_caption
    from lstm_apps.train.caption import load_caption_split

    run = Path(args.run)
    model, vocab, metrics = _caption_run(run, args.checkpoint)
    test = load_caption_split(_run_data(run, args.data, metrics), "test")
    images = test.images[: args.parity_images]
    r = export_caption(
        model, vocab, args.out, images, metrics=metrics,  # type: ignore[arg-type]
        command=command_line(), max_bytes=_max_bytes(args),
    )  # fmt: skip
    print(f"exported {run / args.checkpoint} -> {args.out}")
    print(f"  greedy tokens agree (torch, encoder+decoder, greedy.onnx): {r.images_checked} images")
    print(f"  decoder.onnx vs torch logprobs  max |diff| {r.max_logprob_diff:.2e}")
    _print_sizes(r.sizes)
    return 0


def _cmd_eval_caption(args: argparse.Namespace) -> int:
    import numpy as np

    from lstm_apps.train.caption import decode_split, load_caption_split
    from lstm_apps.train.caption_eval import caption_scores

    model, vocab, metrics = _caption_run(Path(args.run), args.checkpoint)
    split = load_caption_split(_run_data(Path(args.run), args.data, metrics), args.split)
    images = split.images
    if args.jpeg is not None:  # robustness: the same scenes through a lossy JPEG round trip
        from lstm_apps.train.caption import _jpeg

        images = np.stack([_jpeg(im, args.jpeg) for im in images])
    hyps = decode_split(model, images, vocab, beam=args.beam)  # type: ignore[arg-type]
    scores = caption_scores(hyps, split.captions)
    jpeg = f", JPEG quality {args.jpeg}" if args.jpeg is not None else ""
    print(f"{args.split} split, {len(hyps)} images, beam {args.beam}{jpeg}:")
    for k, v in scores.items():
        print(f"  {k:18s} {v:.4f}")
    return 0


def _cmd_eval_speech(args: argparse.Namespace) -> int:
    from lstm_apps.eval.speech import evaluate_speech, format_report

    report = evaluate_speech(
        args.model, args.data, split=args.split, out_dir=args.out, seed=args.seed,
        threads=args.threads, command=command_line(),
    )  # fmt: skip
    print(format_report(report))
    return 0


def _cmd_eval_detector(args: argparse.Namespace) -> int:
    from lstm_apps.eval.tune import DETECTOR_JSON, tune_detector

    r = tune_detector(
        args.run, args.data, split=args.split, seed=args.seed, threads=args.threads,
        n_recordings=args.recordings, noise_minutes=args.noise_minutes, command=command_line(),
    )  # fmt: skip
    c = r["chosen"]
    print(
        f"chose {r['settings']} on {args.data} ({args.split}): recall {c['recall']:.1%}, "
        f"{c['fa_per_unknown_word']:.3f} false alarms per non-command word, "
        f"{c['fa_per_hour']:.1f} per hour of noise ({len(r['grid'])} settings tried) -> "
        f"{Path(args.run) / DETECTOR_JSON}"
    )
    return 0


def _cmd_eval_stream(args: argparse.Namespace) -> int:
    from lstm_apps.eval.stream import evaluate_stream, format_stream_report

    report = evaluate_stream(
        args.model, args.data, split=args.split, n_recordings=args.recordings,
        seconds=args.seconds, noise_minutes=args.noise_minutes, out_dir=args.out,
        chunk_ms=args.chunk_ms, seed=args.seed, threads=args.threads, command=command_line(),
    )  # fmt: skip
    print(format_stream_report(report))
    return 0


def _cmd_caption(args: argparse.Namespace) -> int:
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


_MAX_MB_HELP = "refuse a bundle over this many MB (OUT is then left as it was)"


class _DefaultsHelp(argparse.HelpFormatter):
    """--help that shows each option's default, unless it is None/False or already said."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        quiet = action.default in (None, False, argparse.SUPPRESS) or "default" in text
        if quiet or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


class _RawDefaultsHelp(_DefaultsHelp, argparse.RawDescriptionHelpFormatter):
    pass


def _show_defaults(parser: argparse.ArgumentParser) -> None:
    """Give every (sub)parser the defaults-showing help, keeping raw descriptions raw."""
    raw = issubclass(parser.formatter_class, argparse.RawDescriptionHelpFormatter)
    parser.formatter_class = _RawDefaultsHelp if raw else _DefaultsHelp
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in set(action.choices.values()):
                _show_defaults(child)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lstm-apps",
        description="One LSTM core, two heads: image captions and spoken commands.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("demo", help="the README's main job: run what the project ships")
    s.add_argument("--out", default="out/demo", help="where pictures and files go")
    s.add_argument(
        "--samples",
        default=None,
        help="folder with images/ and speech/ (default: the checkout's samples/, else ./samples)",
    )
    s.set_defaults(func=_cmd_demo)

    s = sub.add_parser("smoke", help="export the shared core and check onnxruntime parity")
    s.add_argument("--out", default=None, help="directory for the ONNX files (default: tmp)")
    s.add_argument("--seed", type=int, default=0, help="same seed, same result")
    s.set_defaults(func=_cmd_smoke)

    data = sub.add_parser("data", help="generate synthetic data sets in real formats")
    dsub = data.add_subparsers(dest="what", required=True, metavar="KIND")
    s = dsub.add_parser("speech", help="Speech Commands layout, spoken by eSpeak NG")
    s.add_argument("out", help="output folder (must not exist or be empty)")
    s.add_argument("--speakers", type=int, default=None, help="cap on voices (default: all)")
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
    s.add_argument("--voices", default=None, help="only these eSpeak voices (comma-separated)")
    s.add_argument("--exclude-voices", default=None, help="never these voices (a held-out family)")
    s.add_argument(
        "--split", choices=["validation", "test"], default=None,
        help="put every clip in this split (a held-out evaluation set)",
    )  # fmt: skip
    s.add_argument("--seed", type=int, default=0, help="same seed, same result")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=_cmd_data_speech)
    s = dsub.add_parser(
        "flite", help="a validation set spoken by flite (another synthesizer; never train on it)"
    )
    s.add_argument("out", help="output folder (must not exist or be empty)")
    s.add_argument("--voices", default=None, help="comma-separated (default: all five)")
    s.add_argument("--words", default=None, help="comma-separated (default: the 30 words)")
    s.add_argument("--seed", type=int, default=0, help="same seed, same result")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=_cmd_data_flite)
    s = dsub.add_parser("shapes", help="shapes scenes with captions, Karpathy split JSON")
    s.add_argument("out", help="output folder (must not exist or be empty)")
    s.add_argument("--count", type=int, default=20000, help="number of images (the shipped set)")
    s.add_argument("--seed", type=int, default=0, help="same seed, same result")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=_cmd_data_shapes)

    train = sub.add_parser("train", help="train a model (needs the train extra)")
    tsub = train.add_subparsers(dest="what", required=True, metavar="KIND")
    s = tsub.add_parser("speech", help="the speech-command classifier")
    s.add_argument("--data", required=True, help="a Speech Commands folder (real or generated)")
    s.add_argument("--out", required=True, help="run folder; rerun to resume")
    s.add_argument("--epochs", type=int, default=35, help="passes over the training split")
    s.add_argument(
        "--val-data", default=None,
        help="a second validation folder from another generator (e.g. `lstm-apps data flite`); "
        "never trained on, reported beside the own validation and used to pick the best epoch",
    )  # fmt: skip
    s.add_argument("--batch-size", type=int, default=64, help="clips per step")
    s.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    s.add_argument("--hidden", type=int, default=128, help="LSTM width")
    s.add_argument("--layers", type=int, default=2, help="LSTM layers")
    s.add_argument("--cell", choices=["lstm", "gru"], default="lstm", help="recurrent cell")
    s.add_argument("--dropout", type=float, default=0.1, help="between layers and before the head")
    s.add_argument("--threads", type=int, default=2, help="torch threads")
    s.add_argument("--seed", type=int, default=0, help="same seed, same result")
    s.add_argument("--no-augment", action="store_true", help="train on clean clips only")
    s.add_argument("--no-resume", action="store_true", help="ignore an existing last/")
    s.set_defaults(func=_cmd_train_speech)

    def model_args(s: argparse.ArgumentParser) -> None:
        s.add_argument("--model", default=None, help="bundle folder (default: the shipped one)")
        s.add_argument("--int8", action="store_true", help="use model.int8.onnx")
        s.add_argument("--threads", type=int, default=1, help="onnxruntime threads")

    s = sub.add_parser("classify", help="label speech-command clips (no torch needed)")
    s.add_argument("wav", nargs="+", help="audio files (any rate, mono or stereo)")
    model_args(s)
    s.set_defaults(func=_cmd_classify)

    s = sub.add_parser("stream", help="spot commands in a long recording, chunk by chunk")
    s.add_argument("wav", help="an audio file")
    s.add_argument("--chunk-ms", type=float, default=100.0, help="chunk length fed per call")
    s.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="smoothed score to fire (default: the bundle's)",
    )
    model_args(s)
    s.set_defaults(func=_cmd_stream)

    s = tsub.add_parser("caption", help="the attention captioner")
    s.add_argument("--data", required=True, help="folder with dataset_<name>.json + images")
    s.add_argument("--out", required=True, help="run folder; rerun to resume")
    s.add_argument(
        "--epochs", type=int, default=15, help="passes over the training split (shipped: 15 on 20k)"
    )
    s.add_argument("--batch-size", type=int, default=64, help="images per step")
    s.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    s.add_argument("--backbone", default="mobilenet_v3_small", help="torchvision backbone")
    s.add_argument("--weights", default=None, help="local torchvision weights file (optional)")
    s.add_argument("--train-backbone", choices=["frozen", "finetune"], default="finetune",
                   help="with --weights: keep the backbone frozen or fine-tune it")  # fmt: skip
    s.add_argument("--image-size", type=int, default=128, help="side the encoder resizes to")
    s.add_argument("--hidden", type=int, default=256, help="LSTM width")
    s.add_argument("--cell", choices=["lstm", "gru"], default="lstm", help="recurrent cell")
    s.add_argument("--refs", choices=["all", "first"], default="first",
                   help="train on the first reference per image, or a random one")  # fmt: skip
    s.add_argument(
        "--hflip",
        type=float,
        default=0.5,
        help="chance of a mirror left-right (the caption swaps left/right)",
    )
    s.add_argument(
        "--vflip",
        type=float,
        default=0.5,
        help="chance of a mirror top-bottom (swaps above/below); 0 for photos",
    )
    s.add_argument("--threads", type=int, default=2, help="torch threads")
    s.add_argument("--seed", type=int, default=0, help="same seed, same result")
    s.add_argument("--no-resume", action="store_true", help="ignore an existing last/")
    s.set_defaults(func=_cmd_train_caption)

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
        if what == "stream":
            s.add_argument("--recordings", type=int, default=10, help="word recordings")
            s.add_argument("--seconds", type=float, default=60.0, help="length of each")
            s.add_argument(
                "--noise-minutes", type=float, default=30.0,
                help="noise-only audio for false alarms per hour",
            )  # fmt: skip
            s.add_argument("--chunk-ms", type=float, default=100.0, help="stream chunk size")
        s.set_defaults(func=_cmd_eval_speech if what == "speech" else _cmd_eval_stream)
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
    s.set_defaults(func=_cmd_eval_detector)
    s = vsub.add_parser("caption", help="BLEU-1..4, CIDEr, content accuracy (shapes)")
    s.add_argument("run", help="the run folder of `train caption`")
    s.add_argument("--split", default="test", choices=["train", "val", "test"], help="split")
    s.add_argument("--beam", type=int, default=3, help="beam size (1: greedy)")
    s.add_argument("--jpeg", type=int, default=None, metavar="Q", help="re-encode as JPEG first")
    s.add_argument("--checkpoint", default="best", help="best or last")
    s.add_argument("--data", default=None, help="data folder (default: the run's)")
    s.set_defaults(func=_cmd_eval_caption)

    s = sub.add_parser("caption", help="caption images (no torch needed)")
    s.add_argument("image", nargs="+", help="image files (any size or mode)")
    s.add_argument("--model", default=None, help="bundle folder (default: the shipped one)")
    s.add_argument("--beam", type=int, default=3, help="beam width (1 = greedy)")
    s.add_argument("--max-len", type=int, default=None, help="most words per caption")
    s.add_argument("--attention-png", default=None, metavar="DIR",
                   help="write each word's attention over the image here")  # fmt: skip
    s.add_argument("--threads", type=int, default=1, help="onnxruntime threads")
    s.set_defaults(func=_cmd_caption)

    export = sub.add_parser("export", help="export a trained run to an ONNX bundle")
    esub = export.add_subparsers(dest="what", required=True, metavar="KIND")
    s = esub.add_parser("speech", help="model.onnx, stream.onnx, model.int8.onnx + JSON")
    s.add_argument("run", help="the run folder of `train speech`")
    s.add_argument("out", help="bundle folder (replaced atomically)")
    s.add_argument("--checkpoint", default="best", help="best or last")
    s.add_argument("--data", default=None, help="data folder (default: the run's)")
    s.add_argument("--min-int8-agreement", type=float, default=0.99,
                   help="fail unless int8 and fp32 agree on this share of test clips")  # fmt: skip
    s.add_argument("--max-mb", type=float, default=None, help=_MAX_MB_HELP)
    s.set_defaults(func=_cmd_export_speech)
    s = esub.add_parser("caption", help="encoder.onnx, decoder.onnx, greedy.onnx + JSON")
    s.add_argument("run", help="the run folder of `train caption`")
    s.add_argument("out", help="bundle folder (replaced atomically)")
    s.add_argument("--checkpoint", default="best", help="best or last")
    s.add_argument("--data", default=None, help="data folder (default: the run's)")
    s.add_argument("--parity-images", type=int, default=100, help="test images for parity")
    s.add_argument("--max-mb", type=float, default=None, help=_MAX_MB_HELP)
    s.set_defaults(func=_cmd_export_caption)
    s = sub.add_parser(
        "explain",
        help="draw the LSTM's forget/input/output gates under what it read (needs torch)",
    )
    s.add_argument("what", choices=["speech", "caption"])
    s.add_argument("input", help="a WAV file (speech) or an image (caption)")
    s.add_argument("--png", default=None, help="picture to write (default: out/explain/...)")
    s.add_argument(
        "--model", default=None, help="bundle, run or checkpoint folder (default: shipped)"
    )
    s.set_defaults(func=_cmd_explain)

    s = sub.add_parser(
        "release",
        help="remake the shipped bundles: data, training, export, cards (~35 min)",
        description="Generate both data sets, train both models, export them with parity "
        "checks and model cards. Resumable: rerun after an interruption.",
    )
    s.add_argument("--only", choices=["speech", "caption"], default=None, help="one bundle")
    s.add_argument(
        "--work",
        default=None,
        help="folder for data and runs (runs/release; quick: runs/release-quick)",
    )
    s.add_argument("--fresh", action="store_true", help="delete this release's data and runs first")
    s.add_argument("--out", default="export", help="where the bundles go")
    s.add_argument("--seed", type=int, default=0, help="same seed, same result")
    s.add_argument("--quick", action="store_true", help="tiny data, 1 epoch: a pipeline check")
    s.set_defaults(func=_cmd_release)

    from lstm_apps.bench import add_bench_parser  # light: imports no torch

    add_bench_parser(sub)
    _show_defaults(p)
    return p


def _cmd_explain(args: argparse.Namespace) -> int:
    from lstm_apps import explain as ex

    out = Path(args.png or f"out/explain/{args.what}_{Path(args.input).stem}.png")
    if args.what == "speech":
        from lstm_apps.runtime.audio import load_audio

        net = ex.load_speech_model(args.model)
        rate = net.config.frontend.sample_rate
        audio = load_audio(args.input, target_rate=rate)
        if len(audio) > ex.MAX_EXPLAIN_SECONDS * rate:
            print(f"  {args.input}: drawing its first {ex.MAX_EXPLAIN_SECONDS:.0f} s")
            audio = audio[: int(ex.MAX_EXPLAIN_SECONDS * rate)]
        speech = ex.explain_speech(net, audio)
        k = int(speech.probs[-1].argmax())
        said = f"{speech.labels[k]!r} ({speech.probs[-1, k]:.0%} at the last frame)"
        ex.plot_speech(speech, out, f"{Path(args.input).name}: heard {said}")
        print(f"{args.input}: heard {said}, {len(speech.logmel)} frames")
        layers = speech.layers
    else:
        from lstm_apps.runtime.image import load_image

        model, vocab = ex.load_caption_model(args.model)
        caption = ex.explain_caption(model, vocab, load_image(args.input))
        ex.plot_caption(caption, out)
        print(f"{args.input}: {' '.join(caption.words)}")
        layers = caption.layers
    for gate in ex.GATES:
        means = ", ".join(f"{getattr(layer, gate).mean():.2f}" for layer in layers)
        print(f"  {gate:6s} gate, mean per layer: {means}")
    print(f"picture: {out}")
    return 0


def _cmd_release(args: argparse.Namespace) -> int:
    from lstm_apps.release import release

    kinds = (args.only,) if args.only else ("speech", "caption")
    release(kinds, work=args.work, out=args.out, quick=args.quick, seed=args.seed, fresh=args.fresh)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    global _ARGV
    outer, _ARGV = _ARGV, list(argv) if argv is not None else sys.argv[1:]
    try:
        return _run(build_parser().parse_args(_ARGV))
    finally:  # `release` calls main() for each step; a caller's command comes back after
        _ARGV = outer


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args.func(args))
    except LstmAppsError as e:
        print(f"lstm-apps: error: {e}", file=sys.stderr)
        return 2
    except FileExistsError as e:
        print(f"lstm-apps: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lstm-apps: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `lstm-apps stream x.wav | head`: the reader left; stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
