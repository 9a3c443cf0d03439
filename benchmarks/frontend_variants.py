"""Two rewrites of the log-mel frontend graph, timed against the shipped one in onnxruntime.

    python benchmarks/frontend_variants.py

The shipped frontend (lstm_apps/nn/frontend.py) concatenates re and im side by side before
stage 2, and transposes the power spectrum before the mel GEMM. The variants compute the
same features without those copies:
- "one-gemm": stage 1 as one [re; im] GEMM, stage 2 as a broadcast MatMul over (re/im, k2)
  and a ReduceSum, the mel as a per-k2 MatMul and a ReduceSum;
- "split": re and im kept apart through stage 2 (Yr @ A + Yi @ B with [re | im] columns),
  the mel matrix doubled for the squared [re | im].
Results: benchmarks/notes.md (session 8). Neither was adopted.
"""

from __future__ import annotations

import time
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
import onnxruntime as ort
import torch
from torch import Tensor, nn

from lstm_apps.nn.frontend import FrontendConfig, LogMel


def _windowed(lm: LogMel, x: Tensor) -> Tensor:
    """The shipped graph's stage-1 input: (N2, B*T*N1), windowed frames."""
    n1, n2 = lm.split[:2]
    hop, r = lm.config.hop, lm.config.n_fft // lm.config.hop
    blocks = x[:, : x.shape[1] // hop * hop].reshape(x.shape[0], -1, hop)
    frames = torch.cat([blocks[:, j : (j - r + 1) or None] for j in range(r)], dim=2)
    return (frames.reshape(-1, n2, n1) * lm.window).transpose(0, 1).reshape(n2, -1)


class Shipped(nn.Module):
    def __init__(self, lm: LogMel) -> None:
        super().__init__()
        self.lm = lm

    def forward(self, x: Tensor) -> Tensor:
        return self.lm.frames(x)


class OneGemm(nn.Module):
    def __init__(self, lm: LogMel) -> None:
        super().__init__()
        self.lm = lm
        n1, n2, _, k1m = lm.split
        self.register_buffer("s1", torch.cat([lm.stage1_re, lm.stage1_im], 0))
        re, im = lm.mel_re, lm.mel_im  # (N2, 2 N1, K1): rows < N1 weigh Yr, the rest Yi
        t_r = torch.cat([re[:, :n1], im[:, :n1]], 2)
        t_i = torch.cat([re[:, n1:], im[:, n1:]], 2)
        self.register_buffer("t2", torch.stack([t_r, t_i]))  # (2, N2, N1, 2 K1)
        mel = lm.mel_split.reshape(n2, k1m, -1)
        self.register_buffer("melw", torch.cat([mel, mel], 1))  # (N2, 2 K1, n_mels)

    def forward(self, x: Tensor) -> Tensor:
        lm = self.lm
        n1, n2 = lm.split[:2]
        y = (self.s1 @ _windowed(lm, x)).reshape(2, n2, -1, n1)
        z = (y @ self.t2).sum(0)  # (N2, B*T, 2 K1): [re | im]
        mel = ((z * z) @ self.melw).sum(0)
        return torch.log(mel.reshape(x.shape[0], -1, lm.config.n_mels) + lm.config.log_floor)


class Split(nn.Module):
    def __init__(self, lm: LogMel) -> None:
        super().__init__()
        self.lm = lm
        n1, n2, _, k1m = lm.split
        re, im = lm.mel_re, lm.mel_im
        self.register_buffer("ta", torch.cat([re[:, :n1], im[:, :n1]], 2))  # (N2, N1, 2 K1)
        self.register_buffer("tb", torch.cat([re[:, n1:], im[:, n1:]], 2))
        mel = lm.mel_split.reshape(n2, k1m, -1)
        self.register_buffer("melf", torch.cat([mel, mel], 1).reshape(-1, mel.shape[-1]))

    def forward(self, x: Tensor) -> Tensor:
        lm = self.lm
        n1, n2 = lm.split[:2]
        f = _windowed(lm, x)
        yr = (lm.stage1_re @ f).reshape(n2, -1, n1)
        yi = (lm.stage1_im @ f).reshape(n2, -1, n1)
        z = yr @ self.ta + yi @ self.tb  # (N2, B*T, 2 K1)
        mel = (z * z).transpose(0, 1).reshape(-1, self.melf.shape[0]) @ self.melf
        return torch.log(mel.reshape(x.shape[0], -1, lm.config.n_mels) + lm.config.log_floor)


def _session(module: nn.Module, path: Path, context: int) -> ort.InferenceSession:
    x = torch.zeros(2, 16000 + context)
    torch.onnx.export(
        module, (x,), str(path), input_names=["x"], output_names=["y"], opset_version=17,
        dynamic_axes={"x": {0: "b", 1: "s"}, "y": {0: "b", 1: "t"}}, dynamo=False,
    )  # fmt: skip
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def main() -> None:
    torch.set_num_threads(1)
    cfg = FrontendConfig()
    lm = LogMel(cfg)
    with TemporaryDirectory() as tmp:
        sessions = {
            name: _session(cls(lm), Path(tmp) / f"{name}.onnx", cfg.context)
            for name, cls in (("shipped", Shipped), ("one-gemm", OneGemm), ("split", Split))
        }
        for batch in (1, 32):
            rng = np.random.default_rng(0)
            x = (rng.standard_normal((batch, 16000 + cfg.context)) * 0.1).astype(np.float32)
            ref = sessions["shipped"].run(None, {"x": x})[0]
            times: dict[str, list[float]] = {name: [] for name in sessions}
            n = 200 if batch == 1 else 20
            for _ in range(7):  # interleaved rounds: a load change hits every variant
                for name, s in sessions.items():
                    start = time.perf_counter()
                    for _ in range(n):
                        out = s.run(None, {"x": x})[0]
                    times[name].append((time.perf_counter() - start) / n * 1000)
                    assert np.abs(out - ref).max() < 1e-5, name
            base = float(np.median(times["shipped"]))
            for name, t in times.items():
                m = float(np.median(t))
                print(f"batch {batch:2d} {name:9s} {m:7.3f} ms  shipped / this {base / m:.2f}x")


if __name__ == "__main__":
    main()
