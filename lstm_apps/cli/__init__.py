"""The `lstm-apps` command (also `python -m lstm_apps`).

    lstm-apps data speech data/speech          synthetic Speech Commands (eSpeak NG)
    lstm-apps train speech --data data/speech --out runs/speech
    lstm-apps export speech runs/speech export/speech
    lstm-apps classify a.wav b.wav             labels for clips (no torch needed)
    lstm-apps stream long.wav --chunk-ms 100   timed detections from a stream

One module per verb group (tools, data, train, export, evaluate, infer), each with
`add_parser(sub)` and handlers `(args, command) -> exit code` that call one library
function and print. `command` is the `lstm-apps ...` line being run: the handlers pass it
to the library, which records it in metrics.json and model cards. Nothing outside this
package imports it.

Subcommands import what they need when they run, so `lstm-apps --help` and the inference
commands work without torch. Errors the user can cause (`LstmAppsError`, a bad setting's
`ConfigError` among them) print as one line and exit with 2, as argparse's usage errors do.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence

from lstm_apps.cli import data, evaluate, export, infer, tools, train
from lstm_apps.runtime.errors import LstmAppsError

__all__ = ["build_parser", "main"]


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
    tools.add_demo_parsers(sub)
    data.add_parser(sub)
    train.add_parser(sub)
    infer.add_speech_parsers(sub)
    evaluate.add_parser(sub)
    infer.add_caption_parser(sub)
    export.add_parser(sub)
    tools.add_parser(sub)
    _show_defaults(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run `lstm-apps ARGV` (default: sys.argv[1:]); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    command = shlex.join(["lstm-apps", *argv])  # what the library records as provenance
    try:
        return int(args.func(args, command))
    except (LstmAppsError, FileExistsError) as e:
        print(f"lstm-apps: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lstm-apps: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `lstm-apps stream x.wav | head`: the reader left; stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as e:  # the file system said no (full disk, permissions): one line
        print(f"lstm-apps: error: {e}", file=sys.stderr)
        return 1
