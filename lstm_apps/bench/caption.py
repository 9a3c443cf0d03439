"""Caption benchmarks: the encoder, one decoder step, a full greedy caption and beam 3.

torch runs the model in eager mode (`encode`, `step`, and `generate`, which drives
`model.step` through the shared numpy search, its state kept in torch); onnxruntime runs
the runtime's `Captioner` (encoder.onnx, then decoder.onnx step by step through the same
search). `ort_loop` is greedy.onnx: the encoder and the whole greedy loop in one graph,
one call. Cases: encoder, step (one decoder step), greedy and beam3 (a 20-word caption),
at each batch size (1 and 16 by default).

Every caption is forced to its full length (max_len, 20 words): the search is given an
<end> id that no step can produce (-1), and greedy.onnx a copy whose loop constant is
changed the same way, so the work does not depend on what the weights would say.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from lstm_apps.bench.sources import CaptionSource
from lstm_apps.bench.timing import BenchSettings, Timing, measure_interleaved
from lstm_apps.nn.caption import generate
from lstm_apps.runtime.caption import Captioner
from lstm_apps.runtime.search import SearchOptions, search
from lstm_apps.runtime.session import OnnxModel

NEVER = -1  # an <end> id no step produces: every caption runs max_len steps


def _ort_caption(cap: Captioner, images: np.ndarray, opts: SearchOptions) -> list[Any]:
    return search(cap.step, cap.encoder_state(cap.encoder.run({"images": images})), opts)


def bench_caption(
    source: CaptionSource,
    threads: int,
    settings: BenchSettings,
    batches: tuple[int, ...],
    record: Callable[[dict[str, Any], Timing], None],
) -> None:
    """Time every caption case at `threads`; `record(row, timing)` receives each result."""
    torch.set_num_threads(threads)
    model = source.model
    cfg = model.config
    caps = {
        "ort_fp32": Captioner(source.encoder, source.decoder, intra_op_threads=threads),
        "ort_int8": Captioner(source.encoder_int8, source.decoder_int8, intra_op_threads=threads),
    }
    loop = OnnxModel(source.greedy, intra_op_threads=threads)
    rng = np.random.default_rng(0)
    for batch in batches:
        images = rng.integers(0, 256, (batch, cfg.image_size, cfg.image_size, 3), dtype=np.uint8)
        row = {"model": "caption", "batch": batch, "threads": threads}
        _bench_batch(
            source,
            caps,
            loop,
            images,
            settings,
            threads,
            lambda r, t, row=row: record({**row, **r}, t),
        )


def _bench_batch(
    source: CaptionSource,
    caps: dict[str, Captioner],
    loop: OnnxModel,
    images: np.ndarray,
    settings: BenchSettings,
    threads: int,
    record: Callable[[dict[str, Any], Timing], None],
) -> None:
    """Every caption case on one batch of images (backends interleaved at one thread)."""
    model, cfg = source.model, source.model.config
    timages = torch.from_numpy(images)
    with torch.inference_mode():
        feats, keys, h0, c0 = model.encode(timages)
        tokens = torch.full((len(images),), source.start_id, dtype=torch.int64)
        cases: dict[str, dict[str, Callable[[], object]]] = {
            "encoder": {"torch": lambda: model.encode(timages)},
            "step": {"torch": lambda: model.step(tokens, h0, c0, feats, keys)},
        }
        for name, cap in caps.items():
            state = cap.encoder_state(cap.encoder.run({"images": images}))
            cases["encoder"][name] = lambda cap=cap: cap.encoder.run({"images": images})
            cases["step"][name] = lambda cap=cap, s=state: cap.step(tokens.numpy(), s)
        for case, beam in (("greedy", 1), ("beam3", 3)):
            opts = SearchOptions(
                beam_size=beam, max_len=cfg.max_len, start_id=source.start_id, end_id=NEVER
            )
            cases[case] = {"torch": lambda opts=opts: generate(model, timages, opts)}
            for name, cap in caps.items():
                cases[case][name] = lambda cap=cap, o=opts: _ort_caption(cap, images, o)
        cases["greedy"]["ort_loop"] = lambda: loop.run({"images": images})
        for case, fns in cases.items():
            for backend, t in measure_interleaved(fns, settings, threads == 1).items():
                record({"case": case, "backend": backend}, t)
