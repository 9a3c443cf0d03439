"""The log-mel (or MFCC) frontend as plain Conv1d + MatMul, so it exports to ONNX.

torchaudio's MelSpectrogram goes through `torch.stft(return_complex=True)`, which the
legacy ONNX exporter cannot export. Here the windowed real DFT is a Conv1d whose kernels
are the cosine and sine bases (stride = hop), the power spectrum is re^2 + im^2, and the
mel filterbank is torchaudio's own `melscale_fbanks` matrix. It equals
`torchaudio.transforms.MelSpectrogram(center=False, power=2)` on the same settings.

Framing is streaming-friendly: the waveform is left-padded with `context` = n_fft - hop
zeros (or, in streaming, with the previous chunk's last samples), so every `hop` samples
make exactly one frame, and a stream cut into hop-multiple chunks gives the frames of the
whole clip.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchaudio.functional import create_dct, melscale_fbanks


@dataclass(frozen=True)
class FrontendConfig:
    sample_rate: int = 16000  # Hz of the waveform going in
    n_fft: int = 640  # window length in samples (40 ms)
    hop: int = 320  # samples between frames (20 ms): 50 frames per second
    n_mels: int = 40  # mel bands
    f_min: float = 20.0  # lowest mel edge, Hz
    f_max: float = 7600.0  # highest mel edge, Hz
    kind: Literal["logmel", "mfcc"] = "logmel"  # MFCC = DCT-II of the log-mel
    n_mfcc: int = 20  # coefficients kept when kind == "mfcc"
    log_floor: float = 1e-6  # added before the log

    def __post_init__(self) -> None:
        if self.hop <= 0 or self.n_fft < self.hop:
            raise ValueError(f"need 0 < hop <= n_fft, got hop={self.hop}, n_fft={self.n_fft}")
        if not 0 <= self.f_min < self.f_max <= self.sample_rate / 2:
            raise ValueError(
                f"need 0 <= f_min < f_max <= sample_rate/2, got {self.f_min}, {self.f_max}"
            )
        if self.kind not in ("logmel", "mfcc"):
            raise ValueError(f"kind must be 'logmel' or 'mfcc', got {self.kind!r}")
        if self.kind == "mfcc" and not 0 < self.n_mfcc <= self.n_mels:
            raise ValueError(f"n_mfcc must be in 1..n_mels, got {self.n_mfcc}")

    @property
    def context(self) -> int:
        """Samples of history each chunk needs from the previous one."""
        return self.n_fft - self.hop

    @property
    def n_features(self) -> int:
        return self.n_mfcc if self.kind == "mfcc" else self.n_mels

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FrontendConfig:
        return cls(**d)


class LogMel(nn.Module):
    """waveform (batch, samples) float32 -> features (batch, frames, n_features).

    `forward(x)` left-pads x with `context` zeros: frames = samples // hop.
    `frames(x_with_context)` does no padding: frames = (len - n_fft) // hop + 1.
    """

    def __init__(self, config: FrontendConfig) -> None:
        super().__init__()
        self.config = config
        n_freqs = config.n_fft // 2 + 1
        window = torch.hann_window(config.n_fft, periodic=True, dtype=torch.float64)
        n = torch.arange(config.n_fft, dtype=torch.float64)
        k = torch.arange(n_freqs, dtype=torch.float64)
        angle = 2 * math.pi * k[:, None] * n[None, :] / config.n_fft
        basis = torch.cat([torch.cos(angle), -torch.sin(angle)]) * window  # (2F, n_fft)
        self.register_buffer("dft", basis.float().unsqueeze(1), persistent=False)
        fb = melscale_fbanks(
            n_freqs, config.f_min, config.f_max, config.n_mels, config.sample_rate
        )  # (F, n_mels)
        self.register_buffer("mel_fb", fb.float(), persistent=False)
        if config.kind == "mfcc":
            dct = create_dct(config.n_mfcc, config.n_mels, norm="ortho")  # (n_mels, n_mfcc)
            self.register_buffer("dct", dct.float(), persistent=False)
        else:
            self.dct: Tensor | None = None

    def power(self, x: Tensor, fast: bool = False) -> Tensor:
        """x (batch, samples incl. context) -> power spectrum (batch, frames, n_fft//2+1).

        fast=True computes the same spectrum with an FFT (about 10x faster for training);
        the DFT-as-Conv1d path is the one that exports to ONNX.
        """
        if fast:
            window = torch.hann_window(self.config.n_fft, periodic=True, device=x.device)
            stft = torch.stft(
                x, self.config.n_fft, self.config.hop, window=window, center=False,
                return_complex=True,
            )  # fmt: skip
            return stft.abs().pow(2).transpose(1, 2)
        spec = F.conv1d(x.unsqueeze(1), self.dft, stride=self.config.hop)  # (B, 2F, T)
        re, im = spec.chunk(2, dim=1)
        return (re * re + im * im).transpose(1, 2)

    def frames(self, x: Tensor, fast: bool = False) -> Tensor:
        """x (batch, samples incl. context) -> features (batch, frames, n_features)."""
        mel = self.power(x, fast) @ self.mel_fb  # (B, T, n_mels)
        feats = torch.log(mel + self.config.log_floor)
        if self.dct is not None:
            feats = feats @ self.dct
        return feats

    def forward(self, x: Tensor, fast: bool = False) -> Tensor:
        return self.frames(F.pad(x, (self.config.context, 0)), fast)
