"""The numbers of export/README.md's "Runtimes tested" table, for one export folder.

    python benchmarks/portability.py [EXPORT_DIR]     # default: export/


Reuses tests/test_portability.py's runners (reference, Tract, onnxruntime) and its
_stream / _decode helpers, pointed at EXPORT_DIR. Inputs: all six clips (one batch of 6),
stream.wav in 100 ms chunks, all six images (the five 128 px as one batch, scene5 320 px
alone: one size per call) with greedy and beam 3, decoder one step batch 4 random state.
"""

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import tests.test_portability as tp  # noqa: E402
from lstm_apps.runtime.audio import fit_length, load_audio  # noqa: E402
from lstm_apps.runtime.image import load_image  # noqa: E402
from lstm_apps.runtime.session import OnnxModel  # noqa: E402

EXPORT = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "export").resolve()
tp.SPEECH, tp.CAPTION = EXPORT / "speech", EXPORT / "caption"
S, C = tp.SPEECH, tp.CAPTION
SAMPLES = ROOT / "samples"


def d(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(a.astype(np.float64) - b).max()) if a.size else 0.0


print("export:", EXPORT)
for rt in ("reference", "tract"):
    R = tp.RUNTIMES[rt]
    print(f"\n=== {rt}")
    # model.onnx: all six clips
    meta = OnnxModel(S / "model.onnx").require_metadata("preprocessing")
    paths = sorted((SAMPLES / "speech").glob("*_*.wav"))
    x = np.stack(
        [
            fit_length(load_audio(p, target_rate=meta["sample_rate"]), meta["clip_samples"])
            for p in paths
        ]
    )
    w = tp.onnxruntime(S / "model.onnx")({"waveform": x})["logits"]
    g = R(S / "model.onnx")({"waveform": x})["logits"]
    print(
        f"model.onnx ({len(paths)} clips): logits {d(g, w):.2g}, same argmax {(g.argmax(1) == w.argmax(1)).all()}"
    )

    # stream.onnx: stream.wav, 100 ms chunks
    audio = load_audio(SAMPLES / "speech" / "stream.wav")
    wl, ws, wd = tp._stream(tp.onnxruntime(S / "stream.onnx"), audio, 5 * 320)
    gl, gs, gd = tp._stream(R(S / "stream.onnx"), audio, 5 * 320)
    cw, cg = ws["c"].astype(np.float64), gs["c"]
    diff = np.abs(cg - cw)
    i = np.unravel_index(diff.argmax(), diff.shape)
    rel = diff / np.maximum(np.abs(cw), 1e-30)
    big = np.abs(cw) >= 1.0
    print(
        f"stream.onnx ({len(audio) / 16000:.1f} s): logits {d(gl, wl):.2g}, h {d(gs['h'], ws['h']):.2g}, "
        f"c {diff.max():.2g} at |c|={abs(cw[i]):.0f} (max|c| ort {np.abs(cw).max():.0f}, {rt} {np.abs(cg).max():.0f}); "
        f"rel diff/max|c| {diff.max() / np.abs(cw).max():.2g}, rel at argmax {diff.max() / abs(cw[i]):.2g}, "
        f"max elementwise rel (|c|>=1) {rel[big].max():.2g}, min allclose rtol {((diff - 1e-4).clip(0) / np.abs(cw)).max():.2g}; "
        f"context equal {np.array_equal(gs['context'], ws['context'])}; "
        f"same detections {[(q.label, q.time) for q in gd] == [(q.label, q.time) for q in wd]} ({len(wd)})"
    )
    print(f"   |c| per second ~ {np.abs(cw).max() / (len(audio) / 16000):.1f}")

    # encoder.onnx: all six images
    imgs = {p.name: load_image(p) for p in sorted((SAMPLES / "images").glob("scene*"))}
    groups = {}
    for im in imgs.values():
        groups.setdefault(im.shape, []).append(im)
    batches = [np.stack(v) for v in groups.values()]
    oe, ge = tp.onnxruntime(C / "encoder.onnx"), R(C / "encoder.onnx")
    fmax = hmax = 0.0
    for b in [im[None] for im in imgs.values()]:  # one image per call (old table's way)
        wo, go = oe({"images": b}), ge({"images": b})
        fmax = max(fmax, d(go["features"], wo["features"]))
        hmax = max(hmax, d(go["h0"], wo["h0"]), d(go["c0"], wo["c0"]))
    print(f"encoder.onnx ({len(imgs)} images, one per call): features {fmax:.2g}, h0/c0 {hmax:.2g}")

    # decoder.onnx: one step, batch 4, random state
    rng = np.random.default_rng(0)
    V = OnnxModel(C / "decoder.onnx").metadata["config"]["vocab_size"]
    shp = oe({"images": batches[0][:4]})["h0"].shape
    K, D = (
        OnnxModel(C / "decoder.onnx").metadata["config"]["grid"] ** 2,
        OnnxModel(C / "decoder.onnx").metadata["config"]["feature_dim"],
    )
    feeds = {
        "tokens": rng.integers(0, V, 4).astype(np.int64),
        "h": rng.standard_normal(shp).astype(np.float32),
        "c": rng.standard_normal(shp).astype(np.float32),
        "features": rng.standard_normal((4, K, D)).astype(np.float32),
        "keys": rng.standard_normal(
            (4, K, OnnxModel(C / "decoder.onnx").metadata["config"]["attention_dim"])
        ).astype(np.float32),
    }
    wo, go = tp.onnxruntime(C / "decoder.onnx")(feeds), R(C / "decoder.onnx")(feeds)
    print(
        f"decoder.onnx one step b4: logprobs {d(go['logprobs'], wo['logprobs']):.2g}, "
        f"h {d(go['h_out'], wo['h_out']):.2g}, c {d(go['c_out'], wo['c_out']):.2g}, alpha {d(go['alpha'], wo['alpha']):.2g}"
    )

    # greedy and beam 3 over encoder + decoder
    for beam in (1, 3):
        same, lp, al, n = True, 0.0, 0.0, 0
        for b in batches:
            want, got = tp._decode("onnxruntime", b, beam), tp._decode(rt, b, beam)
            for wh, gh in zip(want, got, strict=True):
                n += 1
                same &= [h.tokens for h in gh] == [h.tokens for h in wh]
                same &= [h.finished for h in gh] == [h.finished for h in wh]
                if same:
                    for x_, y_ in zip(wh, gh, strict=True):
                        lp = max(lp, abs(x_.logprob - y_.logprob))
                        al = max(al, d(y_.alphas, x_.alphas))
        print(
            f"search beam {beam} ({n} images): same captions {same}, logprob {lp:.2g}, alphas {al:.2g}"
        )

    # greedy.onnx: ReferenceEvaluator only
    if rt == "reference":
        same, al = True, 0.0
        for b in [im[None] for im in imgs.values()] + batches:
            wo = tp.onnxruntime(C / "greedy.onnx")({"images": b})
            try:
                go = tp.reference(C / "greedy.onnx")({"images": b})
            except RuntimeError as e:
                print("greedy.onnx: ReferenceEvaluator fails:", str(e)[:80])
                same = None
                break
            same &= np.array_equal(go["tokens"], wo["tokens"])
            al = max(al, d(go["alphas"], wo["alphas"]))
        if same is not None:
            print(
                f"greedy.onnx (6 images one per call + batches 5, 1): same tokens {same}, alphas {al:.2g}"
            )
