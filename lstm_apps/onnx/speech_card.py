"""The results part of the speech MODEL_CARD.md: the in-distribution test beside the sets
the model never trained on (a held-out voice family, another synthesizer) and the
streaming figures, each from a report the `lstm-apps eval` commands wrote as JSON.

Plain dicts in, lines out: nothing here imports the exporter or the evaluators.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lstm_apps.data import read_generator

SET_NAMES = {
    "heldout": (
        "held-out voice family",
        "an eSpeak NG voice with all its variants, kept out of training, validation and "
        "tuning; transformed like the training data",
    ),
    "flite": (
        "flite (cross-generator validation)",
        "another synthesizer: 5 voices x 3 rates x 3 pitches, half clean with digital "
        "silence, half in pink noise at 10-20 dB SNR; never trained on, used to pick the "
        "best epoch",
    ),
}


# Kokoro synthesis on this machine's 2 cores (two workers, as `lstm-apps data speech` runs
# them): the 3600 clips of 120 Kokoro speakers took 1454 s (2026-12-02), model loading aside.
KOKORO_SECONDS_PER_CLIP = 1454 / 3600
# What the release does after the training (tune-prior, tune-detector, three evaluations,
# the export): 1.1 min in the 2026-12-02 speech release on this machine (metrics.json at
# 02:46:40, the stream evaluation's report at 02:47:34, then a 10 s export; the 2026-12-01
# release took 7.1 min for them beside other jobs).
AFTER_TRAINING_MINUTES = 1.1
RELEASE_BUDGET_MINUTES = 60  # DESIGN: the whole speech release, data to export


def release_time_lines(metrics: dict[str, Any]) -> list[str]:
    """Why the release needs more than its time budget, when Kokoro clips make it so: their
    synthesis (measured rate above), the training's own wall time and the steps after it,
    which already add up to more than the budget before the eSpeak NG clips are counted."""
    gen = metrics.get("data_generator") or {}
    kokoro = int(gen.get("settings", {}).get("kokoro") or 0)
    clips = int(gen.get("clips") or 0)
    if not kokoro or not clips:
        return []
    per_speaker = clips / max(int(gen.get("speakers_used") or 1), 1)
    k_min = kokoro * per_speaker * KOKORO_SECONDS_PER_CLIP / 60
    train_min = float(metrics.get("train_seconds", 0)) / 60
    if k_min + train_min + AFTER_TRAINING_MINUTES <= RELEASE_BUDGET_MINUTES:
        return []
    return [
        f"- release time: more than the {RELEASE_BUDGET_MINUTES}-minute budget from scratch. "
        f"The {kokoro} Kokoro speakers' clips take about {k_min:.0f} min to synthesize "
        f"({KOKORO_SECONDS_PER_CLIP:.2f} s a clip, measured on the 2-core machine the "
        f"shipped recipe was made on), training {train_min:.0f} min and the tuning, "
        f"evaluations and export about {AFTER_TRAINING_MINUTES:.0f} min, before the eSpeak "
        "NG clips. The Kokoro speakers are kept for the cross-generator accuracy measured "
        "with them against fewer speakers (README.md, speech; one seed)"
    ]


def read_evaluations(run: Path) -> dict[str, dict[str, Any]]:
    """RUN/eval/<name>/{speech,stream}_eval.json -> {name: report}; {} if none."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(run.glob("eval/*/*_eval.json")):
        out[path.parent.name] = json.loads(path.read_text(encoding="utf-8"))
    prior = run / "prior.json"  # lstm-apps eval prior: the _unknown_ offset the export applies
    if prior.is_file():
        out["prior"] = json.loads(prior.read_text(encoding="utf-8"))
    tuned = run / "detector.json"  # lstm-apps eval detector: where the settings came from
    if "stream" in out and tuned.is_file():
        out["stream"]["detector_command"] = json.loads(tuned.read_text())["command"]
    return out


def _weakest(report: dict[str, Any], k: int = 3) -> str:
    rows = [
        (c["correct"] / c["n"], label, c["n"])
        for label, c in report.get("per_class", {}).items()
        if c["n"]
    ]
    return ", ".join(f"{label} {acc:.0%} of {n}" for acc, label, n in sorted(rows)[:k])


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1%}"


def results_lines(metrics: dict[str, Any], evaluations: dict[str, dict[str, Any]]) -> list[str]:
    """'## Results' (a table: own test and validation, then every set never trained on)
    and '## Streaming' when a stream evaluation is present."""
    splits = metrics.get("splits", {})
    prior = evaluations.get("prior")
    if prior and "test_accuracy" in prior:  # the head has the offset: its accuracies
        metrics = {**metrics, "test_accuracy": prior["test_accuracy"]["after"],
                   "val_accuracy": prior["validation_accuracy"]["after"]}  # fmt: skip
    lines = [
        "## Results",
        "",
        f"- test accuracy: **{metrics['test_accuracy']:.2%}** (own test split, "
        f"{splits.get('test', {}).get('n', '?')} clips; the in-distribution figure)",
        "",
        "| set | what it is | clips | accuracy |",
        "|---|---|---|---|",
        f"| own test split | eSpeak NG speakers (voice + variant) never heard in training, "
        f"transformed like the training data | {splits.get('test', {}).get('n', '?')} | "
        f"**{metrics['test_accuracy']:.2%}** |",
        f"| own validation split | likewise, other speakers | "
        f"{splits.get('validation', {}).get('n', '?')} | {metrics['val_accuracy']:.2%} |",
    ]
    notes = []
    for name, (title, what) in SET_NAMES.items():
        rep = evaluations.get(name)
        if rep is None:
            continue
        lines.append(f"| {title} | {what} | {rep['n']} | **{rep['accuracy']:.2%}** |")
        made = (read_generator(rep["data"]) or {}).get("command")
        notes.append(
            f"- {title}: weakest classes {_weakest(rep)}; data `{made or rep['data']}`; "
            f"scored by `{rep.get('command', '')}`"
        )
    lines += ["", "Every set has 10% `_silence_` (a fifth of it digital zeros) and 10%",
              "`_unknown_` clips, as Speech Commands evaluations do.", "", *notes]  # fmt: skip
    if prior and "test_accuracy" not in prior:  # a hand-written prior.json
        lines.append(
            f"- the `_unknown_` logit is lowered by {prior['unknown_offset']:g} (RUN/prior.json, "
            "not measured by `lstm-apps eval prior`): the own test and validation figures "
            "above are the training run's, without it"
        )
    elif prior:
        t, v, c = (prior[k] for k in ("test_accuracy", "validation_accuracy",
                                      "cross_validation_accuracy"))  # fmt: skip
        lines.append(
            f"- the `_unknown_` logit is lowered by {prior['unknown_offset']:g} (the exported "
            f"head's bias), chosen by `{prior['command']}` on the two validation sets: own "
            f"validation {v['before']:.2%} -> {v['after']:.2%}, cross-generator validation "
            f"{c['before']:.2%} -> {c['after']:.2%}; own test {t['before']:.2%} -> "
            f"{t['after']:.2%} (every figure above is with the offset)"
        )
    lines.append("")
    stream = evaluations.get("stream")
    if stream:
        lines += stream_lines(stream)
    return lines


def stream_lines(rep: dict[str, Any]) -> list[str]:
    op = rep["operating"]
    det = rep["detector"]
    lines = [
        "## Streaming (keyword spotting on long recordings)",
        "",
        f"Built by `{rep.get('command', 'lstm-apps eval stream')}`: {rep['n_recordings']} "
        f"recordings of {rep['seconds']:g} s from `{rep['data']}` ({rep['split']} split): "
        f"{rep['commands']} commands and {rep['unknown_words']} other words with pauses, "
        f"over background noise, plus {rep['noise_minutes']:g} min of noise alone; "
        f"{rep['chunk_ms']:g} ms chunks. Detector settings: "
        f"{', '.join(f'{k} {v}' for k, v in det.items() if k not in ('ignore', 'frame_seconds'))}"
        + (f", chosen by `{tuned}`" if (tuned := rep.get("detector_command")) else "")
        + ".",
        "",
        f"- at the bundle's threshold {det.get('threshold')}: recall **{_pct(op['recall'])}**, "
        f"{op['wrong_label']} commands with the wrong label, false alarms "
        f"{_fmt(op['fa_per_hour'])} per hour of noise and {_fmt(op['fa_per_unknown_word'], 3)} "
        "per non-command word",
        f"- latency from the end of the word: peak {_fmt(op['latency_median'], 2)} s median; "
        f"detection returned after {_fmt(op.get('emission_median'), 2)} s median",
        "",
        "| threshold | recall | false alarms / hour (noise) | per non-command word |",
        "|---|---|---|---|",
    ]
    sweep = rep["sweep"]
    step = max(1, len(sweep) // 8)
    for p in sweep[::step]:
        lines.append(
            f"| {p['threshold']:.2f} | {_pct(p['recall'])} | {_fmt(p['fa_per_hour'])} | "
            f"{_fmt(p['fa_per_unknown_word'], 3)} |"
        )
    return [*lines, ""]


def _fmt(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"
