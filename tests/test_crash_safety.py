"""Crash safety, as a test: SIGKILL `train speech` and `export speech` at moments drawn
from a fixed seed, in a subprocess, and check what a rerun finds.

Training: each rerun resumes from the last finished epoch, no temporary or half-written
checkpoint is left, and the final weights equal those of an uninterrupted run, bit for bit.
Export into an existing bundle: the old bundle stays loadable (checksums verified) after
every kill, and the next export leaves no partial folder.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from lstm_apps.data.speech_synth import generate_speech_commands
from lstm_apps.data.speech_transform import TransformConfig
from lstm_apps.nn.speech import SpeechConfig
from lstm_apps.runtime.speech import SpeechClassifier
from lstm_apps.train.checkpoint import load_checkpoint
from lstm_apps.train.speech import SpeechTrainConfig, train_speech
from lstm_apps.train.speech_augment import AugmentConfig

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
EPOCHS = 10
CFG = SpeechTrainConfig(
    threads=1, epochs=EPOCHS, batch_size=16, lr=1e-2, warmup_steps=5,
    model=SpeechConfig(hidden_size=16, num_layers=1, dropout=0.0),
    augment=AugmentConfig.off(),
)  # fmt: skip

_TRAIN = f"""
import sys
sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
from pathlib import Path
from test_crash_safety import CFG
from lstm_apps.train.speech import train_speech
train_speech(Path(sys.argv[1]), Path(sys.argv[2]), CFG, log=lambda s: print(s, flush=True))
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("crash") / "data"
    generate_speech_commands(
        out, speakers=16, repeats=1, noise_seconds=2, progress=False, words=("yes", "no"),
        extra_words=("cat",), extra_per_speaker=1, transforms=TransformConfig.off(),
    )  # fmt: skip
    return out


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*") if p.name.endswith((".tmp", ".old")))


def _kill_after(
    argv: list[str], trigger: str, delay: float, times: int = 1
) -> tuple[int, list[str]]:
    """Run argv; SIGKILL it `delay` s after the `times`-th line it prints that starts with
    `trigger` (or let it finish). Returns the exit code and the lines it printed."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line.rstrip())
        times -= line.startswith(trigger)
        if times == 0:
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            break
    proc.stdout.read()
    return proc.wait(), lines


def _epoch_of(run: Path) -> int:
    """Epochs finished, as last/ records them (it is what a rerun resumes from)."""
    if not (run / "last").exists():
        return 0
    return int(load_checkpoint(run / "last").extra["epoch"]) + 1  # never half-written: loads


def test_killed_training_resumes_to_the_same_weights(data: Path, tmp_path: Path) -> None:
    whole = tmp_path / "whole"
    train_speech(data, whole, CFG, log=lambda s: None)
    run = tmp_path / "killed"
    argv = [sys.executable, "-c", _TRAIN, str(data), str(run)]
    rng = np.random.default_rng(0)
    kills = 0
    for _ in range(3):  # after 1-2 epochs of each run, while the next trains or is saved
        before = _epoch_of(run)
        delay, times = float(rng.uniform(0.0, 0.02)), int(rng.integers(1, 3))
        code, lines = _kill_after(argv, "epoch ", delay, times)
        assert code == -signal.SIGKILL, lines[-5:]
        kills += 1
        if before:
            assert any(f"resuming from {run / 'last'} at epoch {before + 1}" in s for s in lines)
        assert all(n.startswith((".last.", ".best.")) for n in _leftovers(run))
        assert _epoch_of(run) >= before  # a kill loses at most the epoch in progress
    code, lines = _kill_after(argv, "never", 0.0)
    assert code == 0, lines[-5:]
    assert kills == 3
    assert _leftovers(run) == []  # the rerun removed the killed writers' temporaries
    assert _epoch_of(run) == EPOCHS

    def history(r: Path) -> list[dict[str, float]]:  # all but the wall time
        rows = [json.loads(s) for s in (r / "history.jsonl").read_text().splitlines()]
        timing = {"seconds", "train_seconds", "clips_per_second"}
        return [{k: v for k, v in row.items() if k not in timing} for row in rows]

    assert history(run) == history(whole)
    a = load_checkpoint(whole / "last").model.state_dict()
    b = load_checkpoint(run / "last").model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    got = json.loads((run / "metrics.json").read_text())["test_accuracy"]
    assert got == json.loads((whole / "metrics.json").read_text())["test_accuracy"]


_EXPORT = """
import sys
from pathlib import Path
import numpy as np
from lstm_apps.onnx.speech import export_speech
from lstm_apps.train.checkpoint import load_checkpoint
net = load_checkpoint(Path(sys.argv[1])).model
clips = (np.random.default_rng(0).standard_normal((8, 16000)) * 0.1).astype(np.float32)
print("start", flush=True)
export_speech(net, Path(sys.argv[2]), clips, min_int8_agreement=0.0, stream_chunks=(1600,))
print("done", flush=True)
"""


def test_killed_export_keeps_the_old_bundle(data: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    train_speech(data, run, replace(CFG, epochs=1), log=lambda s: None)
    bundle = tmp_path / "bundle"
    argv = [sys.executable, "-c", _EXPORT, str(run / "last"), str(bundle)]
    code, lines = _kill_after(argv, "never", 0.0)
    assert code == 0 and lines[-1] == "done", lines[-5:]
    first = json.loads((bundle / "config.json").read_text())["files"]
    start = time.perf_counter()
    _kill_after(argv, "never", 0.0)
    export_seconds = time.perf_counter() - start  # a whole export, to spread the kills over
    for delay in np.random.default_rng(1).uniform(0.0, export_seconds, 6):
        code, lines = _kill_after(argv, "start", float(delay))
        assert SpeechClassifier.from_dir(bundle).labels  # verified: the old or the new
        assert json.loads((bundle / "config.json").read_text())["files"] == first
    code, lines = _kill_after(argv, "never", 0.0)
    assert code == 0, lines[-5:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle", "run"]  # nothing partial
    SpeechClassifier.from_dir(bundle)
