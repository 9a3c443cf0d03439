"""Who speaks in a generated Speech Commands set: `Speaker`, eSpeak and Kokoro speaker lists.

A speaker is one English eSpeak voice with one variant (9 x 104 = 936 with espeakng-loader
0.2.4), or a Kokoro blend of two voices reading one eSpeak accent's phonemes; its id is
8 hex digits of a sha1, and `which_set` on the id puts it in train, validation or test, as
Speech Commands does, so validation and test voices are never heard in training.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lstm_apps.data import espeak
from lstm_apps.data.speech_commands import which_set
from lstm_apps.runtime.errors import ConfigError

__all__ = [
    "KOKORO_ACCENTS", "Speaker", "kokoro_speakers", "list_speakers", "pico_speakers", "speaker_id",
]  # fmt: skip

SPLIT_NAMES = {"training": "train", "validation": "validation", "testing": "test"}


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker: an eSpeak voice with a variant, a Kokoro voice blend, or a
    Pico voice at its own pitch and speed."""

    id: str  # 8 hex digits, the part of a file name before "_nohash_"
    voice: str  # eSpeak: "en-us"; Kokoro: "jf_alpha+jm_kumo"; Pico: "en-GB"
    variant: str  # eSpeak: "m3"; Kokoro: "<weight of the first voice>:<phoneme voice>";
    # Pico: "<pitch factor>:<speed factor>"
    engine: str = "espeak"  # "espeak", "kokoro" or "pico"

    @property
    def blend(self) -> tuple[str, str, float, str]:
        """Kokoro: (voice a, voice b, weight of a, eSpeak voice that writes the phonemes)."""
        a, b = self.voice.split("+")
        weight, lang = self.variant.split(":")
        return a, b, float(weight), lang

    @property
    def pitch_speed(self) -> tuple[float, float]:
        """Pico: the speaker's (pitch factor, speed factor)."""
        pitch, speed = self.variant.split(":")
        return float(pitch), float(speed)

    @property
    def split(self) -> str:
        """ "train", "validation" or "test", by `which_set` on the id."""
        return SPLIT_NAMES[which_set(f"{self.id}_nohash_0.wav")]


def speaker_id(voice: str, variant: str) -> str:
    """Stable 8-hex-digit id of a voice+variant pair."""
    return hashlib.sha1(f"{voice}+{variant}".encode()).hexdigest()[:8]


def list_speakers(
    speakers: int | None = None,
    *,
    seed: int = 0,
    voices: Sequence[str] | None = None,
    exclude_voices: Sequence[str] = (),
) -> list[Speaker]:
    """All English voices x all variants, or `speakers` of them, sorted by id.

    voices: only these eSpeak voices (None: all English ones); exclude_voices: never these
    (a voice family held out from training for evaluation).

    A capped selection is stratified by split (about 80/10/10, at least one validation
    and one test speaker when `speakers` >= 3) and drawn with `seed`, so even a small
    generated set has all three splits.
    """
    available = espeak.list_voices("en")
    for v in [*(voices or ()), *exclude_voices]:
        if v not in available:
            raise ConfigError(f"voice {v!r} is not an English eSpeak NG voice: {available}")
    chosen_voices = [v for v in (voices or available) if v not in exclude_voices]
    if not chosen_voices:
        raise ConfigError(f"voices={voices!r} minus exclude_voices={exclude_voices!r} is empty")
    pool = sorted(
        (Speaker(speaker_id(v, var), v, var) for v in chosen_voices
         for var in espeak.list_variants()),
        key=lambda s: s.id,
    )  # fmt: skip
    if speakers is None or speakers >= len(pool):
        return pool
    if speakers < 1:
        raise ConfigError(f"speakers={speakers!r}; expected at least 1")
    rng = np.random.default_rng([seed, 0x5BEA])
    shuffled = [pool[i] for i in rng.permutation(len(pool))]
    n_eval = max(1, round(0.1 * speakers)) if speakers >= 3 else 0
    chosen: list[Speaker] = []
    for split, n in (("validation", n_eval), ("test", n_eval)):
        chosen += [s for s in shuffled if s.split == split][:n]
    chosen += [s for s in shuffled if s not in chosen][: speakers - len(chosen)]
    return sorted(chosen, key=lambda s: s.id)


KOKORO_ACCENTS = ("en-us", "en-us", "en-gb-x-rp", "en")
"""eSpeak voices whose phonemes Kokoro speakers read (American twice as often)."""


def kokoro_speakers(n: int, *, seed: int = 0, exclude_voices: Sequence[str] = ()) -> list[Speaker]:
    """n Kokoro speakers: each a blend w*a + (1-w)*b of two of its voices (w 0.2-1: from
    one voice to an even mix) reading one eSpeak accent's phonemes (never one of
    `exclude_voices`, the held-out family); sorted by id."""
    if n <= 0:
        return []
    from lstm_apps.data import kokoro

    voices = kokoro.list_voices()
    rng = np.random.default_rng([seed, 0xC0C0])
    out: dict[str, Speaker] = {}
    while len(out) < n:
        a, b = (str(v) for v in rng.choice(voices, 2, replace=False))
        accents = [a for a in KOKORO_ACCENTS if a not in exclude_voices]
        weight, lang = round(float(rng.uniform(0.2, 1.0)), 2), str(rng.choice(accents))
        sid = hashlib.sha1(f"kokoro:{a}+{b}:{weight}:{lang}".encode()).hexdigest()[:8]
        out.setdefault(sid, Speaker(sid, f"{a}+{b}", f"{weight}:{lang}", "kokoro"))
    return sorted(out.values(), key=lambda s: s.id)


def pico_speakers(n: int, *, seed: int = 0) -> list[Speaker]:
    """n Pico speakers: each one of its two English voices at its own pitch (0.6-1.6, as a
    factor; the WORLD transformations then move formants and f0 further) and speaking
    speed (0.8-1.25); sorted by id."""
    if n <= 0:
        return []
    from lstm_apps.data import pico

    rng = np.random.default_rng([seed, 0x9C0])
    out: dict[str, Speaker] = {}
    while len(out) < n:
        voice = str(rng.choice(pico.VOICES))
        pitch = round(float(np.exp(rng.uniform(np.log(0.6), np.log(1.6)))), 2)
        speed = round(float(np.exp(rng.uniform(np.log(0.8), np.log(1.25)))), 2)
        sid = hashlib.sha1(f"pico:{voice}:{pitch}:{speed}".encode()).hexdigest()[:8]
        out.setdefault(sid, Speaker(sid, voice, f"{pitch}:{speed}", "pico"))
    return sorted(out.values(), key=lambda s: s.id)
