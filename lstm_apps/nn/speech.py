"""The speech-command classifier: log-mel frontend -> normalisation -> LSTM -> linear head.

    waveform (B, S) --LogMel--> (B, T, F) --(x - mean) / std--> LSTMDecoder --> h_t (B, T, H)
      --Linear--> logits per frame (B, T, C); the clip's logits are those of the last frame.

Reading the last frame keeps the model causal, so the same weights stream: each chunk of
audio, with the frontend's overlap context and the LSTM state carried in, yields the
logits of its frames, and the last frame of a stream equals the offline model's output.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor, nn

from lstm_apps.nn.decoder import DecoderConfig, LSTMDecoder, State
from lstm_apps.nn.frontend import FrontendConfig, LogMel
from lstm_apps.runtime.errors import ConfigError

SPEECH_LABELS = (
    "yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go",
    "_silence_", "_unknown_",
)  # fmt: skip


@dataclass(frozen=True)
class SpeechConfig:
    labels: tuple[str, ...] = SPEECH_LABELS  # class names, in logit order
    frontend: FrontendConfig = field(default_factory=FrontendConfig)
    hidden_size: int = 128  # LSTM width
    num_layers: int = 2  # stacked LSTM layers
    cell: Literal["lstm", "gru"] = "lstm"  # recurrent cell
    dropout: float = 0.1  # between LSTM layers and before the head, training only
    clip_seconds: float = 1.0  # clip length the model is trained on

    def __post_init__(self) -> None:
        if len(self.labels) < 2 or len(set(self.labels)) != len(self.labels):
            raise ConfigError(f"labels must be >= 2 distinct names, got {self.labels}")
        if self.clip_seconds <= 0:
            raise ConfigError(f"clip_seconds must be positive, got {self.clip_seconds}")

    @property
    def decoder(self) -> DecoderConfig:
        return DecoderConfig(
            self.frontend.n_features, self.hidden_size, self.num_layers, self.dropout, self.cell
        )

    @property
    def clip_samples(self) -> int:
        return round(self.clip_seconds * self.frontend.sample_rate)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["labels"] = list(self.labels)
        d["frontend"] = self.frontend.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SpeechConfig:
        d = dict(d)
        d["labels"] = tuple(d["labels"])
        d["frontend"] = FrontendConfig.from_dict(d["frontend"])
        return cls(**d)


class SpeechClassifierNet(nn.Module):
    """waveform (batch, samples) float32 at 16 kHz -> logits (batch, classes)."""

    config_class = SpeechConfig

    def __init__(self, config: SpeechConfig) -> None:
        super().__init__()
        self.config = config
        self.frontend = LogMel(config.frontend)
        n = config.frontend.n_features
        # Fixed feature statistics from the training data (not per utterance): streamable.
        self.register_buffer("feat_mean", torch.zeros(n))
        self.register_buffer("feat_std", torch.ones(n))
        self.decoder = LSTMDecoder(config.decoder)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden_size, len(config.labels))

    def set_normalization(self, mean: Tensor, std: Tensor) -> None:
        self.feat_mean.copy_(mean)
        self.feat_std.copy_(std.clamp_min(1e-3))

    def normalize(self, feats: Tensor) -> Tensor:
        """Log-mel frames (B, T, F) -> the normalised features the LSTM reads."""
        return (feats - self.feat_mean) / self.feat_std

    def features(self, waveform: Tensor) -> Tensor:
        """waveform (B, S) -> normalised features (B, T, F); T = S // hop."""
        return self.normalize(self.frontend(waveform))

    def classify_frames(self, feats: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """Normalised features (B, T, F) -> per-frame logits (B, T, C), new (h, c)."""
        h, state = self.decoder(feats, state)
        return self.head(self.dropout(h)), state

    def forward(self, x: Tensor, frames: bool = False) -> Tensor:
        """Waveforms (B, S) -> logits (B, C) at the last frame; frames=True: x is already
        normalised features (B, T, F) (the training step, through DDP's wrapper)."""
        logits, _ = self.classify_frames(x if frames else self.features(x))
        return logits[:, -1]


class SpeechStream(nn.Module):
    """One streaming step: the graph behind stream.onnx.

    chunk (B, k * hop), context (B, state_size), h, c (layers, B, hidden)
    -> logits (B, k, C), h, c, context for the next chunk.

    context holds the frontend's state: the last n_fft - hop samples, then (PCEN only)
    the n_mels smoother values (`FrontendConfig.state_size`).
    """

    def __init__(self, net: SpeechClassifierNet) -> None:
        super().__init__()
        self.net = net

    def forward(
        self, chunk: Tensor, context: Tensor, h: Tensor, c: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        ctx = self.net.config.frontend.context
        x = torch.cat([context[:, :ctx], chunk], dim=1)
        feats, m = self.net.frontend.frames_state(x, context[:, ctx:])
        logits, (h, c) = self.net.classify_frames(self.net.normalize(feats), (h, c))
        tail = x[:, -ctx:] if ctx else x[:, :0]  # a constant slice in ONNX
        return logits, h, c, torch.cat([tail, m], dim=1) if m.shape[1] else tail
