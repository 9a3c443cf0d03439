"""The shipped fp32 bundles outside onnxruntime: onnx's ReferenceEvaluator and tract.

    pytest tests/test_portability.py        # a few seconds, one thread

Every test runs a shipped file (export/speech, export/caption, whatever is there now) on
real inputs (samples/) in onnxruntime and in another runtime and compares the two; no
expected numbers are stored. What does not run where is in export/README.md ("Runtimes
tested"): tract has no `Loop` (greedy.onnx; a tract host runs the encoder + decoder loop,
tested below) and neither runtime has onnxruntime's `com.microsoft` ops (model.int8.onnx).

Tolerances are 6-40x the largest difference measured on these inputs (export/README.md
lists the measurements): 1e-4 absolute on logits, log-probabilities, features and h; the
stream's cell state c also gets 1e-3 relative, because a few cells integrate over the whole
stream (|c| reaches ~700 in 14 s) and so accumulate each step's float rounding (tract:
1.7e-4 relative after 14 s). Token ids, labels and detections must be identical.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import tract
from onnx.reference import ReferenceEvaluator

from lstm_apps.runtime.audio import fit_length, load_audio
from lstm_apps.runtime.caption import Captioner
from lstm_apps.runtime.detect import Detector, DetectorConfig, softmax
from lstm_apps.runtime.image import load_image
from lstm_apps.runtime.search import Hypothesis, SearchOptions, beam_search, greedy_search
from lstm_apps.runtime.session import OnnxModel

ROOT = Path(__file__).resolve().parents[1]
SPEECH, CAPTION = ROOT / "export" / "speech", ROOT / "export" / "caption"
SAMPLES = ROOT / "samples"
FP32 = [
    SPEECH / "model.onnx",
    SPEECH / "stream.onnx",
    CAPTION / "encoder.onnx",
    CAPTION / "decoder.onnx",
    CAPTION / "greedy.onnx",
]
ATOL = 1e-4  # logits, log-probabilities, features, h, attention
C_RTOL = 1e-3  # the stream's cell state, on top of ATOL

Feeds = dict[str, np.ndarray]
Runner = Callable[[Feeds], dict[str, np.ndarray]]


def reference(path: Path) -> Runner:
    ev = ReferenceEvaluator(str(path))
    names = list(ev.output_names)
    return lambda feeds: dict(zip(names, ev.run(None, feeds), strict=True))


class Tract:
    """A tract model with its batch axis fixed per batch size (one plan each).

    tract 0.23 cannot run these files with `batch` left symbolic: model.onnx's LSTM then
    runs only at batch 1 and encoder.onnx's Resize cannot be planned. Outputs are returned
    under the ONNX output names (tract names them after the producing node).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        graph = onnx.load(str(path), load_external_data=False).graph
        self.inputs = [i.name for i in graph.input]
        self.outputs = [o.name for o in graph.output]
        model = tract.onnx().load(str(path))
        self.facts = [str(model.input_fact(i)).split(",") for i in range(model.input_count())]
        self.plans: dict[int, Any] = {}

    def __call__(self, feeds: Feeds) -> dict[str, np.ndarray]:
        first = self.facts[0]
        batch = feeds[self.inputs[0]].shape[first.index("batch")]
        if batch not in self.plans:
            model = tract.onnx().load(str(self.path))
            for i, fact in enumerate(self.facts):
                model.set_input_fact(i, ",".join(str(batch) if d == "batch" else d for d in fact))
            self.plans[batch] = model.into_model().into_runnable()
        out = self.plans[batch].run([feeds[n] for n in self.inputs])
        return dict(zip(self.outputs, (t.to_numpy() for t in out), strict=True))


def onnxruntime(path: Path) -> Runner:
    return OnnxModel(path, intra_op_threads=1).run


RUNTIMES: dict[str, Callable[[Path], Runner]] = {"reference": reference, "tract": Tract}


