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

Who speaks: `speakers.py`; one speaker's clips and the noise files: `speech_clips.py`.

    python -c "from lstm_apps.data.speech_synth import generate_speech_commands as g; g('out')"
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lstm_apps.data import GENERATOR_JSON
from lstm_apps.data.speakers import (
    SPLIT_NAMES,
    Speaker,
    kokoro_speakers,
    list_speakers,
    pico_speakers,
    speaker_id,
)
from lstm_apps.data.speech_clips import (
    SpeakerJob,
    folder_name,
    progress_bar,
    speak,
    write_noise,
)
from lstm_apps.data.speech_commands import (
    BACKGROUND_NOISE_DIR,
    TESTING_LIST,
    VALIDATION_LIST,
    WORDS,
    which_set,
)
from lstm_apps.data.speech_transform import TransformConfig
from lstm_apps.data.words import SPEECH_COMMANDS_AUX, unknown_pool
from lstm_apps.runtime.errors import ConfigError

__all__ = [
    "AUX_WORDS",
    "GenerateReport",
    "Speaker",
    "generate_speech_commands",
    "kokoro_speakers",
    "list_speakers",
    "pico_speakers",
    "speaker_id",
]

AUX_WORDS = SPEECH_COMMANDS_AUX
"""The Speech Commands auxiliary words; the loader maps them to `_unknown_`."""
ALL_WORDS = WORDS + AUX_WORDS
UNKNOWN_POOL = unknown_pool(WORDS)
"""What each speaker draws its `_unknown_` words from (lstm_apps.data.words)."""


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
    n_pico = sum(s.engine == "pico" for s in speakers)
    return (
        "# Synthetic Speech Commands\n\n"
        "Made by `lstm_apps.data.speech_synth.generate_speech_commands` with eSpeak NG, in the "
        "Google Speech Commands layout.\n\n"
        f"- seed {seed}, {repeats} repeats per word, {len(speakers)} speakers "
        f"({len(voices)} eSpeak NG voices x {len(variants)} variants at most"
        + (f", and {n_kokoro} Kokoro voice blends" if n_kokoro else "")
        + (f", and {n_pico} Pico speakers" if n_pico else "")
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
    check_out_dir(out_dir)
    if out_dir.exists():
        out_dir.rmdir()
    tmp.rename(out_dir)


def check_out_dir(out_dir: Path) -> None:
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
    pico: int = 0,
    command: str | None = None,
) -> GenerateReport:
    """Write a synthetic Speech Commands data set to `out_dir`.

    Args:
        out_dir: created; must not exist or be an empty folder.
        speakers: how many eSpeak voice+variant speakers to use (None: all of them; 0:
            none, for a set of Kokoro or Pico speakers only).
        repeats: recordings per speaker and word (``_nohash_0`` .. ``_nohash_{repeats-1}``).
        seed: the same seed writes the same bytes.
        noise_seconds: length of each background noise clip.
        progress: show a tqdm bar on stderr.
        workers: processes to synthesise with (None: up to 2, one per core).
        words: the words every speaker says `repeats` times (None: the 10 commands);
            a smaller set makes small test data.
        extra_words: a pool of other words and phrases (None: `UNKNOWN_POOL`, hundreds
            of words, near-misses of the commands and short phrases; entries holding a
            word of `words` are dropped) ...
        extra_per_speaker: ... of which each speaker says this many, once each (None: 10
            when `words` is None, else 0).
        transforms: voice, room and channel transformations (None: the defaults of
            `TransformConfig`; `TransformConfig.off()` for plain eSpeak).
        zero_floor_prob: share of clips with digital silence around the word instead of
            a faint noise floor.
        voices, exclude_voices: which eSpeak voices speak (see `list_speakers`).
        kokoro: how many Kokoro speakers (a neural synthesizer: blends of its voices,
            see `kokoro_speakers`) join the eSpeak ones; they need the kokoro wheels.
        pico: how many Pico speakers (an HMM synthesizer of two recorded voices, at
            their own pitch and speed, see `pico_speakers`) join; they need py-nanotts.
        split: put every clip in this split's list ("validation" or "test"; e.g. a
            held-out voice family), instead of splitting speakers by `which_set`.
        command: the command line that asked for this, recorded in generator.json.

    Raises:
        FileExistsError: `out_dir` exists and is not an empty folder.
        ConfigError: a non-positive `speakers`, `repeats` or `noise_seconds`.
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
    # no other word may say a command ("play music" is not _unknown_ when "music" is one)
    said = {token for w in words for token in w.split()}
    extra = tuple(w for w in extra if not said & set(w.split())) if extra_per_speaker else ()
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
    check_out_dir(out_dir)
    for name, n in (("kokoro", kokoro), ("pico", pico)):
        if not isinstance(n, int) or n < 0:
            raise ConfigError(f"{name}={n!r}; expected a number of speakers >= 0")
    chosen = (
        list_speakers(speakers, seed=seed, voices=voices, exclude_voices=exclude_voices)
        if speakers != 0
        else []
    )
    chosen += kokoro_speakers(kokoro, seed=seed, exclude_voices=exclude_voices)
    chosen += pico_speakers(pico, seed=seed)
    if not chosen:
        raise ConfigError("speakers=0 and no kokoro or pico speakers: nobody would speak")
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
        noise_files = write_noise(tmp / BACKGROUND_NOISE_DIR, noise_seconds, seed)
        jobs = [
            SpeakerJob(s, repeats, seed, str(tmp), words, extra, extra_per_speaker, transforms,
                 zero_floor_prob)
            for s in sorted(chosen, key=lambda s: s.engine != "kokoro")  # slow ones first
        ]  # fmt: skip
        written: list[str] = []
        with progress_bar(len(jobs) * n_per_speaker, progress) as bar:
            if workers > 1 and len(jobs) > 1:
                # spawn, not fork: the parent may hold torch or OpenMP threads.
                ctx = multiprocessing.get_context("spawn")
                with ctx.Pool(min(workers, len(jobs))) as pool:
                    for paths in pool.imap_unordered(speak, jobs):
                        written += paths
                        bar.update(len(paths))
            else:
                for job in jobs:
                    paths = speak(job)
                    written += paths
                    bar.update(len(paths))
        per_split = {"train": 0, "validation": 0, "test": 0}
        lists: dict[str, list[str]] = {"validation": [], "test": []}
        for rel in sorted(written):
            where = split or SPLIT_NAMES[which_set(rel)]
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
                "kokoro": kokoro, "pico": pico,
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
