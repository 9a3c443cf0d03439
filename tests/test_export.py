"""The export helper: metadata, atomic publish, parity in onnxruntime, failures that raise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from torch import Tensor, nn

from lstm_apps.nn.decoder import DecoderConfig, LSTMDecoder
from lstm_apps.onnx.core import export_decoder
from lstm_apps.onnx.export import export_onnx
from lstm_apps.runtime import OnnxModel, ParityError


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_decoder_sequence_and_step_parity(tmp_path: Path, cell: str) -> None:
    cfg = DecoderConfig(6, 10, num_layers=2, cell=cell)  # type: ignore[arg-type]
    dec = LSTMDecoder(cfg).eval()
    reports = export_decoder(dec, tmp_path, batches=(1, 3), times=(1, 7, 50))
    seq, step = reports["decoder_seq.onnx"], reports["decoder_step.onnx"]
    assert seq is not None and seq.n_cases == 6 and max(seq.max_abs_diff.values()) < 1e-5
    assert step is not None and step.n_cases == 2

    # Independently of the helper: run the files and compare with torch ourselves.
    m_seq = OnnxModel(tmp_path / "decoder_seq.onnx", intra_op_threads=1)
    m_step = OnnxModel(tmp_path / "decoder_step.onnx", intra_op_threads=1)
    assert m_seq.metadata["config"] == cfg.to_dict() and m_seq.metadata["mode"] == "sequence"
    for batch in (1, 3):
        for time in (1, 7, 50):
            x = torch.randn(batch, time, 6)
            s = (torch.randn(2, batch, 10), torch.randn(2, batch, 10))
            with torch.no_grad():
                y, (h, c) = dec(x, s)
            out = m_seq.run({"x": x.numpy(), "h0": s[0].numpy(), "c0": s[1].numpy()})
            np.testing.assert_allclose(out["y"], y.numpy(), atol=1e-5)
            np.testing.assert_allclose(out["c"], c.numpy(), atol=1e-5)
            # Step mode, fed one step at a time, walks the same trajectory.
            hs, cs = s[0].numpy(), s[1].numpy()
            for t in range(time):
                o = m_step.run({"x_t": x[:, t].numpy(), "h": hs, "c": cs})
                hs, cs = o["h_out"], o["c_out"]
            np.testing.assert_allclose(o["h_t"], y[:, -1].numpy(), atol=1e-5)
            np.testing.assert_allclose(hs, h.numpy(), atol=1e-5)


class _Wobbly(nn.Module):
    """Exports one graph but computes something else in eager mode afterwards."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 3)
        self.exported = False

    def forward(self, x: Tensor) -> Tensor:
        y = self.lin(x)
        return y + 1.0 if torch.jit.is_tracing() or not self.exported else y


def test_parity_failure_raises_and_leaves_no_file(tmp_path: Path) -> None:
    m = _Wobbly()
    m.exported = True  # eager path now differs from what tracing records
    out = tmp_path / "bad.onnx"
    with pytest.raises(ParityError, match=r"output 'y' differs"):
        export_onnx(
            m, (torch.randn(2, 4),), out, input_names=["x"], output_names=["y"],
            dynamic_axes={"x": {0: "batch"}}, parity_inputs=[(torch.randn(3, 4),)],
        )  # fmt: skip
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind either


def test_metadata_and_dynamic_axes(tmp_path: Path) -> None:
    lin = nn.Linear(4, 2)
    out = tmp_path / "lin.onnx"
    rep = export_onnx(
        lin, (torch.randn(2, 4),), out, input_names=["x"], output_names=["y"],
        dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
        metadata={"config": {"a": 1, "labels": ["yes", "no"]}, "note": "hi"},
        parity_inputs=[(torch.randn(b, 4),) for b in (1, 5)],
    )  # fmt: skip
    assert rep is not None and rep.n_cases == 2
    proto = onnx.load(str(out))
    assert proto.opset_import[0].version >= 17
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer)
    m = OnnxModel(out)
    assert m.metadata["config"] == {"a": 1, "labels": ["yes", "no"]}
    assert m.metadata["note"] == "hi" and m.metadata["input_names"] == ["x"]
    assert m.inputs["x"].shape[0] == "batch" and m.inputs["x"].shape[1] == 4


def test_export_rejects_old_opset_and_name_mismatch(tmp_path: Path) -> None:
    lin = nn.Linear(4, 2)
    with pytest.raises(ValueError, match="opset"):
        export_onnx(lin, (torch.randn(1, 4),), tmp_path / "a.onnx", input_names=["x"],
                    output_names=["y"], opset=13)  # fmt: skip
    with pytest.raises(ValueError, match="2 input names for 1"):
        export_onnx(lin, (torch.randn(1, 4),), tmp_path / "a.onnx", input_names=["x", "z"],
                    output_names=["y"])  # fmt: skip
