"""Largest differences from the golden vectors (BUNDLE/golden/) per Python runtime: the
figures of export/README.md's "Runtimes tested" golden table (the JavaScript ones come from
`node --test samples/js/test/*.test.js`, which prints them).

    python benchmarks/golden_runtimes.py

The same runs as tests/test_golden.py: model.onnx on clip_waveform, stream.onnx from the
zero state in 1600-sample chunks (c clipped to +-100), encoder.onnx on png_pixels, one
decoder.onnx step from h0/c0, greedy.onnx's tokens; onnxruntime, onnx's
ReferenceEvaluator and tract.
"""

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import test_golden as tg  # noqa: E402
import test_portability as tp  # noqa: E402

from lstm_apps.runtime.manifest import read_config  # noqa: E402


def d(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def main():
    runtimes = {"onnxruntime": tp.onnxruntime, **tp.RUNTIMES}
    _, s = tg._load(tg.SPEECH)
    _, c = tg._load(tg.CAPTION)
    for name, make in runtimes.items():
        out = {}
        x = s["clip_waveform"].copy()
        out["model_logits"] = d(make(tg.SPEECH / "model.onnx")({"waveform": x})["logits"],
                                s["model_logits"])  # fmt: skip
        stream = make(tg.SPEECH / "stream.onnx")
        info = read_config(tg.SPEECH)["stream"]
        h = np.zeros((info["num_layers"], 1, info["hidden_size"]), np.float32)
        cc, ctx, frames = h.copy(), np.zeros((1, info["context"]), np.float32), []
        audio = s["stream_waveform"]
        for i in range(0, len(audio), 1600):
            feeds = {"chunk": audio[None, i : i + 1600].copy(), "context": ctx, "h": h, "c": cc}
            o = stream(feeds)
            h, cc, ctx = o["h_out"], np.clip(o["c_out"], -100, 100), o["context_out"]
            frames.append(o["logits"][0])
        out["stream_logits"] = d(np.concatenate(frames), s["stream_logits"])
        out["stream_h"], out["stream_c"] = d(h, s["stream_h"]), d(cc, s["stream_c"])
        enc = make(tg.CAPTION / "encoder.onnx")({"images": c["png_pixels"][None].copy()})
        for k in ("features", "keys", "h0", "c0"):
            out[f"encoder_{k}"] = d(enc[k], c[f"encoder_{k}"])
        feeds = {"tokens": np.array([1], np.int64), "h": c["encoder_h0"].copy(),
                 "c": c["encoder_c0"].copy(), "features": c["encoder_features"].copy(),
                 "keys": c["encoder_keys"].copy()}  # fmt: skip
        step = make(tg.CAPTION / "decoder.onnx")(feeds)
        for k in ("logprobs", "alpha", "h_out", "c_out"):
            out[f"decoder_{k}"] = d(step[k], c[f"decoder_{k}"])
        if name != "tract":  # tract has no Loop (export/README.md)
            g = make(tg.CAPTION / "greedy.onnx")({"images": c["png_pixels"][None].copy()})
            out["greedy_tokens_equal"] = bool(np.array_equal(g["tokens"], c["greedy_tokens"]))
        print(name, " ".join(f"{k}={v:.2g}" if isinstance(v, float) else f"{k}={v}"
                             for k, v in out.items()))  # fmt: skip


if __name__ == "__main__":
    main()
