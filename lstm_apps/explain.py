"""What the LSTM remembers: gate activity drawn under the input it read.

    lstm-apps explain speech samples/speech/yes_f5ff9db1.wav --png out/explain_yes.png
    lstm-apps explain caption samples/images/scene1.png --png out/explain_scene1.png

The trained weights (a bundle's `checkpoint/`, or a run's `best/`) are copied into the
gate-by-gate cell of `lstm_apps.nn.cell` (`LSTMDecoder.trace_gates`), which returns the
forget, input and output gates of every unit at every step. The pictures show them as
heat maps (unit x time, 0 = closed, 1 = open) beneath:
- speech: the log-mel spectrogram, and the class probabilities the model would read at
  each frame;
- captions: where each word looked (attention over the image), one column per word.

Needs the train extra (torch, matplotlib).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from lstm_apps.nn.caption import CaptionModel
from lstm_apps.nn.cell import GateTrace
from lstm_apps.nn.speech import SpeechClassifierNet
from lstm_apps.runtime.errors import InputError, ModelFileError
from lstm_apps.runtime.files import atomic_file
from lstm_apps.runtime.session import default_bundle
from lstm_apps.runtime.vocab import Vocab
from lstm_apps.train.checkpoint import load_checkpoint

GATES = ("forget", "input", "output")
MAX_EXPLAIN_SECONDS = 30.0  # longer recordings make unreadable pictures


def resolve_checkpoint(kind: str, model: str | os.PathLike[str] | None) -> Path:
    """A checkpoint folder from a bundle (BUNDLE/checkpoint), a run (RUN/best) or itself."""
    root = default_bundle(kind) if model is None else Path(model)
    for candidate in (root / "checkpoint", root / "best", root):
        if (candidate / "config.json").is_file() and (candidate / "model.safetensors").is_file():
            return candidate
    raise ModelFileError(
        f"no {kind} weights in {root}: expected a bundle with checkpoint/, a training run "
        "with best/, or a checkpoint folder (config.json + model.safetensors)"
    )


@dataclass
class GateActivity:
    """Gates of one layer, each (steps, hidden) in [0, 1]."""

    forget: np.ndarray
    input: np.ndarray
    output: np.ndarray


def _layers(traces: list[GateTrace]) -> list[GateActivity]:
    out = []
    for t in traces:
        if t.forget is None or t.input is None or t.output is None:
            raise ValueError("explain draws LSTM gates; this model's cell is a GRU")
        out.append(GateActivity(*(g[0].numpy() for g in (t.forget, t.input, t.output))))
    return out


# ---------------------------------------------------------------------------------- speech


@dataclass
class SpeechExplanation:
    logmel: np.ndarray  # (frames, mels), before normalisation
    probs: np.ndarray  # (frames, classes): what a read-out at each frame would say
    layers: list[GateActivity]
    labels: tuple[str, ...]
    seconds_per_frame: float
    compression: str = "log"  # FrontendConfig.compression: "PCEN" makes logmel PCEN values


def explain_speech(net: SpeechClassifierNet, audio: np.ndarray) -> SpeechExplanation:
    """audio: mono float32 at the model's rate (16 kHz)."""
    cfg = net.config
    if len(audio) < cfg.frontend.n_fft:
        raise InputError(f"audio is {len(audio)} samples; need at least {cfg.frontend.n_fft}")
    net = net.eval()
    with torch.no_grad():
        wav = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None]
        logmel = net.frontend(wav)
        feats = (logmel - net.feat_mean) / net.feat_std
        traces = net.decoder.trace_gates(feats)
        probs = torch.softmax(net.head(traces[-1].hidden), dim=-1)
    return SpeechExplanation(
        logmel[0].numpy(), probs[0].numpy(), _layers(traces), tuple(cfg.labels),
        cfg.frontend.hop / cfg.frontend.sample_rate, cfg.frontend.compression,
    )  # fmt: skip


