"""`lstm-apps eval caption MODEL --data DIR`: caption a split and say where it goes wrong.

    r = evaluate_caption("export/caption", "runs/release/data/caption-holdout", out_dir="out")
    print(format_caption_report(r))

MODEL is a bundle (encoder.onnx + decoder.onnx, run by the public runtime, as an app gets
it) or a training run (its checkpoint in torch). Besides BLEU, CIDEr and content accuracy,
the report breaks the errors down for shapes data:
- accuracy by background colour spread (max minus min channel of the mean colour of the
  image's 2 px border, which the spec's 4 px margin keeps free of objects): < 30, 30-60,
  >= 60;
- per-attribute confusion (size, colour, shape) over the objects a caption got the number
  of right, matched by the relation (either object order counts, as in content accuracy);
- whole-caption errors: wrong object count, wrong relation, unparsable;
- the confidence of right and wrong captions when the bundle has confidence.json.
With `out_dir`: caption_eval.json and caption_confusion.png (size and shape matrices and
accuracy by spread).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from lstm_apps.data import GENERATOR_JSON
from lstm_apps.data.shapes_text import (
    COLOR_NAMES,
    INVERSE_RELATION,
    SHAPE_NAMES,
    SIZE_NAMES,
    ObjectDesc,
    content_correct_from_reference,
    parse_caption,
)
from lstm_apps.runtime.errors import ConfigError, DataFormatError, InputError
from lstm_apps.runtime.files import write_text_atomic

__all__ = ["SPREAD_BINS", "background_spread", "caption_breakdown", "evaluate_caption",
           "format_caption_report"]  # fmt: skip

SPREAD_BINS = ((0.0, 30.0, "< 30"), (30.0, 60.0, "30-60"), (60.0, float("inf"), ">= 60"))
ATTRIBUTES = {"size": SIZE_NAMES, "color": COLOR_NAMES, "shape": SHAPE_NAMES}
BORDER = 2  # px of the image edge that only the background reaches (the spec's margin is 4)


def background_spread(image: npt.NDArray[np.uint8]) -> float:
    """Max minus min channel of the mean colour of the image's 2 px border."""
    img = np.asarray(image, dtype=np.float64)
    b = BORDER
    ring = np.concatenate(
        [
            img[:b].reshape(-1, 3),
            img[-b:].reshape(-1, 3),
            img[b:-b, :b].reshape(-1, 3),
            img[b:-b, -b:].reshape(-1, 3),
        ]
    )
    m = ring.mean(axis=0)
    return float(m.max() - m.min())


def _pairs(truth: Any, hyp: Any) -> tuple[list[tuple[ObjectDesc, ObjectDesc]], bool]:
    """Matched (true, predicted) objects and whether the relation is right under that match.
    Two objects: the order (as said, or swapped with the inverse relation) that agrees on
    more attributes; on a tie, the one whose relation holds."""
    if len(truth.objects) == 1:
        return [(truth.objects[0], hyp.objects[0])], True
    same = list(zip(truth.objects, hyp.objects, strict=True))
    swapped = list(zip(truth.objects, hyp.objects[::-1], strict=True))

    def rank(pairs: list[tuple[ObjectDesc, ObjectDesc]], rel_ok: bool) -> tuple[int, bool]:
        return sum(getattr(a, f) == getattr(b, f) for a, b in pairs for f in ATTRIBUTES), rel_ok

    options = [(same, hyp.relation == truth.relation),
               (swapped, hyp.relation == INVERSE_RELATION[truth.relation])]  # fmt: skip
    pairs, rel_ok = max(options, key=lambda o: rank(*o))
    return pairs, rel_ok


