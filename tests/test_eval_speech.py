"""`lstm_apps.eval`: clip accuracy and streaming evaluation on tiny synthetic data.

A tiny random model (its head scaled up so the posteriors are peaky and detections happen)
is saved both as a run folder and as an exported bundle; the two paths must agree with each
other and with the runtime's own stream. The matching and the threshold sweep are tested
without a model, on posteriors made from the truth.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lstm_apps.data.speech_commands import UNKNOWN, WORDS, load_speech_commands
from lstm_apps.data.speech_synth import generate_speech_commands
from lstm_apps.eval.models import load_eval_model
from lstm_apps.eval.speech import evaluate_speech, format_report, index_split, iter_clips
from lstm_apps.eval.stream import (
    PosteriorStream,
    evaluate_stream,
    format_stream_report,
    sweep_thresholds,
)
from lstm_apps.eval.stream_audio import (
    StreamSpec,
    TruthEvent,
    build_stream,
    make_recording,
    trim_word,
)
from lstm_apps.eval.stream_score import (
    TimedDetection,
    chunk_bounds,
    run_detector,
    score_detections,
)
from lstm_apps.nn.speech import SpeechClassifierNet, SpeechConfig
from lstm_apps.onnx.speech import export_speech
from lstm_apps.runtime.detect import Detection, DetectorConfig
from lstm_apps.runtime.errors import InputError
from lstm_apps.runtime.speech import SpeechClassifier
from lstm_apps.train.checkpoint import save_checkpoint

SR = 16000
CHUNK = 1600  # 100 ms


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("eval") / "data"
    generate_speech_commands(
        out, speakers=20, repeats=2, words=("yes", "no", "up", "cat", "bed"),
        noise_seconds=3, progress=False, workers=1,
    )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def net(data: Path) -> SpeechClassifierNet:
    torch.manual_seed(0)
    net = SpeechClassifierNet(SpeechConfig(hidden_size=16, num_layers=1, dropout=0.0)).eval()
    split = index_split(data, "train", seed=0, silence_fraction=0.1, unknown_fraction=0.1)
    clips = torch.from_numpy(next(iter_clips(split, net.config.clip_samples, 0, batch=64)))
    with torch.no_grad():
        f = net.frontend(clips).reshape(-1, net.config.frontend.n_features)
        net.set_normalization(f.mean(0), f.std(0))
        net.head.weight.mul_(30.0)  # peaky posteriors: the detector fires now and then
    return net


@pytest.fixture(scope="module")
def run(net: SpeechClassifierNet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    save_checkpoint(out / "best", net, kind="speech")
    return out


@pytest.fixture(scope="module")
def bundle(net: SpeechClassifierNet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "speech"
    clips = np.random.default_rng(0).normal(0, 0.05, (4, SR)).astype(np.float32)
    export_speech(net, out, clips, min_int8_agreement=0.0)
    return out


# --- clip accuracy ---------------------------------------------------------------------


def test_evaluate_speech_counts_add_up_and_writes_files(
    bundle: Path, data: Path, tmp_path: Path
) -> None:
    r = evaluate_speech(bundle, data, split="all", out_dir=tmp_path, threads=1)
    index = load_speech_commands(data, "all", silence_fraction=0.1, unknown_fraction=0.1)
    assert r.n == len(index.examples) > 100
    conf = np.array(r.confusion)
    assert conf.shape == (len(r.labels), len(r.labels)) and conf.sum() == r.n
    counts = index.counts()
    for i, label in enumerate(r.labels):
        assert r.per_class[label] == (conf[i, i], conf[i].sum())
        assert r.per_class[label][1] == counts[label]
    assert r.accuracy == pytest.approx(np.trace(conf) / r.n)
    assert r.model_kind == "bundle" and r.split == "all"

    png = Path(r.figure or "")
    assert png == tmp_path / "confusion_all.png" and png.stat().st_size > 5000
    with Image.open(png) as im:
        assert im.format == "PNG" and im.size[0] > 400
    saved = json.loads((tmp_path / "speech_eval.json").read_text())
    assert saved == json.loads(json.dumps(r.to_json()))
    assert saved["per_class"]["yes"]["n"] == counts["yes"]
    text = format_report(r)
    assert re.search(rf"\noverall +{r.n} +{re.escape(f'{r.accuracy:.2%}')}", text), text
    assert re.search(rf"\nyes +{counts['yes']} ", text), text


def test_bundle_and_run_agree(bundle: Path, run: Path, data: Path) -> None:
    b = evaluate_speech(bundle, data, split="test")
    t = evaluate_speech(run, data, split="test")
    assert t.model_kind == "run" and b.n == t.n
    assert b.confusion == t.confusion
    split = index_split(data, "test", seed=0, silence_fraction=0.1, unknown_fraction=0.1)
    x = next(iter_clips(split, SR, seed=0))
    pb, pt = load_eval_model(bundle).probabilities(x), load_eval_model(run).probabilities(x)
    np.testing.assert_allclose(pb, pt, atol=1e-4)
    assert len(set(pb.argmax(1).tolist())) > 1  # the model does not say one thing only


def test_clips_are_read_as_the_trainer_reads_them(data: Path) -> None:
    from lstm_apps.train.speech import SpeechTrainConfig, load_split

    cfg = SpeechTrainConfig()
    # the share of unknown words the trainer evaluates with (train's own share differs)
    unknown = getattr(cfg, "eval_unknown_fraction", cfg.unknown_fraction)
    for split in ("test", "all"):
        arrays, _ = load_split(data, split, cfg)
        index = index_split(
            data, split, seed=cfg.seed, silence_fraction=cfg.silence_fraction,
            unknown_fraction=unknown,
        )  # fmt: skip
        ours = np.concatenate(list(iter_clips(index, SR, cfg.seed, batch=7)))  # odd batches
        np.testing.assert_array_equal(ours, arrays.x.numpy())
    assert int(arrays.silence.sum()) >= 5  # the every-fifth-is-zeros rule was exercised


def test_model_paths_and_arguments_are_checked(bundle: Path, data: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}")
    for bad in (tmp_path / "empty", tmp_path / "half", tmp_path / "missing"):
        with pytest.raises(InputError, match=re.escape(str(bad))):
            evaluate_speech(bad, data)
        with pytest.raises(InputError, match=re.escape(str(bad))):
            evaluate_stream(bad, data)
    with pytest.raises(InputError, match="split"):
        evaluate_speech(bundle, data, split="dev")
    with pytest.raises(InputError, match="threads"):
        evaluate_speech(bundle, data, threads=0)
    for kw, name in (
        ({"n_recordings": 0}, "n_recordings"), ({"chunk_ms": 0}, "chunk_ms"),
        ({"thresholds": []}, "thresholds"), ({"thresholds": [0.5, 1.5]}, "thresholds"),
        ({"noise_minutes": -1}, "noise_minutes"), ({"seconds": 0.5}, "seconds"),
        ({"snr_db": (20, 5)}, "snr_db"),
    ):  # fmt: skip
        with pytest.raises(InputError, match=name):
            evaluate_stream(bundle, data, **kw)  # type: ignore[arg-type]


# --- test streams ----------------------------------------------------------------------


def test_trim_word_finds_the_loud_part() -> None:
    rng = np.random.default_rng(0)
    x = (rng.normal(0, 10 ** (-70 / 20), SR)).astype(np.float32)
    x[6000:9000] += 0.3 * np.sin(np.arange(3000) * 0.2).astype(np.float32)
    a, b = trim_word(x)
    assert 6000 - 0.03 * SR <= a <= 6000 and 9000 <= b <= 9000 + 0.03 * SR


def test_build_stream_truth_lies_in_the_audio_and_is_deterministic(data: Path) -> None:
    audio, truth = build_stream(data, split="all", seconds=20.0, seed=3, snr_db=(15.0, 20.0))
    assert audio.dtype == np.float32 and audio.shape == (20 * SR,)
    assert np.abs(audio).max() <= 1.0
    assert len(truth) >= 8
    assert {e.label for e in truth} <= {*WORDS, UNKNOWN}
    assert any(e.label == UNKNOWN for e in truth) and any(e.label != UNKNOWN for e in truth)
    assert all(e.word in ("cat", "bed") for e in truth if e.label == UNKNOWN)
    for prev, e in zip([None, *truth[:-1]], truth, strict=True):
        assert 0 <= e.start < e.end <= 20.0 and e.end - e.start < 1.0
        if prev is not None:
            assert e.start >= prev.end + 0.3 - 1e-9 and e.start - prev.start >= 1.0 - 1e-9
    # words are where the truth says: much louder than the pauses between them
    inside = np.zeros(len(audio), bool)
    for e in truth:
        inside[round(e.start * SR) : round(e.end * SR)] = True
    rms = lambda m: float(np.sqrt(np.mean(audio[m].astype(np.float64) ** 2)))
    assert rms(inside) > 3 * rms(~inside)
    again, truth2 = build_stream(data, split="all", seconds=20.0, seed=3, snr_db=(15.0, 20.0))
    assert np.array_equal(audio, again) and truth == truth2
    other, _ = build_stream(data, split="all", seconds=20.0, seed=4, snr_db=(15.0, 20.0))
    assert not np.array_equal(audio, other)


# --- matching and the sweep, without a model ----------------------------------------------


def test_score_detections_rule() -> None:
    truth = [
        TruthEvent("yes", 1.0, 1.4, "yes"),
        TruthEvent(UNKNOWN, 3.0, 3.5, "cat"),
        TruthEvent("no", 5.0, 5.3, "no"),
        TruthEvent("up", 7.0, 7.4, "up"),
        TruthEvent("yes", 9.0, 9.5, "yes"),
    ]
    d = lambda label, t: Detection(label, 0.9, t)
    s = score_detections(
        [
            TimedDetection(d("yes", 1.3), emitted=1.6),  # hit, -0.1 s; emitted +0.2 s
            d("yes", 1.8),  # the same word again: a false alarm
            d("no", 3.2),  # on the non-command word: a false alarm
            d("no", 5.0 - 0.25),  # window start, inclusive: hit
            d("yes", 7.4 + 0.5),  # window end, inclusive: a wrong label for "up"
            d("go", 9.5 + 0.51),  # just past the window: a false alarm in a pause
        ],
        truth,
    )
    assert (s.commands, s.unknown_words) == (4, 1)
    assert (s.hits, s.wrong_label, s.false_alarms, s.false_alarms_on_unknown) == (2, 1, 3, 1)
    assert s.recall == 0.5
    assert s.latencies == pytest.approx((-0.1, -0.55))
    assert s.emission_latencies == pytest.approx((0.2,))  # only the timed one
    assert s.per_label == {"no": (1, 1), "up": (0, 1), "yes": (1, 2)}
    both = s + score_detections([], truth)
    assert (both.commands, both.hits, both.per_label["yes"]) == (8, 2, (1, 4))
    # two commands in reach: the one with the detection's label wins, then the nearest
    near = [TruthEvent("yes", 1.0, 1.4), TruthEvent("no", 1.6, 2.0)]
    assert score_detections([d("no", 1.5)], near).hits == 1
    assert score_detections([d("up", 1.45)], near).per_label == {"no": (0, 1), "yes": (0, 1)}


def test_chunk_bounds_follow_the_stream() -> None:
    assert chunk_bounds(10, 1600, 320) == [5, 10]
    assert chunk_bounds(7, 1234, 320) == [3, 7]  # 1234 -> 3 frames, 2468 -> 7 frames
    assert chunk_bounds(0, 1600, 320) == []


def _oracle(
    truth: list[TruthEvent], frames: int, labels: tuple[str, ...], unknown_as: str | None = None
) -> np.ndarray:
    """One-hot posteriors on the truth: the word's label while it is spoken, else silence."""
    p = np.zeros((frames, len(labels)), np.float32)
    p[:, labels.index("_silence_")] = 1.0
    for e in truth:
        a, b = round(e.start / 0.02), round(e.end / 0.02)
        label = unknown_as if (e.label == UNKNOWN and unknown_as) else e.label
        p[a:b] = 0.0
        p[a:b, labels.index(label)] = 1.0
    return p


