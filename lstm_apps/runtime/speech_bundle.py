"""What a speech bundle is, read and written in one place: `SpeechBundle` and `StreamSpec`.

The exporter builds a SpeechBundle from the trained model and writes `to_metadata()` into
every ONNX file's metadata_props and into config.json; the runtime reads it back with
`from_metadata()`, which checks every key once and names the file and key of anything
missing or malformed. Nothing else reads bundle metadata. export/README.md documents the
same keys for ports to other runtimes.

    metadata key          meaning
    format_version        1 or 2 (2: the detector gained release/hold/max_bump settings)
    labels                the classes, in logit order
    preprocessing         sample_rate, clip_samples (and fixed facts: mono float32 in [-1, 1])
    stream                hop, context, frame_seconds, num_layers, hidden_size, chunk_multiple
    detector              DetectorConfig.settings() (format 1 bundles may lack it)
    config                the model's SpeechConfig as a dict (for tools; the runtime ignores it)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lstm_apps.runtime.detect import DetectorConfig
from lstm_apps.runtime.errors import InputError, ModelFileError
from lstm_apps.runtime.spec import MetadataReader

_IO = dict[str, tuple[type[np.generic], tuple[int | None, ...]]]  # name -> dtype, shape
FORMAT_VERSION = 2  # 2: detector gained release_threshold, hold_seconds, max_bump_seconds
READABLE_VERSIONS = (1, 2)


@dataclass(frozen=True)
class StreamSpec:
    """How stream.onnx is driven: chunk (B, k * hop) with context (B, context) and the LSTM
    state h, c (num_layers, B, hidden_size) in; logits (B, k, classes) and the next state out."""

    hop: int  # samples per output frame; a chunk is a whole number of hops
    context: int  # frontend state carried between chunks: n_fft - hop samples (+ n_mels, PCEN)
    num_layers: int
    hidden_size: int
    sample_rate: int

    @property
    def frame_seconds(self) -> float:
        return self.hop / self.sample_rate

    def to_metadata(self) -> dict[str, Any]:
        return {
            "hop": self.hop,
            "context": self.context,
            "frame_seconds": self.frame_seconds,
            "num_layers": self.num_layers,
            "hidden_size": self.hidden_size,
            "chunk_multiple": self.hop,
        }


@dataclass(frozen=True)
class SpeechBundle:
    """Everything the runtime needs to know about a speech bundle."""

    labels: tuple[str, ...]  # classes in logit order, e.g. ("_silence_", "_unknown_", "yes", ...)
    sample_rate: int  # Hz of the waveform the graphs take
    clip_samples: int  # the training clip length: shorter clips are centre-padded to it
    stream: StreamSpec
    detector: DetectorConfig  # how stream posteriors become detections
    config: dict[str, Any] = field(default_factory=dict, compare=False)  # the model's config
    format_version: int = FORMAT_VERSION

    @property
    def frontend_kind(self) -> str:
        """What the graph's frontend computes, from `config`: PCEN mel or log-mel."""
        frontend = self.config.get("frontend", {})
        pcen = isinstance(frontend, dict) and frontend.get("norm") == "pcen"
        return "PCEN mel" if pcen else "log-mel"

    @property
    def silence_index(self) -> int | None:
        return self.labels.index("_silence_") if "_silence_" in self.labels else None

    def offline_io(self) -> tuple[_IO, _IO]:
        """model.onnx's inputs and outputs: waveform (batch, samples) -> logits (batch, C)."""
        f = np.float32
        return {"waveform": (f, (None, None))}, {"logits": (f, (None, len(self.labels)))}

    def stream_io(self) -> tuple[_IO, _IO]:
        """stream.onnx's: chunk, context, h, c -> logits (batch, frames, C), the next state."""
        f, s = np.float32, self.stream
        state = (f, (s.num_layers, None, s.hidden_size))
        context = (f, (None, s.context))
        return (
            {"chunk": (f, (None, None)), "context": context, "h": state, "c": state},
            {"logits": (f, (None, None, len(self.labels))), "h_out": state, "c_out": state,
             "context_out": context},
        )  # fmt: skip

    def to_metadata(self) -> dict[str, Any]:
        """The metadata every file of the bundle carries (and config.json holds)."""
        return {
            "format_version": self.format_version,
            "config": self.config,
            "labels": list(self.labels),
            "preprocessing": {
                "sample_rate": self.sample_rate,
                "channels": 1,
                "dtype": "float32",
                "range": [-1.0, 1.0],
                "clip_samples": self.clip_samples,
                "frontend": f"{self.frontend_kind} inside the graph",
            },
            "stream": self.stream.to_metadata(),
            "detector": self.detector.settings(),
        }

    @classmethod
    def from_metadata(cls, meta: Mapping[str, Any], where: str) -> SpeechBundle:
        """Check and read a bundle file's metadata; ModelFileError names `where` and the key."""
        top = MetadataReader(meta, where)
        version = top.integer("format_version", min=1) if top.has("format_version") else 1
        if version not in READABLE_VERSIONS:
            raise ModelFileError(
                f"{where}: speech bundle format_version {version}; this lstm-apps reads "
                f"{list(READABLE_VERSIONS)}: upgrade lstm-apps or re-export the bundle"
            )
        labels = top.texts("labels", min_len=2, unique=True)
        pre = top.section("preprocessing")
        rate = pre.integer("sample_rate", min=1)
        s = top.section("stream")
        stream = StreamSpec(
            hop=s.integer("hop", min=1),
            context=s.integer("context", min=0),
            num_layers=s.integer("num_layers", min=1),
            hidden_size=s.integer("hidden_size", min=1),
            sample_rate=rate,
        )
        if s.has("frame_seconds") and not math.isclose(
            s.number("frame_seconds"), stream.frame_seconds, rel_tol=1e-9
        ):
            raise s.fail(
                "frame_seconds",
                f"hop / sample_rate = {stream.frame_seconds}",
                s.value("frame_seconds"),
            )
        settings = top.section("detector").meta if top.has("detector") else {}
        try:
            detector = DetectorConfig.from_settings(stream.frame_seconds, dict(settings))
        except (InputError, TypeError) as e:
            raise ModelFileError(f"{where}: metadata 'detector' is not usable: {e}") from e
        config = top.section("config").meta if top.has("config") else {}
        return cls(
            labels=labels,
            sample_rate=rate,
            clip_samples=pre.integer("clip_samples", min=stream.hop),
            stream=stream,
            detector=detector,
            config=dict(config),
            format_version=version,
        )
