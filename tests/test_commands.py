"""Your own command words: the labels, the Speech Commands v2 layout, and the recipe
`data speech --words` + `train speech --commands` + `export speech` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import soundfile as sf

from lstm_apps.cli import main
from lstm_apps.data.speech_commands import (
    LABELS,
    check_command_folders,
    load_speech_commands,
    parse_commands,
    speech_labels,
)
from lstm_apps.data.speech_synth import generate_speech_commands
from lstm_apps.data.speech_transform import TransformConfig
from lstm_apps.nn.speech import SPEECH_LABELS, SpeechConfig
from lstm_apps.runtime.errors import ConfigError, DataFormatError

# Ten of the 35 words of Speech Commands v2 (the five new ones among them), two of them
# the classic commands, which become _unknown_ when other commands are named.
V2_WORDS = ("backward", "bed", "dog", "follow", "forward", "learn", "marvin", "visual",
            "yes", "no")  # fmt: skip
SPEAKERS = ("0a7c2a8d", "1b4c9b89", "2c5d0e11", "3d6e1f22", "4e7f2a33", "5f8a3b44", "6a9b4c55")
VALIDATION, TESTING = SPEAKERS[4:5], SPEAKERS[5:]  # as v2's lists do: whole speakers


@pytest.fixture(scope="module")
def v2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny folder laid out as speech_commands_v0.02 unpacks: word folders of
    <speaker>_nohash_<n>.wav, the two list files, _background_noise_ with its README,
    and the LICENSE / README.md at the top."""
    root = tmp_path_factory.mktemp("v2") / "speech_commands_v0.02"
    rng = np.random.default_rng(0)
    val, test = [], []
    for w, word in enumerate(V2_WORDS):
        (root / word).mkdir(parents=True)
        for s, speaker in enumerate(SPEAKERS):
            for n in range(2):
                rel = f"{word}/{speaker}_nohash_{n}.wav"
                t = np.arange(1600 + 800 * n) / 16000  # 0.1-0.15 s: v2 has short clips too
                tone = 0.3 * np.sin(2 * np.pi * (200 + 60 * w + 7 * s) * t)
                sf.write(root / rel, tone + 0.01 * rng.standard_normal(t.size), 16000, "PCM_16")
                (val if speaker in VALIDATION else test if speaker in TESTING else []).append(rel)
    (root / "validation_list.txt").write_text("\n".join(val) + "\n")
    (root / "testing_list.txt").write_text("\n".join(test) + "\n")
    noise = root / "_background_noise_"
    noise.mkdir()
    sf.write(noise / "white_noise.wav", 0.1 * rng.standard_normal(32000), 16000, "PCM_16")
    (noise / "README.md").write_text("noise clips\n")
    (root / "LICENSE").write_text("CC BY 4.0\n")
    (root / "README.md").write_text("Speech Commands v0.02\n")
    return root


def test_the_default_labels_stay_the_ten_words_then_silence_and_unknown() -> None:
    assert speech_labels() == LABELS == SPEECH_LABELS == SpeechConfig().labels
    assert speech_labels(["lights", "music"]) == ("lights", "music", "_silence_", "_unknown_")
    assert parse_commands(" lights, music ,pause") == ("lights", "music", "pause")


