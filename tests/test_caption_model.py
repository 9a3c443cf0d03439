"""Caption encoder (torchvision backbones on uint8 images), attention decoder, config."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torchvision import models

from lstm_apps.nn.caption import CaptionConfig, CaptionModel
from lstm_apps.nn.caption_config import BACKBONE_NAMES
from lstm_apps.nn.caption_encoder import BACKBONES, DEFAULT_CUTS, backbone_cuts
from lstm_apps.runtime.errors import ModelFileError
from lstm_apps.train.checkpoint import load_checkpoint, save_checkpoint

torch.set_num_threads(1)
TINY: dict[str, Any] = dict(
    vocab_size=11, image_size=32, feature_dim=8, embed_dim=6, hidden_size=10, attention_dim=7
)


def _images(*shape: int) -> torch.Tensor:
    return torch.randint(0, 256, shape, dtype=torch.uint8)


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
def test_every_backbone_gives_grid_features(backbone: str) -> None:
    cfg = CaptionConfig(backbone=backbone, num_layers=2, **TINY)
    assert cfg.cut == DEFAULT_CUTS[backbone]
    assert cfg.grid == math.ceil(32 / backbone_cuts(backbone)[cfg.cut])
    model = CaptionModel(cfg).eval()
    for shape in [(2, 37, 53, 3), (1, 64, 64, 3)]:
        features, keys, h0, c0 = model.encode(_images(*shape))
        assert features.shape == (shape[0], cfg.num_cells, 8)
        assert keys.shape == (shape[0], cfg.num_cells, cfg.attention_dim)
        assert h0.shape == c0.shape == (2, shape[0], 10)
        assert torch.isfinite(features).all() and h0.abs().max() < 1  # tanh init
    assert not isinstance(model.encoder.pool, torch.nn.AdaptiveAvgPool2d)  # grid = map side


def test_grid_pools_and_cut_choices() -> None:
    cfg = CaptionConfig(**{**TINY, "image_size": 64}, grid=4)  # layer2 map is 8x8
    features, _, _, _ = CaptionModel(cfg).encode(_images(3, 50, 70, 3))
    assert features.shape == (3, 16, 8)
    assert CaptionConfig(**TINY, cut="layer3").grid == 2
    assert CaptionConfig(**TINY, backbone="efficientnet_b0", cut="features.3").grid == 4
    with pytest.raises(ValueError, match="grid must divide"):
        CaptionConfig(**{**TINY, "image_size": 64}, grid=3)
    with pytest.raises(ValueError, match="grid must divide"):
        CaptionConfig(**TINY, grid=8)  # larger than the 4x4 map
    with pytest.raises(ValueError, match=r"unknown cut 'layer9'.*layer1"):
        CaptionConfig(**TINY, cut="layer9")
    with pytest.raises(ValueError, match=r"features\.12"):
        CaptionConfig(**TINY, backbone="mobilenet_v3_small", cut="layer2")


def test_unknown_backbone_names_the_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown backbone 'vgg16'.*mobilenet_v3_small.*resnet18"):
        CaptionConfig(**TINY, backbone="vgg16")


def test_preprocessing_is_inside_the_encoder() -> None:
    model = CaptionModel(CaptionConfig(**TINY)).eval()
    images = _images(2, 32, 32, 3)  # already at image_size: the resize is the identity
    x = images.permute(0, 3, 1, 2).float() / 255
    mean, std = torch.tensor(model.config.mean), torch.tensor(model.config.std)
    expected = (x - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
    torch.testing.assert_close(model.encoder.preprocess(images), expected)
    big = _images(1, 80, 48, 3)
    resized = F.interpolate(big.permute(0, 3, 1, 2).float(), size=(32, 32), mode="bilinear")
    expected = (resized / 255 - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
    torch.testing.assert_close(model.encoder.preprocess(big), expected)
    with pytest.raises(ValueError, match="uint8"):
        model.encode(images.float())
    with pytest.raises(ValueError, match=r"\(B, H, W, 3\)"):
        model.encode(images.permute(0, 3, 1, 2).contiguous())


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_weights_path_loads_a_state_dict(tmp_path: Path, suffix: str) -> None:
    source = models.resnet18(weights=None)
    path = tmp_path / f"resnet18{suffix}"
    if suffix == ".safetensors":
        save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    else:
        torch.save(source.state_dict(), path)
    cfg = CaptionConfig(**TINY, weights_path=str(path), train_backbone="finetune")
    model = CaptionModel(cfg)
    for name in ("conv1.weight", "layer2.1.conv2.weight", "layer1.0.bn1.running_var"):
        torch.testing.assert_close(
            model.encoder.backbone.state_dict()[name], source.state_dict()[name]
        )
    other = CaptionModel(CaptionConfig(**TINY)).encoder.backbone.conv1.weight
    assert not torch.equal(other, source.conv1.weight)  # random init really differs
    # the model's own state dict now holds these weights, so its config no longer needs the file
    assert model.config.weights_path is None and model.backbone_weights == str(path)
    assert model.config.train_backbone == "finetune"


def test_weights_path_errors(tmp_path: Path) -> None:
    wrong = tmp_path / "mobilenet.safetensors"
    state = models.mobilenet_v3_small(weights=None).state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, str(wrong))
    with pytest.raises(ModelFileError, match=r"does not fit torchvision resnet18.*missing keys"):
        CaptionModel(CaptionConfig(**TINY, weights_path=str(wrong), train_backbone="frozen"))
    shapes = tmp_path / "resnet34.safetensors"  # resnet34 has resnet18's names and more blocks
    r34 = models.resnet34(weights=None).state_dict()
    save_file({k: v.contiguous() for k, v in r34.items()}, str(shapes))
    with pytest.raises(ModelFileError, match="unexpected keys"):
        CaptionModel(CaptionConfig(**TINY, weights_path=str(shapes), train_backbone="finetune"))
    with pytest.raises(ModelFileError, match="does not exist"):
        CaptionModel(
            CaptionConfig(**TINY, weights_path=str(tmp_path / "no.pt"), train_backbone="frozen")
        )
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(ModelFileError, match="cannot read"):
        CaptionModel(CaptionConfig(**TINY, weights_path=str(junk), train_backbone="frozen"))
    with pytest.raises(ValueError, match="scratch"):
        CaptionConfig(**TINY, weights_path=str(junk))


def test_frozen_backbone_has_no_trainable_params() -> None:
    model = CaptionModel(CaptionConfig(**TINY, train_backbone="frozen")).train()
    backbone = model.encoder.backbone
    assert not any(p.requires_grad for p in backbone.parameters())
    assert not backbone.training and model.encoder.proj.training  # BatchNorm stats stay fixed
    stats = backbone.state_dict()["bn1.running_mean"].clone()
    logits, _ = model(_images(2, 40, 40, 3), torch.randint(4, 11, (2, 5)))
    logits.sum().backward()
    torch.testing.assert_close(backbone.state_dict()["bn1.running_mean"], stats)
    assert all(p.grad is None for p in backbone.parameters())
    assert model.encoder.proj.weight.grad is not None and model.decoder.out.weight.grad is not None
    trainable = CaptionModel(CaptionConfig(**TINY)).encoder.backbone
    assert all(p.requires_grad for p in trainable.parameters())


@pytest.mark.parametrize("cell, layers", [("lstm", 1), ("lstm", 2), ("gru", 2)])
def test_teacher_forcing_equals_stepping(cell: str, layers: int) -> None:
    cfg = CaptionConfig(**TINY, cell=cell, num_layers=layers)  # type: ignore[arg-type]
    model = CaptionModel(cfg).eval()
    images, captions = _images(3, 33, 45, 3), torch.randint(0, 11, (3, 6))
    captions[:, 0] = 1
    with torch.no_grad():
        logits, alphas = model(images, captions)
        features, keys, h, c = model.encode(images)
        torch.testing.assert_close(keys, model.decoder.att_feat(features), rtol=0, atol=0)
        assert logits.shape == (3, 5, 11) and alphas.shape == (3, 5, cfg.num_cells)
        for t in range(5):
            logprobs, h, c, alpha = model.step(captions[:, t], h, c, features, keys)
            assert logprobs.shape == (3, 11) and h.shape == c.shape == (layers, 3, 10)
            torch.testing.assert_close(logprobs, F.log_softmax(logits[:, t], dim=-1))
            torch.testing.assert_close(alpha, alphas[:, t])
    torch.testing.assert_close(alphas.sum(dim=-1), torch.ones(3, 5))
    assert (alphas > 0).all() and alphas.std() > 0  # a real distribution, not uniform
    torch.testing.assert_close(logprobs.exp().sum(dim=-1), torch.ones(3))


def test_config_round_trip_through_json(tmp_path: Path) -> None:
    cfg = CaptionConfig(
        vocab_size=30, backbone="mobilenet_v3_small", image_size=96, cell="gru", num_layers=2,
        weights_path=str(tmp_path / "w.safetensors"), train_backbone="frozen",
        mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), max_len=16,
    )  # fmt: skip
    d = json.loads(json.dumps(cfg.to_dict()))
    assert d["cut"] == "features.8" and d["grid"] == 6 and d["mean"] == [0.5, 0.5, 0.5]
    assert CaptionConfig.from_dict(d) == cfg
    default = CaptionConfig(vocab_size=30)
    assert CaptionConfig.from_dict(json.loads(json.dumps(default.to_dict()))) == default
    assert (default.cut, default.grid, default.num_cells) == ("layer2", 8, 64)
    with pytest.raises(ValueError, match="vocab_size"):
        CaptionConfig(vocab_size=3)
    with pytest.raises(ValueError, match="train_backbone"):
        CaptionConfig(vocab_size=30, train_backbone="partial")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cell"):
        CaptionConfig(vocab_size=30, cell="rnn")  # type: ignore[arg-type]


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    model = CaptionModel(CaptionConfig(**TINY, backbone="mobilenet_v3_small")).eval()
    save_checkpoint(tmp_path / "ck", model, kind="caption")
    ck = load_checkpoint(tmp_path / "ck")
    assert ck.kind == "caption" and ck.config == model.config
    images, captions = _images(2, 32, 32, 3), torch.randint(0, 11, (2, 4))
    with torch.no_grad():
        torch.testing.assert_close(ck.model(images, captions), model(images, captions))


def test_position_embedding_is_optional_and_saved() -> None:
    from lstm_apps.nn.caption import CaptionConfig, CaptionModel

    with_pos = CaptionModel(CaptionConfig(vocab_size=6, image_size=32, feature_dim=8))
    without = CaptionModel(
        CaptionConfig(vocab_size=6, image_size=32, feature_dim=8, position=False)
    )
    assert "encoder.position" in with_pos.state_dict()
    assert "encoder.position" not in without.state_dict()
    assert CaptionConfig.from_dict(without.config.to_dict()).position is False
    # the same pixels in every cell still give different features per cell
    flat = torch.full((1, 32, 32, 3), 128, dtype=torch.uint8)
    feats = with_pos.eval().encode(flat)[0][0]
    assert feats.shape == (16, 8) and torch.unique(feats, dim=0).shape[0] == 16


def test_config_knows_every_backbone_the_encoder_builds() -> None:
    assert set(BACKBONE_NAMES) == set(BACKBONES) == set(DEFAULT_CUTS)
