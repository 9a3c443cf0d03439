"""One speaker's clips and the background noise of a generated Speech Commands set.

`speak(job)` writes every clip of one speaker: eSpeak NG, Kokoro or Pico says each word, the
transformations (`speech_transform.py`) change voice, room and channel, and the word is
placed at a random level and position over a faint noise floor or digital zeros.
`write_noise` writes the _background_noise_ files. Also used by the flite validation set
(`flite.py`) and the stream evaluation audio (`eval/stream_audio.py`).
"""

from __future__ import annotations

import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from lstm_apps.data import espeak
from lstm_apps.data.speakers import Speaker
from lstm_apps.data.speech_commands import SAMPLE_RATE
from lstm_apps.data.speech_transform import TransformConfig, transform

CLIP_SAMPLES = SAMPLE_RATE  # 1 s
_RATE_RANGE = (120, 260)  # words per minute, per repeat
_PITCH_RANGE = (20, 80)  # eSpeak pitch 0..100, per repeat
_NOISE_RMS = 10 ** (-20 / 20)  # background clips at -20 dBFS RMS


def trim_silence(audio: npt.NDArray[np.float32], rate: int) -> npt.NDArray[np.float32]:
    """Cut leading and trailing silence: keep from 5 ms before the first sample above 2% of
    the peak to 5 ms after the last one."""
    loud = np.flatnonzero(np.abs(audio) > 0.02 * np.abs(audio).max())
    if loud.size == 0:
        raise RuntimeError("the synthesizer produced silence")  # never seen; would be a bug
    pad = int(0.005 * rate)
    return audio[max(0, loud[0] - pad) : loud[-1] + 1 + pad]


def folder_name(text: str) -> str:
    """The word folder of a word or phrase: spaces become underscores."""
    return text.replace(" ", "_")


@dataclass(frozen=True)
class SpeakerJob:
    speaker: Speaker
    repeats: int
    seed: int
    tmp: str
    words: tuple[str, ...]  # said `repeats` times each
    extra: tuple[str, ...]  # a pool to draw from ...
    extra_n: int  # ... this many words, each said once
    transforms: TransformConfig
    zero_floor_prob: float


