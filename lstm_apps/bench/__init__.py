"""`lstm-apps bench`: onnxruntime against PyTorch eager on the same weights, in one process,
and against the bare arithmetic (numpy GEMMs) of the same work.

    lstm-apps bench                       # full: threads 1 and 2 -> benchmarks/results.json
                                          #       and BENCHMARKS.md
    lstm-apps bench --quick               # few repeats, 1 thread -> out/bench-quick/ (CI)
    lstm-apps bench --only speech --threads 1 --repeats 30
    python benchmarks/run.py ...          # the same

Speech: a 1 s clip at batch 1, 8, 32; a stream in 100 ms chunks (latency per chunk and
the real-time factor); 64, 512 and 2048 streams at once on one core (`StreamBatch`)
against one call per stream. Captions: the encoder, one decoder step, a 20-word greedy caption
and beam 3, at batch 1 and 16. Each against PyTorch eager, onnxruntime fp32 and int8;
floors for one decoder step and for clips at every batch; peak RSS of the API per model; file sizes.
Where the weights come from: `sources.py`. How a number is taken: `timing.py`.

Importing this package does not import torch (the memory child lives here too).
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

from lstm_apps.bench.options import FULL, QUICK_SETTINGS, BenchOptions

__all__ = [
    "FULL",
    "QUICK_SETTINGS",
    "BenchOptions",
    "add_bench_parser",
    "bench_command",
    "run_bench",
]


def add_bench_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `bench` subcommand to an argparse subparsers object; `bench_command` runs
    what it parses."""
    s: argparse.ArgumentParser = subparsers.add_parser(
        "bench", help="onnxruntime vs PyTorch vs the arithmetic floor -> BENCHMARKS.md",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    s.add_argument(
        "what", nargs="?", choices=["train"], default=None,
        help="train: training throughput of the trainers (workers, processes, precision) "
        "instead of the runtime",
    )  # fmt: skip
    s.add_argument("--quick", action="store_true", help="few repeats, 1 thread (CI)")
    s.add_argument("--threads", type=int, nargs="+", default=None, help="default: 1 2 (quick: 1)")
    s.add_argument("--repeats", type=int, default=None, help="timed blocks per number")
    s.add_argument("--only", choices=["speech", "caption"], default=None)
    s.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="results.json goes here (default: benchmarks/; quick: out/bench-quick/)",
    )
    s.add_argument(
        "--markdown",
        default=None,
        metavar="FILE",
        help="default: BENCHMARKS.md (quick: DIR/BENCHMARKS.md)",
    )
    s.add_argument("--speech-bundle", default=None, help="default: the shipped bundle")
    s.add_argument("--caption-bundle", default=None, help="default: the shipped bundle")
    s.add_argument(
        "--speech-checkpoint",
        default=None,
        help="torch checkpoint the speech bundle was exported from",
    )
    s.add_argument(
        "--caption-checkpoint",
        default=None,
        help="torch checkpoint the caption bundle was exported from",
    )
    s.add_argument("--no-memory", action="store_true", help="skip the peak-RSS children")
    s.add_argument(
        "--render",
        action="store_true",
        help="measure nothing: rewrite the markdown from DIR/results.json (after editing "
        "benchmarks/notes.md)",
    )
    return s


def options_from_args(
    args: argparse.Namespace,
    argv: list[str] | None = None,
    prog: str = "lstm-apps",
    *,
    command: str | None = None,
) -> BenchOptions:
    """BenchOptions from parsed `bench` arguments. The command the report quotes is
    `command` if given, else `prog` followed by `argv` (the arguments after the program
    name), else, with neither, a note that the call came from Python."""
    quick = bool(args.quick)
    out = Path(args.out) if args.out else Path("out/bench-quick" if quick else "benchmarks")
    md = Path(args.markdown) if args.markdown else (out / "BENCHMARKS.md" if quick
                                                     else Path("BENCHMARKS.md"))  # fmt: skip
    opt = lambda v: Path(v) if v else None
    if command is None:
        called = "lstm_apps.bench.options_from_args() from Python"
        command = " ".join([prog, shlex.join(argv)]).strip() if argv is not None else called
    return BenchOptions(
        quick=quick,
        threads=tuple(args.threads) if args.threads else ((1,) if quick else (1, 2)),
        repeats=args.repeats, only=args.only, json_path=out / "results.json",
        markdown_path=md, speech_bundle=opt(args.speech_bundle),
        caption_bundle=opt(args.caption_bundle), speech_checkpoint=opt(args.speech_checkpoint),
        caption_checkpoint=opt(args.caption_checkpoint), memory=not args.no_memory,
        stream_seconds=2.0 if quick else 10.0, stream_counts=(16,) if quick else (64, 512, 2048),
        command=command,
    )  # fmt: skip


def bench_command(
    args: argparse.Namespace,
    argv: list[str] | None = None,
    prog: str = "lstm-apps",
    *,
    command: str | None = None,
) -> int:
    """Run what parsed `bench` arguments ask for (see options_from_args for the command)."""
    options = options_from_args(args, argv, prog, command=command)
    if getattr(args, "what", None) == "train":
        return _train_command(options, args.repeats)
    if args.render:
        import json

        from lstm_apps.bench.report import write_outputs
        from lstm_apps.runtime.errors import LstmAppsError

        if not options.json_path.is_file():
            raise LstmAppsError(f"--render: no {options.json_path} to render; run first")
        report = json.loads(options.json_path.read_text(encoding="utf-8"))
        write_outputs(report, options.json_path, options.markdown_path, options.notes_path)
        print(f"wrote {options.markdown_path} from {options.json_path}")
        return 0
    run_bench(options)
    return 0


def _train_command(options: BenchOptions, rounds: int | None) -> int:
    """`bench train`: measure, write DIR/train.json, re-render the markdown with it."""
    import json

    from lstm_apps.bench.report import write_outputs
    from lstm_apps.bench.train import markdown, run_train_bench
    from lstm_apps.runtime.files import write_text_atomic

    out = options.json_path.parent
    report = run_train_bench(out, quick=options.quick, rounds=rounds)
    if options.markdown_path is None:
        return 0
    if options.json_path.is_file():  # the runtime figures stay; the training ones join them
        runtime = json.loads(options.json_path.read_text(encoding="utf-8"))
        write_outputs(runtime, options.json_path, options.markdown_path, options.notes_path)
    else:
        write_text_atomic(options.markdown_path, markdown(report) + "\n")
    print(f"wrote {out / 'train.json'} and {options.markdown_path}")
    return 0


def run_bench(options: BenchOptions, log: Any = print) -> dict[str, Any]:
    """Run every benchmark the options select; write the JSON (and markdown); return it."""
    from lstm_apps.bench.runner import run

    report = run(options, log)
    from lstm_apps.bench.report import write_outputs

    write_outputs(report, options.json_path, options.markdown_path, options.notes_path)
    log(f"wrote {options.json_path}" + (f" and {options.markdown_path}"
                                        if options.markdown_path else ""))  # fmt: skip
    return report


__all__ = ["BenchOptions", "add_bench_parser", "bench_command", "options_from_args", "run_bench"]
