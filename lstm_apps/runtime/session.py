"""The onnxruntime base every runtime model stands on: `OnnxModel`.

It opens a session with explicit threads and providers, reads the JSON metadata the
exporter wrote into `metadata_props`, and checks every feed (names, dtypes, ranks and
fixed dimensions) before onnxruntime sees it, so a mistake comes back as a typed error
that names the input and what was expected.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from lstm_apps.runtime.errors import (
    DependencyError,
    InputDTypeError,
    InputError,
    InputNameError,
    InputShapeError,
    ModelFileError,
)

_ORT_DTYPES: dict[str, type[np.generic]] = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
}


def import_onnxruntime() -> Any:
    """Import onnxruntime lazily, with an error that says how to get it."""
    try:
        import onnxruntime
    except ImportError as e:  # pragma: no cover - depends on the install
        raise DependencyError(
            "onnxruntime is required for inference: pip install onnxruntime "
            "(it is a base dependency of lstm-apps)"
        ) from e
    return onnxruntime


@dataclass(frozen=True)
class TensorSpec:
    """One graph input: its name, numpy dtype and shape (a str or None marks a free axis)."""

    name: str
    dtype: type[np.generic]
    shape: tuple[int | str | None, ...]

    def describe(self) -> str:
        dims = ", ".join(str(d) if d is not None else "?" for d in self.shape)
        return f"{np.dtype(self.dtype).name}[{dims}]"


def default_bundle(name: str) -> Path:
    """Where the shipped `name` bundle is: inside the installed package (lstm_apps/models),
    else the source checkout's export/ folder. Raises ModelFileError when neither has it."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "models" / name, package.parent / "export" / name):
        if (candidate / "config.json").is_file():
            return candidate
    raise ModelFileError(
        f"no shipped {name} bundle (looked in {package / 'models' / name} and "
        f"{package.parent / 'export' / name}); export one and load it with from_dir"
    )


def read_metadata(props: Mapping[str, str]) -> dict[str, Any]:
    """Decode metadata_props values written as JSON; keep any other value as a string."""
    out: dict[str, Any] = {}
    for key, text in props.items():
        try:
            out[key] = json.loads(text)
        except json.JSONDecodeError:
            out[key] = text
    return out


