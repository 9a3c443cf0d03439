"""The image captioner: CNN encoder + Show, Attend and Tell attention decoder on LSTMDecoder.

    images uint8 (B, H, W, 3) --CaptionEncoder--> features (B, K, D), h0, c0 (L, B, H)
    one step, given the previous token y and state (h, c):
      alpha   = softmax_K(w . tanh(W_f features + W_h h_top))       additive attention (B, K)
      context = sigmoid(f_beta(h_top)) * sum_K alpha * features      gated context (B, D)
      h, c    = LSTMDecoder.step([embed(y); context], (h, c))        shared core, step mode
      logprobs = log_softmax(W_o dropout([h_t; context; embed(y)]))  (B, V)

The output layer reads [h_t; context; embedding] (the paper's "deep output", linearised):
the attended evidence reaches the word choice directly rather than only through the LSTM.
`CaptionModel.step` is exactly the contract of decoder.onnx (token int64 [B], h, c,
features -> logprobs [B, V], h, c, alpha [B, K]); search (greedy, beam) lives in
`lstm_apps.runtime.search` and drives either this model (via `as_numpy_step`) or the ONNX
decoder.

    model = CaptionModel(CaptionConfig(vocab_size=len(vocab)))
    logits, alphas = model(images_uint8, captions)  # teacher forcing, (B, T-1, V), (B, T-1, K)
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lstm_apps.nn.caption_encoder import (
    DEFAULT_CUTS,
    CaptionEncoder,
    backbone_cuts,
    check_backbone,
    feature_side,
)
from lstm_apps.nn.decoder import DecoderConfig, LSTMDecoder
from lstm_apps.runtime.errors import ConfigError
from lstm_apps.runtime.search import Hypothesis, SearchOptions, StepFn, StepState, search

PAD_ID, START_ID, END_ID, UNK_ID = 0, 1, 2, 3  # as in lstm_apps.data.captions.Vocab
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class CaptionConfig:
    """Everything that defines a caption model; `cut` and `grid` are resolved on creation."""

    vocab_size: int  # V, including <pad>=0 <start>=1 <end>=2 <unk>=3
    backbone: str = "resnet18"  # torchvision model name, see caption_encoder.BACKBONES
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


class CaptionDecoder(nn.Module):
    """Soft attention over K cells + LSTMDecoder in step mode + output layer."""

    def __init__(self, config: CaptionConfig) -> None:
        super().__init__()
        self.config = config
        d, a, h, e = config.feature_dim, config.attention_dim, config.hidden_size, config.embed_dim
        self.embed = nn.Embedding(config.vocab_size, e, padding_idx=PAD_ID)
        self.att_feat = nn.Linear(d, a)
        self.att_hidden = nn.Linear(h, a)
        self.att_score = nn.Linear(a, 1)
        self.f_beta = nn.Linear(h, d)
        self.rnn = LSTMDecoder(config.decoder)
        self.dropout = nn.Dropout(config.dropout)
        self.out = nn.Linear(h + d + e, config.vocab_size)

    def attend(self, features: Tensor, h_top: Tensor) -> tuple[Tensor, Tensor]:
        """features (B, K, D), h_top (B, H) -> gated context (B, D), alpha (B, K)."""
        energy = torch.tanh(self.att_feat(features) + self.att_hidden(h_top).unsqueeze(1))
        alpha = F.softmax(self.att_score(energy).squeeze(2), dim=1)  # (B, K)
        context = torch.bmm(alpha.unsqueeze(1), features).squeeze(1)  # (B, D)
        return torch.sigmoid(self.f_beta(h_top)) * context, alpha

    def step_logits(
        self, tokens: Tensor, h: Tensor, c: Tensor, features: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """As `step`, returning unnormalised logits (B, V) (what the training loss wants)."""
        emb = self.embed(tokens)  # (B, E)
        context, alpha = self.attend(features, h[-1])
        out, (h, c) = self.rnn.step(torch.cat([emb, context], dim=1), (h, c))  # (B, H)
        logits = self.out(self.dropout(torch.cat([out, context, emb], dim=1)))
        return logits, h, c, alpha

    def step(
        self, tokens: Tensor, h: Tensor, c: Tensor, features: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """One word.

        tokens int64 (B,), h, c (num_layers, B, hidden), features (B, K, D)
        -> logprobs (B, V), h, c, alpha (B, K) (the attention that produced this word).
        """
        logits, h, c, alpha = self.step_logits(tokens, h, c, features)
        return F.log_softmax(logits, dim=-1), h, c, alpha

    def forward_teacher(
        self, features: Tensor, h0: Tensor, c0: Tensor, captions: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Teacher forcing: feed captions[:, t], predict captions[:, t + 1].

        captions int64 (B, T), starting with <start> -> logits (B, T-1, V), alphas (B, T-1, K).
        """
        h, c = h0, c0
        logits, alphas = [], []
        for t in range(captions.shape[1] - 1):
            step_logits, h, c, alpha = self.step_logits(captions[:, t], h, c, features)
            logits.append(step_logits)
            alphas.append(alpha)
        return torch.stack(logits, dim=1), torch.stack(alphas, dim=1)


