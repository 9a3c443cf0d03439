"""The speech data that varies voices: generator options, the flite validation set, the
loader's "all" split and full unknown pool, and the trainer's cross-generator validation."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lstm_apps.data.speech_commands import (
    TESTING_LIST,
    VALIDATION_LIST,
    load_speech_commands,
    read_wav,
)
from lstm_apps.data.speech_transform import TransformConfig


@pytest.fixture(scope="module")
def varied(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from lstm_apps.data.speech_synth import generate_speech_commands

    out = tmp_path_factory.mktemp("varied") / "sc"
    generate_speech_commands(
        out, speakers=3, repeats=1, seed=3, noise_seconds=1.0, progress=False,
        extra_per_speaker=4, words=("yes", "up"), zero_floor_prob=1.0, workers=1,
    )  # fmt: skip
    return out


def test_each_speaker_says_the_words_and_draws_unknowns(varied: Path) -> None:
    from lstm_apps.data.speech_synth import UNKNOWN_POOL

    gen = json.loads((varied / "generator.json").read_text())
    assert gen["clips"] == 3 * (2 + 4)
    s = gen["settings"]
    assert s["extra_per_speaker"] == 4 and s["transforms"]["world_prob"] == 0.6
    assert len(s["extra_words"]) == len(UNKNOWN_POOL)
    others = [
        p
        for p in varied.glob("*/*.wav")
        if p.parent.name not in ("yes", "up", "_background_noise_")
    ]
    assert len(others) == 12
    assert {p.name.split("_")[0] for p in others} == {
        p.name.split("_")[0] for p in (varied / "yes").glob("*.wav")
    }
    # no empty word folders: only the words somebody said
    assert all(any(d.iterdir()) for d in varied.iterdir() if d.is_dir())


def test_zero_floor_clips_have_digital_silence_around_the_word(varied: Path) -> None:
    for path in sorted((varied / "yes").glob("*.wav")):
        audio = read_wav(path)
        assert audio.shape == (16000,) and np.isfinite(audio).all()
        assert np.abs(audio).max() > 0.02
        assert (audio[:40] == 0).all() or (audio[-40:] == 0).all()


def test_voices_exclusion_and_forced_split(tmp_path: Path) -> None:
    from lstm_apps.data.speech_synth import generate_speech_commands, list_speakers

    held = list_speakers(voices=["en-gb-scotland"])
    rest = list_speakers(exclude_voices=["en-gb-scotland"])
    assert held and rest and not {s.id for s in held} & {s.id for s in rest}
    assert {s.voice for s in held} == {"en-gb-scotland"}
    out = tmp_path / "held"
    r = generate_speech_commands(
        out, speakers=2, repeats=1, words=("no",), voices=["en-gb-scotland"], split="test",
        noise_seconds=0.5, progress=False, workers=1,
    )  # fmt: skip
    assert r.per_split == {"train": 0, "validation": 0, "test": 2}
    assert (out / VALIDATION_LIST).read_text() == ""
    assert len((out / TESTING_LIST).read_text().split()) == 2
    with pytest.raises(ValueError, match="not an English eSpeak NG voice"):
        list_speakers(voices=["klingon"])
    with pytest.raises(ValueError, match="split"):
        generate_speech_commands(tmp_path / "x", split="train", progress=False)


def test_loader_all_split_and_all_unknown(varied: Path) -> None:
    every = load_speech_commands(varied, "all", silence_fraction=0.0, unknown_fraction=0.1)
    parts = [
        load_speech_commands(varied, s, silence_fraction=0.0, unknown_fraction=0.1)  # type: ignore[arg-type]
        for s in ("train", "validation", "test")
    ]
    known = lambda d: sorted(str(e.path) for e in d.examples if e.label != "_unknown_")
    assert known(every) == sorted(x for p in parts for x in known(p))
    full = load_speech_commands(varied, "all", silence_fraction=0.0, all_unknown=True)
    assert full.counts()["_unknown_"] == 12 > every.counts()["_unknown_"]


def test_flite_set_layout_and_determinism(tmp_path: Path) -> None:
    from lstm_apps.data.flite import generate_flite

    assert shutil.which("flite"), "flite is missing: apt-get install flite (make install does)"
    a = generate_flite(tmp_path / "a", voices=("slt",), words=("yes", "cat"), progress=False)
    assert a.n_speakers == 9 and a.n_files == 18
    listed = (a.out_dir / VALIDATION_LIST).read_text().split()
    assert len(listed) == 18 and (a.out_dir / TESTING_LIST).read_text() == ""
    val = load_speech_commands(a.out_dir, "validation", silence_fraction=0.1)
    assert val.counts()["yes"] == 9 and len(val.noise) == 5
    clean = [read_wav(a.out_dir / r) for r in listed]
    assert all(x.shape == (16000,) and np.abs(x).max() > 0.02 for x in clean)
    assert sum(int((x == 0).sum() > 1000) for x in clean) >= 6  # clean clips: digital zeros
    b = generate_flite(tmp_path / "b", voices=("slt",), words=("yes", "cat"), progress=False)
    for rel in listed:
        assert (a.out_dir / rel).read_bytes() == (b.out_dir / rel).read_bytes()


def test_training_reports_the_cross_generator_validation(varied: Path, tmp_path: Path) -> None:
    from lstm_apps.data.speech_synth import generate_speech_commands
    from lstm_apps.nn.speech import SpeechConfig
    from lstm_apps.train.checkpoint import load_checkpoint
    from lstm_apps.train.speech import SpeechTrainConfig, load_split, train_speech

    other = tmp_path / "other"  # a second folder: other speakers, plain voices, all validation
    generate_speech_commands(
        other, speakers=2, repeats=1, seed=9, noise_seconds=0.5, progress=False, workers=1,
        words=("yes", "up", "cat"), split="validation", transforms=TransformConfig.off(),
    )  # fmt: skip
    cfg = SpeechTrainConfig(
        epochs=3, batch_size=8, threads=1, lr=3e-2, warmup_steps=1,
        model=SpeechConfig(hidden_size=16, num_layers=1),
    )  # fmt: skip
    m = train_speech(varied, tmp_path / "run", cfg, val_data=other, log=lambda _: None)
    expected = len(load_split(other, "validation", cfg)[0].y)  # 4 commands: too few for
    assert m["val_data"] == str(other) and m["splits"]["cross_validation"]["n"] == expected
    assert expected == 4  # the 10% unknown and silence shares to round to a clip
    scores = [(h["val_accuracy"] + h["cross_val_accuracy"]) / 2 for h in m["history"]]
    best = load_checkpoint(tmp_path / "run" / "best").extra["epoch"]
    assert best == int(np.argmax(scores)) + 1, (best, scores)  # 1-based: the first best mean
    _check_prior(tmp_path / "run", other)


def test_kokoro_speakers_join_the_espeak_ones(tmp_path: Path) -> None:
    from lstm_apps.data.speech_synth import generate_speech_commands, kokoro_speakers

    blends = kokoro_speakers(5, seed=0)
    assert len({s.id for s in blends}) == 5 and all(s.engine == "kokoro" for s in blends)
    assert blends == kokoro_speakers(5, seed=0) != kokoro_speakers(5, seed=1)
    a, b, weight, lang = blends[0].blend
    assert a != b and 0.2 <= weight <= 1.0 and lang.startswith("en")
    r = generate_speech_commands(
        tmp_path / "k", speakers=1, kokoro=1, words=("yes",), repeats=1, noise_seconds=0.5,
        progress=False, workers=1, seed=4,
    )  # fmt: skip
    assert r.n_speakers == 2 and r.n_files == 2
    ids = {s.id for s in kokoro_speakers(1, seed=4)}
    clips = {p.name[:8]: read_wav(p) for p in (tmp_path / "k" / "yes").glob("*.wav")}
    assert ids <= set(clips) and all(np.abs(x).max() > 0.02 for x in clips.values())
    assert json.loads((tmp_path / "k" / "generator.json").read_text())["settings"]["kokoro"] == 1
    assert "Kokoro" in (tmp_path / "k" / "README.md").read_text()


def _check_prior(run: Path, other: Path) -> None:
    """eval prior on the trained tiny run: the choice follows its rule, eval and export
    apply it, and a new offset removes what was measured without it."""
    from lstm_apps.eval.models import load_eval_model
    from lstm_apps.eval.prior import GRID, PRIOR_JSON, read_unknown_offset, tune_prior
    from lstm_apps.onnx.runs import export_speech_run
    from lstm_apps.runtime.speech import SpeechClassifier

    assert read_unknown_offset(run) == 0.0
    (run / "detector.json").write_text('{"settings": {}, "command": "stale"}')
    r = tune_prior(run, other, threads=1, command="pytest")
    assert [g["offset"] for g in r["grid"]] == list(GRID)
    means = [g["validation"] + g["cross_validation"] for g in r["grid"]]
    first_best = GRID[int(np.argmax(means))]  # argmax: the smallest offset on a tie
    assert r["unknown_offset"] == first_best == read_unknown_offset(run)
    assert r["validation_accuracy"]["before"] == r["grid"][0]["validation"]
    assert json.loads((run / PRIOR_JSON).read_text())["command"] == "pytest"
    if first_best:
        assert not (run / "detector.json").exists() and r["removed"]
    # a hand-set offset: evaluation and export lower exactly the _unknown_ logit
    (run / PRIOR_JSON).write_text(json.dumps({"unknown_offset": 2.0}))
    x = np.random.default_rng(0).normal(0, 0.1, (6, 16000)).astype(np.float32)
    shifted = np.log(load_eval_model(run).probabilities(x))
    (run / PRIOR_JSON).unlink()
    plain = np.log(load_eval_model(run).probabilities(x))
    diff = shifted - plain
    unk = load_eval_model(run).labels.index("_unknown_")
    others = np.delete(diff, unk, 1)
    np.testing.assert_allclose(others - others[:, :1], 0.0, atol=1e-4, err_msg="others alike")
    np.testing.assert_allclose(others[:, 0] - diff[:, unk], 2.0, atol=1e-4)
    (run / PRIOR_JSON).write_text(json.dumps({"unknown_offset": 2.0}))
    export_speech_run(run, run.parent / "bundle", min_int8_agreement=0.0)
    clf = SpeechClassifier.from_dir(run.parent / "bundle")
    bundle = np.log(clf.probabilities(list(x), 16000)[0])
    np.testing.assert_allclose(bundle, shifted[:1], atol=1e-4)
