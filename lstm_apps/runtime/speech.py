"""Speech commands on onnxruntime: `SpeechClassifier` (clips) and `CommandStream` (a stream).

    from lstm_apps import SpeechClassifier
    clf = SpeechClassifier.from_dir("export/speech")
    clf.classify(["yes.wav", samples], sample_rate=16000)  # -> [Prediction(label, score, scores)]
    stream = clf.stream()
    for chunk in mic_chunks:                                # any size, any rate
        for d in stream.accept(chunk, sample_rate=44100):
            print(d.time, d.label, d.score)
    for d in clf.stream().feed(recording, chunk=1600):   # a whole recording, then flush
        print(d.time, d.label, d.score)

The bundle's model.onnx holds the log-mel frontend, so raw audio goes in. Clips up to the
training length (1 s) are centre-padded to it; longer clips are read as 1 s windows every
0.25 s and the window with the strongest command wins. The stream runs stream.onnx chunk
by chunk, carrying the LSTM state and the frontend's overlap context, and turns the
per-frame posteriors into one detection per spoken word (`detect.py`).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from lstm_apps.runtime.audio import check_sample_rate, fit_length, load_audio
from lstm_apps.runtime.detect import Detection, Detector, DetectorConfig, softmax
from lstm_apps.runtime.errors import (
    AudioInputError,
    InputDTypeError,
    InputError,
    ModelFileError,
)
from lstm_apps.runtime.session import OnnxModel, default_bundle

AudioSource = str | os.PathLike[str] | npt.NDArray[Any]
WINDOW_HOP_SECONDS = 0.25  # stride of the 1 s windows read from clips longer than 1 s
BATCH_LIMIT = 64  # windows per onnxruntime call: bounds memory for long inputs


@dataclass(frozen=True)
class Prediction:
    """The label of one clip."""

    label: str  # the most probable class
    score: float  # its probability
    scores: dict[str, float]  # every class -> probability
    windows: int = 1  # 1 s windows read; > 1 for a longer input (the most confident shown)


class SpeechClassifier:
    """Classify clips and spot commands in streams with an exported speech bundle.

    model_path : model.onnx (or model.int8.onnx). stream_path : stream.onnx, optional.
    providers, intra_op_threads, inter_op_threads, session_options : onnxruntime settings.
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        stream_path: str | os.PathLike[str] | None = None,
        *,
        providers: Sequence[str] | None = None,
        intra_op_threads: int | None = None,
        inter_op_threads: int | None = None,
        session_options: Any | None = None,
    ) -> None:
        opts = dict(
            providers=providers, intra_op_threads=intra_op_threads,
            inter_op_threads=inter_op_threads, session_options=session_options,
        )  # fmt: skip
        self.model = OnnxModel(model_path, **opts)  # type: ignore[arg-type]
        self.stream_model = OnnxModel(stream_path, **opts) if stream_path else None  # type: ignore[arg-type]
        self.labels: tuple[str, ...] = tuple(self.model.require_metadata("labels"))
        pre = self.model.require_metadata("preprocessing")
        self.sample_rate: int = int(pre["sample_rate"])
        self.clip_samples: int = int(pre["clip_samples"])
        self.stream_info: dict[str, Any] = self.model.require_metadata("stream")
        self._detector: dict[str, Any] = dict(self.model.metadata.get("detector") or {})

    def detector_config(self, **overrides: Any) -> DetectorConfig:
        """The bundle's detector settings (its `detector` metadata; DetectorConfig's
        defaults for bundles without one), with `overrides` such as threshold=0.8."""
        frame = float(self.stream_info["frame_seconds"])
        return DetectorConfig.from_settings(frame, {**self._detector, **overrides})

    @classmethod
    def from_dir(
        cls, path: str | os.PathLike[str], *, int8: bool = False, **session: Any
    ) -> SpeechClassifier:
        """Load a bundle folder (model.onnx, stream.onnx, ...); int8 picks model.int8.onnx."""
        path = Path(path)
        if not path.is_dir():
            raise ModelFileError(f"speech bundle folder not found: {path}")
        model = path / ("model.int8.onnx" if int8 else "model.onnx")
        stream = path / "stream.onnx"
        return cls(model, stream if stream.is_file() else None, **session)

    @classmethod
    def default(cls, **kwargs: Any) -> SpeechClassifier:
        """The shipped bundle (package data, or export/speech in a source checkout)."""
        return cls.from_dir(default_bundle("speech"), **kwargs)

    def _windows(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        n = self.clip_samples
        if len(x) <= n:
            return fit_length(x, n)[None]
        hop = int(WINDOW_HOP_SECONDS * self.sample_rate)
        starts = list(range(0, len(x) - n + 1, hop))
        if starts[-1] != len(x) - n:
            starts.append(len(x) - n)
        return np.stack([x[s : s + n] for s in starts])

    def probabilities(
        self, inputs: AudioSource | Sequence[AudioSource], sample_rate: int | None = None
    ) -> list[npt.NDArray[np.float32]]:
        """Class probabilities per input: (windows, classes) each, one window per second."""
        items = _as_list(inputs)
        clips = [
            self._windows(
                load_audio(src, sample_rate=sample_rate, target_rate=self.sample_rate,
                           name=_name(src, i))
            )
            for i, src in enumerate(items)
        ]  # fmt: skip
        batch = np.concatenate(clips)
        logits = np.concatenate(
            [
                self.model.run({"waveform": batch[i : i + BATCH_LIMIT]})["logits"]
                for i in range(0, len(batch), BATCH_LIMIT)
            ]
        )
        probs = softmax(logits.astype(np.float32))
        bounds = np.cumsum([0, *[len(c) for c in clips]])
        return [probs[a:b] for a, b in itertools.pairwise(bounds)]

    def classify(
        self, inputs: AudioSource | Sequence[AudioSource], sample_rate: int | None = None
    ) -> list[Prediction]:
        """One Prediction per input (paths, or arrays with `sample_rate`)."""
        silence = self.labels.index("_silence_") if "_silence_" in self.labels else None
        out = []
        for p in self.probabilities(inputs, sample_rate):
            speech = p if silence is None else np.delete(p, silence, axis=1)
            row = p[int(speech.max(axis=1).argmax())]
            k = int(row.argmax())
            scores = {label: float(v) for label, v in zip(self.labels, row, strict=True)}
            out.append(Prediction(self.labels[k], float(row[k]), scores, windows=len(p)))
        return out

    def stream(self, config: DetectorConfig | None = None) -> CommandStream:
        """A new stream with its own state; `config` tunes detection (default: the bundle's
        settings, see `detector_config`)."""
        if self.stream_model is None:
            raise ModelFileError(f"{self.model.path.parent} has no stream.onnx")
        return CommandStream(self, config)


class CommandStream:
    """Feed audio in chunks of any size; get a Detection for each spoken command."""

    def __init__(self, clf: SpeechClassifier, config: DetectorConfig | None = None) -> None:
        assert clf.stream_model is not None
        self._model = clf.stream_model
        info = clf.stream_info
        self.sample_rate = clf.sample_rate
        self.hop: int = int(info["hop"])
        self._context_len = int(info["context"])
        self._state_shape = (int(info["num_layers"]), 1, int(info["hidden_size"]))
        cfg = config or clf.detector_config()
        self.detector = Detector(clf.labels, cfg)
        self._resampler: Any = None
        self._rate: int | None = None
        self.reset()

    def reset(self) -> None:
        """Start over: zero state and context, time 0."""
        self._h = np.zeros(self._state_shape, np.float32)
        self._c = np.zeros(self._state_shape, np.float32)
        self._ctx = np.zeros((1, self._context_len), np.float32)
        self._pending = np.zeros(0, np.float32)
        self.detector.reset()
        self._resampler, self._rate = None, None

    @property
    def seconds(self) -> float:
        """Audio consumed so far, in seconds."""
        return self.detector.frames_seen * self.hop / self.sample_rate

    def accept(self, chunk: npt.NDArray[Any], sample_rate: int | None = None) -> list[Detection]:
        """chunk : (samples,) or (samples, channels) audio at `sample_rate` (default: the
        model's, 16 kHz). Returns the detections the chunk completed."""
        if not isinstance(chunk, np.ndarray):
            raise InputDTypeError(f"stream chunk must be a numpy array, got {type(chunk).__name__}")
        rate = (
            self.sample_rate
            if sample_rate is None
            else check_sample_rate(sample_rate, "sample_rate")
        )
        if self._rate is not None and rate != self._rate:
            raise AudioInputError(f"stream chunk at {rate} Hz after chunks at {self._rate} Hz")
        self._rate = rate
        if chunk.size == 0:
            return []
        x = load_audio(chunk, sample_rate=rate, target_rate=rate, name="stream chunk")
        if rate != self.sample_rate:
            import soxr

            if self._resampler is None:
                self._resampler = soxr.ResampleStream(rate, self.sample_rate, 1, dtype="float32")
            x = self._resampler.resample_chunk(x)
        return self._run(np.concatenate([self._pending, x]) if len(self._pending) else x)

    def feed(
        self, audio: npt.NDArray[Any], chunk: int, sample_rate: int | None = None
    ) -> Iterator[Detection]:
        """A whole recording as `chunk`-sample pieces through `accept`, then `flush`: each
        detection as soon as its piece completes it (live audio calls `accept` itself)."""
        if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
            raise InputError(f"CommandStream.feed: chunk must be a positive int, got {chunk!r}")
        for i in range(0, len(audio), chunk):
            yield from self.accept(audio[i : i + chunk], sample_rate)
        yield from self.flush()

    def flush(self) -> list[Detection]:
        """End of stream: run what is buffered, close a word still in progress, reset."""
        x = self._pending
        if self._resampler is not None:
            x = np.concatenate(
                [x, self._resampler.resample_chunk(np.zeros(0, np.float32), last=True)]
            )
        pad = (-len(x)) % self.hop
        out = self._run(np.concatenate([x, np.zeros(pad, np.float32)])) if len(x) else []
        out += self.detector.flush()
        self.reset()  # the stream has ended: the next accept() starts a new one at time 0
        return out

    def _run(self, x: npt.NDArray[np.float32]) -> list[Detection]:
        n = len(x) - len(x) % self.hop
        self._pending = x[n:]
        if n == 0:
            return []
        # Every feed was checked on the way in (load_audio) or came out of the model, so
        # this call, the softmax and the detector skip their input checks: together they
        # cost about 25 us a chunk, 15% of the whole at 100 ms chunks (BENCHMARKS.md).
        o = self._model.run(
            {"chunk": x[None, :n], "context": self._ctx, "h": self._h, "c": self._c},
            check=False,
        )
        self._h, self._c, self._ctx = o["h_out"], o["c_out"], o["context_out"]
        z = o["logits"][0]  # (frames, classes), finite: the audio was
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return self.detector.push_trusted(e / e.sum(axis=1, keepdims=True))


def _as_list(inputs: AudioSource | Sequence[AudioSource]) -> list[AudioSource]:
    if isinstance(inputs, (str, os.PathLike, np.ndarray)):
        return [inputs]
    items = list(inputs)
    if not items:
        raise AudioInputError("no audio given: pass a path, an array, or a list of them")
    return items


def _name(src: AudioSource, i: int) -> str:
    return os.fspath(src) if isinstance(src, (str, os.PathLike)) else f"array #{i}"