@pytest.fixture(scope="module", params=sorted(RUNTIMES))
def runtime(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _close(name: str, got: np.ndarray, want: np.ndarray, rtol: float = 0.0) -> None:
    assert got.shape == want.shape, f"{name}: shape {got.shape}, onnxruntime {want.shape}"
    np.testing.assert_allclose(got, want, rtol=rtol, atol=ATOL, err_msg=name)


# --- the files and their contract ----------------------------------------------------------


def _ops(graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    nodes = list(graph.node)
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                nodes += _ops(attr.g)
    return nodes


@pytest.mark.parametrize("path", FP32, ids=lambda p: p.name)
def test_fp32_files_use_standard_onnx_opset_17_only(path: Path) -> None:
    model = onnx.load(str(path))
    assert {(o.domain, o.version) for o in model.opset_import} == {("", 17)}
    assert {n.domain for n in _ops(model.graph)} <= {"", "ai.onnx"}
    assert not model.graph.sparse_initializer
    assert all(t.data_location == onnx.TensorProto.DEFAULT for t in model.graph.initializer)


def test_int8_model_needs_onnxruntime_contrib_ops() -> None:
    """export/README.md says model.int8.onnx is onnxruntime-only; this is why."""
    model = onnx.load(str(SPEECH / "model.int8.onnx"))
    assert "com.microsoft" in {n.domain for n in model.graph.node}
    fp32 = onnx.load(str(SPEECH / "model.onnx"))
    assert _io(model) == _io(fp32)


_DTYPES = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.INT64: "int64",
           onnx.TensorProto.UINT8: "uint8"}  # fmt: skip


def _io(model: onnx.ModelProto) -> list[tuple[str, str, str, int]]:
    rows = []
    for way, values in (("in", model.graph.input), ("out", model.graph.output)):
        for v in values:
            t = v.type.tensor_type
            rows.append((way, v.name, _DTYPES[t.elem_type], len(t.shape.dim)))
    return rows


def _readme_tables() -> dict[str, list[tuple[str, str, str, int]]]:
    """export/README.md's per-file tables: file -> (in|out, name, dtype, rank) rows."""
    tables: dict[str, list[tuple[str, str, str, int]]] = {}
    current = None
    row = re.compile(r"^\| (in|out) \| `(\w+)` \| (\w+) \| `\[([^\]]*)\]` \|")
    for line in (ROOT / "export" / "README.md").read_text().splitlines():
        if m := re.match(r"^### `(\w+\.onnx)`", line):
            current = m.group(1)
            tables[current] = []
        elif (m := row.match(line)) and current is not None:
            way, name, dtype, dims = m.groups()
            tables[current].append((way, name, dtype, len(dims.split(","))))
    return tables


def test_readme_tables_name_every_input_and_output() -> None:
    tables = _readme_tables()
    for path in FP32:
        assert path.name in tables, f"export/README.md has no table for {path.name}"
        assert tables[path.name] == _io(onnx.load(str(path))), path.name


# --- speech --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clips() -> np.ndarray:
    """Two sample clips as the runtime prepares them: 16 kHz mono, centre-padded to 1 s."""
    meta = OnnxModel(SPEECH / "model.onnx").require_metadata("preprocessing")
    paths = sorted((SAMPLES / "speech").glob("*_*.wav"))[:2]
    rate, n = meta["sample_rate"], meta["clip_samples"]
    return np.stack([fit_length(load_audio(p, target_rate=rate), n) for p in paths])


def test_speech_model(runtime: str, clips: np.ndarray) -> None:
    want = onnxruntime(SPEECH / "model.onnx")({"waveform": clips})["logits"]
    got = RUNTIMES[runtime](SPEECH / "model.onnx")({"waveform": clips})["logits"]
    _close("logits", got, want)
    assert (got.argmax(1) == want.argmax(1)).all()


def _stream(run: Runner, audio: np.ndarray, chunk: int) -> tuple[np.ndarray, Feeds, list[Any]]:
    """stream.onnx over audio in chunks, carrying (h, c, context) as export/README.md says."""
    info = OnnxModel(SPEECH / "stream.onnx").require_metadata("stream")
    labels = OnnxModel(SPEECH / "stream.onnx").require_metadata("labels")
    state = np.zeros((info["num_layers"], 1, info["hidden_size"]), np.float32)
    feeds = {"context": np.zeros((1, info["context"]), np.float32), "h": state, "c": state}
    detector = Detector(labels, DetectorConfig(frame_seconds=info["frame_seconds"]))
    logits, detections = [], []
    for i in range(0, len(audio) - chunk + 1, chunk):
        o = run({**feeds, "chunk": audio[None, i : i + chunk]})
        feeds = {"context": o["context_out"], "h": o["h_out"], "c": o["c_out"]}
        logits.append(o["logits"][0])
        detections += detector.push(softmax(o["logits"][0]))
    return np.concatenate(logits), feeds, detections


def test_speech_stream_carries_state_like_onnxruntime(runtime: str) -> None:
    audio = load_audio(SAMPLES / "speech" / "stream.wav")  # 14 s, four commands
    chunk = 5 * 320  # 100 ms
    want, want_state, want_det = _stream(onnxruntime(SPEECH / "stream.onnx"), audio, chunk)
    got, got_state, got_det = _stream(RUNTIMES[runtime](SPEECH / "stream.onnx"), audio, chunk)
    _close("logits", got, want)
    _close("h", got_state["h"], want_state["h"])
    _close("c", got_state["c"], want_state["c"], rtol=C_RTOL)
    # context: the audio samples are copies (exact); a PCEN smoother after them is computed
    fe = OnnxModel(SPEECH / "stream.onnx").require_metadata("config")["frontend"]
    n = fe["n_fft"] - fe["hop"]
    np.testing.assert_array_equal(got_state["context"][:, :n], want_state["context"][:, :n])
    _close("smoother", got_state["context"][:, n:], want_state["context"][:, n:], rtol=1e-5)
    assert want_det, "the sample stream should give detections"
    assert [(d.label, d.time) for d in got_det] == [(d.label, d.time) for d in want_det]


# --- captions ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    """Sample scenes as the runtime loads them (RGB uint8): two 128 px, one 320 px."""
    return [load_image(SAMPLES / "images" / n) for n in ("scene1.png", "scene2.png", "scene5.png")]


def test_caption_encoder(runtime: str, images: list[np.ndarray]) -> None:
    ort_enc = onnxruntime(CAPTION / "encoder.onnx")
    enc = RUNTIMES[runtime](CAPTION / "encoder.onnx")
    for x in (np.stack(images[:2]), images[2][None]):  # batch 2, and another image size
        want, got = ort_enc({"images": x}), enc({"images": x})
        for name in ("features", "keys", "h0", "c0"):
            _close(name, got[name], want[name])


class _Through:
    """A graph run by another runtime, in the place of the Captioner's OnnxModel: the
    search then drives it through the runtime's own `Captioner.step` feeds."""

    def __init__(self, run: Runner) -> None:
        self._run = run

    def run(self, feeds: dict[str, np.ndarray], check: bool = True) -> dict[str, np.ndarray]:
        return self._run(feeds)


def _decode(runtime: str, images: np.ndarray, beam: int) -> list[list[Hypothesis]]:
    """Greedy (beam 1) or beam search in one runtime: its encoder, its decoder steps."""
    enc = onnxruntime if runtime == "onnxruntime" else RUNTIMES[runtime]
    cap = Captioner.from_dir(CAPTION, intra_op_threads=1)
    cap.decoder = _Through(enc(CAPTION / "decoder.onnx"))  # type: ignore[assignment]
    vocab = cap.spec.vocab
    opts = SearchOptions(
        beam_size=beam, max_len=cap.spec.max_len, start_id=vocab.start_id, end_id=vocab.end_id
    )
    state = cap.encoder_state(enc(CAPTION / "encoder.onnx")({"images": images}))
    if beam == 1:
        return [[h] for h in greedy_search(cap.step, state, opts)]
    return beam_search(cap.step, state, opts)


@pytest.mark.parametrize("beam", [1, 3])
def test_caption_search_over_encoder_and_decoder(
    runtime: str, images: list[np.ndarray], beam: int
) -> None:
    x = np.stack(images[:2])
    want, got = _decode("onnxruntime", x, beam), _decode(runtime, x, beam)
    for w_hyps, g_hyps in zip(want, got, strict=True):
        assert [h.tokens for h in g_hyps] == [h.tokens for h in w_hyps]
        for w, g in zip(w_hyps, g_hyps, strict=True):
            assert g.finished == w.finished
            assert abs(g.logprob - w.logprob) <= ATOL * (1 + len(w.tokens))
            _close("alphas", g.alphas, w.alphas)


def test_greedy_graph_in_reference_evaluator(images: list[np.ndarray]) -> None:
    x = np.stack(images[:2])
    want = onnxruntime(CAPTION / "greedy.onnx")({"images": x})
    got = reference(CAPTION / "greedy.onnx")({"images": x})
    np.testing.assert_array_equal(got["tokens"], want["tokens"])
    _close("alphas", got["alphas"], want["alphas"])


def test_tract_decoder_loop_gives_the_greedy_graph_tokens(images: list[np.ndarray]) -> None:
    """tract has no Loop: a tract host runs the decoder loop itself, as export/README.md shows."""
    x = np.stack(images[:2])
    want = onnxruntime(CAPTION / "greedy.onnx")({"images": x})["tokens"]  # <end>, then <pad>
    end = Captioner.from_dir(CAPTION).spec.vocab.end_id
    for row, hyps in zip(want, _decode("tract", x, beam=1), strict=True):
        tokens = hyps[0].tokens + [end] * hyps[0].finished
        assert row[: len(tokens)].tolist() == tokens
        assert not row[len(tokens) :].any()
