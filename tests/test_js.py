"""The JavaScript port (samples/js): its own tests in Node (`node --test`, the golden vectors
in onnxruntime-node and onnxruntime-web's wasm backend), and its answers on every sample
input against the Python runtime's. Node and `npm ci --ignore-scripts` in samples/js are
part of `make install`; without them these tests fail, they do not skip."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lstm_apps.runtime.audio import load_audio
from lstm_apps.runtime.caption import Captioner
from lstm_apps.runtime.speech import SpeechClassifier

ROOT = Path(__file__).resolve().parents[1]
JS = ROOT / "samples" / "js"
IMAGES, SPEECH = ROOT / "samples" / "images", ROOT / "samples" / "speech"


def node() -> str:
    exe = shutil.which("node")
    if exe is None:
        pytest.fail("node is not installed (Node >= 20; `make install` expects it)")
    if not (JS / "node_modules" / "onnxruntime-web").is_dir():
        pytest.fail("no samples/js/node_modules: run `npm ci --ignore-scripts` in samples/js")
    return exe


def run_node(*args: str, timeout: float = 300) -> str:
    out = subprocess.run([node(), *args], cwd=ROOT, capture_output=True, text=True,
                         timeout=timeout)  # fmt: skip
    assert out.returncode == 0, f"node {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_node_test_suite_passes() -> None:
    files = sorted(str(p.relative_to(ROOT)) for p in (JS / "test").glob("*.test.js"))
    assert len(files) >= 3, files
    out = run_node("--test", *files)
    counts = dict(re.findall(r"^# (pass|fail|skipped|todo|cancelled) (\d+)$", out, re.M))
    assert counts.get("fail") == "0" and counts.get("skipped") == "0", out[-2000:]
    assert int(counts["pass"]) >= 40, counts  # every backend's golden checks ran
    for line in re.findall(r"^# .*max \|diff\|.*$", out, re.M):
        print(line)  # the figures export/README.md's "Runtimes tested" quotes (pytest -s)


@pytest.mark.parametrize("beam, penalty", [(1, 0.0), (3, 0.0), (5, 1.0)])
def test_js_captions_equal_the_python_runtime(beam: int, penalty: float) -> None:
    pngs = sorted(IMAGES.glob("*.png"))  # JPEG: no decoder in Node (samples/js/README.md)
    got = json_lines(run_node("samples/js/examples/caption.js", *map(str, pngs),
                              "--beam", str(beam), "--length-penalty", str(penalty)))  # fmt: skip
    want = Captioner.from_dir(ROOT / "export" / "caption").caption(
        pngs, beam_size=beam, length_penalty=penalty
    )
    assert len(got) == len(pngs) == len(want) >= 5
    for g, w in zip(got, want, strict=True):
        assert g["text"] == w.text and g["finished"] == w.finished, g["file"]
        assert abs(g["score"] - w.score) <= 1e-4, (g, w.score)


def test_js_labels_and_detections_equal_the_python_runtime() -> None:
    clf = SpeechClassifier.from_dir(ROOT / "export" / "speech")
    wavs = sorted(SPEECH.glob("*.wav"))  # the 1 s clips and the 14 s stream (53 windows)
    got = json_lines(run_node("samples/js/examples/speech.js", "classify", *map(str, wavs)))
    want = clf.classify(wavs)
    assert len(got) == len(wavs) == len(want) >= 7
    for g, w in zip(got, want, strict=True):
        assert (g["label"], g["windows"]) == (w.label, w.windows), g["file"]
        assert abs(g["score"] - w.score) <= 1e-4, (g, w.score)
    stream = SPEECH / "stream.wav"
    got = json_lines(run_node("samples/js/examples/speech.js", "stream", str(stream)))
    found = list(clf.stream().feed(load_audio(stream, target_rate=16000), 1600))
    assert len(found) >= 3
    assert [(d["label"], round(d["time"], 6)) for d in got] == [
        (d.label, round(d.time, 6)) for d in found
    ]
    np.testing.assert_allclose([d["score"] for d in got], [d.score for d in found], atol=1e-4)
