"""MODEL_CARD.md for a caption bundle, from the export checks and the run's metrics.json.

The card is built from plain values (the config and a `CaptionExportReport`), so this
module needs nothing of the exporter; `onnx/caption.py` imports it, not the reverse.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lstm_apps.nn.caption_config import CaptionConfig
from lstm_apps.onnx.card import data_line, io_lines, reproduce_lines, size_lines


@dataclass(frozen=True)
class CaptionExportReport:
    max_logprob_diff: float  # decoder.onnx vs torch, over the greedy runs checked
    images_checked: int  # test images whose greedy tokens agree three ways
    sizes: dict[str, int]  # bytes per file


def read_caption_evaluations(run: Path) -> dict[str, dict[str, Any]]:
    """RUN/eval/<name>/caption_eval.json -> {name: report}; {} if none."""
    return {
        p.parent.name: json.loads(p.read_text(encoding="utf-8"))
        for p in sorted(run.glob("eval/*/caption_eval.json"))
    }


def evaluation_lines(evaluations: dict[str, dict[str, Any]]) -> list[str]:
    """The card's "Off its own renderer" section: accuracy by background spread and the
    commonest errors of every `eval caption` report."""
    if not evaluations:
        return []
    bins = list(next(iter(evaluations.values()))["by_spread"])
    lines = [
        "## By background and attribute (`lstm-apps eval caption`)", "",
        "Background spread: max minus min channel of the mean border colour. The holdout "
        "set is a variation of the spec training never saw (`lstm-apps data shapes --style "
        "holdout`: radial and striped backgrounds, blurred edges, half JPEG quality 50-90).",
        "",
        "| set | model | beam | n | content accuracy | " + " | ".join(
            f"spread {b}" for b in bins) + " |",
        "|---|---|---|---|---|" + "---|" * len(bins),
    ]  # fmt: skip
    for name, r in evaluations.items():
        cells = [
            f"{v['accuracy']:.1%} (n={v['n']})" if v["accuracy"] is not None else "-"
            for v in r["by_spread"].values()
        ]
        kind = {"torch": "run (torch)", "onnxruntime": "bundle"}.get(r.get("backend", ""), "run")
        kind += " int8" if r.get("int8") else ""
        lines.append(f"| {name} | {kind} | {r['beam']} | {r['n']} | "
                     f"{r['content_accuracy']:.1%} | " + " | ".join(cells) + " |")  # fmt: skip
    lines.append("")
    for name, r in evaluations.items():
        errs = list(r["errors"].items())[:6]
        top = ", ".join(f"{k} ({v})" for k, v in errs) or "none"
        made = f" on data made by `{r['data_command']}`" if r.get("data_command") else ""
        lines.append(f"- {name}: `{r.get('command', '')}`{made}. Commonest errors: {top}")
    return [*lines, ""]


def model_card(
    cfg: CaptionConfig,
    report: CaptionExportReport,
    metrics: dict[str, Any],
    bundle: Path,
    command: str,
    evaluations: dict[str, dict[str, Any]] | None = None,
) -> str:
    tc = metrics.get("train_config", {})
    lines = [
        "# Image captions: CNN encoder + soft attention + LSTM decoder",
        "",
        f"Encoder: torchvision {cfg.backbone} cut after {cfg.cut}, input resized to "
        f"{cfg.image_size} px inside the graph, {cfg.num_cells} attention cells of "
        f"{cfg.feature_dim} features. Decoder: {cfg.embed_dim}-d word embedding, gated soft "
        f"attention (Show, Attend and Tell), {cfg.num_layers}-layer {cfg.cell.upper()} "
        f"({cfg.hidden_size}), vocabulary {cfg.vocab_size}, at most {cfg.max_len} tokens.",
        "",
        "## How it was made",
        "",
    ]
    if metrics:
        test = metrics["test"]
        lines += [
            data_line(metrics, "`lstm-apps data shapes` (Karpathy split JSON + images)"),
            f"- training command: `{metrics.get('command')}` (seed {tc.get('seed')}, "
            f"{tc.get('epochs')} epochs, batch {tc.get('batch_size')}, AdamW lr {tc.get('lr')}, "
            f"references: {tc.get('refs')}, mirrors with left/right and above/below swapped)",
            f"- training wall time: {metrics.get('train_seconds', 0) / 60:.1f} min on 2 CPU cores",
            f"- parameters: {metrics.get('parameters', 0):,}",
            "",
            f"## Results on the test split ({metrics.get('n_test')} images)",
            "",
            "| decoding | BLEU-1 | BLEU-4 | CIDEr | content accuracy |",
            "|---|---|---|---|---|",
        ]
        for name, s in test.items():
            content = s.get("content_accuracy")
            acc = f"{content:.1%}" if content is not None else "n/a"
            lines.append(
                f"| {name.replace('beam', 'beam ')} | {s['bleu1']:.3f} | {s['bleu4']:.3f} "
                f"| {s['cider']:.3f} | {acc} |"
            )
    else:
        lines += ["- no metrics.json was found beside the checkpoint"]
    lines += [
        "",
        *evaluation_lines(evaluations or {}),
        "## Export checks (made by `lstm-apps export caption`)",
        "",
        f"- greedy tokens identical from torch, encoder+decoder in onnxruntime and greedy.onnx "
        f"on {report.images_checked} test images, at batch 1 and 4",
        f"- decoder.onnx vs torch: max |logprob diff| {report.max_logprob_diff:.1e}",
        "",
        *reproduce_lines(metrics, command),
        *io_lines(bundle),
        *size_lines(report.sizes),
        "Every name, shape, the preprocessing and the decoding loop: export/README.md. "
        "Limits: trained on synthetic shapes scenes only; it knows 30 words and nothing of "
        "real photos.",
    ]
    return "\n".join(lines) + "\n"
