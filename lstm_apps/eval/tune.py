"""Pick a model's detector settings on a validation stream (`lstm-apps eval detector`).

    lstm-apps eval detector runs/speech --data data/flite --split validation

Builds word recordings and noise-only audio from the folder's split, as `eval stream`
does, runs the model over them once, then replays the detector for every setting in a
small grid (smoothing, bump cap, refractory time, threshold) and keeps the one with the
highest recall minus false alarms per non-command word, among those with at most
`max_fa_per_hour` false alarms per hour of noise. The choice goes to RUN/detector.json;
`eval stream` on the run and `export speech` use it. Tune on a validation source only
(flite, or the run's own validation split), never on the set the card reports as held out.
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

__all__ = ["DETECTOR_JSON", "GRID", "read_detector", "tune_detector"]

from lstm_apps.data.speech_commands import commands_of
from lstm_apps.eval.models import DETECTOR_JSON, load_eval_model, read_detector
from lstm_apps.eval.speech import index_split
from lstm_apps.eval.stream import stream_posteriors, sweep_thresholds
from lstm_apps.eval.stream_audio import StreamSpec
from lstm_apps.runtime.errors import InputError
from lstm_apps.runtime.files import atomic_file

GRID = {
    "smooth_seconds": (0.1, 0.2),
    "max_bump_seconds": (0.3, 0.5, 0.8),
    "refractory_seconds": (0.3, 0.5, 0.8),
    "threshold": (0.5, 0.6, 0.7, 0.8, 0.9),
}


def tune_detector(
    run: str | os.PathLike[str],
    data_dir: str | os.PathLike[str],
    *,
    split: str = "validation",
    n_recordings: int = 8,
    noise_minutes: float = 20.0,
    max_fa_per_hour: float = 2.0,
    seed: int = 0,
    threads: int = 2,
    command: str | None = None,
) -> dict[str, Any]:
    """Grid-search the detector on `split` of `data_dir`; write RUN/detector.json and
    return its content (settings, the score of the choice, every grid point)."""
    run = Path(run)
    if not (run / "best").is_dir():
        raise InputError(f"{run}: not a training run (no best/ checkpoint)")
    model = load_eval_model(run, threads=threads)
    data = index_split(
        data_dir, split, seed=seed, silence_fraction=0.0, unknown_fraction=0.5,
        commands=commands_of(model.labels),
    )  # fmt: skip
    streams, noise, _ = stream_posteriors(
        model, data, StreamSpec(seconds=60.0), n_recordings, noise_minutes, 1600, seed
    )
    base = replace(model.detector_config(), release_threshold=None)
    points = []
    keys = [k for k in GRID if k != "threshold"]
    for values in itertools.product(*(GRID[k] for k in keys)):
        cfg = replace(base, **dict(zip(keys, values, strict=True)))
        swept, _ = sweep_thresholds(
            streams, noise, model.labels, cfg, GRID["threshold"], chunk=1600, hop=model.hop
        )
        for p in swept:
            settings = replace(cfg, threshold=p.threshold).settings()
            points.append({"settings": settings, **asdict(p)})
    ok = [p for p in points if (p["fa_per_hour"] or 0.0) <= max_fa_per_hour] or points
    best = max(ok, key=lambda p: (p["recall"] or 0.0) - (p["fa_per_unknown_word"] or 0.0))
    result = {
        "settings": best["settings"],
        "chosen": {k: v for k, v in best.items() if k != "settings"},
        "rule": f"max recall - false alarms per non-command word, at <= {max_fa_per_hour:g} "
        "false alarms per hour of noise",
        "data": str(data_dir), "split": split, "n_recordings": n_recordings,
        "noise_minutes": noise_minutes, "seed": seed, "command": command,
        "grid": points,
    }  # fmt: skip
    with atomic_file(run / DETECTOR_JSON) as tmp:
        tmp.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return result