class CaptionModel(nn.Module):
    """uint8 images (B, H, W, 3) -> attention features -> words, one `step` at a time.

    `weights_path` is consumed here: the backbone starts from that file, and `self.config`
    records `weights_path=None` because the model's own state dict now holds those weights
    (a checkpoint then rebuilds without the file). The path is kept in `backbone_weights`.
    """

    config_class = CaptionConfig

    def __init__(self, config: CaptionConfig) -> None:
        super().__init__()
        self.encoder = CaptionEncoder(config)
        self.decoder = CaptionDecoder(config)
        self.backbone_weights = config.weights_path
        self.config = replace(config, weights_path=None) if config.weights_path else config

    def encode(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """images uint8 (B, H, W, 3) -> features (B, K, D), h0, c0 (num_layers, B, hidden)."""
        return self.encoder(images)

    def step(
        self, tokens: Tensor, h: Tensor, c: Tensor, features: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """tokens int64 (B,), h, c, features (B, K, D) -> logprobs (B, V), h, c, alpha (B, K)."""
        return self.decoder.step(tokens, h, c, features)

    def forward(self, images: Tensor, captions: Tensor) -> tuple[Tensor, Tensor]:
        """Teacher forcing from pixels: -> logits (B, T-1, V), alphas (B, T-1, K)."""
        features, h0, c0 = self.encode(images)
        return self.decoder.forward_teacher(features, h0, c0, captions)


def as_numpy_step(model: CaptionModel) -> StepFn:
    """`model.step` as a numpy-in, numpy-out `StepFn` for `lstm_apps.runtime.search`.

    State is (h, c), batch on axis 1. Runs without autograd in the model's current mode
    (call `model.eval()` first for deterministic output).
    """
    device = next(model.parameters()).device

    def step(
        tokens: npt.NDArray[np.int64], state: StepState, features: npt.NDArray[np.float32]
    ) -> tuple[npt.NDArray[np.float32], StepState, npt.NDArray[np.float32]]:
        h, c = (torch.from_numpy(np.ascontiguousarray(s)).to(device) for s in state)
        with torch.inference_mode():
            logprobs, h, c, alpha = model.step(
                torch.from_numpy(tokens).to(device),
                h,
                c,
                torch.from_numpy(np.ascontiguousarray(features)).to(device),
            )
        return logprobs.cpu().numpy(), (h.cpu().numpy(), c.cpu().numpy()), alpha.cpu().numpy()

    return step


def generate(
    model: CaptionModel, images: Tensor, options: SearchOptions | None = None
) -> list[Hypothesis]:
    """Caption uint8 images (B, H, W, 3) with torch: the best hypothesis per image.

    Greedy when `options.beam_size == 1`, beam search otherwise; defaults to greedy with
    the config's max_len. Uses the model in its current mode (call `model.eval()`).
    """
    if options is None:
        options = SearchOptions(max_len=model.config.max_len, start_id=START_ID, end_id=END_ID)
    with torch.inference_mode():
        features, h0, c0 = model.encode(images)
    state = (h0.cpu().numpy(), c0.cpu().numpy())
    return search(as_numpy_step(model), features.cpu().numpy(), state, options)
