"""int8 caption graphs: encoder.int8.onnx and decoder.int8.onnx, checked before they ship.

    lstm-apps quantize caption export/caption --data runs/release/data/caption

onnxruntime's dynamic quantisation turns the MatMul/Gemm weights (the encoder's head, the
decoder's attention, LSTM and vocabulary projection) and the LSTM into int8; convolutions
stay fp32. Both graphs keep their names, shapes and metadata, plus a `quantization` key,
so the runtime loads them like the fp32 ones (`Captioner.from_dir(..., int8=True)`).

The check: content accuracy at beam 3 on the test split, int8 against fp32, both through
the runtime. More than `max_drop` (0.5 points) lower and nothing is written. The activation
scales are picked per call, so the runtime captions int8 one image per call: a caption
then depends on its image only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx

from lstm_apps.onnx.card import updated_bundle
from lstm_apps.onnx.export import add_metadata
from lstm_apps.runtime.errors import ParityError
from lstm_apps.runtime.manifest import read_config, write_config
from lstm_apps.runtime.session import read_metadata

__all__ = ["INT8_FILES", "MAX_DROP", "add_int8_captions", "quantize_caption_graphs"]

INT8_FILES = {"encoder.onnx": "encoder.int8.onnx", "decoder.onnx": "decoder.int8.onnx"}
MAX_DROP = 0.005  # content accuracy int8 may lose against fp32 (0.5 points)
CARD_TITLE = "## int8 graphs (encoder.int8.onnx, decoder.int8.onnx)"


def quantize_caption_graphs(folder: Path) -> None:
    """Write folder/*.int8.onnx from folder's fp32 encoder and decoder."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    for src, dst in INT8_FILES.items():
        meta = read_metadata({p.key: p.value for p in onnx.load(str(folder / src)).metadata_props})
        quantize_dynamic(str(folder / src), str(folder / dst), weight_type=QuantType.QInt8,
                         op_types_to_quantize=["LSTM", "MatMul", "Gemm"])  # fmt: skip
        proto = onnx.load(str(folder / dst))
        del proto.metadata_props[:]
        add_metadata(proto, {**meta, "quantization": "dynamic int8 (LSTM, MatMul, Gemm)"})
        onnx.save(proto, str(folder / dst))


def _content(cap: Any, images: np.ndarray, refs: list[list[str]], beam: int) -> float:
    from lstm_apps.data.shapes import content_correct_from_reference

    hyps = [c.tokens for i in range(0, len(images), 64)
            for c in cap.caption(list(images[i : i + 64]), beam_size=beam)]  # fmt: skip
    return float(np.mean([content_correct_from_reference(h, r) for h, r in
                          zip(hyps, refs, strict=True)]))  # fmt: skip


def add_int8_captions(
    bundle: str | Path,
    data: str | Path,
    *,
    split: str = "test",
    limit: int | None = None,
    max_drop: float = MAX_DROP,
    command: str = "lstm-apps quantize caption BUNDLE --data DATA",
) -> dict[str, Any]:
    """Add the int8 graphs to `bundle` if their content accuracy at beam 3 on `split` of
    `data` is at most `max_drop` below fp32's; else ParityError and the bundle is
    unchanged. Re-seals config.json and adds the result to MODEL_CARD.md."""
    from lstm_apps.runtime.caption import Captioner
    from lstm_apps.train.caption_data import load_caption_split

    bundle = Path(bundle)
    meta = {k: v for k, v in read_config(bundle).items() if k != "files"}
    fp32 = Captioner.from_dir(bundle, intra_op_threads=1)
    test = load_caption_split(Path(data), split, limit, size=fp32.spec.image_size)
    refs = [caps[0] for caps in test.captions]
    with updated_bundle(bundle, drop=tuple(INT8_FILES.values())) as tmp:
        quantize_caption_graphs(tmp)
        write_config(tmp, meta)  # lists the new graphs; again after the card
        int8 = Captioner.from_dir(tmp, int8=True, verify=False, intra_op_threads=1)
        result = {"n": len(refs), "split": split, "command": command}
        for name, cap in (("fp32", fp32), ("int8", int8)):
            result[name] = {b: _content(cap, test.images, refs, b) for b in (1, 3)}
        drop = result["fp32"][3] - result["int8"][3]
        if drop > max_drop:
            raise ParityError(
                f"int8 captions: content accuracy at beam 3 {result['int8'][3]:.2%} is "
                f"{drop:.2%} below fp32's {result['fp32'][3]:.2%} on {len(refs)} {split} "
                f"images (at most {max_drop:.2%} allowed); nothing written"
            )
        sizes = {f: (tmp / f).stat().st_size / 1e6 for f in INT8_FILES.values()}
        card = (tmp / "MODEL_CARD.md").read_text().split("\n" + CARD_TITLE)[0].rstrip("\n")
        (tmp / "MODEL_CARD.md").write_text(card + "\n\n" + "\n".join([
            CARD_TITLE, "",
            f"Made and checked by `{command}`: dynamic int8 (LSTM, MatMul, Gemm weights; "
            "convolutions fp32), captioned one image per call. Content accuracy on the "
            f"{len(refs)} {split} images, through the runtime:", "",
            "| decoding | fp32 | int8 |", "|---|---|---|",
            *[f"| beam {b} | {result['fp32'][b]:.1%} | {result['int8'][b]:.1%} |" for b in (1, 3)],
            "", f"Files: encoder.int8.onnx {sizes['encoder.int8.onnx']:.2f} MB, "
            f"decoder.int8.onnx {sizes['decoder.int8.onnx']:.2f} MB. Load with "
            "`Captioner.from_dir(path, int8=True)`.", "",
        ]))  # fmt: skip
    return result
