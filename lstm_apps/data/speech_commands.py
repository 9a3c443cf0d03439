"""Loader for the Google Speech Commands layout (v1 and v2 read unchanged).

    <root>/<word>/<speaker>_nohash_<n>.wav   16 kHz mono int16, about 1 s
    <root>/validation_list.txt               "yes/0a7c2a8d_nohash_0.wav", one per line
    <root>/testing_list.txt
    <root>/_background_noise_/*.wav          long noise recordings

Files named in the two lists belong to those splits, every other file to train. The
classes are the command words, `_silence_` and `_unknown_` (every other word folder,
subsampled). By default the commands are the conventional TensorFlow recipe's ten words
(12 classes); any word folders can be the commands instead (`speech_labels`), e.g. any of
the 35 words of Speech Commands v2. Torch-free: numpy, soundfile, soxr.

    >>> split = load_speech_commands("data/speech_commands", "train")
    >>> mine = load_speech_commands("data/mine", "train", commands=("lights", "music"))
    >>> ex = split.examples[0]; audio = read_wav(ex.path) if ex.path else None
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from lstm_apps.runtime.errors import ConfigError, DataFormatError

__all__ = [
    "BACKGROUND_NOISE_DIR",
    "LABELS",
    "MAX_NUM_WAVS_PER_CLASS",
    "SAMPLE_RATE",
    "SILENCE",
    "UNKNOWN",
    "WORDS",
    "Example",
    "SpeechCommandsSplit",
    "check_command_folders",
    "check_commands",
    "commands_of",
    "load_speech_commands",
    "parse_commands",
    "read_wav",
    "speech_labels",
    "which_set",
]

WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
SILENCE = "_silence_"
UNKNOWN = "_unknown_"
LABELS = (*WORDS, SILENCE, UNKNOWN)
"""Class names in class-index order."""

SAMPLE_RATE = 16000
BACKGROUND_NOISE_DIR = "_background_noise_"
VALIDATION_LIST = "validation_list.txt"
TESTING_LIST = "testing_list.txt"
MAX_NUM_WAVS_PER_CLASS = 2**27 - 1  # about 134M, from the Speech Commands README
RESERVED = (SILENCE, UNKNOWN, BACKGROUND_NOISE_DIR)
"""Names no command may have: the two extra classes and the noise folder."""

Split = Literal["train", "validation", "test", "all"]
_SPLITS: tuple[Split, ...] = ("train", "validation", "test", "all")
_HASH_SPLITS: dict[str, Split] = {
    "training": "train",
    "validation": "validation",
    "testing": "test",
}


def which_set(
    filename: str | Path, validation_percentage: float = 10.0, testing_percentage: float = 10.0
) -> Literal["training", "validation", "testing"]:
    """The Speech Commands README's split function: a stable hash of the speaker id.

    The part of the base name from ``_nohash_`` on is dropped, so every recording of one
    speaker lands in the same split, and the split of a speaker never changes as files
    are added. (The README reduces the hash modulo ``MAX_NUM_WAVS_PER_CLASS + 1``.)
    """
    base_name = Path(filename).name
    hash_name = re.sub(r"_nohash_.*$", "", base_name)
    hashed = hashlib.sha1(hash_name.encode("utf-8")).hexdigest()
    percentage = (int(hashed, 16) % (MAX_NUM_WAVS_PER_CLASS + 1)) * (100.0 / MAX_NUM_WAVS_PER_CLASS)
    if percentage < validation_percentage:
        return "validation"
    if percentage < validation_percentage + testing_percentage:
        return "testing"
    return "training"


@dataclass(frozen=True)
class Example:
    """One labelled clip; ``path=None`` is a `_silence_` example (the trainer makes its
    audio, e.g. a slice of a background noise clip at a random gain, or zeros)."""

    path: Path | None
    label: str
    label_index: int


@dataclass
class SpeechCommandsSplit:
    """One split of a Speech Commands tree.

    Attributes:
        root: the data set folder.
        split: "train", "validation", "test", or "all" (every clip, lists ignored).
        examples: command words and sampled unknown words, sorted by path, then the
            silence examples.
        labels: class names; `Example.label_index` indexes this tuple.
        noise: background clips, each float32, shape = (n_samples,), mono at 16 kHz.
    """

    root: Path
    split: Split
    examples: list[Example]
    labels: tuple[str, ...] = LABELS
    noise: list[npt.NDArray[np.float32]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Number of examples per label, in `labels` order."""
        out = dict.fromkeys(self.labels, 0)
        for ex in self.examples:
            out[ex.label] += 1
        return out


