"""Small helpers the verb modules share: option parsing and printing, no library logic."""

from __future__ import annotations

import argparse

from lstm_apps.runtime.errors import ConfigError

MAX_MB_HELP = "refuse a bundle over this many MB (OUT is then left as it was)"


def names(flag: str, value: str | None) -> list[str] | None:
    """A comma-separated option as a list of distinct, non-empty names (None if not given)."""
    got = [w.strip() for w in value.split(",")] if value else None
    if got is not None and (not all(got) or len(set(got)) != len(got)):
        raise ConfigError(f"{flag} {value!r}: give distinct, non-empty names")
    return got


def per_split(counts: dict[str, int]) -> str:
    return ", ".join(f"{split} {n}" for split, n in counts.items())


def print_sizes(sizes: dict[str, int]) -> None:
    for name, size in sizes.items():
        print(f"  {name:30s} {size / 1e6:7.2f} MB")


def add_device_options(p: argparse.ArgumentParser, device_help: str, precision_help: str) -> None:
    """--device and --precision (train and eval share them; lstm_apps.train.engine)."""
    p.add_argument(
        "--device", choices=["auto", "cpu", "cuda", "mps"], default="auto", help=device_help
    )
    p.add_argument(
        "--precision", choices=["fp32", "bf16", "fp16"], default="fp32", help=precision_help
    )
