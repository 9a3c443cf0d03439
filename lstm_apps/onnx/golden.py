"""Golden vectors: BUNDLE/golden/, what a port in any language checks itself against.

    lstm-apps golden export/speech --clips samples/speech/yes_f5ff9db1.wav ...
    lstm-apps golden export/caption --images samples/images/scene1.png samples/images/scene3.jpg

The exporters write it from their test inputs; `lstm-apps golden` (re)writes it for a
bundle from files. golden/manifest.json lists every file: the raw inputs (WAV, PNG, JPEG),
the decoded tensors the graphs take, every graph's outputs on them, and the final labels,
detections and captions, with the tolerance each comparison allows and how each output
was made. Tensors are raw little-endian arrays (`.f32` float32, `.u8` uint8, `.i64`
int64), C order, shape in the manifest: nothing but a byte reader is needed.

Outputs are onnxruntime's on this machine. The tolerances are those tests/test_portability.py
holds onnx's ReferenceEvaluator and tract to (export/README.md, "Runtimes tested").
"""

from __future__ import annotations

import json
import shutil
import wave
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from lstm_apps.onnx.card import updated_bundle
from lstm_apps.runtime.audio import fit_length, load_audio
from lstm_apps.runtime.detect import softmax
from lstm_apps.runtime.errors import InputError, ModelFileError
from lstm_apps.runtime.image import load_image
from lstm_apps.runtime.manifest import read_config

__all__ = ["GOLDEN", "rewrite_golden", "write_caption_golden", "write_speech_golden"]

GOLDEN = "golden"
FORMAT = 1
TOL = {"atol": 1e-4}  # fp32 logits, log-probabilities, features, keys, h
TOL_C = {"atol": 1e-4, "rtol": 1e-3}  # the stream's cell state (integrates over the stream)
TOL_INT8 = {"atol": 0.05}  # model.int8.onnx: onnxruntime's dynamic quantisation
EXACT = {"atol": 0}
STREAM_CHUNK = 1600  # samples per stream.onnx call (100 ms)
_SUFFIX = {np.dtype(np.float32): ".f32", np.dtype(np.uint8): ".u8", np.dtype(np.int64): ".i64"}


class _Writer:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir()
        self.files: dict[str, dict[str, Any]] = {}

    def tensor(self, name: str, x: npt.NDArray[Any], what: str, tol: dict[str, float]) -> None:
        x = np.ascontiguousarray(x)
        file = name + _SUFFIX[x.dtype]
        (self.folder / file).write_bytes(x.astype(x.dtype.newbyteorder("<")).tobytes())
        self.files[file] = {"dtype": x.dtype.name, "shape": list(x.shape), "what": what,
                            "tolerance": tol}  # fmt: skip

    def raw(self, file: str, what: str) -> Path:
        self.files[file] = {"what": what}
        return self.folder / file

    def manifest(self, kind: str, expect: dict[str, Any], how: str) -> None:
        doc = {"format": FORMAT, "kind": kind, "how": how, "files": self.files, "expect": expect}
        (self.folder / "manifest.json").write_text(json.dumps(doc, indent=2) + "\n")


