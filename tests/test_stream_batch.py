"""StreamBatch: many streams, one batched stream.onnx call per step, each stream's detections
those of the same audio through its own CommandStream (labels and times exactly, scores to
float32 rounding: onnxruntime's GEMM rounds a batch of one differently)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from lstm_apps import AudioInputError, DetectorConfig, InputError, SpeechClassifier
from lstm_apps.runtime.detect import Detector, push_many

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def clf() -> SpeechClassifier:
    return SpeechClassifier.from_dir(ROOT / "export" / "speech")


def _voices() -> list[tuple[np.ndarray, int]]:
    """Eight streams of the sample recording: shifted, in noise, at other rates."""
    import soxr

    audio, rate = sf.read(ROOT / "samples" / "speech" / "stream.wav", dtype="float32")
    rng = np.random.default_rng(0)
    out = []
    for k in range(8):
        x = np.roll(audio, 7919 * k) * np.float32(0.4 + 0.1 * k)
        x = x + rng.normal(0, 0.003 * k, len(x)).astype(np.float32)
        r = (16000, 8000, 44100, 16000)[k % 4]
        if r != rate:
            x = soxr.resample(x, rate, r).astype(np.float32)
        out.append((np.clip(x, -1, 1), r))
    return out


def _pieces(n: int, rate: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """(start, end) of chunks of uneven sizes, 1 ms to 300 ms, covering n samples."""
    cuts, i = [], 0
    while i < n:
        j = min(n, i + int(rng.integers(rate // 1000, rate * 3 // 10)))
        cuts.append((i, j))
        i = j
    return cuts


@pytest.mark.parametrize("max_batch", [32, 3])  # 3: a step splits the streams into calls
def test_every_stream_equals_its_solo_stream(clf: SpeechClassifier, max_batch: int) -> None:
    rng = np.random.default_rng(1)
    voices = _voices()
    loose = DetectorConfig(frame_seconds=0.02, threshold=0.5)
    configs = [None if k % 3 else loose for k in range(len(voices))]
    # Each stream joins at its own tick, one leaves halfway, chunks arrive unevenly and
    # some streams skip ticks; the batch sees them all interleaved.
    plan = []
    for k, (x, r) in enumerate(voices):
        pieces = _pieces(len(x) if k != 5 else len(x) // 2, r, rng)
        plan.append({"join": int(rng.integers(0, 20)), "pieces": pieces, "x": x, "rate": r})
    solo = []
    for k, p in enumerate(plan):
        s = clf.stream(configs[k])
        found = [d for a, b in p["pieces"] for d in s.accept(p["x"][a:b], p["rate"])]
        solo.append(found + s.flush())

    batch = clf.stream_batch(max_batch=max_batch)
    got: dict[int, list] = {k: [] for k in range(len(plan))}
    left = {k: list(p["pieces"]) for k, p in enumerate(plan)}
    tick, calls = 0, 0
    while any(left.values()) or len(batch):
        for k, p in enumerate(plan):
            if tick == p["join"]:
                assert batch.open(k, config=configs[k]) == k
            if k in batch and left[k] and rng.random() < 0.8:  # some ticks bring nothing
                n = int(rng.integers(1, 4))
                for a, b in left[k][:n]:
                    batch.accept(k, p["x"][a:b], p["rate"])
                del left[k][:n]
            elif k in batch and not left[k]:
                got[k] += batch.close(k)
        for k, found in batch.step().items():
            got[k] += found
        calls += 1
        tick += 1
    assert calls > 20
    assert sum(len(d) for d in solo) >= 20  # the streams do detect commands
    for k in range(len(plan)):
        assert [(d.label, d.time) for d in got[k]] == [(d.label, d.time) for d in solo[k]], k
        np.testing.assert_allclose(
            [d.score for d in got[k]], [d.score for d in solo[k]], rtol=0, atol=1e-5
        )


def test_a_stream_without_audio_does_not_advance(clf: SpeechClassifier) -> None:
    batch = clf.stream_batch()
    a, b = batch.open(), batch.open()
    batch.accept(a, np.zeros(1600, np.float32))
    batch.accept(b, np.zeros(100, np.float32))  # less than one hop: nothing to run yet
    assert batch.step() == {}
    assert batch.seconds(a) == pytest.approx(0.1) and batch.seconds(b) == 0.0
    assert batch.queued(b) == pytest.approx(100 / 16000)
    batch.step()
    assert batch.seconds(a) == pytest.approx(0.1)  # nothing new: no frames
    assert batch.close(b) == [] and b not in batch and len(batch) == 1


def test_slots_grow_and_are_reused(clf: SpeechClassifier) -> None:
    batch = clf.stream_batch()
    keys = [batch.open() for _ in range(40)]  # past the initial 16 slots
    for k in keys:
        batch.accept(k, np.full(3200, 0.01 * (k % 5), np.float32))
    batch.step()
    batch.close(keys[3])
    fresh = batch.open("new")  # reuses slot 3, from the zero state
    batch.accept(fresh, np.full(3200, 0.0, np.float32))
    batch.accept(keys[0], np.full(3200, 0.0, np.float32))
    batch.step()
    alone = clf.stream()
    alone.accept(np.full(3200, 0.0, np.float32))
    assert batch.seconds(fresh) == alone.seconds == pytest.approx(0.2)
    assert len(batch) == 40 and sorted(map(str, batch)) == sorted(
        map(str, [k for k in keys if k != 3] + ["new"])
    )


def test_bad_calls_name_the_stream(clf: SpeechClassifier) -> None:
    batch = clf.stream_batch()
    a = batch.open("mic-1")
    with pytest.raises(InputError, match="already open"):
        batch.open("mic-1")
    with pytest.raises(InputError, match="no open stream 'mic-2'"):
        batch.accept("mic-2", np.zeros(320, np.float32))
    with pytest.raises(InputError, match="no open stream"):
        batch.close(["not", "hashable"])  # type: ignore[arg-type]
    batch.accept(a, np.zeros(4410, np.float32), 44100)
    with pytest.raises(AudioInputError, match=r"stream 'mic-1'.*16000 Hz after chunks at 44100"):
        batch.accept(a, np.zeros(320, np.float32))
    with pytest.raises(AudioInputError, match=r"stream 'mic-1'.*NaN"):
        batch.accept(a, np.full(441, np.nan, np.float32), 44100)
    before = batch.queued(a)
    batch.step()
    assert batch.seconds(a) + batch.queued(a) == pytest.approx(before, abs=1e-3)
    with pytest.raises(InputError, match="config"):
        batch.open("x", config={"threshold": 0.5})  # type: ignore[arg-type]
    with pytest.raises(InputError, match="max_batch"):
        clf.stream_batch(max_batch=0)


def test_push_many_is_push_trusted_per_stream() -> None:
    labels = ("yes", "no", "up", "_silence_", "_unknown_")
    rng = np.random.default_rng(3)
    cfgs = [DetectorConfig(frame_seconds=0.02, threshold=0.6, smooth_seconds=0.1)] * 5
    cfgs += [DetectorConfig(frame_seconds=0.02, threshold=0.5)]  # one differs: a fallback
    frames = 400
    for group in (cfgs[:5], cfgs):
        # words: a class held high for 3-15 frames, between stretches of noise
        logits = rng.normal(0, 1, (len(group), frames, len(labels)))
        for i in range(len(group)):
            t = 0
            while t < frames:
                n = int(rng.integers(3, 16))
                logits[i, t : t + n, rng.integers(0, len(labels))] += rng.uniform(2, 8)
                t += n + int(rng.integers(0, 30))
        p = (np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)).astype(np.float32)
        many = [Detector(labels, c) for c in group]
        one = [Detector(labels, c) for c in group]
        got, want = [[] for _ in group], [[] for _ in group]
        t = 0
        while t < frames:
            n = int(rng.integers(0, 7))
            for i, found in enumerate(push_many(many, p[:, t : t + n])):
                got[i] += found
            for i, d in enumerate(one):
                want[i] += d.push_trusted(p[i, t : t + n])
            t += n
        assert got == want and sum(map(len, want)) > 20
        assert [d.frames_seen for d in many] == [d.frames_seen for d in one]
