"""The README's main job: run what the project ships and show it.

    lstm-apps demo

Speech: classify the sample clips and stream a longer recording with the shipped bundle
(onnxruntime only). Core: export the shared LSTM and check parity (needs torch; skipped
with a note on an inference-only install).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from lstm_apps.runtime.errors import ModelFileError

ROOT = Path(__file__).resolve().parent.parent


def _rule(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 70 - len(title)))


def speech_demo(bundle: Path, samples: Path) -> None:
    from lstm_apps.runtime.audio import load_audio
    from lstm_apps.runtime.speech import SpeechClassifier

    _rule(f"speech commands  ({bundle})")
    clf = SpeechClassifier.from_dir(bundle, intra_op_threads=1)
    clips = sorted(samples.glob("*_*.wav"))
    for path, pred in zip(clips, clf.classify(clips), strict=True):
        said = path.stem.split("_")[0]
        mark = "ok " if pred.label == said else "MISS"
        print(
            f"  {mark} {path.name:24s} said {said!r:8s} heard {pred.label!r:11s} {pred.score:5.1%}"
        )
    stream_wav = samples / "stream.wav"
    if not stream_wav.is_file():
        return
    truth = json.loads((samples / "stream.json").read_text())
    audio = load_audio(stream_wav, target_rate=clf.sample_rate)
    seconds = len(audio) / clf.sample_rate
    said = ", ".join(f"{t['word']} @{t['start']:.1f}s" for t in truth)
    print(f"\n  streaming {stream_wav.name} ({seconds:.1f} s, 100 ms chunks); said: {said}")
    stream = clf.stream()
    start = time.perf_counter()
    dets = []
    for i in range(0, len(audio), 1600):
        dets += stream.accept(audio[i : i + 1600])
    dets += stream.flush()
    spent = time.perf_counter() - start
    for d in dets:
        near = [t["word"] for t in truth if t["start"] - 0.1 <= d.time <= t["end"] + 0.8]
        mark = "ok " if d.label in near else "?? "
        print(f"  {mark} {d.time:6.2f} s  {d.label:6s} {d.score:5.1%}")
    print(f"  {len(dets)} detections, {seconds / spent:.0f}x faster than real time")


def caption_demo(bundle: Path, samples: Path, out: Path) -> None:
    from lstm_apps.data.shapes import content_correct_from_reference
    from lstm_apps.runtime.attention_png import save_attention_png
    from lstm_apps.runtime.caption import Captioner
    from lstm_apps.runtime.image import load_image

    _rule(f"image captions  ({bundle})")
    cap = Captioner.from_dir(bundle, intra_op_threads=1)
    truth = json.loads((samples / "truth.json").read_text())
    paths = sorted(p for p in samples.iterdir() if p.name in truth)
    start = time.perf_counter()
    captions = cap.caption(paths, beam_size=3)
    spent = time.perf_counter() - start
    for path, c in zip(paths, captions, strict=True):
        ok = content_correct_from_reference(c.tokens, truth[path.name].split())
        save_attention_png(
            out / "attention" / f"{path.stem}.png", load_image(path), c.tokens, c.attention
        )
        print(f"  {'ok ' if ok else 'MISS'} {path.name:11s} {c.text}")
        if not ok:
            print(f"       {'':11s} (true: {truth[path.name]})")
    print(f"  beam 3, {len(paths)} images in {spent * 1000:.0f} ms; "
          f"where each word looked: {out / 'attention'}/*.png")  # fmt: skip


def core_demo(out: Path) -> None:
    _rule("shared LSTM core: gate equations, torch, onnxruntime")
    try:
        from lstm_apps.onnx.smoke import run_core_smoke
    except ImportError:
        print("  skipped: torch is not installed (pip install .[train])")
        return
    run_core_smoke(out / "core")


def run_demo(out: str | Path = "out/demo") -> None:
    out = Path(out)
    bundle = ROOT / "export" / "speech"
    try:
        speech_demo(bundle, ROOT / "samples" / "speech")
    except ModelFileError as e:
        print(f"  no speech bundle: {e}")
    try:
        caption_demo(ROOT / "export" / "caption", ROOT / "samples" / "images", out)
    except ModelFileError as e:
        print(f"  no caption bundle: {e}")
    core_demo(out)
