"""The README's main job: run what the project ships and show it.

    lstm-apps demo [--out out/demo] [--samples samples]

With the shipped bundles (installed package data, or export/ in a checkout) and
onnxruntime only: caption the sample images and draw where each word looked, classify
the sample clips, stream a 14 s recording (commands, a non-command, pauses, noise) and
print each detection with its time. With torch installed (the train extra) it also draws
the LSTM's gates (`lstm-apps explain`) and checks the shared core against the gate
equations; without torch those parts say so and step aside.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from lstm_apps.runtime.errors import LstmAppsError
from lstm_apps.runtime.session import default_bundle

ROOT = Path(__file__).resolve().parent.parent


def _rule(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 74 - len(title)))


def _mb(bundle: Path, *names: str) -> str:
    return ", ".join(f"{n} {(bundle / n).stat().st_size / 1e6:.1f} MB" for n in names)


def default_samples() -> Path:
    """samples/ of the source checkout, else ./samples."""
    for candidate in (ROOT / "samples", Path.cwd() / "samples"):
        if (candidate / "speech").is_dir() or (candidate / "images").is_dir():
            return candidate
    return ROOT / "samples"


def caption_demo(bundle: Path, images: Path, out: Path) -> tuple[int, int]:
    from lstm_apps.data.shapes_text import content_correct_from_reference
    from lstm_apps.runtime.attention_png import save_attention_png
    from lstm_apps.runtime.caption import Captioner
    from lstm_apps.runtime.image import load_image

    _rule("image captions")
    print(f"  bundle {bundle} ({_mb(bundle, 'encoder.onnx', 'decoder.onnx')})")
    cap = Captioner.from_dir(bundle, intra_op_threads=1)
    truth = json.loads((images / "truth.json").read_text())
    paths = sorted(p for p in images.iterdir() if p.name in truth)
    start = time.perf_counter()
    captions = cap.caption(paths, beam_size=3)
    spent = time.perf_counter() - start
    right = 0
    for path, c in zip(paths, captions, strict=True):
        ok = content_correct_from_reference(c.tokens, truth[path.name].split())
        right += ok
        save_attention_png(out / f"{path.stem}.png", load_image(path), c.tokens, c.attention)
        print(f"  {'ok  ' if ok else 'MISS'} {path.name:11s} {c.text}")
        if not ok:
            print(f"  {'':4s} {'':11s} (true: {truth[path.name]})")
    print(f"  {right}/{len(paths)} right, beam 3, {spent * 1000 / len(paths):.0f} ms per image")
    return right, len(paths)


def speech_demo(bundle: Path, clips_dir: Path) -> tuple[int, int]:
    from lstm_apps.runtime.audio import load_audio
    from lstm_apps.runtime.speech import SpeechClassifier

    _rule("speech commands")
    print(f"  bundle {bundle} ({_mb(bundle, 'model.onnx', 'stream.onnx')})")
    clf = SpeechClassifier.from_dir(bundle, intra_op_threads=1)
    clips = sorted(clips_dir.glob("*_*.wav"))
    right = 0
    for path, pred in zip(clips, clf.classify(clips), strict=True):
        said = path.stem.split("_")[0]
        # a bundle trained on other commands is right to hear a word it lacks as _unknown_
        want = said if said in clf.labels else "_unknown_"
        right += pred.label == want
        mark = "ok  " if pred.label == want else "MISS"
        print(f"  {mark} {path.name:20s} said {said:6s} heard {pred.label:10s} {pred.score:6.1%}")
    print(f"  {right}/{len(clips)} right")

    stream_wav = clips_dir / "stream.wav"
    if not stream_wav.is_file():
        return right, len(clips)
    truth = json.loads((clips_dir / "stream.json").read_text())
    audio = load_audio(stream_wav, target_rate=clf.sample_rate)
    seconds = len(audio) / clf.sample_rate
    print(f"\n  streaming {stream_wav.name}: {seconds:.1f} s in 100 ms chunks, pauses and noise")
    print("  said:  " + "  ".join(f"{t['word']} {t['start']:.1f}s" for t in truth))
    stream = clf.stream()
    chunk = clf.sample_rate // 10
    start = time.perf_counter()
    detections = list(stream.feed(audio, chunk))
    spent = time.perf_counter() - start
    # a detection belongs to a word said just before or during it
    windows = [(i, t["word"], t["start"] - 0.1, t["end"] + 0.8) for i, t in enumerate(truth)]
    rows, found, false_alarms = [], set(), 0
    for d in detections:
        hits = [i for i, word, lo, hi in windows if word == d.label and lo <= d.time <= hi]
        found.update(hits)
        false_alarms += not hits
        rows.append((d.time, f"  {'ok  ' if hits else '??  '} {d.time:6.2f} s  {d.label:6s} "
                             f"{d.score:6.1%}"))  # fmt: skip
    commands = [i for i, t in enumerate(truth) if t["word"] in clf.labels]
    for i in commands:
        if i not in found:
            t = truth[i]
            rows.append((t["start"], f"  MISS {t['start']:6.2f} s  {t['word']:6s} not detected"))
    for _, row in sorted(rows):
        print(row)
    print(
        f"  {len(found & set(commands))} of {len(commands)} commands detected, "
        f"{false_alarms} false alarm{'s' * (false_alarms != 1)}; "
        f"{seconds / spent:.0f}x faster than real time"
    )
    return right, len(clips)


def gates_demo(samples: Path, out: Path) -> list[Path]:
    """Gate pictures for one clip and one image (needs torch); [] without torch."""
    try:
        from lstm_apps import explain as ex
    except ImportError:
        print("\n  (gate pictures skipped: `lstm-apps explain` needs torch: pip install .[train])")
        return []
    from lstm_apps.runtime.audio import load_audio
    from lstm_apps.runtime.image import load_image

    written = []
    clip = next(iter(sorted((samples / "speech").glob("*_*.wav"))), None)
    if clip is not None:
        net = ex.load_speech_model(None)
        audio = load_audio(clip, target_rate=net.config.frontend.sample_rate)
        e = ex.explain_speech(net, audio)
        written.append(ex.plot_speech(e, out / f"gates_{clip.stem}.png", f"{clip.name}"))
    image = next(iter(sorted((samples / "images").glob("scene*"))), None)
    if image is not None:
        model, vocab = ex.load_caption_model(None)
        c = ex.explain_caption(model, vocab, load_image(image))
        written.append(ex.plot_caption(c, out / f"gates_{image.stem}.png"))
    return written


def core_demo(out: Path) -> None:
    _rule("shared LSTM core: gate equations, torch, onnxruntime")
    try:
        from lstm_apps.onnx.smoke import run_core_smoke
    except ImportError:
        print("  skipped: torch is not installed (pip install .[train])")
        return
    run_core_smoke(out / "core")


def run_demo(out: str | Path = "out/demo", samples: str | Path | None = None) -> int:
    """Run every part; returns how many parts could not run (0 = all ran)."""
    out, samples = Path(out), Path(samples) if samples else default_samples()
    if not (samples / "images").is_dir() and not (samples / "speech").is_dir():
        print(
            f"lstm-apps demo: no sample inputs in {samples} (it needs images/ or speech/); "
            "run it in a checkout of the repository, or pass --samples DIR",
            file=sys.stderr,
        )
        return 1
    print("lstm-apps demo: the shipped bundles, onnxruntime only, nothing trained here")
    parts = {
        "caption": lambda: caption_demo(
            default_bundle("caption"), samples / "images", out / "attention"
        ),
        "speech": lambda: speech_demo(default_bundle("speech"), samples / "speech"),
    }
    failed, ran = 0, set()
    for name, part in parts.items():
        try:
            part()
            ran.add(name)
        except (LstmAppsError, FileNotFoundError) as e:
            print(f"  the {name} part could not run: {e}")
            failed += 1
    try:
        pictures = gates_demo(samples, out)
    except LstmAppsError as e:
        print(f"\n  (gate pictures skipped: {e})")
        pictures = []
    core_demo(out)
    _rule("where the pictures went")
    if "caption" in ran:
        print(f"  {out / 'attention'}/*.png   each word's attention over its image")
    for p in pictures:
        print(f"  {p}   gates of the LSTM under its input")
    return failed
