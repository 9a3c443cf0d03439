"""The `lstm-apps` command (also `python -m lstm_apps`).

Subcommands import what they need when they run, so `lstm-apps --help` and the inference
commands work without torch.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from lstm_apps.runtime.errors import LstmAppsError


def _cmd_smoke(args: argparse.Namespace) -> int:
    from lstm_apps.onnx.smoke import run_core_smoke

    run_core_smoke(args.out, seed=args.seed)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from lstm_apps.onnx.smoke import run_core_smoke

    run_core_smoke(args.out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lstm-apps",
        description="One LSTM core, two heads: image captions and spoken commands.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("demo", help="the README's main job: run what the project ships")
    s.add_argument("--out", default="out/demo", help="where pictures and files go")
    s.set_defaults(func=_cmd_demo)

    s = sub.add_parser("smoke", help="export the shared core and check onnxruntime parity")
    s.add_argument("--out", default=None, help="directory for the ONNX files (default: tmp)")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=_cmd_smoke)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except LstmAppsError as e:
        print(f"lstm-apps: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lstm-apps: interrupted", file=sys.stderr)
        return 130
