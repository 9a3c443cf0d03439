"""Spotting commands in a stream: `StreamModel` (one stream.onnx step) and `CommandStream`.

    stream = SpeechClassifier.from_dir("export/speech").stream()
    for chunk in mic_chunks:                                # any size, any rate
        for d in stream.accept(chunk, sample_rate=44100):
            print(d.time, d.label, d.score)

StreamModel is the one implementation of the stream.onnx loop: it holds the graph and its
`StreamSpec`, makes the zero state and runs one chunk, carrying (h, c, context). The
exporter's parity check, the evaluation tools and CommandStream all call it. CommandStream
adds what a live stream needs around it: resampling, buffering to whole hops, softmax and
the detector (`detect.py`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from lstm_apps.runtime.audio import (
    MAX_AUDIO_SECONDS,
    check_sample_rate,
    load_audio,
    samples_first,
)
from lstm_apps.runtime.detect import Detection, Detector, DetectorConfig, softmax_trusted
from lstm_apps.runtime.errors import AudioInputError, InputDTypeError, InputError
from lstm_apps.runtime.session import OnnxModel
from lstm_apps.runtime.speech_bundle import StreamSpec

# The stream clips the cell state to +-CELL_LIMIT after every chunk. A few cells of the
# speech model integrate over the whole stream (|c| grows about 50 per second, 89,000 after
# 30 minutes); they reach only h = o * tanh(c), and tanh(c) is exactly 1 in float32 beyond
# |c| ~ 9, so while a cell stays saturated the clip changes no output (measured: the same
# 225 detections over 9 minutes of the sample stream with limits 30 and 100; 10 changed
# them). A clipped cell that the input drives back leaves saturation sooner than one at
# 89,000 would: after a long stream that is a (deliberate) change, not a rounding. The
# state stays bounded for any length of stream. export/README.md tells ports the same.
CELL_LIMIT = 100.0


@dataclass(frozen=True)
class StreamState:
    """What carries from one chunk to the next: h, c (layers, B, hidden) and the frontend's
    last `context` samples (B, context), all float32."""

    h: npt.NDArray[np.float32]
    c: npt.NDArray[np.float32]
    context: npt.NDArray[np.float32]


class StreamModel:
    """stream.onnx with its StreamSpec: one chunk in, per-frame logits and the next state out."""

    def __init__(self, model: OnnxModel, spec: StreamSpec) -> None:
        self.model, self.spec = model, spec

    def initial_state(self, batch: int = 1) -> StreamState:
        """The state at the start of a stream: zeros (silence before the first sample)."""
        shape = (self.spec.num_layers, batch, self.spec.hidden_size)
        zeros = np.zeros(shape, np.float32)
        return StreamState(zeros, zeros.copy(), np.zeros((batch, self.spec.context), np.float32))

    def run(
        self, chunk: npt.NDArray[np.float32], state: StreamState, *, check: bool = True
    ) -> tuple[npt.NDArray[np.float32], StreamState]:
        """chunk (B, k * hop) float32 -> logits (B, k, classes), the next state. check=False
        skips the feed checks for chunks the caller has already checked."""
        o = self.model.run(
            {"chunk": chunk, "context": state.context, "h": state.h, "c": state.c}, check=check
        )
        return o["logits"], StreamState(o["h_out"], o["c_out"], o["context_out"])

    def advance(
        self, chunk: npt.NDArray[np.float32], state: StreamState, *, check: bool = False
    ) -> tuple[npt.NDArray[np.float32], StreamState]:
        """`run`, then the cell clip a live stream applies after every call (CELL_LIMIT):
        the step CommandStream, StreamBatch and the golden vectors all take."""
        z, new = self.run(chunk, state, check=check)
        c = new.c  # np.clip without its Python wrapper (5 us of a 200 us chunk): same values
        np.minimum(np.maximum(c, -CELL_LIMIT, out=c), CELL_LIMIT, out=c)
        return z, new

    def logits(self, audio: npt.NDArray[np.float32], chunk: int) -> npt.NDArray[np.float32]:
        """audio (samples,), a whole number of hops, run in `chunk`-sample pieces from the
        zero state -> per-frame logits (frames, classes)."""
        state, out = self.initial_state(), []
        chunk = int(chunk)
        for i in range(0, len(audio), chunk):
            z, state = self.run(audio[None, i : i + chunk], state)
            out.append(z[0])
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def _plain(chunk: npt.NDArray[Any], rate: int) -> npt.NDArray[np.float32] | None:
    """A copy of a float32 (samples,) chunk already in [-1, 1] and within the length limit,
    which `load_audio` would return unchanged; None for anything else (NaN and inf fail the
    comparisons), which goes through `load_audio`. A live stream's usual chunk costs two
    passes and a copy instead of its general checks (benchmarks/notes.md: streams per core)."""
    if chunk.dtype != np.float32 or chunk.ndim != 1 or len(chunk) > MAX_AUDIO_SECONDS * rate:
        return None
    if not (chunk.min() >= -1.0 and chunk.max() <= 1.0):
        return None
    return chunk.copy()


class AudioFeed:
    """One stream's audio on its way to the model: rate checks, resampling to the model's
    rate and buffering to whole hops. CommandStream and StreamBatch use it for every stream,
    so a stream cuts its audio into the same model calls in either."""

    def __init__(self, sample_rate: int, hop: int) -> None:
        self.sample_rate, self.hop = sample_rate, hop
        self.reset()

    def reset(self) -> None:
        self.pending = np.zeros(0, np.float32)
        self._resampler: Any = None
        self.rate: int | None = None

    def push(self, chunk: npt.NDArray[Any], sample_rate: int | None) -> npt.NDArray[np.float32]:
        """chunk : (samples,) or (samples, channels) at `sample_rate` (None: the model's).
        Returns the whole hops now ready at the model's rate (maybe 0 samples); the rest
        stays pending."""
        if not isinstance(chunk, np.ndarray):
            raise InputDTypeError(f"stream chunk must be a numpy array, got {type(chunk).__name__}")
        if sample_rate is None:
            rate = self.sample_rate
        elif type(sample_rate) is int and sample_rate == self.rate:
            rate = sample_rate  # checked when the stream's first chunk fixed it
        else:
            rate = check_sample_rate(sample_rate, "sample_rate")
        if self.rate is not None and rate != self.rate:
            raise AudioInputError(f"stream chunk at {rate} Hz after chunks at {self.rate} Hz")
        if chunk.size == 0:
            return self.pending[:0]
        x = _plain(chunk, rate)
        if x is None:  # anything but plain float32 mono in [-1, 1]: checked and converted
            x = load_audio(chunk, sample_rate=rate, target_rate=rate, name="stream chunk")
        self.rate = rate  # only a chunk that was accepted fixes the stream's rate
        if rate != self.sample_rate:
            import soxr

            if self._resampler is None:
                self._resampler = soxr.ResampleStream(rate, self.sample_rate, 1, dtype="float32")
            x = self._resampler.resample_chunk(x)
        return self._ready(np.concatenate([self.pending, x]) if len(self.pending) else x)

    def end(self) -> npt.NDArray[np.float32]:
        """End of stream: the resampler's tail and what is pending, zero-padded to whole hops."""
        x = self.pending
        if self._resampler is not None:
            x = np.concatenate(
                [x, self._resampler.resample_chunk(np.zeros(0, np.float32), last=True)]
            )
        pad = (-len(x)) % self.hop
        self.reset()
        return np.concatenate([x, np.zeros(pad, np.float32)]) if len(x) else x

    def _ready(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        n = len(x) - len(x) % self.hop
        self.pending = x[n:]
        return x[:n]


class CommandStream:
    """Feed audio in chunks of any size; get a Detection for each spoken command."""

    def __init__(self, model: StreamModel, labels: tuple[str, ...], config: DetectorConfig) -> None:
        self._model = model
        self.sample_rate = model.spec.sample_rate
        self.hop: int = model.spec.hop
        self.detector = Detector(labels, config)
        self._feed = AudioFeed(self.sample_rate, self.hop)
        self.reset()

    def reset(self) -> None:
        """Start over: zero state and context, time 0."""
        self._state = self._model.initial_state()
        self._feed.reset()
        self.detector.reset()

    @property
    def seconds(self) -> float:
        """Audio consumed so far, in seconds."""
        return self.detector.frames_seen * self.hop / self.sample_rate

    def accept(self, chunk: npt.NDArray[Any], sample_rate: int | None = None) -> list[Detection]:
        """chunk : (samples,) or (samples, channels) audio at `sample_rate` (default: the
        model's, 16 kHz). Returns the detections the chunk completed."""
        pending = self._feed.pending
        x = self._feed.push(chunk, sample_rate)
        try:
            return self._run(x)
        except BaseException:
            self._feed.pending = pending  # a chunk that did not run is not consumed
            raise

    def feed(
        self, audio: npt.NDArray[Any], chunk: int, sample_rate: int | None = None
    ) -> Iterator[Detection]:
        """A whole recording as `chunk`-sample pieces through `accept`, then `flush`: each
        detection as soon as its piece completes it (live audio calls `accept` itself)."""
        if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
            raise InputError(f"CommandStream.feed: chunk must be a positive int, got {chunk!r}")
        if not isinstance(audio, np.ndarray):
            raise InputDTypeError(
                f"CommandStream.feed: audio must be a numpy array, got {type(audio).__name__}"
            )
        if audio.ndim != 1:  # (channels, samples) must be cut along time, not channels
            audio = samples_first(audio, "CommandStream.feed: audio")
        chunk = int(chunk)
        for i in range(0, len(audio), chunk):
            yield from self.accept(audio[i : i + chunk], sample_rate)
        yield from self.flush()

    def flush(self) -> list[Detection]:
        """End of stream: run what is buffered, close a word still in progress, reset."""
        x = self._feed.end()
        out = self._run(x)
        out += self.detector.flush()
        self.reset()  # the stream has ended: the next accept() starts a new one at time 0
        return out

    def _run(self, x: npt.NDArray[np.float32]) -> list[Detection]:
        if len(x) == 0:
            return []
        # Every feed was checked on the way in (load_audio) or came out of the model, so
        # this call, the softmax and the detector skip their input checks: together they
        # cost about 25 us a chunk, 15% of the whole at 100 ms chunks (BENCHMARKS.md).
        z, self._state = self._model.advance(x[None], self._state)  # only once it has run
        return self.detector.push_trusted(softmax_trusted(z[0]))  # finite: the audio was
