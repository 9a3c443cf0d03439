"""Export of the shared core (`LSTMDecoder`) in sequence mode and in step mode.

Both graphs take and return the recurrent state explicitly, so a host app can carry it:

    decoder_seq.onnx   x (batch, time, input), h0, c0 (layers, batch, hidden)
                       -> y (batch, time, hidden), h, c
    decoder_step.onnx  x_t (batch, input), h, c -> h_t (batch, hidden), h, c
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from lstm_apps.nn.decoder import LSTMDecoder
from lstm_apps.onnx.export import ParityReport, export_onnx


class _Sequence(nn.Module):
    def __init__(self, decoder: LSTMDecoder) -> None:
        super().__init__()
        self.decoder = decoder

    def forward(self, x: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        y, (h, c) = self.decoder(x, (h, c))
        return y, h, c


class _Step(_Sequence):
    def forward(self, x: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        y, (h, c) = self.decoder.step(x, (h, c))
        return y, h, c


def _inputs(decoder: LSTMDecoder, batch: int, time: int | None) -> tuple[Tensor, ...]:
    cfg = decoder.config
    g = torch.Generator().manual_seed(batch * 1000 + (time or 0))
    shape = (batch, cfg.input_size) if time is None else (batch, time, cfg.input_size)
    state = (cfg.num_layers, batch, cfg.hidden_size)
    return (
        torch.randn(shape, generator=g),
        torch.randn(state, generator=g) * 0.5,
        torch.randn(state, generator=g) * 0.5,
    )


def export_decoder(
    decoder: LSTMDecoder,
    out_dir: str | Path,
    *,
    batches: tuple[int, ...] = (1, 3),
    times: tuple[int, ...] = (1, 7, 50),
) -> dict[str, ParityReport | None]:
    """Write decoder_seq.onnx and decoder_step.onnx into out_dir, each parity-checked."""
    out_dir = Path(out_dir)
    decoder = decoder.eval()
    meta = {"config": decoder.config.to_dict(), "kind": "lstm_decoder"}
    state_axes = {1: "batch"}
    seq = export_onnx(
        _Sequence(decoder),
        _inputs(decoder, 2, 5),
        out_dir / "decoder_seq.onnx",
        input_names=["x", "h0", "c0"],
        output_names=["y", "h", "c"],
        dynamic_axes={
            "x": {0: "batch", 1: "time"},
            "h0": state_axes,
            "c0": state_axes,
            "y": {0: "batch", 1: "time"},
            "h": state_axes,
            "c": state_axes,
        },
        metadata={**meta, "mode": "sequence"},
        parity_inputs=[_inputs(decoder, b, t) for b in batches for t in times],
    )
    step = export_onnx(
        _Step(decoder),
        _inputs(decoder, 2, None),
        out_dir / "decoder_step.onnx",
        input_names=["x_t", "h", "c"],
        output_names=["h_t", "h_out", "c_out"],
        dynamic_axes={
            "x_t": {0: "batch"},
            "h": state_axes,
            "c": state_axes,
            "h_t": {0: "batch"},
            "h_out": state_axes,
            "c_out": state_axes,
        },
        metadata={**meta, "mode": "step"},
        parity_inputs=[_inputs(decoder, b, None) for b in batches],
    )
    return {"decoder_seq.onnx": seq, "decoder_step.onnx": step}
