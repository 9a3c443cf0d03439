"""`lstm-apps release --quick` end to end, its resume, and `lstm-apps explain` on its output."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from lstm_apps.cli import main
from lstm_apps.release import plan
from lstm_apps.runtime.caption import Captioner
from lstm_apps.runtime.errors import ModelFileError
from lstm_apps.runtime.speech import SpeechClassifier

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("release")
    code = main(["release", "--quick", "--work", str(root / "work"), "--out", str(root / "out")])
    assert code == 0
    return root


def test_release_writes_both_bundles_with_cards_and_checkpoints(released: Path) -> None:
    out = released / "out"
    for kind in ("speech", "caption"):
        steps = plan(kind, released / "work", out, quick=True)
        bundle = out / kind
        assert (bundle / "checkpoint" / "model.safetensors").is_file()
        card = (bundle / "MODEL_CARD.md").read_text()
        for step in steps:  # the card quotes the exact command of every step
            assert step.command in card, (step.command, card)
        assert "## Inputs and outputs" in card and "total:" in card
        generator = json.loads((released / "work" / "data" / kind / "generator.json").read_text())
        assert generator["command"] == steps[0].command
        assert generator["settings"]["seed"] == 0
    assert SpeechClassifier.from_dir(out / "speech").classify(
        [str(p) for p in sorted((ROOT / "samples" / "speech").glob("*_*.wav"))[:2]]
    )
    assert Captioner.from_dir(out / "caption").caption([ROOT / "samples" / "images" / "scene1.png"])


def test_release_rerun_keeps_finished_steps(
    released: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    work, out = released / "work", released / "out"
    metrics = (work / "runs" / "caption" / "metrics.json").stat().st_mtime_ns
    assert main(["release", "--quick", "--only", "caption", "--work", str(work),
                 "--out", str(out)]) == 0  # fmt: skip
    # both data folders, the training and its two evaluations
    assert capsys.readouterr().out.count("already done (") == 5
    assert (work / "runs" / "caption" / "metrics.json").stat().st_mtime_ns == metrics


def test_release_remakes_one_data_folder_and_what_builds_on_it(
    released: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    work, out = released / "work", released / "out"
    flite = (work / "data" / "flite" / "generator.json").stat().st_mtime_ns
    metrics = (work / "runs" / "speech" / "metrics.json").stat().st_mtime_ns
    shutil.rmtree(work / "data" / "speech-heldout")
    assert main(["release", "--quick", "--only", "speech", "--work", str(work),
                 "--out", str(out)]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert printed.count("already done (") == 2  # the two other data folders
    assert (work / "data" / "flite" / "generator.json").stat().st_mtime_ns == flite
    assert (work / "data" / "speech-heldout" / "generator.json").is_file()
    assert (work / "runs" / "speech" / "metrics.json").stat().st_mtime_ns != metrics
    assert "its data changed: deleting the old run" in printed


def test_release_redoes_what_builds_on_a_data_folder_newer_than_the_training(
    released: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a data folder made again (or swapped in by hand) with the same command: the
    # training's recorded command still matches, but it was trained on older data
    import os
    import time

    work, out = released / "work", released / "out"
    metrics = (work / "runs" / "caption" / "metrics.json").stat().st_mtime_ns
    now = time.time()
    os.utime(work / "data" / "caption" / "generator.json", (now, now))
    assert main(["release", "--quick", "--only", "caption", "--work", str(work),
                 "--out", str(out)]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "an earlier step's output is newer than this step's: redone" in printed
    assert printed.count("already done (") == 2  # the two data folders
    assert (work / "runs" / "caption" / "metrics.json").stat().st_mtime_ns != metrics


def _fake_plan(root: Path, fit: Any) -> list[Any]:
    """A data step and a training step that write what the real ones write."""
    from lstm_apps.release import _recorded

    data, run = root / "data", root / "run"

    def make_data(command: str) -> None:
        data.mkdir(parents=True, exist_ok=True)
        (data / "generator.json").write_text(json.dumps({"command": command}, indent=2))

    return [_recorded("data", ["data"], data / "generator.json", make_data),
            _recorded("train", ["train"], run / "metrics.json", partial(fit, run))]  # fmt: skip


def test_release_resumes_an_interrupted_training_and_redoes_one_on_newer_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import os
    import time

    import lstm_apps.release as release_module

    starts: list[str] = []

    def fit(run: Path, command: str, stop: list[bool]) -> None:
        starts.append("resumed" if (run / "last").exists() else "fresh")
        (run / "last").mkdir(parents=True, exist_ok=True)  # an epoch's checkpoint
        if stop:
            raise KeyboardInterrupt
        (run / "metrics.json").write_text(json.dumps({"command": command}, indent=2))

    stop = [True]
    steps = _fake_plan(tmp_path, partial(fit, stop=stop))
    monkeypatch.setattr(release_module, "plan", lambda *a, **k: steps)
    (tmp_path / "out" / "speech").mkdir(parents=True)
    with pytest.raises(KeyboardInterrupt):
        release_module.release(("speech",), work=tmp_path, out=tmp_path / "out")
    stop.clear()
    release_module.release(("speech",), work=tmp_path, out=tmp_path / "out")
    assert starts == ["fresh", "resumed"]  # Ctrl-C in training costs the epochs since last/
    assert "deleting the old run" not in capsys.readouterr().out
    # the data newer than the training (made again, or swapped in by hand): trained afresh,
    # and since only the file times say so, the old run is moved aside, not deleted
    now = time.time() + 1
    os.utime(tmp_path / "data" / "generator.json", (now, now))
    release_module.release(("speech",), work=tmp_path, out=tmp_path / "out")
    assert starts == ["fresh", "resumed", "fresh"]
    assert "its data is newer: the old run moved to" in capsys.readouterr().out
    (kept,) = tmp_path.glob("run.old-*")
    assert (kept / "metrics.json").is_file()


def test_release_moves_aside_a_run_of_another_training_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A recipe change (e.g. FRONTEND_NORM) changes the training command: the finished run
    of the old command is not resumed (its train_config would refuse) but moved aside."""
    import lstm_apps.release as release_module

    starts: list[str] = []

    def fit(run: Path, command: str) -> None:
        starts.append("resumed" if (run / "last").exists() else "fresh")
        (run / "last").mkdir(parents=True, exist_ok=True)
        (run / "metrics.json").write_text(json.dumps({"command": command}, indent=2))

    (tmp_path / "out" / "speech").mkdir(parents=True)
    steps = _fake_plan(tmp_path, fit)
    monkeypatch.setattr(release_module, "plan", lambda *a, **k: steps)
    release_module.release(("speech",), work=tmp_path, out=tmp_path / "out")
    train = steps[1]
    steps[1] = release_module._recorded("train", ["train", "--frontend-norm", "pcen"],
                                        train.done, train.call)  # fmt: skip
    release_module.release(("speech",), work=tmp_path, out=tmp_path / "out")
    assert starts == ["fresh", "fresh"]
    assert "another command made it: the old run moved to" in capsys.readouterr().out
    (kept,) = tmp_path.glob("run.old-*")
    assert '"command": "lstm-apps train"' in (kept / "metrics.json").read_text()
    assert "--frontend-norm pcen" in (tmp_path / "run" / "metrics.json").read_text()


