"""Speech Commands loader, eSpeak binding and synthetic generator (a few seconds in all)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from lstm_apps.data import espeak
from lstm_apps.data.speech_commands import (
    LABELS,
    SILENCE,
    UNKNOWN,
    WORDS,
    Example,
    load_speech_commands,
    read_wav,
    which_set,
)
from lstm_apps.runtime.errors import DataFormatError, InputError

KNOWN = ("yes", "no", "up", "down")
OTHER = ("bed", "cat", "dog", "wow")
# Named so that `which_set` agrees with the list files (spk10 hashes to 6.6%, spk07 to 13.3%).
SPEAKERS = {
    "train": ["spk00", "spk01", "spk02", "spk03", "spk04"],
    "validation": ["spk10"],
    "test": ["spk07"],
}


def _wav(path: Path, rng: np.random.Generator, n: int = 1600, rate: int = 16000) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, rng.integers(-3000, 3000, n).astype(np.int16), rate, subtype="PCM_16")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A hand-made Speech Commands folder: 4 command words, 4 other words, 7 speakers
    (5 train, 1 validation, 1 test), 2 takes each, two noise files, both list files."""
    rng = np.random.default_rng(0)
    root = tmp_path / "sc"
    lists: dict[str, list[str]] = {"validation": [], "test": []}
    for split, speakers in SPEAKERS.items():
        for word in KNOWN + OTHER:
            for spk in speakers:
                for n in range(2):
                    rel = f"{word}/{spk}_nohash_{n}.wav"
                    _wav(root / rel, rng)
                    if split in lists:
                        lists[split].append(rel)
    (root / "validation_list.txt").write_text("\n".join(lists["validation"]) + "\n")
    (root / "testing_list.txt").write_text("\n".join(lists["test"]) + "\n")
    _wav(root / "_background_noise_" / "white_noise.wav", rng, n=8000)
    stereo = np.stack([np.full(800, 0.5), np.full(800, -0.1)], axis=1)
    sf.write(root / "_background_noise_" / "hum.wav", stereo, 8000, subtype="PCM_16")
    return root


def _speaker(path: Path | None) -> str:
    assert path is not None
    return path.name.split("_nohash_")[0]


# --- which_set ----------------------------------------------------------------------------


def test_which_set_matches_the_readme_hash() -> None:
    # sha1(speaker) mod 2**27, scaled to percent: a1b2c3d4 -> 3.33, speaker7 -> 11.99,
    # 0a7c2a8d -> 56.84 (computed by hand from the README's algorithm).
    assert which_set("yes/a1b2c3d4_nohash_0.wav") == "validation"
    assert which_set("no/speaker7_nohash_3.wav") == "testing"
    assert which_set("0a7c2a8d_nohash_1.wav") == "training"
    assert which_set("a1b2c3d4_nohash_0.wav", 0.0, 5.0) == "testing"
    assert which_set("0a7c2a8d_nohash_0.wav", 60.0, 0.0) == "validation"
    # Only the speaker id counts.
    assert which_set("up/speaker7_nohash_0.wav") == which_set("go/speaker7_nohash_9.wav")


# --- loader -------------------------------------------------------------------------------


def test_labels_order() -> None:
    words = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
    assert (*words, "_silence_", "_unknown_") == LABELS
    assert LABELS[10:] == (SILENCE, UNKNOWN)
    assert len(LABELS) == 12 and LABELS.index("go") == 9 and LABELS.index(UNKNOWN) == 11


def test_loader_splits_follow_the_list_files(tree: Path) -> None:
    for split, speakers in SPEAKERS.items():
        data = load_speech_commands(tree, split)  # type: ignore[arg-type]
        files = [ex for ex in data.examples if ex.path is not None]
        assert {_speaker(ex.path) for ex in files} <= set(speakers)
        assert data.labels == LABELS
        for ex in data.examples:
            assert ex.label_index == LABELS.index(ex.label)
            if ex.path is None:
                assert ex.label == SILENCE
            elif ex.path.parent.name in WORDS:
                assert ex.label == ex.path.parent.name
            else:
                assert ex.label == UNKNOWN and ex.path.parent.name in OTHER
        known = [ex for ex in files if ex.label in WORDS]
        assert len(known) == len(KNOWN) * len(speakers) * 2  # every command-word file


