"""`train caption --weights FILE` end to end: a random state dict in torchvision's format
(the whole classification model's `state_dict()`, as .pth and as .safetensors) trains
frozen and fine-tuned through the CLI; the run and its bundle no longer need the file;
wrong files are one line naming the file, exit 2."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import Tensor
from torchvision import models

from lstm_apps.cli import main
from lstm_apps.data.captions import Vocab
from lstm_apps.data.shapes import generate_shapes
from lstm_apps.nn.caption import CaptionModel, generate
from lstm_apps.runtime.caption import Captioner
from lstm_apps.train.caption import CaptionTrainConfig, load_caption_split
from lstm_apps.train.checkpoint import load_checkpoint
from lstm_apps.train.loop import lr_at

pytestmark = pytest.mark.slow

BACKBONE = "mobilenet_v3_small"  # cut after features.8 (stride 16): 2x2 cells at 32 px
EPOCHS, LR, STEPS_PER_EPOCH = 5, 0.03, 6  # 48 training images, batch 8
WARMUP = CaptionTrainConfig().warmup_steps


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("shapes") / "data"
    generate_shapes(out, count=60, progress=False, workers=1)  # 48 train, 6 val, 6 test
    return out


def random_state(name: str, seed: int = 7, **kwargs: int) -> dict[str, Tensor]:
    """torchvision `name`'s state dict (keys, shapes, dtypes) with values from a generator
    no model init uses: each float tensor drawn around its init's mean with its init's
    spread (0.1 where that is 0), so no default model holds them and the net stays finite."""
    g = torch.Generator().manual_seed(seed)
    state = getattr(models, name)(weights=None, **kwargs).state_dict()
    out = {}
    for k, v in state.items():
        if v.is_floating_point():
            spread = float(v.std()) if v.numel() > 1 and float(v.std()) > 0 else 0.1
            noise = torch.randn(v.shape, generator=g) * spread
            v = (v.mean() + noise).abs() if "running_var" in k else v.mean() + noise
        out[k] = v.contiguous()
    return out


def save_state(state: dict[str, Tensor], path: Path) -> Path:
    if path.suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path)  # torchvision's own format (.pth, the zip container)
    return path


def train_args(data: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "caption", "--data", str(data), "--out", str(out), "--backbone", BACKBONE,
            "--image-size", "32", "--hidden", "32", "--epochs", str(EPOCHS), "--batch-size", "8",
            "--threads", "1", "--vflip", "0", "--lr", str(LR), *extra]  # fmt: skip


def backbone_vs_file(model: CaptionModel) -> list[tuple[str, Tensor, str]]:
    """(checkpoint name, tensor, the file's name for it) for the kept backbone blocks:
    torchvision's `features.N...` is the encoder's `backbone.N...`."""
    return [(k, v, f"features.{k}") for k, v in model.encoder.backbone.state_dict().items()]


@pytest.mark.parametrize("mode, suffix", [("frozen", ".pth"), ("finetune", ".safetensors")])
def test_training_from_a_weights_file(
    data: Path, tmp_path: Path, mode: str, suffix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    state = random_state(BACKBONE)
    weights = save_state(state, tmp_path / f"{BACKBONE}{suffix}")
    run = tmp_path / "run"
    assert main(train_args(data, run, "--weights", str(weights), "--train-backbone", mode)) == 0
    capsys.readouterr()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["train_config"]["model"]["weights_path"] == str(weights)  # provenance
    assert metrics["train_config"]["model"]["train_backbone"] == mode
    losses = [h["train_loss"] for h in metrics["history"]]
    assert len(losses) == EPOCHS and losses[-1] < 0.5 * losses[0], losses  # the head learns

    weights.unlink()  # from here on nothing may need the file
    for name in ("best", "last"):
        header = json.loads((run / name / "config.json").read_text())
        assert header["config"]["weights_path"] is None
        model = load_checkpoint(run / name).model
        assert isinstance(model, CaptionModel)
        pairs = backbone_vs_file(model)
        assert len(pairs) > 100 and all(f in state for _, _, f in pairs)
        if mode == "frozen":  # every weight and BatchNorm statistic is the file's, bit for bit
            for k, v, f in pairs:
                assert torch.equal(v, state[f]), k
            assert not any(p.requires_grad for p in model.encoder.backbone.parameters())
            continue
        moved = {k: float((v - state[f]).abs().max()) for k, v, f in pairs}
        params = [k for k, _ in model.encoder.backbone.named_parameters()]
        # Every weight moved, by less than the Adam steps taken could move it (each about
        # one learning rate; the run is still in its warm-up): it started from the file.
        steps = (header["extra"]["epoch"] + 1) * STEPS_PER_EPOCH
        total = EPOCHS * STEPS_PER_EPOCH
        reach = 1.5 * sum(lr_at(s, total, LR, WARMUP) for s in range(steps))
        assert all(0 < moved[k] < reach for k in params), (reach, moved)
        assert any(moved[k] > 0 for k in moved if k.endswith("running_mean"))
        # ... and a backbone from a fresh init is far from the file
        fresh = models.mobilenet_v3_small(weights=None).state_dict()
        tuned = torch.cat([(v - state[f]).flatten() for k, v, f in pairs if k in params])
        init = torch.cat([(fresh[f] - state[f]).flatten() for k, v, f in pairs if k in params])
        assert float(tuned.abs().mean()) < 0.3 * float(init.abs().mean())

    bundle = tmp_path / "bundle"
    assert (
        main(
            [
                "export",
                "caption",
                str(run),
                str(bundle),
                "--parity-images",
                "6",
                "--checkpoint",
                "last",
            ]
        )
        == 0
    )
    assert "greedy tokens agree" in capsys.readouterr().out
    images = load_caption_split(data, "test").images
    cap = Captioner.from_dir(bundle, intra_op_threads=1)
    got = [c.tokens for c in cap.caption(list(images), beam_size=1)]
    model = load_checkpoint(run / "last").model
    vocab = Vocab.load(run / "vocab.json")
    want = [vocab.decode(h.tokens) for h in generate(model, torch.from_numpy(images))]  # type: ignore[arg-type]
    assert got == want and all(got)


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lstm-apps: error: "), err
    return lines[0]


def test_wrong_weights_files_are_one_line_naming_the_file(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = save_state(random_state(BACKBONE), tmp_path / "good.pth")
    blob = good.read_bytes()
    st = save_state(random_state(BACKBONE), tmp_path / "good.safetensors")
    missing = random_state(BACKBONE)
    del missing["features.3.block.0.0.weight"]
    reshaped = random_state(BACKBONE)
    reshaped["features.1.block.0.0.weight"] = reshaped["features.1.block.0.0.weight"].flatten(2)
    truncated_st = tmp_path / "truncated.safetensors"
    truncated_st.write_bytes(st.read_bytes()[: st.stat().st_size // 2])
    (tmp_path / "truncated.pth").write_bytes(blob[: len(blob) // 2])
    (tmp_path / "notes.pth").write_text("resnet50 weights, to be downloaded\n")
    (tmp_path / "empty.pth").write_bytes(b"")
    torch.save(models.mobilenet_v3_small(weights=None), tmp_path / "whole_model.pth")
    torch.save({"model": random_state(BACKBONE), "epoch": 3}, tmp_path / "checkpoint.pth")
    torch.save(list(random_state(BACKBONE).values()), tmp_path / "list.pth")
    cases = {
        save_state(random_state("resnet18"), tmp_path / "resnet18.pth"):
            r"does not fit torchvision mobilenet_v3_small: \d+ missing keys .*it fits torchvision "
            "resnet18",
        save_state(missing, tmp_path / "missing_key.safetensors"):
            r"1 missing keys \['features.3.block.0.0.weight'\], 0 unexpected",
        save_state(reshaped, tmp_path / "reshaped.pth"):
            r"0 unexpected keys \[\], 1 shape mismatches \['features.1.block.0.0.weight: file "
            r"\(16, 1, 9\) vs model \(16, 1, 3, 3\)'\]",
        tmp_path / "truncated.pth": "cannot read .*: not a whole torch or safetensors file",
        truncated_st: "cannot read .*: not a whole torch or safetensors file",
        tmp_path / "notes.pth": "cannot read .*: not a whole torch or safetensors file",
        tmp_path / "empty.pth": "is empty",
        tmp_path / "whole_model.pth": r"holds Python objects besides tensors .*state_dict\(\)",
        tmp_path / "checkpoint.pth": r"not a flat state dict of tensors \(a dict whose keys "
            r"include \['epoch', 'model'\]\)",
        tmp_path / "list.pth": r"not a flat state dict of tensors \(a list\)",
        tmp_path / "nowhere.pth": "does not exist",
        tmp_path: "is not a file",
    }  # fmt: skip
    for i, (path, message) in enumerate(cases.items()):
        run = tmp_path / f"run{i}"
        mode = ("frozen", "finetune")[i % 2]
        code = main(train_args(data, run, "--weights", str(path), "--train-backbone", mode))
        line = _one_line(capsys.readouterr().err)
        assert code == 2 and str(path) in line and re.search(message, line), (message, line)
        assert not (run / "last").exists()
    # Keys after the cut need not match: a model fine-tuned to 10 classes loads. And the
    # format is read from the content: safetensors bytes named .pth load as safetensors.
    ten = random_state(BACKBONE, num_classes=10)
    save_state(ten, tmp_path / "ten.safetensors").rename(tmp_path / "ten_classes.pth")
    args = ["--weights", str(tmp_path / "ten_classes.pth"), "--train-backbone", "frozen"]
    assert main(train_args(data, tmp_path / "ten", *args, "--epochs", "1")) == 0
    capsys.readouterr()
    model = load_checkpoint(tmp_path / "ten" / "last").model
    assert isinstance(model, CaptionModel)
    assert all(torch.equal(v, ten[f]) for _, v, f in backbone_vs_file(model))
    assert main(train_args(data, tmp_path / "r2", "--train-backbone", "frozen")) == 2
    assert "--train-backbone frozen needs --weights FILE" in _one_line(capsys.readouterr().err)