def caption_breakdown(
    hypotheses: list[list[str]], canonical: list[list[str]],
    images: Sequence[npt.NDArray[np.uint8]],
    confidence: list[float | None] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The error breakdown (see the module docstring) of shapes captions."""
    n = len(hypotheses)
    if not n or len(canonical) != n or len(images) != n:
        raise InputError(f"need one caption and one image per reference, got {n}, "
                         f"{len(canonical)}, {len(images)}")  # fmt: skip
    correct = np.array([content_correct_from_reference(h, r)
                        for h, r in zip(hypotheses, canonical, strict=True)])  # fmt: skip
    spreads = np.array([background_spread(im) for im in images])
    by_spread = {}
    for lo, hi, name in SPREAD_BINS:
        sel = (spreads >= lo) & (spreads < hi)
        by_spread[name] = {
            "n": int(sel.sum()),
            "accuracy": float(correct[sel].mean()) if sel.any() else None,
        }
    conf = {f: np.zeros((len(v), len(v)), np.int64) for f, v in ATTRIBUTES.items()}
    errors: Counter[str] = Counter()
    counts = np.zeros((2, 2), np.int64)  # true objects x predicted objects (1 or 2)
    for hyp, ref, ok in zip(hypotheses, canonical, correct, strict=True):
        truth, pred = parse_caption(ref), parse_caption(hyp)
        if truth is None:
            raise InputError(f"reference {' '.join(ref)!r} is not a shapes caption")
        if pred is None:
            errors["unparsable"] += 1
            continue
        counts[len(truth.objects) - 1, len(pred.objects) - 1] += 1
        if len(truth.objects) != len(pred.objects):
            errors[f"{len(truth.objects)} object(s) -> {len(pred.objects)}"] += 1
            continue
        pairs, rel_ok = _pairs(truth, pred)
        if not rel_ok:
            errors["relation"] += 1
        for a, b in pairs:
            for f, names in ATTRIBUTES.items():
                conf[f][names.index(getattr(a, f)), names.index(getattr(b, f))] += 1
                if getattr(a, f) != getattr(b, f) and not ok:
                    errors[f"{f} {getattr(a, f)} -> {getattr(b, f)}"] += 1
    out: dict[str, Any] = {
        "n": n, "content_accuracy": float(correct.mean()), "by_spread": by_spread,
        "confusion": {f: {"labels": list(ATTRIBUTES[f]), "counts": m.tolist()}
                      for f, m in conf.items()},
        "object_counts": counts.tolist(), "errors": dict(errors.most_common()),
    }  # fmt: skip
    if confidence is not None and all(c is not None for c in confidence):
        from lstm_apps.onnx.caption_confidence import auroc

        c = np.array(confidence, np.float64)
        out["confidence"] = {
            "mean_right": float(c[correct].mean()) if correct.any() else None,
            "mean_wrong": float(c[~correct].mean()) if (~correct).any() else None,
            "auroc_right_vs_wrong": auroc(c[correct], c[~correct]),
        }
    return out


def _is_bundle(p: Path) -> bool:
    return (p / "encoder.onnx").is_file() and (p / "config.json").is_file()


def evaluate_caption(
    model: str | os.PathLike[str],
    data: str | os.PathLike[str] | None = None,
    *,
    split: str = "test",
    beam: int = 3,
    limit: int | None = None,
    int8: bool = False,
    out_dir: str | os.PathLike[str] | None = None,
    command: str | None = None,
    device: str = "auto",
    precision: str = "fp32",
    checkpoint: str = "best",
) -> dict[str, Any]:
    """Caption `split` of `data` (a Karpathy-layout folder; a run defaults to its own) with
    a bundle or a run (its `checkpoint`, best or last); scores, for shapes data the
    breakdown, and with `out_dir` the JSON and PNG."""
    from lstm_apps.runtime.errors import ImageInputError
    from lstm_apps.runtime.image import load_image
    from lstm_apps.train.caption_data import load_caption_split, split_items
    from lstm_apps.train.caption_eval import caption_scores

    if split not in ("train", "val", "test"):
        raise InputError(f"split must be train, val or test, got {split!r}")
    if isinstance(beam, bool) or not isinstance(beam, int) or not 1 <= beam <= 32:
        raise InputError(f"beam must be an int from 1 to 32, got {beam!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise InputError(f"limit must be a positive int, got {limit!r}")
    p = Path(model)
    confidence: list[float | None] | None = None
    if _is_bundle(p):
        if device not in ("auto", "cpu") or precision != "fp32":
            raise ConfigError(f"model {p} is a bundle: --device and --precision apply to a run")
        if data is None:
            raise InputError(f"model {p} is a bundle: pass --data DIR (a Karpathy-layout folder)")
        folder = Path(data)
    elif (p / "metrics.json").is_file() or (p / "best").is_dir():
        from lstm_apps.train.runs import load_caption_run, run_data

        if int8:
            raise ConfigError("--int8 applies to a bundle (its *.int8.onnx graphs)")
        loaded = load_caption_run(p, checkpoint)
        folder = run_data(p, data, loaded.metrics)
    else:
        raise InputError(f"model {p} is neither a caption bundle (encoder.onnx + config.json) "
                         "nor a training run (metrics.json, best/)")  # fmt: skip
    items = split_items(folder, split, limit)
    try:  # as stored, any size: what a bundle gets, and whose border gives the spread
        stored = [load_image(it.image_path) for it in items]
    except ImageInputError as e:
        raise DataFormatError(str(e)) from e
    if _is_bundle(p):
        from lstm_apps.runtime.caption import Captioner

        cap = Captioner.from_dir(p, int8=int8, intra_op_threads=1)
        caps = [c for i in range(0, len(stored), 64)
                for c in cap.caption(stored[i : i + 64], beam_size=beam)]  # fmt: skip
        hyps = [c.tokens for c in caps]
        confidence = [c.confidence for c in caps]
    else:
        from lstm_apps.train.caption import decode_split
        from lstm_apps.train.engine import Engine, Setup

        engine = Engine(Setup(device=device, precision=precision))  # type: ignore[arg-type]
        arrays = load_caption_split(folder, split, limit, size=loaded.model.config.image_size)
        hyps = decode_split(loaded.model.to(engine.device), arrays.images, loaded.vocab, beam,
                            engine=engine)  # fmt: skip
    refs = [it.captions for it in items]
    made = folder / GENERATOR_JSON
    data_command = json.loads(made.read_text()).get("command") if made.is_file() else None
    report: dict[str, Any] = {
        "model": str(p), "data": str(folder), "split": split, "beam": beam, "int8": int8,
        "backend": "onnxruntime" if _is_bundle(p) else "torch",
        "n": len(hyps), **({"command": command} if command else {}),
        **({"data_command": data_command} if data_command else {}),
        "scores": caption_scores(hyps, refs),
    }  # fmt: skip
    canonical = [r[0] for r in refs]
    if all(parse_caption(c) is not None for c in canonical):  # shapes data: the breakdown
        report.update(caption_breakdown(hyps, canonical, stored, confidence))
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        if "by_spread" in report:
            report["plot"] = str(_plot(report, out / "caption_confusion.png"))
        write_text_atomic(out / "caption_eval.json", json.dumps(report, indent=2) + "\n")
    return report


def format_caption_report(r: dict[str, Any]) -> str:
    s = r["scores"]
    head = [
        f"{r['model']} on {r['data']} ({r['split']}, {r['n']} images, beam {r['beam']}"
        f"{', int8' if r['int8'] else ''}):",
        f"  BLEU-1 {s['bleu1']:.3f}   BLEU-4 {s['bleu4']:.3f}   CIDEr {s['cider']:.3f}",
    ]
    if "by_spread" not in r:  # not shapes captions: no breakdown
        return "\n".join([*head, *([f"  wrote {r['plot']}"] if "plot" in r else [])])
    lines = [
        *head,
        f"  content accuracy {r['content_accuracy']:.2%}",
        "  by background spread: " + ", ".join(
            f"{k} {v['accuracy']:.1%} (n={v['n']})" for k, v in r["by_spread"].items()
            if v["accuracy"] is not None),
    ]  # fmt: skip
    for f, m in r["confusion"].items():
        labels, counts = m["labels"], np.array(m["counts"])
        width = max(len(x) for x in labels) + 2
        lines.append(f"  {f} (rows true, columns predicted):")
        lines.append(" " * (width + 2) + "".join(f"{x[:7]:>8s}" for x in labels))
        for name, row in zip(labels, counts, strict=True):
            lines.append(f"  {name:>{width}s}" + "".join(f"{v:8d}" for v in row))
    errs = list(r["errors"].items())[:12]
    if errs:
        lines.append("  most common errors: " + ", ".join(f"{k} ({v})" for k, v in errs))
    if "confidence" in r:
        c = r["confidence"]
        lines.append(f"  confidence: AUROC right vs wrong {c['auroc_right_vs_wrong']:.3f}")
    if "plot" in r:
        lines.append(f"  wrote {r['plot']}")
    return "\n".join(lines)


def _plot(r: dict[str, Any], path: Path) -> Path:
    from lstm_apps.eval.plots import draw_confusion, pyplot, save_figure

    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), gridspec_kw={"width_ratios": [1, 1.5, 1.2]})
    for ax, f in zip(axes[:2], ("size", "shape"), strict=True):
        m = r["confusion"][f]
        draw_confusion(ax, np.array(m["counts"]), m["labels"], rotation=30, fontsize=8)
        ax.set_title(f"{f} (matched objects)", fontsize=10)
    ax = axes[2]
    names = [k for k, v in r["by_spread"].items() if v["accuracy"] is not None]
    accs = [100 * r["by_spread"][k]["accuracy"] for k in names]
    bars = ax.bar(names, accs, color="tab:blue")
    for b, k in zip(bars, names, strict=True):
        ax.text(
            b.get_x() + b.get_width() / 2,
            b.get_height() + 0.5,
            f"{b.get_height():.1f}%\nn={r['by_spread'][k]['n']}",
            ha="center",
            fontsize=8,
        )
    ax.set_ylim(min([*accs, 90.0]) - 10, 103)
    ax.set_xlabel("background colour spread")
    ax.set_ylabel("content accuracy (%)")
    ax.set_title("accuracy by background", fontsize=10)
    fig.suptitle(f"{r['model']} on {r['data']} ({r['split']}, beam {r['beam']}): "
                 f"{r['content_accuracy']:.1%}", fontsize=10)  # fmt: skip
    fig.tight_layout()
    save_figure(fig, path)
    return path