def _write_wav(path: Path, audio: npt.NDArray[np.float32], rate: int) -> None:
    pcm = np.clip(np.round(audio * 32767.0), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(pcm.tobytes())


def write_speech_golden(folder: Path, clip: npt.NDArray[np.float32],
                        stream: npt.NDArray[np.float32]) -> None:  # fmt: skip
    """folder/golden/ for a speech bundle: `clip` (1 s) and `stream` (a few words), float32
    at the model's rate; both are stored as 16-bit WAV and read back as a port would."""
    from lstm_apps.runtime.speech import SpeechClassifier

    clf = SpeechClassifier.from_dir(folder, verify=False, intra_op_threads=1)
    rate, n = clf.bundle.sample_rate, clf.bundle.clip_samples
    w = _Writer(folder / GOLDEN)
    _write_wav(w.raw("clip.wav", "input: a 1 s clip, 16-bit PCM"), clip, rate)
    _write_wav(w.raw("stream.wav", "input: a recording of a few words, 16-bit PCM"), stream, rate)
    x = fit_length(load_audio(w.folder / "clip.wav", target_rate=rate), n)[None]
    w.tensor("clip_waveform", x, "model.onnx `waveform`: clip.wav / 32768, (1, samples)", EXACT)
    logits = clf.model.run({"waveform": x})["logits"]
    w.tensor("model_logits", logits, "model.onnx `logits` on clip_waveform", TOL)
    int8 = folder / "model.int8.onnx"
    if int8.is_file():
        from lstm_apps.runtime.session import OnnxModel

        q = OnnxModel(int8, intra_op_threads=1).run({"waveform": x})["logits"]
        w.tensor("model_int8_logits", q, "model.int8.onnx `logits`, this clip alone", TOL_INT8)
    audio = load_audio(w.folder / "stream.wav", target_rate=rate)
    audio = np.concatenate([audio, np.zeros((-len(audio)) % STREAM_CHUNK, np.float32)])
    w.tensor("stream_waveform", audio, "stream.wav / 32768, zero-padded to 1600 samples", EXACT)
    if clf.stream_model is None:
        raise ModelFileError(f"{folder} has no stream.onnx: a speech bundle's golden needs it")
    state, frames = clf.stream_model.initial_state(), []
    for i in range(0, len(audio), STREAM_CHUNK):
        z, state = clf.stream_model.advance(audio[None, i : i + STREAM_CHUNK], state, check=True)
        frames.append(z[0])
    stream_logits = np.concatenate(frames)
    what = "stream.onnx from the zero state, 1600-sample chunks, c clipped to +-100 after each"
    w.tensor("stream_logits", stream_logits, f"`logits` of every frame: {what}", TOL)
    w.tensor("stream_h", state.h, f"`h_out` after the last chunk: {what}", TOL)
    w.tensor("stream_c", state.c, f"`c_out` after the last chunk: {what}", TOL_C)
    detections = list(clf.stream().feed(audio, STREAM_CHUNK))
    p = softmax(logits)[0]
    expect = {
        "clip_label": clf.labels[int(p.argmax())], "clip_probability": float(p.max()),
        "stream_detections": [{"label": d.label, "time": round(d.time, 4),
                               "score": float(d.score)} for d in detections],
        "detections_tolerance": "labels and times exactly; scores to 1e-4",
    }  # fmt: skip
    w.manifest("speech", expect, "lstm_apps.onnx.golden.write_speech_golden on onnxruntime")


def write_caption_golden(folder: Path, png: npt.NDArray[np.uint8] | Path,
                         jpeg: npt.NDArray[np.uint8] | Path) -> None:  # fmt: skip
    """folder/golden/ for a caption bundle: `png` stored losslessly, `jpeg` as a JPEG
    (quality 90, or the file itself when given a .jpg path)."""
    from lstm_apps.runtime.caption import Captioner

    cap = Captioner.from_dir(folder, verify=False, intra_op_threads=1)
    w = _Writer(folder / GOLDEN)
    Image.fromarray(load_image(png)).save(w.raw("image.png", "input: an RGB PNG"))
    jpg = w.raw("image.jpg", "input: a JPEG (decoded by libjpeg-turbo, export/README.md)")
    if isinstance(jpeg, Path) and jpeg.suffix.lower() in (".jpg", ".jpeg"):
        shutil.copyfile(jpeg, jpg)
    else:
        Image.fromarray(load_image(jpeg)).save(jpg, quality=90)
    expect: dict[str, Any] = {}
    for name in ("png", "jpg"):
        pixels = load_image(w.folder / f"image.{name}")
        w.tensor(f"{name}_pixels", pixels, f"encoder.onnx `images` row: image.{name} decoded, "
                 "(height, width, 3) RGB", EXACT)  # fmt: skip
        out = cap.encoder.run({"images": pixels[None]})
        if name == "png":
            for key in ("features", "keys", "h0", "c0"):
                w.tensor(f"encoder_{key}", out[key], f"encoder.onnx `{key}` on png_pixels", TOL)
            tokens = np.array([cap.spec.vocab.start_id], np.int64)
            step = cap.decoder.run({"tokens": tokens, "h": out["h0"], "c": out["c0"],
                                    "features": out["features"], "keys": out["keys"]})  # fmt: skip
            for key in ("logprobs", "alpha", "h_out", "c_out"):
                w.tensor(f"decoder_{key}", step[key], "decoder.onnx's first step on png: tokens "
                         "= [<start>], h = h0, c = c0", TOL)  # fmt: skip
            greedy = folder / "greedy.onnx"
            if greedy.is_file():
                from lstm_apps.runtime.session import OnnxModel

                g = OnnxModel(greedy, intra_op_threads=1).run({"images": pixels[None]})
                w.tensor("greedy_tokens", g["tokens"], "greedy.onnx `tokens` on png", EXACT)
        for beam in (1, 3):
            c = cap.caption(w.folder / f"image.{name}", beam_size=beam)[0]
            expect[f"{name}_beam{beam}"] = {"text": c.text, "score": float(c.score)}
            if c.confidence is not None:
                expect[f"{name}_beam{beam}"]["confidence"] = c.confidence
    expect["captions_tolerance"] = "text exactly; score and confidence to 1e-4"
    w.manifest("caption", expect, "lstm_apps.onnx.golden.write_caption_golden on onnxruntime")


def rewrite_golden(bundle: str | Path, inputs: Sequence[str | Path]) -> Path:
    """Replace BUNDLE/golden/ (and re-seal config.json's digests), atomically: a speech
    bundle takes audio files (the first is the clip; all of them, 0.3 s apart, the stream),
    a caption bundle two images (a PNG-able one, then the JPEG)."""
    bundle = Path(bundle)
    config = read_config(bundle)
    kind = "caption" if (bundle / "encoder.onnx").is_file() else "speech"
    paths = [Path(p) for p in inputs]
    if not paths or (kind == "caption" and len(paths) != 2):
        want = "two images (PNG, JPEG)" if kind == "caption" else "one or more audio files"
        raise InputError(f"lstm-apps golden {bundle}: give {want}, got {len(paths)}")
    with updated_bundle(bundle, drop=(GOLDEN,)) as tmp:
        if kind == "caption":
            write_caption_golden(tmp, paths[0], paths[1])
        else:
            rate = int(config["preprocessing"]["sample_rate"])
            clips = [load_audio(p, target_rate=rate) for p in paths]
            gap = np.zeros(int(0.3 * rate), np.float32)
            stream = np.concatenate([x for c in clips for x in (c, gap)])
            write_speech_golden(tmp, fit_length(clips[0], rate), stream)
    return bundle / GOLDEN