def plot_speech(ex: SpeechExplanation, path: str | os.PathLike[str], title: str = "") -> Path:
    plt = _pyplot()
    frames = len(ex.logmel)
    extent_t = frames * ex.seconds_per_frame
    top = np.argsort(ex.probs.max(0))[::-1][:4]  # the classes that ever mattered most
    fig, axes = plt.subplots(
        5, 1, figsize=(10, 11), sharex=True, height_ratios=[1.1, 1.3, 1.3, 1.3, 0.9]
    )
    axes[0].imshow(ex.logmel.T, aspect="auto", origin="lower", cmap="magma",
                   extent=(0, extent_t, 0, ex.logmel.shape[1]))  # fmt: skip
    axes[0].set_ylabel("mel band")
    kind = f"{ex.compression}-mel spectrogram"
    axes[0].set_title(title or f"{kind} (what the LSTM reads, one frame per 20 ms)")
    for ax, gate in zip(axes[1:4], GATES, strict=True):
        _gate_map(ax, [getattr(layer, gate) for layer in ex.layers], gate, extent_t)
    for k in top:
        name = ex.labels[k].strip("_")  # matplotlib hides labels that start with "_"
        axes[4].plot(np.arange(frames) * ex.seconds_per_frame, ex.probs[:, k], label=name)
    axes[4].set_ylim(0, 1.02)
    axes[4].set_ylabel("probability")
    axes[4].set_xlabel("time (s)")
    axes[4].legend(loc="upper left", fontsize=8, ncol=4)
    axes[4].set_title("class probabilities read out at each frame", fontsize=9)
    return _save(fig, path)


# --------------------------------------------------------------------------------- caption


@dataclass
class CaptionExplanation:
    image: np.ndarray  # (H, W, 3) uint8
    words: list[str]  # generated, <end> excluded
    attention: np.ndarray  # (steps, grid, grid)
    layers: list[GateActivity]  # steps = words (+1 for <end> when it was generated)
    step_labels: list[str]


def explain_caption(model: CaptionModel, vocab: list[str], image: np.ndarray) -> CaptionExplanation:
    """Greedy caption of one uint8 image (H, W, 3), tracing the gates at every word."""
    model = model.eval()
    cfg, dec = model.config, model.decoder
    with torch.no_grad():
        features, keys, h, c = model.encode(torch.from_numpy(np.array(image, np.uint8))[None])
        token = torch.tensor([Vocab.START_ID])
        steps: list[list[GateTrace]] = []
        alphas, ids = [], []
        for _ in range(cfg.max_len):
            emb = dec.embed(token)
            context, alpha = dec.attend(features, keys, h[-1])
            x = torch.cat([emb, context], dim=1)
            steps.append(dec.rnn.trace_gates(x[:, None], (h, c)))
            logprobs, h, c, _ = dec.step(token, h, c, features, keys)
            token = logprobs.argmax(-1)
            alphas.append(alpha[0].numpy())
            ids.append(int(token))
            if ids[-1] == Vocab.END_ID:
                break
    layers = [
        GateActivity(*(np.concatenate([_gate(s[i], g) for s in steps]) for g in GATES))
        for i in range(cfg.num_layers)
    ]
    words = [vocab[i] for i in ids if i != Vocab.END_ID]
    g = cfg.grid or 1
    return CaptionExplanation(
        image, words, np.stack(alphas).reshape(-1, g, g), layers, [vocab[i] for i in ids]
    )


def _gate(trace: GateTrace, name: str) -> np.ndarray:
    gate: Tensor | None = getattr(trace, name)
    assert gate is not None, "explain draws LSTM gates"
    return gate[0].numpy()


def plot_caption(ex: CaptionExplanation, path: str | os.PathLike[str]) -> Path:
    from lstm_apps.runtime.attention_png import attention_overlay

    plt = _pyplot()
    n = len(ex.step_labels)
    fig = plt.figure(figsize=(max(8.0, 1.1 * n + 1.5), 10))
    grid = fig.add_gridspec(4, n + 1, height_ratios=[1.0, 1.2, 1.2, 1.2], hspace=0.35)
    ax = fig.add_subplot(grid[0, 0])
    ax.imshow(ex.image)
    ax.set_title("image", fontsize=9)
    ax.axis("off")
    for k, word in enumerate(ex.step_labels):
        ax = fig.add_subplot(grid[0, k + 1])
        ax.imshow(np.asarray(attention_overlay(ex.image, ex.attention[k])))
        ax.set_title(word, fontsize=9)
        ax.axis("off")
    fig.suptitle(" ".join(ex.words), fontsize=12)
    for row, gate in enumerate(GATES, start=1):
        ax = fig.add_subplot(grid[row, 1:])
        _gate_map(ax, [getattr(layer, gate) for layer in ex.layers], gate, None)
        ax.set_xticks(range(n), ex.step_labels, fontsize=8)
    return _save(fig, path)


# ---------------------------------------------------------------------------------- shared


