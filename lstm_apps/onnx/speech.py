"""Export a trained speech run to an ONNX bundle, checking parity at every step.

    lstm-apps export speech runs/speech export/speech

    model.onnx       waveform float32 (batch, samples) at 16 kHz -> logits (batch, classes)
    stream.onnx      chunk (batch, k*hop), context (batch, state_size), h, c (layers, batch,
                     hidden) -> logits (batch, k, classes), h_out, c_out, context_out
    model.int8.onnx  model.onnx with dynamically quantised LSTM and MatMul weights
    labels.json, config.json

Parity: model.onnx against torch at batch 1 and 3 and several lengths; stream.onnx
against torch; stream.onnx run chunk by chunk against model.onnx over the same clips;
model.int8.onnx top-1 agreement with model.onnx on the given clips (>= 99%).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from lstm_apps.data.speech_commands import commands_of
from lstm_apps.nn.speech import SpeechClassifierNet, SpeechStream
from lstm_apps.onnx.card import (
    bundle_sizes,
    check_budget,
    data_line,
    io_lines,
    reproduce_lines,
    size_lines,
)
from lstm_apps.onnx.export import add_metadata, export_onnx
from lstm_apps.onnx.golden import write_speech_golden
from lstm_apps.onnx.speech_card import release_time_lines, results_lines
from lstm_apps.runtime.detect import DetectorConfig, softmax
from lstm_apps.runtime.errors import ParityError
from lstm_apps.runtime.files import atomic_dir
from lstm_apps.runtime.manifest import write_config
from lstm_apps.runtime.session import OnnxModel
from lstm_apps.runtime.speech_bundle import SpeechBundle, StreamSpec
from lstm_apps.runtime.speech_stream import StreamModel
from lstm_apps.train.checkpoint import save_checkpoint


@dataclass(frozen=True)
class SpeechExportReport:
    offline_max_diff: float  # torch vs model.onnx logits
    stream_max_diff: float  # model.onnx vs chunked stream.onnx, last-frame logits
    int8_agreement: float  # top-1 agreement of model.int8.onnx with model.onnx
    n_clips: int  # clips used for the stream and int8 checks
    sizes: dict[str, int]  # bytes per file


def speech_bundle(net: SpeechClassifierNet, detector: dict[str, Any] | None = None) -> SpeechBundle:
    """The bundle spec of a trained net: what every file's metadata_props and config.json
    hold (`SpeechBundle.to_metadata()`). detector: the run's tuned detector settings
    (RUN/detector.json), else the defaults."""
    cfg = net.config
    fe = cfg.frontend
    stream = StreamSpec(
        hop=fe.hop, context=fe.state_size, num_layers=cfg.num_layers,
        hidden_size=cfg.hidden_size, sample_rate=fe.sample_rate,
    )  # fmt: skip
    return SpeechBundle(
        labels=tuple(cfg.labels), sample_rate=fe.sample_rate, clip_samples=cfg.clip_samples,
        stream=stream, detector=DetectorConfig.from_settings(stream.frame_seconds, detector or {}),
        config=cfg.to_dict(),
    )  # fmt: skip


def quantize_int8(src: Path, dst: Path, metadata: dict[str, Any]) -> None:
    """Dynamic int8 quantisation of the LSTM and MatMul weights. The frontend stays fp32:
    its DFT runs on MatMuls too, and 8-bit audio would keep only 48 dB of dynamic range."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    nodes = list(onnx.load(str(src)).graph.node)
    first_lstm = next((i for i, n in enumerate(nodes) if n.op_type == "LSTM"), len(nodes))
    frontend = [n.name for n in nodes[:first_lstm]]  # everything before the recurrent layers
    quantize_dynamic(
        str(src),
        str(dst),
        weight_type=QuantType.QInt8,
        op_types_to_quantize=["LSTM", "MatMul", "Gemm"],
        nodes_to_exclude=frontend,
    )
    proto = onnx.load(str(dst))
    add_metadata(proto, {**metadata, "quantization": "dynamic int8 (LSTM, MatMul, Gemm)"})
    onnx.save(proto, str(dst))


