"""One decoder step, caption format 1 (keys computed per step) against format 2 (keys in).

    mkdir -p /tmp/cap-before && git archive ac1118a export/caption | tar -x -C /tmp/cap-before
    python benchmarks/caption_keys.py /tmp/cap-before/export/caption export/caption

Both decoder.onnx files run in one process, interleaved block by block, one thread each,
on their own encoder's outputs for the same random 128 px images and `<start>` tokens.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import onnxruntime as ort


def _session(path: str) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def main() -> None:
    old_dir, new_dir = sys.argv[1], sys.argv[2]
    old, new = _session(f"{old_dir}/decoder.onnx"), _session(f"{new_dir}/decoder.onnx")
    old_enc, new_enc = _session(f"{old_dir}/encoder.onnx"), _session(f"{new_dir}/encoder.onnx")
    rng = np.random.default_rng(0)
    print("| batch | format 1 (ms) | format 2 (ms) | speed-up | max abs logprob diff |")
    print("|---|---|---|---|---|")
    for b in (1, 16, 48):
        img = rng.integers(0, 256, (b, 128, 128, 3), dtype=np.uint8)
        f, h, c = old_enc.run(["features", "h0", "c0"], {"images": img})
        f2, k, h2, c2 = new_enc.run(["features", "keys", "h0", "c0"], {"images": img})
        tok = np.full(b, 1, np.int64)
        feeds_old = {"tokens": tok, "h": h, "c": c, "features": f}
        feeds_new = {"tokens": tok, "h": h2, "c": c2, "features": f2, "keys": k}
        diff = np.abs(old.run(["logprobs"], feeds_old)[0] - new.run(["logprobs"], feeds_new)[0])
        times: tuple[list[float], list[float]] = ([], [])
        for _ in range(40):
            for sess, feeds, out in ((old, feeds_old, times[0]), (new, feeds_new, times[1])):
                t = time.perf_counter()
                for _ in range(20):
                    sess.run(None, feeds)
                out.append((time.perf_counter() - t) / 20 * 1e3)
        t_old, t_new = float(np.median(times[0])), float(np.median(times[1]))
        print(f"| {b} | {t_old:.3f} | {t_new:.3f} | {t_old / t_new:.2f}x | {diff.max():.1e} |")


if __name__ == "__main__":
    main()
