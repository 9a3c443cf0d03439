"""Generate a Speech Commands data set with eSpeak NG (`lstm-apps data speech OUT`).

The output is the real Speech Commands layout, so `speech_commands.load_speech_commands`
reads it unchanged:

    OUT/<word>/<speaker>_nohash_<n>.wav   16 kHz mono int16, exactly 1 s (16000 samples)
    OUT/validation_list.txt, OUT/testing_list.txt
    OUT/_background_noise_/{white,pink,brown}_noise.wav, hum_{50,60}hz.wav
    OUT/README.md                          how the folder was made
    OUT/generator.json                     the same, for programs (model cards)

A speaker is one English eSpeak voice with one variant (9 x 104 = 936 with espeakng-loader
0.2.4); its id is the first 8 hex digits of sha1("voice+variant"). Speakers are split with
`which_set`, as Speech Commands does, so validation and test voices are never heard in
training. Every speaker says the 10 command words and the 20 auxiliary words `repeats`
times, each time at its own rate, pitch, pitch range, intonation, level and position
around speaker-specific centres.

A speaker's clips are a pure function of (seed, speaker, repeats): each speaker starts
from a reset eSpeak and its own random generator, so the same seed gives the same bytes
whatever the number of workers or the order they run in. The folder is built in a hidden sibling and
renamed into place at the end, so OUT is either complete or absent.

    python -c "from lstm_apps.data.speech_synth import generate_speech_commands as g; g('out')"
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import time
import wave
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from lstm_apps.data import GENERATOR_JSON, espeak
from lstm_apps.data.speech_commands import (
    BACKGROUND_NOISE_DIR,
    SAMPLE_RATE,
    TESTING_LIST,
    VALIDATION_LIST,
    WORDS,
    which_set,
)
from lstm_apps.data.speech_transform import TransformConfig, transform
from lstm_apps.data.words import SPEECH_COMMANDS_AUX, unknown_pool
from lstm_apps.runtime.errors import ConfigError

__all__ = [
    "AUX_WORDS",
    "GenerateReport",
    "Speaker",
    "generate_speech_commands",
    "list_speakers",
    "speaker_id",
]

AUX_WORDS = SPEECH_COMMANDS_AUX
"""The Speech Commands auxiliary words; the loader maps them to `_unknown_`."""
ALL_WORDS = WORDS + AUX_WORDS
UNKNOWN_POOL = unknown_pool(WORDS)
"""What each speaker draws its `_unknown_` words from (lstm_apps.data.words)."""
CLIP_SAMPLES = SAMPLE_RATE  # 1 s

_SPLIT_NAMES = {"training": "train", "validation": "validation", "testing": "test"}
_RATE_RANGE = (120, 260)  # words per minute, per repeat
_PITCH_RANGE = (20, 80)  # eSpeak pitch 0..100, per repeat
_NOISE_RMS = 10 ** (-20 / 20)  # background clips at -20 dBFS RMS


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker: an eSpeak voice with a variant, or a Kokoro voice blend."""

    id: str  # 8 hex digits, the part of a file name before "_nohash_"
    voice: str  # eSpeak: "en-us"; Kokoro: "jf_alpha+jm_kumo"
    variant: str  # eSpeak: "m3"; Kokoro: "<weight of the first voice>:<phoneme voice>"
    engine: str = "espeak"  # "espeak" or "kokoro"

    @property
    def blend(self) -> tuple[str, str, float, str]:
        """Kokoro: (voice a, voice b, weight of a, eSpeak voice that writes the phonemes)."""
        a, b = self.voice.split("+")
        weight, lang = self.variant.split(":")
        return a, b, float(weight), lang

    @property
    def split(self) -> str:
        """ "train", "validation" or "test", by `which_set` on the id."""
        return _SPLIT_NAMES[which_set(f"{self.id}_nohash_0.wav")]


@dataclass
class GenerateReport:
    """What `generate_speech_commands` wrote and how long it took."""

    out_dir: Path
    n_files: int  # word clips, without the background noise files
    n_speakers: int
    per_split: dict[str, int]  # word clips per split
    speakers_per_split: dict[str, int]
    n_noise_files: int
    n_bytes: int  # everything under out_dir
    seconds: float
    words: tuple[str, ...] = field(default=ALL_WORDS)


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


def _trim(audio: npt.NDArray[np.float32], rate: int) -> npt.NDArray[np.float32]:
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
class _Job:
    speaker: Speaker
    repeats: int
    seed: int
    tmp: str
    words: tuple[str, ...]  # said `repeats` times each
    extra: tuple[str, ...]  # a pool to draw from ...
    extra_n: int  # ... this many words, each said once
    transforms: TransformConfig
    zero_floor_prob: float


