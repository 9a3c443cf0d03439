"""The golden vectors in every shipped bundle (BUNDLE/golden/), checked the way a port would
check itself: decode the raw inputs, run every graph, compare within the manifest's
tolerances; in onnxruntime, onnx's ReferenceEvaluator and tract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_portability import RUNTIMES, onnxruntime

from lstm_apps.runtime.audio import fit_length, load_audio
from lstm_apps.runtime.caption import Captioner
from lstm_apps.runtime.image import load_image
from lstm_apps.runtime.manifest import read_config
from lstm_apps.runtime.speech import SpeechClassifier

ROOT = Path(__file__).resolve().parents[1]
SPEECH, CAPTION = ROOT / "export" / "speech", ROOT / "export" / "caption"
DTYPES = {"float32": np.float32, "uint8": np.uint8, "int64": np.int64}


def _load(bundle: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    man = json.loads((bundle / "golden" / "manifest.json").read_text())
    arrays = {}
    for name, f in man["files"].items():
        if "dtype" in f:
            raw = (bundle / "golden" / name).read_bytes()
            dtype = np.dtype(DTYPES[f["dtype"]]).newbyteorder("<")
            arrays[name.rsplit(".", 1)[0]] = np.frombuffer(raw, dtype).reshape(f["shape"])
    return man, arrays


def _tol(man: dict[str, Any], name: str) -> dict[str, float]:
    (f,) = [v for k, v in man["files"].items() if k.rsplit(".", 1)[0] == name]
    return {"rtol": 0.0, **f["tolerance"]}


@pytest.mark.parametrize("bundle", [SPEECH, CAPTION], ids=["speech", "caption"])
def test_golden_files_are_listed_sealed_and_small(bundle: Path) -> None:
    man, arrays = _load(bundle)
    folder = bundle / "golden"
    on_disk = {p.name for p in folder.iterdir()}
    assert on_disk == {*man["files"], "manifest.json"}
    listed = read_config(bundle)["files"]
    assert all(f"golden/{name}" in listed for name in on_disk)  # config.json seals them
    assert sum((folder / n).stat().st_size for n in on_disk) < 600_000
    assert all(f["what"] for f in man["files"].values()) and man["format"] == 1
    for name, f in man["files"].items():
        if "dtype" in f:
            assert arrays[name.rsplit(".", 1)[0]].size == np.prod(f["shape"])


def test_speech_golden_in_onnxruntime() -> None:
    man, g = _load(SPEECH)
    rate = 16000
    x = fit_length(load_audio(SPEECH / "golden" / "clip.wav", target_rate=rate), rate)[None]
    np.testing.assert_array_equal(x, g["clip_waveform"])  # int16 / 32768, as documented
    audio = load_audio(SPEECH / "golden" / "stream.wav", target_rate=rate)
    np.testing.assert_array_equal(audio, g["stream_waveform"][: len(audio)])
    logits = onnxruntime(SPEECH / "model.onnx")({"waveform": x})["logits"]
    np.testing.assert_allclose(logits, g["model_logits"], **_tol(man, "model_logits"))
    q = onnxruntime(SPEECH / "model.int8.onnx")({"waveform": x})["logits"]
    np.testing.assert_allclose(q, g["model_int8_logits"], **_tol(man, "model_int8_logits"))
    clf = SpeechClassifier.from_dir(SPEECH)
    (p,) = clf.classify([SPEECH / "golden" / "clip.wav"])
    assert p.label == man["expect"]["clip_label"] != "_unknown_"
    found = list(clf.stream().feed(g["stream_waveform"].copy(), 1600))
    want = man["expect"]["stream_detections"]
    assert [(d.label, round(d.time, 4)) for d in found] == [(d["label"], d["time"]) for d in want]
    np.testing.assert_allclose([d.score for d in found], [d["score"] for d in want], atol=1e-4)
    assert len(want) >= 2  # the stream holds words the model finds


@pytest.mark.parametrize("runtime", sorted(RUNTIMES))
def test_speech_golden_in_other_runtimes(runtime: str) -> None:
    man, g = _load(SPEECH)
    run = RUNTIMES[runtime](SPEECH / "model.onnx")
    logits = run({"waveform": g["clip_waveform"].copy()})["logits"]
    np.testing.assert_allclose(logits, g["model_logits"], **_tol(man, "model_logits"))
    stream = RUNTIMES[runtime](SPEECH / "stream.onnx")
    info = read_config(SPEECH)["stream"]  # sizes from the manifest, as a port does
    h = np.zeros((info["num_layers"], 1, info["hidden_size"]), np.float32)
    c, ctx, frames = h.copy(), np.zeros((1, info["context"]), np.float32), []
    audio = g["stream_waveform"]
    for i in range(0, len(audio), 1600):
        o = stream({"chunk": audio[None, i : i + 1600].copy(), "context": ctx, "h": h, "c": c})
        h, c, ctx = o["h_out"], np.clip(o["c_out"], -100, 100), o["context_out"]
        frames.append(o["logits"][0])
    np.testing.assert_allclose(np.concatenate(frames), g["stream_logits"],
                               **_tol(man, "stream_logits"))  # fmt: skip
    np.testing.assert_allclose(h, g["stream_h"], **_tol(man, "stream_h"))
    np.testing.assert_allclose(c, g["stream_c"], **_tol(man, "stream_c"))


def test_caption_golden_in_onnxruntime() -> None:
    man, g = _load(CAPTION)
    for name in ("png", "jpg"):  # PIL (libjpeg-turbo) decodes the JPEG to these pixels
        np.testing.assert_array_equal(load_image(CAPTION / "golden" / f"image.{name}"),
                                      g[f"{name}_pixels"])  # fmt: skip
    out = onnxruntime(CAPTION / "encoder.onnx")({"images": g["png_pixels"][None].copy()})
    for key in ("features", "keys", "h0", "c0"):
        np.testing.assert_allclose(out[key], g[f"encoder_{key}"], **_tol(man, f"encoder_{key}"))
    tokens = onnxruntime(CAPTION / "greedy.onnx")({"images": g["png_pixels"][None].copy()})
    np.testing.assert_array_equal(tokens["tokens"], g["greedy_tokens"])
    cap = Captioner.from_dir(CAPTION)
    for name in ("png", "jpg"):
        for beam in (1, 3):
            (c,) = cap.caption(CAPTION / "golden" / f"image.{name}", beam_size=beam)
            want = man["expect"][f"{name}_beam{beam}"]
            assert c.text == want["text"] and abs(c.score - want["score"]) < 1e-4


@pytest.mark.parametrize("runtime", sorted(RUNTIMES))
def test_caption_golden_in_other_runtimes(runtime: str) -> None:
    man, g = _load(CAPTION)
    enc = RUNTIMES[runtime](CAPTION / "encoder.onnx")({"images": g["png_pixels"][None].copy()})
    for key in ("features", "keys", "h0", "c0"):
        np.testing.assert_allclose(enc[key], g[f"encoder_{key}"], **_tol(man, f"encoder_{key}"))
    feeds = {"tokens": np.array([1], np.int64), "h": g["encoder_h0"].copy(),
             "c": g["encoder_c0"].copy(), "features": g["encoder_features"].copy(),
             "keys": g["encoder_keys"].copy()}  # fmt: skip
    step = RUNTIMES[runtime](CAPTION / "decoder.onnx")(feeds)
    for key in ("logprobs", "alpha", "h_out", "c_out"):
        np.testing.assert_allclose(step[key], g[f"decoder_{key}"], **_tol(man, f"decoder_{key}"))
