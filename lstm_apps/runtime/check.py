"""`lstm-apps check BUNDLE`: is this bundle folder whole, consistent and usable?

    from lstm_apps.runtime.check import check_bundle
    report = check_bundle("export/speech")      # raises ModelFileError on the first problem
    print(report.kind, report.files)            # {"model.onnx": "<sha256>", ...}

It recomputes the sha256 of every file config.json lists, loads the bundle the way the
runtime does (every graph checked against its kind, the metadata and the JSON files
against each other), and runs one inference on neutral input (silence, a grey image).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lstm_apps.runtime.errors import ModelFileError
from lstm_apps.runtime.manifest import read_config, verify_files


@dataclass(frozen=True)
class BundleCheck:
    path: Path
    kind: str  # "speech" or "caption"
    files: dict[str, str] = field(default_factory=dict)  # verified file -> sha256
    unlisted: tuple[str, ...] = ()  # files in the folder config.json does not list
    smoke: str = ""  # what the one inference gave

    @property
    def has_checksums(self) -> bool:
        return bool(self.files)


def bundle_kind(path: Path) -> str:
    if (path / "model.onnx").is_file() or (path / "stream.onnx").is_file():
        return "speech"
    if (path / "encoder.onnx").is_file() or (path / "decoder.onnx").is_file():
        return "caption"
    raise ModelFileError(
        f"{path}: neither a speech bundle (model.onnx) nor a caption bundle (encoder.onnx)"
    )


def check_bundle(path: str | os.PathLike[str]) -> BundleCheck:
    """Verify and load one bundle folder; ModelFileError names the first problem."""
    path = Path(path)
    if not path.is_dir():
        raise ModelFileError(f"bundle folder not found: {path}")
    kind = bundle_kind(path)
    config = read_config(path)
    files = verify_files(path, config)
    present = {p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()}
    unlisted = tuple(sorted(present - set(files) - {"config.json"})) if files else ()
    try:
        smoke = _smoke(path, kind)
    except ModelFileError:
        raise
    except Exception as e:  # onnxruntime's own errors: the bundle loads but does not run
        raise ModelFileError(f"{path}: loads, but one inference on neutral input fails: {e}") from e
    return BundleCheck(path, kind, files, unlisted, smoke)


def _smoke(path: Path, kind: str) -> str:
    """One inference on neutral input: silence (speech) or a grey image (caption)."""
    if kind == "speech":
        from lstm_apps.runtime.speech import SpeechClassifier

        clf = SpeechClassifier.from_dir(path, verify=False, intra_op_threads=1)
        p = clf.classify(np.zeros(clf.clip_samples, np.float32), sample_rate=clf.sample_rate)[0]
        smoke = f"1 s of silence -> {p.label} ({p.score:.2f})"
        if clf.stream_model is not None:
            n = len(list(clf.stream().feed(np.zeros(clf.sample_rate, np.float32), 1600)))
            smoke += f"; stream.onnx over it: {n} detections"
        if (path / "model.int8.onnx").is_file():
            q = SpeechClassifier.from_dir(path, int8=True, verify=False, intra_op_threads=1)
            p8 = q.classify(np.zeros(q.clip_samples, np.float32), sample_rate=q.sample_rate)[0]
            smoke += f"; int8 -> {p8.label} ({p8.score:.2f})"
    else:
        from lstm_apps.runtime.caption import Captioner

        cap = Captioner.from_dir(path, intra_op_threads=1)
        c = cap.caption(np.full((64, 64, 3), 128, np.uint8), beam_size=1)[0]
        smoke = f"a grey image -> {c.text!r}"
    return smoke
