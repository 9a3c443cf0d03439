"""Smoke check of the shared core: build it, export it, run it in onnxruntime, compare.

lstm-apps smoke --out out/smoke
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

from lstm_apps.nn.decoder import DecoderConfig, LSTMDecoder
from lstm_apps.onnx.core import export_decoder
from lstm_apps.runtime.session import OnnxModel


def run_core_smoke(out_dir: str | Path | None = None, *, seed: int = 0) -> None:
    """Print parity of the core (gate equations, torch, onnxruntime) for LSTM and GRU."""
    torch.manual_seed(seed)
    base = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="lstm-smoke-"))
    print(f"shared core smoke check -> {base}")
    for cell in ("lstm", "gru"):
        cfg = DecoderConfig(input_size=16, hidden_size=32, num_layers=2, cell=cell)
        dec = LSTMDecoder(cfg).eval()
        x = torch.randn(3, 20, cfg.input_size)
        with torch.no_grad():
            y, _ = dec(x)
            twin = dec.gate_module()
            y_gates = twin(x)[0]
        reports = export_decoder(dec, base / cell)
        seq = OnnxModel(base / cell / "decoder_seq.onnx", intra_op_threads=1)
        h0 = np.zeros((cfg.num_layers, 3, cfg.hidden_size), np.float32)
        y_ort = seq.run({"x": x.numpy(), "h0": h0, "c0": h0})["y"]
        print(f"  {cell.upper():4s} {cfg.num_layers} layers, hidden {cfg.hidden_size}:")
        print(f"    gate equations vs torch   max |diff| {(y - y_gates).abs().max():.1e}")
        print(f"    onnxruntime vs torch      max |diff| {np.abs(y.numpy() - y_ort).max():.1e}")
        for name, rep in reports.items():
            print(f"    {name:18s} {rep}")
    print("ok: torch, the gate equations and onnxruntime agree")
