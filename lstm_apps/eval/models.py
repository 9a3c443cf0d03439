"""The model an evaluation reads: an exported bundle (onnxruntime, no torch) or a training
run (torch), behind one small interface.

    m = load_eval_model("export/speech")            # or "runs/speech" (its best/ checkpoint)
    p = m.probabilities(clips)                      # clips (N, S) float32 -> (N, C)
    q = m.frame_posteriors(recording, chunk=1600)   # (S,) -> (frames, C), as a stream sees it

A bundle runs the public runtime (`SpeechClassifier.probabilities`, `CommandStream`), so the
evaluation measures exactly what an app gets. A run folder runs its `best/` checkpoint in
torch, through `SpeechStream`: the same graph as stream.onnx, so both give the same frames.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from lstm_apps.runtime.detect import Detection, Detector, DetectorConfig, softmax
from lstm_apps.runtime.errors import ConfigError, InputError

ModelKind = Literal["bundle", "run"]
TORCH_BLOCK_FRAMES = 500  # frames per torch call over a recording (10 s): bounds memory
DETECTOR_JSON = "detector.json"  # a run's tuned detector settings (`lstm-apps eval detector`)


def read_detector(run: str | os.PathLike[str]) -> dict[str, Any] | None:
    """RUN/detector.json's settings (DetectorConfig.settings() form), or None."""
    path = Path(run) / DETECTOR_JSON
    if not path.is_file():
        return None
    settings = json.loads(path.read_text(encoding="utf-8"))["settings"]
    return dict(settings)


