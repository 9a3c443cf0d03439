"""`lstm-apps release`: remake the shipped bundles from nothing, on this machine.

    lstm-apps release                      # both bundles into export/, work in runs/release
    lstm-apps release --only caption       # one of them
    lstm-apps release --quick --out /tmp/x # tiny data, one epoch: checks the pipeline only
                                           # (work in runs/release-quick)
    lstm-apps release --fresh              # forget earlier data and runs: start over

Each bundle is a fixed list of ordinary `lstm-apps` commands (generate the data, train,
export with its parity checks), run in this process, so MODEL_CARD.md can quote the
exact command of every step. Rerun after an interruption: a data folder whose
generator.json has the same settings is kept, a finished run (metrics.json written by
the same command) is kept, an unfinished one resumes from its last epoch. "The same
command" does not see code changes: after changing the generators or the training code,
rerun with --fresh.
"""

from __future__ import annotations

import json
import shlex
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from lstm_apps.runtime.errors import LstmAppsError

MAX_BUNDLE_BYTES = 20_000_000  # DESIGN: each shipped bundle under 20 MB (export --max-mb)


@dataclass(frozen=True)
class Step:
    name: str
    argv: list[str]  # arguments of `lstm-apps`
    done: Path  # this file exists when the step has finished ...
    same: str | None = None  # ... and, if set, holds this text (settings or command)

    @property
    def command(self) -> str:
        return shlex.join(["lstm-apps", *self.argv])

    def finished(self) -> bool:
        if not self.done.is_file():
            return False
        return self.same is None or self.same in self.done.read_text(encoding="utf-8")


def _json_value(key: str, value: object) -> str:
    """How `key: value` appears in a file written by json.dumps(..., indent=2)."""
    return f'"{key}": {json.dumps(value)}'


def plan(kind: str, work: Path, out: Path, *, quick: bool = False, seed: int = 0) -> list[Step]:
    """The commands that make the `kind` bundle ("speech" or "caption")."""
    data, run, bundle = work / "data" / kind, work / "runs" / kind, out / kind
    s = str
    extra: list[Step] = []  # more data before training
    evals: list[Step] = []  # evaluations after it, quoted by the model card
    if kind == "speech":
        gen = ["--repeats", "1", "--speakers", "24", "--noise-seconds", "5"] if quick else []
        gen += ["--words", "yes,no,up", "--unknown-per-speaker", "2"] if quick else []
        train = ["--epochs", "1", "--hidden", "32", "--layers", "1", "--threads", "1"]
        train = train if quick else ["--epochs", "35"]
        held = ["--voices", HELDOUT_VOICE, "--split", "test", "--seed", s(seed + 1), "--quiet"]
        held += ["--repeats", "1", *(gen[2:] if quick else [])]
        data_argv = ["data", "speech", s(data), "--seed", s(seed)]
        kokoro = ["--kokoro", "1" if quick else str(KOKORO_SPEAKERS)]
        data_argv += ["--exclude-voices", HELDOUT_VOICE, *kokoro, "--quiet", *gen]
        heldout, flite = work / "data" / "speech-heldout", work / "data" / "flite"
        flite_argv = ["data", "flite", s(flite), "--seed", s(seed), "--quiet"]
        flite_argv += ["--voices", "slt,kal", "--words", "yes,no,up,cat"] if quick else []
        extra = [
            _data_step("data-heldout", ["data", "speech", s(heldout), *held], heldout),
            _data_step("data-flite", flite_argv, flite),
        ]
        train += ["--val-data", s(flite)]
        stream = ["--recordings", "2", "--seconds", "20", "--noise-minutes", "1"] if quick else []
        tune = ["eval", "detector", s(run), "--data", s(flite), "--split", "validation"]
        tune += ["--recordings", "1", "--noise-minutes", "0.5"] if quick else []
        evals = [
            Step("tune-detector", tune, run / "detector.json", _json_value("command", _join(tune))),
            _eval_step("eval-heldout", ["eval", "speech", s(run), "--data", s(heldout),
                                        "--split", "test"], run / "eval" / "heldout"),
            _eval_step("eval-flite", ["eval", "speech", s(run), "--data", s(flite),
                                      "--split", "validation"], run / "eval" / "flite"),
            _eval_step("eval-stream", ["eval", "stream", s(run), "--data", s(heldout),
                                       "--split", "test", *stream], run / "eval" / "stream"),
        ]  # fmt: skip
    elif kind == "caption":
        gen = ["--count", "60"] if quick else ["--count", "20000"]
        train = ["--epochs", "1", "--image-size", "64", "--hidden", "32", "--threads", "1"]
        train = train if quick else ["--epochs", "15"]
        data_argv = ["data", "shapes", s(data), "--seed", s(seed), "--quiet", *gen]
    else:
        raise ValueError(f"unknown bundle {kind!r}; choose speech or caption")
    train_argv = ["train", kind, "--data", s(data), "--out", s(run), "--seed", s(seed), *train]
    export_argv = ["export", kind, s(run), s(bundle), "--max-mb", f"{MAX_BUNDLE_BYTES / 1e6:g}"]
    if quick:  # a one-epoch model is near chance: parity of tokens is checked, not skill
        export_argv += ["--parity-images", "8"] if kind == "caption" else []
        export_argv += ["--min-int8-agreement", "0.5"] if kind == "speech" else []
    return [
        _data_step("data", data_argv, data),
        *extra,
        Step("train", train_argv, run / "metrics.json", _json_value("command", _join(train_argv))),
        *evals,
        Step("export", export_argv, bundle / "MODEL_CARD.md", _join(export_argv)),
    ]