def test_release_refuses_a_data_folder_made_differently(
    released: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    work = released / "work"
    code = main(["release", "--quick", "--only", "caption", "--seed", "3", "--work",
                 str(work), "--out", str(released / "out3")])  # fmt: skip
    assert code == 2
    assert "exists and is not an empty folder" in capsys.readouterr().err


def test_export_refuses_a_bundle_over_its_budget_and_keeps_the_old_one(
    released: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, bundle = released / "work" / "runs" / "caption", released / "out" / "caption"
    before = {p.name: p.read_bytes() for p in bundle.iterdir() if p.is_file()}
    siblings = sorted(p.name for p in bundle.parent.iterdir())
    code = main(["export", "caption", str(run), str(bundle), "--parity-images", "4",
                 "--max-mb", "0.5"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "over the limit of 0.5 MB" in err and "left as it was" in err, err
    assert {p.name: p.read_bytes() for p in bundle.iterdir() if p.is_file()} == before
    assert sorted(p.name for p in bundle.parent.iterdir()) == siblings  # no temporary left


def test_release_fresh_redoes_every_step(released: Path) -> None:
    work = released / "work"
    before = (work / "runs" / "caption" / "metrics.json").stat().st_mtime_ns
    data = (work / "data" / "caption" / "generator.json").stat().st_mtime_ns
    assert main(["release", "--quick", "--only", "caption", "--fresh", "--work", str(work),
                 "--out", str(released / "out-fresh")]) == 0  # fmt: skip
    assert (work / "runs" / "caption" / "metrics.json").stat().st_mtime_ns != before
    assert (work / "data" / "caption" / "generator.json").stat().st_mtime_ns != data
    assert (released / "out-fresh" / "caption" / "MODEL_CARD.md").is_file()


def test_explain_draws_gates_for_both_heads(released: Path, tmp_path: Path) -> None:
    out = released / "out"
    wav = sorted((ROOT / "samples" / "speech").glob("*_*.wav"))[0]
    png = tmp_path / "speech.png"
    assert main(["explain", "speech", str(wav), "--model", str(out / "speech"),
                 "--png", str(png)]) == 0  # fmt: skip
    assert Image.open(png).size[1] > 400
    png = tmp_path / "caption.png"
    image = ROOT / "samples" / "images" / "scene1.png"
    assert main(["explain", "caption", str(image), "--model", str(out / "caption"),
                 "--png", str(png)]) == 0  # fmt: skip
    assert Image.open(png).size[0] > 400


def test_explain_names_a_folder_without_weights(tmp_path: Path) -> None:
    from lstm_apps.explain import resolve_checkpoint

    with pytest.raises(ModelFileError, match="no speech weights"):
        resolve_checkpoint("speech", tmp_path)


def test_explain_refuses_a_gru_by_name(tmp_path: Path) -> None:
    from lstm_apps.explain import load_speech_model
    from lstm_apps.nn.speech import SpeechClassifierNet, SpeechConfig
    from lstm_apps.train.checkpoint import save_checkpoint

    net = SpeechClassifierNet(SpeechConfig(hidden_size=8, num_layers=1, cell="gru"))
    save_checkpoint(tmp_path / "gru", net, kind="speech")
    with pytest.raises(ModelFileError, match="cell is a GRU"):
        load_speech_model(tmp_path / "gru")
