"""Ratios, targets and the two outputs: results JSON and the BENCHMARKS.md tables.

Speed-ups are `torch time / onnxruntime time` (above 1: onnxruntime is faster); overheads
are `backend time / numpy floor` (1 would be no overhead at all). All ratios pair medians
taken in the same run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SPEEDUPS = ("ort_fp32", "ort_int8", "ort_loop")  # each against torch
OVERHEADS = ("torch", "ort_fp32", "ort_int8")  # each against the numpy floor
BACKEND_NAMES = {
    "torch": "PyTorch eager",
    "ort_fp32": "onnxruntime fp32",
    "ort_int8": "onnxruntime int8",
    "ort_loop": "greedy.onnx (one graph)",
    "floor": "numpy floor",
    "batched": "StreamBatch (all streams, one call per tick)",
    "solo": "one CommandStream per stream",
}


def _key(r: dict[str, Any]) -> tuple[str, str, int, int]:
    return (r["model"], r["case"], int(r["batch"]), int(r["threads"]))


def ratios(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every torch/onnxruntime speed-up and every backend/floor overhead in `results`."""
    by: dict[tuple[str, str, int, int], dict[str, float]] = {}
    for r in results:
        by.setdefault(_key(r), {})[r["backend"]] = float(r["median_ms"])
    out = []
    for (model, case, batch, threads), t in sorted(by.items()):
        row = {"model": model, "case": case, "batch": batch, "threads": threads}
        if "torch" in t:
            for b in SPEEDUPS:
                if b in t:
                    out.append({**row, "pair": f"torch/{b}", "ratio": t["torch"] / t[b]})
        if "floor" in t:
            for b in OVERHEADS:
                if b in t:
                    out.append({**row, "pair": f"{b}/floor", "ratio": t[b] / t["floor"]})
    return out


@dataclass(frozen=True)
class Target:
    name: str  # what the issue asks
    model: str
    case: str
    pair: str  # a ratio pair, or "real_time_factor"
    goal: float
    at_least: bool = True  # False: the value must be at most the goal
    batch: int = 1


TARGETS = (
    Target("onnxruntime >= 3x PyTorch eager, 20-word greedy caption", "caption", "greedy",
           "torch/ort_fp32", 3.0),
    Target("onnxruntime fp32 >= 1.5x PyTorch eager, 1 s clip", "speech", "clip",
           "torch/ort_fp32", 1.5),
    Target("onnxruntime int8 >= 3x PyTorch eager, 1 s clip", "speech", "clip",
           "torch/ort_int8", 3.0),
    Target("one decoder step within 2x of its arithmetic floor", "caption", "step",
           "ort_fp32/floor", 2.0, at_least=False),
    Target("streaming >= 500x faster than real time", "speech", "stream",
           "real_time_factor", 500.0),
    Target("one core keeps >= 1500 streams in real time, 100 ms chunks (StreamBatch)",
           "speech", "streams", "streams_real_time", 1500.0),
    Target("onnxruntime fp32 >= 2x PyTorch eager, 1 s clips, batch 32", "speech", "clip",
           "torch/ort_fp32", 2.0, batch=32),
    Target("onnxruntime int8 >= 3x PyTorch eager, 1 s clips, batch 32", "speech", "clip",
           "torch/ort_int8", 3.0, batch=32),
    Target("onnxruntime fp32 >= 3x PyTorch eager, greedy captions, batch 16", "caption",
           "greedy", "torch/ort_fp32", 3.0, batch=16),
    Target("onnxruntime fp32 >= 3x PyTorch eager, beam 3 captions, batch 16", "caption",
           "beam3", "torch/ort_fp32", 3.0, batch=16),
)  # fmt: skip


