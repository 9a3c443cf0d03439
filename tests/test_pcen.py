"""The PCEN frontend option (`FrontendConfig(norm="pcen")`): its definition, what it
normalises away, streaming with the smoother carried in `context`, and a bundle of it
served by the torch-free runtime."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lstm_apps import SpeechClassifier
from lstm_apps.nn.frontend import FrontendConfig, LogMel
from lstm_apps.nn.speech import SpeechClassifierNet, SpeechConfig, SpeechStream
from lstm_apps.onnx.speech import export_speech

PCEN = FrontendConfig(norm="pcen")
ROOT = Path(__file__).resolve().parents[1]


def _word(n: int = 16000, seed: int = 0) -> torch.Tensor:
    """A 'word': a 0.4 s chirp with harmonics in the middle of n samples of quiet noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(6400) / 16000
    f0 = 140 + 60 * t / t[-1]
    phase = 2 * np.pi * np.cumsum(f0) / 16000
    tone = sum(np.sin(k * phase) / k for k in range(1, 8)) * np.hanning(6400)
    x = rng.normal(0, 1e-3, n)
    a = (n - 6400) // 2
    x[a : a + 6400] += 0.2 * tone
    return torch.from_numpy(x.astype(np.float32))[None]


def test_pcen_follows_its_definition() -> None:
    fe = LogMel(PCEN)
    x = torch.nn.functional.pad(_word(), (PCEN.context, 0))
    e = fe.mel(x)[0].double().numpy()  # (T, F)
    m, want = np.zeros(PCEN.n_mels), []
    for t in range(len(e)):
        m = (1 - PCEN.pcen_smooth) * m + PCEN.pcen_smooth * e[t]
        g = (e[t] + PCEN.log_floor) / (m + PCEN.log_floor) ** PCEN.pcen_alpha
        want.append((g + PCEN.pcen_delta) ** PCEN.pcen_root - PCEN.pcen_delta**PCEN.pcen_root)
    got = fe.frames(x)[0].double().numpy()
    np.testing.assert_allclose(got, np.array(want), rtol=1e-4, atol=1e-5)
    assert fe.state_dict() == {}  # fixed by the config, nothing to learn or to load


def test_pcen_cancels_level_and_a_fixed_eq() -> None:
    """With alpha = 1 and the floor negligible, a gain or a per-band EQ cancels exactly
    once the smoother has seen the channel; the log-mel keeps both."""
    cfg = FrontendConfig(norm="pcen", pcen_alpha=1.0, log_floor=1e-12)
    fe, log = LogMel(cfg), LogMel(FrontendConfig())
    x = _word()
    quiet, loud = fe(x), fe(x * 30)
    assert (quiet - loud).abs().max() < 1e-3
    assert (log(x * 30) - log(x)).mean() > 6  # up to log(900) = 6.8 (less near the floor)
    # an EQ: each mel band scaled by its own factor, applied to the mel power directly
    eq = torch.linspace(0.1, 10, cfg.n_mels)
    xp = torch.nn.functional.pad(x, (cfg.context, 0))
    e = fe.mel(xp)
    smooth = fe.smooth(e * eq, torch.zeros(1, cfg.n_mels))
    gain = (e * eq + cfg.log_floor) / (smooth + cfg.log_floor)
    eq_feats = (gain + cfg.pcen_delta).sqrt() - cfg.pcen_delta**0.5
    torch.testing.assert_close(eq_feats, fe.frames(xp), atol=1e-4, rtol=1e-4)


def test_pcen_of_zeros_is_finite_and_quiet() -> None:
    fe = LogMel(PCEN)
    zeros = fe(torch.zeros(2, 16000))
    assert torch.isfinite(zeros).all()
    # zeros look like a quiet steady background: E = 0 and m = 0, so the gain is
    # floor / floor^alpha everywhere
    g = PCEN.log_floor ** (1 - PCEN.pcen_alpha)
    quiet = (g + PCEN.pcen_delta) ** 0.5 - PCEN.pcen_delta**0.5
    torch.testing.assert_close(zeros, torch.full_like(zeros, quiet), atol=1e-3, rtol=0)
    padded = fe(torch.cat([torch.zeros(1, 4000), _word(8000), torch.zeros(1, 4000)], 1))
    assert torch.isfinite(padded).all() and padded.max() < 100


