"""The log-mel (or MFCC) frontend as plain MatMuls, so it exports to ONNX (and runs fast).

torchaudio's MelSpectrogram goes through `torch.stft(return_complex=True)`, which the
legacy ONNX exporter cannot export, and onnxruntime's own DFT op is slow for n_fft = 640
(4 ms for a second of audio). Here the windowed real DFT is plain matrix products, the power
spectrum is re^2 + im^2, and the mel filterbank is torchaudio's own `melscale_fbanks`
matrix. It equals `torchaudio.transforms.MelSpectrogram(center=False, power=2)` on the same
settings.

The DFT is factored once, Cooley-Tukey style, so it costs about a quarter of the direct
one (n_fft = N1 * N2, e.g. 640 = 32 * 20; sample n = n1 + N1 * n2, bin k = N2 * k1 + k2):

    Y[k2, n1] = sum_n2 w[n] x[n] exp(-2 pi i n2 k2 / N2)    one GEMM for all n1 (re, im)
    X[k]      = sum_n1 Y[k2, n1] exp(-2 pi i n1 k / n_fft)   one batched GEMM over k2, the
                                                             twiddles folded in (re, im)
    mel       = (re^2 + im^2) @ mel_fb, rows in (k2, k1) order: one GEMM

Only the bins some mel band weighs are computed (0-304 of 0-320 for the shipped config).
For 1 s of audio that is 4.0 M multiply-adds instead of 21 M; in onnxruntime the frontend
of a 1 s clip falls from about 500 to 155 us, of a 100 ms chunk from 135 to 40 us, and
model.onnx loses its 1.6 MB DFT basis. Frames are cut by a reshape into hop-sized blocks
(n_fft must be a multiple of hop); otherwise, or when n_fft has no useful factors, the
direct DFT runs as a strided Conv1d.

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

from lstm_apps.runtime.errors import ConfigError


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
    # Added before the log. 1e-4 is the mel power of white noise at about -65 dBFS (a
    # 1-bin band; wider bands are floored lower): digital zeros and zero padding then give
    # the features of very quiet noise, never extreme values (models before 2026-12 used
    # 1e-6, and keep it in their config).
    log_floor: float = 1e-4
    # "pcen": per-channel energy normalisation (Wang et al. 2017) instead of the log:
    #   m[t] = (1 - s) m[t-1] + s E[t],  M = m + log_floor,
    #   out  = ((E + log_floor) / M^alpha + delta)^r - delta^r
    # A per-band automatic gain control: a level or a fixed EQ scales E and M alike and
    # cancels. The smoother m is carried between stream chunks (after the samples of
    # `context`, see `state_size`); zeros are a quiet history. logmel only.
    norm: Literal["none", "pcen"] = "none"
    pcen_smooth: float = 0.05  # s per frame: a 0.4 s time constant at the 20 ms hop
    pcen_alpha: float = 0.98  # gain normalisation strength (1: full)
    pcen_delta: float = 2.0  # bias before the root compression
    pcen_root: float = 0.5  # r

    def __post_init__(self) -> None:
        if self.hop <= 0 or self.n_fft < self.hop:
            raise ConfigError(f"need 0 < hop <= n_fft, got hop={self.hop}, n_fft={self.n_fft}")
        if not 0 <= self.f_min < self.f_max <= self.sample_rate / 2:
            raise ConfigError(
                f"need 0 <= f_min < f_max <= sample_rate/2, got {self.f_min}, {self.f_max}"
            )
        if self.kind not in ("logmel", "mfcc"):
            raise ConfigError(f"kind must be 'logmel' or 'mfcc', got {self.kind!r}")
        if self.kind == "mfcc" and not 0 < self.n_mfcc <= self.n_mels:
            raise ConfigError(f"n_mfcc must be in 1..n_mels, got {self.n_mfcc}")
        if self.norm not in ("none", "pcen"):
            raise ConfigError(f"norm must be 'none' or 'pcen', got {self.norm!r}")
        if self.norm == "pcen":
            if self.kind != "logmel":
                raise ConfigError("norm='pcen' replaces the log: it needs kind='logmel'")
            if not (0 < self.pcen_smooth <= 1 and 0 <= self.pcen_alpha <= 1
                    and self.pcen_delta > 0 and 0 < self.pcen_root <= 1):  # fmt: skip
                raise ConfigError(
                    "pcen needs 0 < pcen_smooth <= 1, 0 <= pcen_alpha <= 1, pcen_delta > 0 "
                    f"and 0 < pcen_root <= 1, got {self.pcen_smooth}, {self.pcen_alpha}, "
                    f"{self.pcen_delta}, {self.pcen_root}"
                )

    @property
    def context(self) -> int:
        """Samples of history each chunk needs from the previous one."""
        return self.n_fft - self.hop

    @property
    def state_size(self) -> int:
        """Floats a stream carries for the frontend (stream.onnx's `context`): the
        `context` samples, then for PCEN the n_mels smoother values."""
        return self.context + (self.n_mels if self.norm == "pcen" else 0)

    @property
    def compression(self) -> str:
        """What turns mel power into features: "PCEN" or "log" (card and plot titles)."""
        return "PCEN" if self.norm == "pcen" else "log"

    @property
    def n_features(self) -> int:
        return self.n_mfcc if self.kind == "mfcc" else self.n_mels

    def to_dict(self) -> dict[str, Any]:
        """Without PCEN, the keys of configs made before it (norm, pcen_*) are left out: a
        run started before them resumes (its train_config fingerprint is unchanged), and a
        bundle's config stays as it was."""
        d = asdict(self)
        if self.norm == "none":
            for k in [k for k in d if k == "norm" or k.startswith("pcen_")]:
                del d[k]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FrontendConfig:
        return cls(**d)


class LogMel(nn.Module):
    """waveform (batch, samples) float32 -> features (batch, frames, n_features).

    `forward(x)` left-pads x with `context` zeros: frames = samples // hop.
    `frames(x_with_context)` does no padding: frames = (len - n_fft) // hop + 1.
    `frames_state(x_with_context, m)` also takes and returns the PCEN smoother (batch,
    n_mels), or (batch, 0) without PCEN; `frames` starts it from zeros.
    """

    def __init__(self, config: FrontendConfig) -> None:
        super().__init__()
        self.config = config
        n, n_freqs = config.n_fft, config.n_fft // 2 + 1
        window = torch.hann_window(n, periodic=True, dtype=torch.float64)
        fb = melscale_fbanks(
            n_freqs, config.f_min, config.f_max, config.n_mels, config.sample_rate
        )  # (F, n_mels)
        self.register_buffer("mel_fb", fb.float(), persistent=False)
        if config.kind == "mfcc":
            dct = create_dct(config.n_mfcc, config.n_mels, norm="ortho")  # (n_mels, n_mfcc)
            self.register_buffer("dct", dct.float(), persistent=False)
        else:
            self.dct: Tensor | None = None
        n2 = max(d for d in range(1, math.isqrt(n) + 1) if n % d == 0)
        self.factored = n % config.hop == 0 and n2 > 1
        if not self.factored:  # the direct DFT: cosine and sine kernels of a strided Conv1d
            k = torch.arange(n_freqs, dtype=torch.float64)
            angle = 2 * math.pi * k[:, None] * torch.arange(n, dtype=torch.float64) / n
            basis = torch.cat([torch.cos(angle), -torch.sin(angle)]) * window  # (2F, n_fft)
            self.register_buffer("dft", basis.float().unsqueeze(1), persistent=False)
            return
        n1 = n // n2
        k1_all = -(-n_freqs // n2)  # k1 values that reach bin F - 1
        used = int((fb.abs().sum(1) > 0).nonzero().max()) + 1  # bins any mel band weighs
        k1_mel = -(-used // n2)  # what the mel path needs (16 for 640 = 20 * 32, not 17)
        self.split = (n1, n2, k1_all, k1_mel)
        # Stage 1, shared by every n1: (k2, n2) cosines and sines of the size-N2 DFT.
        a1 = 2 * math.pi * torch.outer(torch.arange(n2), torch.arange(n2)).double() / n2
        self.register_buffer("stage1_re", torch.cos(a1).float(), persistent=False)
        self.register_buffer("stage1_im", (-torch.sin(a1)).float(), persistent=False)
        self.register_buffer("window", window.float().reshape(n2, n1), persistent=False)
        # Stage 2, one matrix per k2, twiddles included: [Yr, Yi] (2 N1) -> Xr or Xi (K1).
        k = n2 * torch.arange(k1_all, dtype=torch.float64)[None, :] + torch.arange(n2)[:, None]
        a2 = 2 * math.pi * torch.arange(n1, dtype=torch.float64)[None, :, None] * k[:, None] / n
        c, s = torch.cos(a2), -torch.sin(a2)  # (N2, N1, K1)
        re, im = torch.cat([c, -s], 1).float(), torch.cat([s, c], 1).float()  # (N2, 2N1, K1)
        self.register_buffer("stage2_re", re, persistent=False)
        self.register_buffer("stage2_im", im, persistent=False)
        self.register_buffer("mel_re", re[:, :, :k1_mel].contiguous(), persistent=False)
        self.register_buffer("mel_im", im[:, :, :k1_mel].contiguous(), persistent=False)
        # The mel matrix with rows in (k2, k1) order; bins past F - 1 weigh 0.
        k = k[:, :k1_mel].long()
        fbk = torch.where((k < n_freqs)[:, :, None], fb.double()[k.clamp(max=n_freqs - 1)], 0.0)
        self.register_buffer("mel_split", fbk.reshape(-1, config.n_mels).float(), persistent=False)

    def _stage1(self, x: Tensor) -> Tensor:
        """x (B, samples incl. context) -> Y (N2, B*T, 2*N1): for each k2, [re, im] over n1
        of the size-N2 DFTs of the windowed frames.

        Frames are cut from hop-sized blocks, and every size is -1 or a constant where it
        can be, so the ONNX graph computes few shapes at run time. The trim to whole blocks
        stays even for stream chunks (already whole): without it tract cannot prove the
        reshape's length divisible and refuses the graph.
        """
        n1, n2 = self.split[:2]
        hop, r = self.config.hop, self.config.n_fft // self.config.hop
        blocks = x[:, : x.shape[1] // hop * hop].reshape(x.shape[0], -1, hop)  # (B, T+r-1, hop)
        frames = torch.cat([blocks[:, j : (j - r + 1) or None] for j in range(r)], dim=2)
        f = (frames.reshape(-1, n2, n1) * self.window).transpose(0, 1).reshape(n2, -1)
        return torch.cat([(self.stage1_re @ f).reshape(n2, -1, n1),
                          (self.stage1_im @ f).reshape(n2, -1, n1)], dim=2)  # fmt: skip

    def power(self, x: Tensor, fast: bool = False) -> Tensor:
        """x (batch, samples incl. context) -> power spectrum (batch, frames, n_fft//2+1).

        fast=True computes the same spectrum with torch's FFT (for training); the default
        path is the one that exports to ONNX.
        """
        if fast:
            window = torch.hann_window(self.config.n_fft, periodic=True, device=x.device)
            stft = torch.stft(
                x, self.config.n_fft, self.config.hop, window=window, center=False,
                return_complex=True,
            )  # fmt: skip
            return stft.abs().pow(2).transpose(1, 2)
        if not self.factored:
            spec = F.conv1d(x.unsqueeze(1), self.dft, stride=self.config.hop)  # (B, 2F, T)
            re, im = spec.chunk(2, dim=1)
            return (re * re + im * im).transpose(1, 2)
        n2, k1_all = self.split[1:3]
        y = self._stage1(x)
        re, im = y @ self.stage2_re, y @ self.stage2_im  # (N2, B*T, K1)
        p = (re * re + im * im).permute(1, 2, 0)  # (B*T, K1, N2): bin N2*k1 + k2
        return p.reshape(x.shape[0], -1, k1_all * n2)[:, :, : self.config.n_fft // 2 + 1]

    def mel(self, x: Tensor, fast: bool = False) -> Tensor:
        """x (batch, samples incl. context) -> mel power (batch, frames, n_mels)."""
        if fast or not self.factored:
            return self.power(x, fast) @ self.mel_fb
        y = self._stage1(x)
        re, im = y @ self.mel_re, y @ self.mel_im  # (N2, B*T, K1 used)
        p = (re * re + im * im).transpose(0, 1)  # (B*T, N2, K1): bin N2*k1 + k2
        mel = p.reshape(-1, self.mel_split.shape[0]) @ self.mel_split  # (B*T, n_mels)
        return mel.reshape(x.shape[0], -1, self.config.n_mels)

    def frames(self, x: Tensor, fast: bool = False) -> Tensor:
        """x (batch, samples incl. context) -> features (batch, frames, n_features)."""
        if self.config.norm == "pcen":
            return self.frames_state(x, x.new_zeros(x.shape[0], self.config.n_mels), fast)[0]
        feats = torch.log(self.mel(x, fast) + self.config.log_floor)
        if self.dct is not None:
            feats = feats @ self.dct
        return feats

    def frames_state(self, x: Tensor, m: Tensor, fast: bool = False) -> tuple[Tensor, Tensor]:
        """x (batch, samples incl. context), PCEN smoother m (batch, n_mels) -> features,
        the smoother after the last frame. Without PCEN, m passes through."""
        c = self.config
        if c.norm != "pcen":
            return self.frames(x, fast), m
        e = self.mel(x, fast)
        smooth = self.smooth(e, m)
        gain = (e + c.log_floor) / (smooth + c.log_floor).pow(c.pcen_alpha)
        feats = (gain + c.pcen_delta).pow(c.pcen_root) - c.pcen_delta**c.pcen_root
        return feats, smooth[:, -1]

    def smooth(self, e: Tensor, m: Tensor) -> Tensor:
        """The PCEN smoother over mel power e (B, T, F) from m (B, F): every m[t] (B, T, F).

        Written out, m[t] = (1-s)^(t+1) m + sum_{k<=t} s (1-s)^(t-k) e[k]: one (T, T)
        matrix product. Not an ONNX RNN: tract and onnx's reference evaluator ignore its
        Relu activation (tract runs Tanh), and this is as cheap for T up to a few
        hundred frames (a stream chunk has a handful; a 1 s clip 50).
        """
        s = self.config.pcen_smooth
        t = torch.arange(e.shape[1], device=e.device, dtype=e.dtype)
        lag = t[:, None] - t[None, :]  # (T, T): t - k
        decay = torch.exp(lag.clamp(min=0) * math.log1p(-s)) if s < 1 else (lag == 0).to(e.dtype)
        weights = torch.where(lag >= 0, s * decay, torch.zeros_like(decay))
        start = torch.exp((t + 1) * math.log1p(-s)) if s < 1 else torch.zeros_like(t)
        return weights @ e + start[:, None] * m[:, None, :]

    def forward(self, x: Tensor, fast: bool = False) -> Tensor:
        return self.frames(F.pad(x, (self.config.context, 0)), fast)
