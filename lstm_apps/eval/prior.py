"""`lstm-apps eval prior RUN --data CROSS`: how much less the model should say `_unknown_`.

A model trained on a few synthesizers calls speech that sounds unlike them `_unknown_`:
most of its errors on another synthesizer are commands taken for other words. Lowering the
`_unknown_` logit by an offset b trades some in-distribution accuracy for that. b is
chosen on the two validation sets only: the run's own validation split and a cross-
generator one (flite), as the mean of their accuracies (the rule that picks the best
epoch), the smallest b on a tie. The test splits and the held-out voice family never see
the choice; they show whether it generalises.

The choice goes to RUN/prior.json (a new offset removes RUN/detector.json and the
RUN/eval/ reports, which were made without it). `eval speech|stream|detector RUN` and
`export speech RUN` apply it: the exported head's `_unknown_` bias is lowered by b, so
every graph, the checkpoint in the bundle and the torch path agree, and the contract does
not change.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from lstm_apps.runtime.errors import InputError
from lstm_apps.runtime.files import atomic_file

__all__ = ["GRID", "PRIOR_JSON", "apply_unknown_offset", "read_unknown_offset", "tune_prior"]

PRIOR_JSON = "prior.json"
GRID = tuple(round(0.25 * i, 2) for i in range(17))  # offsets 0 .. 4 in steps of 0.25
UNKNOWN = "_unknown_"


def read_unknown_offset(run: str | os.PathLike[str]) -> float:
    """RUN/prior.json's offset, or 0.0 when the run has none."""
    path = Path(run) / PRIOR_JSON
    if not path.is_file():
        return 0.0
    offset = json.loads(path.read_text(encoding="utf-8"))["unknown_offset"]
    if not isinstance(offset, (int, float)) or not 0 <= offset <= 20:
        raise InputError(f"{path}: unknown_offset must be a number in [0, 20], got {offset!r}")
    return float(offset)


def apply_unknown_offset(net: Any, offset: float) -> None:
    """Lower a SpeechClassifierNet's `_unknown_` logit by `offset` (its head bias, in place)."""
    import torch

    if offset and UNKNOWN in net.config.labels:
        with torch.no_grad():
            net.head.bias[net.config.labels.index(UNKNOWN)] -= offset


def _log_probs(net: Any, x: Any, batch: int = 256) -> np.ndarray:
    import torch

    with torch.no_grad():
        out = [torch.log_softmax(net(x[i : i + batch]), -1) for i in range(0, len(x), batch)]
    return torch.cat(out).numpy()


def _accuracy(logp: np.ndarray, y: np.ndarray, unk: int, offset: float) -> float:
    z = logp.copy()
    z[:, unk] -= offset  # argmax of log-softmax + offset = argmax of the shifted logits
    return float((z.argmax(1) == y).mean())


def tune_prior(
    run: str | os.PathLike[str],
    cross_data: str | os.PathLike[str],
    *,
    cross_split: str = "validation",
    data: str | os.PathLike[str] | None = None,
    threads: int = 2,
    command: str | None = None,
) -> dict[str, Any]:
    """Choose the `_unknown_` offset on RUN's validation split and `cross_split` of
    `cross_data`; write RUN/prior.json and return it (the choice, every grid point, and the
    test split before and after, for the model card)."""
    import torch

    from lstm_apps.train.loop import recorded_command
    from lstm_apps.train.runs import load_speech_run, run_data
    from lstm_apps.train.speech import SpeechTrainConfig, load_split

    run = Path(run)
    if not (run / "best").is_dir():
        raise InputError(f"{run}: not a training run (no best/ checkpoint)")
    torch.set_num_threads(threads)
    loaded = load_speech_run(run, "best")
    net = loaded.model.eval()
    labels = tuple(net.config.labels)
    if UNKNOWN not in labels:
        raise InputError(f"{run}: the model has no {UNKNOWN} class: nothing to tune")
    unk = labels.index(UNKNOWN)
    cfg = SpeechTrainConfig.split_config_from_run(loaded.metrics, net.config)
    own = run_data(run, data, loaded.metrics)
    sets = {}
    for name, folder, split in (("validation", own, "validation"), ("test", own, "test"),
                                ("cross_validation", Path(cross_data), cross_split)):  # fmt: skip
        arrays, _ = load_split(folder, split, cfg)
        sets[name] = (_log_probs(net, arrays.x), arrays.y.numpy())
    table = [
        {"offset": b, **{k: _accuracy(*sets[k], unk, b) for k in ("validation",
                                                                   "cross_validation")}}
        for b in GRID
    ]  # fmt: skip
    best = max(table, key=lambda r: (r["validation"] + r["cross_validation"], -r["offset"]))
    b = float(best["offset"])
    result = {
        "unknown_offset": b,
        "rule": "max mean(validation, cross_validation) over the grid; smallest offset on a tie",
        "cross_data": str(cross_data), "cross_split": cross_split, "data": str(own),
        "test_accuracy": {"before": _accuracy(*sets["test"], unk, 0.0),
                          "after": _accuracy(*sets["test"], unk, b)},
        "validation_accuracy": {"before": table[0]["validation"], "after": best["validation"]},
        "cross_validation_accuracy": {"before": table[0]["cross_validation"],
                                      "after": best["cross_validation"]},
        "n": {k: len(v[1]) for k, v in sets.items()},
        "grid": table,
        "command": recorded_command(command, "lstm_apps.eval.prior.tune_prior"),
    }  # fmt: skip
    if b != read_unknown_offset(run):  # chosen or measured with another offset: stale now
        stale = [run / "detector.json", *sorted(run.glob("eval/*/*_eval.json"))]
        result["removed"] = [str(p) for p in stale if p.is_file()]
        for p in stale:
            p.unlink(missing_ok=True)
    with atomic_file(run / PRIOR_JSON) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result
