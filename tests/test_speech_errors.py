"""Regression tests for the speech defects a fuzzer found (issue 13): each reproducer once
escaped as an untyped exception or changed state; now it is a typed LstmAppsError."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest

from lstm_apps.runtime import (
    AudioInputError,
    InputDTypeError,
    InputShapeError,
    LstmAppsError,
    ModelFileError,
)
from lstm_apps.runtime.audio import load_audio
from lstm_apps.runtime.speech import SpeechClassifier

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "export" / "speech"
STREAM_WAV = ROOT / "samples" / "speech" / "stream.wav"


@pytest.fixture(scope="module")
def clf() -> SpeechClassifier:
    return SpeechClassifier.from_dir(SHIPPED, intra_op_threads=1)


@pytest.mark.parametrize("bad", [0.5, None, 3, object()])
def test_classify_refuses_what_is_not_audio(clf: SpeechClassifier, bad: Any) -> None:
    with pytest.raises(InputDTypeError, match="a path, a numpy array, or a list of them"):
        clf.classify(bad, sample_rate=16000)


def test_headerless_raw_file_is_an_audio_error(clf: SpeechClassifier, tmp_path: Path) -> None:
    raw = tmp_path / "clip.raw"
    raw.write_bytes(np.zeros(1600, np.int16).tobytes())
    with pytest.raises(AudioInputError, match=r"clip\.raw: headerless raw audio"):
        clf.classify(raw)


@pytest.mark.parametrize(
    ("bad", "error"), [(np.array(0.5), InputShapeError), (None, InputDTypeError)]
)
def test_feed_refuses_what_is_not_a_recording(
    clf: SpeechClassifier, bad: Any, error: type[LstmAppsError]
) -> None:
    with pytest.raises(error, match=r"CommandStream\.feed: audio"):
        list(clf.stream().feed(bad, chunk=1600))


def test_a_refused_chunk_changes_no_state(clf: SpeechClassifier) -> None:
    audio = load_audio(STREAM_WAV)
    want = [(d.label, d.time) for d in clf.stream().feed(audio, chunk=1600)]
    stream = clf.stream()
    with pytest.raises(AudioInputError, match="NaN"):
        stream.accept(np.full(4410, np.nan, np.float32), sample_rate=44100)
    assert stream.seconds == 0.0
    got = [(d.label, d.time) for d in stream.feed(audio, chunk=1600, sample_rate=16000)]
    assert got == want and len(want) >= 4  # the 16 kHz stream is not locked to 44.1 kHz


def test_feed_cuts_channels_first_audio_along_time(clf: SpeechClassifier) -> None:
    audio = load_audio(STREAM_WAV)[: 16000 * 4]  # "yes" at 1.2 s, "stop" at 3.3 s
    want = [(d.label, d.time) for d in clf.stream().feed(audio, chunk=1600)]
    stereo = np.stack([audio, audio])  # (channels, samples)
    got = [(d.label, d.time) for d in clf.stream().feed(stereo, chunk=7)]
    assert [label for label, _ in want] == ["yes", "stop"]
    assert got == want


def _bundle(tmp_path: Path) -> Path:
    out = tmp_path / "speech"
    shutil.copytree(SHIPPED, out, ignore=shutil.ignore_patterns("checkpoint", "*.int8.onnx"))
    return out


def test_stream_onnx_replaced_by_another_graph_fails_at_load(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    proto = onnx.load(str(SHIPPED / "model.onnx"))  # the offline graph, under the stream's name
    for p in proto.metadata_props:
        if p.key == "kind":
            p.value = json.dumps("speech_stream")
    onnx.save(proto, str(bundle / "stream.onnx"))
    with pytest.raises(ModelFileError, match=r"stream\.onnx: inputs \['waveform'\]"):
        SpeechClassifier.from_dir(bundle, verify=False)
    shutil.copy(SHIPPED / "model.onnx", bundle / "stream.onnx")
    with pytest.raises(ModelFileError, match="is a 'speech_offline' graph, expected"):
        SpeechClassifier.from_dir(bundle, verify=False)


def test_labels_of_the_wrong_length_fail_at_load(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    for name in ("model.onnx", "stream.onnx"):
        proto = onnx.load(str(SHIPPED / name))
        for p in proto.metadata_props:
            if p.key == "labels":
                p.value = json.dumps([*json.loads(p.value), "extra"])
        onnx.save(proto, str(bundle / name))
    with pytest.raises(ModelFileError, match=r"output 'logits' is float32\[batch, 12\]"):
        SpeechClassifier.from_dir(bundle, verify=False)


_HALF_HOUR = """
import json, os, sys
from pathlib import Path
import numpy as np
from lstm_apps.runtime.audio import load_audio
from lstm_apps.runtime.speech import SpeechClassifier
from lstm_apps.runtime.speech_stream import CELL_LIMIT

def rss_mb():
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGESIZE") / 1e6

stream = SpeechClassifier.from_dir(sys.argv[1], intra_op_threads=1).stream()
audio = load_audio(sys.argv[2])
loops = int(1800 / (len(audio) / 16000)) + 1
heard, start = [], None
for k in range(loops):
    if k == 2:
        start = rss_mb()
    labels = []
    for i in range(0, len(audio), 1600):
        labels += [d.label for d in stream.accept(audio[i : i + 1600])]
    heard.append(labels)
st = stream._state
print(json.dumps({
    "seconds": stream.seconds, "loops": loops, "growth_mb": rss_mb() - start,
    "finite": bool(all(np.isfinite(a).all() for a in (st.h, st.c, st.context))),
    "max_c": float(np.abs(st.c).max()), "limit": CELL_LIMIT, "heard": heard,
}))
"""


def test_half_an_hour_through_one_stream() -> None:
    """30 minutes of the sample stream, looped, through one CommandStream in 100 ms chunks,
    in a fresh process (so only the stream's memory is measured): memory stays flat, the
    state stays bounded, and the last loop is heard like the first."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", _HALF_HOUR, str(SHIPPED), str(STREAM_WAV)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    r = json.loads(out.stdout)
    assert r["seconds"] >= 1800
    assert r["growth_mb"] < 5, f"RSS grew {r['growth_mb']:.1f} MB over {r['loops']} loops"
    assert r["finite"] and r["max_c"] <= r["limit"]
    heard = r["heard"]
    first = heard[0]  # the bundle finds 5 of the sample's 6 commands (its "up" scores < 0.9)
    assert len(first) >= 5 and all(w in ("yes", "stop", "go", "left", "no", "up") for w in first)
    assert [w for w in heard[-1] if w in first] == [w for w in first if w in heard[-1]]
    assert len(heard[-1]) >= len(first) - 1  # at most the last word lost to the loop's cut