@pytest.mark.parametrize(
    ("commands", "message"),
    [
        ([], "at least one command"),
        (["dog", "bed", "dog"], "'dog' given twice"),
        (["dog", "_silence_"], "'_silence_' is reserved"),
        (["_unknown_"], "'_unknown_' is reserved"),
        (["_background_noise_"], "'_background_noise_' is reserved"),
        (["dog", "_mine"], "'_mine' is not a word folder name"),
        (["dog", "a/b"], "'a/b' is not a word folder name"),
        (["dog", ""], "'' is not a word folder name"),
        ("dog", "a sequence of word names"),
    ],
)
def test_bad_commands_are_config_errors_that_name_them(commands: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        speech_labels(commands)


def test_v2_layout_with_any_of_its_words_as_the_commands(v2: Path) -> None:
    for split, speakers in (
        ("train", SPEAKERS[:4]), ("validation", VALIDATION), ("test", TESTING)
    ):  # fmt: skip
        data = load_speech_commands(
            v2, split, commands=["dog", "bed"], seed=3, silence_fraction=0.2, unknown_fraction=0.4
        )
        assert data.labels == ("dog", "bed", "_silence_", "_unknown_")
        want = {f"{w}/{s}_nohash_{n}.wav" for w in ("dog", "bed") for s in speakers for n in (0, 1)}
        known = [ex for ex in data.examples if ex.label in ("dog", "bed")]
        assert {ex.path.relative_to(v2).as_posix() for ex in known if ex.path} == want
        assert all(ex.label_index == data.labels.index(ex.label) for ex in data.examples)
        unknown = [ex for ex in data.examples if ex.label == "_unknown_"]
        # "yes" and "no" are words like any other here; the lists decide the split
        assert unknown and all(ex.path and ex.path.parent.name not in ("dog", "bed")
                               for ex in unknown)  # fmt: skip
        assert all(ex.path and ex.path.stem.split("_")[0] in speakers for ex in unknown)
        n, half = len(known) / 0.4, len(known) // 2
        assert data.counts() == {
            "dog": half, "bed": half, "_silence_": round(0.2 * n), "_unknown_": round(0.4 * n)
        }  # fmt: skip
        assert len(data.noise) == 1 and data.noise[0].shape == (32000,)  # README.md is no noise
    swapped = load_speech_commands(v2, "test", commands=["bed", "dog"], seed=3)
    assert {ex.label: ex.label_index for ex in swapped.examples if ex.path}["bed"] == 0
    classic = load_speech_commands(v2, "test", silence_fraction=0.2, unknown_fraction=0.4)
    # the ten words by default: yes and no are commands again
    assert {ex.label for ex in classic.examples} == {"yes", "no", "_silence_", "_unknown_"}


def test_a_command_without_a_folder_is_named_with_the_folders_there(v2: Path) -> None:
    check_command_folders(v2, ["dog", "visual"])
    with pytest.raises(DataFormatError) as e:
        check_command_folders(v2, ["dog", "cat", "lights"])
    msg = str(e.value)
    assert "commands cat, lights;" in msg and "dog," not in msg.split(";")[0]
    assert "word folders there: backward, bed, dog, follow, forward, learn, marvin, no," in msg
    with pytest.raises(DataFormatError, match="does not exist"):
        check_command_folders(v2 / "nope", ["dog"])


def test_train_speech_cli_refuses_bad_commands_before_training(
    v2: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["train", "speech", "--data", str(v2), "--out", str(tmp_path / "R"), "--epochs", "1"]
    for commands, message in (
        ("dog,dog", "'dog' given twice"), ("", "at least one command word"),
        ("dog,_silence_", "'_silence_' is reserved"),
        ("dog,cat", "no word folder with .wav files for command cat; word folders there: "
         "backward, bed, dog"),
    ):  # fmt: skip
        assert main([*args, "--commands", commands]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err
    assert not (tmp_path / "R" / "last").exists()


@pytest.mark.slow
def test_train_on_the_v2_layout_with_two_of_its_words(v2: Path, tmp_path: Path) -> None:
    argv = ["train", "speech", "--data", str(v2), "--out", str(tmp_path / "run"),
            "--epochs", "1", "--commands", "dog,bed", "--hidden", "8", "--layers", "1",
            "--threads", "1"]  # fmt: skip
    assert main(argv) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["labels"] == ["dog", "bed", "_silence_", "_unknown_"]
    test = metrics["splits"]["test"]
    assert np.array(test["confusion"]).shape == (4, 4)
    # the testing list's 2 speakers: 2 words x 4 clips; 10% of 10 silence, 10% of 10 unknown
    assert test["n"] == 10 and np.array(test["confusion"]).sum(1).tolist() == [4, 4, 1, 1]


def test_generated_unknown_words_never_say_a_command(tmp_path: Path) -> None:
    generate_speech_commands(
        tmp_path / "d", speakers=1, repeats=1, noise_seconds=0.5, progress=False,
        words=("music",), extra_words=("play music", "cat", "music"), extra_per_speaker=3,
        transforms=TransformConfig.off(),
    )  # fmt: skip
    folders = {p.name for p in (tmp_path / "d").iterdir() if p.is_dir()}
    assert folders == {"music", "cat", "_background_noise_"}


@pytest.mark.slow
def test_own_commands_recipe_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from lstm_apps.eval.speech import evaluate_speech
    from lstm_apps.runtime.speech import SpeechClassifier

    data, run, bundle = tmp_path / "data", tmp_path / "run", tmp_path / "bundle"
    mine = ["lights", "music", "pause", "_silence_", "_unknown_"]
    assert main(["data", "speech", str(data), "--words", "lights,music,pause", "--speakers", "24",
                 "--repeats", "1", "--noise-seconds", "2", "--unknown-per-speaker", "3",
                 "--no-transforms", "--quiet"]) == 0  # fmt: skip
    assert main(["train", "speech", "--data", str(data), "--out", str(run), "--commands",
                 "lights,music,pause", "--epochs", "2", "--hidden", "16", "--layers", "1",
                 "--threads", "1", "--batch-size", "16"]) == 0  # fmt: skip
    assert main(["export", "speech", str(run), str(bundle), "--min-int8-agreement", "0"]) == 0
    capsys.readouterr()

    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["labels"] == mine and "--commands lights,music,pause" in metrics["command"]
    assert np.array(metrics["splits"]["test"]["confusion"]).shape == (5, 5)
    assert json.loads((bundle / "labels.json").read_text()) == mine
    assert json.loads((bundle / "config.json").read_text())["labels"] == mine
    for name in ("model.onnx", "stream.onnx", "model.int8.onnx"):
        meta = {p.key: p.value for p in onnx.load(str(bundle / name)).metadata_props}
        assert json.loads(meta["labels"]) == mine, name
    assert (
        "Classes (5): lights, music, pause, _silence_, _unknown_."
        in (bundle / "MODEL_CARD.md").read_text()
    )

    clf = SpeechClassifier.from_dir(bundle, intra_op_threads=1)
    assert clf.labels == tuple(mine)
    clips = sorted((data / "music").glob("*.wav"))[:3] + sorted((data / "light").glob("*.wav"))
    preds = clf.classify([*clips, np.zeros(16000, np.float32)], sample_rate=16000)
    assert len(preds) == len(clips) + 1
    for p in preds:
        assert p.label in mine and set(p.scores) == set(mine)
        assert abs(sum(p.scores.values()) - 1) < 1e-4 and p.scores[p.label] == p.score
    # the near-miss "light" is just another word: scored as _unknown_, and every class
    # of the report is the bundle's own
    report = evaluate_speech(bundle, data, split="all")
    assert report.labels == tuple(mine) and report.per_class["lights"][1] == 24
    assert report.per_class["_unknown_"][1] > 0 and "yes" not in report.per_class
