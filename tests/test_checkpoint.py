"""Checkpoints: safetensors + JSON, atomic, rebuilt from the files alone, no pickle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from lstm_apps.nn.decoder import DecoderConfig, LSTMDecoder
from lstm_apps.runtime.errors import CheckpointError
from lstm_apps.runtime.files import atomic_dir
from lstm_apps.train.checkpoint import load_checkpoint, save_checkpoint


def test_round_trip_rebuilds_model(tmp_path: Path) -> None:
    cfg = DecoderConfig(3, 5, num_layers=2, cell="gru")
    model = LSTMDecoder(cfg)
    state = {"optimizer.step": torch.tensor(7)}
    save_checkpoint(tmp_path / "ck", model, kind="lstm_decoder", extra={"epoch": 3}, state=state)
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == [
        "config.json", "model.safetensors", "state.safetensors",
    ]  # fmt: skip
    header = json.loads((tmp_path / "ck" / "config.json").read_text())
    assert header["config"] == cfg.to_dict() and header["extra"] == {"epoch": 3}
    ck = load_checkpoint(tmp_path / "ck", with_state=True)
    assert ck.config == cfg and ck.extra["epoch"] == 3 and int(ck.state["optimizer.step"]) == 7
    x = torch.randn(2, 4, 3)
    torch.testing.assert_close(ck.model(x)[0], model.eval()(x)[0])


def test_overwrite_is_atomic_and_leaves_no_debris(tmp_path: Path) -> None:
    m1, m2 = LSTMDecoder(DecoderConfig(2, 3)), LSTMDecoder(DecoderConfig(2, 3))
    save_checkpoint(tmp_path / "ck", m1, kind="lstm_decoder")
    save_checkpoint(tmp_path / "ck", m2, kind="lstm_decoder")
    loaded = load_checkpoint(tmp_path / "ck").model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in m2.state_dict().items())
    assert [p.name for p in tmp_path.iterdir()] == ["ck"]


def test_failed_write_keeps_the_old_directory(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "d") as tmp:
        (tmp / "f").write_text("new")
        raise RuntimeError("crash mid-write")
    assert (tmp_path / "d" / "f").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["d"]


def test_errors_are_typed(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"missing config\.json"):
        load_checkpoint(tmp_path)
    save_checkpoint(tmp_path / "ck", LSTMDecoder(DecoderConfig(2, 3)), kind="lstm_decoder")
    cfg = tmp_path / "ck" / "config.json"
    header = json.loads(cfg.read_text())
    header["config"]["hidden_size"] = 4  # weights no longer fit
    cfg.write_text(json.dumps(header))
    with pytest.raises(CheckpointError, match="does not match"):
        load_checkpoint(tmp_path / "ck")
    header["kind"] = "os.system"
    cfg.write_text(json.dumps(header))
    with pytest.raises(CheckpointError, match="unknown model kind"):
        load_checkpoint(tmp_path / "ck")
    with pytest.raises(CheckpointError, match="unknown model kind"):
        save_checkpoint(tmp_path / "x", LSTMDecoder(DecoderConfig(2, 3)), kind="nope")
    assert not (tmp_path / "x").exists()


def test_no_pickle_in_the_package() -> None:
    # Reading a user's torchvision .pth weights needs torch.load, but only in its
    # weights_only mode, which refuses arbitrary objects; nothing may write pickle.
    root = Path(__file__).resolve().parents[1] / "lstm_apps"
    offenders = []
    for p in root.rglob("*.py"):
        for n, line in enumerate(p.read_text().splitlines(), 1):
            if "import pickle" in line or "torch.save(" in line:
                offenders.append(f"{p.name}:{n}")
            if "torch.load(" in line and "weights_only=True" not in line:
                offenders.append(f"{p.name}:{n}")
    assert offenders == []
