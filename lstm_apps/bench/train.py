"""`lstm-apps bench train`: training throughput (clips/s, images/s) of the real trainers.

    lstm-apps bench train                 # -> benchmarks/train.json, a section of BENCHMARKS.md
    lstm-apps bench train --quick         # tiny data, one round -> out/bench-quick/

The data and the runs go to out/bench-train/ (made once, reused).

Every case is a real `lstm-apps train ...` run in a subprocess (under torchrun for 2
processes) on data this command makes: the shapes set and plain eSpeak clips. Its number
is the throughput of the last epoch's steps, loading included, as the run's own
history.jsonl records it (`clips_per_second`, `images_per_second`); epoch 1 warms up
(caches, allocator). Cases run interleaved, round after round, and each reports the
median over rounds, so a busy moment of a shared machine hits every case alike. The
ratio column is against the first case of its kind (1 process, no workers, fp32).
"""

from __future__ import annotations

import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lstm_apps.runtime.files import write_text_atomic


@dataclass(frozen=True)
class Case:
    kind: str  # "speech" | "caption"
    name: str
    procs: int = 1
    workers: int = 0
    precision: str = "fp32"
    device: str = "cpu"
    cache: str = "auto"  # caption only

    def args(self) -> list[str]:
        extra = ["--cache", self.cache] if self.kind == "caption" else []
        return ["--workers", str(self.workers), "--precision", self.precision,
                "--device", self.device, *extra]  # fmt: skip


def cases(cuda: bool) -> list[Case]:
    out = [
        Case("speech", "1 process, 0 workers, fp32"),
        Case("speech", "1 process, 2 workers, fp32", workers=2),
        Case("speech", "2 processes, 0 workers, fp32", procs=2),
        Case("speech", "1 process, 0 workers, bf16", precision="bf16"),
        Case("caption", "1 process, 0 workers, fp32, cached", cache="always"),
        Case("caption", "1 process, 0 workers, fp32, decoded", cache="never"),
        Case("caption", "1 process, 2 workers, fp32, decoded", workers=2, cache="never"),
        Case("caption", "2 processes, 0 workers, fp32, cached", procs=2, cache="always"),
        Case("caption", "1 process, 0 workers, bf16, cached", precision="bf16", cache="always"),
    ]
    if cuda:
        for kind in ("speech", "caption"):
            for precision in ("fp32", "bf16", "fp16"):
                out.append(Case(kind, f"cuda, 2 workers, {precision}", workers=2,
                                precision=precision, device="cuda"))  # fmt: skip
    return out


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _command(case: Case, data: Path, out: Path, quick: bool) -> list[str]:
    epochs = ["--epochs", "2"]
    if case.kind == "speech":
        model = ["--hidden", "64", "--layers", "1"] if quick else []
    else:
        model = ["--image-size", "64", "--hidden", "64"] if quick else []
    argv = ["train", case.kind, "--data", str(data), "--out", str(out), "--no-resume",
            *epochs, *model, "--threads", "2", *case.args()]  # fmt: skip
    if case.procs == 1:
        return [sys.executable, "-m", "lstm_apps", *argv]
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(case.procs),
            "--master_addr", "127.0.0.1", "--master_port", str(_port()), "-m", "lstm_apps",
            *argv]  # fmt: skip


def _make_data(root: Path, quick: bool, log: Any) -> dict[str, Path]:
    """The bench's own data (made once in root, reused by later runs)."""
    from lstm_apps.data.shapes import generate_shapes
    from lstm_apps.data.speech_synth import generate_speech_commands
    from lstm_apps.data.speech_transform import TransformConfig

    speech, caption = root / "speech", root / "caption"
    if not speech.exists():
        log(f"making speech clips in {speech}")
        generate_speech_commands(
            speech, speakers=24 if quick else 120, repeats=1, noise_seconds=5, progress=False,
            transforms=TransformConfig.off(), extra_per_speaker=2,
        )  # fmt: skip
    if not caption.exists():
        log(f"making shapes images in {caption}")
        generate_shapes(caption, count=200 if quick else 1000, progress=False)
    return {"speech": speech, "caption": caption}


def run_train_bench(
    out_dir: Path,
    *,
    quick: bool = False,
    rounds: int | None = None,
    kinds: tuple[str, ...] = ("speech", "caption"),
    work: Path | None = None,
    log: Any = print,
) -> dict[str, Any]:
    """Run every case of `kinds` `rounds` times, interleaved; write out_dir/train.json.
    work: where the bench's data and runs go (default: out/bench-train, git-ignored)."""
    import torch

    rounds = rounds or (1 if quick else 2)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = work or Path("out") / ("bench-train-quick" if quick else "bench-train")
    data = _make_data(work / "data", quick, log)
    todo = [c for c in cases(torch.cuda.is_available()) if c.kind in kinds]
    got: dict[str, list[float]] = {c.name + "|" + c.kind: [] for c in todo}
    for r in range(rounds):
        for case in todo:
            run = work / "runs" / f"{case.kind}-{len(got[case.name + '|' + case.kind])}"
            t0 = time.perf_counter()
            proc = subprocess.run(
                _command(case, data[case.kind], run, quick), capture_output=True, text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )  # fmt: skip
            if proc.returncode != 0:
                raise RuntimeError(f"{case.kind} / {case.name} failed:\n{proc.stdout[-3000:]}"
                                   f"{proc.stderr[-3000:]}")  # fmt: skip
            last = json.loads((run / "history.jsonl").read_text().splitlines()[-1])
            rate = last["clips_per_second" if case.kind == "speech" else "images_per_second"]
            got[case.name + "|" + case.kind].append(rate)
            log(f"round {r + 1}/{rounds}  {case.kind:7s} {case.name:40s} {rate:8.1f}/s"
                f"  ({time.perf_counter() - t0:.0f} s run)")  # fmt: skip
    results = []
    for case in todo:
        rates = got[case.name + "|" + case.kind]
        results.append({
            "kind": case.kind, "case": case.name, "per_second": statistics.median(rates),
            "rounds": rates, "procs": case.procs, "workers": case.workers,
            "precision": case.precision, "device": case.device,
        })  # fmt: skip
    for kind in kinds:
        rows = [r for r in results if r["kind"] == kind]
        for r in rows:
            r["ratio"] = r["per_second"] / rows[0]["per_second"]
    report = {
        "command": "lstm-apps bench train" + (" --quick" if quick else ""),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
        "cuda": torch.cuda.is_available(), "quick": quick, "rounds": rounds,
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"), "results": results,
    }  # fmt: skip
    write_text_atomic(out_dir / "train.json", json.dumps(report, indent=2) + "\n")
    return report


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Training throughput", "",
        f"`{report['command']}` on {report['machine']}"
        + ("" if report["cuda"] else " (no CUDA device here: the CUDA rows are absent)")
        + f"; median of {report['rounds']} interleaved rounds, {report['finished']}.", "",
        "Each number is the last epoch's examples per second of a real `lstm-apps train` run"
        " (loading included), from its history.jsonl. Ratio: against the first row of its"
        " kind.", "",
    ]  # fmt: skip
    for kind, unit in (("speech", "clips/s"), ("caption", "images/s")):
        lines += [f"| {kind} | {unit} | ratio | rounds |", "|---|---|---|---|"]
        for r in report["results"]:
            if r["kind"] == kind:
                rounds = ", ".join(f"{v:.0f}" for v in r["rounds"])
                lines.append(f"| {r['case']} | {r['per_second']:.1f} | {r['ratio']:.2f}x | "
                             f"{rounds} |")  # fmt: skip
        lines.append("")
    return "\n".join(lines)
