"""Regression tests for the caption-bundle defects a fuzzer found (issue 13): a damaged
bundle fails at load with a ModelFileError naming the file, or it works."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import onnx
import pytest

from lstm_apps.runtime import ImageInputError, ModelFileError
from lstm_apps.runtime.caption import Captioner

SHIPPED = Path(__file__).resolve().parents[1] / "export" / "caption"
SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "images" / "scene1.png"


def _copy(tmp_path: Path) -> Path:
    out = tmp_path / "caption"
    shutil.copytree(SHIPPED, out)
    return out


def _edit_meta(
    bundle: Path, names: tuple[str, ...], change: Callable[[dict[str, Any]], None]
) -> None:
    for name in names:
        proto = onnx.load(str(bundle / name))
        for p in proto.metadata_props:
            if p.key in ("vocab", "config"):
                value = {p.key: json.loads(p.value)}
                change(value)
                p.value = json.dumps(value[p.key])
        onnx.save(proto, str(bundle / name))


def test_the_shipped_bundle_loads_verified() -> None:
    cap = Captioner.from_dir(SHIPPED)
    assert len(cap.itos) == cap.decoder.outputs["logprobs"].shape[1]


def test_encoder_replaced_by_greedy_fails_at_load(tmp_path: Path) -> None:
    bundle = _copy(tmp_path)
    shutil.copy(SHIPPED / "greedy.onnx", bundle / "encoder.onnx")
    with pytest.raises(ModelFileError, match=r"encoder\.onnx: its sha256 differs"):
        Captioner.from_dir(bundle)
    with pytest.raises(
        ModelFileError, match="is a 'caption_greedy' graph, expected a 'caption_encoder'"
    ):
        Captioner.from_dir(bundle, verify=False)


def test_vocab_shorter_than_the_decoder_output_fails_at_load(tmp_path: Path) -> None:
    bundle = _copy(tmp_path)

    def drop_last_word(m: dict[str, Any]) -> None:
        if "vocab" in m:
            m["vocab"]["itos"] = m["vocab"]["itos"][:-1]
        if "config" in m:
            m["config"]["vocab_size"] -= 1

    _edit_meta(bundle, ("encoder.onnx", "decoder.onnx"), drop_last_word)
    with pytest.raises(
        ModelFileError, match=r"decoder\.onnx: output 'logprobs' is float32\[batch, 34\]"
    ):
        Captioner.from_dir(bundle, verify=False)


def test_a_grid_that_differs_from_the_graph_fails_at_load(tmp_path: Path) -> None:
    bundle = _copy(tmp_path)

    def smaller_grid(m: dict[str, Any]) -> None:
        if "config" in m:
            m["config"]["grid"] = 4  # 16 cells; the graphs have 64

    _edit_meta(bundle, ("encoder.onnx", "decoder.onnx"), smaller_grid)
    with pytest.raises(ModelFileError, match=r"output 'features' is float32\[batch, 64, 128\]"):
        Captioner.from_dir(bundle, verify=False)


def test_encoder_and_decoder_from_different_exports_are_refused(tmp_path: Path) -> None:
    bundle = _copy(tmp_path)

    def other_max_len(m: dict[str, Any]) -> None:
        if "config" in m:
            m["config"]["max_len"] = 12

    _edit_meta(bundle, ("decoder.onnx",), other_max_len)
    with pytest.raises(ModelFileError, match="not from one export"):
        Captioner.from_dir(bundle, verify=False)


def test_a_vocab_json_that_disagrees_is_refused(tmp_path: Path) -> None:
    bundle = _copy(tmp_path)
    vocab = json.loads((bundle / "vocab.json").read_text())
    vocab["itos"][5], vocab["itos"][6] = vocab["itos"][6], vocab["itos"][5]
    (bundle / "vocab.json").write_text(json.dumps(vocab))
    with pytest.raises(ModelFileError, match=r"vocab\.json: its sha256 differs"):
        Captioner.from_dir(bundle)
    with pytest.raises(ModelFileError, match=r"vocab\.json differs from the graphs"):
        Captioner.from_dir(bundle, verify=False)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"length_penalty": None}, "length_penalty must be a number from 0 to 10, got None"),
        ({"length_penalty": 10**9}, "length_penalty must be a number from 0 to 10"),
        ({"length_penalty": float("nan")}, "length_penalty must be a number from 0 to 10"),
        ({"beam_size": 10**9}, "beam_size must be an int from 1 to 32, got 1000000000"),
        ({"beam_size": True}, "beam_size must be an int from 1 to 32, got True"),
        ({"max_len": 10**9, "length_penalty": 1.0}, "max_len must be an int from 1 to 200"),
    ],
)
def test_search_settings_are_bounded(kw: dict[str, Any], message: str) -> None:
    from lstm_apps.runtime import InputError

    cap = Captioner.from_dir(SHIPPED)
    with pytest.raises(InputError, match=re.escape(message)):
        cap.caption(SAMPLE, **kw)


@pytest.mark.parametrize("bad", [None, 5, 2.5])
def test_caption_refuses_what_is_not_an_image(bad: Any) -> None:
    from lstm_apps.runtime import InputDTypeError

    with pytest.raises(InputDTypeError, match="images must be a path, a PIL image"):
        Captioner.from_dir(SHIPPED).caption(bad)


def test_a_file_name_too_long_is_an_image_error(tmp_path: Path) -> None:
    with pytest.raises(ImageInputError, match="cannot open the file"):
        Captioner.from_dir(SHIPPED).caption(tmp_path / ("x" * 300 + ".png"))
