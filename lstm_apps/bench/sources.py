"""Where the benchmarked weights come from: one torch model and ONNX files that hold the same
weights, checked before anything is timed.

For each model, in order:

1. a checkpoint given on the command line (e.g. `runs/speech_a/best`), paired with the
   bundle's ONNX files;
2. the bundle's own `checkpoint/` folder (safetensors + JSON), when it has one;
3. otherwise a fresh model built from the bundle's `config.json` with seeded random weights
   and exported to a temporary folder by the project's own exporters (`export_speech`,
   `export_caption`), parity checks included.

In cases 1 and 2 the torch model and the bundle's ONNX are run on the same random inputs
and must agree (1e-3), so a checkpoint that is not the one the bundle was exported from
is refused rather than benchmarked. Speed does not depend on the values of the weights;
the captions are forced to their full length anyway (see `caption.py`).

int8 files that no bundle ships (stream, caption encoder and decoder) are made here with
the exporter's own `quantize_int8`, for the side-by-side only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from lstm_apps.nn.caption import CaptionConfig, CaptionModel
from lstm_apps.nn.speech import SpeechClassifierNet, SpeechConfig
from lstm_apps.runtime.caption import Captioner
from lstm_apps.runtime.errors import LstmAppsError, ModelFileError
from lstm_apps.runtime.session import OnnxModel, read_metadata

PARITY_TOL = 1e-3  # torch vs onnxruntime, max |diff| of logits / logprobs
SEED = 0


@dataclass(frozen=True)
class SpeechSource:
    net: SpeechClassifierNet
    model: Path  # model.onnx
    model_int8: Path  # model.int8.onnx
    stream: Path  # stream.onnx
    stream_int8: Path  # stream.onnx quantised here
    weights: str  # where the weights came from, for the report


@dataclass(frozen=True)
class CaptionSource:
    model: CaptionModel
    encoder: Path
    decoder: Path
    greedy: Path  # greedy.onnx
    encoder_int8: Path  # quantised here
    decoder_int8: Path  # quantised here
    end_id: int
    start_id: int
    weights: str


def shown(path: Path | str) -> str:
    """A path as the report shows it: relative to the working directory when inside it."""
    p = Path(path).resolve()
    return str(p.relative_to(Path.cwd())) if p.is_relative_to(Path.cwd()) else str(p)


def _bundle_config(bundle: Path) -> dict[str, Any]:
    f = bundle / "config.json"
    if not f.is_file():
        raise ModelFileError(f"{bundle} has no config.json: is it an lstm-apps bundle?")
    data: dict[str, Any] = json.loads(f.read_text(encoding="utf-8"))
    return data


def _checkpoint(bundle: Path, given: Path | None, kind: str) -> tuple[Any, str] | None:
    from lstm_apps.train.checkpoint import load_checkpoint

    path = given if given is not None else bundle / "checkpoint"
    if given is None and not (path / "model.safetensors").is_file():
        return None
    ck = load_checkpoint(path)
    if ck.kind != kind:
        raise LstmAppsError(f"{path} holds a {ck.kind!r} model, not {kind!r}")
    return ck.model, f"checkpoint {shown(path)}"


def quantize_copy(src: Path, dst: Path, speech: bool) -> Path:
    """dst = src with dynamically quantised int8 weights: the speech exporter's own recipe
    (LSTM and head; the frontend stays fp32), or for caption graphs every LSTM, MatMul and
    Gemm with a constant weight (convolutions stay fp32)."""
    if speech:
        from lstm_apps.onnx.speech import quantize_int8

        meta = read_metadata({p.key: p.value for p in onnx.load(str(src)).metadata_props})
        quantize_int8(src, dst, meta)
        return dst
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8,
                     op_types_to_quantize=["LSTM", "MatMul", "Gemm"])  # fmt: skip
    return dst


def _max_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max())


def speech_source(
    bundle: Path, workdir: Path, checkpoint: Path | None = None, config: SpeechConfig | None = None
) -> SpeechSource:
    """The speech model for the benchmark (see the module docstring); `config` forces a
    fresh export of that configuration (tests use tiny ones)."""
    found = None if config is not None else _checkpoint(bundle, checkpoint, "speech")
    out = workdir / "speech"
    out.mkdir(parents=True, exist_ok=True)
    if found is not None:
        net, weights = found
        model, model_int8, stream = (bundle / n for n in ("model.onnx", "model.int8.onnx",
                                                          "stream.onnx"))  # fmt: skip
        x = np.random.default_rng(SEED).standard_normal((2, 16000)).astype(np.float32) * 0.1
        with torch.inference_mode():
            want = net(torch.from_numpy(x)).numpy()
        got = OnnxModel(model, intra_op_threads=1).run({"waveform": x})["logits"]
        if _max_diff(want, got) > PARITY_TOL:
            raise LstmAppsError(
                f"{weights} and {model} do not hold the same weights "
                f"(logits differ by {_max_diff(want, got):.2e})"
            )
    else:
        from lstm_apps.onnx.speech import export_speech

        cfg = config or SpeechConfig.from_dict(_bundle_config(bundle)["config"])
        torch.manual_seed(SEED)
        net = SpeechClassifierNet(cfg).eval()
        rng = np.random.default_rng(SEED)
        clips = (rng.standard_normal((4, cfg.clip_samples)) * 0.1).astype(np.float32)
        # Random weights: int8 top-1 agreement says nothing here; parity is still checked.
        export_speech(net, out / "bundle", clips, min_int8_agreement=0.0)
        model, model_int8, stream = (out / "bundle" / n for n in ("model.onnx",
                                     "model.int8.onnx", "stream.onnx"))  # fmt: skip
        weights = f"fresh export of {shown(bundle / 'config.json')} with seeded random weights"
    return SpeechSource(
        net=net, model=model, model_int8=model_int8, stream=stream,
        stream_int8=quantize_copy(stream, out / "stream.int8.onnx", speech=True), weights=weights,
    )  # fmt: skip


def _random_images(n: int, side: int, seed: int = SEED) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, side, side, 3), dtype=np.uint8)


def caption_source(
    bundle: Path, workdir: Path, checkpoint: Path | None = None, config: CaptionConfig | None = None
) -> CaptionSource:
    """The caption model for the benchmark (see the module docstring)."""
    meta = _bundle_config(bundle) if config is None else {}
    found = None if config is not None else _checkpoint(bundle, checkpoint, "caption")
    out = workdir / "caption"
    out.mkdir(parents=True, exist_ok=True)
    if found is not None:
        model, weights = found
        files = bundle
        cap = Captioner(bundle / "encoder.onnx", bundle / "decoder.onnx", intra_op_threads=1)
        start_id, end_id = cap.spec.vocab.start_id, cap.spec.vocab.end_id
        img = _random_images(2, model.config.image_size)
        e = cap.encoder.run({"images": img})
        tok = np.array([start_id, 5 % model.config.vocab_size], np.int64)
        got = cap.step(tok, cap.encoder_state(e))[0]
        with torch.inference_mode():
            feats, keys, h0, c0 = model.encode(torch.from_numpy(img))
            want = model.step(torch.from_numpy(tok), h0, c0, feats, keys)[0].numpy()
        diff = max(_max_diff(want, got), _max_diff(feats.numpy(), e["features"]))
        if diff > PARITY_TOL:
            raise LstmAppsError(
                f"{weights} and {bundle} do not hold the same weights (differ by {diff:.2e})"
            )
    else:
        from lstm_apps.data.captions import Vocab
        from lstm_apps.onnx.caption import export_caption

        if config is None:
            cfg = CaptionConfig.from_dict(meta["config"])
            vocab = Vocab.from_json(meta["vocab"])
        else:
            cfg = config
            vocab = Vocab((*Vocab.SPECIALS, *(f"w{i}" for i in range(cfg.vocab_size - 4))))
        torch.manual_seed(SEED)
        model = CaptionModel(cfg).eval()
        export_caption(model, vocab, out / "bundle", _random_images(2, cfg.image_size))
        files = out / "bundle"
        start_id, end_id = vocab.start_id, vocab.end_id
        where = shown(bundle / "config.json") if config is None else "a test configuration"
        weights = f"fresh export of {where} with seeded random weights"
    return CaptionSource(
        model=model, encoder=files / "encoder.onnx", decoder=files / "decoder.onnx",
        greedy=full_length_greedy(files / "greedy.onnx", out / "greedy.full.onnx"),
        encoder_int8=quantize_copy(files / "encoder.onnx", out / "encoder.int8.onnx", False),
        decoder_int8=quantize_copy(files / "decoder.onnx", out / "decoder.int8.onnx", False),
        end_id=end_id, start_id=start_id, weights=weights,
    )  # fmt: skip


def full_length_greedy(src: Path, dst: Path) -> Path:
    """A copy of greedy.onnx whose loop never meets <end> (its end constant set to -1), so
    every caption runs all max_len steps, as the step-by-step paths are made to."""
    proto = onnx.load(str(src))
    changed = 0
    for node in proto.graph.node:
        if node.op_type != "Loop":
            continue
        for attr in node.attribute:
            if attr.name != "body":
                continue
            for b in attr.g.node:
                if b.op_type == "Constant" and list(b.output) == ["b/end"]:
                    b.attribute[0].t.CopyFrom(
                        onnx.helper.make_tensor("b/end", onnx.TensorProto.INT64, [], [-1])
                    )
                    changed += 1
    if changed != 1:
        raise ModelFileError(f"{src}: no <end> constant found in its Loop (found {changed})")
    onnx.save(proto, str(dst))
    return dst
