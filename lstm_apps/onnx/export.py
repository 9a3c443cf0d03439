"""The one export helper every model uses, and the parity check that follows it.

    export_onnx(module, example_args, "model.onnx", input_names=[...], output_names=[...],
                dynamic_axes={...}, metadata={"config": cfg.to_dict()},
                parity_inputs=[args_b1, args_b3])

Export goes through the legacy TorchScript exporter (`dynamo=False`): on torch 2.9 it
exports nn.LSTM with dynamic batch and time in seconds, while the dynamo exporter took
minutes and can freeze the time axis. The file is written atomically (temporary file,
then rename), is self-contained (`external_data=False`), carries every metadata value as
a JSON string in `metadata_props`, and is checked against torch in onnxruntime before it
is put in place: a file that fails parity never appears at `path`.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import Tensor, nn

from lstm_apps.runtime.errors import ParityError
from lstm_apps.runtime.files import atomic_file

DEFAULT_OPSET = 17
PRODUCER = "lstm-apps"


@dataclass(frozen=True)
class ParityReport:
    """Largest absolute difference per output name over every input set checked."""

    max_abs_diff: dict[str, float]
    n_cases: int

    def __str__(self) -> str:
        diffs = ", ".join(f"{k} {v:.2e}" for k, v in self.max_abs_diff.items())
        return f"parity over {self.n_cases} input sets: max |torch - onnxruntime| {diffs}"


def _flatten(x: Any) -> list[Tensor]:
    if isinstance(x, Tensor):
        return [x]
    if isinstance(x, (tuple, list)):
        return [t for item in x for t in _flatten(item)]
    raise TypeError(f"model outputs must be tensors or (nested) tuples of them, got {type(x)}")


def _to_numpy(t: Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def add_metadata(model: onnx.ModelProto, metadata: Mapping[str, Any]) -> None:
    """Write each value as a JSON string into `metadata_props` (replacing equal keys)."""
    existing = {p.key: p for p in model.metadata_props}
    for key, value in metadata.items():
        text = json.dumps(value, sort_keys=True)
        if key in existing:
            existing[key].value = text
        else:
            model.metadata_props.add(key=key, value=text)


def export_onnx(
    module: nn.Module,
    example_args: tuple[Tensor, ...],
    path: str | os.PathLike[str],
    *,
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_axes: Mapping[str, Mapping[int, str]] | None = None,
    metadata: Mapping[str, Any] | None = None,
    opset: int = DEFAULT_OPSET,
    parity_inputs: Iterable[tuple[Tensor, ...]] | None = None,
    atol: float = 1e-4,
    rtol: float = 1e-4,
    exact_outputs: Sequence[str] = (),
) -> ParityReport | None:
    """Export `module(*example_args)` to `path`, add metadata, check parity, then publish.

    parity_inputs : input tuples (several batch sizes and lengths) run through torch and
        onnxruntime; outputs must agree within atol + rtol * |torch|, and outputs named in
        `exact_outputs` (token ids, labels) must be identical. Raises ParityError.
    """
    if opset < 17:
        raise ValueError(f"opset must be >= 17, got {opset}")
    if len(input_names) != len(example_args):
        raise ValueError(f"{len(input_names)} input names for {len(example_args)} example inputs")
    with atomic_file(path) as tmp:
        module.eval()
        with torch.no_grad(), warnings.catch_warnings():
            # The exporter warns about LSTM batch sizes unless state is an input; every
            # graph here takes its state as an input, and parity checks several batches.
            warnings.filterwarnings("ignore", message=".*batch_size other than 1.*")
            # nn.LSTM's own shape checks trace as constants; parity below proves the
            # graph generalises over batch and time.
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.onnx.*")
            # The legacy exporter is chosen on purpose (see the module docstring).
            warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
            torch.onnx.export(
                module,
                example_args,
                str(tmp),
                input_names=list(input_names),
                output_names=list(output_names),
                dynamic_axes={k: dict(v) for k, v in (dynamic_axes or {}).items()},
                opset_version=opset,
                dynamo=False,
                external_data=False,
                do_constant_folding=True,
            )
        proto = onnx.load(str(tmp))
        proto.producer_name = PRODUCER
        with torch.no_grad():
            example_out = [_to_numpy(t) for t in _flatten(module(*example_args))]
        _fix_static_dims(proto, dict(zip(output_names, example_out, strict=True)), dynamic_axes)
        add_metadata(proto, {"input_names": list(input_names), **(metadata or {})})
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
        report = None
        if parity_inputs is not None:
            report = check_parity(
                module, tmp, parity_inputs, input_names=input_names,
                output_names=output_names, atol=atol, rtol=rtol, exact_outputs=exact_outputs,
            )  # fmt: skip
    return report


def _fix_static_dims(
    proto: onnx.ModelProto,
    outputs: Mapping[str, np.ndarray],
    dynamic_axes: Mapping[str, Mapping[int, str]] | None,
) -> None:
    """Write fixed output sizes where the exporter left invented names ("Addfeatures_dim_1").

    Every output axis not declared dynamic has the size of the example run; other runtimes
    read these shapes from the file, so they must say [batch, 64, 128], not guesses.
    """
    for value in proto.graph.output:
        if value.name not in outputs:
            continue
        dynamic = (dynamic_axes or {}).get(value.name, {})
        dims = value.type.tensor_type.shape.dim
        for axis, size in enumerate(outputs[value.name].shape):
            if axis < len(dims) and axis not in dynamic:
                dims[axis].Clear()
                dims[axis].dim_value = size
            elif axis < len(dims):
                dims[axis].dim_param = dynamic[axis]


def check_parity(
    module: nn.Module,
    onnx_path: str | os.PathLike[str],
    parity_inputs: Iterable[tuple[Tensor, ...]],
    *,
    input_names: Sequence[str],
    output_names: Sequence[str],
    atol: float = 1e-4,
    rtol: float = 1e-4,
    exact_outputs: Sequence[str] = (),
) -> ParityReport:
    """Run torch and onnxruntime on the same inputs; raise ParityError when they differ."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    worst = dict.fromkeys(output_names, 0.0)
    n = 0
    module.eval()
    for args in parity_inputs:
        n += 1
        with torch.no_grad():
            expected = [_to_numpy(t) for t in _flatten(module(*args))]
        feeds = {name: _to_numpy(a) for name, a in zip(input_names, args, strict=True)}
        got = sess.run(list(output_names), feeds)
        shapes = ", ".join(f"{k}{tuple(v.shape)}" for k, v in feeds.items())
        for name, e, g in zip(output_names, expected, got, strict=True):
            if e.shape != g.shape:
                raise ParityError(
                    f"{Path(onnx_path).name}: output {name!r} has shape {g.shape} in "
                    f"onnxruntime but {e.shape} in torch (inputs {shapes})"
                )
            if name in exact_outputs or not np.issubdtype(e.dtype, np.floating):
                if not np.array_equal(e, g):
                    raise ParityError(
                        f"{Path(onnx_path).name}: output {name!r} differs between torch "
                        f"and onnxruntime at {int((e != g).sum())} places (inputs {shapes})"
                    )
                continue
            diff = np.abs(e.astype(np.float64) - g)
            worst[name] = max(worst[name], float(diff.max(initial=0.0)))
            bad = diff > atol + rtol * np.abs(e)
            if bad.any():
                raise ParityError(
                    f"{Path(onnx_path).name}: output {name!r} differs from torch by up to "
                    f"{diff.max():.3e} (tolerance {atol:g} + {rtol:g}*|x|) at "
                    f"{int(bad.sum())} of {bad.size} values (inputs {shapes})"
                )
    if n == 0:
        raise ValueError("parity_inputs is empty: give at least one input set")
    return ParityReport(worst, n)
