"""Batch augmentation for speech commands, on torch tensors (cheap enough for 2 CPU cores).

Waveform level: speed perturbation (tempo and pitch together), time shift, gain, noise
mixing at a random SNR, babble (other utterances of the batch, summed) at SNR down to
0 dB, silence that is sometimes digital zeros or a DC offset, and an optional prefix of
other audio so the LSTM learns to judge the last second of a stream rather than a clip
that starts in silence. Feature level:
a random warp of the mel axis (a pitch/formant shift, as in VTLP) and SpecAugment masks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from lstm_apps.train.loop import check_settings


@dataclass(frozen=True)
class AugmentConfig:
    speed: tuple[float, float] = (0.85, 1.15)  # resampling factor range (tempo + pitch)
    shift_seconds: float = 0.15  # max time shift either way
    gain_db: tuple[float, float] = (-15.0, 6.0)  # random level
    noise_prob: float = 0.8  # chance a clip gets background noise
    snr_db: tuple[float, float] = (0.0, 30.0)  # speech-to-noise ratio when mixed
    silence_noise_db: tuple[float, float] = (-90.0, -15.0)  # noise level of silence clips, dBFS
    silence_zero_prob: float = 0.15  # silence clips that are digital zeros (a muted input)
    silence_dc_prob: float = 0.1  # silence clips with a DC offset of up to 5% full scale
    babble_prob: float = 0.25  # chance a word clip gets babble from other clips of the batch
    babble_snr_db: tuple[float, float] = (0.0, 20.0)  # word-to-babble ratio
    babble_talkers: tuple[int, int] = (4, 7)  # utterances summed into the babble
    prefix_prob: float = 0.5  # chance a batch gets a prefix of other audio
    prefix_seconds: tuple[float, float] = (0.2, 1.0)  # prefix length range
    warp: tuple[float, float] = (0.88, 1.12)  # mel-axis stretch (pitch/formant)
    time_masks: int = 2  # SpecAugment time masks
    time_mask_frames: int = 6  # their max width
    freq_masks: int = 2  # SpecAugment frequency masks
    freq_mask_bins: int = 6  # their max width

    def __post_init__(self) -> None:
        check_settings(
            self,
            non_negative=("shift_seconds", "time_masks", "time_mask_frames", "freq_masks",
                          "freq_mask_bins"),
            probabilities=("noise_prob", "silence_zero_prob", "silence_dc_prob", "babble_prob",
                           "prefix_prob"),
            ranges=("speed", "gain_db", "snr_db", "silence_noise_db", "babble_snr_db",
                    "babble_talkers", "prefix_seconds", "warp"),
        )  # fmt: skip

    @classmethod
    def off(cls) -> AugmentConfig:
        """Clean clips only (`train speech --no-augment`): no speed, shift, gain, noise,
        babble, prefix, warp or masks. Silence clips are still drawn from the noise bank:
        that is what a `_silence_` example is, not an augmentation."""
        return cls(
            speed=(1.0, 1.0), shift_seconds=0.0, gain_db=(0.0, 0.0), noise_prob=0.0,
            prefix_prob=0.0, warp=(1.0, 1.0), time_masks=0, freq_masks=0, babble_prob=0.0,
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AugmentConfig:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def _on(values: np.ndarray, device: torch.device) -> Tensor:
    """A numpy draw as a tensor on `device`: every draw comes from the run's numpy
    generator, so a run gets the same numbers on any device."""
    return torch.from_numpy(values).to(device, non_blocking=True)


def _db(rng: np.random.Generator, lo_hi: tuple[float, float], n: int, dev: torch.device) -> Tensor:
    return _on(rng.uniform(lo_hi[0], lo_hi[1], n).astype(np.float32), dev)


def _noise_crops(noise: Tensor, n: int, length: int, rng: np.random.Generator) -> Tensor:
    """n random crops of `length` from the concatenated noise bank, each scaled to unit RMS."""
    starts = _on(rng.integers(0, noise.numel() - length, n), noise.device)
    crops = noise[starts[:, None] + torch.arange(length, device=noise.device)]
    return crops / crops.pow(2).mean(1, keepdim=True).sqrt().clamp_min(1e-8)


def augment_waveforms(
    x: Tensor,
    is_silence: Tensor,
    noise: Tensor,
    cfg: AugmentConfig,
    rng: np.random.Generator,
    sample_rate: int = 16000,
    is_command: Tensor | None = None,
) -> Tensor:
    """x (B, S) float32 clips -> augmented (B, S') with S' = S + an optional prefix.

    is_silence (B,) bool: silence clips become pure noise at a random level.
    is_command (B,) bool: command clips; only they get babble, and only from other
        clips (None: babble from any clip onto any word clip).
    noise : 1-D float32 tensor, the concatenated background noise bank.
    """
    b, s, dev = *x.shape, x.device
    # Speed and shift in one resampling: output sample j reads the clip at
    # (j - centre - shift) * speed + centre, linearly interpolated; outside reads zeros.
    speed = _on(rng.uniform(*cfg.speed, b).astype(np.float32), dev)
    speed = torch.where(is_silence, torch.ones_like(speed), speed)
    max_shift = int(cfg.shift_seconds * sample_rate)
    shift = _on(rng.integers(-max_shift, max_shift + 1, b).astype(np.float32), dev)
    centre = (s - 1) / 2
    j = torch.arange(s, dtype=torch.float32, device=dev)[None, :]
    pos = (j - centre - shift[:, None]) * speed[:, None] + centre
    inside = (pos >= 0) & (pos <= s - 1)
    pos = pos.clamp(0, s - 1)
    lo = pos.floor().long()
    hi = (lo + 1).clamp(max=s - 1)
    w = pos - lo.float()
    out = (x.gather(1, lo) * (1 - w) + x.gather(1, hi) * w) * inside
    out = out * (10 ** (_db(rng, cfg.gain_db, b, dev) / 20))[:, None]

    crops = _noise_crops(noise, b, s, rng)
    rms = out.pow(2).mean(1).sqrt().clamp_min(1e-5)
    noise_rms = rms / 10 ** (_db(rng, cfg.snr_db, b, dev) / 20)
    use = _on(rng.random(b) < cfg.noise_prob, dev)
    noise_rms = torch.where(use, noise_rms, torch.zeros_like(noise_rms))
    silence_rms = 10 ** (_db(rng, cfg.silence_noise_db, b, dev) / 20)
    zero = _on(rng.random(b) < cfg.silence_zero_prob, dev) & is_silence
    silence_rms = torch.where(zero, torch.zeros_like(silence_rms), silence_rms)
    noise_rms = torch.where(is_silence, silence_rms, noise_rms)
    out = out + crops * noise_rms[:, None]
    dc = _on(rng.uniform(-0.05, 0.05, b).astype(np.float32), dev)
    use_dc = _on(rng.random(b) < cfg.silence_dc_prob, dev) & is_silence & ~zero
    out = out + torch.where(use_dc, dc, torch.zeros_like(dc))[:, None]

    donor_pool = torch.nonzero(~is_command).flatten() if is_command is not None else None
    if cfg.babble_prob > 0 and b > 1 and (donor_pool is None or len(donor_pool) > 1):
        # Babble: several other utterances of the batch, each at its own time offset,
        # summed. Donors are never commands (a clear second command would make the
        # label ambiguous) and never the clip itself; 4+ talkers so no single one stands out.
        pool = donor_pool if donor_pool is not None else torch.arange(b, device=dev)
        talkers = int(rng.integers(cfg.babble_talkers[0], cfg.babble_talkers[1] + 1))
        babble = torch.zeros_like(out)
        for _ in range(talkers):
            idx = _on(rng.integers(0, len(pool), b), dev)
            pick = pool[idx]
            own = pick == torch.arange(b, device=dev)  # never the clip itself: take the next donor
            pick[own] = pool[(idx[own] + 1) % len(pool)]
            babble += torch.roll(out[pick], int(rng.integers(0, s)), dims=1)
        babble = babble / babble.pow(2).mean(1, keepdim=True).sqrt().clamp_min(1e-8)
        # the ratio is against the whole clip's RMS (the word is louder than that)
        babble_rms = rms / 10 ** (_db(rng, cfg.babble_snr_db, b, dev) / 20)
        target_ok = ~is_silence if is_command is None else is_command
        use = _on(rng.random(b) < cfg.babble_prob, dev) & target_ok
        out = out + babble * torch.where(use, babble_rms, torch.zeros_like(babble_rms))[:, None]

    if rng.random() < cfg.prefix_prob:
        # the tail of another clip of the batch, under its own noise: the label stays ours
        p = int(rng.uniform(*cfg.prefix_seconds) * sample_rate)
        donors = _on(rng.permutation(b), dev)
        prefix = out[donors, s - p :] if p <= s else F.pad(out[donors], (p - s, 0))
        out = torch.cat([prefix, out], dim=1)
    return out.clamp(-1.0, 1.0)


def warp_mel(feats: Tensor, rng: np.random.Generator, lo_hi: tuple[float, float]) -> Tensor:
    """Stretch the mel axis of feats (B, T, F) by a random factor per clip (linear interp)."""
    b, _, f = feats.shape
    dev = feats.device
    alpha = _on(rng.uniform(*lo_hi, b).astype(np.float32), dev)
    pos = torch.arange(f, dtype=torch.float32, device=dev)[None, :] / alpha[:, None]
    pos = pos.clamp(0, f - 1)
    lo = pos.floor().long()
    hi = (lo + 1).clamp(max=f - 1)
    w = (pos - lo.float())[:, None, :]
    gather = lambda idx: feats.gather(2, idx[:, None, :].expand(-1, feats.shape[1], -1))
    return gather(lo) * (1 - w) + gather(hi) * w


def spec_augment(feats: Tensor, cfg: AugmentConfig, rng: np.random.Generator) -> Tensor:
    """Zero random time and frequency bands of normalised feats (B, T, F) (SpecAugment)."""
    b, t, f = feats.shape
    mask = torch.ones_like(feats)
    for i in range(b):
        for _ in range(cfg.time_masks):
            w = int(rng.integers(0, cfg.time_mask_frames + 1))
            t0 = int(rng.integers(0, max(1, t - w)))
            mask[i, t0 : t0 + w, :] = 0
        for _ in range(cfg.freq_masks):
            w = int(rng.integers(0, cfg.freq_mask_bins + 1))
            f0 = int(rng.integers(0, max(1, f - w)))
            mask[i, :, f0 : f0 + w] = 0
    return feats * mask