def test_loader_fractions_and_noise(tree: Path) -> None:
    train = load_speech_commands(tree, "train")
    counts = train.counts()
    # 40 command-word files -> split of 50: 5 unknown, 5 silence.
    assert sum(counts[w] for w in KNOWN) == 40
    assert counts[UNKNOWN] == 5 and counts[SILENCE] == 5 and len(train.examples) == 50
    val = load_speech_commands(tree, "validation")
    assert val.counts()[UNKNOWN] == 1 and val.counts()[SILENCE] == 1
    custom = load_speech_commands(tree, "train", silence_fraction=0.2, unknown_fraction=0.3)
    assert custom.counts()[UNKNOWN] == 24 and custom.counts()[SILENCE] == 16
    none = load_speech_commands(tree, "train", silence_fraction=0.0, unknown_fraction=0.0)
    assert len(none.examples) == 40
    # Noise: sorted by name; hum.wav is stereo 8 kHz (0.5, -0.1) -> mono 16 kHz at 0.2.
    assert [n.dtype for n in train.noise] == [np.float32, np.float32]
    hum, white = train.noise
    assert len(white) == 8000 and abs(len(hum) - 1600) <= 2
    np.testing.assert_allclose(np.median(hum), 0.2, atol=1e-3)


def test_loader_is_deterministic_per_seed(tree: Path) -> None:
    a = load_speech_commands(tree, "train", seed=3).examples
    b = load_speech_commands(tree, "train", seed=3).examples
    c = load_speech_commands(tree, "train", seed=4).examples
    assert a == b
    assert [e.path for e in a if e.label == UNKNOWN] != [e.path for e in c if e.label == UNKNOWN]
    assert all(isinstance(e, Example) for e in a)


def test_loader_without_lists_uses_the_hash(tree: Path) -> None:
    (tree / "validation_list.txt").unlink()
    (tree / "testing_list.txt").unlink()
    for split, speakers in SPEAKERS.items():
        data = load_speech_commands(tree, split)  # type: ignore[arg-type]
        known = [ex for ex in data.examples if ex.label in WORDS]
        assert {_speaker(ex.path) for ex in known} == set(speakers)


def test_read_wav_resamples_and_downmixes(tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    t = np.arange(2205) / 22050
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.zeros_like(t)], axis=1) * 0.5
    sf.write(path, stereo, 22050, subtype="PCM_16")
    audio = read_wav(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) - 1600) <= 2
    assert 0.2 < np.abs(audio).max() < 0.3  # averaged with a silent channel


