"""The caption model's config, `CaptionConfig`, and the backbone facts it is checked against.

At the bottom of the caption modules: `caption_encoder.py` and `caption.py` import it, it
imports neither, so there is no import circle. `lstm_apps.nn.caption`
re-exports `CaptionConfig`.

    cfg = CaptionConfig(vocab_size=len(vocab), backbone="mobilenet_v3_small", image_size=128)
    cfg.grid, cfg.num_cells  # resolved on creation: 8, 64
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from typing import Any, Literal

from lstm_apps.nn.decoder import DecoderConfig
from lstm_apps.runtime.errors import ConfigError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# The torchvision backbones the encoder can build (caption_encoder.BACKBONES has their
# factories; a test checks the two agree).
BACKBONE_NAMES = (
    "resnet18",
    "resnet34",
    "resnet50",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "efficientnet_b0",
)
RESNET_CUTS = {"layer1": 4, "layer2": 8, "layer3": 16, "layer4": 32}  # cut -> stride
# Output stride of each block of `model.features`, for the backbones built that way.
_FEATURE_STRIDES = {
    "mobilenet_v3_small": (2, 4, 8, 8, 16, 16, 16, 16, 16, 32, 32, 32, 32),
    "mobilenet_v3_large": (2, 2, 4, 4, 8, 8, 8, 16, 16, 16, 16, 16, 16, 32, 32, 32, 32),
    "efficientnet_b0": (2, 2, 4, 8, 16, 16, 32, 32, 32),
}
# Stride 8 for the resnets (128+ channels there); stride 16 for the mobile nets, whose
# stride-8 blocks have only 24-40 channels.
DEFAULT_CUTS = {
    "resnet18": "layer2",
    "resnet34": "layer2",
    "resnet50": "layer2",
    "mobilenet_v3_small": "features.8",
    "mobilenet_v3_large": "features.12",
    "efficientnet_b0": "features.5",
}


def check_backbone(name: str) -> None:
    if name not in BACKBONE_NAMES:
        raise ConfigError(f"unknown backbone {name!r}; choices: {sorted(BACKBONE_NAMES)}")


def backbone_cuts(name: str) -> dict[str, int]:
    """Valid `cut` names of a backbone -> output stride of the feature map there."""
    check_backbone(name)
    if name.startswith("resnet"):
        return dict(RESNET_CUTS)
    return {f"features.{i}": s for i, s in enumerate(_FEATURE_STRIDES[name])}


def feature_side(name: str, cut: str, image_size: int) -> int:
    """Side of the square feature map after `cut` for an image_size x image_size input."""
    cuts = backbone_cuts(name)
    if cut not in cuts:
        raise ConfigError(f"unknown cut {cut!r} for {name}; choices: {list(cuts)}")
    # Every stride-2 conv/pool in these nets pads k // 2, so each halves the side rounding up.
    return math.ceil(image_size / cuts[cut])


@dataclass(frozen=True)
class CaptionConfig:
    """Everything that defines a caption model; `cut` and `grid` are resolved on creation."""

    vocab_size: int  # V, including <pad>=0 <start>=1 <end>=2 <unk>=3
    backbone: str = "resnet18"  # torchvision model name, see BACKBONE_NAMES
    cut: str | None = None  # last backbone stage kept ("layer2", "features.8"); None: default
    image_size: int = 64  # side in px every image is resized to inside the encoder
    grid: int | None = None  # attention grid side, K = grid**2; None: the feature map side
    feature_dim: int = 128  # D, width of each attention cell after the 1x1 projection
    embed_dim: int = 64  # word embedding width
    hidden_size: int = 256  # LSTM width
    attention_dim: int = 128  # hidden width of the additive attention
    num_layers: int = 1  # stacked LSTM layers
    dropout: float = 0.2  # before the output layer and between LSTM layers, training only
    cell: Literal["lstm", "gru"] = "lstm"  # recurrent cell of the shared core
    max_len: int = 20  # longest caption generated, in tokens, <end> included
    mean: tuple[float, float, float] = IMAGENET_MEAN  # per-channel mean of pixels in [0, 1]
    std: tuple[float, float, float] = IMAGENET_STD  # per-channel std of pixels in [0, 1]
    weights_path: str | None = None  # local torchvision state-dict file; never downloaded
    train_backbone: Literal["scratch", "frozen", "finetune"] = "scratch"  # backbone training
    position: bool = True  # add a learned embedding per attention cell: where it is

    def __post_init__(self) -> None:
        check_backbone(self.backbone)
        if self.cut is None:  # resolve defaults now, so saved configs are explicit
            object.__setattr__(self, "cut", DEFAULT_CUTS[self.backbone])
        cuts = backbone_cuts(self.backbone)
        if self.cut not in cuts:
            raise ConfigError(
                f"unknown cut {self.cut!r} for {self.backbone}; choices: {list(cuts)}"
            )
        if self.image_size < 16:
            raise ConfigError(f"image_size must be >= 16, got {self.image_size}")
        side = feature_side(self.backbone, self.cut, self.image_size)
        if self.grid is None:
            object.__setattr__(self, "grid", side)
        assert self.grid is not None
        # Pooling by an integer factor keeps AdaptiveAvgPool2d exportable to ONNX.
        if not 1 <= self.grid <= side or side % self.grid:
            raise ConfigError(
                f"grid must divide the {side}x{side} feature map of {self.backbone}/{self.cut} "
                f"at {self.image_size} px, got {self.grid}"
            )
        if self.vocab_size < 4:
            raise ConfigError(f"vocab_size must be >= 4 (special tokens), got {self.vocab_size}")
        for name in ("feature_dim", "embed_dim", "hidden_size", "attention_dim", "max_len"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ConfigError(f"mean/std need 3 values, std > 0; got {self.mean}, {self.std}")
        if self.train_backbone not in ("scratch", "frozen", "finetune"):
            raise ConfigError(
                "train_backbone must be 'scratch', 'frozen' or 'finetune', "
                f"got {self.train_backbone!r}"
            )
        if self.weights_path is not None:
            object.__setattr__(self, "weights_path", os.fspath(self.weights_path))
            if self.train_backbone == "scratch":
                raise ConfigError("train_backbone='scratch' contradicts a weights_path")
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        self.decoder  # noqa: B018  validates num_layers, dropout, cell

    @property
    def num_cells(self) -> int:
        """K, the number of attention cells."""
        assert self.grid is not None
        return self.grid * self.grid

    @property
    def decoder(self) -> DecoderConfig:
        """The shared core's config: input [embedding; context]."""
        return DecoderConfig(
            self.embed_dim + self.feature_dim,
            self.hidden_size,
            self.num_layers,
            self.dropout,
            self.cell,
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CaptionConfig:
        d = dict(d)
        d["mean"], d["std"] = tuple(d["mean"]), tuple(d["std"])
        return cls(**d)
