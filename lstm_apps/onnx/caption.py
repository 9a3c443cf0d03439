"""Export a trained caption run to an ONNX bundle, checking parity at every step.

    lstm-apps export caption runs/caption export/caption

    encoder.onnx  images uint8 (batch, H, W, 3) -> features (batch, K, D), keys (batch, K, A),
                  h0, c0 (layers, batch, hidden)
    decoder.onnx  tokens int64 (batch,), h, c, features, keys -> logprobs (batch, V), h_out,
                  c_out, alpha (batch, K)
    greedy.onnx   images uint8 (batch, H, W, 3) -> tokens int64 (batch, T), alphas
                  (batch, T, K): the encoder and the whole greedy loop (an ONNX Loop) in one
                  graph, for hosts that cannot run a Python-side loop
    vocab.json, config.json, MODEL_CARD.md

greedy.onnx is assembled from the two exported graphs: the encoder's nodes, then a Loop
whose body is the decoder step plus ArgMax; tokens after <end> are <pad> (0), and the loop
stops early once every image has produced <end>. The attention keys (the features'
projection) are computed once by the encoder and read by every step. Every file's
metadata and config.json are `CaptionBundle.to_metadata()` (runtime/caption_bundle.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper
from torch import Tensor, nn

from lstm_apps.nn.caption import CaptionModel, generate
from lstm_apps.onnx.caption_card import CaptionExportReport, model_card
from lstm_apps.onnx.card import bundle_sizes, check_budget
from lstm_apps.onnx.export import add_metadata, export_onnx
from lstm_apps.onnx.golden import write_caption_golden
from lstm_apps.runtime.caption import Captioner
from lstm_apps.runtime.caption_bundle import FORMAT_VERSION, CaptionBundle
from lstm_apps.runtime.errors import ParityError
from lstm_apps.runtime.files import atomic_dir
from lstm_apps.runtime.manifest import write_config
from lstm_apps.runtime.search import ArrayState, SearchOptions, search
from lstm_apps.runtime.session import OnnxModel
from lstm_apps.runtime.vocab import Vocab
from lstm_apps.train.checkpoint import save_checkpoint

__all__ = [
    "FORMAT_VERSION",
    "CaptionExportReport",
    "build_greedy",
    "bundle_metadata",
    "check_caption_parity",
    "export_caption",
]
ENCODER_OUTPUTS = ["features", "keys", "h0", "c0"]
DECODER_INPUTS = ["tokens", "h", "c", "features", "keys"]  # = CaptionModel.step's arguments


class _Encoder(nn.Module):
    def __init__(self, model: CaptionModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        return self.model.encode(images)


class _Decoder(_Encoder):
    def forward(  # type: ignore[override]
        self, tokens: Tensor, h: Tensor, c: Tensor, features: Tensor, keys: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        return self.model.step(tokens, h, c, features, keys)


def bundle_metadata(model: CaptionModel, vocab: Vocab) -> dict[str, Any]:
    """What every file of the bundle carries (plus `kind`), and config.json."""
    return CaptionBundle.create(model.config.to_dict(), vocab).to_metadata()


def _prefixed(graph: onnx.GraphProto, prefix: str, keep: dict[str, str]) -> list[onnx.NodeProto]:
    """Copies of graph's nodes with every tensor name prefixed, except those in `keep`
    (renamed as the dict says)."""
    nodes = []
    for node in graph.node:
        n = onnx.NodeProto()
        n.CopyFrom(node)
        n.name = prefix + node.name
        n.input[:] = [keep.get(x, prefix + x) if x else x for x in node.input]
        n.output[:] = [keep.get(x, prefix + x) for x in node.output]
        nodes.append(n)
    return nodes


def _renamed_initializers(graph: onnx.GraphProto, prefix: str) -> list[onnx.TensorProto]:
    out = []
    for init in graph.initializer:
        t = onnx.TensorProto()
        t.CopyFrom(init)
        t.name = prefix + init.name
        out.append(t)
    return out


def build_greedy(
    encoder: onnx.ModelProto, decoder: onnx.ModelProto, model: CaptionModel, vocab: Vocab
) -> onnx.ModelProto:
    """One graph: encoder, then a Loop over the decoder step with ArgMax."""
    cfg = model.config
    L, H, K = cfg.num_layers, cfg.hidden_size, cfg.num_cells
    enc, dec = encoder.graph, decoder.graph
    enc_nodes = _prefixed(enc, "enc/", {"images": "images"})
    outputs = {o.name: f"enc/{o.name}" for o in enc.output}
    features, keys, h0, c0 = (outputs[name] for name in ENCODER_OUTPUTS)

    const = lambda name, value, dtype: helper.make_node(
        "Constant", [], [name], value=helper.make_tensor(name, dtype, [], [value])
    )
    # body: (iter, cond, tok, h, c, done) -> (cond, tok, h, c, done, out_tok, alpha)
    keep = {"tokens": "b/tok", "h": "b/h", "c": "b/c", "features": features, "keys": keys}
    body_nodes = _prefixed(dec, "dec/", keep)
    logprobs, h_new, c_new, alpha = (f"dec/{o.name}" for o in dec.output)
    body_nodes += [
        helper.make_node("ArgMax", [logprobs], ["b/next"], axis=1, keepdims=0),
        const("b/end", vocab.end_id, TensorProto.INT64),
        const("b/pad", vocab.pad_id, TensorProto.INT64),
        helper.make_node("Where", ["b/done", "b/pad", "b/next"], ["b/out_tok"]),
        helper.make_node("Equal", ["b/next", "b/end"], ["b/is_end"]),
        helper.make_node("Or", ["b/done", "b/is_end"], ["b/done_new"]),
        helper.make_node("Cast", ["b/done_new"], ["b/done_i"], to=TensorProto.INT64),
        helper.make_node("ReduceMin", ["b/done_i"], ["b/all_done"], keepdims=0),
        const("b/zero", 0, TensorProto.INT64),
        helper.make_node("Equal", ["b/all_done", "b/zero"], ["b/cond_out"]),
        helper.make_node("Identity", [h_new], ["b/h_out"]),
        helper.make_node("Identity", [c_new], ["b/c_out"]),
        # Scan outputs leave the body 1-D, reshaped after the Loop: runtimes disagree on
        # whether Loop stacks or concatenates them (onnxruntime stacks; onnx's
        # ReferenceEvaluator 1.23 np.vstack-s, which concatenates rank >= 2), and a 1-D
        # value reshaped with -1 gives (steps, batch, K) under every reading.
        helper.make_node(
            "Constant",
            [],
            ["b/flat"],
            value=helper.make_tensor("b/flat", TensorProto.INT64, [1], [-1]),
        ),
        helper.make_node("Reshape", [alpha, "b/flat"], ["b/alpha"]),
    ]
    f32, i64, b = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL
    body = helper.make_graph(
        body_nodes,
        "greedy_step",
        [
            helper.make_tensor_value_info("b/iter", i64, []),
            helper.make_tensor_value_info("b/cond", b, []),
            helper.make_tensor_value_info("b/tok", i64, ["batch"]),
            helper.make_tensor_value_info("b/h", f32, [L, "batch", H]),
            helper.make_tensor_value_info("b/c", f32, [L, "batch", H]),
            helper.make_tensor_value_info("b/done", b, ["batch"]),
        ],
        [
            helper.make_tensor_value_info("b/cond_out", b, []),
            helper.make_tensor_value_info("b/next", i64, ["batch"]),
            helper.make_tensor_value_info("b/h_out", f32, [L, "batch", H]),
            helper.make_tensor_value_info("b/c_out", f32, [L, "batch", H]),
            helper.make_tensor_value_info("b/done_new", b, ["batch"]),
            helper.make_tensor_value_info("b/out_tok", i64, ["batch"]),
            helper.make_tensor_value_info("b/alpha", f32, ["batch_x_cells"]),
        ],
        initializer=_renamed_initializers(dec, "dec/"),
    )
    main_nodes = [
        *enc_nodes,
        helper.make_node("Shape", [features], ["g/fshape"]),
        helper.make_node("Slice", ["g/fshape", "g/i0", "g/i1"], ["g/batch"]),
        helper.make_node(
            "ConstantOfShape",
            ["g/batch"],
            ["g/tok0"],
            value=helper.make_tensor("v", i64, [1], [vocab.start_id]),
        ),
        helper.make_node(
            "ConstantOfShape", ["g/batch"], ["g/done0"], value=helper.make_tensor("v", b, [1], [0])
        ),
        helper.make_node(
            "Loop",
            ["g/max_len", "g/true", "g/tok0", h0, c0, "g/done0"],
            ["g/tok_last", "g/h_last", "g/c_last", "g/done_last", "g/scan_tok", "g/scan_alpha"],
            body=body,
        ),
        helper.make_node("Concat", ["g/minus1", "g/batch"], ["g/tok_shape"], axis=0),
        helper.make_node("Reshape", ["g/scan_tok", "g/tok_shape"], ["g/steps_tok"]),
        helper.make_node("Concat", ["g/minus1", "g/batch", "g/cells"], ["g/alpha_shape"], axis=0),
        helper.make_node("Reshape", ["g/scan_alpha", "g/alpha_shape"], ["g/steps_alpha"]),
        helper.make_node("Transpose", ["g/steps_tok"], ["tokens"], perm=[1, 0]),
        helper.make_node("Transpose", ["g/steps_alpha"], ["alphas"], perm=[1, 0, 2]),
    ]
    inits = [
        *_renamed_initializers(enc, "enc/"),
        helper.make_tensor("g/i0", i64, [1], [0]),
        helper.make_tensor("g/i1", i64, [1], [1]),
        helper.make_tensor("g/max_len", i64, [], [cfg.max_len]),
        helper.make_tensor("g/true", b, [], [1]),
        helper.make_tensor("g/minus1", i64, [1], [-1]),
        helper.make_tensor("g/cells", i64, [1], [K]),
    ]
    graph = helper.make_graph(
        main_nodes,
        "greedy_caption",
        [
            helper.make_tensor_value_info(
                "images", TensorProto.UINT8, ["batch", "height", "width", 3]
            )
        ],
        [
            helper.make_tensor_value_info("tokens", i64, ["batch", "steps"]),
            helper.make_tensor_value_info("alphas", f32, ["batch", "steps", K]),
        ],
        initializer=inits,
    )
    out = helper.make_model(
        graph, opset_imports=list(encoder.opset_import), producer_name="lstm-apps"
    )
    out.ir_version = encoder.ir_version
    onnx.checker.check_model(out)
    return out


def _pad_tokens(hyps: list[list[int]], end_id: int, steps: int) -> np.ndarray:
    """Hypotheses as greedy.onnx writes them: tokens, <end>, then <pad> (0)."""
    out = np.zeros((len(hyps), steps), np.int64)
    for i, t in enumerate(hyps):
        seq = ([*t, end_id])[:steps]
        out[i, : len(seq)] = seq
    return out


def export_caption(
    model: CaptionModel,
    vocab: Vocab,
    out_dir: str | Path,
    images: np.ndarray,
    *,
    metrics: dict[str, Any] | None = None,
    command: str = "lstm-apps export caption RUN OUT",
    max_bytes: int | None = None,
    evaluations: dict[str, dict[str, Any]] | None = None,
) -> CaptionExportReport:
    """Write the bundle atomically. images (N, H, W, 3) uint8: real inputs for parity.
    evaluations: `eval caption` reports (RUN/eval/*/caption_eval.json) for the card."""
    model = model.eval()
    cfg = model.config
    meta = bundle_metadata(model, vocab)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8 or not len(images):
        raise ValueError(f"images must be (N, H, W, 3) uint8 with N > 0, got {images.shape}")
    g = torch.Generator().manual_seed(0)
    img = lambda b, s: (torch.randint(0, 256, (b, s, s + 8, 3), generator=g, dtype=torch.uint8),)
    L, H, K, D = cfg.num_layers, cfg.hidden_size, cfg.num_cells, cfg.feature_dim

    def step_args(b: int) -> tuple[Tensor, ...]:
        tok = torch.randint(0, cfg.vocab_size, (b,), generator=g)
        features = torch.randn(b, K, D, generator=g)
        with torch.no_grad():
            keys = model.decoder.keys(features)
        return (tok, torch.randn(L, b, H, generator=g) * 0.3, torch.randn(L, b, H, generator=g)
                * 0.3, features, keys)  # fmt: skip

    with atomic_dir(out_dir, replaces="config.json") as tmp:
        export_onnx(
            _Encoder(model), img(1, 96), tmp / "encoder.onnx",
            input_names=["images"], output_names=ENCODER_OUTPUTS,
            dynamic_axes={"images": {0: "batch", 1: "height", 2: "width"},
                          "features": {0: "batch"}, "keys": {0: "batch"}, "h0": {1: "batch"},
                          "c0": {1: "batch"}},
            metadata={**meta, "kind": "caption_encoder"},
            parity_inputs=[img(b, s) for b in (1, 4) for s in (64, 128)],
        )  # fmt: skip
        export_onnx(
            _Decoder(model), step_args(2), tmp / "decoder.onnx",
            input_names=DECODER_INPUTS,
            output_names=["logprobs", "h_out", "c_out", "alpha"],
            dynamic_axes={"tokens": {0: "batch"}, "h": {1: "batch"}, "c": {1: "batch"},
                          "features": {0: "batch"}, "keys": {0: "batch"}, "logprobs": {0: "batch"},
                          "h_out": {1: "batch"}, "c_out": {1: "batch"}, "alpha": {0: "batch"}},
            metadata={**meta, "kind": "caption_decoder"},
            parity_inputs=[step_args(b) for b in (1, 4)],
        )  # fmt: skip
        greedy = build_greedy(
            onnx.load(str(tmp / "encoder.onnx")), onnx.load(str(tmp / "decoder.onnx")), model, vocab
        )
        add_metadata(greedy, {**meta, "kind": "caption_greedy"})
        onnx.save(greedy, str(tmp / "greedy.onnx"))
        report = check_caption_parity(model, vocab, tmp, images)
        vocab.save(tmp / "vocab.json")
        write_config(tmp, meta)  # for the golden writer's loader; again with every digest
        write_caption_golden(tmp, images[0], images[min(1, len(images) - 1)])
        extra = {"vocab": list(vocab.itos)}  # for explain / fine-tuning
        save_checkpoint(tmp / "checkpoint", model, kind="caption", extra=extra)
        report = CaptionExportReport(
            report.max_logprob_diff, report.images_checked, bundle_sizes(tmp)
        )
        check_budget(report.sizes, max_bytes, out_dir)
        card = model_card(cfg, report, metrics or {}, tmp, command, evaluations)
        (tmp / "MODEL_CARD.md").write_text(card)
        write_config(tmp, meta)  # last: it holds the sha256 of every other file
    return report


def check_caption_parity(
    model: CaptionModel,
    vocab: Vocab,
    bundle: Path,
    images: np.ndarray,
    batches: tuple[int, ...] = (1, 4),
) -> CaptionExportReport:
    """Greedy tokens must agree three ways (torch, encoder+decoder in onnxruntime,
    greedy.onnx) on every image, at each batch size; decoder logprobs within 1e-4.

    The onnxruntime side is the runtime's own `Captioner` (its `encoder_state` and `step`,
    so the feeds checked here are the ones an app sends), reading the metadata just written.
    """
    cap = Captioner(bundle / "encoder.onnx", bundle / "decoder.onnx", intra_op_threads=1)
    greedy = OnnxModel(bundle / "greedy.onnx", intra_op_threads=1)
    opts = SearchOptions(max_len=model.config.max_len, start_id=vocab.start_id, end_id=vocab.end_id)
    worst = 0.0

    def checked_step(
        tokens: np.ndarray, state: ArrayState
    ) -> tuple[np.ndarray, ArrayState, np.ndarray]:
        nonlocal worst
        logprobs, new, alpha = cap.step(tokens, state)
        args = (tokens, *state.carried, *state.per_image)  # the order of DECODER_INPUTS
        with torch.no_grad():
            want = model.step(*(torch.from_numpy(np.ascontiguousarray(a)) for a in args))[0]
        worst = max(worst, float(np.abs(want.numpy() - logprobs).max()))
        return logprobs, new, alpha

    for b in batches:
        for i in range(0, len(images), b):
            x = np.ascontiguousarray(images[i : i + b])
            want = [h.tokens for h in generate(model, torch.from_numpy(x), opts)]
            state = cap.encoder_state(cap.encoder.run({"images": x}))
            got = [h.tokens for h in search(checked_step, state, opts)]
            if got != want:
                raise ParityError(
                    "encoder+decoder.onnx greedy tokens differ from torch at images "
                    f"{i}..{i + b - 1}"
                )
            g = greedy.run({"images": x})["tokens"]
            if not np.array_equal(g, _pad_tokens(want, vocab.end_id, g.shape[1])):
                raise ParityError(
                    f"greedy.onnx tokens differ from torch at images {i}..{i + b - 1}"
                )
    if worst > 1e-4:
        raise ParityError(f"decoder.onnx logprobs differ from torch by {worst:.2e} (limit 1e-4)")
    return CaptionExportReport(worst, len(images), {})
