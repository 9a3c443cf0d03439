"""`lstm-apps release`: remake the shipped bundles from nothing, on this machine.

    lstm-apps release                      # both bundles into export/, work in runs/release
    lstm-apps release --only caption       # one of them
    lstm-apps release --quick --out /tmp/x # tiny data, one epoch: checks the pipeline only
                                           # (work in runs/release-quick)
    lstm-apps release --fresh              # forget earlier data and runs: start over

Each bundle is a fixed list of steps (generate the data, train, evaluate, export with its
parity checks). A step is a library call with config objects, together with the
`lstm-apps` command that does the same (tests/test_release.py checks that the CLI makes
the same call from it); the call records that command, so MODEL_CARD.md quotes the exact
command of every step. Rerun after an interruption: a data folder whose
generator.json has the same settings is kept, a finished run (metrics.json written by
the same command) is kept, an unfinished one resumes from its last epoch. A step whose
output is older than an earlier step's (a data folder made again, or swapped in by hand)
is redone; a run redone only for that reason, or finished by another training command
(a recipe change such as FRONTEND_NORM), is first moved aside to RUN.old-<time>.
"The same command" does not see code changes: after changing the generators or the
training code, rerun with --fresh.
"""

from __future__ import annotations

import json
import shlex
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from lstm_apps.runtime.errors import ConfigError

MAX_BUNDLE_MB = 20.0  # DESIGN: each shipped bundle under 20 MB (export --max-mb)


@dataclass(frozen=True)
class Step:
    name: str
    argv: list[str]  # the `lstm-apps` arguments that do the same: shown, quoted, compared
    done: Path  # this file exists when the step has finished ...
    call: Callable[..., object]  # the library call; `run` passes it command=self.command
    same: str | None = None  # ... and, if set, holds this text (settings or command)

    @property
    def command(self) -> str:
        return _join(self.argv)

    def finished(self) -> bool:
        if not self.done.is_file():
            return False
        return self.same is None or self.same in self.done.read_text(encoding="utf-8")

    def run(self) -> None:
        self.call(command=self.command)


def _json_value(key: str, value: object) -> str:
    """How `key: value` appears in a file written by json.dumps(..., indent=2)."""
    return f'"{key}": {json.dumps(value)}'


def _recorded(name: str, argv: list[str], done: Path, call: Callable[..., object]) -> Step:
    """A step whose `done` file records the command that made it (metrics.json,
    generator.json, detector.json, *_eval.json): finished only if that is this command."""
    return Step(name, argv, done, call, _json_value("command", _join(argv)))


def plan(kind: str, work: Path, out: Path, *, quick: bool = False, seed: int = 0) -> list[Step]:
    """The steps that make the `kind` bundle ("speech" or "caption")."""
    if kind == "speech":
        return _speech_plan(work, out, quick=quick, seed=seed)
    if kind == "caption":
        return _caption_plan(work, out, quick=quick, seed=seed)
    raise ConfigError(f"unknown bundle {kind!r}; choose speech or caption")


