"""Run the benchmarks: the same as `lstm-apps bench` (see lstm_apps/bench/__init__.py).

python benchmarks/run.py                 # full: benchmarks/results.json + BENCHMARKS.md
python benchmarks/run.py --quick         # few repeats, 1 thread: out/bench-quick/
python benchmarks/run.py --help
"""

from __future__ import annotations

import argparse
import sys

from lstm_apps.bench import add_bench_parser, bench_command
from lstm_apps.runtime.errors import LstmAppsError


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="benchmarks/run.py")
    add_bench_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["bench", *argv])
    try:
        return bench_command(args, argv, prog="python benchmarks/run.py")
    except LstmAppsError as e:  # as `lstm-apps` reports it
        print(f"benchmarks/run.py: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
