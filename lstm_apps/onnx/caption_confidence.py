"""Calibrate a caption bundle's confidence and write confidence.json into it.

    lstm-apps calibrate caption export/caption --data runs/release/data/caption \\
        --holdout runs/release/data/caption-holdout

1. The training images' encoder features, averaged over the cells, give the mean and the
   whitening matrix of the out-of-domain distance (covariance shrunk towards its diagonal
   mean by SHRINK, so few images still give a stable inverse).
2. A logistic regression on the three features of `lstm_apps.runtime.confidence` is fitted
   on the validation split's captions (label 1 when the content is right) and as many
   generated out-of-domain images (`lstm_apps.data.shapes_ood`, seed 0; label 0).
3. The report, on material the fit never saw: AUROC right vs wrong on the test split (and
   the holdout-style set when given), AUROC in-domain (test) vs out-of-domain (seed 1, per
   kind as well), and accuracy kept at a few thresholds. It goes into confidence.json's
   `info`, MODEL_CARD.md and a PNG.

The bundle is changed atomically (`updated_bundle`); the graphs are not touched.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from lstm_apps.onnx.card import updated_bundle
from lstm_apps.onnx.golden import GOLDEN, write_caption_golden
from lstm_apps.runtime.confidence import CONFIDENCE_JSON, CaptionCalibration, caption_features
from lstm_apps.runtime.errors import ConfigError
from lstm_apps.runtime.manifest import read_config, write_config

__all__ = ["auroc", "calibrate_caption", "fit_logistic"]

SHRINK = 0.05  # covariance shrinkage towards mean-variance * identity
CARD_TITLE = "## Confidence (confidence.json)"
THRESHOLDS = (0.5, 0.8, 0.9)
FloatArray = npt.NDArray[np.float64]


def auroc(pos: npt.ArrayLike, neg: npt.ArrayLike) -> float:
    """Area under the ROC curve: P(score of a positive > that of a negative), ties half."""
    p, n = np.asarray(pos, np.float64), np.asarray(neg, np.float64)
    if p.size == 0 or n.size == 0:
        return float("nan")
    allv = np.concatenate([p, n])
    order = allv.argsort(kind="mergesort")
    ranks = np.empty(allv.size)
    sorted_v = allv[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_v, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    u = ranks[: p.size].sum() - p.size * (p.size + 1) / 2.0
    return float(u / (p.size * n.size))


def fit_logistic(
    x: FloatArray, y: npt.ArrayLike, l2: float = 1e-3, iters: int = 50
) -> tuple[FloatArray, float]:
    """Weights and bias of an L2-regularised logistic regression (Newton's method); x (N, F)
    should be standardised."""
    y = np.asarray(y, np.float64)
    a = np.concatenate([x, np.ones((len(x), 1))], axis=1)
    w = np.zeros(a.shape[1])
    reg = np.full(a.shape[1], l2)
    reg[-1] = 0.0
    for _ in range(iters):
        p = 0.5 * (1 + np.tanh(0.5 * (a @ w)))
        grad = a.T @ (p - y) + reg * w
        hess = (a * (p * (1 - p))[:, None]).T @ a + np.diag(reg) + 1e-9 * np.eye(a.shape[1])
        delta = np.linalg.solve(hess, grad)
        w -= delta
        if np.abs(delta).max() < 1e-10:
            break
    return w[:-1], float(w[-1])


def _whitening(pooled: FloatArray) -> tuple[FloatArray, FloatArray]:
    mean = pooled.mean(axis=0)
    cov = np.cov(pooled, rowvar=False)
    d = cov.shape[0]
    cov = (1 - SHRINK) * cov + SHRINK * (np.trace(cov) / d) * np.eye(d)
    chol = np.linalg.cholesky(cov)  # cov = L L^T, so W = L^-1 has W^T W = cov^-1
    return mean, np.linalg.inv(chol)


def _pooled(cap: Any, images: Sequence[np.ndarray]) -> FloatArray:
    out = []
    for i in range(0, len(images), 64):
        state = cap.encode(list(images[i : i + 64]))
        out.append(np.asarray(state.per_image[0], np.float64).mean(axis=1))
    return np.concatenate(out)


def _captions(cap: Any, images: Sequence[np.ndarray], beam: int, conf: CaptionCalibration | None,
              desc: str) -> tuple[list[list[str]], FloatArray, npt.NDArray[np.bool_]]:  # fmt: skip
    """Tokens, features (N, 3) and whether each caption finished (an unfinished one has
    confidence 0 in the runtime: it is left out of the fit)."""
    from lstm_apps.runtime.search import SearchOptions, search
    from lstm_apps.train.loop import progress

    opts = SearchOptions(beam_size=beam, max_len=cap.max_len, start_id=cap.spec.vocab.start_id,
                         end_id=cap.spec.vocab.end_id)  # fmt: skip
    tokens: list[list[str]] = []
    feats: list[FloatArray] = []
    done: list[bool] = []
    for i in progress(range(0, len(images), 64), desc=desc, unit="batch"):
        state = cap.encode(list(images[i : i + 64]))
        dist = conf.log_distance(state.per_image[0]) if conf is not None else None
        for k, hyp in enumerate(search(cap.step, state, opts)):
            tokens.append([cap.itos[t] for t in hyp.tokens if t not in cap._hidden])
            lps = hyp.token_logprobs if len(hyp.token_logprobs) else np.zeros(1)
            feats.append(caption_features(lps, float(dist[k]) if dist is not None else 0.0))
            done.append(hyp.finished)
    return tokens, np.stack(feats), np.array(done)


def _correct(tokens: list[list[str]], refs: list[list[str]]) -> npt.NDArray[np.bool_]:
    from lstm_apps.data.shapes import content_correct_from_reference

    return np.array(
        [content_correct_from_reference(h, r) for h, r in zip(tokens, refs, strict=True)]
    )


def calibrate_caption(
    bundle: str | Path,
    data: str | Path,
    *,
    holdout: str | Path | None = None,
    beam: int = 3,
    train_images: int = 4000,
    ood_count: int | None = None,
    limit: int | None = None,
    out_dir: str | Path | None = None,
    command: str = "lstm-apps calibrate caption BUNDLE --data DATA",
) -> dict[str, Any]:
    """Write `bundle`/confidence.json and a card section; returns the report. `data`: the
    shapes data the bundle trained on (train, val, test splits); `holdout`: an extra test
    set (e.g. `lstm-apps data shapes --style holdout`); `limit`: images per split (tests);
    `ood_count`: out-of-domain images per seed (default: as many as validation images)."""
    from lstm_apps.data.shapes_ood import OOD_KINDS, ood_images
    from lstm_apps.runtime.caption import Captioner
    from lstm_apps.train.caption_data import load_caption_split

    start = time.perf_counter()
    bundle, data = Path(bundle), Path(data)
    for name, value, low in (("beam", beam, 1), ("train_images", train_images, 2),
                             ("ood_count", ood_count, 1), ("limit", limit, 1)):  # fmt: skip
        if value is None and name in ("ood_count", "limit"):
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"{name} must be an int >= {low}, got {value!r}")
    if beam > 32:
        raise ConfigError(f"beam must be 1-32, got {beam}")
    cap = Captioner.from_dir(bundle, intra_op_threads=1)
    size = cap.spec.image_size

    def split(name: str, folder: Path = data, n: int | None = limit) -> Any:
        return load_caption_split(folder, name, n, size=size)

    train = split("train", n=train_images)
    mean, whiten = _whitening(_pooled(cap, list(train.images)))
    n_feat = 3
    raw = CaptionCalibration(mean, whiten, np.zeros(n_feat), np.ones(n_feat), np.zeros(n_feat),
                             0.0, {})  # fmt: skip
    val = split("val")
    val_tok, val_x, val_done = _captions(cap, list(val.images), beam, raw, "val captions")
    val_ok = _correct(val_tok, [c[0] for c in val.captions])
    n_ood = ood_count if ood_count is not None else len(val_tok)
    ood_fit, _ = ood_images(n_ood, seed=0)
    _, ood_fit_x, ood_fit_done = _captions(cap, list(ood_fit), beam, raw, "out-of-domain (fit)")
    x = np.concatenate([val_x[val_done], ood_fit_x[ood_fit_done]])
    y = np.concatenate([val_ok[val_done].astype(np.float64), np.zeros(int(ood_fit_done.sum()))])
    center, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    degenerate = len(np.unique(y)) < 2  # e.g. a one-epoch model: every caption wrong
    if degenerate:  # nothing to separate: a constant confidence, the observed rate
        rate = float(np.clip((y.sum() + 0.5) / (len(y) + 1.0), 1e-3, 1 - 1e-3))
        weights, bias = np.zeros(3), float(np.log(rate / (1 - rate)))
        print(f"calibrate caption: all {len(y)} fitted captions are "
              f"{'right' if y.mean() > 0.5 else 'wrong'}; the confidence is a constant "
              f"{rate:.3f} (train longer, or give more images)", flush=True)  # fmt: skip
    else:
        weights, bias = fit_logistic((x - center) / scale, y)
    conf = CaptionCalibration(mean, whiten, center, scale, weights, bias, {})

    test = split("test")
    test_tok, test_x, test_done = _captions(cap, list(test.images), beam, raw, "test captions")
    test_ok = _correct(test_tok, [c[0] for c in test.captions])
    test_c = np.where(test_done, conf.score(test_x), 0.0)  # as the runtime: 0 if unfinished
    ood_eval, kinds = ood_images(n_ood, seed=1)
    _, ood_x, ood_done = _captions(cap, list(ood_eval), beam, raw, "out-of-domain (report)")
    ood_c = np.where(ood_done, conf.score(ood_x), 0.0)
    kinds_a = np.array(kinds)
    report: dict[str, Any] = {
        "command": command, "beam": beam, "fit": {"val": int(val_done.sum()),
        "ood": int(ood_fit_done.sum()), "val_accuracy": float(val_ok.mean()), "ood_seed": 0},
        "train_images": len(train.images), "degenerate": degenerate,
        "test": _scores(test_ok, test_c, ood_c), "ood_seed": 1, "ood_per_kind": {
            k: {"n": int((kinds_a == k).sum()), "auroc": auroc(test_c, ood_c[kinds_a == k]),
                "mean_confidence": float(ood_c[kinds_a == k].mean())}
            for k in OOD_KINDS if (kinds_a == k).any()
        },
    }  # fmt: skip
    hold_c = hold_ok = None
    if holdout is not None:
        held = split("test", Path(holdout))
        hold_tok, hold_x, hold_done = _captions(cap, list(held.images), beam, raw, "holdout")
        hold_ok = _correct(hold_tok, [c[0] for c in held.captions])
        hold_c = np.where(hold_done, conf.score(hold_x), 0.0)
        report["holdout"] = {"data": str(holdout), **_scores(hold_ok, hold_c, ood_c)}
    report["seconds"] = time.perf_counter() - start
    conf = CaptionCalibration(mean, whiten, center, scale, weights, bias, report)
    plot = None
    if out_dir is not None:
        plot = _plot(Path(out_dir) / "confidence.png", test_ok, test_c, ood_c, kinds_a,
                     hold_ok, hold_c, bundle)  # fmt: skip
        report["plot"] = str(plot)
    with updated_bundle(bundle, drop=(CONFIDENCE_JSON, GOLDEN)) as tmp:
        text = json.dumps(_finite(conf.to_json()), allow_nan=False)  # strict JSON for any port
        (tmp / CONFIDENCE_JSON).write_text(text + "\n", encoding="utf-8")
        if (bundle / GOLDEN).is_dir():  # its captions now carry a confidence
            meta = {k: v for k, v in read_config(bundle).items() if k != "files"}
            write_config(tmp, meta)  # lists confidence.json for the golden writer's loader
            with tempfile.TemporaryDirectory() as keep:
                inputs = [
                    Path(shutil.copy(bundle / GOLDEN / f"image.{x}", keep)) for x in ("png", "jpg")
                ]
                write_caption_golden(tmp, inputs[0], inputs[1])
        card = (tmp / "MODEL_CARD.md").read_text().split("\n" + CARD_TITLE)[0].rstrip("\n")
        (tmp / "MODEL_CARD.md").write_text(card + "\n\n" + _card(report) + "\n")
    return report


def _finite(obj: Any) -> Any:
    """NaN (an AUROC with one class empty) as None, so the file is strict JSON."""
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def _fmt(v: float | None, spec: str = ".3f") -> str:
    return "-" if v is None or not np.isfinite(v) else format(v, spec)


def _scores(ok: npt.NDArray[np.bool_], c: FloatArray, ood_c: FloatArray) -> dict[str, Any]:
    kept = {
        f"{t:g}": {"kept": float((c >= t).mean()),
                   "accuracy_kept": float(ok[c >= t].mean()) if (c >= t).any() else None,
                   "ood_kept": float((ood_c >= t).mean())}
        for t in THRESHOLDS
    }  # fmt: skip
    return {
        "n": len(ok), "accuracy": float(ok.mean()),
        "auroc_right_vs_wrong": auroc(c[ok], c[~ok]), "auroc_in_vs_out": auroc(c, ood_c),
        "thresholds": kept,
    }  # fmt: skip


def _card(r: dict[str, Any]) -> str:
    def row(name: str, s: dict[str, Any]) -> str:
        t = s["thresholds"]["0.5"]
        acc = t["accuracy_kept"]
        return (f"| {name} | {s['n']} | {s['accuracy']:.1%} | {_fmt(s['auroc_right_vs_wrong'])} | "
                f"{_fmt(s['auroc_in_vs_out'])} | {t['kept']:.1%} | "
                f"{'-' if acc is None else f'{acc:.1%}'} | {t['ood_kept']:.1%} |")  # fmt: skip

    lines = [
        CARD_TITLE, "",
        f"Made by `{r['command']}`. Each caption's `confidence` (0-1) is a logistic regression "
        "on its summed log-probability, its least likely token and the whitened distance of "
        "the image's mean encoder feature from the training images' "
        f"({r['train_images']} images). Fitted on the validation split ({r['fit']['val']} "
        f"captions at beam {r['beam']}) and {r['fit']['ood']} generated out-of-domain images "
        "(seed 0; flat frames, noise, textures, text, crops of busy pictures, shapes on "
        "bright backgrounds, crowds of 3-6 shapes). Reported on images it never saw: the "
        f"test split and {sum(k['n'] for k in r['ood_per_kind'].values())} out-of-domain "
        "images of seed 1.", "",
        "| in-domain set | n | content accuracy | AUROC right vs wrong | AUROC in vs out | "
        "kept at 0.5 | accuracy of kept | out-of-domain kept |",
        "|---|---|---|---|---|---|---|---|",
        row("own test split", r["test"]),
    ]  # fmt: skip
    if "holdout" in r:
        lines.append(row("holdout renderer", r["holdout"]))
    lines += ["", "AUROC own test vs each out-of-domain kind:", "",
              "| kind | n | AUROC | mean confidence |", "|---|---|---|---|"]  # fmt: skip
    lines += [f"| {k} | {v['n']} | {_fmt(v['auroc'])} | {v['mean_confidence']:.3f} |"
              for k, v in r["ood_per_kind"].items()]  # fmt: skip
    lines += ["", "`Captioner.caption(images, min_confidence=0.5)` marks captions below it "
              "(`Caption.rejected`). Fitted on fp32 captions at this beam; int8 graphs and other "
              "beams use the same numbers, not calibrated apart. The computation, for other "
              "runtimes: export/README.md, \"`confidence.json`\"."]  # fmt: skip
    return "\n".join(lines)


def _plot(path: Path, ok: Any, c: FloatArray, ood_c: FloatArray, kinds: Any, hold_ok: Any,
          hold_c: FloatArray | None, bundle: Path) -> Path:  # fmt: skip
    from lstm_apps.eval.plots import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    bins = np.linspace(0, 1, 26)
    groups = [(c[ok], "own test, right"), (c[~ok], "own test, wrong")]
    if hold_c is not None:
        groups += [(hold_c[~hold_ok], "holdout renderer, wrong")]
    groups += [(ood_c, "out of domain")]
    for values, label in groups:
        if len(values):
            ax.hist(values, bins=bins, histtype="step", linewidth=1.6, density=True,
                    label=f"{label} (n={len(values)})")  # fmt: skip
    ax.set_yscale("log")
    ax.set_xlabel("confidence")
    ax.set_ylabel("density")
    ax.set_title(f"caption confidence of {bundle}", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path)
    return path