def _speech_plan(work: Path, out: Path, *, quick: bool, seed: int) -> list[Step]:
    from lstm_apps.data.flite import FLITE_VOICES, generate_flite
    from lstm_apps.data.speech_synth import generate_speech_commands
    from lstm_apps.eval.prior import tune_prior
    from lstm_apps.eval.speech import evaluate_speech
    from lstm_apps.eval.stream import evaluate_stream
    from lstm_apps.eval.tune import tune_detector
    from lstm_apps.nn.frontend import FrontendConfig
    from lstm_apps.nn.speech import SpeechConfig
    from lstm_apps.onnx.runs import export_speech_run
    from lstm_apps.train.engine import Setup
    from lstm_apps.train.speech import SpeechTrainConfig, train_speech

    data, run, bundle = work / "data" / "speech", work / "runs" / "speech", out / "speech"
    heldout, flite = work / "data" / "speech-heldout", work / "data" / "flite"
    s = str
    # the quick set: 24 speakers, one utterance of three words, short noise
    small: dict[str, Any] = {}
    if quick:
        small = dict(repeats=1, speakers=24, noise_seconds=5.0, words=["yes", "no", "up"],
                     extra_per_speaker=2)  # fmt: skip
    small_argv = ["--speakers", "24", "--noise-seconds", "5", "--words", "yes,no,up",
                  "--unknown-per-speaker", "2"] if quick else []  # fmt: skip
    kokoro = 1 if quick else KOKORO_SPEAKERS
    data_argv = ["data", "speech", s(data), "--seed", s(seed), "--exclude-voices", HELDOUT_VOICE,
                 "--kokoro", s(kokoro), "--quiet", *(["--repeats", "1"] if quick else []),
                 *small_argv]  # fmt: skip
    make_data = partial(
        generate_speech_commands, s(data), seed=seed, exclude_voices=[HELDOUT_VOICE],
        kokoro=kokoro, progress=False, **small,
    )  # fmt: skip
    held_argv = ["data", "speech", s(heldout), "--voices", HELDOUT_VOICE, "--split", "test",
                 "--seed", s(seed + 1), "--quiet", "--repeats", "1", *small_argv]  # fmt: skip
    make_held = partial(
        generate_speech_commands, s(heldout), voices=[HELDOUT_VOICE], split="test",
        seed=seed + 1, progress=False, **{"repeats": 1, **small},
    )  # fmt: skip
    flite_words, flite_voices = (
        (["yes", "no", "up", "cat"], ["slt", "kal"]) if quick else (None, FLITE_VOICES)
    )
    flite_argv = ["data", "flite", s(flite), "--seed", s(seed), "--quiet"]
    flite_argv += ["--voices", "slt,kal", "--words", "yes,no,up,cat"] if quick else []
    make_flite = partial(
        generate_flite, s(flite), seed=seed, progress=False,
        words=tuple(flite_words) if flite_words else None, voices=tuple(flite_voices),
    )  # fmt: skip

    frontend = FrontendConfig(norm=FRONTEND_NORM)
    small_model = dict(hidden_size=32, num_layers=1) if quick else {}
    model = SpeechConfig(frontend=frontend, **small_model)  # type: ignore[arg-type]
    cfg = SpeechTrainConfig(epochs=1 if quick else 35, seed=seed, threads=1 if quick else 2,
                            model=model)  # fmt: skip
    train = ["--epochs", "1", "--hidden", "32", "--layers", "1", "--threads", "1"]
    norm = [] if FRONTEND_NORM == "none" else ["--frontend-norm", FRONTEND_NORM]
    train_argv = ["train", "speech", "--data", s(data), "--out", s(run), "--seed", s(seed),
                  *(train if quick else ["--epochs", "35"]), "--val-data", s(flite),
                  *norm]  # fmt: skip
    fit = partial(train_speech, s(data), s(run), cfg, resume=True, val_data=s(flite), setup=Setup())

    prior_argv = ["eval", "prior", s(run), "--data", s(flite), "--split", "validation"]
    prior = partial(tune_prior, s(run), s(flite), cross_split="validation", threads=2)
    tune = ["eval", "detector", s(run), "--data", s(flite), "--split", "validation"]
    tune += ["--recordings", "1", "--noise-minutes", "0.5"] if quick else []
    tuned = partial(
        tune_detector, s(run), s(flite), split="validation", seed=0, threads=2,
        n_recordings=1 if quick else 8, noise_minutes=0.5 if quick else 20.0,
    )  # fmt: skip
    stream_argv = ["--recordings", "2", "--seconds", "20", "--noise-minutes", "1"] if quick else []
    stream: dict[str, Any] = dict(n_recordings=10, seconds=60.0, noise_minutes=30.0)
    if quick:
        stream = dict(n_recordings=2, seconds=20.0, noise_minutes=1.0)
    evals = []
    for name, folder, split, what in (("eval-heldout", heldout, "test", "speech"),
                                      ("eval-flite", flite, "validation", "speech"),
                                      ("eval-stream", heldout, "test", "stream")):  # fmt: skip
        report = run / "eval" / name.removeprefix("eval-")
        argv = ["eval", what, s(run), "--data", s(folder), "--split", split]
        argv += [*(stream_argv if what == "stream" else []), "--out", s(report)]
        common: dict[str, Any] = dict(split=split, out_dir=s(report), seed=0, threads=1)
        call: Callable[..., object]
        if what == "stream":
            call = partial(evaluate_stream, s(run), s(folder), chunk_ms=100.0, **stream, **common)
        else:
            call = partial(evaluate_speech, s(run), s(folder), **common)
        evals.append(_recorded(name, argv, report / f"{what}_eval.json", call))

    # a one-epoch model is near chance: int8 must agree with fp32 less often
    export = _export_step(
        "speech", run, bundle, export_speech_run, ["--min-int8-agreement", "0.5"] if quick else [],
        min_int8_agreement=0.5 if quick else 0.99,
    )  # fmt: skip
    return [
        _recorded("data", data_argv, data / "generator.json", make_data),
        _recorded("data-heldout", held_argv, heldout / "generator.json", make_held),
        _recorded("data-flite", flite_argv, flite / "generator.json", make_flite),
        _recorded("train", train_argv, run / "metrics.json", fit),
        _recorded("tune-prior", prior_argv, run / "prior.json", prior),
        _recorded("tune-detector", tune, run / "detector.json", tuned),
        *evals,
        export,
    ]


