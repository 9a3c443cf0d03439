"""The synthetic shapes caption data set, written in the Karpathy split layout.

    lstm-apps data shapes OUT --count 5000
    # or: generate_shapes("data/shapes", count=5000, seed=0)

writes `OUT/images/shapes_000000.png ...` and `OUT/dataset_shapes.json`, which
`lstm_apps.data.captions.load_karpathy` reads like the real COCO/Flickr files. Output is
byte-identical for a seed: image i is drawn from `np.random.default_rng([seed, i])` alone.

This module is the public face of the data set: scenes and drawing live in
`shapes_scene.py`, captions, parsing and content accuracy in `shapes_text.py`; both are
re-exported here.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from lstm_apps.data import GENERATOR_JSON
from lstm_apps.data.captions import tokenize
from lstm_apps.data.shapes_scene import (
    IMAGE_SIZE,
    MARGIN,
    PALETTE,
    SIZE_RANGES,
    STYLES,
    Scene,
    ShapeObject,
    object_coverage,
    object_extent,
    objects_separated,
    relation_of,
    render_scene,
    sample_scene,
)
from lstm_apps.data.shapes_text import (
    COLOR_NAMES,
    INVERSE_RELATION,
    RELATIONS,
    SHAPE_NAMES,
    SIZE_NAMES,
    ObjectDesc,
    ParsedCaption,
    canonical_caption,
    content_accuracy,
    content_correct,
    content_correct_from_reference,
    describe,
    parse_caption,
    references,
)
from lstm_apps.runtime.errors import ConfigError, LstmAppsError

__all__ = [
    "COLOR_NAMES",
    "IMAGE_SIZE",
    "INVERSE_RELATION",
    "MARGIN",
    "PALETTE",
    "RELATIONS",
    "SHAPE_NAMES",
    "SIZE_NAMES",
    "SIZE_RANGES",
    "STYLES",
    "ObjectDesc",
    "OutputExistsError",
    "ParsedCaption",
    "Scene",
    "ShapeObject",
    "ShapesReport",
    "canonical_caption",
    "content_accuracy",
    "content_correct",
    "content_correct_from_reference",
    "describe",
    "generate_shapes",
    "object_coverage",
    "object_extent",
    "objects_separated",
    "parse_caption",
    "references",
    "relation_of",
    "render_scene",
    "sample_scene",
]


class OutputExistsError(LstmAppsError, FileExistsError):
    """The output folder of a generator exists and is not empty."""


@dataclass(frozen=True)
class ShapesReport:
    """What `generate_shapes` wrote."""

    out_dir: Path
    json_path: Path
    count: int
    split_counts: dict[str, int]
    words: tuple[str, ...]  # every word used in a reference, sorted
    seconds: float
    n_bytes: int  # images + JSON

    @property
    def images_per_second(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else float("inf")


HOLDOUT_JPEG = (0.5, 50, 90)  # the holdout style: share saved as JPEG, its quality range


def _make_image(task: tuple[int, int, str, str, str]) -> tuple[str, list[str]]:
    """Draw image `index` into `folder`; returns its file name and references. Runs in
    worker processes."""
    seed, index, folder, fmt, style = task
    rng = np.random.default_rng([seed, index])
    scene = sample_scene(rng)
    image = render_scene(scene, rng, style)
    quality = 95
    if style == "holdout" and rng.random() < HOLDOUT_JPEG[0]:
        fmt, quality = "jpg", int(rng.integers(HOLDOUT_JPEG[1], HOLDOUT_JPEG[2] + 1))
    name = _filename(index, fmt)
    if fmt == "png":
        image.save(Path(folder) / name, format="PNG", compress_level=1)  # 2x faster than 6
    else:
        image.save(Path(folder) / name, format="JPEG", quality=quality)
    return name, references(scene, rng)


def _filename(index: int, fmt: str) -> str:
    return f"shapes_{index:06d}.{fmt}"


def _split_names(count: int, splits: Sequence[float]) -> list[str]:
    if len(splits) != 3 or any(f < 0 for f in splits) or not math.isclose(sum(splits), 1.0):
        raise ConfigError(f"splits must be 3 non-negative fractions summing to 1, got {splits}")
    n_train = round(count * splits[0])
    n_val = min(round(count * splits[1]), count - n_train)
    return ["train"] * n_train + ["val"] * n_val + ["test"] * (count - n_train - n_val)


def _check_out_dir(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise OutputExistsError(f"{out} exists and is not an empty folder; choose a new path")


def generate_shapes(
    out_dir: str | os.PathLike[str],
    *,
    count: int = 5000,
    splits: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    progress: bool = True,
    image_format: str = "png",
    style: str = "spec",
    workers: int | None = None,
    command: str | None = None,
) -> ShapesReport:
    """Write `count` scenes to `out_dir/images/` and `out_dir/dataset_shapes.json`.

    The JSON is the Karpathy layout (`sentences` hold `raw`, `tokens`, `imgid`, `sentid`,
    the canonical caption first; `filepath` is "images"). Splits are contiguous: the
    first 80% train, then val, then test. Everything is written to a temporary sibling
    folder and renamed into place, so `out_dir` is either complete or absent; an existing
    non-empty `out_dir` raises `OutputExistsError`. `style`: "spec" (the training data) or
    "holdout" (a variation of the spec never trained on; half of its images are JPEG
    whatever `image_format` says); see `lstm_apps.data.shapes_scene`. `workers`:
    processes (default: up to 2 for large counts); the output does not depend on it.
    `command`: the command line that asked for this, recorded in generator.json.
    """
    if count < 1:
        raise ConfigError(f"count must be >= 1, got {count}")
    fmt = {"png": "png", "jpg": "jpg", "jpeg": "jpg"}.get(image_format.lower())
    if fmt is None:
        raise ConfigError(f"image_format must be 'png' or 'jpg', got {image_format!r}")
    if style not in STYLES:
        raise ConfigError(f"style must be one of {STYLES}, got {style!r}")
    split_of = _split_names(count, splits)
    out = Path(out_dir)
    _check_out_dir(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if workers is None:
        workers = min(2, os.cpu_count() or 1) if count >= 200 else 1
    start = time.perf_counter()
    bar: _NoBar | None = None
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    try:
        (tmp / "images").mkdir()
        tasks = [(seed, i, str(tmp / "images"), fmt, style) for i in range(count)]
        made: list[tuple[str, list[str]]] = []
        if workers > 1:
            # The pool starts before the bar: forking after tqdm's monitor thread is unsafe.
            with get_context().Pool(workers) as pool:
                bar = _progress(count, progress)
                for item in pool.imap(_make_image, tasks, chunksize=16):
                    made.append(item)
                    bar.update(1)
        else:
            bar = _progress(count, progress)
            for task in tasks:
                made.append(_make_image(task))
                bar.update(1)
        bar.close()
        images = []
        for i, (name, refs) in enumerate(made):
            sentences = [
                {"raw": r, "tokens": tokenize(r), "imgid": i, "sentid": i * len(refs) + k}
                for k, r in enumerate(refs)
            ]
            images.append(
                {
                    "filepath": "images",
                    "filename": name,
                    "imgid": i,
                    "split": split_of[i],
                    "sentids": [s["sentid"] for s in sentences],
                    "sentences": sentences,
                }
            )
        with (tmp / "dataset_shapes.json").open("w", encoding="utf-8") as fh:
            json.dump({"dataset": "shapes", "images": images}, fh)
        generator = {
            "generator": "lstm_apps.data.shapes.generate_shapes",
            "settings": {"count": count, "splits": list(splits), "seed": seed,
                         "image_format": fmt, "style": style},
            **({"command": command} if command else {}),
        }  # fmt: skip
        (tmp / GENERATOR_JSON).write_text(json.dumps(generator, indent=2) + "\n")
        n_bytes = sum(p.stat().st_size for p in tmp.rglob("*") if p.is_file())
        _check_out_dir(out)  # someone may have written there meanwhile
        os.chmod(tmp, 0o755)  # mkdtemp makes 0700 folders
        os.replace(tmp, out)
    except BaseException:
        if bar is not None:
            bar.close()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    words = sorted({w for _, refs in made for r in refs for w in tokenize(r)})
    return ShapesReport(
        out_dir=out,
        json_path=out / "dataset_shapes.json",
        count=count,
        split_counts={s: split_of.count(s) for s in ("train", "val", "test")},
        words=tuple(words),
        seconds=time.perf_counter() - start,
        n_bytes=n_bytes,
    )


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, enabled: bool) -> _NoBar:
    """A tqdm bar on stderr, or a silent stand-in (tqdm is a training extra)."""
    if enabled:
        try:
            from tqdm import tqdm
        except ImportError:
            return _NoBar()
        return tqdm(total=total, desc="shapes", unit="img")  # type: ignore[no-any-return]
    return _NoBar()
