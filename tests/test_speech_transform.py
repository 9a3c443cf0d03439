"""Voice, room and channel transformations; the unknown-word pool; the frontend's floor."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from lstm_apps.data.speech_commands import WORDS
from lstm_apps.data.speech_transform import TransformConfig, channel, room, transform, world_voice
from lstm_apps.data.words import unknown_pool


def _word(seed: int = 0) -> np.ndarray:
    """A voiced, word-like 0.4 s sound: a 120 Hz pulse train through two resonances,
    with an amplitude envelope (no synthesizer needed)."""
    rng = np.random.default_rng(seed)
    t = np.arange(6400) / 16000
    f0 = 120 * (1 + 0.1 * np.sin(2 * np.pi * 3 * t))
    phase = 2 * np.pi * np.cumsum(f0) / 16000
    source = np.sign(np.sin(phase)) + 0.05 * rng.standard_normal(t.size)
    x = sum(np.sin(2 * np.pi * f * t) * source for f in (700.0, 1200.0))
    return x * np.hanning(t.size) * 0.3


ALL_ON = TransformConfig(
    world_prob=1.0, room_prob=1.0, channel_prob=1.0, phone_prob=1.0, mp3_prob=1.0,
    bits_prob=1.0, clip_prob=1.0, dc_prob=1.0,
)  # fmt: skip


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_each_transformation_is_finite_sized_and_seeded(seed: int) -> None:
    x = _word(seed)
    cfg = TransformConfig()
    for fn in (world_voice, room):
        a = fn(x, np.random.default_rng(seed), cfg)
        b = fn(x, np.random.default_rng(seed), cfg)
        assert np.isfinite(a).all() and np.array_equal(a, b)
        assert len(x) <= len(a) <= len(x) + int(0.3 * 16000)
        assert np.abs(a).max() > 0.01  # not silenced
    a, done = channel(x, np.random.default_rng(seed), ALL_ON)
    assert done == ["eq", "phone", "mp3", "bits", "clip", "dc"]
    assert np.isfinite(a).all() and len(a) == len(x)


def test_world_changes_the_voice_but_keeps_the_length() -> None:
    x = _word()
    y = world_voice(x, np.random.default_rng(3), TransformConfig(f0_scale=(1.5, 1.5)))
    assert len(y) == len(x)
    # a 1.5x f0 moves the spectrum: the two signals are far from equal
    corr = float(np.corrcoef(x, y)[0, 1])
    assert abs(corr) < 0.9


def test_transform_is_deterministic_and_off_is_identity() -> None:
    x = _word()
    a, applied_a = transform(x, np.random.default_rng(7), ALL_ON)
    b, applied_b = transform(x, np.random.default_rng(7), ALL_ON)
    assert np.array_equal(a, b) and applied_a == applied_b
    assert applied_a[:2] == ["world", "room"]
    c, _ = transform(x, np.random.default_rng(8), ALL_ON)
    assert not np.array_equal(a[: len(c)], c[: len(a)])
    same, applied = transform(x, np.random.default_rng(7), TransformConfig.off())
    assert applied == [] and np.allclose(same, x, atol=1e-6)  # float32 round trip only


def test_config_round_trips_through_json_settings() -> None:
    cfg = replace(TransformConfig(), world_prob=0.3)
    d = cfg.to_dict()
    assert d["world_prob"] == 0.3 and d["rt60"] == (0.15, 0.8)
    assert all(v == 0.0 for k, v in TransformConfig.off().to_dict().items() if k.endswith("_prob"))


def test_unknown_pool_is_large_has_near_misses_and_no_command() -> None:
    pool = unknown_pool(WORDS)
    assert len(pool) >= 300
    for near in ("yet", "cup", "dawn", "lift", "of", "stock", "goat", "going", "now", "ride"):
        assert near in pool
    assert not any(set(p.split()) & set(WORDS) for p in pool)
    assert len(set(pool)) == len(pool)


def test_no_unknown_word_sounds_exactly_like_a_command() -> None:
    """A homophone ("know" for "no") labelled `_unknown_` would be a wrong label."""
    from lstm_apps.data import espeak

    def phones(text: str, voice: str) -> str:
        return espeak.phonemize(text, voice).replace("ˈ", "").replace("ˌ", "")

    for voice in ("en-us", "en-gb-x-rp", "en"):
        commands = {phones(w, voice) for w in WORDS}
        same = [w for w in unknown_pool(WORDS) if phones(w, voice) in commands]
        assert same == [], (voice, same)
    assert phones("know", "en-us") == phones("no", "en-us")  # the check can see one


def test_zero_and_zero_padded_audio_give_finite_moderate_features() -> None:
    import torch

    from lstm_apps.nn.frontend import FrontendConfig, LogMel

    fe = LogMel(FrontendConfig())
    zeros = torch.zeros(1, 16000)
    padded = torch.zeros(1, 16000)
    padded[0, 5000:11400] = torch.from_numpy(_word()).float()
    quiet = torch.randn(1, 16000, generator=torch.Generator().manual_seed(0)) * 10 ** (-70 / 20)
    f_zero, f_pad, f_quiet = fe(zeros), fe(padded), fe(quiet)
    for f in (f_zero, f_pad, f_quiet):
        assert torch.isfinite(f).all()
    # digital zeros sit at the floor, within a few nats of -70 dBFS noise, not far below it
    floor = float(np.log(FrontendConfig().log_floor))
    assert float(f_zero.min()) == pytest.approx(floor, abs=1e-5)
    assert float(f_quiet.mean()) - floor < 3.0
    assert float(f_pad.max()) - floor > 5.0  # the word itself stands well above the floor