def model_card(
    net: SpeechClassifierNet,
    report: SpeechExportReport,
    metrics: dict[str, Any],
    bundle: Path,
    command: str,
    evaluations: dict[str, dict[str, Any]] | None = None,
) -> str:
    """MODEL_CARD.md text from the export report, the run's metrics.json (may be {}) and
    its evaluations (RUN/eval/*/ reports, see onnx/speech_card.py)."""
    cfg = net.config
    tc = metrics.get("train_config", {})
    lines = [
        f"# Speech commands: {cfg.frontend.compression}-mel + LSTM",
        "",
        f"Classes ({len(cfg.labels)}): {', '.join(cfg.labels)}.",
        f"Model: {cfg.frontend.compression}-mel ({cfg.frontend.n_mels} "
        f"bands, {cfg.frontend.hop / 16:.0f} ms hop) inside the graph -> {cfg.num_layers}-layer "
        f"{cfg.cell.upper()} ({cfg.hidden_size}) -> linear, "
        "read at the last frame; the same weights stream (stream.onnx).",
        "",
        "## How it was made",
        "",
    ]
    if metrics:
        lines += [
            data_line(
                metrics,
                "`lstm-apps data speech` (eSpeak NG voices x variants"
                + (
                    f" and {kokoro} Kokoro voice blends"
                    if (
                        kokoro := metrics.get("data_generator", {})
                        .get("settings", {})
                        .get("kokoro")
                    )
                    else ""
                )
                + ", each utterance transformed: WORLD voice changes, simulated rooms, "
                "microphone and telephone channels; a few hundred other words as `_unknown_`; "
                "Speech Commands layout, speakers split by hash)",
            ),
            *(
                [f"- cross-generator validation: `{metrics['val_data']}` (never trained on)"]
                if metrics.get("val_data")
                else []
            ),
            f"- training command: `{metrics.get('command')}` (seed {tc.get('seed')}, "
            f"{tc.get('epochs')} epochs, batch {tc.get('batch_size')}, AdamW lr {tc.get('lr')})",
            f"- training wall time: {metrics.get('train_seconds', 0) / 60:.1f} min on this "
            "machine's 2 CPU cores",
            *release_time_lines(metrics),
            f"- parameters: {metrics.get('parameters', 0):,}",
            "",
            *results_lines(metrics, evaluations or {}),
        ]
    else:
        lines += ["- no metrics.json was found beside the checkpoint"]
    lines += [
        "",
        "## Export checks (made by `lstm-apps export speech`)",
        "",
        f"- torch vs model.onnx: max |logit diff| {report.offline_max_diff:.1e}",
        f"- stream.onnx in chunks vs model.onnx: max |logit diff| {report.stream_max_diff:.1e}",
        f"- model.int8.onnx top-1 agreement with model.onnx: {report.int8_agreement:.2%} "
        f"over {report.n_clips} test clips",
        "",
        *reproduce_lines(metrics, command),
        *io_lines(bundle),
        *size_lines(report.sizes),
        "Every name, shape, the preprocessing and the streaming loop: export/README.md. "
        "Limits: trained on synthetic voices only (eSpeak NG and Kokoro, transformed); the "
        "figures above are on synthetic speech too. Real people, real rooms and microphones "
        "are not in any set here.",
    ]
    return "\n".join(lines) + "\n"