def test_pcen_config_errors() -> None:
    with pytest.raises(ValueError, match="kind='logmel'"):
        FrontendConfig(norm="pcen", kind="mfcc")
    with pytest.raises(ValueError, match="norm"):
        FrontendConfig(norm="cmn")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pcen_smooth"):
        FrontendConfig(norm="pcen", pcen_smooth=0.0)
    assert PCEN.state_size == PCEN.context + PCEN.n_mels
    assert FrontendConfig().state_size == FrontendConfig().context
    cfg = SpeechConfig(frontend=PCEN)
    assert SpeechConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.to_dict()["frontend"]["norm"] == "pcen"


def test_configs_without_pcen_keep_their_old_keys() -> None:
    """A run or bundle made before PCEN has no norm/pcen_* keys; the same config written
    now must be the same dict, or an interrupted run would refuse to resume (its
    train_config fingerprint would differ)."""
    shipped = json.loads((ROOT / "export" / "speech" / "config.json").read_text())["config"]
    old = {**shipped, "frontend": {k: v for k, v in shipped["frontend"].items()
                                   if k != "norm" and not k.startswith("pcen_")}}  # fmt: skip
    assert set(old["frontend"]) == {"sample_rate", "n_fft", "hop", "n_mels", "f_min", "f_max",
                                    "kind", "n_mfcc", "log_floor"}  # fmt: skip
    assert SpeechConfig.from_dict(old).to_dict() == old
    assert SpeechConfig.from_dict(shipped).to_dict() == shipped  # the PCEN one keeps its keys


def _net(seed: int = 0) -> SpeechClassifierNet:
    torch.manual_seed(seed)
    net = SpeechClassifierNet(SpeechConfig(hidden_size=16, num_layers=2, frontend=PCEN)).eval()
    net.set_normalization(torch.full((40,), 0.5), torch.full((40,), 0.7))
    return net


def test_pcen_stream_chunks_equal_offline() -> None:
    net, x = _net(), torch.cat([_word(seed=1), _word(seed=2)])
    stream, fe = SpeechStream(net), net.config.frontend
    with torch.no_grad():
        offline, _ = net.classify_frames(net.features(x))  # every frame, not just the last
        for chunk in (fe.hop, 7 * fe.hop, 3200):
            ctx, h, frames = torch.zeros(2, fe.state_size), torch.zeros(2, 2, 16), []
            c = h
            for i in range(0, 16000, chunk):
                logits, h, c, ctx = stream(x[:, i : i + chunk], ctx, h, c)
                frames.append(logits)
            assert ctx.shape == (2, fe.state_size) and (ctx[:, fe.context :] >= 0).all()
            torch.testing.assert_close(torch.cat(frames, 1), offline, atol=1e-5, rtol=1e-5)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pcen") / "bundle"
    clips = torch.cat(
        [_word(seed=s) * g for s, g in zip(range(6), (1, 0.1, 3, 0.5, 1, 2), strict=True)]
    )
    loose = {"threshold": 0.1, "ignore": [], "min_frames": 1}  # an untrained net detects
    export_speech(_net(), out, clips.numpy(), min_int8_agreement=0.0, detector=loose)
    return out