def _clip(
    word: str,
    speaker: Speaker,
    rng: np.random.Generator,
    centre: tuple[float, float, float],
    job: _Job,
) -> npt.NDArray[np.int16]:
    """One 1 s recording of `word`: int16, shape = (16000,), mono at 16 kHz.

    eSpeak NG or Kokoro speaks it, `transform` changes voice, room and channel, then it is
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
        speech = _trim(raw_k, kokoro.SAMPLE_RATE)
        speech = soxr.resample(speech, kokoro.SAMPLE_RATE, SAMPLE_RATE, quality="HQ")
        if len(speech) <= CLIP_SAMPLES - SAMPLE_RATE // 50 or speed >= 2.0:
            break
        speed = min(2.0, speed * 1.3)  # too slow to fit in 1 s: speak faster
    while speaker.engine == "espeak":
        raw = espeak.synthesize(
            text, voice=speaker.voice, variant=speaker.variant, rate=rate, pitch=pitch,
            pitch_range=pitch_range, fresh=False,
        )  # fmt: skip
        speech = _trim(raw.astype(np.float32) / 32768.0, espeak.SAMPLE_RATE)
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


def _write_wav(path: Path, audio: npt.NDArray[np.int16]) -> None:
    """A plain 44-byte-header PCM wav, mono 16-bit at 16 kHz, as Speech Commands ships."""
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(SAMPLE_RATE)
        f.writeframes(audio.astype("<i2", copy=False).tobytes())


def _speak(job: _Job) -> list[str]:
    """Write every clip of one speaker under `job.tmp`; returns the relative paths."""
    speaker = job.speaker
    espeak.reset()  # the speaker's clips then depend on nothing said before them
    rng = np.random.default_rng([job.seed, int(speaker.id, 16)])
    centre = (rng.uniform(140, 230), rng.uniform(30, 70), rng.uniform(25, 85))
    drawn = [job.extra[i] for i in rng.permutation(len(job.extra))[: job.extra_n]]
    said = [(w, n) for w in job.words for n in range(job.repeats)] + [(w, 0) for w in drawn]
    written = []
    for word, n in said:
        audio = _clip(word, speaker, rng, centre, job)
        rel = f"{folder_name(word)}/{speaker.id}_nohash_{n}.wav"
        (Path(job.tmp) / folder_name(word)).mkdir(exist_ok=True)
        _write_wav(Path(job.tmp) / rel, audio)
        written.append(rel)
    return written


def _coloured(rng: np.random.Generator, n: int, exponent: float) -> npt.NDArray[np.float64]:
    """Noise with power spectrum ~ 1/f**exponent (0 white, 1 pink, 2 brown), 20 Hz up."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE)
    spectrum *= np.maximum(freqs, 20.0) ** (-exponent / 2)
    spectrum[freqs < 20.0] = 0.0  # no DC drift
    return np.fft.irfft(spectrum, n)


def _hum(rng: np.random.Generator, n: int, mains: float) -> npt.NDArray[np.float64]:
    """Mains hum: the fundamental and 9 harmonics at 1/k amplitudes, random phases, a
    slow amplitude wobble, over faint white noise."""
    t = np.arange(n) / SAMPLE_RATE
    out = np.zeros(n)
    for k in range(1, 11):
        amp = rng.uniform(0.3, 1.0) / k
        out += amp * np.sin(2 * np.pi * mains * k * t + rng.uniform(0, 2 * np.pi))
    out *= 1.0 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.05, 0.3) * t)
    return out + 0.02 * rng.standard_normal(n)


def _write_noise(folder: Path, seconds: float, seed: int) -> list[str]:
    """Background clips of `seconds` each, int16 at 16 kHz, -20 dBFS RMS."""
    n = round(seconds * SAMPLE_RATE)
    makers: dict[str, Callable[[np.random.Generator], npt.NDArray[np.float64]]] = {
        "white_noise.wav": lambda rng: _coloured(rng, n, 0.0),
        "pink_noise.wav": lambda rng: _coloured(rng, n, 1.0),
        "brown_noise.wav": lambda rng: _coloured(rng, n, 2.0),
        "hum_50hz.wav": lambda rng: _hum(rng, n, 50.0),
        "hum_60hz.wav": lambda rng: _hum(rng, n, 60.0),
    }
    folder.mkdir()
    for i, (name, make) in enumerate(makers.items()):
        audio = make(np.random.default_rng([seed, 0x401E, i]))
        audio *= _NOISE_RMS / max(float(np.sqrt(np.mean(audio**2))), 1e-12)
        pcm = np.clip(np.round(audio * 32767.0), -32768, 32767).astype(np.int16)
        _write_wav(folder / name, pcm)
    return list(makers)


