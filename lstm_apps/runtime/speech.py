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
0.25 s and the window with the strongest command wins. The stream (`speech_stream.py`)
runs stream.onnx chunk by chunk, carrying the LSTM state and the frontend's overlap
context, and turns the per-frame posteriors into one detection per spoken word
(`detect.py`). Every setting comes from the bundle's metadata, read once into a
`SpeechBundle` (`speech_bundle.py`).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from lstm_apps.runtime.audio import fit_length, load_audio
from lstm_apps.runtime.detect import DetectorConfig, softmax
from lstm_apps.runtime.errors import AudioInputError, InputDTypeError, ModelFileError
from lstm_apps.runtime.manifest import (
    check_agrees,
    check_json_file,
    read_config,
    require_listed,
    verify_files,
)
from lstm_apps.runtime.session import OnnxModel, default_bundle
from lstm_apps.runtime.speech_bundle import SpeechBundle
from lstm_apps.runtime.speech_stream import CommandStream, StreamModel
from lstm_apps.runtime.stream_batch import MAX_BATCH, StreamBatch

__all__ = [
    "AudioSource", "CommandStream", "Prediction", "SpeechClassifier", "StreamBatch",
    "StreamModel",
]  # fmt: skip

AudioSource = str | os.PathLike[str] | npt.NDArray[Any]
WINDOW_HOP_SECONDS = 0.25  # stride of the 1 s windows read from clips longer than 1 s
BATCH_LIMIT = 64  # windows per onnxruntime call: bounds memory for long inputs
# A dynamically quantised graph (model.int8.onnx) picks its int8 scales from the whole input
# tensor, so in a batch one window's result would depend on the others (by up to 0.016 in
# probability on the sample clips). It runs one window per call: a clip's result is then
# its own, whatever else the call holds. fp32 gives identical rows either way (tested).
QUANTIZED_BATCH = 1


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
        self.bundle = SpeechBundle.from_metadata(self.model.metadata, str(self.model.path))
        self.model.expect("speech_offline", *self.bundle.offline_io())
        self.stream_model: StreamModel | None = None
        if stream_path is not None:
            graph = OnnxModel(stream_path, **opts)  # type: ignore[arg-type]
            spec = SpeechBundle.from_metadata(graph.metadata, str(graph.path))
            if spec != self.bundle:
                raise ModelFileError(
                    f"{graph.path} and {self.model.path} are not from one export: their "
                    "labels, preprocessing, stream or detector metadata differ"
                )
            graph.expect("speech_stream", *spec.stream_io())
            self.stream_model = StreamModel(graph, spec.stream)
        self.labels: tuple[str, ...] = self.bundle.labels
        # The exporter writes `quantization` into model.int8.onnx only (export/README.md).
        self.quantized: bool = "quantization" in self.model.metadata
        self._per_call = QUANTIZED_BATCH if self.quantized else BATCH_LIMIT
        self.sample_rate: int = self.bundle.sample_rate
        self.clip_samples: int = self.bundle.clip_samples

    def detector_config(self, **overrides: Any) -> DetectorConfig:
        """The bundle's detector settings (its `detector` metadata; DetectorConfig's
        defaults for bundles without one), with `overrides` such as threshold=0.8."""
        frame = self.bundle.stream.frame_seconds
        return DetectorConfig.from_settings(frame, {**self.bundle.detector.settings(), **overrides})

    @classmethod
    def from_dir(
        cls,
        path: str | os.PathLike[str],
        *,
        int8: bool = False,
        verify: bool = True,
        **session: Any,
    ) -> SpeechClassifier:
        """Load a bundle folder (model.onnx, stream.onnx, ...); int8 picks model.int8.onnx.

        config.json, labels.json and the graphs' metadata must agree; verify also checks
        every file against the sha256 config.json lists (a few ms per MB)."""  # fmt: skip
        path = Path(path)
        if not path.is_dir():
            raise ModelFileError(f"speech bundle folder not found: {path}")
        config = read_config(path)
        if verify:
            verify_files(path, config)
        model = path / ("model.int8.onnx" if int8 else "model.onnx")
        stream = path / "stream.onnx"
        require_listed(path, config, [model.name, *([stream.name] if stream.is_file() else [])])
        clf = cls(model, stream if stream.is_file() else None, **session)
        check_agrees(path, config, clf.model.metadata)
        check_json_file(path, "labels.json", list(clf.labels))
        return clf

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
        """Class probabilities per input: (windows, classes) each, one 1 s window every
        0.25 s (one window for inputs up to 1 s). Each window's row depends on that window
        alone: int8 bundles run one window per onnxruntime call (QUANTIZED_BATCH)."""
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
                self.model.run({"waveform": batch[i : i + self._per_call]})["logits"]
                for i in range(0, len(batch), self._per_call)
            ]
        )
        probs = softmax(logits.astype(np.float32))
        bounds = np.cumsum([0, *[len(c) for c in clips]])
        return [probs[a:b] for a, b in itertools.pairwise(bounds)]

    def classify(
        self, inputs: AudioSource | Sequence[AudioSource], sample_rate: int | None = None
    ) -> list[Prediction]:
        """One Prediction per input (paths, or arrays with `sample_rate`)."""
        silence = self.bundle.silence_index
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
        return CommandStream(self.stream_model, self.labels, config or self.detector_config())

    def stream_batch(
        self, config: DetectorConfig | None = None, *, max_batch: int = MAX_BATCH
    ) -> StreamBatch:
        """Many streams on this one session, advanced together by `StreamBatch.step` (a
        server's microphones); `config` is every stream's default detector (the bundle's if
        None; `open(config=...)` sets one stream's); max_batch: streams per model call."""
        if self.stream_model is None:
            raise ModelFileError(f"{self.model.path.parent} has no stream.onnx")
        cfg = config or self.detector_config()
        return StreamBatch(self.stream_model, self.labels, cfg, max_batch=max_batch)


def _as_list(inputs: AudioSource | Sequence[AudioSource]) -> list[AudioSource]:
    if isinstance(inputs, (str, os.PathLike, np.ndarray)):
        return [inputs]
    if not isinstance(inputs, Sequence):
        raise InputDTypeError(
            f"audio must be a path, a numpy array, or a list of them, got {type(inputs).__name__}"
        )
    items = list(inputs)
    if not items:
        raise AudioInputError("no audio given: pass a path, an array, or a list of them")
    return items


def _name(src: AudioSource, i: int) -> str:
    return os.fspath(src) if isinstance(src, (str, os.PathLike)) else f"array #{i}"
