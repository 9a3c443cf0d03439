"""Caption metrics: BLEU-1..4 and CIDEr through pycocoevalcap, and content accuracy on shapes.

    scores = caption_scores(hypotheses, references)
    # {"bleu1": .., "bleu4": .., "cider": .., "content_accuracy": .. (shapes data only)}

Token lists go in as space-joined strings (already tokenized like the Karpathy files, so
the Java PTB tokenizer is not needed). Content accuracy applies when every image's first
reference parses as a shapes caption: a hypothesis is correct when its objects (size,
colour, shape) and relation match that scene, either object first.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from typing import Any

from lstm_apps.data.shapes import content_correct_from_reference, parse_caption


def caption_scores(
    hypotheses: Sequence[Sequence[str]], references: Sequence[Sequence[Sequence[str]]]
) -> dict[str, Any]:
    """hypotheses[i] : tokens of image i; references[i] : its reference token lists."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider

    if len(hypotheses) != len(references) or not hypotheses:
        raise ValueError(
            f"need one hypothesis per image, got {len(hypotheses)} for {len(references)} images"
        )
    gts = {i: [" ".join(r) for r in refs] for i, refs in enumerate(references)}
    res = {i: [" ".join(h) if h else "<empty>"] for i, h in enumerate(hypotheses)}
    with contextlib.redirect_stdout(io.StringIO()):  # pycocoevalcap prints its internals
        bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
        cider, _ = Cider().compute_score(gts, res)
    scores: dict[str, Any] = {f"bleu{n + 1}": float(b) for n, b in enumerate(bleu)}
    scores["cider"] = float(cider)
    canonical = [refs[0] for refs in references]
    if all(parse_caption(c) is not None for c in canonical):
        correct = [
            content_correct_from_reference(list(h), list(c))
            for h, c in zip(hypotheses, canonical, strict=True)
        ]
        scores["content_accuracy"] = sum(correct) / len(correct)
    return scores