def _caption_plan(work: Path, out: Path, *, quick: bool, seed: int) -> list[Step]:
    from lstm_apps.data.shapes import generate_shapes
    from lstm_apps.eval.caption import evaluate_caption
    from lstm_apps.nn.caption import CaptionConfig
    from lstm_apps.onnx.caption_confidence import calibrate_caption
    from lstm_apps.onnx.caption_int8 import add_int8_captions
    from lstm_apps.onnx.runs import export_caption_run
    from lstm_apps.train.caption import CaptionTrainConfig, train_caption
    from lstm_apps.train.engine import Setup

    data, run, bundle = work / "data" / "caption", work / "runs" / "caption", out / "caption"
    holdout = work / "data" / "caption-holdout"
    s = str
    count, held_count = (60, 20) if quick else (20000, 2000)
    data_argv = ["data", "shapes", s(data), "--seed", s(seed), "--quiet", "--count", s(count),
                 "--style", "spec"]  # fmt: skip
    make_data = partial(generate_shapes, s(data), count=count, seed=seed, style="spec",
                        progress=False)  # fmt: skip
    held_argv = ["data", "shapes", s(holdout), "--seed", s(seed + 1), "--quiet", "--count",
                 s(held_count), "--style", "holdout", "--splits", "0,0,1"]  # fmt: skip
    make_held = partial(generate_shapes, s(holdout), count=held_count, seed=seed + 1,
                        style="holdout", splits=(0.0, 0.0, 1.0), progress=False)  # fmt: skip
    model = CaptionConfig(
        vocab_size=4, backbone="mobilenet_v3_small", image_size=64 if quick else 128,
        hidden_size=32 if quick else 256,
    )  # fmt: skip
    cfg = CaptionTrainConfig(epochs=1 if quick else 15, seed=seed, threads=1 if quick else 2,
                             model=model)  # fmt: skip
    train = ["--epochs", "1", "--image-size", "64", "--hidden", "32", "--threads", "1"]
    train_argv = ["train", "caption", "--data", s(data), "--out", s(run), "--seed", s(seed),
                  *(train if quick else ["--epochs", "15"])]  # fmt: skip
    fit = partial(train_caption, s(data), s(run), cfg, resume=True, setup=Setup(), cache="auto")
    evals = []
    for name, folder in (("test", data), ("holdout", holdout)):
        report = run / "eval" / name
        argv = ["eval", "caption", s(run), "--data", s(folder), "--out", s(report)]
        call = partial(evaluate_caption, s(run), s(folder), out_dir=s(report))
        evals.append(_recorded(f"eval-{name}", argv, report / "caption_eval.json", call))
    # a one-epoch model is near chance: parity of tokens is checked, not skill
    export = _export_step(
        "caption", run, bundle, export_caption_run, ["--parity-images", "8"] if quick else [],
        parity_images=8 if quick else 100,
    )  # fmt: skip
    # after the export (always redone), so these are redone with it
    q_argv = ["quantize", "caption", s(bundle), "--data", s(data)]
    q_argv += ["--limit", "20"] if quick else []
    quantize = partial(add_int8_captions, s(bundle), s(data), limit=20 if quick else None,
                       max_drop=1.0 if quick else 0.005)  # fmt: skip
    if quick:  # a one-epoch model: int8 is checked to run, not to keep accuracy
        q_argv += ["--max-drop", "1"]
    conf_dir = run / "eval" / "confidence"
    c_argv = ["calibrate", "caption", s(bundle), "--data", s(data), "--holdout", s(holdout),
              "--out", s(conf_dir), *(["--limit", "20"] if quick else [])]  # fmt: skip
    calibrate = partial(calibrate_caption, s(bundle), s(data), holdout=s(holdout),
                        limit=20 if quick else None, out_dir=s(conf_dir))  # fmt: skip
    return [
        _recorded("data", data_argv, data / "generator.json", make_data),
        _recorded("data-holdout", held_argv, holdout / "generator.json", make_held),
        _recorded("train", train_argv, run / "metrics.json", fit),
        *evals,
        export,
        Step("quantize", q_argv, bundle / "encoder.int8.onnx", quantize),
        Step("calibrate", c_argv, bundle / "confidence.json", calibrate),
    ]


