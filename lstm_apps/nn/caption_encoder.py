"""The caption encoder: raw uint8 images -> a grid of attention features and the initial state.

    images uint8 (B, H, W, 3) --float, resize to S x S, normalise--> (B, 3, S, S)
      --torchvision backbone cut after `cut`--> (B, C, s, s)       s = ceil(S / stride)
      --adaptive avg pool (only if grid < s)--> (B, C, g, g)
      --1x1 conv--> (B, D, g, g) --flatten--> features (B, K, D)   K = g * g
    mean feature (B, D) --Linear+tanh (one for h, one for c)--> h0, c0 (layers, B, hidden)

Everything from the uint8 pixels on is inside the module, so the exported encoder.onnx
takes raw images of any size. The resize is bilinear with `antialias=False` (torch's
default for tensors, and the only variant the ONNX Resize op reproduces exactly), so
downscaling large photos aliases: callers who care should shrink images first.

Backbones are built with `weights=None` (nothing is ever downloaded); a local torchvision
state-dict file (safetensors, or a torch file read with `weights_only=True`, told apart by
content) can be loaded into the full torchvision model before it is cut. Only the kept
blocks must match the file; the classifier and the blocks after the cut are not used.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision import models

from lstm_apps.nn.caption_config import (
    DEFAULT_CUTS,
    RESNET_CUTS,
    CaptionConfig,
    backbone_cuts,
    check_backbone,
    feature_side,
)
from lstm_apps.runtime.errors import ConfigError, ModelFileError

__all__ = [
    "BACKBONES",
    "DEFAULT_CUTS",
    "CaptionEncoder",
    "backbone_cuts",
    "build_backbone",
    "check_backbone",
    "feature_side",
    "load_backbone_weights",
]

# name -> torchvision factory
BACKBONES: dict[str, Callable[..., nn.Module]] = {
    "resnet18": models.resnet18,
    "resnet34": models.resnet34,
    "resnet50": models.resnet50,
    "mobilenet_v3_small": models.mobilenet_v3_small,
    "mobilenet_v3_large": models.mobilenet_v3_large,
    "efficientnet_b0": models.efficientnet_b0,
}


def _load_state_dict(path: Path) -> dict[str, Tensor]:
    """The flat {name: tensor} dict in a safetensors or torch file, told apart by content
    (not by suffix); anything else is a one-line ModelFileError naming the file."""
    if not path.is_file():
        raise ModelFileError(f"backbone weights file {path} does not exist or is not a file")
    if path.stat().st_size == 0:
        raise ModelFileError(f"backbone weights file {path} is empty")
    with path.open("rb") as f:
        head = f.read(9)
    # safetensors: an 8-byte little-endian header length, then the JSON header
    is_safetensors = len(head) == 9 and head[8:9] == b"{"
    try:
        if is_safetensors:
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # any reader failure means the same thing to the caller
        if "weights only load failed" in str(e).lower():  # torch's refusal of other pickles
            raise ModelFileError(
                f"cannot read backbone weights {path}: it holds Python objects besides "
                "tensors (a whole model or a training checkpoint?), and weights files are read "
                "with weights_only=True; save the model's state_dict() with torch.save"
            ) from e
        first = (str(e).strip().splitlines() or [""])[0]
        raise ModelFileError(
            f"cannot read backbone weights {path}: not a whole torch or safetensors file "
            f"({type(e).__name__}: {first})"
        ) from e
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        what = (
            f"a dict whose keys include {sorted(map(str, state))[:4]}"
            if isinstance(state, dict)
            else f"a {type(state).__name__}"
        )
        raise ModelFileError(
            f"{path} is not a flat state dict of tensors ({what}); save the torchvision "
            "model's state_dict()"
        )
    return state


def _backbones_fitting(state: dict[str, Tensor]) -> list[str]:
    """Names of the torchvision models whose state dict `state` matches (keys and shapes)."""
    fits = []
    for name, factory in BACKBONES.items():
        with torch.device("meta"):  # shapes only: nothing is allocated or initialised
            own = factory(weights=None).state_dict()
        if own.keys() == state.keys() and all(state[k].shape == v.shape for k, v in own.items()):
            fits.append(name)
    return fits


def load_backbone_weights(
    model: nn.Module, name: str, path: str | Path, keep: Sequence[str] | None = None
) -> None:
    """Load a torchvision state-dict file into the full (uncut) `name` model.

    The file is the classification model's `state_dict()`, as torchvision publishes it.
    `keep`: the top-level modules the encoder keeps (None: all). Their tensors must all be
    in the file, with the model's names and shapes; keys outside them (later blocks, the
    classifier) are not used and need not match, so a model fine-tuned to other classes
    loads too. ModelFileError, naming the file, otherwise.
    """
    state = _load_state_dict(Path(path))
    own = model.state_dict()

    def used(key: str) -> bool:
        return keep is None or any(key.startswith(f"{m}.") for m in keep)

    need = {k: v for k, v in own.items() if used(k)}
    missing = sorted(set(need) - set(state))
    unexpected = sorted(k for k in state if k not in own and used(k))
    wrong = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in need.items()
        if k in state and state[k].shape != v.shape
    ]
    if missing or unexpected or wrong:
        fits = _backbones_fitting(state)
        raise ModelFileError(
            f"{path} does not fit torchvision {name}: "
            f"{len(missing)} missing keys {missing[:3]}, "
            f"{len(unexpected)} unexpected keys {unexpected[:3]}, "
            f"{len(wrong)} shape mismatches {wrong[:3]}"
            + (f"; it fits torchvision {' and '.join(fits)}" if fits else "")
        )
    model.load_state_dict({k: state[k] for k in need}, strict=keep is None)


def _kept_modules(name: str, cut: str) -> list[str]:
    """Dotted names, in the full torchvision model, of the modules kept up to `cut`."""
    if name.startswith("resnet"):
        order = ["conv1", "bn1", "relu", "maxpool", *RESNET_CUTS]
        return order[: order.index(cut) + 1]
    return [f"features.{i}" for i in range(int(cut.split(".")[1]) + 1)]


def build_backbone(name: str, cut: str, weights_path: str | Path | None = None) -> nn.Sequential:
    """torchvision `name` (weights=None, then optionally `weights_path`) cut after `cut`.

    Returns an nn.Sequential mapping (B, 3, S, S) -> (B, C, s, s). Module names follow
    torchvision's (`conv1`, `layer2`, ... for resnets; `0`, `1`, ... of `features`
    otherwise), so the state dict reads like the original's.
    """
    cuts = backbone_cuts(name)
    if cut not in cuts:
        raise ConfigError(f"unknown cut {cut!r} for {name}; choices: {list(cuts)}")
    full = BACKBONES[name](weights=None)
    keep = _kept_modules(name, cut)
    if weights_path is not None:
        load_backbone_weights(full, name, weights_path, keep)
    return nn.Sequential(OrderedDict((k.split(".")[-1], full.get_submodule(k)) for k in keep))


class CaptionEncoder(nn.Module):
    """uint8 images (B, H, W, 3) -> features (B, K, D), h0, c0 (num_layers, B, hidden)."""

    def __init__(self, config: CaptionConfig) -> None:
        super().__init__()
        self.config = config
        self.backbone = build_backbone(config.backbone, config.cut, config.weights_path)
        self.frozen = config.train_backbone == "frozen"
        if self.frozen:
            self.backbone.requires_grad_(False)
        with torch.no_grad():  # probe the real map: channels, and the side the config assumes
            probe = self.backbone.eval()(torch.zeros(1, 3, config.image_size, config.image_size))
        side = feature_side(config.backbone, config.cut, config.image_size)
        if probe.shape[-2:] != (side, side):
            raise RuntimeError(
                f"{config.backbone}/{config.cut}: map {probe.shape}, expected {side}"
            )
        self.channels = int(probe.shape[1])
        grid = config.grid
        # grid divides side (the config checks), so a fixed AvgPool2d is the adaptive pool
        # exactly, and it exports even when the image size is dynamic.
        self.pool: nn.Module = nn.Identity() if grid == side else nn.AvgPool2d(side // grid)
        self.proj = nn.Conv2d(self.channels, config.feature_dim, kernel_size=1)
        # Convolutions barely know where a cell is; relations (left of, above) need it.
        self.position = (
            nn.Parameter(torch.randn(1, config.num_cells, config.feature_dim) * 0.1)
            if config.position
            else None
        )
        layers_hidden = config.num_layers * config.hidden_size
        self.init_h = nn.Linear(config.feature_dim, layers_hidden)
        self.init_c = nn.Linear(config.feature_dim, layers_hidden)
        # x_norm = (x / 255 - mean) / std = x * scale + shift, per channel, shape (1, 3, 1, 1)
        std = torch.tensor(config.std).view(1, 3, 1, 1)
        mean = torch.tensor(config.mean).view(1, 3, 1, 1)
        self.register_buffer("pixel_scale", 1.0 / (255.0 * std))
        self.register_buffer("pixel_shift", -mean / std)
        self.train()

    def train(self, mode: bool = True) -> CaptionEncoder:
        """As nn.Module.train, but a frozen backbone stays in eval mode (BatchNorm stats fixed)."""
        super().train(mode)
        if self.frozen:
            self.backbone.eval()
        return self

    def preprocess(self, images: Tensor) -> Tensor:
        """uint8 (B, H, W, 3) -> normalised float (B, 3, S, S), S = config.image_size."""
        bad = images.dtype != torch.uint8 or images.dim() != 4 or images.shape[-1] != 3
        if bad and not torch.jit.is_tracing():  # a traced graph checks its input types itself
            raise ConfigError(
                f"images must be uint8 (B, H, W, 3), got {images.dtype} {tuple(images.shape)}"
            )
        x = images.permute(0, 3, 1, 2).float()  # (B, 3, H, W)
        size = self.config.image_size
        x = F.interpolate(
            x, size=(size, size), mode="bilinear", align_corners=False, antialias=False
        )
        return x * self.pixel_scale + self.pixel_shift

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """images uint8 (B, H, W, 3) -> features (B, K, D), h0, c0 (num_layers, B, hidden)."""
        x = self.backbone(self.preprocess(images))  # (B, C, s, s)
        x = self.proj(self.pool(x))  # (B, D, g, g)
        features = x.flatten(2).transpose(1, 2)  # (B, K, D)
        if self.position is not None:
            features = features + self.position
        mean = features.mean(dim=1)  # (B, D)
        layers, hidden = self.config.num_layers, self.config.hidden_size
        h0 = torch.tanh(self.init_h(mean)).view(-1, layers, hidden).transpose(0, 1).contiguous()
        c0 = torch.tanh(self.init_c(mean)).view(-1, layers, hidden).transpose(0, 1).contiguous()
        return features, h0, c0