def test_pcen_bundle_runs_without_torch_code(bundle: Path) -> None:
    """The runtime and every port size the carried state from the manifest's
    stream.context, so a PCEN bundle needs no new code."""
    clf = SpeechClassifier.from_dir(bundle)
    assert clf.bundle.stream.context == 320 + 40
    net, x = _net(), torch.cat([_word(seed=7), _word(seed=8) * 0.05])
    with torch.no_grad():
        want = torch.softmax(net(x), 1).numpy()
    got = np.concatenate(clf.probabilities(list(x.numpy()), sample_rate=16000))
    np.testing.assert_allclose(got, want, atol=1e-5)
    # int8: the smoother stays fp32 (only LSTM and MatMul weights are quantised)
    q = SpeechClassifier.from_dir(bundle, int8=True)
    np.testing.assert_allclose(
        np.concatenate(q.probabilities(list(x.numpy()), sample_rate=16000)), want, atol=5e-3
    )
    # a stream of the two words, in uneven chunks, ends on model.onnx's answer for both
    audio = np.concatenate([x[0].numpy(), x[1].numpy()])
    whole = clf.model.run({"waveform": audio[None]})["logits"][0]
    assert clf.stream_model is not None
    np.testing.assert_allclose(clf.stream_model.logits(audio, 960)[-1], whole, atol=1e-4)
    # many streams in one batch carry their own smoothers: each equals its solo run
    solo = [clf.stream() for _ in range(2)]
    batch = clf.stream_batch()
    for k in range(2):
        batch.open(k)
    pieces = [audio[: 16000 + 3200 * k] for k in range(2)]
    want_d = [s.accept(p, 16000) + s.flush() for s, p in zip(solo, pieces, strict=True)]
    got_d: dict[int, list] = {0: [], 1: []}
    for k, p in enumerate(pieces):
        batch.accept(k, p, 16000)
    for k, found in batch.step().items():
        got_d[k] += found
    assert sum(len(d) for d in want_d) > 0  # (an untrained net: any label counts)
    for k in range(2):
        got_d[k] += batch.close(k)
        assert [(d.label, d.time) for d in got_d[k]] == [(d.label, d.time) for d in want_d[k]]


def test_pcen_bundle_in_the_js_port(bundle: Path, tmp_path: Path) -> None:
    """samples/js sizes `context` from config.json: it streams a PCEN bundle as the
    Python runtime does, with no change."""
    import soundfile as sf
    from test_js import json_lines, run_node

    audio = np.concatenate([_word(seed=s).numpy()[0] * g for s, g in ((9, 1), (10, 0.2))])
    wav = tmp_path / "two.wav"
    sf.write(wav, audio, 16000, subtype="PCM_16")
    clf = SpeechClassifier.from_dir(bundle)
    found = list(clf.stream().feed(sf.read(wav, dtype="float32")[0], 1600))
    got = json_lines(run_node("samples/js/examples/speech.js", "stream", str(wav),
                              "--bundle", str(bundle)))  # fmt: skip
    assert len(found) >= 1
    assert [(d["label"], round(d["time"], 6)) for d in got] == [
        (d.label, round(d.time, 6)) for d in found
    ]
    np.testing.assert_allclose([d["score"] for d in got], [d.score for d in found], atol=1e-4)


@pytest.mark.parametrize("runtime", ["reference", "tract"])
def test_pcen_bundle_in_other_runtimes(bundle: Path, runtime: str) -> None:
    """The smoother is plain MatMul/Exp/Where: onnx's reference evaluator and tract agree
    with onnxruntime over a whole 1 s clip and a 50-frame stream chunk (an ONNX RNN with
    Relu, the first design, ran as Tanh in tract: 114 against 0.18 after a word)."""
    from test_portability import RUNTIMES, onnxruntime

    x = torch.cat([_word(seed=11), _word(seed=12) * 3]).numpy()
    want = onnxruntime(bundle / "model.onnx")({"waveform": x})["logits"]
    got = RUNTIMES[runtime](bundle / "model.onnx")({"waveform": x})["logits"]
    np.testing.assert_allclose(got, want, atol=1e-4)
    z = np.zeros((2, 2, 16), np.float32)
    feeds = {"chunk": x[:, :16000], "context": np.zeros((2, 360), np.float32), "h": z, "c": z}
    want_s = onnxruntime(bundle / "stream.onnx")(feeds)
    got_s = RUNTIMES[runtime](bundle / "stream.onnx")(feeds)
    for name in ("logits", "h_out", "context_out"):
        np.testing.assert_allclose(got_s[name], want_s[name], atol=1e-4, rtol=1e-5, err_msg=name)
    assert want_s["context_out"][:, 320:].max() > 1  # the word's energy reached the smoother