def test_oracle_posteriors_give_full_recall_and_no_false_alarms(data: Path) -> None:
    labels = SpeechConfig().labels
    split = index_split(data, "all", seed=0, silence_fraction=0.0, unknown_fraction=0.5)
    spec = StreamSpec(seconds=20.0)
    recs = [make_recording(split, spec, seed=0, recording=i) for i in range(2)]
    frames = 20 * SR // 320
    streams = [PosteriorStream(_oracle(t, frames, labels), tuple(t)) for _, t, _ in recs]
    quiet = np.zeros((3000, len(labels)), np.float32)
    quiet[:, labels.index("_silence_")] = 1.0
    config = DetectorConfig(frame_seconds=0.02)
    thresholds = [0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99]
    points, scores = sweep_thresholds(
        streams, [PosteriorStream(quiet)], labels, config, thresholds, chunk=CHUNK, hop=320
    )
    n_commands = sum(e.label != UNKNOWN for _, t, _ in recs for e in t)
    n_unknown = sum(e.label == UNKNOWN for _, t, _ in recs for e in t)
    assert n_commands >= 10 and n_unknown >= 2
    for p, s in zip(points, scores, strict=True):
        assert 0.0 <= (p.recall or 0.0) <= 1.0 and s.commands == n_commands
        assert p.false_alarms == p.noise_false_alarms == p.wrong_label == 0
        assert p.fa_per_hour == 0.0 and p.fa_per_unknown_word == 0.0
        assert sum(n for _, n in s.per_label.values()) == n_commands
        assert all(-1.0 <= x <= 0.1 for x in s.latencies)  # the peak is inside the word
        assert all(0.0 < x <= 0.7 for x in s.emission_latencies)  # out after the word
    recalls = [p.recall for p in points]
    assert recalls[:3] == [1.0, 1.0, 1.0]
    assert all(a >= b for a, b in itertools.pairwise(recalls)), recalls
    # every non-command word heard as a command: exactly one false alarm each
    confused = [
        PosteriorStream(_oracle(t, frames, labels, unknown_as="go"), tuple(t)) for _, t, _ in recs
    ]
    (p,), _ = sweep_thresholds(confused, [], labels, config, [0.5], chunk=CHUNK, hop=320)
    assert p.recall == 1.0 and p.false_alarms == n_unknown and p.fa_per_unknown_word == 1.0
    assert p.fa_per_hour is None  # no noise-only audio scored