KOKORO_SPEAKERS = 40
"""Kokoro voice blends in the speech training data (about 0.5 s of CPU per clip)."""
HELDOUT_VOICE = "en-gb-scotland"
"""The eSpeak voice (all its variants) kept out of the speech training data: the held-out
family the card reports beside flite and the own test split."""


def _data_step(name: str, argv: list[str], folder: Path) -> Step:
    return Step(name, argv, folder / "generator.json", _json_value("command", _join(argv)))


def _eval_step(name: str, argv: list[str], folder: Path) -> Step:
    argv = [*argv, "--out", str(folder)]
    report = "stream_eval.json" if argv[1] == "stream" else "speech_eval.json"
    return Step(name, argv, folder / report, _json_value("command", _join(argv)))


def _join(argv: list[str]) -> str:
    return shlex.join(["lstm-apps", *argv])


def release(
    kinds: tuple[str, ...] = ("speech", "caption"),
    *,
    work: str | Path | None = None,
    out: str | Path = "export",
    quick: bool = False,
    seed: int = 0,
    fresh: bool = False,
) -> dict[str, dict[str, float]]:
    """Run every step not yet done; returns {kind: {step: seconds}}. Raises on failure.
    work: data and runs (default runs/release, runs/release-quick for quick);
    fresh: delete this release's data and run folders first."""
    from lstm_apps.cli import main

    work = (
        Path(work) if work is not None else Path("runs/release-quick" if quick else "runs/release")
    )
    out = Path(out)
    spent: dict[str, dict[str, float]] = {}
    for kind in kinds:
        steps = plan(kind, work, out, quick=quick, seed=seed)
        if fresh:
            for folder in dict.fromkeys(st.done.parent for st in steps if st.name != "export"):
                if folder.exists():
                    print(f"--fresh: deleting {folder}", flush=True)
                    shutil.rmtree(folder)
        spent[kind] = {}
        # The data steps stand alone; training builds on all of them, and the evaluations
        # and the export on the training: a step that runs makes those after it run too.
        redo = False
        for step in steps:
            print(f"\n[release {kind}: {step.name}] {step.command}", flush=True)
            stale = redo and not step.name.startswith("data")
            if not stale and step.name != "export" and step.finished():
                made = time.strftime("%Y-%m-%d %H:%M", time.localtime(step.done.stat().st_mtime))
                print(f"  already done ({step.done}, {made}): kept; --fresh redoes it", flush=True)
                continue
            if step.name == "train" and redo and step.done.parent.exists():
                print(f"  its data changed: deleting the old run {step.done.parent}", flush=True)
                shutil.rmtree(step.done.parent)
            redo = True
            start = time.perf_counter()
            code = main(step.argv)
            spent[kind][step.name] = time.perf_counter() - start
            if code != 0:
                raise LstmAppsError(f"release {kind}: `{step.command}` failed (exit {code})")
        size = sum(p.stat().st_size for p in (out / kind).rglob("*") if p.is_file())
        print(f"  {out / kind}: {size / 1e6:.1f} MB, card: {out / kind / 'MODEL_CARD.md'}")
    print("\nrelease done: " + ", ".join(
        f"{kind} {sum(t.values()) / 60:.1f} min" for kind, t in spent.items()
    ))  # fmt: skip
    return spent