def test_errors_name_the_path(tree: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(DataFormatError, match=re.escape(str(missing))):
        load_speech_commands(missing, "train")

    empty = tmp_path / "empty"
    (empty / "_background_noise_").mkdir(parents=True)
    _wav(empty / "_background_noise_" / "n.wav", np.random.default_rng(1))
    with pytest.raises(DataFormatError, match="no word folders") as info:
        load_speech_commands(empty, "train")
    assert str(empty) in str(info.value)

    with (tree / "testing_list.txt").open("a") as f:
        f.write("yes/ghost_nohash_0.wav\n")
    with pytest.raises(DataFormatError, match="ghost_nohash_0") as info:
        load_speech_commands(tree, "train")
    assert str(tree / "testing_list.txt") in str(info.value)

    (tree / "testing_list.txt").write_text("")  # spk07 now belongs to train; test is empty
    with pytest.raises(DataFormatError, match="'test' split") as info:
        load_speech_commands(tree, "test")
    assert str(tree) in str(info.value)
    assert len(load_speech_commands(tree, "train").examples) == 60  # 48 known + 6 + 6

    bad = tree / "yes" / "spk00_nohash_0.wav"
    bad.write_bytes(b"RIFF not really a wav")
    with pytest.raises(DataFormatError, match=re.escape(str(bad))):
        read_wav(bad)
    with pytest.raises(DataFormatError, match=re.escape(str(tmp_path / "none.wav"))):
        read_wav(tmp_path / "none.wav")


def test_bad_arguments(tree: Path) -> None:
    with pytest.raises(ValueError, match="silence_fraction"):
        load_speech_commands(tree, "train", silence_fraction=1.5)
    with pytest.raises(ValueError, match="below 1"):
        load_speech_commands(tree, "train", silence_fraction=0.5, unknown_fraction=0.5)
    with pytest.raises(ValueError, match="split"):
        load_speech_commands(tree, "dev")  # type: ignore[arg-type]


# --- eSpeak -------------------------------------------------------------------------------

needs_espeak = pytest.mark.skipif(
    importlib.util.find_spec("espeakng_loader") is None,
    reason="needs the espeakng-loader wheel (pip install .[train])",
)


@needs_espeak
def test_espeak_voices_and_variants() -> None:
    voices = espeak.list_voices()
    assert "en-us" in voices and "en-gb-x-rp" in voices
    assert all(v.startswith("en") for v in voices)
    variants = espeak.list_variants()
    assert {"m1", "m7", "f1", "f5", "croak", "klatt", "whisper"} <= set(variants)


@needs_espeak
def test_espeak_synthesize() -> None:
    yes = espeak.synthesize("yes")
    assert yes.dtype == np.int16 and yes.ndim == 1
    assert 0.2 < len(yes) / espeak.SAMPLE_RATE < 1.5
    assert np.abs(yes).max() > 3000  # not silent
    other = espeak.synthesize("yes", voice="en-gb-x-rp", variant="f2")
    assert len(other) != len(yes) or not np.array_equal(other, yes)
    slow = espeak.synthesize("yes", rate=100)
    assert len(slow) > len(yes)
    espeak.synthesize("something else entirely", variant="whisper")
    # eSpeak keeps state between utterances; the binding resets it: same args, same audio.
    np.testing.assert_array_equal(espeak.synthesize("yes"), yes)
    with pytest.raises(InputError, match="no voice"):
        espeak.synthesize("yes", voice="xx-nope")
    with pytest.raises(InputError, match="no variant"):
        espeak.synthesize("yes", variant="nope")
    with pytest.raises(InputError, match="rate"):
        espeak.synthesize("yes", rate=5)


# --- generator ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    from lstm_apps.data.speech_synth import ALL_WORDS, generate_speech_commands

    out = tmp_path_factory.mktemp("gen") / "sc"
    report = generate_speech_commands(
        out, speakers=4, repeats=1, seed=7, noise_seconds=1.0, progress=False, workers=1,
        words=ALL_WORDS,  # every speaker says all 30 (no draw from the unknown pool)
    )  # fmt: skip
    return out, report


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@needs_espeak
def test_generator_layout(generated: tuple[Path, object]) -> None:
    from lstm_apps.data.speech_synth import ALL_WORDS, GenerateReport

    out, report = generated
    assert isinstance(report, GenerateReport)
    assert report.n_speakers == 4 and report.n_files == 4 * 30
    assert report.speakers_per_split == {"train": 2, "validation": 1, "test": 1}
    assert report.per_split == {"train": 60, "validation": 30, "test": 30}
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(
        (*ALL_WORDS, "_background_noise_")
    )
    assert (out / "validation_list.txt").is_file() and (out / "testing_list.txt").is_file()
    noise = sorted(p.name for p in (out / "_background_noise_").iterdir())
    assert noise == [
        "brown_noise.wav", "hum_50hz.wav", "hum_60hz.wav", "pink_noise.wav", "white_noise.wav"
    ]  # fmt: skip
    peaks = []
    for wav in out.glob("*/*.wav"):
        info = sf.info(wav)
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        if wav.parent.name == "_background_noise_":
            assert info.frames == 16000  # noise_seconds=1
            continue
        assert re.fullmatch(r"[0-9a-f]{8}_nohash_0\.wav", wav.name)
        audio, _ = sf.read(wav, dtype="int16")
        assert audio.shape == (16000,)
        assert np.abs(audio).max() > 1000  # speech, not silence
        peaks.append(int(np.argmax(np.abs(audio))))
    assert np.std(peaks) > 1000  # words sit at different offsets
    assert not list(out.parent.glob(".sc.partial-*"))  # temporary folder renamed away


@needs_espeak
def test_generator_splits_by_speaker_and_loads(generated: tuple[Path, object]) -> None:
    out, _ = generated
    listed = {
        "validation": (out / "validation_list.txt").read_text().split(),
        "test": (out / "testing_list.txt").read_text().split(),
    }
    expected = {"validation": "validation", "test": "testing"}
    for split, rels in listed.items():
        assert len(rels) == 30 and all(which_set(r) == expected[split] for r in rels)
    speakers: dict[str, set[str]] = {}
    for split in ("train", "validation", "test"):
        data = load_speech_commands(out, split)  # type: ignore[arg-type]
        counts = data.counts()
        assert all(counts[w] >= 1 for w in WORDS) and counts[UNKNOWN] >= 1
        assert len(data.noise) == 5 and all(len(n) == 16000 for n in data.noise)
        speakers[split] = {_speaker(e.path) for e in data.examples if e.path is not None}
    assert len(speakers["train"]) == 2
    assert not speakers["train"] & speakers["validation"]
    assert not speakers["train"] & speakers["test"]
    assert not speakers["validation"] & speakers["test"]


@needs_espeak
def test_generator_is_deterministic(generated: tuple[Path, object], tmp_path: Path) -> None:
    from lstm_apps.data.speech_synth import ALL_WORDS, generate_speech_commands

    out, _ = generated
    # Same seed, two worker processes instead of one: the same bytes.
    again = generate_speech_commands(
        tmp_path / "again", speakers=4, repeats=1, seed=7, noise_seconds=1.0, progress=False,
        workers=2, words=ALL_WORDS,
    )  # fmt: skip
    assert _files(again.out_dir) == _files(out)
    other = generate_speech_commands(
        tmp_path / "other", speakers=4, repeats=1, seed=8, noise_seconds=1.0, progress=False,
        words=ALL_WORDS,
    )  # fmt: skip
    a, b = _files(out), _files(other.out_dir)
    assert a["_background_noise_/white_noise.wav"] != b["_background_noise_/white_noise.wav"]
    shared = sorted(set(a) & set(b) - {"README.md"})
    assert any(a[k] != b[k] for k in shared if k.endswith(".wav") and "/" in k)


@needs_espeak
def test_generator_refuses_non_empty_and_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lstm_apps.data import speech_synth

    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not an empty folder"):
        speech_synth.generate_speech_commands(busy, speakers=1, progress=False)
    assert sorted(p.name for p in busy.iterdir()) == ["keep.txt"]

    def boom(job: object) -> list[str]:
        raise RuntimeError("synthesis failed")

    monkeypatch.setattr(speech_synth, "speak", boom)
    with pytest.raises(RuntimeError, match="synthesis failed"):
        speech_synth.generate_speech_commands(
            tmp_path / "fresh", speakers=1, noise_seconds=0.1, progress=False, workers=1
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy"]  # nothing half-written
    with pytest.raises(ValueError, match="repeats"):
        speech_synth.generate_speech_commands(tmp_path / "x", repeats=0, progress=False)


@needs_espeak
def test_generator_accepts_an_empty_folder(tmp_path: Path) -> None:
    from lstm_apps.data.speech_synth import generate_speech_commands

    out = tmp_path / "empty"
    out.mkdir()
    report = generate_speech_commands(
        out, speakers=1, repeats=1, noise_seconds=0.1, progress=False, workers=1
    )
    # the 10 commands once each, and 10 words drawn from the unknown pool
    assert report.n_files == 20 and len(list(out.glob("*/*_nohash_0.wav"))) == 20


@needs_espeak
def test_cli_records_its_command_and_checks_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lstm_apps.cli import main
    from lstm_apps.data import read_generator

    out = tmp_path / "sc"
    argv = ["data", "speech", str(out), "--speakers", "3", "--repeats", "1",
            "--noise-seconds", "1", "--words", "yes,cat", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    gen = read_generator(out)
    assert gen is not None and gen["command"] == "lstm-apps " + " ".join(argv)
    assert gen["settings"]["words"] == ["yes", "cat"] and gen["clips"] == 6
    for bad in ("yes,,no", "yes,yes"):
        assert main(["data", "speech", str(tmp_path / "bad"), "--words", bad]) == 2
        assert f"--words {bad!r}" in capsys.readouterr().err
        assert not (tmp_path / "bad").exists()
