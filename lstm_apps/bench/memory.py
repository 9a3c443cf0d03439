"""Peak resident memory of the inference API, one child process per model.

    python -m lstm_apps.bench.memory speech MODEL.onnx STREAM.onnx
    python -m lstm_apps.bench.memory caption ENCODER.onnx DECODER.onnx
    python -m lstm_apps.bench.memory baseline

Each child imports the torch-free runtime only, loads one model through the public API,
runs a typical workload (speech: one clip, a batch of 32 clips, a 3 s stream; caption:
one image greedy and beam 3, then a batch of 16 greedy), and prints its peak RSS as JSON,
and whether torch was imported (it must not be). The peak is the kernel's high-water mark
of this process image, VmHWM in /proc/self/status: `getrusage(RUSAGE_SELF).ru_maxrss`
would be wrong here, as Linux carries the parent's peak (a torch process, hundreds of MB)
into it across fork and exec. ru_maxrss is the fallback where /proc is missing.
`baseline` imports the same modules and loads nothing: the difference is what the model
and its sessions cost.

This module imports nothing beyond the runtime at import time: it is the child's code.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

THREADS = 1


def _peak_mb() -> float:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return kb / 1024 if sys.platform != "darwin" else kb / 2**20


def _speech(model: str, stream: str) -> None:
    from lstm_apps.runtime.speech import SpeechClassifier

    clf = SpeechClassifier(model, stream, intra_op_threads=THREADS)
    rng = np.random.default_rng(0)
    clips = (rng.standard_normal((32, clf.clip_samples)) * 0.1).astype(np.float32)
    clf.classify(clips[0], sample_rate=clf.sample_rate)
    clf.classify(list(clips), sample_rate=clf.sample_rate)
    s = clf.stream()
    audio = np.concatenate(list(clips[:3]))
    for i in range(0, len(audio), 1600):
        s.accept(audio[i : i + 1600])
    s.flush()


def _caption(encoder: str, decoder: str) -> None:
    from lstm_apps.runtime.caption import Captioner

    cap = Captioner(encoder, decoder, intra_op_threads=THREADS)
    side = cap.spec.image_size
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (16, side, side, 3), dtype=np.uint8)
    cap.caption(images[0], beam_size=1)
    cap.caption(images[0], beam_size=3)
    cap.caption(list(images), beam_size=1)


def child(argv: list[str]) -> dict[str, Any]:
    # The baseline imports what the others do, onnxruntime included, and loads no model.
    import onnxruntime  # noqa: F401

    import lstm_apps.runtime.caption
    import lstm_apps.runtime.speech  # noqa: F401

    kind = argv[0]
    if kind == "speech":
        _speech(argv[1], argv[2])
    elif kind == "caption":
        _caption(argv[1], argv[2])
    elif kind != "baseline":
        raise SystemExit(f"unknown kind {kind!r}")
    return {"peak_rss_mb": round(_peak_mb(), 1), "torch_imported": "torch" in sys.modules}


def measure_memory(kind: str, *files: Path) -> dict[str, Any]:
    """Run one child (see the module docstring) and return its JSON report."""
    cmd = [sys.executable, "-m", "lstm_apps.bench.memory", kind, *map(str, files)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"memory child {kind} failed: {done.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


if __name__ == "__main__":
    print(json.dumps(child(sys.argv[1:])))