def read_wav(path: str | Path) -> npt.NDArray[np.float32]:
    """Read a data set wav as float32 in [-1, 1], shape = (n_samples,), mono at 16 kHz.

    Stereo is averaged to mono; other sample rates are resampled with soxr. Raises
    `DataFormatError` naming the path if the file is missing or not readable audio.
    """
    import soundfile as sf

    path = Path(path)
    try:
        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise DataFormatError(f"{path}: cannot read as audio ({exc})") from exc
    if audio.shape[0] == 0:
        raise DataFormatError(f"{path}: audio file holds no samples")
    mono = audio.mean(axis=1, dtype=np.float32)  # (n_samples,)
    if rate != SAMPLE_RATE:
        import soxr

        mono = soxr.resample(mono, rate, SAMPLE_RATE).astype(np.float32, copy=False)
    return np.ascontiguousarray(mono, dtype=np.float32)


def check_commands(commands: Sequence[str]) -> tuple[str, ...]:
    """The command words as a tuple, checked: at least one, distinct, each a plain folder
    name (non-empty, no path separator or surrounding space, not `RESERVED`, and not
    starting with "_" or ".", which the loader skips as not word folders).

    Raises:
        ConfigError: naming the bad entries.
    """
    if isinstance(commands, str) or not all(isinstance(c, str) for c in commands):
        raise ConfigError(f"commands must be a sequence of word names, got {commands!r}")
    words = tuple(commands)
    if not words:
        raise ConfigError("commands: give at least one command word")
    dupes = sorted({c for c in words if words.count(c) > 1})
    if dupes:
        raise ConfigError(f"commands {list(words)}: {', '.join(map(repr, dupes))} given twice")
    reserved = [c for c in words if c in RESERVED]
    if reserved:
        raise ConfigError(
            f"commands {list(words)}: {', '.join(map(repr, reserved))} is reserved "
            f"({SILENCE} and {UNKNOWN} are added as classes; {BACKGROUND_NOISE_DIR} holds noise)"
        )
    bad = [c for c in words if not c or c != c.strip() or "/" in c or "\\" in c or c[0] in "_."]
    if bad:
        raise ConfigError(
            f"commands {list(words)}: {', '.join(map(repr, bad))} is not a word folder name "
            "(non-empty, no '/', no surrounding space, not starting with '_' or '.')"
        )
    return words


def parse_commands(text: str) -> tuple[str, ...]:
    """ "lights, music,pause" -> ("lights", "music", "pause"), checked (`check_commands`)."""
    words = [w.strip() for w in text.split(",")] if text.strip() else []
    return check_commands(words)


def speech_labels(commands: Sequence[str] = WORDS) -> tuple[str, ...]:
    """A model's class names for these commands, in class-index order:
    (*commands, `_silence_`, `_unknown_`). ConfigError for bad commands (`check_commands`)."""
    return (*check_commands(commands), SILENCE, UNKNOWN)


def commands_of(labels: Sequence[str]) -> tuple[str, ...]:
    """The command words among a model's labels (every label but the two extra classes)."""
    return tuple(label for label in labels if label not in (SILENCE, UNKNOWN))


def check_command_folders(root: str | Path, commands: Sequence[str]) -> None:
    """Every command must have a word folder with .wav files under `root`.

    Raises:
        DataFormatError: naming the commands without one and listing the word folders
            that exist (or saying the root is missing).
    """
    root = Path(root)
    if not root.is_dir():
        raise DataFormatError(f"{root}: Speech Commands folder does not exist")
    words = _scan(root)
    missing = [c for c in check_commands(commands) if c not in words]
    if missing:
        have = ", ".join(words) if words else "none"
        raise DataFormatError(
            f"{root}: no word folder with .wav files for command"
            f"{'s' * (len(missing) > 1)} {', '.join(missing)}; word folders there: {have}"
        )


def _read_list(root: Path, name: str) -> set[str] | None:
    """Relative paths named in a split list file, checked to exist; None if no file."""
    list_path = root / name
    if not list_path.is_file():
        return None
    entries: set[str] = set()
    for line_no, line in enumerate(list_path.read_text(encoding="utf-8").splitlines(), 1):
        rel = line.strip().replace("\\", "/")
        if not rel:
            continue
        if not (root / rel).is_file():
            raise DataFormatError(
                f"{list_path}:{line_no} names {rel!r}, but {root / rel} does not exist"
            )
        entries.add(rel)
    return entries


def _scan(root: Path) -> dict[str, list[str]]:
    """Word folder name -> sorted relative wav paths ("word/file.wav")."""
    words: dict[str, list[str]] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if folder.name.startswith("_") or folder.name.startswith("."):
            continue  # _background_noise_, and hidden folders
        files = sorted(f"{folder.name}/{p.name}" for p in folder.glob("*.wav") if p.is_file())
        if files:
            words[folder.name] = files
    return words


