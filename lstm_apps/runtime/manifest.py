"""A bundle's config.json: its metadata plus the sha256 of every other file in the folder.

    config.json = {**metadata, "files": {"model.onnx": "<sha256 hex>", "labels.json": ..., ...}}

The exporter writes it last (`write_config`), over the finished folder; the runtime reads
it at load (`read_config`) and checks that it says what the graphs' own metadata says,
so a bundle cannot say two things, and `verify_files` recomputes the digests (on by
default in `from_dir`; `lstm-apps check BUNDLE` reports them). Bundles exported before
checksums existed have no "files" key: they load, and `check` says so.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lstm_apps.runtime.errors import ModelFileError
from lstm_apps.runtime.files import write_text_atomic

CONFIG_JSON = "config.json"
FILES_KEY = "files"
_CHUNK = 1 << 20


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


def file_digests(folder: Path) -> dict[str, str]:
    """sha256 of every file below `folder` except config.json, by relative POSIX path."""
    return {
        p.relative_to(folder).as_posix(): sha256(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.relative_to(folder).as_posix() != CONFIG_JSON
    }


def write_config(folder: Path, metadata: Mapping[str, Any]) -> None:
    """Write folder/config.json: the metadata and the digests of the folder's other files."""
    config = {**metadata, FILES_KEY: file_digests(folder)}
    write_text_atomic(folder / CONFIG_JSON, json.dumps(config, indent=2) + "\n")


def read_config(folder: Path) -> dict[str, Any]:
    """folder/config.json as a dict; ModelFileError if it is missing or not a JSON object."""
    path = folder / CONFIG_JSON
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ModelFileError(f"{path}: missing; every lstm-apps bundle has one") from e
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelFileError(f"{path}: not readable JSON ({e})") from e
    if not isinstance(config, dict):
        raise ModelFileError(f"{path}: must hold a JSON object, got {type(config).__name__}")
    return config


def check_agrees(folder: Path, config: Mapping[str, Any], metadata: Mapping[str, Any]) -> None:
    """config.json must say what a graph's metadata says, key by key (bar `files`)."""
    for key, value in config.items():
        if key != FILES_KEY and metadata.get(key) != value:
            raise ModelFileError(
                f"{folder / CONFIG_JSON}: {key!r} differs from the graphs' metadata; the "
                "bundle says two things: re-export it, or restore the file"
            )


def check_json_file(folder: Path, name: str, want: Any) -> None:
    """A JSON file beside the graphs (labels.json, vocab.json) must hold `want`."""
    path = folder / name
    if not path.is_file():
        return  # optional for the Python runtime; other runtimes read it
    try:
        got = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelFileError(f"{path}: not readable JSON ({e})") from e
    if got != want:
        raise ModelFileError(
            f"{path} differs from the graphs' metadata; the bundle says two things: "
            "re-export it, or restore the file"
        )


def require_listed(folder: Path, config: Mapping[str, Any], names: list[str]) -> None:
    """When config.json lists digests, every graph the runtime loads must be among them: a
    file slipped in beside a bundle is not part of it."""
    listed = config.get(FILES_KEY)
    for name in names:
        if isinstance(listed, dict) and name not in listed:
            raise ModelFileError(f"{folder / name}: not listed in {CONFIG_JSON}'s files")


def verify_files(folder: Path, config: Mapping[str, Any]) -> dict[str, str]:
    """Recompute every digest config.json lists; returns them, or raises ModelFileError
    naming the first file that is missing or changed. {} for bundles without checksums."""
    listed = config.get(FILES_KEY)
    if listed is None:
        return {}
    if not isinstance(listed, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in listed.items()
    ):
        raise ModelFileError(f"{folder / CONFIG_JSON}: 'files' must map file names to sha256")
    for name, want in listed.items():
        path = folder / name
        if not path.is_file():
            raise ModelFileError(f"{path}: listed in {CONFIG_JSON} but missing")
        if sha256(path) != want:
            raise ModelFileError(
                f"{path}: its sha256 differs from the one {CONFIG_JSON} lists: the file is "
                "damaged or was changed after export"
            )
    return dict(listed)