def _export_step(
    kind: str, run: Path, bundle: Path, export: Callable[..., object], argv: list[str],
    **settings: object,
) -> Step:  # fmt: skip
    """`lstm-apps export KIND RUN BUNDLE --max-mb 20 ARGV`: always redone (cheap, and the
    card must quote this release's steps); `settings` are what ARGV asks the call for."""
    argv = ["export", kind, str(run), str(bundle), "--max-mb", f"{MAX_BUNDLE_MB:g}", *argv]
    call = partial(export, str(run), str(bundle), checkpoint="best", data=None,
                   max_mb=MAX_BUNDLE_MB, **settings)  # fmt: skip
    return Step("export", argv, bundle / "MODEL_CARD.md", call, _join(argv))


KOKORO_SPEAKERS = 120
"""Kokoro voice blends in the speech training data (0.40 s a clip on the 2 cores:
onnx/speech_card.KOKORO_SECONDS_PER_CLIP); 40 in the bundle before (README.md compares them)."""
FRONTEND_NORM = "pcen"
"""The speech frontend's normalisation: "none" (log-mel, fixed statistics) or "pcen"
(`train speech --frontend-norm`); README.md compares them."""
HELDOUT_VOICE = "en-gb-scotland"
"""The eSpeak voice (all its variants) kept out of the speech training data: the held-out
family the card reports beside flite and the own test split."""


def _join(argv: list[str]) -> str:
    return shlex.join(["lstm-apps", *argv])


def _made_at(step: Step) -> float | None:
    """When `step`'s output was last written: its done file's time, or for a training that
    was interrupted (no metrics.json yet) its last/ checkpoint's, which it resumes from;
    None when it has not run at all."""
    if step.done.is_file():
        return step.done.stat().st_mtime
    last = step.done.parent / "last"
    if step.name == "train" and last.exists():
        return last.stat().st_mtime
    return None


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
        # and the export on the training: a step that runs makes those after it run too,
        # and so does an earlier step's output that is newer than its own (a data folder
        # made again or swapped in by hand after the training).
        redo, newest = False, 0.0
        for step in steps:
            print(f"\n[release {kind}: {step.name}] {step.command}", flush=True)
            made_at = _made_at(step)
            older = made_at is not None and made_at < newest
            stale = (redo or older) and not step.name.startswith("data")
            if stale and not redo:
                print("  an earlier step's output is newer than this step's: redone", flush=True)
            newest = max(newest, made_at or 0.0)
            if not stale and step.name != "export" and step.finished():
                made = time.strftime("%Y-%m-%d %H:%M", time.localtime(step.done.stat().st_mtime))
                print(f"  already done ({step.done}, {made}): kept; --fresh redoes it", flush=True)
                continue
            other = step.done.is_file() and not step.finished()  # another recipe's run
            if step.name == "train" and (stale or other) and step.done.parent.exists():
                old_run = step.done.parent
                if redo:  # this release remade the data: the old run is of no use
                    print(f"  its data changed: deleting the old run {old_run}", flush=True)
                    shutil.rmtree(old_run)
                else:  # file times or another command (a recipe change): keep it aside
                    kept = old_run.with_name(f"{old_run.name}.old-{time.strftime('%Y%m%d-%H%M%S')}")
                    why = "another command made it" if other else "its data is newer"
                    print(f"  {why}: the old run moved to {kept}", flush=True)
                    old_run.rename(kept)
            redo = True
            start = time.perf_counter()
            step.run()  # raises on failure: the header above names the step
            spent[kind][step.name] = time.perf_counter() - start
            if step.done.is_file():
                newest = max(newest, step.done.stat().st_mtime)
        size = sum(p.stat().st_size for p in (out / kind).rglob("*") if p.is_file())
        print(f"  {out / kind}: {size / 1e6:.1f} MB, card: {out / kind / 'MODEL_CARD.md'}")
    print("\nrelease done: " + ", ".join(
        f"{kind} {sum(t.values()) / 60:.1f} min" for kind, t in spent.items()
    ))  # fmt: skip
    return spent
