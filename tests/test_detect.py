"""Streaming keyword detection: smoothing, one detection per word (hysteresis and hold),
refractory, chunk invariance."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstm_apps.runtime import InputDTypeError, InputError, InputShapeError
from lstm_apps.runtime.detect import Detection, Detector, DetectorConfig, softmax

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "speech"

LABELS = ["_silence_", "_unknown_", "yes", "no", "up", "off"]
HOP = 0.02
CFG = DetectorConfig(frame_seconds=HOP)  # smooth 0.2 s = 10 frames, threshold 0.7, refr. 0.8 s


def stream(seconds: float, words: list[tuple[str, float]], *, half_width: int = 12) -> np.ndarray:
    """Posteriors (frames, classes): silence, with a raised-cosine bump per (label, centre s)."""
    n = round(seconds / HOP)
    p = np.zeros((n, len(LABELS)), np.float64)
    p[:, 0] = 1.0
    for label, centre in words:
        c = round(centre / HOP)
        k = LABELS.index(label)
        for d in range(-half_width, half_width + 1):
            if 0 <= c + d < n:
                bump = 0.5 * (1 + np.cos(np.pi * d / (half_width + 1)))
                p[c + d, k] += bump
                p[c + d, 0] -= bump
    return p.astype(np.float32)


def run(det: Detector, probs: np.ndarray, cuts: list[int] | None = None) -> list[Detection]:
    out: list[Detection] = []
    bounds = [0, *sorted(cuts or []), len(probs)]
    for a, b in pairwise(bounds):
        out += det.push(probs[a:b])
    return out + det.flush()


def test_one_clean_bump_gives_one_detection_at_its_peak() -> None:
    dets = run(Detector(LABELS, CFG), stream(3.0, [("yes", 1.0)]))
    assert len(dets) == 1
    (d,) = dets
    assert d.label == "yes"
    assert abs(d.time - 1.0) <= HOP  # even window: the smoothed peak is a two-frame plateau
    # the score is the moving average's peak over the bump
    ma = np.convolve(stream(3.0, [("yes", 1.0)])[:, 2], np.ones(10) / 10)
    assert d.score == pytest.approx(ma.max(), abs=1e-6)
    assert CFG.threshold < d.score < 1.0


def test_odd_window_puts_the_time_exactly_on_the_peak() -> None:
    cfg = DetectorConfig(frame_seconds=HOP, smooth_seconds=0.18)  # 9 frames
    assert cfg.smooth_frames == 9
    (d,) = run(Detector(LABELS, cfg), stream(3.0, [("up", 1.3)]))
    assert d.label == "up" and d.time == pytest.approx(1.3, abs=1e-9)


def test_two_words_one_second_apart_give_two_detections() -> None:
    dets = run(Detector(LABELS, CFG), stream(4.0, [("yes", 1.0), ("no", 2.0)]))
    assert [d.label for d in dets] == ["yes", "no"]
    assert [round(d.time, 1) for d in dets] == [1.0, 2.0]


def test_detections_are_returned_by_the_push_that_completes_them() -> None:
    det = Detector(LABELS, CFG)
    probs = stream(4.0, [("yes", 1.0), ("no", 2.5)])
    first = det.push(probs[:90])  # 1.8 s: the first word is over, the second not begun
    assert [d.label for d in first] == ["yes"]
    assert [d.label for d in det.push(probs[90:])] == ["no"]
    assert det.flush() == []


def test_noise_below_threshold_never_fires() -> None:
    rng = np.random.default_rng(0)
    n = 500
    p = np.zeros((n, len(LABELS)), np.float32)
    p[:, 2:] = rng.dirichlet(np.ones(4), n) * rng.uniform(0, 0.65, (n, 1))
    near = rng.random(n) < 0.3  # frequent runs of frames just under the threshold
    p[near] = [0.31, 0, 0.69, 0, 0, 0]
    p[:, 0] = 1 - p[:, 1:].sum(axis=1)
    raw = DetectorConfig(frame_seconds=HOP, smooth_seconds=0, min_frames=1)
    assert run(Detector(LABELS, CFG), p) == []
    assert run(Detector(LABELS, raw), p) == []
    p[near] = [0.29, 0, 0.71, 0, 0, 0]  # just over: now the unsmoothed detector fires
    assert len(run(Detector(LABELS, raw), p)) > 0


def test_a_one_frame_spike_does_not_fire() -> None:
    p = stream(2.0, [])
    p[50] = [0, 0, 1, 0, 0, 0]
    assert run(Detector(LABELS, CFG), p) == []
    # without smoothing and with min_frames=1 the same spike does fire
    raw = DetectorConfig(frame_seconds=HOP, smooth_seconds=0, min_frames=1)
    (d,) = run(Detector(LABELS, raw), p)
    assert d == Detection("yes", 1.0, 1.0)


def test_ignored_labels_never_fire() -> None:
    p = stream(4.0, [("_unknown_", 1.0), ("yes", 2.5)])
    assert [d.label for d in run(Detector(LABELS, CFG), p)] == ["yes"]
    silent = stream(2.0, [])  # _silence_ at 1.0 throughout
    assert run(Detector(LABELS, CFG), silent) == []
    # un-ignoring _unknown_ makes it fire: the ignore list is what keeps it quiet
    cfg = DetectorConfig(frame_seconds=HOP, ignore=("_silence_",))
    assert [d.label for d in run(Detector(LABELS, cfg), p)] == ["_unknown_", "yes"]


def test_refractory_suppresses_a_second_word_too_close() -> None:
    words = [("yes", 1.0), ("no", 1.6)]  # 0.6 s apart
    p = stream(4.0, words, half_width=8)
    assert [d.label for d in run(Detector(LABELS, CFG), p)] == ["yes"]
    short = DetectorConfig(frame_seconds=HOP, refractory_seconds=0.4)
    dets = run(Detector(LABELS, short), p)
    assert [d.label for d in dets] == ["yes", "no"]
    assert dets[1].time - dets[0].time == pytest.approx(0.6, abs=HOP)


def test_a_score_that_stays_high_fires_once_without_waiting_for_the_end() -> None:
    p = stream(5.0, [])
    p[50:200] = [0, 0, 1, 0, 0, 0]  # "yes" held for 3 s
    det = Detector(LABELS, CFG)
    early = det.push(p[:110])  # 2.2 s: the run began at 1.0 s (+ smoothing), 0.8 s cap
    assert [d.label for d in early] == ["yes"]
    assert det.push(p[110:]) == [] and det.flush() == []


def test_a_label_switch_inside_one_word_gives_one_detection() -> None:
    p = stream(3.0, [("up", 1.0)], half_width=15)
    p[45:55, 5], p[45:55, 4] = p[45:55, 4], 0.0  # "off" takes the middle of the word
    (d,) = run(Detector(LABELS, CFG), p)
    assert d.label == "off"


GD = ["_silence_", "_unknown_", "go", "down"]


def onset_then_word(gap: int) -> np.ndarray:
    """The issue's "down": "go" leads on the onset, `gap` frames of silence, then "down".

    Raw frames: 50 of silence, "go" at 0.76 for 12 (frames 50-61), silence for `gap`,
    "down" at 0.92 for 20 (from 62 + gap), silence to 3 s; the rest goes to _unknown_.
    """
    p = np.zeros((150, len(GD)), np.float32)
    p[:, 0] = 1.0
    p[50:62] = [0, 0.24, 0.76, 0]
    start = 62 + gap
    p[start : start + 20] = [0, 0.08, 0, 0.92]
    return p


def smoothed(p: np.ndarray, col: int, window: int = 10) -> np.ndarray:
    return np.convolve(p[:, col], np.ones(window) / window)[: len(p)]


def test_an_early_bump_on_the_onset_does_not_block_the_word() -> None:
    p = onset_then_word(gap=4)
    go, down = smoothed(p, 2), smoothed(p, 3)
    # the premise: smoothed "go" holds >= 0.7 for min_frames, then dips below release
    # (0.35) for 2 frames, and "down" crosses 0.7 within the refractory period after it
    assert np.isclose(go.max(), 0.76) and (go >= 0.7 - 1e-6).sum() == 3
    m = np.maximum(go, down)
    assert (m[62:80] < 0.35).sum() == 2
    first_go, first_down = int(np.argmax(go >= 0.7 - 1e-6)), int(np.argmax(down >= 0.7))
    assert 0 < first_down - first_go < CFG.refractory_frames
    (d,) = run(Detector(GD, CFG), p)
    assert d.label == "down"
    assert d.score == pytest.approx(0.92, abs=1e-6)
    # the smoothed plateau begins at frame 66 + 9 = 75; its window is centred on 70.5
    assert d.time == pytest.approx(70.5 * HOP, abs=1e-9)
    # without the hold the 2-frame dip splits the word: "go" fires and blocks "down"
    no_hold = DetectorConfig(frame_seconds=HOP, hold_seconds=0)
    assert [d.label for d in run(Detector(GD, no_hold), p)] == ["go"]
    # nor without hysteresis, even with no dip at all (the first crossing decides)
    old = DetectorConfig(frame_seconds=HOP, release_threshold=0.7, hold_seconds=0)
    assert [d.label for d in run(Detector(GD, old), onset_then_word(gap=0))] == ["go"]
    assert [d.label for d in run(Detector(GD, CFG), onset_then_word(gap=0))] == ["down"]


def test_go_then_down_a_second_apart_are_two_words() -> None:
    p = np.zeros((200, len(GD)), np.float32)
    p[:, 0] = 1.0
    p[50:70] = [0, 0.1, 0.9, 0]  # "go" on 1.0-1.4 s
    p[100:120] = [0, 0.1, 0, 0.9]  # "down" on 2.0-2.4 s
    dets = run(Detector(GD, CFG), p)
    assert [d.label for d in dets] == ["go", "down"]
    # each at its smoothed plateau's first frame, 59 and 109, minus the 4.5-frame delay
    assert [d.time for d in dets] == pytest.approx([54.5 * HOP, 104.5 * HOP], abs=1e-9)


def raw(**kw: Any) -> DetectorConfig:
    """No smoothing, no refractory, one frame >= threshold suffices: the bump rule alone."""
    return DetectorConfig(HOP, smooth_seconds=0, refractory_seconds=0, min_frames=1, **kw)


RAW = raw()


def raw_scores(*runs: tuple[str, float, int]) -> np.ndarray:
    """Unsmoothed posteriors from (label, p, frames) runs after 10 frames of silence."""
    rows = [[1.0, 0, 0, 0, 0, 0]] * 10
    for label, v, k in runs:
        row = [1 - v, 0, 0, 0, 0, 0]
        row[LABELS.index(label)] += v
        rows += [row] * k
    return np.array(rows + [[1.0, 0, 0, 0, 0, 0]] * 20, np.float32)


@pytest.mark.parametrize("dip, labels", [(8, ["no"]), (9, ["yes", "no"])])
def test_a_dip_joins_the_bump_for_at_most_hold_frames(dip: int, labels: list[str]) -> None:
    assert RAW.hold_frames == 8 and RAW.release == 0.35
    p = raw_scores(("yes", 0.8, 3), ("yes", 0.1, dip), ("no", 0.9, 3))
    assert [d.label for d in run(Detector(LABELS, RAW), p)] == labels


def test_a_bump_goes_on_while_above_release_and_closes_after_the_hold() -> None:
    p = raw_scores(("yes", 0.8, 3), ("up", 0.4, 20), ("no", 0.9, 3))  # 0.4: above release
    assert [d.label for d in run(Detector(LABELS, RAW), p)] == ["no"]
    higher = raw(release_threshold=0.5)
    assert [d.label for d in run(Detector(LABELS, higher), p)] == ["yes", "no"]
    # "no" is on frames 33-35; the dip from 36 may last 8 frames, so frame 44 closes the bump
    det = Detector(LABELS, RAW)
    assert det.push(p[:44]) == []
    (d,) = det.push(p[44:45])
    assert (d.label, d.time) == ("no", 33 * HOP) and d.score == pytest.approx(0.9)
    # a shorter cap decides the bump at its 20th frame (29), on "yes", and ignores the rest
    det = Detector(LABELS, raw(max_bump_seconds=0.4))
    assert det.push(p[:29]) == []
    assert [d.label for d in det.push(p[29:30])] == ["yes"]
    assert det.push(p[30:]) + det.flush() == []


def test_after_the_cap_the_next_word_may_start_at_the_first_dip() -> None:
    # the shipped model's scores stay high ~1.3 s per word, so each word reaches the cap,
    # and consecutive words in samples/speech/stream.wav are split by dips of ~6 frames:
    # a hold there would merge a decided word with the next one and lose it
    p = raw_scores(("yes", 0.9, 50), ("yes", 0.1, 3), ("no", 0.9, 3))
    det = Detector(LABELS, RAW)
    assert [d.label for d in det.push(p[:50])] == ["yes"]  # decided at frame 49, the 40th
    assert [d.label for d in det.push(p[50:]) + det.flush()] == ["no"]


def test_thresholds_compare_exactly_and_ties_go_to_the_first_frame() -> None:
    p = raw_scores(("yes", 0.7, 5))  # float32(0.7) = 0.69999999 < 0.7: no detection
    assert float(p[12, 2]) < 0.7 and run(Detector(LABELS, RAW), p) == []
    at = DetectorConfig(frame_seconds=HOP, smooth_seconds=0, threshold=float(np.float32(0.7)))
    assert [d.label for d in run(Detector(LABELS, at), p)] == ["yes"]
    p = raw_scores(("yes", 0.75, 1), ("no", 0.8, 2), ("yes", 0.8, 2), ("no", 0.6, 1))
    (d,) = run(Detector(LABELS, RAW), p)
    assert (d.label, d.time) == ("no", 11 * HOP)  # the first of four frames at 0.8


def test_min_frames() -> None:
    p = stream(2.0, [("yes", 1.0)], half_width=4)
    strict = DetectorConfig(frame_seconds=HOP, smooth_seconds=0, min_frames=4)
    loose = DetectorConfig(frame_seconds=HOP, smooth_seconds=0, min_frames=3)
    # the raw bump is >= 0.7 on exactly 3 frames
    assert int((p[:, 2] >= 0.7).sum()) == 3
    assert run(Detector(LABELS, strict), p) == []
    assert [d.label for d in run(Detector(LABELS, loose), p)] == ["yes"]


def test_flush_emits_a_word_cut_by_the_end_of_the_stream() -> None:
    p = stream(1.1, [("no", 1.0)])  # ends 0.1 s after the word's peak
    det = Detector(LABELS, CFG)
    assert det.push(p) == []
    (d,) = det.flush()
    assert d.label == "no" and abs(d.time - 1.0) <= 2 * HOP
    assert det.flush() == []


def test_reset_starts_a_new_stream_at_time_zero() -> None:
    p = stream(2.0, [("yes", 1.0)])
    det = Detector(LABELS, CFG)
    first = run(det, p)
    det.reset()
    assert det.frames_seen == 0
    assert run(det, p) == first and len(first) == 1


def random_stream(seed: int) -> np.ndarray:
    """8 s of words (some _unknown_) at random gaps, some overlapping, plus noise."""
    rng = np.random.default_rng(seed)
    words, t = [], 0.3
    while t < 7.5:
        words.append((str(rng.choice(LABELS[1:])), t))
        t += float(rng.uniform(0.3, 1.5))
    p = stream(8.0, words, half_width=int(rng.integers(10, 16))).astype(np.float64)
    p[:, 0] = 0
    p[:, 0] = np.clip(1 - p.sum(axis=1), 0, None)
    p /= p.sum(axis=1, keepdims=True)  # overlapping words share the frame
    noise = rng.dirichlet(np.ones(len(LABELS)), len(p))
    return (0.9 * p + 0.1 * noise).astype(np.float32)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 20),
    cuts=st.lists(st.integers(0, 400), max_size=30),
    smooth=st.sampled_from([0.0, 0.1, 0.18, 0.2]),
    refractory=st.sampled_from([0.0, 0.3, 0.8]),
    release=st.sampled_from([None, 0.2, 0.5, 0.7]),
    hold=st.sampled_from([0.0, 0.06, 0.16, 0.3]),
)
def test_chunking_never_changes_the_detections(
    seed: int, cuts: list[int], smooth: float, refractory: float, release: float | None, hold: float
) -> None:
    cfg = DetectorConfig(
        frame_seconds=HOP,
        smooth_seconds=smooth,
        refractory_seconds=refractory,
        release_threshold=release,
        hold_seconds=hold,
    )
    p = random_stream(seed)
    whole = run(Detector(LABELS, cfg), p)
    assert len(whole) >= 2  # the streams hold words: the comparison is not vacuous
    assert run(Detector(LABELS, cfg), p, cuts) == whole
    # one frame at a time, too
    det = Detector(LABELS, cfg)
    assert [d for i in range(len(p)) for d in det.push(p[i : i + 1])] + det.flush() == whole
    # and the refractory rule holds on every stream
    times = [d.time for d in whole]
    assert all(b - a >= refractory - 1e-9 for a, b in pairwise(times))
    assert all(d.label not in cfg.ignore and d.score >= cfg.threshold for d in whole)


def test_push_rejects_bad_input() -> None:
    det = Detector(LABELS, CFG)
    with pytest.raises(InputShapeError, match=r"\(frames, 6\).*\(10, 5\)"):
        det.push(np.zeros((10, 5), np.float32))
    with pytest.raises(InputShapeError, match=r"\(frames, 6\).*\(6,\)"):
        det.push(np.zeros(6, np.float32))
    with pytest.raises(InputDTypeError, match="int64"):
        det.push(np.zeros((3, 6), np.int64))
    with pytest.raises(InputError, match="NaN"):
        det.push(np.full((3, 6), np.nan, np.float32))
    with pytest.raises(InputError, match="apply softmax"):
        det.push(np.full((3, 6), 3.0, np.float32))
    assert det.push(np.zeros((0, 6), np.float32)) == [] and det.frames_seen == 0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"frame_seconds": 0}, "frame_seconds"),
        ({"frame_seconds": HOP, "threshold": 1.5}, "threshold"),
        ({"frame_seconds": HOP, "smooth_seconds": -1}, "smooth_seconds"),
        ({"frame_seconds": HOP, "refractory_seconds": float("nan")}, "refractory_seconds"),
        ({"frame_seconds": HOP, "min_frames": 0}, "min_frames"),
        ({"frame_seconds": HOP, "ignore": "_silence_"}, "ignore"),
        ({"frame_seconds": HOP, "release_threshold": 0}, "release_threshold"),
        ({"frame_seconds": HOP, "release_threshold": 0.8}, r"release_threshold.*threshold=0\.7"),
        ({"frame_seconds": HOP, "threshold": 0.3, "release_threshold": 0.35}, "release_thr"),
        ({"frame_seconds": HOP, "release_threshold": float("nan")}, "release_threshold"),
        ({"frame_seconds": HOP, "release_threshold": "0.3"}, "release_threshold"),
        ({"frame_seconds": HOP, "hold_seconds": -0.1}, "hold_seconds"),
        ({"frame_seconds": HOP, "hold_seconds": None}, "hold_seconds"),
        ({"frame_seconds": HOP, "hold_seconds": float("inf")}, "hold_seconds"),
        ({"frame_seconds": HOP, "max_bump_seconds": 0}, "max_bump_seconds"),
    ],
)
def test_config_rejects_bad_values(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InputError, match=match):
        DetectorConfig(**kwargs)  # type: ignore[arg-type]


def test_detector_rejects_bad_labels() -> None:
    with pytest.raises(InputError, match="unique"):
        Detector(["yes", "yes"], CFG)
    with pytest.raises(InputError, match="sequence of str"):
        Detector("yes", CFG)


def test_softmax_is_stable_and_exact() -> None:
    x = np.array([[1.0, 2.0, 3.0], [1000.0, 1001.0, 1002.0], [-1e4, 0.0, -np.inf]], np.float32)
    y = softmax(x)
    assert y.dtype == np.float32 and np.isfinite(y).all()
    ref = np.exp([1.0, 2.0, 3.0]) / np.exp([1.0, 2.0, 3.0]).sum()
    np.testing.assert_allclose(y[0], ref, rtol=1e-6)
    np.testing.assert_allclose(y[1], ref, rtol=1e-6)  # shift-invariant, no overflow
    np.testing.assert_array_equal(y[2], [0, 1, 0])
    np.testing.assert_allclose(y.sum(axis=-1), 1, rtol=1e-6)
    np.testing.assert_allclose(softmax(x[:2].T.astype(np.float64), axis=0), y[:2].T, rtol=1e-6)
    assert softmax(x.astype(np.float64)).dtype == np.float64


def test_softmax_errors() -> None:
    with pytest.raises(InputDTypeError):
        softmax(np.array([1, 2, 3]))  # type: ignore[type-var]
    with pytest.raises(InputError, match=r"NaN or \+inf"):
        softmax(np.array([1.0, np.nan]))
    with pytest.raises(InputError, match="every logit -inf"):
        softmax(np.array([[0.0, 1.0], [-np.inf, -np.inf]]))
    with pytest.raises(InputShapeError, match="out of range"):
        softmax(np.zeros((2, 3)), axis=2)
    with pytest.raises(InputShapeError, match="empty"):
        softmax(np.zeros((2, 0)))


OLD_BUNDLE = {
    "smooth_seconds": 0.2,
    "threshold": 0.7,
    "refractory_seconds": 0.8,
    "min_frames": 3,
    "ignore": ["_silence_", "_unknown_"],
}


def test_settings_round_trip_and_unknown_keys_are_named() -> None:
    for cfg in (
        DetectorConfig(frame_seconds=0.02, threshold=0.8, ignore=("_silence_",)),
        DetectorConfig(
            frame_seconds=0.02, release_threshold=0.4, hold_seconds=0.1, max_bump_seconds=1
        ),
    ):
        assert DetectorConfig.from_settings(0.02, cfg.settings()) == cfg
        assert DetectorConfig.from_settings(0.02, json.loads(json.dumps(cfg.settings()))) == cfg
    assert DetectorConfig.from_settings(0.02, {}) == DetectorConfig(frame_seconds=0.02)
    # a bundle written before the bump settings existed gets the defaults
    old = DetectorConfig.from_settings(0.02, OLD_BUNDLE)
    assert old == DetectorConfig(frame_seconds=0.02)
    assert (old.release_threshold, old.release, old.hold_frames) == (None, 0.35, 8)
    assert old.max_bump_frames == 40  # as its cap was: max(refractory_frames, min_frames)
    # the default release follows the threshold, so overriding the threshold alone is valid
    low = DetectorConfig.from_settings(0.02, {**OLD_BUNDLE, "threshold": 0.3})
    assert low.release == 0.15
    added = set(DetectorConfig(frame_seconds=0.02).settings()) - set(OLD_BUNDLE)
    assert added == {"release_threshold", "hold_seconds", "max_bump_seconds"}
    with pytest.raises(InputError, match="unknown keys \\['hold'\\]"):
        DetectorConfig.from_settings(0.02, {"hold": 3})


def test_the_shipped_bundle_carries_its_detector_settings() -> None:
    from lstm_apps.runtime.speech import SpeechClassifier

    clf = SpeechClassifier.default()
    meta = clf.model.metadata["detector"]
    shipped = DetectorConfig.from_settings(0.02, meta)
    # the bundle names every setting (tuned on flite by `lstm-apps eval detector`); keys
    # missing from a bundle written before them would take the defaults
    assert set(meta) == set(DetectorConfig(frame_seconds=0.02).settings()) >= set(OLD_BUNDLE)
    assert shipped.settings() == meta
    assert clf.detector_config() == shipped
    assert clf.stream().detector.config == clf.detector_config()
    custom = clf.detector_config(threshold=0.9)
    assert custom.threshold == 0.9 and custom.smooth_seconds == clf.detector_config().smooth_seconds


def test_feed_equals_accepting_the_chunks_then_flushing() -> None:
    from lstm_apps.runtime.audio import load_audio
    from lstm_apps.runtime.speech import SpeechClassifier

    clf = SpeechClassifier.default()
    audio = load_audio(str(SAMPLES / "stream.wav"), target_rate=clf.sample_rate)
    stream = clf.stream()
    manual = [d for i in range(0, len(audio), 1600) for d in stream.accept(audio[i : i + 1600])]
    manual += stream.flush()
    assert manual and list(clf.stream().feed(audio, 1600)) == manual
    with pytest.raises(InputError, match="chunk must be a positive int, got 0"):
        list(clf.stream().feed(audio, 0))
