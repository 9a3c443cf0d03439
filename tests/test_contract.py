"""What export/README.md promises ports, checked against the runtime and the shipped bundles.

    pytest tests/test_contract.py        # a few seconds

Each test pins one statement of the contract to the code or the files it describes, so the
two cannot drift apart: the config.json table names every key the bundles hold, the int8
operator list is the graph's, the audio limits are the runtime's constants, the detector's
tie rule, and a clip's int8 result does not depend on the other clips of a call.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import PIL.features
import pytest
import soundfile as sf

from lstm_apps.runtime import audio
from lstm_apps.runtime.caption import Captioner
from lstm_apps.runtime.detect import Detector, DetectorConfig
from lstm_apps.runtime.errors import AudioInputError, SampleRateError
from lstm_apps.runtime.speech import SpeechClassifier

ROOT = Path(__file__).resolve().parents[1]
SPEECH, CAPTION = ROOT / "export" / "speech", ROOT / "export" / "caption"
CONTRACT = (ROOT / "export" / "README.md").read_text()
FLAT = " ".join(CONTRACT.split())  # its prose, line breaks as spaces
CLIPS = sorted(str(p) for p in (ROOT / "samples" / "speech").glob("*_*.wav"))


@pytest.mark.parametrize("int8", [True, False], ids=["int8", "fp32"])
def test_a_clips_probabilities_do_not_depend_on_the_rest_of_the_call(int8: bool) -> None:
    clf = SpeechClassifier.from_dir(SPEECH, int8=int8, intra_op_threads=1)
    assert clf.quantized is int8
    rng = np.random.default_rng(0)
    long = rng.uniform(-0.3, 0.3, 40000).astype(np.float32)  # 2.5 s: 7 windows in one clip
    alone = [clf.probabilities(c, sample_rate=16000)[0] for c in [*CLIPS, long]]
    together = clf.probabilities([*CLIPS, long], sample_rate=16000)
    shuffled = clf.probabilities([long, *CLIPS[::-1]], sample_rate=16000)
    assert [len(p) for p in together] == [1] * len(CLIPS) + [7]
    for i, want in enumerate(alone):
        np.testing.assert_array_equal(together[i], want)
    for i, want in enumerate([alone[-1], *alone[-2::-1]]):
        np.testing.assert_array_equal(shuffled[i], want)
    # a long clip's windows are independent too: its last window read as a 1 s clip
    np.testing.assert_array_equal(alone[-1][-1], clf.probabilities(long[-16000:], 16000)[0][0])


def _ops(path: Path) -> Counter[tuple[str, str]]:
    return Counter((n.domain or "ai.onnx", n.op_type) for n in onnx.load(str(path)).graph.node)


def test_the_int8_operator_list_is_the_graphs() -> None:
    int8, fp32 = _ops(SPEECH / "model.int8.onnx"), _ops(SPEECH / "model.onnx")
    assert {op for op in int8 if op[0] != "ai.onnx"} == {("com.microsoft", "DynamicQuantizeLSTM")}
    assert int8[("com.microsoft", "DynamicQuantizeLSTM")] == 2 and ("ai.onnx", "LSTM") not in int8
    new = {name for _, name in int8 - fp32}
    assert new == {"DynamicQuantizeLSTM", "DynamicQuantizeLinear", "MatMulInteger", "Cast", "Mul"}
    # the frontend stays fp32: the DFT's four and the mel MatMul, and the PCEN smoother's
    assert int8[("ai.onnx", "MatMul")] == fp32[("ai.onnx", "MatMul")] - 1 == 6
    (row,) = [s for s in CONTRACT.splitlines() if s.startswith("| `model.int8.onnx` | the")]
    named = set(re.findall(r"`([\w.]+)`", row))
    assert new <= named and "com.microsoft" in named and "LSTM" not in named
    assert "two `DynamicQuantizeLSTM` nodes" in FLAT  # the header's one exception


def test_a_saturated_plateau_peaks_at_its_first_frame() -> None:
    """export/README.md: float32 smoothing, ties keep the first frame. Saturated posteriors
    (1.0, or 1 ulp below) make a plateau of exact ties at m = 1.0 from frame 23; the same
    sums in float64 are all different and peak at frame 28 (0.1 s later)."""
    labels = ["_silence_", "_unknown_", "yes", "no", "up", "off"]
    yes = np.zeros(80, np.float32)
    yes[10:14] = [0.2, 0.4, 0.6, 0.8]
    yes[14:40] = 1.0
    yes[[14, 16, 18]] = np.nextafter(np.float32(1), np.float32(0))  # 0.99999994
    probs = np.zeros((80, len(labels)), np.float32)
    probs[:, 2], probs[:, 0] = yes, 1 - yes
    cfg = DetectorConfig(frame_seconds=0.02)  # 10-frame window: time = (peak - 4.5) * 0.02
    (d,) = Detector(labels, cfg).push(probs)
    assert (d.label, d.score, d.time) == ("yes", 1.0, (23 - 4.5) * 0.02)
    mean64 = np.convolve(np.r_[np.zeros(9), yes.astype(np.float64)], np.ones(10), "valid") / 10
    assert int(mean64.argmax()) == 28 and mean64[23] < mean64[28] == 1.0  # not ties in float64
    assert "ties go to the first frame" in FLAT and "the first frame of a plateau" in FLAT
    assert "`max(round(max_bump_seconds / frame_seconds), min_frames)`" in FLAT
    assert cfg.max_bump_frames == max(round(0.8 / 0.02), cfg.min_frames) == 40
    short = DetectorConfig(frame_seconds=0.02, max_bump_seconds=0.04, min_frames=3)
    assert short.max_bump_frames == 3  # the cap is at least min_frames


def test_the_audio_limits_are_the_runtimes(tmp_path: Path) -> None:
    """export/README.md's table of refused audio: each constant, its value and its rule."""
    for name, value in [("MAX_FLOAT_PEAK", "2.0"), ("MAX_AUDIO_SECONDS", "600.0"),
                        ("MIN_SAMPLE_RATE", "1000"), ("MAX_SAMPLE_RATE", "384000"),
                        ("MAX_CHANNELS_FIRST", "8")]:  # fmt: skip
        assert f"`{name}` = {value}" in FLAT and float(getattr(audio, name)) == float(value)
    ok = np.full(100, 0.5, np.float32)
    assert audio.load_audio(np.r_[ok, 2.0], sample_rate=16000).max() == 1.0  # clipped
    with pytest.raises(AudioInputError, match="peak is 2"):
        audio.load_audio(np.r_[ok, 2.0001], sample_rate=16000)  # refused, not clipped
    with pytest.raises(AudioInputError, match="no audio samples"):
        audio.load_audio(np.zeros(0, np.float32), sample_rate=16000)
    n = int(audio.MAX_AUDIO_SECONDS * 1000)
    assert len(audio.load_audio(np.zeros(n, np.int16), sample_rate=1000, target_rate=1000)) == n
    with pytest.raises(AudioInputError, match="too long"):
        audio.load_audio(np.zeros(n + 1, np.int16), sample_rate=1000, target_rate=1000)
    for rate in (1000, 384000):
        assert audio.check_sample_rate(rate, "rate") == rate
    for rate in (999, 384001, 16000.5):
        with pytest.raises(SampleRateError):
            audio.check_sample_rate(rate, "rate")
    pcm = np.array([-(2**23), -1, 0, 1, 2**23 - 1], np.int32)  # every 24-bit extreme
    for ext in ("wav", "flac", "aiff"):
        path = tmp_path / f"deep.{ext}"
        sf.write(path, np.repeat(pcm * 256, 200), 16000, subtype="PCM_24")  # int32, 24 bits
        got = audio.load_audio(path)[::200]
        np.testing.assert_array_equal(got, (pcm / 2**23).astype(np.float32), err_msg=ext)
    assert "24-bit PCM (WAV, FLAC, AIFF) is accepted, as v / 2^23" in FLAT


