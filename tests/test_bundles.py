"""The shipped bundles keep their model cards' promises on freshly generated data.

Fresh data = new seeds: new utterances (rates, pitches) from the test-split voices the
model never heard, and new shapes scenes. A fresh sample of n items measures the
accuracy p only to about sqrt(p (1 - p) / n), so the check allows four of those plus one
point; a real regression (a broken export, a wrong preprocessing) falls far below.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from lstm_apps.release import HELDOUT_VOICE
from lstm_apps.runtime.session import default_bundle

pytestmark = pytest.mark.slow


def _card(name: str) -> str:
    return (default_bundle(name) / "MODEL_CARD.md").read_text()


def _floor(promised: float, n: int) -> float:
    return promised - 4 * math.sqrt(promised * (1 - promised) / n) - 0.01


def _shipped_speech_accuracy(data: Path, split: str) -> tuple[float, int]:
    """The shipped speech bundle's accuracy on one split of a Speech Commands folder."""
    from lstm_apps.runtime.speech import SpeechClassifier
    from lstm_apps.train.checkpoint import load_checkpoint
    from lstm_apps.train.speech import SpeechTrainConfig, load_split

    config = load_checkpoint(default_bundle("speech") / "checkpoint").config
    arrays, _ = load_split(data, split, SpeechTrainConfig(model=config, seed=11))
    clf = SpeechClassifier.default(intra_op_threads=1)
    probs = clf.probabilities(list(arrays.x.numpy()), sample_rate=clf.sample_rate)
    pred = np.array([p[-1].argmax() for p in probs])
    return float((pred == arrays.y.numpy()).mean()), len(pred)


def test_speech_bundle_reaches_its_card_accuracy_on_fresh_clips(tmp_path: Path) -> None:
    from lstm_apps.data.speech_synth import generate_speech_commands

    match = re.search(r"test accuracy: \*\*([\d.]+)%\*\*", _card("speech"))
    assert match, "the speech card states no test accuracy"
    promised = float(match.group(1)) / 100
    data = tmp_path / "speech"
    generate_speech_commands(data, speakers=120, repeats=2, seed=11, noise_seconds=10,
                             progress=False, exclude_voices=[HELDOUT_VOICE])  # fmt: skip
    accuracy, n = _shipped_speech_accuracy(data, "test")
    assert n >= 200
    assert accuracy >= _floor(promised, n), f"{accuracy:.2%} on {n} clips, card {promised:.2%}"


def test_speech_bundle_reaches_its_card_accuracy_on_fresh_flite_clips(tmp_path: Path) -> None:
    """The cross-generator figure: flite voices (never trained on), a new seed."""
    from lstm_apps.data.flite import generate_flite

    match = re.search(r"\| flite [^|]*\| [^|]*\| (\d+) \| \*\*([\d.]+)%\*\* \|", _card("speech"))
    assert match, "the speech card states no flite accuracy"
    promised = float(match.group(2)) / 100
    data = tmp_path / "flite"
    generate_flite(data, seed=11, voices=("kal16", "slt", "rms"), progress=False)
    accuracy, n = _shipped_speech_accuracy(data, "validation")
    assert n >= 200
    assert accuracy >= _floor(promised, n), f"{accuracy:.2%}, card {promised:.2%}"


def test_speech_bundle_calls_digital_silence_silence() -> None:
    """A muted microphone, an empty recording, a DC offset, near-silent noise: `_silence_`."""
    from lstm_apps.runtime.speech import SpeechClassifier

    clf = SpeechClassifier.default(intra_op_threads=1)
    rng = np.random.default_rng(0)
    quiet = [
        np.zeros(16000, np.float32),
        np.zeros(4000, np.float32),  # shorter than a clip: padded
        np.full(16000, 0.02, np.float32),
        (rng.standard_normal(16000) * 1e-4).astype(np.float32),  # -80 dBFS
    ]
    labels = [p.label for p in clf.classify(quiet, sample_rate=16000)]
    assert labels == ["_silence_"] * len(quiet), labels
    stream = clf.stream()
    assert list(stream.feed(np.zeros(16000 * 10, np.float32), chunk=1600)) == []


def test_caption_bundle_reaches_its_card_accuracy_on_fresh_scenes(tmp_path: Path) -> None:
    from lstm_apps.data.captions import load_karpathy
    from lstm_apps.data.shapes import content_correct_from_reference, generate_shapes
    from lstm_apps.runtime.caption import Captioner

    card = _card("caption")
    match = re.search(r"\| beam 3 \|.*\| ([\d.]+)% \|", card)
    assert match, "the caption card states no beam-3 content accuracy"
    promised = float(match.group(1)) / 100
    report = generate_shapes(tmp_path / "shapes", count=400, seed=11, progress=False)
    items = load_karpathy(report.json_path, image_root=report.out_dir).items
    captions = Captioner.default(intra_op_threads=1).caption(
        [it.image_path for it in items], beam_size=3
    )
    right = [
        content_correct_from_reference(c.tokens, it.captions[0])
        for c, it in zip(captions, items, strict=True)
    ]
    accuracy = float(np.mean(right))
    assert accuracy >= _floor(promised, len(items)), (
        f"{accuracy:.2%} on {len(items)} fresh scenes, card {promised:.2%}"
    )


def test_caption_int8_pair_keeps_its_card_accuracy_on_fresh_scenes(tmp_path: Path) -> None:
    from lstm_apps.data.captions import load_karpathy
    from lstm_apps.data.shapes import content_correct_from_reference, generate_shapes
    from lstm_apps.runtime.caption import Captioner

    section = _card("caption").split("## int8 graphs")[1]
    fp32_card, int8_card = re.search(r"\| beam 3 \| ([\d.]+)% \| ([\d.]+)% \|", section).groups()
    assert float(fp32_card) - float(int8_card) <= 0.5  # the exporter's rule
    report = generate_shapes(tmp_path / "shapes", count=300, seed=12, progress=False)
    items = load_karpathy(report.json_path, image_root=report.out_dir).items
    cap = Captioner.from_dir(default_bundle("caption"), int8=True, intra_op_threads=1)
    captions = cap.caption([it.image_path for it in items], beam_size=3)
    accuracy = float(np.mean([content_correct_from_reference(c.tokens, it.captions[0])
                              for c, it in zip(captions, items, strict=True)]))  # fmt: skip
    assert accuracy >= _floor(float(int8_card) / 100, len(items)), accuracy


def test_speech_card_says_why_a_kokoro_recipe_is_over_the_release_budget() -> None:
    from lstm_apps.onnx.speech_card import RELEASE_BUDGET_MINUTES, release_time_lines

    def metrics(kokoro: int, train_seconds: float) -> dict[str, object]:
        gen = {"settings": {"kokoro": kokoro}, "clips": 952 * 30, "speakers_used": 952}
        return {"data_generator": gen, "train_seconds": train_seconds}

    (line,) = release_time_lines(metrics(120, 2087.0))  # the shipped recipe's training
    assert f"{RELEASE_BUDGET_MINUTES}-minute budget" in line and "120 Kokoro speakers" in line
    assert "training 35 min" in line
    assert release_time_lines(metrics(120, 1800.0)) == []  # 24 + 30 + 1 min: within it
    assert release_time_lines(metrics(0, 5000.0)) == []  # no Kokoro: nothing to explain
    assert release_time_lines(metrics(1, 60.0)) == []  # within the budget
    assert release_time_lines({}) == []  # data made elsewhere
    # the shipped recipe (120 Kokoro speakers) needs it, and its card says it
    card = _card("speech")
    assert "and 120 Kokoro voice blends" in card and "- release time: more than" in card
