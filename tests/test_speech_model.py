"""Speech frontend, model, streaming step and augmentation."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchaudio

from lstm_apps.nn.frontend import FrontendConfig, LogMel
from lstm_apps.nn.speech import SpeechClassifierNet, SpeechConfig, SpeechStream
from lstm_apps.train.speech_augment import (
    AugmentConfig,
    augment_waveforms,
    spec_augment,
    warp_mel,
)


@pytest.mark.parametrize("n_fft, hop, n_mels", [(640, 320, 40), (400, 160, 64), (512, 128, 32)])
def test_logmel_matches_torchaudio(n_fft: int, hop: int, n_mels: int) -> None:
    cfg = FrontendConfig(n_fft=n_fft, hop=hop, n_mels=n_mels)
    ours = LogMel(cfg)
    ref = torchaudio.transforms.MelSpectrogram(
        sample_rate=16000, n_fft=n_fft, hop_length=hop, f_min=cfg.f_min, f_max=cfg.f_max,
        n_mels=n_mels, center=False, power=2.0,
    )  # fmt: skip
    x = torch.randn(3, 16000) * 0.3
    padded = F.pad(x, (cfg.context, 0))
    mel_ref = ref(padded).transpose(1, 2)  # (B, T, n_mels)
    mel = ours.power(padded) @ ours.mel_fb
    assert mel.shape == mel_ref.shape == (3, 16000 // hop, n_mels)
    big = mel_ref > 1e-3 * mel_ref.max()  # relative error where the spectrum has energy
    rel = ((mel - mel_ref).abs() / mel_ref.abs())[big]
    assert rel.max() < 1e-4
    torch.testing.assert_close(ours(x), torch.log(mel_ref + cfg.log_floor), atol=1e-4, rtol=1e-4)


def test_mfcc_matches_torchaudio() -> None:
    cfg = FrontendConfig(kind="mfcc", n_mfcc=13)
    ref = torchaudio.transforms.MFCC(
        sample_rate=16000, n_mfcc=13, log_mels=True,
        melkwargs=dict(n_fft=640, hop_length=320, f_min=20.0, f_max=7600.0, n_mels=40,
                       center=False, power=2.0),
    )  # fmt: skip
    x = torch.randn(2, 8000) * 0.3
    ours = LogMel(cfg)(x)
    expected = ref(F.pad(x, (cfg.context, 0))).transpose(1, 2)
    assert ours.shape == (2, 25, 13)
    torch.testing.assert_close(ours, expected, atol=1e-3, rtol=1e-4)


def test_frontend_config_errors() -> None:
    with pytest.raises(ValueError, match="hop"):
        FrontendConfig(n_fft=100, hop=200)
    with pytest.raises(ValueError, match="f_max"):
        FrontendConfig(f_max=9000.0)
    with pytest.raises(ValueError, match="kind"):
        FrontendConfig(kind="cqt")  # type: ignore[arg-type]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_stream_chunks_equal_offline(cell: str) -> None:
    net = SpeechClassifierNet(SpeechConfig(hidden_size=16, num_layers=2, cell=cell)).eval()  # type: ignore[arg-type]
    net.set_normalization(torch.randn(40), torch.rand(40) + 0.5)
    stream = SpeechStream(net)
    x = torch.randn(2, 16000) * 0.2
    fe = net.config.frontend
    with torch.no_grad():
        offline = net(x)
        for chunk in (fe.hop, 5 * fe.hop, 3200):
            ctx = torch.zeros(2, fe.context)
            h = c = torch.zeros(2, 2, 16)
            frames = []
            for i in range(0, 16000, chunk):
                logits, h, c, ctx = stream(x[:, i : i + chunk], ctx, h, c)
                frames.append(logits)
            all_frames = torch.cat(frames, 1)
            assert all_frames.shape == (2, 16000 // fe.hop, 12)
            torch.testing.assert_close(all_frames[:, -1], offline, atol=1e-5, rtol=1e-5)


def test_config_round_trip() -> None:
    cfg = SpeechConfig(hidden_size=32, frontend=FrontendConfig(kind="mfcc"))
    assert SpeechConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="distinct"):
        SpeechConfig(labels=("a", "a"))


def test_augmentation_shapes_and_effects() -> None:
    rng = np.random.default_rng(0)
    x = torch.zeros(8, 16000)
    x[:, 6000:10000] = torch.sin(torch.arange(4000) * 0.1) * 0.5
    silence = torch.tensor([False] * 6 + [True] * 2)
    bank = torch.randn(50000)
    cfg = AugmentConfig(prefix_prob=1.0, prefix_seconds=(0.5, 0.5))
    out = augment_waveforms(x, silence, bank, cfg, rng)
    assert out.shape == (8, 16000 + 8000) and out.abs().max() <= 1.0
    assert out[6:].abs().sum() > 0  # silence clips became noise
    assert not torch.equal(out[:6, 8000:], x[:6])  # speed/shift/gain/noise changed the clips
    clean = AugmentConfig(
        speed=(1.0, 1.0), shift_seconds=0.0, gain_db=(0.0, 0.0), noise_prob=0.0, prefix_prob=0.0,
        babble_prob=0.0,
    )  # fmt: skip
    same = augment_waveforms(x[:6], silence[:6], bank, clean, rng)
    torch.testing.assert_close(same, x[:6])  # all off: the clip passes through unchanged

    # Babble comes only from clips that are not commands, and never from the clip itself.
    babble = replace(clean, babble_prob=1.0)
    commands = torch.tensor([True] * 6)
    alone = augment_waveforms(x[:6], silence[:6], bank, babble, rng, is_command=commands)
    torch.testing.assert_close(alone, x[:6])  # no donor in the batch: nothing added
    y = x[:6].clone()
    y[4:] = torch.randn(2, 16000) * 0.1  # two non-command clips: the only donors
    mixed = augment_waveforms(
        y, silence[:6], bank, babble, rng, is_command=commands.logical_and(torch.arange(6) < 4)
    )
    assert (mixed[:4] - y[:4]).abs().max() > 1e-3  # the commands got babble
    torch.testing.assert_close(mixed[4:], y[4:])  # the donors themselves did not

    feats = torch.randn(4, 50, 40)
    torch.testing.assert_close(warp_mel(feats, rng, (1.0, 1.0)), feats)
    assert not torch.equal(warp_mel(feats, rng, (0.8, 0.8)), feats)
    masked = spec_augment(feats, AugmentConfig(time_masks=2, time_mask_frames=6), rng)
    assert masked.shape == feats.shape and (masked == 0).sum() > 0
