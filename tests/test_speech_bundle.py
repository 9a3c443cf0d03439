"""SpeechBundle: the one reader and writer of a speech bundle's metadata."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest

from lstm_apps.runtime import ModelFileError
from lstm_apps.runtime.detect import DetectorConfig
from lstm_apps.runtime.speech import SpeechClassifier
from lstm_apps.runtime.speech_bundle import SpeechBundle, StreamSpec

SHIPPED = Path(__file__).resolve().parents[1] / "export" / "speech"


def _shipped_meta() -> dict[str, Any]:
    config = json.loads((SHIPPED / "config.json").read_text())
    config.pop("files", None)  # the digests of the other files: not graph metadata
    return config


def test_shipped_config_json_is_what_the_spec_writes() -> None:
    meta = _shipped_meta()
    spec = SpeechBundle.from_metadata(meta, "config.json")
    assert spec.to_metadata() == meta  # one source of truth: nothing added, nothing lost
    # context: 320 samples, then the PCEN smoother's 40 bands
    assert meta["config"]["frontend"]["norm"] == "pcen"
    assert (spec.stream.hop, spec.stream.context, spec.stream.sample_rate) == (320, 360, 16000)
    assert meta["preprocessing"]["frontend"] == "PCEN mel inside the graph"
    assert spec.stream.frame_seconds == pytest.approx(0.02)
    assert spec.labels[spec.silence_index or 0] == "_silence_"
    assert spec.detector.threshold == meta["detector"]["threshold"]


def test_spec_round_trips_through_metadata() -> None:
    stream = StreamSpec(hop=160, context=240, num_layers=2, hidden_size=8, sample_rate=8000)
    spec = SpeechBundle(
        labels=("a", "b", "c"), sample_rate=8000, clip_samples=8000, stream=stream,
        detector=DetectorConfig(frame_seconds=0.02, threshold=0.6, ignore=("a",)),
        config={"hidden_size": 8},
    )  # fmt: skip
    back = SpeechBundle.from_metadata(json.loads(json.dumps(spec.to_metadata())), "x")
    assert back == spec
    assert back.config == {"hidden_size": 8}
    assert back.silence_index is None


def _damaged(path: str, value: Any) -> dict[str, Any]:
    meta = copy.deepcopy(_shipped_meta())
    *parents, key = path.split(".")
    node = meta
    for p in parents:
        node = node[p]
    if value is KeyError:
        del node[key]
    else:
        node[key] = value
    return meta


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("labels", KeyError, "has no 'labels'"),
        ("labels", ["yes", "yes"], "'labels' must be a list of >= 2 distinct strings"),
        ("labels", "yes,no", "'labels' must be"),
        ("preprocessing", [], "'preprocessing' must be a JSON object"),
        ("preprocessing.sample_rate", "16k", "'preprocessing.sample_rate' must be an int >= 1"),
        ("preprocessing.clip_samples", 10, "'preprocessing.clip_samples' must be an int >= 320"),
        ("stream.hop", 0, "'stream.hop' must be an int >= 1"),
        ("stream.hop", True, "'stream.hop' must be an int"),
        ("stream.context", -3, "'stream.context' must be an int >= 0"),
        ("stream.num_layers", KeyError, "has no 'stream.num_layers'"),
        ("stream.frame_seconds", 0.01, "'stream.frame_seconds' must be hop / sample_rate"),
        ("stream.frame_seconds", float("nan"), "'stream.frame_seconds' must be a finite"),
        ("detector.threshold", 2.0, "'detector' is not usable: DetectorConfig.threshold"),
        ("detector.colour", "red", "'detector' is not usable: detector settings: unknown keys"),
        ("format_version", 3, "format_version 3; this lstm-apps reads [1, 2]"),
    ],
)
def test_damaged_metadata_names_the_file_and_key(path: str, value: Any, message: str) -> None:
    with pytest.raises(ModelFileError) as e:
        SpeechBundle.from_metadata(_damaged(path, value), "model.onnx")
    assert str(e.value).startswith("model.onnx")
    assert message in str(e.value)


def test_format_1_bundle_without_detector_gets_the_defaults() -> None:
    meta = _damaged("detector", KeyError)
    meta["format_version"] = 1
    spec = SpeechBundle.from_metadata(meta, "old.onnx")
    assert spec.detector == DetectorConfig(frame_seconds=0.02)
    assert spec.format_version == 1


def _set_props(src: Path, dst: Path, meta: dict[str, Any]) -> None:
    proto = onnx.load(str(src))
    for p in proto.metadata_props:
        if p.key in meta:
            p.value = json.dumps(meta[p.key])
    onnx.save(proto, str(dst))


def test_stream_graph_from_another_export_is_refused(tmp_path: Path) -> None:
    bundle = tmp_path / "speech"
    shutil.copytree(SHIPPED, bundle, ignore=shutil.ignore_patterns("checkpoint", "*.int8.onnx"))
    meta = _shipped_meta()
    labels = list(meta["labels"])
    labels[-1], labels[-2] = labels[-2], labels[-1]  # same classes, other logit order
    _set_props(SHIPPED / "stream.onnx", bundle / "stream.onnx", {"labels": labels})
    with pytest.raises(ModelFileError, match="not from one export"):
        SpeechClassifier.from_dir(bundle, verify=False)


def test_classifier_reads_settings_only_through_its_spec(tmp_path: Path) -> None:
    bundle = tmp_path / "speech"
    shutil.copytree(SHIPPED, bundle, ignore=shutil.ignore_patterns("checkpoint", "*.int8.onnx"))
    meta = _shipped_meta()
    meta["detector"]["threshold"] = 0.55
    for name in ("model.onnx", "stream.onnx"):
        _set_props(SHIPPED / name, bundle / name, {"detector": meta["detector"]})
    with pytest.raises(ModelFileError, match=r"config\.json: 'detector' differs"):
        SpeechClassifier.from_dir(bundle, verify=False)
    (bundle / "config.json").write_text(json.dumps(meta))  # now all three agree
    clf = SpeechClassifier.from_dir(bundle, verify=False)
    assert clf.bundle == SpeechBundle.from_metadata(meta, "x")
    assert clf.detector_config().threshold == 0.55
    assert clf.stream().detector.config.threshold == 0.55
    assert clf.stream_model is not None and clf.stream_model.spec == clf.bundle.stream


def test_stream_model_logits_do_not_depend_on_the_chunking() -> None:
    clf = SpeechClassifier.from_dir(SHIPPED)
    assert clf.stream_model is not None
    rng = np.random.default_rng(0)
    audio = (rng.standard_normal(320 * 40) * 0.1).astype(np.float32)
    whole = clf.stream_model.logits(audio, len(audio))
    assert whole.shape == (40, len(clf.labels))
    for chunk in (320, 1600, 320 * 7):
        np.testing.assert_allclose(clf.stream_model.logits(audio, chunk), whole, atol=2e-5)
    # the last frame of the stream is the offline model's answer for the same clip
    offline = clf.model.run({"waveform": audio[None]})["logits"][0]
    np.testing.assert_allclose(whole[-1], offline, atol=1e-4)


def _full_copy(tmp_path: Path) -> Path:
    bundle = tmp_path / "speech"
    shutil.copytree(SHIPPED, bundle)
    return bundle


def test_shipped_bundle_lists_and_passes_its_checksums() -> None:
    from lstm_apps.runtime.manifest import file_digests, read_config, verify_files

    config = read_config(SHIPPED)
    assert verify_files(SHIPPED, config) == file_digests(SHIPPED)
    assert {"model.onnx", "stream.onnx", "model.int8.onnx", "labels.json"} <= set(config["files"])


def test_a_flipped_byte_in_a_weight_is_caught_at_load(tmp_path: Path) -> None:
    bundle = _full_copy(tmp_path)
    data = bytearray((bundle / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0x01  # deep inside the initializers: onnxruntime loads it fine
    (bundle / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=r"model\.onnx: its sha256 differs"):
        SpeechClassifier.from_dir(bundle)
    SpeechClassifier.from_dir(bundle, verify=False)  # what the check protects against


def test_json_files_that_disagree_with_the_graphs_are_refused(tmp_path: Path) -> None:
    bundle = _full_copy(tmp_path)
    labels = json.loads((bundle / "labels.json").read_text())
    (bundle / "labels.json").write_text(json.dumps(labels[::-1]))
    with pytest.raises(ModelFileError, match=r"labels\.json: its sha256 differs"):
        SpeechClassifier.from_dir(bundle)
    with pytest.raises(ModelFileError, match=r"labels\.json differs from the graphs"):
        SpeechClassifier.from_dir(bundle, verify=False)
    (bundle / "config.json").write_text("{not json")
    with pytest.raises(ModelFileError, match=r"config\.json: not readable JSON"):
        SpeechClassifier.from_dir(bundle, verify=False)
    (bundle / "config.json").unlink()
    with pytest.raises(ModelFileError, match=r"config\.json: missing"):
        SpeechClassifier.from_dir(bundle)


def test_check_command_reports_a_good_and_a_damaged_bundle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lstm_apps.cli import main

    assert main(["check", str(SHIPPED)]) == 0
    out = capsys.readouterr().out
    assert "speech bundle, 17 files match their sha256" in out
    assert "1 s of silence -> _silence_" in out
    bundle = _full_copy(tmp_path)
    (bundle / "checkpoint" / "model.safetensors").write_bytes(b"\0" * 64)
    assert main(["check", str(SHIPPED), str(bundle)]) == 1
    out = capsys.readouterr().out
    assert f"{bundle}: FAILED: {bundle}/checkpoint/model.safetensors: its sha256 differs" in out
