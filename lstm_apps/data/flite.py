"""A cross-generator validation set spoken by flite (`lstm-apps data flite OUT`).

flite is a different synthesizer from eSpeak NG (diphone and cluster-unit voices cut from
recordings of real people, where eSpeak is a formant synthesizer), so a model trained on
eSpeak alone meets here what it will meet on other voices. It is for validation and
tuning only: nothing in this project trains on it.

    apt-get install flite
    lstm-apps data flite data/flite

Layout: the Speech Commands layout of `speech_synth`, every clip named in
``validation_list.txt`` (``testing_list.txt`` is empty), so `--val-data data/flite` and
`lstm-apps eval speech MODEL --data data/flite --split validation` use all of it. A
"speaker" is one flite voice at one speaking rate and pitch: 5 voices x 3 rates x 3
pitches = 45 speakers, each saying every word once. Half the speakers' clips are clean,
with the digital silence flite puts around a word (what an app gets from a TTS prompt or
a muted line), and half are mixed with pink noise at 10-20 dB SNR. Deterministic per seed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from lstm_apps.data.speech_clips import (
    CLIP_SAMPLES,
    coloured_noise,
    progress_bar,
    trim_silence,
    write_noise,
    write_wav,
)
from lstm_apps.data.speech_commands import (
    BACKGROUND_NOISE_DIR,
    SAMPLE_RATE,
    TESTING_LIST,
    VALIDATION_LIST,
    read_wav,
)
from lstm_apps.data.speech_synth import ALL_WORDS, check_out_dir, publish
from lstm_apps.runtime.errors import ConfigError, DependencyError

__all__ = ["FLITE_VOICES", "FliteReport", "generate_flite"]

FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")
"""The voices built into Debian's flite 2.2 (``flite -lv``), awb_time aside (it speaks
only the time)."""
_STRETCH = (0.8, 1.0, 1.25)  # duration_stretch: fast, normal, slow
_F0 = {"slt": (150.0, 175.0, 205.0)}  # int_f0_target_mean in Hz: lower, usual, higher
_F0_MALE = (90.0, 110.0, 135.0)


@dataclass
class FliteReport:
    out_dir: Path
    n_files: int
    n_speakers: int
    seconds: float


def _flite() -> str:
    exe = shutil.which("flite")
    if exe is None:
        raise DependencyError(
            "the flite validation set needs the flite program: apt-get install flite"
        )
    return exe


def _say(exe: str, word: str, voice: str, stretch: float, f0: float, tmp: Path) -> np.ndarray:
    wav = tmp / "say.wav"
    cmd = [
        exe, "-voice", voice, "--setf", f"duration_stretch={stretch}",
        "--setf", f"int_f0_target_mean={f0}", "-t", word, "-o", str(wav),
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not wav.is_file():
        raise DependencyError(f"flite failed on {word!r} ({voice}): {done.stderr.strip()}")
    return read_wav(wav)  # resampled to 16 kHz (kal is 8 kHz)


def _place(
    speech: npt.NDArray[np.float32], rng: np.random.Generator, noisy: bool
) -> npt.NDArray[np.int16]:
    """Put the trimmed word at a random level and place in 1 s; noisy: pink noise at
    10-20 dB SNR, else digital zeros around it."""
    speech = speech[: CLIP_SAMPLES - SAMPLE_RATE // 50].astype(np.float64)
    speech *= 10 ** (rng.uniform(-24.0, -1.0) / 20) / max(float(np.abs(speech).max()), 1e-9)
    out = np.zeros(CLIP_SAMPLES)
    offset = int(rng.uniform() * (CLIP_SAMPLES - len(speech)))
    out[offset : offset + len(speech)] = speech
    if noisy:
        noise = coloured_noise(rng, CLIP_SAMPLES, 1.0)
        rms = float(np.sqrt(np.mean(speech**2)))
        noise *= rms / 10 ** (rng.uniform(10, 20) / 20) / max(float(noise.std()), 1e-12)
        out += noise
    return np.clip(np.round(out * 32767.0), -32768, 32767).astype(np.int16)


def generate_flite(
    out_dir: str | Path,
    *,
    seed: int = 0,
    words: Sequence[str] | None = None,
    voices: Sequence[str] = FLITE_VOICES,
    progress: bool = True,
    command: str | None = None,
) -> FliteReport:
    """Write the flite validation set to `out_dir` (created; must not exist or be empty).

    Raises:
        FileExistsError: `out_dir` is a non-empty folder.
        DependencyError: the flite program is missing or fails.
    """
    start = time.perf_counter()
    out_dir = Path(out_dir)
    words = ALL_WORDS if words is None else tuple(words)
    voices = tuple(voices)
    if unknown := sorted(set(voices) - set(FLITE_VOICES)):
        raise ConfigError(f"voices: {unknown} not among flite's {list(FLITE_VOICES)}")
    if len(set(words)) != len(words) or any(not w or "/" in w or w.startswith("_") for w in words):
        raise ConfigError(f"words {list(words)!r}: give distinct, non-empty plain words")
    check_out_dir(out_dir)
    exe = _flite()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    speakers = [
        (v, s, f) for v in voices for s in _STRETCH for f in _F0.get(v, _F0_MALE)
    ]  # fmt: skip
    written: list[str] = []
    try:
        tmp.mkdir()
        for word in words:
            (tmp / word).mkdir()
        # its own noise seed: never the training set's noise files
        write_noise(tmp / BACKGROUND_NOISE_DIR, 20.0, seed + 0xF117E)
        with (
            tempfile.TemporaryDirectory() as scratch,
            progress_bar(len(speakers) * len(words), progress) as bar,
        ):
            for k, (voice, stretch, f0) in enumerate(speakers):
                sid = hashlib.sha1(f"flite:{voice}:{stretch}:{f0}".encode()).hexdigest()[:8]
                rng = np.random.default_rng([seed, int(sid, 16)])
                for word in words:
                    raw = _say(exe, word, voice, stretch, f0, Path(scratch))
                    speech = trim_silence(raw, SAMPLE_RATE)
                    rel = f"{word}/{sid}_nohash_0.wav"
                    write_wav(tmp / rel, _place(speech, rng, noisy=k % 2 == 1))
                    written.append(rel)
                    bar.update(1)
        (tmp / VALIDATION_LIST).write_text("".join(f"{r}\n" for r in sorted(written)))
        (tmp / TESTING_LIST).write_text("")
        (tmp / "README.md").write_text(
            "# flite validation set\n\nMade by `lstm_apps.data.flite.generate_flite`: "
            f"voices {', '.join(voices)}; duration_stretch {_STRETCH}; three f0 targets per "
            f"voice; seed {seed}. Every clip is in validation_list.txt. Never train on it.\n"
        )
        generator = {
            "generator": "lstm_apps.data.flite.generate_flite",
            "settings": {"seed": seed, "words": list(words), "voices": list(voices)},
            "speakers_used": len(speakers), "clips": len(written),
            **({"command": command} if command else {}),
        }  # fmt: skip
        publish(tmp, out_dir, generator)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return FliteReport(out_dir, len(written), len(speakers), time.perf_counter() - start)