def check_targets(
    results: list[dict[str, Any]], rats: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each target at one thread and its batch: its value from this run, and whether it is
    met. A target whose rows this run did not measure (--only, other batches) is left out."""
    out = []
    for t in TARGETS:
        value = None
        if t.pair == "streams_real_time":  # the most any measured batch size kept up with
            kept = [
                float(r["streams_real_time"])
                for r in results
                if (r["case"], r["backend"], r["threads"]) == (t.case, "batched", 1)
            ]
            value = max(kept) if kept else None
        elif t.pair == "real_time_factor":
            for r in results:
                if _key(r) == (t.model, t.case, 1, 1) and r["backend"] == "ort_fp32":
                    value = float(r["real_time_factor"])
        else:
            for r in rats:
                if (r["model"], r["case"], r["batch"], r["threads"], r["pair"]) == (
                    t.model, t.case, t.batch, 1, t.pair
                ):  # fmt: skip
                    value = float(r["ratio"])
        if value is None:
            continue  # that model was not benchmarked (--only)
        met = value >= t.goal if t.at_least else value <= t.goal
        sign = ">=" if t.at_least else "<="
        out.append({"target": t.name, "value": value, "goal": f"{sign} {t.goal:g}", "met": met})
    return out


def _ms(x: float) -> str:
    return f"{x:.3f}" if x < 10 else f"{x:.1f}"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _head(cells: list[str]) -> list[str]:
    return [_row(cells), "|" + "---|" * len(cells)]


PAIR_NAMES = {
    "torch/ort_fp32": "fp32 speed-up",
    "torch/ort_int8": "int8 speed-up",
    "torch/ort_loop": "greedy.onnx speed-up",
    "ort_fp32/floor": "fp32 / floor",
}


def _table(results: list[dict[str, Any]], rats: list[dict[str, Any]], model: str) -> list[str]:
    """One row per (case, batch, threads): the median ms of each backend, then the ratios."""
    rows = [r for r in results if r["model"] == model and r["case"] not in ("stream", "streams")]
    have = {r["backend"] for r in rows}
    backends = [b for b in BACKEND_NAMES if b in have]
    ratio_of = {(_key(r), r["pair"]): r["ratio"] for r in rats if r["model"] == model}
    pairs = [p for p in PAIR_NAMES if any(k[1] == p for k in ratio_of)]
    lines = _head(
        ["case", "batch", "threads"]
        + [f"{BACKEND_NAMES[b]} ms" for b in backends]
        + [PAIR_NAMES[p] for p in pairs]
    )
    by_key = {(_key(r), r["backend"]): r for r in rows}
    for key in sorted({_key(r) for r in rows}, key=lambda k: (k[3], _case_order(k[1]), k[2])):
        cells = [key[1], str(key[2]), str(key[3])]
        for b in backends:
            r = by_key.get((key, b))
            cells.append(f"{_ms(r['median_ms'])} ±{r['spread']:.0%}" if r else "")
        for p in pairs:
            v = ratio_of.get((key, p))
            cells.append(f"{v:.2f}x" if v is not None else "")
        lines.append(_row(cells))
    return lines


def _case_order(case: str) -> int:
    order = ("clip", "stream", "encoder", "step", "greedy", "beam3")
    return order.index(case) if case in order else len(order)


def _header(report: dict[str, Any]) -> list[str]:
    m, v = report["machine"], report["machine"]["versions"]
    return [
        "# Benchmarks: onnxruntime against PyTorch, and against the arithmetic floor",
        "",
        "Written by `lstm-apps bench` (lstm_apps/bench/); the notes at the end come from",
        "benchmarks/notes.md. Reproduce (from the repository root):",
        "",
        f"    {report['command']}",
        "",
        f"- machine: {m['cpu']}, {m['cores']} cores, {m['os']}; 1-minute load average at "
        f"the start: {m['load_average_1m']}",
        f"- versions: Python {v['python']}, numpy {v['numpy']}, torch {v['torch']}, "
        f"onnxruntime {v['onnxruntime']}",
        f"- {report['mode']} run, {report['seconds']:.0f} s; each time is the median over "
        f"{report['settings']['repeats']} timed blocks after warm-up, ± the interquartile "
        "spread relative to it; every ratio pairs two medians of this run",
        *[f"- {k} weights: {w}" for k, w in report["weights"].items()],
        "",
    ]


def _targets(report: dict[str, Any]) -> list[str]:
    lines = ["## Targets (one thread)", "", *_head(["target", "this run", "goal", ""])]
    for t in report["targets"]:
        verdict = "met" if t["met"] else "**missed**"
        lines.append(_row([t["target"], f"{t['value']:.2f}", t["goal"], verdict]))
    return [*lines, ""]


def _speech(results: list[dict[str, Any]], rats: list[dict[str, Any]]) -> list[str]:
    lines = ["## Speech", "", "A 1 s clip: the time of one call (the whole batch).", ""]
    lines += [*_table(results, rats, "speech"), ""]
    streams = [r for r in results if r["case"] == "stream"]
    seconds = streams[0]["audio_seconds"] if streams else 0.0
    lines += [f"Streaming {seconds:g} s of synthetic audio (noise and tone bursts) in 100 ms "
              "chunks, keyword detector included (`CommandStream.accept`; torch drives the "
              "same detector):", ""]  # fmt: skip
    lines += _head(["stream", "threads", "ms per chunk", "p90 ms", "x real time"])
    for r in streams:
        lines.append(_row([
            BACKEND_NAMES[r["backend"]], str(r["threads"]), f"{r['per_chunk_ms']:.3f}",
            f"{r['chunk_p90_ms']:.3f}", f"{r['real_time_factor']:.0f}",
        ]))  # fmt: skip
    many = [r for r in results if r["case"] == "streams"]
    if many:
        lines += ["", "Many streams on one core, 100 ms chunks: `StreamBatch` (one stream.onnx "
                  "call per tick for all streams, lstm_apps/bench/streams.py) against one "
                  "`CommandStream` per stream; detector included:", ""]  # fmt: skip
        lines += _head(["how", "streams", "ms per tick", "ms per stream", "streams in real time"])
        for r in sorted(many, key=lambda r: (r["backend"] != "solo", r["batch"])):
            how = "one call per stream" if r["backend"] == "solo" else "StreamBatch"
            lines.append(_row([
                how, str(r["batch"]), _ms(r["tick_ms"]), f"{r['tick_ms'] / r['batch']:.4f}",
                f"{r['streams_real_time']:.0f}",
            ]))  # fmt: skip
    return [*lines, ""]


def _floors(results: list[dict[str, Any]]) -> list[str]:
    floors = [r for r in results if r["backend"] == "floor"]
    if not floors:
        return []
    lines = ["## The arithmetic floor", "",
             "numpy GEMM/GEMV calls only (lstm_apps/bench/floor.py): the same weights, outputs "
             "preallocated, BLAS pinned to the thread count.", ""]  # fmt: skip
    lines += _head(["what", "batch", "threads", "multiply-adds", "floor ms"])
    for f in floors:
        what = "one decoder step" if f["case"] == "step" else "1 s clips"
        cells = [what, str(f["batch"]), str(f["threads"]), f"{f['macs']:,}", _ms(f["median_ms"])]
        lines.append(_row(cells))
    return [*lines, ""]


def _memory(report: dict[str, Any]) -> list[str]:
    mem = report.get("memory") or {}
    lines = ["## Memory and files", ""]
    if mem:
        lines += [
            "Peak RSS of a child process that imports the runtime only (no torch) and runs "
            "the API on a typical workload (lstm_apps/bench/memory.py).",
            "",
        ]
        lines += _head(["API process", "peak RSS MB", "above the bare runtime MB"])
        base = mem.get("baseline", {}).get("peak_rss_mb", 0.0)
        for name, m in mem.items():
            above = f"{m['peak_rss_mb'] - base:.1f}" if name != "baseline" else ""
            label = "runtime imported, no model" if name == "baseline" else name
            lines.append(_row([label, f"{m['peak_rss_mb']:.1f}", above]))
        lines.append("")
    lines += _head(["file", "MB"])
    lines += [_row([k, f"{b / 1e6:.2f}"]) for k, b in report["sizes"].items()]
    return [*lines, ""]


def markdown(
    report: dict[str, Any], notes: str | None, training: dict[str, Any] | None = None
) -> str:
    """BENCHMARKS.md from a results report (the training report of `bench train` and the
    hand-written notes, if any)."""
    results, rats = report["results"], report["ratios"]
    lines = _header(report) + _targets(report)
    if any(r["model"] == "speech" for r in results):
        lines += _speech(results, rats)
    if any(r["model"] == "caption" for r in results):
        lines += ["## Captions", "", "`greedy` and `beam3` include the encoder and run all 20 "
                  "steps whatever the weights (lstm_apps/bench/caption.py).", ""]  # fmt: skip
        lines += [*_table(results, rats, "caption"), ""]
    lines += _floors(results) + _memory(report)
    if training is not None:
        from lstm_apps.bench.train import markdown as training_markdown

        lines += ["#" + training_markdown(training), ""]
    if notes:
        lines += [notes.strip(), ""]
    return "\n".join(lines)


def write_outputs(
    report: dict[str, Any], json_path: Path, md_path: Path | None, notes_path: Path | None
) -> None:
    """results JSON at json_path; BENCHMARKS.md at md_path (with notes_path's text)."""
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    if md_path is not None:
        notes = None
        if notes_path is not None and notes_path.is_file():
            notes = notes_path.read_text(encoding="utf-8")
        train_json = json_path.parent / "train.json"
        training = (
            json.loads(train_json.read_text(encoding="utf-8")) if train_json.is_file() else None
        )
        md_path.parent.mkdir(parents=True, exist_ok=True)
        md_path.write_text(markdown(report, notes, training), encoding="utf-8")
