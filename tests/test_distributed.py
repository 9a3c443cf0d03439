"""torchrun on 2 CPU processes (gloo on 127.0.0.1) follows the 1-process run, and resumes.

`--batch-size` is the global batch, and everything random that decides a step (order,
augmentation) is drawn alike on every process, so 2 processes with half the batch each
must train what 1 process with the whole batch trains. Only the order of floating-point
sums differs (the gradient all-reduce, 1 vs 2 threads per GEMM), hence a tolerance rather
than bit equality: losses within 1e-4 relative, weights within 1e-3 after every step of
the run. Dropout is 0 here: its masks are drawn per process, so with dropout the runs
agree in distribution, not number for number.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from lstm_apps.data.shapes import generate_shapes
from lstm_apps.data.speech_synth import generate_speech_commands
from lstm_apps.data.speech_transform import TransformConfig
from lstm_apps.train.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow
LOSS_RTOL = 1e-4
WEIGHT_ATOL = 1e-3

SPEECH = ["--epochs", "3", "--batch-size", "16", "--lr", "1e-2", "--hidden", "16",
          "--layers", "1", "--dropout", "0", "--threads", "2", "--seed", "3"]  # fmt: skip
CAPTION = ["--epochs", "2", "--batch-size", "8", "--image-size", "32", "--hidden", "32",
           "--cut", "layer1", "--grid", "4", "--threads", "2", "--backbone", "resnet18",
           "--dropout", "0"]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(args: list[str], procs: int) -> list[str]:
    if procs == 1:
        return [sys.executable, "-m", "lstm_apps", *args]
    return [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(procs),
        "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
        "-m", "lstm_apps", *args,
    ]  # fmt: skip


def _run(
    args: list[str], procs: int, kill_after: str | None = None, saved: Path | None = None
) -> list[str]:
    """Run the CLI (under torchrun when procs > 1); with kill_after, SIGKILL it and every
    process it started once a printed line starts with it and the file `saved` has as
    many lines as lines starting with it were printed. Returns the printed lines."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        _cli(args, procs), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line.rstrip())
        if kill_after is not None and line.startswith(kill_after):
            assert saved is not None
            while not (saved.is_file() and saved.read_text().count("\n") >= 1):
                time.sleep(0.001)  # the epoch is logged, then saved
            # torchrun starts its workers in sessions of their own: stop every process
            # under it at once (no epoch may finish after the line), then kill them all
            family = [proc.pid, *_descendants(proc.pid)]
            for sig in (signal.SIGSTOP, signal.SIGKILL):
                for pid in family:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, sig)
            break
    proc.stdout.read()
    code = proc.wait()
    if kill_after is None:
        assert code == 0, "\n".join(lines[-30:])
    else:
        assert code != 0, "the run finished before it could be killed"
    return lines


def _descendants(pid: int) -> list[int]:
    """Every process below pid (from /proc: this test runs on Linux)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _history(run: Path) -> list[dict[str, float]]:
    return [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]


def _max_weight_diff(a: Path, b: Path) -> float:
    wa, wb = (load_checkpoint(p).model.state_dict() for p in (a, b))
    assert wa.keys() == wb.keys()
    return max(float((wa[k].float() - wb[k].float()).abs().max()) for k in wa)


def _same_losses(one: Path, two: Path, key: str) -> None:
    h1, h2 = _history(one), _history(two)
    assert len(h1) == len(h2)
    for r1, r2 in zip(h1, h2, strict=True):
        assert r2[key] == pytest.approx(r1[key], rel=LOSS_RTOL), (h1, h2)


@pytest.fixture(scope="module")
def speech_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ddp") / "speech"
    generate_speech_commands(
        out, speakers=32, repeats=2, noise_seconds=2, progress=False,
        words=("yes", "no", "up"), extra_words=("cat", "bed"), extra_per_speaker=2,
        transforms=TransformConfig.off(),
    )  # fmt: skip
    return out


def test_two_processes_follow_one_and_resume(speech_data: Path, tmp_path: Path) -> None:
    one, two, cut = tmp_path / "one", tmp_path / "two", tmp_path / "cut"
    base = ["train", "speech", "--data", str(speech_data), *SPEECH]
    _run([*base, "--out", str(one)], 1)
    lines = _run([*base, "--out", str(two)], 2)
    # rank 0 alone logs: one line per epoch, not two
    assert sum(line.startswith("epoch ") for line in lines) == 3, lines
    assert any("2 processes (gloo)" in line for line in lines), lines
    _same_losses(one, two, "train_loss")
    assert _max_weight_diff(one / "last", two / "last") < WEIGHT_ATOL
    m1, m2 = (json.loads((r / "metrics.json").read_text()) for r in (one, two))
    assert m2["test_accuracy"] == pytest.approx(m1["test_accuracy"], abs=0.02)

    # killed under torchrun after its first epoch, the rerun resumes there and ends
    # where the uninterrupted 2-process run ended, bit for bit
    _run([*base, "--out", str(cut)], 2, kill_after="epoch   1", saved=cut / "history.jsonl")
    assert len(_history(cut)) == 1
    lines = _run([*base, "--out", str(cut)], 2)
    assert any("resuming from" in line and "at epoch 2" in line for line in lines), lines
    assert [h["train_loss"] for h in _history(cut)] == [h["train_loss"] for h in _history(two)]
    assert _max_weight_diff(cut / "last", two / "last") == 0.0


def test_two_process_caption_follows_one(tmp_path: Path) -> None:
    """A frozen backbone: a training BatchNorm normalises over each process's part of the
    batch (DDP's default), so a backbone trained from scratch follows only roughly."""
    import torchvision

    data, weights = tmp_path / "shapes", tmp_path / "resnet18.pth"
    generate_shapes(data, count=60, progress=False, workers=1)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), weights)
    one, two = tmp_path / "one", tmp_path / "two"
    base = ["train", "caption", "--data", str(data), *CAPTION, "--weights", str(weights),
            "--train-backbone", "frozen"]  # fmt: skip
    _run([*base, "--out", str(one)], 1)
    _run([*base, "--out", str(two), "--workers", "1"], 2)  # workers too: the same batches
    _same_losses(one, two, "train_loss")
    assert _max_weight_diff(one / "last", two / "last") < WEIGHT_ATOL


def test_batch_must_split_over_processes(speech_data: Path, tmp_path: Path) -> None:
    args = ["train", "speech", "--data", str(speech_data), "--out", str(tmp_path / "r"),
            *SPEECH[:2], "--batch-size", "15"]  # fmt: skip
    proc = subprocess.run(_cli(args, 2), capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "--batch-size 15 is the global batch" in proc.stdout + proc.stderr
    assert torch.distributed.is_available()
