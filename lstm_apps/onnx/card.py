"""Pieces every MODEL_CARD.md shares: how the data was made, how to reproduce the bundle,
the I/O of each ONNX file (read from the files themselves) and the file sizes."""

from __future__ import annotations

import contextlib
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import onnx

from lstm_apps.runtime.errors import LstmAppsError
from lstm_apps.runtime.files import atomic_dir
from lstm_apps.runtime.manifest import read_config, write_config

_DTYPES = {
    onnx.TensorProto.FLOAT: "float32",
    onnx.TensorProto.INT64: "int64",
    onnx.TensorProto.UINT8: "uint8",
    onnx.TensorProto.INT32: "int32",
}


def check_budget(sizes: dict[str, int], max_bytes: int | None, out_dir: str | Path) -> None:
    """Refuse a bundle over `max_bytes` before it replaces `out_dir` (None: no limit)."""
    total = sum(sizes.values())
    if max_bytes is not None and total > max_bytes:
        biggest = max(sizes, key=lambda k: sizes[k])
        raise LstmAppsError(
            f"{out_dir}: the bundle would be {total / 1e6:.1f} MB, over the limit of "
            f"{max_bytes / 1e6:.1f} MB (largest file: {biggest}, {sizes[biggest] / 1e6:.1f} "
            f"MB); {out_dir} was left as it was"
        )


def data_line(metrics: dict[str, Any], made_by: str) -> str:
    """The card's '- data:' line: a folder our generator wrote, or data made elsewhere."""
    if metrics.get("data_generator"):
        return f"- data: `{metrics.get('data')}`, written by {made_by}; settings under Reproduce"
    return f"- data: `{metrics.get('data')}` (no generator.json: not made by `lstm-apps data`)"


def _words_argv(settings: dict[str, Any]) -> list[str]:
    from lstm_apps.data.speech_synth import ALL_WORDS

    words = settings.get("words")
    return ["--words", ",".join(words)] if words and tuple(words) != ALL_WORDS else []


def data_command(metrics: dict[str, Any]) -> str | None:
    """The `lstm-apps data ...` command equivalent to the run's generator.json, if any."""
    gen = metrics.get("data_generator") or {}
    if gen.get("command"):  # recorded by the CLI that made the folder
        return str(gen["command"])
    s, data = gen.get("settings", {}), str(metrics.get("data", "DATA"))
    name = gen.get("generator", "")
    if name.endswith("generate_speech_commands"):
        argv = ["lstm-apps", "data", "speech", data, "--repeats", str(s["repeats"])]
        argv += ["--speakers", str(s["speakers"])] if s.get("speakers") else []
        argv += ["--noise-seconds", f"{s['noise_seconds']:g}", "--seed", str(s["seed"])]
        argv += _words_argv(s)
        return shlex.join(argv)
    if name.endswith("generate_shapes"):
        argv = ["lstm-apps", "data", "shapes", data, "--count", str(s["count"])]
        return shlex.join([*argv, "--seed", str(s["seed"])])
    return None


def reproduce_lines(metrics: dict[str, Any], export_command: str) -> list[str]:
    """'## Reproduce' section: data, training and export commands, and the release."""
    data = data_command(metrics)
    gen = metrics.get("data_generator")
    lines = ["## Reproduce", ""]
    if gen:
        shown = {k: v for k, v in gen.get("settings", {}).items() if k != "words"}
        if "extra_words" in shown:  # hundreds of words: their number (generator.json has them)
            shown["extra_words"] = f"<{len(shown['extra_words'])} words>"
        if _words_argv(gen.get("settings", {})):
            shown["words"] = ",".join(gen["settings"]["words"])
        settings = ", ".join(f"{k}={v}" for k, v in shown.items())
        lines.append(f"- data: `{gen.get('generator')}` with {settings}")
    if data:
        lines.append(f"- `{data}`")
    lines += [
        f"- `{metrics.get('command', '?')}`",
        f"- `{export_command}`",
        "",
        "`lstm-apps release` runs these steps for both shipped bundles (resumable; see",
        "`lstm-apps release --help`).",
        "",
    ]
    return lines


def _shape(value: onnx.ValueInfoProto) -> str:
    dims = value.type.tensor_type.shape.dim
    return "[" + ", ".join(d.dim_param or str(d.dim_value) for d in dims) + "]"


def io_lines(bundle: Path) -> list[str]:
    """'## Inputs and outputs' table for every .onnx file in `bundle`."""
    lines = [
        "## Inputs and outputs",
        "",
        "| file | name | in/out | dtype | shape |",
        "|---|---|---|---|---|",
    ]
    for path in sorted(bundle.glob("*.onnx")):
        graph = onnx.load(str(path), load_external_data=False).graph
        for kind, values in (("in", graph.input), ("out", graph.output)):
            for v in values:
                dtype = _DTYPES.get(v.type.tensor_type.elem_type, str(v.type.tensor_type.elem_type))
                lines.append(f"| {path.name} | `{v.name}` | {kind} | {dtype} | {_shape(v)} |")
    return [*lines, ""]


def bundle_sizes(bundle: Path) -> dict[str, int]:
    """Every file under `bundle` (relative posix path -> bytes), sorted."""
    return {
        p.relative_to(bundle).as_posix(): p.stat().st_size
        for p in sorted(bundle.rglob("*"))
        if p.is_file()
    }


def size_lines(sizes: dict[str, int]) -> list[str]:
    total = sum(sizes.values())
    return [
        "## Files",
        "",
        *[f"- `{name}`: {size / 1e6:.2f} MB" for name, size in sizes.items()],
        f"- total: {total / 1e6:.2f} MB",
        "",
    ]


@contextlib.contextmanager
def updated_bundle(bundle: Path, *, drop: tuple[str, ...] = ()) -> Iterator[Path]:
    """Change an existing bundle atomically: yields a copy of it (without the names in
    `drop`, e.g. files about to be rewritten) and, on success, re-seals config.json's
    digests and swaps the copy in. An exception leaves the bundle as it was."""
    meta = {k: v for k, v in read_config(bundle).items() if k != "files"}
    with atomic_dir(bundle, replaces="config.json") as tmp:
        shutil.copytree(bundle, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*drop))
        yield tmp
        write_config(tmp, meta)