def _assign_split(rel: str, validation: set[str] | None, testing: set[str] | None) -> Split:
    if validation is None or testing is None:
        # Without the lists, fall back to the hash the lists were made with.
        return _HASH_SPLITS[which_set(rel)]
    if rel in validation:
        return "validation"
    if rel in testing:
        return "test"
    return "train"


def load_speech_commands(
    root: str | Path,
    split: Split,
    *,
    silence_fraction: float = 0.1,
    unknown_fraction: float = 0.1,
    seed: int = 0,
    all_unknown: bool = False,
    commands: Sequence[str] = WORDS,
) -> SpeechCommandsSplit:
    """Index one split of a Speech Commands folder (audio is read later, by `read_wav`).

    Files named in ``validation_list.txt`` / ``testing_list.txt`` form those splits and
    every other wav is train; if the two lists are absent, `which_set` decides. Split
    "all" takes every clip of the folder (e.g. a whole evaluation set). The classes are
    `speech_labels(commands)`; word folders not in `commands` are `_unknown_` (folders
    starting with "_" or ".", e.g. ``_background_noise_``, are no words). A command with
    no folder simply has no examples (an evaluation folder may hold a few of the words;
    `check_command_folders` is the strict check a trainer makes). With K command-word
    examples in the split, N = K / (1 - silence_fraction - unknown_fraction) is the split
    size; round(unknown_fraction * N) unknown files are drawn without replacement
    (fewer if the split has fewer) and round(silence_fraction * N) silence examples are
    added, so with the defaults each is 10% of the split. The draw depends on `seed`
    and `split` only. With `all_unknown`, every unknown file of the split is kept (a
    trainer that draws its own unknown subset each epoch).

    Raises:
        ConfigError: a fraction outside [0, 1), fractions summing to 1 or more, or bad
            commands (`check_commands`).
        DataFormatError: the root is missing, holds no word folders, a list file names a
            missing wav, or the split has no command-word examples; the message names
            the path.
    """
    if split not in _SPLITS:
        raise ConfigError(f"split={split!r}; expected one of {_SPLITS}")
    for name, value in (
        ("silence_fraction", silence_fraction),
        ("unknown_fraction", unknown_fraction),
    ):
        if not 0.0 <= value < 1.0:
            raise ConfigError(f"{name}={value!r}; expected a fraction in [0, 1)")
    if silence_fraction + unknown_fraction >= 1.0:
        raise ConfigError(
            f"silence_fraction + unknown_fraction = {silence_fraction + unknown_fraction!r}; "
            "must be below 1"
        )
    labels = speech_labels(commands)
    command_set = frozenset(labels[:-2])
    root = Path(root)
    if not root.is_dir():
        raise DataFormatError(f"{root}: Speech Commands folder does not exist")
    words = _scan(root)
    if not words:
        raise DataFormatError(
            f"{root}: no word folders with .wav files (expected <root>/<word>/*.wav)"
        )
    validation = _read_list(root, VALIDATION_LIST)
    testing = _read_list(root, TESTING_LIST)

    known: list[Example] = []
    unknown_pool: list[str] = []
    for word, files in words.items():
        for rel in files:
            if split != "all" and _assign_split(rel, validation, testing) != split:
                continue
            if word in command_set:
                known.append(Example(root / rel, word, labels.index(word)))
            else:
                unknown_pool.append(rel)
    if not known:
        raise DataFormatError(
            f"{root}: no examples of {', '.join(labels[:-2])} in the {split!r} split "
            f"(word folders there: {', '.join(words)})"
        )

    total = len(known) / (1.0 - silence_fraction - unknown_fraction)
    n_unknown = min(round(unknown_fraction * total), len(unknown_pool))
    if all_unknown:
        n_unknown = len(unknown_pool)
    n_silence = round(silence_fraction * total)
    rng = np.random.default_rng([seed, _SPLITS.index(split)])
    picked = sorted(unknown_pool[i] for i in rng.permutation(len(unknown_pool))[:n_unknown])
    unknown_index = labels.index(UNKNOWN)
    examples = known + [Example(root / rel, UNKNOWN, unknown_index) for rel in picked]
    examples.sort(key=lambda ex: str(ex.path))
    silence = Example(None, SILENCE, labels.index(SILENCE))
    examples.extend([silence] * n_silence)

    noise_dir = root / BACKGROUND_NOISE_DIR
    noise_paths = sorted(noise_dir.glob("*.wav")) if noise_dir.is_dir() else []
    noise = [read_wav(p) for p in noise_paths]
    return SpeechCommandsSplit(
        root=root, split=split, examples=examples, labels=labels, noise=noise
    )
