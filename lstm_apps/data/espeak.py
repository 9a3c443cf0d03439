"""A small ctypes binding to eSpeak NG, as shipped by the `espeakng-loader` wheel.

The wheel carries `libespeak-ng.so` and its `espeak-ng-data` folder, so speech can be
synthesised with pip alone (`pip install .[train]`), no system package. The library is
loaded lazily, once per process, behind one lock (eSpeak NG keeps global state and is
not thread-safe), and initialised in synchronous mode; a synth callback collects the
int16 samples, so `synthesize` returns a whole utterance as one array.

Reproducibility: eSpeak NG seeds its noise generator from the clock and keeps statics
that no API call resets (pitch-flutter phase, gain control), so an utterance depends on
what the process said before it. `synthesize` reseeds the generator always and, by
default (``fresh=True``), first calls `reset()`, which unloads and reloads the library
(about 3 ms, six times the cost of a word): the same arguments then give the same
samples in any process. Bulk callers call `reset()` once and then ``fresh=False``: the
output then depends only on the calls made since that reset.

    >>> from lstm_apps.data.espeak import synthesize
    >>> audio = synthesize("yes", voice="en-us", variant="m3", rate=160)  # int16 at 22050 Hz
"""

from __future__ import annotations

import _ctypes
import ctypes
import itertools
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from lstm_apps.runtime.errors import DependencyError, InputError

__all__ = ["SAMPLE_RATE", "list_variants", "list_voices", "phonemize", "reset", "synthesize"]

SAMPLE_RATE = 22050
"""Rate of the audio eSpeak NG produces (Hz); checked against espeak_Initialize."""

# Values from espeak-ng/speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EE_OK = 0
_RATE, _VOLUME, _PITCH, _RANGE = 1, 2, 3, 4


class _Voice(ctypes.Structure):
    """`espeak_VOICE`; `languages` is a run of (priority byte, NUL-terminated name) pairs."""

    _fields_ = (
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    )


# int SynthCallback(short *wav, int numsamples, espeak_EVENT *events); the events are unused.
_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


@dataclass
class _Engine:
    lib: ctypes.CDLL
    data_path: Path
    callback: object  # keeps the CFUNCTYPE object alive as long as the library holds it
    chunks: list[bytes]
    has_seed: bool


_lock = threading.Lock()
_engine: _Engine | None = None
_variants: list[str] | None = None  # read once from the data folder


def _load() -> _Engine:
    """Load and initialise the library unless it is loaded; call with `_lock` held."""
    global _engine
    if _engine is not None:
        return _engine
    try:
        import espeakng_loader
    except ImportError as exc:
        raise DependencyError(
            "speech synthesis needs the espeakng-loader wheel (libespeak-ng and its data); "
            "install the training extras: pip install .[train]"
        ) from exc
    lib_path = espeakng_loader.get_library_path()
    data_path = Path(espeakng_loader.get_data_path())
    try:
        lib = ctypes.CDLL(lib_path)
    except OSError as exc:
        raise DependencyError(f"cannot load libespeak-ng from {lib_path}: {exc}") from exc

    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint,
        ctypes.c_void_p,
        ctypes.c_void_p,
    ]
    lib.espeak_Synth.restype = ctypes.c_int
    lib.espeak_Synchronize.argtypes = []
    lib.espeak_Synchronize.restype = ctypes.c_int
    lib.espeak_Terminate.argtypes = []
    lib.espeak_Terminate.restype = ctypes.c_int
    lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
    lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
    # Initialize seeds eSpeak's generator (breath and whisper noise) from the clock.
    has_seed = hasattr(lib, "espeak_ng_SetRandSeed")  # espeak-ng >= 1.52
    if has_seed:
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_ng_SetRandSeed.restype = None

    rate = lib.espeak_Initialize(
        _AUDIO_OUTPUT_SYNCHRONOUS, 0, str(data_path).encode(), _INITIALIZE_DONT_EXIT
    )
    if rate != SAMPLE_RATE:
        raise DependencyError(
            f"libespeak-ng at {lib_path} failed to initialise with data {data_path} "
            f"(espeak_Initialize returned {rate}, expected {SAMPLE_RATE})"
        )
    chunks: list[bytes] = []

    def collect(wav: ctypes._Pointer[ctypes.c_short], n: int, _events: int | None) -> int:
        if n > 0 and wav:
            chunks.append(ctypes.string_at(wav, n * 2))
        return 0  # 0 = keep going

    callback = _CALLBACK(collect)
    lib.espeak_SetSynthCallback(callback)
    _engine = _Engine(lib, data_path, callback, chunks, has_seed)
    return _engine


