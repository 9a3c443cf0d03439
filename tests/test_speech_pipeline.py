"""Speech end to end on tiny data: train (really learns, resumes), export, runtime, CLI."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from lstm_apps.cli import main
from lstm_apps.data.speech_commands import which_set
from lstm_apps.data.speech_synth import generate_speech_commands
from lstm_apps.data.speech_transform import TransformConfig
from lstm_apps.nn.speech import SpeechConfig
from lstm_apps.onnx.speech import export_speech
from lstm_apps.runtime import AudioInputError, InputDTypeError, InputShapeError, ModelFileError
from lstm_apps.runtime.detect import DetectorConfig
from lstm_apps.runtime.speech import SpeechClassifier
from lstm_apps.train.checkpoint import load_checkpoint
from lstm_apps.train.speech import SpeechTrainConfig, load_split, predict, train_speech
from lstm_apps.train.speech_augment import AugmentConfig

pytestmark = pytest.mark.slow
WORDS = ("yes", "no", "up")

TINY = SpeechTrainConfig(
    threads=1,  # 2 OpenMP threads on a busy 2-core machine spin and crawl
    epochs=30,
    batch_size=32,
    lr=1e-2,
    warmup_steps=10,
    model=SpeechConfig(hidden_size=48, num_layers=1, dropout=0.0),
    augment=AugmentConfig(
        prefix_prob=0.0,
        noise_prob=0.3,
        snr_db=(15.0, 30.0),
        time_masks=0,
        freq_masks=0,
        babble_prob=0.0,
    ),
)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("speech") / "data"
    # plain eSpeak: these tests are about the pipeline, and a tiny model in 30 short
    # epochs learns plain voices (tests/test_speech_voices.py covers the transformations)
    generate_speech_commands(
        out, speakers=40, repeats=2, noise_seconds=10, progress=False,
        words=(*WORDS, "bed", "cat"), transforms=TransformConfig.off(),
    )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def run(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    train_speech(data, out, TINY, log=lambda s: None)
    return out


@pytest.fixture(scope="module")
def bundle(run: Path, data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "speech"
    net = load_checkpoint(run / "best").model
    test, _ = load_split(data, "test", TINY)
    # a 48-unit model on 30 clips: one int8 flip is 3.3 points (the shipped bundle needs 99%)
    export_speech(net, out, test.x.numpy(), min_int8_agreement=0.9)  # type: ignore[arg-type]
    return out


def test_tiny_training_really_learns(run: Path) -> None:
    metrics = json.loads((run / "metrics.json").read_text())
    # 12 classes (chance ~ 1/12; the words here are 3 of them plus unknown and silence)
    assert metrics["test_accuracy"] > 0.6, metrics["history"]
    # called from Python: no command line to quote, and metrics.json says so
    assert metrics["command"] == "lstm_apps.train.speech.train_speech() from Python"
    assert metrics["history"][-1]["train_loss"] < metrics["history"][0]["train_loss"]
    assert (run / "confusion_test.png").stat().st_size > 1000
    assert {p.name for p in (run / "best").iterdir()} == {"config.json", "model.safetensors"}


def test_interrupted_training_resumes_to_the_same_weights(data: Path, tmp_path: Path) -> None:
    cfg = replace(TINY, epochs=3)
    whole = train_speech(data, tmp_path / "whole", cfg, log=lambda s: None)

    def interrupt(line: str) -> None:
        if line.startswith("epoch   2"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_speech(data, tmp_path / "cut", cfg, log=interrupt)
    seen: list[str] = []
    resumed = train_speech(data, tmp_path / "cut", cfg, log=seen.append)
    assert any("resuming" in s and "epoch 2" in s for s in seen)  # epoch 2 never saved
    a = load_checkpoint(tmp_path / "whole" / "last").model.state_dict()
    b = load_checkpoint(tmp_path / "cut" / "last").model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed["test_accuracy"] == whole["test_accuracy"]


def test_export_bundle_files_and_metadata(bundle: Path) -> None:
    names = {p.name for p in bundle.iterdir()}
    expected = {"model.onnx", "stream.onnx", "model.int8.onnx", "labels.json", "config.json"}
    assert names == expected | {"MODEL_CARD.md", "checkpoint", "golden"}
    labels = json.loads((bundle / "labels.json").read_text())
    assert labels[:3] == list(WORDS) and labels[-2:] == ["_silence_", "_unknown_"]
    cfg = json.loads((bundle / "config.json").read_text())
    assert cfg["preprocessing"]["sample_rate"] == 16000
    assert all(p.stat().st_size < 20e6 for p in bundle.iterdir())


def test_runtime_matches_torch_and_handles_any_input(bundle: Path, run: Path, data: Path) -> None:
    clf = SpeechClassifier.from_dir(bundle, intra_op_threads=1)
    net = load_checkpoint(run / "best").model
    paths = sorted(
        p for w in WORDS for p in (data / w).glob("*.wav") if which_set(p.name) == "testing"
    )[:12]
    clips = np.stack([sf.read(p, dtype="float32")[0] for p in paths])
    expected = predict(net, torch.from_numpy(clips)).argmax(1)  # type: ignore[arg-type]
    got = clf.classify(paths)
    assert [p.label for p in got] == [clf.labels[i] for i in expected]
    assert all(abs(sum(p.scores.values()) - 1) < 1e-4 for p in got)

    # the clip the tiny model is surest of: a 0.37-vs-0.30 call may flip with any padding
    ref = int(np.argmax([p.score for p in got]))
    clip = clips[ref]
    import soxr

    at_8k = soxr.resample(clip, 16000, 8000)
    stereo = np.stack([clip, clip], axis=1)
    short = clip[4000:12000]
    longer = np.concatenate([np.zeros(12000, np.float32), clip, np.zeros(9000, np.float32)])
    preds = clf.classify([at_8k], sample_rate=8000) + clf.classify(
        [stereo, short, longer], sample_rate=16000
    )
    assert [p.label for p in preds[1:]] == [got[ref].label] * 3, (got[ref], preds)
    # 8 kHz in: the runtime resamples to 16 kHz (soxr), exactly as a caller could
    up = clf.classify([soxr.resample(at_8k, 8000, 16000).astype(np.float32)], sample_rate=16000)
    assert preds[0].label == up[0].label
    assert abs(preds[0].score - up[0].score) < 1e-3
    assert clf.probabilities(longer, sample_rate=16000)[0].shape[0] > 1  # read as windows
    int8 = SpeechClassifier.from_dir(bundle, int8=True)
    same = [a.label == b.label for a, b in zip(int8.classify(paths), got, strict=True)]
    assert sum(same) >= len(same) - 1, same  # a 48-unit model: one close call may flip


def test_stream_detects_words_with_times(bundle: Path, data: Path) -> None:
    clf = SpeechClassifier.from_dir(bundle)
    yes = sorted((data / "yes").glob("*.wav"))
    no = sorted((data / "no").glob("*.wav"))
    # choose clips the offline model gets right with confidence, then stream them
    truth = {p: p.parent.name for p in yes + no}
    good = [p for p in truth if (r := clf.classify(p)[0]).label == truth[p] and r.score > 0.8]
    assert len(good) >= 2
    gap = np.zeros(16000, np.float32)
    parts, starts = [gap], []
    for p in good[:2]:
        starts.append(sum(len(x) for x in parts) / 16000)
        parts += [sf.read(p, dtype="float32")[0], gap, gap]
    audio = np.concatenate(parts)
    stream = clf.stream(DetectorConfig(frame_seconds=0.02, threshold=0.6))
    dets = []
    for i in range(0, len(audio), 1234):  # odd chunk size on purpose
        dets += stream.accept(audio[i : i + 1234])
    heard = stream.seconds  # whole frames only; the rest waits in the buffer
    dets += stream.flush()
    expected = [clf.classify(p)[0].label for p in good[:2]]
    assert [d.label for d in dets] == expected, dets
    for d, s in zip(dets, starts, strict=True):
        assert s <= d.time <= s + 1.6
    assert heard == pytest.approx(len(audio) / 16000, abs=0.03)
    assert stream.seconds == 0.0  # flush ended the stream


def test_runtime_errors(bundle: Path, tmp_path: Path) -> None:
    clf = SpeechClassifier.from_dir(bundle)
    with pytest.raises(ModelFileError, match="not found"):
        SpeechClassifier.from_dir(tmp_path / "nope")
    with pytest.raises(AudioInputError, match="no audio"):
        clf.classify([])
    with pytest.raises(AudioInputError, match="array #1"):
        clf.classify([np.zeros(100, np.float32), np.full(100, np.nan, np.float32)], 16000)
    with pytest.raises(AudioInputError, match=r"missing\.wav"):
        clf.classify(str(tmp_path / "missing.wav"))
    with pytest.raises(InputDTypeError):
        clf.stream().accept([0.0, 0.1])  # type: ignore[arg-type]
    s = clf.stream()
    s.accept(np.zeros(800, np.float32), sample_rate=8000)
    with pytest.raises(AudioInputError, match="8000 Hz"):
        s.accept(np.zeros(800, np.float32), sample_rate=16000)
    s.flush()  # a flushed stream starts over: time 0, any rate
    assert s.seconds == 0.0
    s.accept(np.zeros(1600, np.float32), sample_rate=16000)
    assert s.seconds == pytest.approx(0.1)
    with pytest.raises(InputShapeError, match="list of 1-D arrays"):
        clf.classify(np.zeros((16, 16000), np.float32), sample_rate=16000)  # a batch, not stereo


def test_cli_classify_and_stream(
    bundle: Path, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wav = sorted((data / "yes").glob("*.wav"))[0]
    assert main(["classify", str(wav), "--model", str(bundle)]) == 0
    out = capsys.readouterr().out
    assert str(wav) in out and "%" in out
    assert main(["stream", str(wav), "--model", str(bundle), "--chunk-ms", "100"]) == 0
    assert "command(s) detected" in capsys.readouterr().out
    assert main(["classify", "/no/such.wav", "--model", str(bundle)]) == 2
    assert "no/such.wav" in capsys.readouterr().err
