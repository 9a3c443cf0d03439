"""The arithmetic floor: the bare matrix products of one decoder step and of one 1 s clip,
as numpy GEMM/GEMV calls on the model's own weights, with preallocated outputs.

Nothing else is counted: no activations, no softmax, no framing copies, no Python around
them. A runtime cannot do the same work in less time than these calls take in numpy's
BLAS, so `runtime time / floor` is the overhead factor of a runtime on that work.

The floor runs in a child process (`python -m lstm_apps.bench.floor PLAN.npz THREADS
REPEATS`) whose BLAS is pinned to the benchmark's thread count through
OPENBLAS_NUM_THREADS / OMP_NUM_THREADS, and which imports numpy only.

A plan is a list of products `a @ b`, each done `times` times (e.g. the recurrent GEMV of
an LSTM layer once per frame).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Product:
    name: str  # what it computes, e.g. "lstm0 recurrent"
    a: F32  # left operand (batch dims allowed)
    b: F32  # right operand
    times: int = 1  # how often one step / clip does it

    @property
    def macs(self) -> int:
        out = np.broadcast_shapes(self.a.shape[:-2], self.b.shape[:-2]) if self.a.ndim > 2 else ()
        rows, inner, cols = self.a.shape[-2], self.a.shape[-1], self.b.shape[-1]
        return int(np.prod(out, dtype=np.int64)) * rows * inner * cols * self.times


def _c(x: Any) -> F32:
    return np.ascontiguousarray(np.asarray(x, dtype=np.float32))


def _rand(rng: np.random.Generator, *shape: int) -> F32:
    return rng.standard_normal(shape).astype(np.float32)


def lstm_products(rnn: Any, frames: int, batch: int, prefix: str) -> list[Product]:
    """The GEMMs of a torch nn.LSTM/GRU over `frames` steps: one input projection per layer
    for all frames, then one recurrent GEMV (GEMM at batch > 1) per frame."""
    rng = np.random.default_rng(0)
    out = []
    for layer in range(rnn.num_layers):
        w_ih = _c(getattr(rnn, f"weight_ih_l{layer}").detach().numpy().T)  # (in, G*H)
        w_hh = _c(getattr(rnn, f"weight_hh_l{layer}").detach().numpy().T)  # (H, G*H)
        x = _rand(rng, batch * frames, w_ih.shape[0])
        h = _rand(rng, batch, w_hh.shape[0])
        out.append(Product(f"{prefix}{layer} input", x, w_ih))
        out.append(Product(f"{prefix}{layer} recurrent", h, w_hh, times=frames))
    return out


def step_products(model: Any, batch: int) -> list[Product]:
    """One decoder step of a CaptionModel at `batch` images."""
    d = model.decoder
    cfg = model.config
    rng = np.random.default_rng(0)
    w = lambda lin: _c(lin.weight.detach().numpy().T)  # (in, out)
    k, dim, hid = cfg.num_cells, cfg.feature_dim, cfg.hidden_size
    feats = _rand(rng, batch, k, dim)
    return [
        Product("attention features", feats.reshape(batch * k, dim), w(d.att_feat)),
        Product("attention hidden", _rand(rng, batch, hid), w(d.att_hidden)),
        Product("attention score", _rand(rng, batch * k, cfg.attention_dim), w(d.att_score)),
        Product("context", _rand(rng, batch, 1, k), feats),
        Product("gate f_beta", _rand(rng, batch, hid), w(d.f_beta)),
        *lstm_products(d.rnn.rnn, frames=1, batch=batch, prefix="lstm"),
        Product("output", _rand(rng, batch, d.out.in_features), w(d.out)),
    ]


def clip_products(net: Any, batch: int = 1) -> list[Product]:
    """One clip of a SpeechClassifierNet at `batch` clips: frontend, LSTM layers, head
    (read at the last frame only)."""
    cfg = net.config
    frames = cfg.clip_samples // cfg.frontend.hop
    rng = np.random.default_rng(0)
    out = frontend_products(net.frontend, batch * frames)
    if cfg.frontend.norm == "pcen":  # the smoother: a (T, T) matrix over every clip's bands
        n = cfg.frontend.n_mels
        out.append(Product("frontend PCEN smoother", _rand(rng, frames, frames),
                           _rand(rng, frames, batch * n)))  # fmt: skip
    out += lstm_products(net.decoder.rnn, frames, batch, prefix="lstm")
    head = _c(net.head.weight.detach().numpy().T)
    out.append(Product("head", _rand(rng, batch, head.shape[0]), head))
    return out


def frontend_products(logmel: Any, frames: int) -> list[Product]:
    """The log-mel frontend's products for `frames` frames (all clips of the batch): the
    factored DFT's two stages and the mel matrix, or the direct DFT and the mel matrix."""
    rng = np.random.default_rng(0)
    buf = lambda name: _c(getattr(logmel, name).numpy())
    if not logmel.factored:
        dft = _c(logmel.dft.squeeze(1).numpy().T)  # (n_fft, 2 * bins)
        mel = buf("mel_fb")  # (bins, n_mels)
        return [
            Product("frontend DFT", _rand(rng, frames, dft.shape[0]), dft),
            Product("frontend mel", _rand(rng, frames, mel.shape[0]), mel),
        ]
    n1, n2 = logmel.split[:2]
    y = _rand(rng, n2, frames, 2 * n1)
    mel = buf("mel_split")  # (N2 * K1, n_mels)
    return [
        Product("frontend DFT stage 1 (re)", buf("stage1_re"), _rand(rng, n2, frames * n1)),
        Product("frontend DFT stage 1 (im)", buf("stage1_im"), _rand(rng, n2, frames * n1)),
        Product("frontend DFT stage 2 (re)", y, buf("mel_re")),
        Product("frontend DFT stage 2 (im)", y, buf("mel_im")),
        Product("frontend mel", _rand(rng, frames, mel.shape[0]), mel),
    ]


def save_plan(products: list[Product], path: Path) -> Path:
    arrays: dict[str, F32] = {}
    for i, p in enumerate(products):
        arrays[f"a{i}"], arrays[f"b{i}"] = p.a, p.b
    meta = [{"name": p.name, "times": p.times, "macs": p.macs} for p in products]
    np.savez(path, meta=np.array(json.dumps(meta)), **arrays)  # type: ignore[arg-type]
    return path


def measure_floor(
    products: list[Product], path: Path, threads: int, repeats: int, warmup: int
) -> dict[str, Any]:
    """Time the plan in a child process with BLAS pinned to `threads`; returns its Timing
    dict plus the multiply-accumulates per call."""
    save_plan(products, path)
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    cmd = [sys.executable, "-m", "lstm_apps.bench.floor", str(path), str(repeats), str(warmup)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"floor child failed: {done.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["macs"] = sum(p.macs for p in products)
    return result


def _child(path: str, repeats: int, warmup: int) -> None:
    from lstm_apps.bench.timing import BenchSettings, measure

    data = np.load(path)
    meta = json.loads(str(data["meta"]))
    ops = []
    for i, m in enumerate(meta):
        a, b = data[f"a{i}"], data[f"b{i}"]
        out = np.matmul(a, b)  # the output buffer, reused by every call
        ops.append((a, b, out, int(m["times"])))

    def run() -> None:
        for a, b, out, times in ops:
            for _ in range(times):
                np.matmul(a, b, out=out)

    settings = BenchSettings(repeats=repeats, warmup=warmup, block_seconds=0.05 if repeats > 1
                             else 0.0)  # fmt: skip
    print(json.dumps(measure(run, settings).to_dict()))


if __name__ == "__main__":
    _child(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