class EvalModel(Protocol):
    """What the evaluations need from a model; `load_eval_model` returns one."""

    kind: ModelKind
    path: Path  # the folder given
    labels: tuple[str, ...]  # class names, in output order
    sample_rate: int  # Hz of the audio going in
    clip_samples: int  # training clip length, samples
    hop: int  # samples per posterior frame

    def detector_config(self) -> DetectorConfig:
        """The detector settings streams are scored with (the bundle's own)."""
        ...

    def probabilities(self, clips: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """clips (N, clip_samples) float32 -> class probabilities (N, C) float32."""
        ...

    def frame_posteriors(
        self, audio: npt.NDArray[np.float32], chunk: int
    ) -> npt.NDArray[np.float32]:
        """audio (S,) float32 -> per-frame softmax (ceil(S / hop), C) float32, streamed in
        `chunk`-sample pieces from zero state (a run computes the same in bigger blocks)."""
        ...


def load_eval_model(
    path: str | os.PathLike[str], *, threads: int = 1, device: str = "auto",
    precision: str = "fp32",
) -> EvalModel:  # fmt: skip
    """A bundle folder (model.onnx + config.json) or a run folder (best/ checkpoint; a
    checkpoint folder itself works too). Anything else is an InputError naming `path`.

    threads : onnxruntime intra-op threads, or torch threads (set process-wide) for a run.
    device, precision : where and at what autocast precision a run computes (a bundle
    runs in onnxruntime on the CPU: anything but auto / fp32 is a ConfigError for it).
    """
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise InputError(f"threads must be a positive int, got {threads!r}")
    p = Path(path)
    if not p.exists():
        raise InputError(f"model {p} does not exist (expected a bundle or a run folder)")
    if (p / "model.onnx").is_file() and (p / "config.json").is_file():
        if device not in ("auto", "cpu") or precision != "fp32":
            raise ConfigError(
                f"model {p} is a bundle: onnxruntime runs it on the CPU in its own precision; "
                "--device and --precision apply to a training run"
            )
        return _BundleModel(p, threads)
    for ckpt in (p / "best", p):
        if (ckpt / "model.safetensors").is_file() and (ckpt / "config.json").is_file():
            return _RunModel(p, ckpt, threads, device, precision)
    raise InputError(
        f"model {p} is neither a speech bundle (model.onnx + config.json) nor a training "
        "run (best/model.safetensors + best/config.json)"
    )


class _Tap(Detector):
    """A Detector that also keeps every posterior frame a CommandStream pushes into it."""

    def __init__(self, labels: tuple[str, ...], config: DetectorConfig) -> None:
        super().__init__(labels, config)
        self.frames: list[npt.NDArray[np.float32]] = []

    def push_trusted(self, x: npt.NDArray[np.float32]) -> list[Detection]:
        self.frames.append(x.copy())
        return super().push_trusted(x)


class _BundleModel:
    kind: ModelKind = "bundle"

    def __init__(self, path: Path, threads: int) -> None:
        from lstm_apps.runtime.speech import SpeechClassifier

        self.path = path
        self.clf = SpeechClassifier.from_dir(path, intra_op_threads=threads, inter_op_threads=1)
        self.labels = self.clf.labels
        self.sample_rate = self.clf.sample_rate
        self.clip_samples = self.clf.clip_samples
        self.hop = self.clf.bundle.stream.hop

    def detector_config(self) -> DetectorConfig:
        return self.clf.detector_config()

    def probabilities(self, clips: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        # One window per clip: clips are clip_samples long, so row 0 is the whole answer.
        probs = self.clf.probabilities(list(clips), sample_rate=self.sample_rate)
        return np.stack([p[0] for p in probs]).astype(np.float32, copy=False)

    def frame_posteriors(
        self, audio: npt.NDArray[np.float32], chunk: int
    ) -> npt.NDArray[np.float32]:
        # CommandStream has no public per-frame output; it hands every frame's softmax to
        # its (public) detector, so a recording detector in its place sees exactly what a
        # live stream computes: same chunking, buffering and end-of-stream padding.
        stream = self.clf.stream()
        tap = _Tap(self.labels, stream.detector.config)
        stream.detector = tap
        for _ in stream.feed(audio, chunk, self.sample_rate):
            pass
        if not tap.frames:
            return np.zeros((0, len(self.labels)), np.float32)
        return np.concatenate(tap.frames)


class _RunModel:
    kind: ModelKind = "run"

    def __init__(
        self, path: Path, checkpoint: Path, threads: int, device: str, precision: str
    ) -> None:
        import torch

        from lstm_apps.nn.speech import SpeechClassifierNet
        from lstm_apps.train.checkpoint import load_checkpoint
        from lstm_apps.train.engine import check_precision, resolve_device

        torch.set_num_threads(threads)
        self.device, self.precision = resolve_device(device), precision
        check_precision(self.device, precision)
        net = load_checkpoint(checkpoint).model
        if not isinstance(net, SpeechClassifierNet):
            raise InputError(f"model {path}: {checkpoint} holds a {type(net).__name__}, not speech")
        from lstm_apps.eval.prior import apply_unknown_offset, read_unknown_offset

        self.unknown_offset = read_unknown_offset(path)  # RUN/prior.json: as export applies it
        apply_unknown_offset(net, self.unknown_offset)
        self.path, self.net = path, net.eval().to(self.device)
        cfg = net.config
        self.labels = tuple(cfg.labels)
        self.sample_rate = cfg.frontend.sample_rate
        self.clip_samples = cfg.clip_samples
        self.hop = cfg.frontend.hop

    def detector_config(self) -> DetectorConfig:
        """RUN/detector.json's settings if `lstm-apps eval detector` chose them, else the
        defaults: what `export speech` puts in the bundle."""
        settings = read_detector(self.path) or {}
        return DetectorConfig.from_settings(self.hop / self.sample_rate, settings)

    def probabilities(self, clips: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        import torch

        from lstm_apps.train.engine import autocast

        x = torch.from_numpy(np.ascontiguousarray(clips, np.float32)).to(self.device)
        with torch.no_grad(), autocast(self.device, self.precision):
            logits = self.net(x).float().cpu()
        return softmax(logits.numpy().astype(np.float32, copy=False))

    def frame_posteriors(
        self, audio: npt.NDArray[np.float32], chunk: int
    ) -> npt.NDArray[np.float32]:
        import torch

        from lstm_apps.nn.speech import SpeechStream

        # The model is causal, so the frames do not depend on the chunking: run big blocks.
        # Zero-pad to whole frames, as CommandStream.flush does.
        x = np.concatenate([audio, np.zeros((-len(audio)) % self.hop, np.float32)])
        step, cfg = SpeechStream(self.net).eval(), self.net.config
        shape, dev = (cfg.num_layers, 1, cfg.hidden_size), self.device
        h, c = torch.zeros(shape, device=dev), torch.zeros(shape, device=dev)
        ctx = torch.zeros(1, cfg.frontend.state_size, device=dev)
        block = TORCH_BLOCK_FRAMES * self.hop
        out: list[Any] = []
        with torch.no_grad():  # fp32: the state carried from block to block stays exact
            for i in range(0, len(x), block):
                piece = torch.from_numpy(np.ascontiguousarray(x[None, i : i + block]))
                logits, h, c, ctx = step(piece.to(dev), ctx, h, c)
                out.append(logits[0].cpu().numpy())
        if not out:
            return np.zeros((0, len(self.labels)), np.float32)
        return softmax(np.concatenate(out).astype(np.float32, copy=False))