class OnnxModel:
    """An onnxruntime session with its metadata and checked inputs.

    path : the .onnx file. providers : onnxruntime execution providers (default CPU).
    intra_op_threads / inter_op_threads : thread counts (None keeps onnxruntime's
    default). session_options : an `onnxruntime.SessionOptions` to start from.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        providers: Sequence[str] | None = None,
        intra_op_threads: int | None = None,
        inter_op_threads: int | None = None,
        session_options: Any | None = None,
    ) -> None:
        ort = import_onnxruntime()
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelFileError(f"model file not found: {self.path}")
        opts = session_options if session_options is not None else ort.SessionOptions()
        for name, value in (
            ("intra_op_threads", intra_op_threads),
            ("inter_op_threads", inter_op_threads),
        ):
            if value is not None and (not isinstance(value, int) or value < 0):
                raise InputError(f"{name} must be a non-negative int, got {value!r}")
        if intra_op_threads is not None:
            opts.intra_op_num_threads = intra_op_threads
        if inter_op_threads is not None:
            opts.inter_op_num_threads = inter_op_threads
        try:
            self.session = ort.InferenceSession(
                str(self.path), opts, providers=list(providers or ["CPUExecutionProvider"])
            )
        except Exception as e:  # onnxruntime raises its own untyped errors
            raise ModelFileError(f"cannot load ONNX model {self.path}: {e}") from e
        try:
            self.metadata = read_metadata(self.session.get_modelmeta().custom_metadata_map)
        except UnicodeDecodeError as e:  # damaged bytes inside metadata_props
            raise ModelFileError(f"{self.path}: its metadata is not valid UTF-8 ({e})") from e
        self.inputs = {
            i.name: TensorSpec(i.name, _ORT_DTYPES.get(i.type, np.float32), tuple(i.shape))
            for i in self.session.get_inputs()
        }
        self.outputs = {
            o.name: TensorSpec(o.name, _ORT_DTYPES.get(o.type, np.float32), tuple(o.shape))
            for o in self.session.get_outputs()
        }
        self.output_names = list(self.outputs)

    def expect(
        self,
        kind: str,
        inputs: Mapping[str, tuple[type[np.generic], tuple[int | None, ...]]],
        outputs: Mapping[str, tuple[type[np.generic], tuple[int | None, ...]]],
    ) -> None:
        """Check that this graph is a `kind` graph (its `kind` metadata) with exactly these
        inputs and outputs: name -> (dtype, shape), where an int is a dimension the graph
        must not contradict and None a free one. Raises ModelFileError naming the file."""
        got_kind = self.metadata.get("kind")
        if got_kind != kind:
            raise ModelFileError(f"{self.path} is a {got_kind!r} graph, expected a {kind!r} graph")
        for side, want, have in (("input", inputs, self.inputs), ("output", outputs, self.outputs)):
            if set(want) != set(have):
                raise ModelFileError(
                    f"{self.path}: {side}s {sorted(have)}, a {kind!r} graph has {sorted(want)}"
                )
            for name, (dtype, shape) in want.items():
                spec = have[name]
                fixed = [w for w, g in zip(shape, spec.shape, strict=False)
                         if w is not None and isinstance(g, int) and g != w]  # fmt: skip
                if spec.dtype != dtype or len(spec.shape) != len(shape) or fixed:
                    dims = ", ".join("?" if d is None else str(d) for d in shape)
                    raise ModelFileError(
                        f"{self.path}: {side} {name!r} is {spec.describe()}, a {kind!r} graph "
                        f"needs {np.dtype(dtype).name}[{dims}]"
                    )

    def require_metadata(self, key: str) -> Any:
        """A metadata value the caller cannot do without."""
        if key not in self.metadata:
            raise ModelFileError(
                f"{self.path} has no {key!r} in its metadata (has: {sorted(self.metadata)}); "
                "was it exported by lstm-apps?"
            )
        return self.metadata[key]

    def check(self, feeds: Mapping[str, npt.NDArray[Any]]) -> None:
        """Raise a typed error when feeds do not match the graph's inputs."""
        missing = [n for n in self.inputs if n not in feeds]
        extra = [n for n in feeds if n not in self.inputs]
        if missing or extra:
            want = ", ".join(f"{n}: {s.describe()}" for n, s in self.inputs.items())
            raise InputNameError(
                f"{self.path.name}: missing inputs {missing}, unexpected inputs {extra}; "
                f"expected {want}"
            )
        for name, spec in self.inputs.items():
            arr = feeds[name]
            if not isinstance(arr, np.ndarray):
                raise InputDTypeError(
                    f"{self.path.name}: input {name!r} must be a numpy array "
                    f"{spec.describe()}, got {type(arr).__name__}"
                )
            if arr.dtype != spec.dtype:
                raise InputDTypeError(
                    f"{self.path.name}: input {name!r} must be {np.dtype(spec.dtype).name}, "
                    f"got {arr.dtype}"
                )
            if arr.ndim != len(spec.shape):
                raise InputShapeError(
                    f"{self.path.name}: input {name!r} must have rank {len(spec.shape)} "
                    f"{spec.describe()}, got shape {arr.shape}"
                )
            for axis, (want_dim, got_dim) in enumerate(zip(spec.shape, arr.shape, strict=True)):
                if isinstance(want_dim, int) and want_dim != got_dim:
                    raise InputShapeError(
                        f"{self.path.name}: input {name!r} axis {axis} must be {want_dim} "
                        f"{spec.describe()}, got shape {arr.shape}"
                    )

    def run(
        self,
        feeds: Mapping[str, npt.NDArray[Any]],
        outputs: Sequence[str] | None = None,
        *,
        check: bool = True,
    ) -> dict[str, npt.NDArray[Any]]:
        """Check the feeds, run the graph, and return outputs by name.

        check=False skips the checks, for feeds the runtime built itself from inputs it has
        already checked (a stream's state between chunks): a few microseconds per call.
        """
        if check:
            self.check(feeds)
        names = list(outputs) if outputs is not None else self.output_names
        results = self.session.run(names, dict(feeds))
        return dict(zip(names, results, strict=True))

    def __repr__(self) -> str:
        ins = ", ".join(f"{n}: {s.describe()}" for n, s in self.inputs.items())
        return f"OnnxModel({self.path.name}: {ins} -> {', '.join(self.output_names)})"