def render_clip(
    word: str,
    speaker: Speaker,
    rng: np.random.Generator,
    centre: tuple[float, float, float],
    job: SpeakerJob,
) -> npt.NDArray[np.int16]:
    """One 1 s recording of `word`: int16, shape = (16000,), mono at 16 kHz.

    eSpeak NG, Kokoro or Pico speaks it, `transform` changes voice, room and channel, then it is
    placed at a random level and position over a faint noise floor (or digital zeros)."""
    import soxr

    rate_c, pitch_c, range_c = centre
    rate = int(np.clip(round(rate_c + rng.normal(0, 25)), *_RATE_RANGE))
    pitch = int(np.clip(round(pitch_c + rng.normal(0, 8)), *_PITCH_RANGE))
    pitch_range = int(np.clip(round(range_c + rng.normal(0, 12)), 5, 100))
    text = word + str(rng.choice(["", "", ".", "!", "?"]))  # varies the intonation
    if speaker.engine == "kokoro":  # rate_c (140-230 wpm) sets the speed: 0.8-1.25
        speed = float(np.clip(rate_c / 175 * np.exp(rng.normal(0, 0.08)), 0.7, 1.4))
    level_db = rng.uniform(-24.0, -1.0)  # peak level, dBFS
    position = rng.uniform()  # where the word sits inside the second
    floor_db = rng.uniform(-75.0, -55.0)  # RMS of a faint noise floor, dBFS
    floor_seed = int(rng.integers(2**32))
    zero_floor = rng.random() < job.zero_floor_prob

    while speaker.engine == "kokoro":
        from lstm_apps.data import kokoro

        a, b, weight, lang = speaker.blend
        raw_k = kokoro.synthesize(text, (a, b, weight), speed=speed, lang=lang)
        speech = trim_silence(raw_k, kokoro.SAMPLE_RATE)
        speech = soxr.resample(speech, kokoro.SAMPLE_RATE, SAMPLE_RATE, quality="HQ")
        if len(speech) <= CLIP_SAMPLES - SAMPLE_RATE // 50 or speed >= 2.0:
            break
        speed = min(2.0, speed * 1.3)  # too slow to fit in 1 s: speak faster
    if speaker.engine == "pico":  # the speaker's own pitch and speed, varied per clip
        from lstm_apps.data import pico

        pitch_c, speed_c = speaker.pitch_speed
        p_speed = float(np.clip(speed_c * np.exp(rng.normal(0, 0.08)), *pico.SPEED))
        p_pitch = float(np.clip(pitch_c * np.exp(rng.normal(0, 0.05)), *pico.PITCH))
        for _ in range(4):
            speech = trim_silence(
                pico.synthesize(text, speaker.voice, speed=p_speed, pitch=p_pitch),
                pico.SAMPLE_RATE,
            )
            if len(speech) <= CLIP_SAMPLES - SAMPLE_RATE // 50:
                break
            p_speed = min(pico.SPEED[1], p_speed * 1.3)  # too slow to fit in 1 s
    while speaker.engine == "espeak":
        raw = espeak.synthesize(
            text, voice=speaker.voice, variant=speaker.variant, rate=rate, pitch=pitch,
            pitch_range=pitch_range, fresh=False,
        )  # fmt: skip
        speech = trim_silence(raw.astype(np.float32) / 32768.0, espeak.SAMPLE_RATE)
        speech = soxr.resample(speech, espeak.SAMPLE_RATE, SAMPLE_RATE, quality="HQ")
        if len(speech) <= CLIP_SAMPLES - SAMPLE_RATE // 50 or rate >= 400:
            break
        rate = min(450, int(rate * 1.3))  # too slow to fit in 1 s: speak faster
    speech, _ = transform(speech.astype(np.float64), rng, job.transforms)
    speech = speech[: CLIP_SAMPLES - SAMPLE_RATE // 50]
    speech *= 10 ** (level_db / 20) / max(float(np.abs(speech).max()), 1e-9)
    out = np.random.default_rng(floor_seed).normal(0.0, 10 ** (floor_db / 20), CLIP_SAMPLES)
    if zero_floor:
        out[:] = 0.0
    offset = int(position * (CLIP_SAMPLES - len(speech)))
    out[offset : offset + len(speech)] += speech
    return np.clip(np.round(out * 32767.0), -32768, 32767).astype(np.int16)


def write_wav(path: Path, audio: npt.NDArray[np.int16]) -> None:
    """A plain 44-byte-header PCM wav, mono 16-bit at 16 kHz, as Speech Commands ships."""
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(SAMPLE_RATE)
        f.writeframes(audio.astype("<i2", copy=False).tobytes())


def speak(job: SpeakerJob) -> list[str]:
    """Write every clip of one speaker under `job.tmp`; returns the relative paths."""
    speaker = job.speaker
    espeak.reset()  # the speaker's clips then depend on nothing said before them
    rng = np.random.default_rng([job.seed, int(speaker.id, 16)])
    centre = (rng.uniform(140, 230), rng.uniform(30, 70), rng.uniform(25, 85))
    drawn = [job.extra[i] for i in rng.permutation(len(job.extra))[: job.extra_n]]
    said = [(w, n) for w in job.words for n in range(job.repeats)] + [(w, 0) for w in drawn]
    written = []
    for word, n in said:
        audio = render_clip(word, speaker, rng, centre, job)
        rel = f"{folder_name(word)}/{speaker.id}_nohash_{n}.wav"
        (Path(job.tmp) / folder_name(word)).mkdir(exist_ok=True)
        write_wav(Path(job.tmp) / rel, audio)
        written.append(rel)
    return written


def coloured_noise(rng: np.random.Generator, n: int, exponent: float) -> npt.NDArray[np.float64]:
    """Noise with power spectrum ~ 1/f**exponent (0 white, 1 pink, 2 brown), 20 Hz up."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE)
    spectrum *= np.maximum(freqs, 20.0) ** (-exponent / 2)
    spectrum[freqs < 20.0] = 0.0  # no DC drift
    return np.fft.irfft(spectrum, n)


def mains_hum(rng: np.random.Generator, n: int, mains: float) -> npt.NDArray[np.float64]:
    """Mains hum: the fundamental and 9 harmonics at 1/k amplitudes, random phases, a
    slow amplitude wobble, over faint white noise."""
    t = np.arange(n) / SAMPLE_RATE
    out = np.zeros(n)
    for k in range(1, 11):
        amp = rng.uniform(0.3, 1.0) / k
        out += amp * np.sin(2 * np.pi * mains * k * t + rng.uniform(0, 2 * np.pi))
    out *= 1.0 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.05, 0.3) * t)
    return out + 0.02 * rng.standard_normal(n)


def write_noise(folder: Path, seconds: float, seed: int) -> list[str]:
    """Background clips of `seconds` each, int16 at 16 kHz, -20 dBFS RMS."""
    n = round(seconds * SAMPLE_RATE)
    makers: dict[str, Callable[[np.random.Generator], npt.NDArray[np.float64]]] = {
        "white_noise.wav": lambda rng: coloured_noise(rng, n, 0.0),
        "pink_noise.wav": lambda rng: coloured_noise(rng, n, 1.0),
        "brown_noise.wav": lambda rng: coloured_noise(rng, n, 2.0),
        "hum_50hz.wav": lambda rng: mains_hum(rng, n, 50.0),
        "hum_60hz.wav": lambda rng: mains_hum(rng, n, 60.0),
    }
    folder.mkdir()
    for i, (name, make) in enumerate(makers.items()):
        audio = make(np.random.default_rng([seed, 0x401E, i]))
        audio *= _NOISE_RMS / max(float(np.sqrt(np.mean(audio**2))), 1e-12)
        pcm = np.clip(np.round(audio * 32767.0), -32768, 32767).astype(np.int16)
        write_wav(folder / name, pcm)
    return list(makers)


class ProgressBar(Protocol):
    def __enter__(self) -> ProgressBar: ...
    def __exit__(self, *exc: object) -> object: ...
    def update(self, n: int) -> object: ...


class NoBar:
    def __enter__(self) -> NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int) -> None:
        return None


def progress_bar(total: int, enabled: bool) -> ProgressBar:
    """A tqdm bar over clips, or a stand-in when disabled or tqdm is not installed."""
    if not enabled:
        return NoBar()
    try:
        from tqdm import tqdm
    except ImportError:
        return NoBar()
    bar: ProgressBar = tqdm(total=total, unit="clip", desc="speech commands", smoothing=0.05)
    return bar
