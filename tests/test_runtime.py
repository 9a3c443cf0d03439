"""The torch-free runtime base: typed errors, input checks, metadata, no torch import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from lstm_apps.onnx.export import export_onnx
from lstm_apps.runtime import (
    InputDTypeError,
    InputError,
    InputNameError,
    InputShapeError,
    LstmAppsError,
    ModelFileError,
    OnnxModel,
)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("m") / "lin.onnx"
    export_onnx(
        nn.Linear(4, 2), (torch.randn(1, 4),), path, input_names=["x"], output_names=["y"],
        dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, metadata={"config": {"k": 4}},
    )  # fmt: skip
    return path


def test_importing_inference_side_does_not_import_torch() -> None:
    code = (
        "import sys, lstm_apps, lstm_apps.runtime, lstm_apps.runtime.session, lstm_apps.serve\n"
        "bad = [m for m in sys.modules if m == 'torch' or m.startswith('torch.')]\n"
        "print(len(bad)); assert not bad, bad"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0"


def test_run_and_metadata(model_path: Path) -> None:
    m = OnnxModel(model_path, intra_op_threads=1, inter_op_threads=1)
    y = m.run({"x": np.ones((3, 4), np.float32)})["y"]
    assert y.shape == (3, 2) and y.dtype == np.float32
    assert m.require_metadata("config") == {"k": 4}
    with pytest.raises(ModelFileError, match="no 'vocab'"):
        m.require_metadata("vocab")
    assert "x: float32[batch, 4]" in repr(m)


@pytest.mark.parametrize(
    "feeds, err, match",
    [
        ({}, InputNameError, r"missing inputs \['x'\]"),
        ({"x": np.ones((1, 4), np.float32), "z": np.ones(1)}, InputNameError, "unexpected"),
        ({"x": np.ones((1, 4), np.float64)}, InputDTypeError, "'x' must be float32, got float64"),
        ({"x": [[1.0, 2.0, 3.0, 4.0]]}, InputDTypeError, "numpy array"),
        ({"x": np.ones(4, np.float32)}, InputShapeError, "rank 2"),
        ({"x": np.ones((2, 5), np.float32)}, InputShapeError, "axis 1 must be 4"),
    ],
)
def test_bad_feeds_raise_typed_errors(model_path: Path, feeds: dict, err: type, match: str) -> None:
    m = OnnxModel(model_path)
    with pytest.raises(err, match=match) as info:
        m.run(feeds)
    assert isinstance(info.value, InputError) and isinstance(info.value, LstmAppsError)


def test_missing_and_corrupt_model_files(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="not found"):
        OnnxModel(tmp_path / "nope.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx file")
    with pytest.raises(ModelFileError, match="cannot load"):
        OnnxModel(bad)


def test_bad_thread_count(model_path: Path) -> None:
    with pytest.raises(ValueError, match="intra_op_threads"):
        OnnxModel(model_path, intra_op_threads=-1)