def _reload() -> _Engine:
    """Unload and reload the library (back to its pristine state); call with `_lock` held."""
    global _engine
    if _engine is not None:
        _engine.lib.espeak_Terminate()
        handle = _engine.lib._handle
        _engine = None
        _ctypes.dlclose(handle)
    return _load()


def reset() -> None:
    """Return eSpeak NG to the state it has right after loading (see the module docstring).

    Following ``synthesize(..., fresh=False)`` calls then give the same samples in any
    process. Costs about 3 ms.
    """
    with _lock:
        _reload()


def _languages(raw: int | None) -> list[str]:
    """Decode `espeak_VOICE.languages`: priority byte, NUL-terminated name, ..., zero byte."""
    out: list[str] = []
    if not raw:
        return out
    pos = raw
    while ctypes.string_at(pos, 1) != b"\0":
        name = ctypes.string_at(pos + 1)
        out.append(name.decode("utf-8", "replace"))
        pos += 2 + len(name)
    return out


def list_voices(language_prefix: str = "en") -> list[str]:
    """Voice names (lowercase, e.g. ``"en-us"``, ``"en-gb-x-rp"``) whose language starts
    with `language_prefix`, sorted. Each is accepted by `synthesize(voice=...)`.

    MBROLA voices (which need extra data the wheel lacks) and variants are left out.
    """
    prefix = language_prefix.lower()
    with _lock:
        engine = _load()
        voices = engine.lib.espeak_ListVoices(None)
        names: set[str] = set()
        i = 0
        while voices[i]:
            voice = voices[i].contents
            i += 1
            identifier = (voice.identifier or b"").decode("utf-8", "replace")
            name = identifier.rsplit("/", 1)[-1].lower()
            langs = [lang.lower() for lang in _languages(voice.languages)]
            if name and any(lang.startswith(prefix) for lang in langs):
                names.add(name)
    return sorted(names)


def list_variants() -> list[str]:
    """Names of the voice variants shipped in ``espeak-ng-data/voices/!v`` (``m1``, ``f3``,
    ``croak``, ``klatt``, ``whisper``, ...), sorted; pass one as `synthesize(variant=...)`."""
    global _variants
    with _lock:
        if _variants is None:
            folder = _load().data_path / "voices" / "!v"
            files = folder.iterdir() if folder.is_dir() else iter(())
            # Some names hold spaces ("Mr serious"); "+" would split a voice name.
            _variants = sorted(p.name for p in files if p.is_file() and "+" not in p.name)
        return list(_variants)