def _readme(
    speakers: list[Speaker],
    repeats: int,
    seed: int,
    noise_seconds: float,
    words: tuple[str, ...],
    extra: tuple[str, ...],
    extra_n: int,
) -> str:
    voices = sorted({s.voice for s in speakers if s.engine == "espeak"})
    variants = sorted({s.variant for s in speakers if s.engine == "espeak"})
    n_kokoro = sum(s.engine == "kokoro" for s in speakers)
    return (
        "# Synthetic Speech Commands\n\n"
        "Made by `lstm_apps.data.speech_synth.generate_speech_commands` with eSpeak NG, in the "
        "Google Speech Commands layout.\n\n"
        f"- seed {seed}, {repeats} repeats per word, {len(speakers)} speakers "
        f"({len(voices)} eSpeak NG voices x {len(variants)} variants at most"
        + (f", and {n_kokoro} Kokoro voice blends" if n_kokoro else "")
        + ")\n"
        f"- words said {repeats} times by every speaker: {' '.join(words)}\n"
        + (
            f"- and {extra_n} drawn per speaker from {len(extra)} others: {', '.join(extra)}\n"
            if extra_n and extra
            else ""
        )
        + "- voice, room and channel transformations: see generator.json\n"
        f"- voices: {' '.join(voices)}\n"
        f"- background noise: {noise_seconds:g} s each of white, pink, brown noise and "
        "50/60 Hz hum\n"
        "- splits: `which_set` on the speaker id (10% validation, 10% test)\n"
    )


def publish(tmp: Path, out_dir: Path, generator: dict[str, object]) -> None:
    """Write generator.json into the finished `tmp` folder and rename it to `out_dir`."""
    (tmp / GENERATOR_JSON).write_text(json.dumps(generator, indent=2) + "\n")
    _check_out_dir(out_dir)
    if out_dir.exists():
        out_dir.rmdir()
    tmp.rename(out_dir)


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise FileExistsError(
            f"{out_dir} already exists and is not an empty folder; "
            "choose a new output folder or remove it first"
        )