def _gate_map(ax, layers: list[np.ndarray], gate: str, extent_t: float | None) -> None:  # type: ignore[no-untyped-def]
    """Heat map units x steps of one gate, the layers stacked (layer 1 at the bottom)."""
    stacked = np.concatenate([a.T for a in layers], axis=0)  # (layers * hidden, steps)
    steps = stacked.shape[1]
    extent = (0, extent_t, 0, len(stacked)) if extent_t else (-0.5, steps - 0.5, 0, len(stacked))
    im = ax.imshow(stacked, aspect="auto", origin="lower", cmap="viridis", vmin=0, vmax=1,
                   extent=extent, interpolation="nearest")  # fmt: skip
    for i in range(1, len(layers)):
        ax.axhline(i * layers[0].shape[1], color="white", lw=1)
    mean = ", ".join(f"layer {i + 1} mean {a.mean():.2f}" for i, a in enumerate(layers))
    ax.set_title(f"{gate} gate per unit ({mean})", fontsize=9)
    hidden = layers[0].shape[1]
    ax.set_yticks([(i + 0.5) * hidden for i in range(len(layers))],
                  [f"layer {i + 1}" for i in range(len(layers))], fontsize=8)  # fmt: skip
    ax.set_ylabel(f"{hidden} units each", fontsize=8)
    ax.figure.colorbar(im, ax=ax, pad=0.01, fraction=0.03)


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | os.PathLike[str]) -> Path:  # type: ignore[no-untyped-def]
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return path


def _require_lstm(cell: str, model: object) -> None:
    if cell != "lstm":
        raise ModelFileError(
            f"{model or 'the shipped bundle'}: explain draws the forget, input and output "
            f"gates of an LSTM; this model's cell is a {cell.upper()}"
        )


def load_speech_model(model: str | os.PathLike[str] | None) -> SpeechClassifierNet:
    net = load_checkpoint(resolve_checkpoint("speech", model)).model
    if not isinstance(net, SpeechClassifierNet):
        raise ModelFileError(f"{model} holds a {type(net).__name__}, not a speech model")
    _require_lstm(net.decoder.config.cell, model)
    return net


def load_caption_model(model: str | os.PathLike[str] | None) -> tuple[CaptionModel, list[str]]:
    path = resolve_checkpoint("caption", model)
    ck = load_checkpoint(path)
    if not isinstance(ck.model, CaptionModel):
        raise ModelFileError(f"{path} holds a {type(ck.model).__name__}, not a caption model")
    _require_lstm(ck.model.decoder.rnn.config.cell, path)
    vocab = ck.extra.get("vocab")
    if vocab is None and (path.parent / "vocab.json").is_file():  # a run's best/
        vocab = list(Vocab.load(path.parent / "vocab.json").itos)
    if vocab is None:
        raise ModelFileError(f"{path} has no vocabulary (extra.vocab or ../vocab.json)")
    return ck.model, list(vocab)


@dataclass(frozen=True)
class Explained:
    """What `explain_file` drew: the picture, a one-line summary, the gates per layer."""

    png: Path
    summary: str  # "heard 'yes' (97% at the last frame)" or the caption's words
    layers: list[GateActivity]
    note: str | None = None  # e.g. that only the first 30 s of a recording were drawn


def explain_file(
    what: str,
    path: str | os.PathLike[str],
    *,
    model: str | os.PathLike[str] | None = None,
    png: str | os.PathLike[str] | None = None,
) -> Explained:
    """`lstm-apps explain speech|caption INPUT`: run the model (default: the shipped one) on
    a WAV file or an image, and draw its gates to `png` (default out/explain/...)."""
    out = Path(png or f"out/explain/{what}_{Path(path).stem}.png")
    if what == "speech":
        from lstm_apps.runtime.audio import load_audio

        net = load_speech_model(model)
        rate = net.config.frontend.sample_rate
        audio = load_audio(path, target_rate=rate)
        note = None
        if len(audio) > MAX_EXPLAIN_SECONDS * rate:
            note = f"{path}: drawing its first {MAX_EXPLAIN_SECONDS:.0f} s"
            audio = audio[: int(MAX_EXPLAIN_SECONDS * rate)]
        speech = explain_speech(net, audio)
        k = int(speech.probs[-1].argmax())
        said = f"{speech.labels[k]!r} ({speech.probs[-1, k]:.0%} at the last frame)"
        plot_speech(speech, out, f"{Path(path).name}: heard {said}")
        return Explained(out, f"heard {said}, {len(speech.logmel)} frames", speech.layers, note)
    if what == "caption":
        from lstm_apps.runtime.image import load_image

        caption_model, vocab = load_caption_model(model)
        caption = explain_caption(caption_model, vocab, load_image(path))
        plot_caption(caption, out)
        return Explained(out, " ".join(caption.words), caption.layers)
    raise InputError(f"explain draws 'speech' or 'caption', got {what!r}")