def synthesize(
    text: str,
    *,
    voice: str = "en-us",
    variant: str | None = None,
    rate: int = 175,
    pitch: int = 50,
    pitch_range: int = 50,
    volume: int = 100,
    fresh: bool = True,
) -> npt.NDArray[np.int16]:
    """Speak `text` and return the samples.

    Args:
        text: UTF-8 text; eSpeak's own markup is not interpreted.
        voice: a name from `list_voices()` (or any name eSpeak accepts).
        variant: a name from `list_variants()`, or None for the voice's default.
        rate: words per minute, 80..450.
        pitch: base pitch, 0..100.
        pitch_range: intonation range, 0..100 (0 = monotone).
        volume: amplitude, 0..200.
        fresh: `reset()` first, so the result depends on the arguments alone. With False
            (about 6x faster) it also depends on the calls since the last `reset()`.

    Returns:
        int16 array, shape = (n_samples,), mono at `SAMPLE_RATE` (22050 Hz), including the
        short silences eSpeak puts before and after the speech.
    """
    for name, value, lo, hi in (
        ("rate", rate, 80, 450),
        ("pitch", pitch, 0, 100),
        ("pitch_range", pitch_range, 0, 100),
        ("volume", volume, 0, 200),
    ):
        if not lo <= value <= hi:
            raise InputError(f"{name}={value!r} is outside {lo}..{hi}")
    if not text.strip():
        raise InputError("synthesize() needs non-empty text")
    if variant is not None and variant not in list_variants():
        raise InputError(f"eSpeak NG has no variant {variant!r}; see list_variants()")
    full_name = voice if variant is None else f"{voice}+{variant}"
    with _lock:
        engine = _reload() if fresh else _load()
        lib = engine.lib
        if lib.espeak_SetVoiceByName(full_name.encode()) != _EE_OK:
            raise InputError(f"eSpeak NG has no voice {full_name!r}; see list_voices()")
        for param, value in (
            (_RATE, rate),
            (_PITCH, pitch),
            (_RANGE, pitch_range),
            (_VOLUME, volume),
        ):
            lib.espeak_SetParameter(param, int(value), 0)
        if engine.has_seed:
            lib.espeak_ng_SetRandSeed(1)
        engine.chunks.clear()
        data = text.encode("utf-8") + b"\0"
        err = lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        lib.espeak_Synchronize()
        raw = b"".join(engine.chunks)
        engine.chunks.clear()
    if err != _EE_OK:
        raise InputError(f"eSpeak NG failed to speak {text!r} with {full_name!r} (error {err})")
    return np.frombuffer(raw, dtype=np.int16).copy()


def phonemize(text: str, voice: str = "en-us", *, tie: str | None = None) -> str:
    """Translate `text` to IPA with eSpeak NG's own rules and dictionary (no audio).

    Args:
        text: UTF-8 text; eSpeak's own markup is not interpreted.
        voice: a name from `list_voices()`; it picks the language and accent.
        tie: one character eSpeak writes inside its multi-letter phonemes (``"\u0361"``
            gives ``ɡˈo͡ʊ`` for "go", as phonemizer's ``tie`` option asks), or None for
            none (``ɡˈoʊ``).

    Returns:
        IPA with stress marks (ˈ ˌ), words separated by spaces; each clause keeps the
        punctuation that closed it (``, . ! ? ; :``), as phonemizer's
        ``preserve_punctuation`` does, so a neural synthesizer still sees the pauses.

    Shares the engine and lock of `synthesize` and selects `voice`, so it counts as a
    call for ``synthesize(..., fresh=False)``; the translation itself uses no randomness.
    """
    if not text.strip():
        raise InputError("phonemize() needs non-empty text")
    if tie is not None and len(tie) != 1:
        raise InputError(f"tie={tie!r} must be one character or None")
    # espeakPHONEMES_IPA (bit 1); with espeakPHONEMES_TIE (bit 7), bits 8-23 hold the tie.
    mode = 0x02 if tie is None else 0x02 | 0x80 | (ord(tie) << 8)
    # Split at clause punctuation followed by a space or the end ("3.5" stays whole): eSpeak
    # drops the marks, and its read-ahead makes the text it consumed no guide to them.
    pieces = re.split(r"([,.!?;:]+)(?:\s+|$)", text)
    clauses: list[str] = []
    with _lock:
        lib = _load().lib
        lib.espeak_TextToPhonemes.argtypes = [
            ctypes.POINTER(ctypes.c_void_p),
            ctypes.c_int,
            ctypes.c_int,
        ]
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        if lib.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
            raise InputError(f"eSpeak NG has no voice {voice!r}; see list_voices()")
        for chunk, marks in itertools.zip_longest(pieces[::2], pieces[1::2], fillvalue=""):
            if not chunk.strip():
                continue
            buffer = ctypes.create_string_buffer(chunk.encode("utf-8"))
            pos = ctypes.c_void_p(ctypes.addressof(buffer))
            words: list[str] = []
            # One clause per call; eSpeak advances `pos`, and sets it to NULL at the end.
            while pos.value:
                out = lib.espeak_TextToPhonemes(ctypes.byref(pos), _CHARS_UTF8, mode)
                if out and out.strip():
                    words.append(out.decode("utf-8", "replace").strip())
            if words:
                clauses.append(" ".join(words) + marks[-1:])
    return " ".join(clauses)