# --- streaming end to end ------------------------------------------------------------------


def test_evaluate_stream_matches_the_live_stream(
    bundle: Path, run: Path, data: Path, tmp_path: Path
) -> None:
    kw = dict(split="all", n_recordings=2, seconds=12.0, noise_minutes=0.5, seed=1)
    thresholds = [0.3, 0.5, 0.7, 0.9]
    r = evaluate_stream(bundle, data, thresholds=thresholds, out_dir=tmp_path, **kw)
    truths = [build_stream(data, split="all", seconds=12.0, seed=1, recording=i)[1] for i in (0, 1)]
    assert r.commands == sum(e.label != UNKNOWN for t in truths for e in t) > 0
    assert r.unknown_words == sum(e.label == UNKNOWN for t in truths for e in t)
    assert [p.threshold for p in r.sweep] == thresholds and r.operating.threshold == 0.7
    assert r.sweep[2] == r.operating
    for p in r.sweep:
        assert p.recall is not None and 0.0 <= p.recall <= 1.0
        assert p.hits + p.wrong_label <= r.commands
        assert p.fa_per_hour == pytest.approx(p.noise_false_alarms / (0.5 / 60), rel=1e-3)
    assert any(p.hits + p.wrong_label + p.false_alarms for p in r.sweep)  # it did detect
    saved = json.loads((tmp_path / "stream_eval.json").read_text())
    assert saved == json.loads(json.dumps(r.to_json()))
    with Image.open(tmp_path / "stream_thresholds.png") as im:
        assert im.format == "PNG" and im.size[0] > 800
    assert "operating threshold 0.70" in format_stream_report(r)

    # the torch run gives the same posteriors, hence the same report
    t = evaluate_stream(run, data, thresholds=thresholds, **kw)
    assert replace(t, model=r.model, model_kind="bundle") == replace(r, figure=None, json_path=None)

    # the detections of the sweep are those of the runtime's own stream, fed chunk by chunk,
    # and come out at the same moment
    audio, _ = build_stream(data, split="all", seconds=12.0, seed=1, recording=0)
    m = load_eval_model(bundle)
    post = m.frame_posteriors(audio, CHUNK)
    np.testing.assert_allclose(post, load_eval_model(run).frame_posteriors(audio, CHUNK),
                               atol=1e-4)  # fmt: skip
    config = replace(m.detector_config(), threshold=0.5)
    ours = run_detector(post, m.labels, config, chunk_bounds(len(post), CHUNK, m.hop))
    stream = SpeechClassifier.from_dir(bundle).stream(config)
    live = []
    for i in range(0, len(audio), CHUNK):
        live += [(d, (i + CHUNK) / SR) for d in stream.accept(audio[i : i + CHUNK])]
    live += [(d, len(audio) / SR) for d in stream.flush()]
    assert [td.detection for td in ours] == [d for d, _ in live]
    assert [td.emitted for td in ours] == pytest.approx([t for _, t in live])
    assert len(live) > 0