def generate_speech_commands(
    out_dir: str | Path,
    *,
    speakers: int | None = None,
    repeats: int = 2,
    seed: int = 0,
    noise_seconds: float = 60.0,
    progress: bool = True,
    workers: int | None = None,
    words: Sequence[str] | None = None,
    extra_words: Sequence[str] | None = None,
    extra_per_speaker: int | None = None,
    transforms: TransformConfig | None = None,
    zero_floor_prob: float = 0.25,
    voices: Sequence[str] | None = None,
    exclude_voices: Sequence[str] = (),
    split: str | None = None,
    kokoro: int = 0,
    command: str | None = None,
) -> GenerateReport:
    """Write a synthetic Speech Commands data set to `out_dir`.

    Args:
        out_dir: created; must not exist or be an empty folder.
        speakers: how many voice+variant speakers to use (None: all of them).
        repeats: recordings per speaker and word (``_nohash_0`` .. ``_nohash_{repeats-1}``).
        seed: the same seed writes the same bytes.
        noise_seconds: length of each background noise clip.
        progress: show a tqdm bar on stderr.
        workers: processes to synthesise with (None: up to 2, one per core).
        words: the words every speaker says `repeats` times (None: the 10 commands);
            a smaller set makes small test data.
        extra_words: a pool of other words and phrases (None: `UNKNOWN_POOL`, hundreds
            of words, near-misses of the commands and short phrases) ...
        extra_per_speaker: ... of which each speaker says this many, once each (None: 10
            when `words` is None, else 0).
        transforms: voice, room and channel transformations (None: the defaults of
            `TransformConfig`; `TransformConfig.off()` for plain eSpeak).
        zero_floor_prob: share of clips with digital silence around the word instead of
            a faint noise floor.
        voices, exclude_voices: which eSpeak voices speak (see `list_speakers`).
        kokoro: how many Kokoro speakers (a neural synthesizer: blends of its voices,
            see `kokoro_speakers`) join the eSpeak ones; they need the kokoro wheels.
        split: put every clip in this split's list ("validation" or "test"; e.g. a
            held-out voice family), instead of splitting speakers by `which_set`.
        command: the command line that asked for this, recorded in generator.json.

    Raises:
        FileExistsError: `out_dir` exists and is not an empty folder.
        ValueError: a non-positive `speakers`, `repeats` or `noise_seconds`.
        DependencyError: the espeakng-loader wheel is missing (``pip install .[train]``).
    """
    start = time.perf_counter()
    out_dir = Path(out_dir)
    if repeats < 1:
        raise ConfigError(f"repeats={repeats!r}; expected at least 1")
    if not noise_seconds > 0:
        raise ConfigError(f"noise_seconds={noise_seconds!r}; expected a positive length")
    if extra_per_speaker is None:
        extra_per_speaker = 10 if words is None else 0
    words = WORDS if words is None else tuple(words)
    extra = UNKNOWN_POOL if extra_words is None else tuple(extra_words)
    extra = tuple(w for w in extra if w not in words) if extra_per_speaker else ()
    for name, group in (("words", words), ("extra_words", extra)):
        if any(not w.strip() or "/" in w or w.startswith("_") for w in group):
            raise ConfigError(f"{name}={group!r}; expected non-empty plain words")
    if not words:
        raise ConfigError("words is empty; give at least one word")
    if extra_per_speaker < 0:
        raise ConfigError(f"extra_per_speaker={extra_per_speaker!r}; expected >= 0")
    if split not in (None, "validation", "test"):
        raise ConfigError(f"split={split!r}; expected None, 'validation' or 'test'")
    if not 0 <= zero_floor_prob <= 1:
        raise ConfigError(f"zero_floor_prob={zero_floor_prob!r}; expected a probability")
    transforms = TransformConfig() if transforms is None else transforms
    _check_out_dir(out_dir)
    if kokoro < 0:
        raise ConfigError(f"kokoro={kokoro!r}; expected a number of speakers >= 0")
    chosen = list_speakers(speakers, seed=seed, voices=voices, exclude_voices=exclude_voices)
    chosen += kokoro_speakers(kokoro, seed=seed, exclude_voices=exclude_voices)
    n_per_speaker = len(words) * repeats + min(extra_per_speaker, len(extra))
    if workers is None:
        workers = min(2, os.cpu_count() or 1)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        for word in words:
            (tmp / folder_name(word)).mkdir(exist_ok=True)
        noise_files = _write_noise(tmp / BACKGROUND_NOISE_DIR, noise_seconds, seed)
        jobs = [
            _Job(s, repeats, seed, str(tmp), words, extra, extra_per_speaker, transforms,
                 zero_floor_prob)
            for s in sorted(chosen, key=lambda s: s.engine != "kokoro")  # slow ones first
        ]  # fmt: skip
        written: list[str] = []
        with _progress(len(jobs) * n_per_speaker, progress) as bar:
            if workers > 1 and len(jobs) > 1:
                # spawn, not fork: the parent may hold torch or OpenMP threads.
                ctx = multiprocessing.get_context("spawn")
                with ctx.Pool(min(workers, len(jobs))) as pool:
                    for paths in pool.imap_unordered(_speak, jobs):
                        written += paths
                        bar.update(len(paths))
            else:
                for job in jobs:
                    paths = _speak(job)
                    written += paths
                    bar.update(len(paths))
        per_split = {"train": 0, "validation": 0, "test": 0}
        lists: dict[str, list[str]] = {"validation": [], "test": []}
        for rel in sorted(written):
            where = split or _SPLIT_NAMES[which_set(rel)]
            per_split[where] += 1
            if where in lists:
                lists[where].append(rel)
        for name, where in ((VALIDATION_LIST, "validation"), (TESTING_LIST, "test")):
            (tmp / name).write_text("".join(f"{rel}\n" for rel in lists[where]))
        (tmp / "README.md").write_text(
            _readme(chosen, repeats, seed, noise_seconds, words, extra, extra_per_speaker)
        )
        generator = {
            "generator": "lstm_apps.data.speech_synth.generate_speech_commands",
            "settings": {
                "speakers": speakers, "repeats": repeats, "seed": seed,
                "noise_seconds": noise_seconds, "words": list(words),
                "extra_words": list(extra), "extra_per_speaker": extra_per_speaker,
                "transforms": transforms.to_dict(), "zero_floor_prob": zero_floor_prob,
                "voices": list(voices) if voices else None,
                "exclude_voices": list(exclude_voices), "split": split,
                "kokoro": kokoro,
            },
            "speakers_used": len(chosen), "clips": len(written),
            **({"command": command} if command else {}),
        }  # fmt: skip
        publish(tmp, out_dir, generator)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    speakers_per_split = {"train": 0, "validation": 0, "test": 0}
    for s in chosen:
        speakers_per_split[split or s.split] += 1
    n_bytes = sum(p.stat().st_size for p in out_dir.rglob("*") if p.is_file())
    return GenerateReport(
        out_dir=out_dir,
        n_files=len(written),
        n_speakers=len(chosen),
        per_split=per_split,
        speakers_per_split=speakers_per_split,
        n_noise_files=len(noise_files),
        n_bytes=n_bytes,
        seconds=time.perf_counter() - start,
        words=words,
    )


class _Bar(Protocol):
    def __enter__(self) -> _Bar: ...
    def __exit__(self, *exc: object) -> object: ...
    def update(self, n: int) -> object: ...


class _NoBar:
    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int) -> None:
        return None


def _progress(total: int, enabled: bool) -> _Bar:
    """A tqdm bar over clips, or a stand-in when disabled or tqdm is not installed."""
    if not enabled:
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoBar()
    bar: _Bar = tqdm(total=total, unit="clip", desc="speech commands", smoothing=0.05)
    return bar