def export_speech(
    net: SpeechClassifierNet,
    out_dir: str | Path,
    clips: np.ndarray,
    *,
    min_int8_agreement: float = 0.99,
    stream_chunks: tuple[int, ...] = (1600, 320),
    metrics: dict[str, Any] | None = None,
    command: str = "lstm-apps export speech RUN OUT",
    max_bytes: int | None = None,
    evaluations: dict[str, dict[str, Any]] | None = None,
    detector: dict[str, Any] | None = None,
) -> SpeechExportReport:
    """Write the bundle to out_dir (atomically: all files or none). clips (N, S) float32
    are real inputs for the stream and int8 checks, e.g. the test split."""
    net = net.eval()
    spec = speech_bundle(net, detector)
    meta = spec.to_metadata()
    fe = net.config.frontend
    if clips.ndim != 2 or len(clips) == 0:
        raise ValueError(f"clips must be (N, samples) with N > 0, got {clips.shape}")
    g = torch.Generator().manual_seed(0)
    wav = lambda b, s: (torch.randn(b, s, generator=g) * 0.1,)
    with atomic_dir(out_dir, replaces="config.json") as tmp:
        rep = export_onnx(
            net, wav(1, 16000), tmp / "model.onnx",
            input_names=["waveform"], output_names=["logits"],
            dynamic_axes={"waveform": {0: "batch", 1: "samples"}, "logits": {0: "batch"}},
            metadata={**meta, "kind": "speech_offline"},
            parity_inputs=[wav(b, s) for b in (1, 3) for s in (3200, 16000, 24000)],
        )  # fmt: skip
        offline_diff = max(rep.max_abs_diff.values()) if rep else float("nan")
        L, H = net.config.num_layers, net.config.hidden_size

        def stream_args(b: int, k: int) -> tuple[torch.Tensor, ...]:
            z = torch.randn(L, b, H, generator=g) * 0.3
            ctx = torch.randn(b, fe.context, generator=g) * 0.1
            m = torch.rand(b, fe.state_size - fe.context, generator=g)  # PCEN smoother >= 0
            ctx = torch.cat([ctx, m], dim=1)
            return (torch.randn(b, k * fe.hop, generator=g) * 0.1, ctx, z, z.clone())

        export_onnx(
            SpeechStream(net), stream_args(1, 5), tmp / "stream.onnx",
            input_names=["chunk", "context", "h", "c"],
            output_names=["logits", "h_out", "c_out", "context_out"],
            dynamic_axes={
                "chunk": {0: "batch", 1: "samples"}, "context": {0: "batch"},
                "h": {1: "batch"}, "c": {1: "batch"}, "logits": {0: "batch", 1: "frames"},
                "h_out": {1: "batch"}, "c_out": {1: "batch"}, "context_out": {0: "batch"},
            },
            metadata={**meta, "kind": "speech_stream"},
            parity_inputs=[stream_args(b, k) for b in (1, 3) for k in (1, 5, 50)],
        )  # fmt: skip
        quantize_int8(
            tmp / "model.onnx", tmp / "model.int8.onnx", {**meta, "kind": "speech_offline"}
        )

        offline = OnnxModel(tmp / "model.onnx", intra_op_threads=1)
        stream = StreamModel(OnnxModel(tmp / "stream.onnx", intra_op_threads=1), spec.stream)
        int8 = OnnxModel(tmp / "model.int8.onnx", intra_op_threads=1)
        x = np.ascontiguousarray(clips, dtype=np.float32)
        ref = np.concatenate(
            [offline.run({"waveform": x[i : i + 64]})["logits"] for i in range(0, len(x), 64)]
        )
        stream_diff = 0.0
        for chunk in stream_chunks:
            for i in range(min(len(x), 8)):
                frames = stream.logits(x[i], chunk)
                stream_diff = max(stream_diff, float(np.abs(frames[-1] - ref[i]).max()))
        if stream_diff > 1e-4:
            raise ParityError(
                f"stream.onnx run in chunks differs from model.onnx by {stream_diff:.2e}"
            )
        # one clip per call, as the runtime runs int8: its scales then depend on the clip only
        q = np.concatenate([int8.run({"waveform": x[i : i + 1]})["logits"] for i in range(len(x))])
        agreement = float((q.argmax(1) == ref.argmax(1)).mean())
        if agreement < min_int8_agreement:
            raise ParityError(
                f"model.int8.onnx agrees with model.onnx on only {agreement:.2%} of {len(x)} "
                f"clips (need {min_int8_agreement:.0%})"
            )
        (tmp / "labels.json").write_text(json.dumps(list(net.config.labels), indent=2) + "\n")
        save_checkpoint(tmp / "checkpoint", net, kind="speech")  # for explain / fine-tuning
        write_config(tmp, meta)  # for the golden writer's loader; again with every digest
        # the golden stream: the three most confident clips of different commands
        p, commands, said = softmax(ref), commands_of(net.config.labels), []
        for i in np.argsort(-p.max(1), kind="stable"):
            label = net.config.labels[int(p[i].argmax())]
            if label in commands and label not in {net.config.labels[int(p[j].argmax())]
                                                    for j in said}:  # fmt: skip
                said.append(int(i))
            if len(said) == 3:
                break
        said = said or [0]
        gap = np.zeros(int(0.5 * fe.sample_rate), np.float32)
        write_speech_golden(tmp, x[said[0]], np.concatenate([y for i in said for y in (x[i], gap)]))
        report = SpeechExportReport(offline_diff, stream_diff, agreement, len(x), bundle_sizes(tmp))
        check_budget(report.sizes, max_bytes, out_dir)
        card = model_card(net, report, metrics or {}, tmp, command, evaluations)
        (tmp / "MODEL_CARD.md").write_text(card)
        write_config(tmp, meta)  # last: it holds the sha256 of every other file
    return report