def test_evaluate_stream_is_deterministic(bundle: Path, data: Path) -> None:
    kw = dict(split="all", n_recordings=1, seconds=8.0, noise_minutes=0.2, thresholds=[0.5])
    a = evaluate_stream(bundle, data, seed=5, **kw)
    b = evaluate_stream(bundle, data, seed=5, **kw)
    c = evaluate_stream(bundle, data, seed=6, **kw)
    assert a == b
    assert a.snr_db != c.snr_db


def test_cli_eval_speech_and_stream_write_reports_with_their_command(
    bundle: Path, data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lstm_apps.cli import main

    argv = ["eval", "speech", str(bundle), "--data", str(data), "--split", "all",
            "--out", str(tmp_path / "clips")]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "clips" / "speech_eval.json").read_text())
    assert report["command"] == "lstm-apps " + " ".join(argv)
    assert re.search(rf"overall\s+{report['n']}\s+{report['accuracy']:.2%}", out), out
    assert (tmp_path / "clips" / "confusion_all.png").is_file()
    argv = ["eval", "stream", str(bundle), "--data", str(data), "--recordings", "1",
            "--seconds", "15", "--noise-minutes", "0.5",
            "--out", str(tmp_path / "stream")]  # fmt: skip
    assert main(argv) == 0
    report = json.loads((tmp_path / "stream" / "stream_eval.json").read_text())
    assert report["command"] == "lstm-apps " + " ".join(argv)
    assert report["n_recordings"] == 1 and report["commands"] > 0
    assert "recall" in capsys.readouterr().out
    # a folder that is neither a bundle nor a run: one clean line, exit 2
    assert main(["eval", "speech", str(tmp_path), "--data", str(data)]) == 2
    assert str(tmp_path) in capsys.readouterr().err
