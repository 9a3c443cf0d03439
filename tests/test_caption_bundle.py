"""CaptionBundle: the one spec the exporter writes and the runtime reads (format 2)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from lstm_apps.data.captions import Vocab
from lstm_apps.nn.caption import CaptionConfig, CaptionModel
from lstm_apps.onnx.caption import FORMAT_VERSION, export_caption
from lstm_apps.runtime.caption import Captioner
from lstm_apps.runtime.caption_bundle import CaptionBundle
from lstm_apps.runtime.errors import ModelFileError
from lstm_apps.runtime.session import OnnxModel
from lstm_apps.train.checkpoint import load_checkpoint

CFG = CaptionConfig(vocab_size=11, image_size=32, feature_dim=8, embed_dim=6,
                    hidden_size=10, attention_dim=7, grid=2, max_len=9)  # fmt: skip
VOCAB = Vocab((*Vocab.SPECIALS, *(f"w{i}" for i in range(7))))


def _meta() -> dict[str, Any]:
    return CaptionBundle.create(CFG.to_dict(), VOCAB).to_metadata()


def test_round_trip_and_values_from_the_config() -> None:
    meta = _meta()
    assert meta["format_version"] == FORMAT_VERSION == 2
    assert set(meta) == {"format_version", "config", "vocab", "preprocessing"}  # no copies
    spec = CaptionBundle.from_metadata(json.loads(json.dumps(meta)), "x.onnx")
    assert spec.grid == 2 and spec.num_cells == 4 and spec.max_len == 9
    assert spec.attention_dim == 7 and spec.hidden_size == 10 and spec.image_size == 32
    assert spec.vocab == VOCAB and spec.vocab.end_id == Vocab.END_ID == 2
    assert CaptionConfig.from_dict(dict(spec.config)) == CFG
    assert spec.to_metadata() == meta


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda m: m.update(format_version=1), "format 1; this lstm-apps reads only format 2"),
        (lambda m: m.pop("config"), "has no 'config'"),
        (lambda m: m["config"].update(grid=0), r"'config.grid' must be an int >= 1, got 0"),
        (lambda m: m["config"].update(max_len="20"), r"'config.max_len' must be an int"),
        (lambda m: m["config"].update(vocab_size=12), r"'config.vocab_size' must be 11"),
        (lambda m: m["config"].update(std=[1, 0, 1]), r"'config.std' must be 3 numbers > 0"),
        (lambda m: m["config"].update(mean=[0.5]), r"'config.mean' must be a list of 3"),
        (lambda m: m["vocab"].update(end_id=5), r"'vocab.end_id' must be 2"),
        (lambda m: m["vocab"].update(itos=["a"]), r"'vocab.itos' must be a list of >= 4"),
        (lambda m: m["vocab"].update(type="x"), r"x.onnx: metadata 'vocab': vocabulary"),
    ],
)
def test_bad_metadata_names_the_file_and_key(change: Any, match: str) -> None:
    meta = copy.deepcopy(_meta())
    change(meta)
    with pytest.raises(ModelFileError, match=match) as err:
        CaptionBundle.from_metadata(meta, "x.onnx")
    assert str(err.value).startswith("x.onnx")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("capspec") / "bundle"
    images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    export_caption(CaptionModel(CFG).eval(), VOCAB, out, images)
    return out


def test_export_writes_the_spec_and_the_keys_graph_layout(bundle: Path) -> None:
    meta = _meta()
    config = json.loads((bundle / "config.json").read_text())
    files = config.pop("files")  # the sha256 of every other file in the bundle
    assert config == meta
    every = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()}
    assert set(files) == every - {"config.json"}  # checkpoint/config.json is listed
    for name, kind in (("encoder", "caption_encoder"), ("decoder", "caption_decoder"),
                       ("greedy", "caption_greedy")):  # fmt: skip
        m = OnnxModel(bundle / f"{name}.onnx")
        assert {k: m.metadata[k] for k in meta} == meta and m.metadata["kind"] == kind
        assert not {"special_tokens", "decoding"} & set(m.metadata)  # format 1's copies
    enc, dec = OnnxModel(bundle / "encoder.onnx"), OnnxModel(bundle / "decoder.onnx")
    assert enc.output_names == ["features", "keys", "h0", "c0"]
    assert list(dec.inputs) == ["tokens", "h", "c", "features", "keys"]
    out = enc.run({"images": np.zeros((3, 20, 30, 3), np.uint8)})
    assert out["keys"].shape == (3, 4, 7) and out["features"].shape == (3, 4, 8)
    # the keys are the features' attention projection, once per image
    model = load_checkpoint(bundle / "checkpoint").model
    assert isinstance(model, CaptionModel)
    with torch.no_grad():
        want = model.decoder.keys(torch.from_numpy(out["features"])).numpy()
    np.testing.assert_allclose(out["keys"], want, atol=1e-5)


def test_runtime_refuses_a_format_1_bundle(bundle: Path, tmp_path: Path) -> None:
    import onnx

    from lstm_apps.onnx.export import add_metadata

    proto = onnx.load(str(bundle / "decoder.onnx"))
    del proto.metadata_props[:]
    add_metadata(proto, {**_meta(), "format_version": 1, "kind": "caption_decoder"})
    onnx.save(proto, str(tmp_path / "decoder.onnx"))
    with pytest.raises(ModelFileError, match=r"decoder.onnx: caption bundle format 1"):
        Captioner(bundle / "encoder.onnx", tmp_path / "decoder.onnx")