class _Windows:
    """A stand-in for model.onnx: each window's probabilities, chosen by its first sample."""

    def __init__(self, labels: tuple[str, ...], by_marker: dict[float, dict[str, float]]):
        self.labels, self.by_marker = labels, by_marker

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = []
        for marker in feeds["waveform"][:, 0].tolist():
            p = self.by_marker[round(marker, 3)]
            rest = (1 - sum(p.values())) / (len(self.labels) - len(p))
            rows.append([np.log(p.get(label, rest)) for label in self.labels])
        return {"logits": np.array(rows, np.float32)}


def test_a_long_clip_is_labelled_by_the_argmax_of_its_chosen_window() -> None:
    """export/README.md "Labelling a clip": the window with the highest probability outside
    `_silence_` is chosen; its label is the argmax over all classes, `_silence_` included."""
    clf = SpeechClassifier.from_dir(SPEECH, intra_op_threads=1)
    clf.model = _Windows(clf.labels, {  # type: ignore[assignment]
        0.1: {"_silence_": 0.50, "yes": 0.45},  # chosen (0.45 outside _silence_), says silence
        0.2: {"_silence_": 0.05, "_unknown_": 0.40, "no": 0.39},
        0.3: {"_silence_": 0.90, "up": 0.02},
    })  # fmt: skip
    x = np.zeros(24000, np.float32)  # 1.5 s: windows start at 0, 4000 and 8000 (the end)
    x[[0, 4000, 8000]] = [0.1, 0.2, 0.3]
    (p,) = clf.classify(x, sample_rate=16000)
    assert (p.label, p.windows) == ("_silence_", 3)
    assert p.score == pytest.approx(0.50) and p.scores["yes"] == pytest.approx(0.45)
    assert "argmax of the chosen window's probabilities over **all** classes" in FLAT


