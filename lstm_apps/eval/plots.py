"""The evaluation figures: a confusion matrix and a detection threshold curve (matplotlib,
Agg backend, written atomically).

`plot_confusion` also draws a training run's confusion_test.png (train/speech.py); the
caller gives the title, so a figure can name the data folder and split.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from lstm_apps.runtime.errors import DependencyError
from lstm_apps.runtime.files import atomic_file


def pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as e:  # pragma: no cover - depends on the install
        raise DependencyError(
            "matplotlib draws the evaluation figures: pip install matplotlib (or lstm-apps[train])"
        ) from e
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: Path) -> None:
    plt = pyplot()
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def draw_confusion(
    ax: Any, conf: npt.NDArray[np.integer[Any]], labels: Sequence[str], *, rotation: int = 60,
    fontsize: int = 7,
) -> Any:  # fmt: skip
    """conf (C, C) counts, rows true and columns predicted, on `ax`: cells shaded by the
    row's rate, the count written in every non-empty cell. Returns the image (colorbar)."""
    conf = np.asarray(conf)
    rates = conf / np.maximum(conf.sum(1, keepdims=True), 1)
    im = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=rotation, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(labels)):
        for j in range(len(labels)):
            if conf[i, j]:
                color = "white" if rates[i, j] > 0.5 else "black"
                ax.text(j, i, str(conf[i, j]), ha="center", va="center", fontsize=fontsize,
                        color=color)  # fmt: skip
    return im


def plot_confusion(
    conf: npt.NDArray[np.integer[Any]], labels: Sequence[str], path: Path, title: str
) -> Path:
    """conf (C, C) counts, rows true and columns predicted -> a PNG at `path`: cells shaded
    by the row's rate, the count written in every non-empty cell."""
    plt = pyplot()
    size = max(5.0, 0.5 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = draw_confusion(ax, conf, labels)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
    return path


def plot_threshold_curve(
    thresholds: Sequence[float],
    recall: Sequence[float],
    fa_per_hour: Sequence[float | None],
    fa_per_word: Sequence[float | None],
    operating: tuple[float, float, float | None, float | None],
    path: Path,
    title: str,
) -> Path:
    """Recall against false alarms per hour of noise (left) and per non-command word
    (right), one point per threshold, the operating point (threshold, recall, FA/h,
    FA/word) starred. A panel whose x values are all missing says so instead."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), sharey=True)
    panels = (
        (axes[0], fa_per_hour, operating[2], "false alarms per hour (noise only)", True),
        (axes[1], fa_per_word, operating[3], "false alarms per non-command word", False),
    )
    for ax, xs, op_x, xlabel, symlog in panels:
        pts = [(x, r, t) for x, r, t in zip(xs, recall, thresholds, strict=True) if x is not None]
        ax.set_xlabel(xlabel)
        ax.grid(True, alpha=0.3)
        if not pts:
            ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes)
            continue
        x, r, t = (list(v) for v in zip(*pts, strict=True))
        ax.plot(x, r, "o-", color="tab:blue", markersize=4, label="sweep (numbers: threshold)")
        step = max(1, len(t) // 6)
        for xi, ri, ti in list(zip(x, r, t, strict=True))[::step]:
            ax.annotate(f"{ti:.2f}", (xi, ri), textcoords="offset points", xytext=(4, 4),
                        fontsize=7, color="tab:blue")  # fmt: skip
        if op_x is not None:
            ax.plot([op_x], [operating[1]], "*", color="tab:red", markersize=14,
                    label=f"operating threshold {operating[0]:.2f}")  # fmt: skip
        right = max([*x, op_x if op_x is not None else 0.0])
        if symlog:
            ax.set_xscale("symlog", linthresh=1.0)
            ax.set_xlim(0, max(10.0, right * 2))
        else:
            ax.set_xlim(0, max(0.1, right * 1.15))
        ax.legend(loc="best", fontsize=8)
    axes[0].set_ylabel("recall (commands detected with the right label)")
    axes[0].set_ylim(-0.02, 1.02)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
    return path
