"""`lstm-apps demo|smoke|serve-demo|explain|check|release|bench`: the whole-project tools."""

from __future__ import annotations

import argparse
from typing import Any


def add_demo_parsers(sub: Any) -> None:
    s = sub.add_parser("demo", help="the README's main job: run what the project ships")
    s.add_argument("--out", default="out/demo", help="where pictures and files go")
    s.add_argument(
        "--samples", default=None,
        help="folder with images/ and speech/ (default: the checkout's samples/, else ./samples)",
    )  # fmt: skip
    s.set_defaults(func=_demo)

    s = sub.add_parser("smoke", help="export the shared core and check onnxruntime parity")
    s.add_argument("--out", default=None, help="directory for the ONNX files (default: tmp)")
    s.add_argument("--seed", type=int, default=0, help="same seed, same result")
    s.set_defaults(func=_smoke)

    s = sub.add_parser(
        "serve-demo",
        help="serve the in-browser demo (samples/web) on localhost; it runs in the browser",
        description="A static file server (Python's http.server, 127.0.0.1 only) for the "
        "demo page: captions with each word's attention, and live spotting of commands in "
        "a WAV or the microphone, all in the browser with onnxruntime-web. Needs a source "
        "checkout with `npm ci --ignore-scripts` run in samples/js. Ctrl-C stops it.",
    )
    s.add_argument("--port", type=int, default=8000, help="TCP port; 0 picks a free one")
    s.add_argument("--verbose", action="store_true", help="log every request")
    s.set_defaults(func=_serve_demo)


def add_parser(sub: Any) -> None:
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
    s.set_defaults(func=_explain)

    s = sub.add_parser(
        "release",
        help="remake the shipped bundles: data, training, export, cards (~35 min)",
        description="Generate both data sets, train both models, export them with parity "
        "checks and model cards. Resumable: rerun after an interruption.",
    )
    s.add_argument("--only", choices=["speech", "caption"], default=None, help="one bundle")
    s.add_argument(
        "--work", default=None,
        help="folder for data and runs (runs/release; quick: runs/release-quick)",
    )  # fmt: skip
    s.add_argument("--fresh", action="store_true", help="delete this release's data and runs first")
    s.add_argument("--out", default="export", help="where the bundles go")
    s.add_argument("--seed", type=int, default=0, help="same seed, same result")
    s.add_argument("--quick", action="store_true", help="tiny data, 1 epoch: a pipeline check")
    s.set_defaults(func=_release)

    s = sub.add_parser(
        "check",
        help="verify a bundle: file checksums, metadata, one inference (no torch)",
        description="Recompute the sha256 of every file config.json lists, load the bundle "
        "as the runtime does and run one inference. Exit 1 on the first problem.",
    )
    s.add_argument("bundle", nargs="+", help="bundle folders, e.g. export/speech export/caption")
    s.set_defaults(func=_check)

    s = sub.add_parser(
        "golden",
        help="(re)write BUNDLE/golden/: inputs, decoded tensors and every graph's outputs "
        "for ports to check themselves against (export writes it too)",
    )
    s.add_argument("bundle", help="a bundle folder")
    s.add_argument(
        "inputs", nargs="+",
        help="speech: audio files (the first is the clip, all of them the stream); "
        "caption: two images, the first stored as PNG, the second as JPEG",
    )  # fmt: skip
    s.set_defaults(func=_golden)

    from lstm_apps.bench import add_bench_parser  # light: imports no torch

    add_bench_parser(sub).set_defaults(func=_bench)


def _demo(args: argparse.Namespace, command: str) -> int:
    from lstm_apps.demo import run_demo

    return 1 if run_demo(args.out, args.samples) else 0


def _smoke(args: argparse.Namespace, command: str) -> int:
    from lstm_apps.onnx.smoke import run_core_smoke

    run_core_smoke(args.out, seed=args.seed)
    return 0


def _serve_demo(args: argparse.Namespace, command: str) -> int:
    from lstm_apps.serve import demo_url, make_server

    server = make_server(args.port, log=print if args.verbose else None)
    print(f"serving the demo at {demo_url(server)} (Ctrl-C to stop)", flush=True)
    with server:
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("stopped")
    return 0


def _explain(args: argparse.Namespace, command: str) -> int:
    from lstm_apps.explain import GATES, explain_file

    done = explain_file(args.what, args.input, model=args.model, png=args.png)
    if done.note:
        print(f"  {done.note}")
    print(f"{args.input}: {done.summary}")
    for gate in GATES:
        means = ", ".join(f"{getattr(layer, gate).mean():.2f}" for layer in done.layers)
        print(f"  {gate:6s} gate, mean per layer: {means}")
    print(f"picture: {done.png}")
    return 0


def _golden(args: argparse.Namespace, command: str) -> int:
    from lstm_apps.onnx.golden import rewrite_golden

    folder = rewrite_golden(args.bundle, args.inputs)
    size = sum(p.stat().st_size for p in folder.iterdir())
    print(f"wrote {folder} ({len(list(folder.iterdir()))} files, {size / 1e3:.0f} kB)")
    return 0


def _check(args: argparse.Namespace, command: str) -> int:
    from lstm_apps.runtime.check import check_bundle
    from lstm_apps.runtime.errors import ModelFileError

    failed = 0
    for folder in args.bundle:
        try:
            r = check_bundle(folder)
        except ModelFileError as e:
            print(f"{folder}: FAILED: {e}")
            failed += 1
            continue
        if r.has_checksums:
            print(f"{folder}: {r.kind} bundle, {len(r.files)} files match their sha256")
        else:
            print(f"{folder}: {r.kind} bundle, no checksums (exported before they existed)")
        if r.unlisted:
            print(f"  not in config.json (not checked): {', '.join(r.unlisted)}")
        print(f"  loads; {r.smoke}")
    return 1 if failed else 0


def _release(args: argparse.Namespace, command: str) -> int:
    from lstm_apps.release import release

    kinds = (args.only,) if args.only else ("speech", "caption")
    release(kinds, work=args.work, out=args.out, quick=args.quick, seed=args.seed, fresh=args.fresh)
    return 0


def _bench(args: argparse.Namespace, command: str) -> int:
    from lstm_apps.bench import bench_command

    return bench_command(args, command=command)