def _key_table() -> list[tuple[str, str, str]]:
    """export/README.md's metadata table: (key, files, value) per row."""
    lines = CONTRACT.splitlines()
    start = lines.index("| key | files | value |") + 2
    rows = []
    for line in itertools.takewhile(lambda s: s.startswith("|"), lines[start:]):
        key, files, value = (cell.strip() for cell in line.strip("|").split(" | ", 2))
        rows.append((key.strip("`"), files, value))
    return rows


def _applies(files: str, bundle: str, file: str) -> bool:
    """Whether a row's files column covers `file` of `bundle` (file "config.json" or a graph)."""
    if file == "config.json":
        return files.startswith("all") or bundle in files or "config.json" in files
    if files == "all but greedy.onnx":
        return file != "greedy.onnx"
    if file.endswith(".int8.onnx"):  # a row naming int8 graphs names each ("model.int8")
        return files == "all" or bundle in files or file.removesuffix(".onnx") in files
    return files == "all" or bundle in files


def _nested_keys(value: object) -> set[str]:
    if not isinstance(value, dict):
        return set()
    return set(value) | {k for v in value.values() for k in _nested_keys(v)}


METADATA_ONLY = {"kind", "input_names", "quantization", "onnx.infer"}  # not in config.json


@pytest.mark.parametrize("bundle", ["speech", "caption"])
def test_the_key_table_lists_every_key_of_config_json_and_the_metadata(bundle: str) -> None:
    folder = ROOT / "export" / bundle
    rows = _key_table()
    config = json.loads((folder / "config.json").read_text())
    listed = {key for key, files, _ in rows if _applies(files, bundle, "config.json")}
    assert set(config) == listed - METADATA_ONLY, sorted(set(config) ^ (listed - METADATA_ONLY))
    for key, value in config.items():
        if key == "files":  # its keys are the bundle's file names
            continue
        text = " ".join(v for k, f, v in rows if k == key and _applies(f, bundle, "config.json"))
        missing = sorted(_nested_keys(value) - set(re.findall(r"\w+", text)))
        assert missing == [], f"{bundle}/config.json {key!r}: the table lacks {missing}"
    for graph in sorted(folder.glob("*.onnx")):
        meta = {p.key for p in onnx.load(str(graph)).metadata_props}
        listed = {key for key, files, _ in rows if _applies(files, bundle, graph.name)}
        assert meta == listed, graph.name


def test_the_jpeg_sample_gives_the_documented_caption() -> None:
    """The JPEG a port must reproduce (export/README.md "Input images"), decoded as the
    contract says: PIL on libjpeg-turbo."""
    assert PIL.features.check_feature("libjpeg_turbo")
    cap = Captioner.from_dir(CAPTION, intra_op_threads=1)
    jpeg = ROOT / "samples" / "images" / "scene3.jpg"
    greedy, beam = (cap.caption([jpeg], beam_size=b)[0] for b in (1, 3))
    text = "a large green triangle to the right of a large yellow circle"
    assert greedy.text == beam.text == text
    assert f'give "{greedy.text}" (log-probability {greedy.score:.4f})' in FLAT
