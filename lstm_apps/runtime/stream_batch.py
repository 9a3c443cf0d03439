"""Many command streams on one stream.onnx session: `StreamBatch`.

    batch = SpeechClassifier.from_dir("export/speech").stream_batch()
    a = batch.open()                        # a stream: its own state, rate and detector
    b = batch.open("mic-2")                 # or a key of your own
    batch.accept(a, chunk_a)                # audio as it arrives, any sizes, any order
    batch.accept(b, chunk_b, sample_rate=8000)    # each stream keeps its first rate
    for stream, detections in batch.step().items():   # one batched call for all of them
        ...
    batch.close(a)                          # end of a's stream: its last detections

Each stream keeps what a `CommandStream` keeps: LSTM state, the frontend's context, its
resampler, its pending samples and its detector. `accept` only checks, resamples and
queues audio; `step` runs every queued piece, one stream.onnx call for all the streams
whose next piece has the same length, up to `max_batch` (64) streams a call.
A stream with no new audio does not advance. Streams join (`open`) and leave (`close`)
between steps.

Every stream's detections are those of the same audio through its own CommandStream: the
same words at the same times, the scores equal to float32 rounding. A piece is exactly the
model call the CommandStream would make (AudioFeed cuts both), the cell clip follows each
call in both, and `push_many` is `push_trusted` per stream, bit for bit. Only onnxruntime's
GEMMs may round a row differently in a batch of another size (a MatMul with one row takes a
GEMV path, and large batches block differently): logits then move by up to 2e-5
(measured), scores by less. A word whose smoothed score ties at a saturated plateau could
in principle then peak one frame apart; the tests have not seen it.

States live in slabs (layers, capacity, hidden), one slot per stream, gathered and
scattered by index, so a step's cost is the model call plus a few array operations and a
short loop over the streams (benchmarks/notes.md: streams per core in real time).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from lstm_apps.runtime.detect import Detection, Detector, DetectorConfig, push_many, softmax_trusted
from lstm_apps.runtime.errors import InputError
from lstm_apps.runtime.speech_stream import AudioFeed, StreamModel, StreamState

__all__ = ["MAX_BATCH", "StreamBatch"]

# Streams per stream.onnx call (benchmarks/stream_batch.py, one thread). onnxruntime alone
# costs 41-45 us per stream and 100 ms tick at 32-64 rows, 63 us at 512 and 82 us at 2048:
# past a few dozen rows the frontend's intermediate tensors leave the cache. The whole step
# (fewer calls, less Python per stream) was fastest at 64 in two runs: 512 streams kept
# 1278 in real time (1229 at 32, 1091 in one call of 512).
MAX_BATCH = 64


@dataclass
class _Stream:
    slot: int
    feed: AudioFeed
    detector: Detector
    queue: deque[npt.NDArray[np.float32]] = field(default_factory=deque)


class StreamBatch:
    """Independent command streams advanced together, one batched model call per step."""

    def __init__(
        self, model: StreamModel, labels: tuple[str, ...], config: DetectorConfig,
        capacity: int = 16, max_batch: int = MAX_BATCH,
    ) -> None:  # fmt: skip
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise InputError(f"StreamBatch: max_batch must be a positive int, got {max_batch!r}")
        self._model, self.labels, self.config = model, tuple(labels), config
        self.max_batch = max_batch
        self.sample_rate, self.hop = model.spec.sample_rate, model.spec.hop
        self._streams: dict[Hashable, _Stream] = {}
        self._free: list[int] = []
        self._next_id = 0
        spec = model.spec
        self._h = np.zeros((spec.num_layers, 0, spec.hidden_size), np.float32)
        self._c = self._h.copy()
        self._ctx = np.zeros((0, spec.context), np.float32)
        self._alloc(max(1, int(capacity)))

    # -- streams ---------------------------------------------------------------------------

    def open(
        self, key: Hashable | None = None, *, config: DetectorConfig | None = None
    ) -> Hashable:
        """Start a stream at time 0 from the zero state; returns its key (`key`, or the next
        int). config : its own detector settings (default: the batch's)."""
        if key is None:
            while self._next_id in self._streams:
                self._next_id += 1
            key, self._next_id = self._next_id, self._next_id + 1
        elif key in self._streams:
            raise InputError(f"StreamBatch.open: stream {key!r} is already open")
        if config is not None and not isinstance(config, DetectorConfig):
            raise InputError(f"StreamBatch.open: config must be a DetectorConfig, got {config!r}")
        if not self._free:
            self._alloc(2 * self._h.shape[1])
        slot = self._free.pop()
        self._h[:, slot] = 0.0
        self._c[:, slot] = 0.0
        self._ctx[slot] = 0.0
        detector = Detector(self.labels, config or self.config)
        self._streams[key] = _Stream(slot, AudioFeed(self.sample_rate, self.hop), detector)
        return key

    def accept(
        self, key: Hashable, chunk: npt.NDArray[Any], sample_rate: int | None = None
    ) -> None:
        """Queue a chunk of stream `key` ((samples,) or (samples, channels) at
        `sample_rate`, default the model's; a stream keeps one rate). It runs at the next
        `step`. Bad audio raises here, naming the stream, and leaves the stream as it was."""
        s = self._get(key, "accept")
        try:
            x = s.feed.push(chunk, sample_rate)
        except InputError as exc:
            raise type(exc)(f"stream {key!r}: {exc}") from exc
        if len(x):
            s.queue.append(x)

    def step(self) -> dict[Hashable, list[Detection]]:
        """Run all queued audio; returns the detections per stream (only streams that have
        some). Each round takes the next queued piece of every stream that has one, in one
        model call per piece length."""
        out: dict[Hashable, list[Detection]] = {}
        while True:
            groups: dict[int, list[Hashable]] = {}
            for key, s in self._streams.items():
                if s.queue:
                    groups.setdefault(len(s.queue[0]), []).append(key)
            if not groups:
                return out
            for keys in groups.values():
                for i in range(0, len(keys), self.max_batch):
                    part = keys[i : i + self.max_batch]
                    for key, found in zip(part, self._run(part), strict=True):
                        if found:
                            out.setdefault(key, []).extend(found)

    def close(self, key: Hashable) -> list[Detection]:
        """End stream `key`: run its queued audio and what is pending (zero-padded to a
        hop), decide a word in progress, and free its slot. Returns its last detections."""
        s = self._get(key, "close")
        s.queue.append(s.feed.end())
        found: list[Detection] = []
        while s.queue:
            if len(s.queue[0]) == 0:
                s.queue.popleft()
                continue
            found += self._run([key])[0]
        found += s.detector.flush()
        del self._streams[key]
        self._free.append(s.slot)
        return found

    def seconds(self, key: Hashable) -> float:
        """Audio of stream `key` run so far, in seconds."""
        return self._get(key, "seconds").detector.frames_seen * self.hop / self.sample_rate

    def queued(self, key: Hashable) -> float:
        """Audio of stream `key` accepted but not yet run, in seconds (pending partial hops
        included)."""
        s = self._get(key, "queued")
        return (sum(len(x) for x in s.queue) + len(s.feed.pending)) / self.sample_rate

    def __len__(self) -> int:
        return len(self._streams)

    def __contains__(self, key: object) -> bool:
        return key in self._streams

    def __iter__(self) -> Iterator[Hashable]:
        return iter(list(self._streams))

    # -- internals -------------------------------------------------------------------------

    def _get(self, key: Hashable, what: str) -> _Stream:
        try:
            return self._streams[key]
        except (KeyError, TypeError):
            raise InputError(f"StreamBatch.{what}: no open stream {key!r}") from None

    def _alloc(self, capacity: int) -> None:
        """Grow the state slabs to `capacity` slots (existing slots keep their state)."""
        have = self._h.shape[1]
        h = np.zeros((self._h.shape[0], capacity, self._h.shape[2]), np.float32)
        c, ctx = h.copy(), np.zeros((capacity, self._ctx.shape[1]), np.float32)
        h[:, :have], c[:, :have], ctx[:have] = self._h, self._c, self._ctx
        self._h, self._c, self._ctx = h, c, ctx
        self._free += list(range(capacity - 1, have - 1, -1))  # lowest slot first

    def _run(self, keys: list[Hashable]) -> list[list[Detection]]:
        """One model call: the next queued piece (all of one length) of each stream."""
        streams = [self._streams[k] for k in keys]
        slots = np.array([s.slot for s in streams])
        chunk = np.stack([s.queue[0] for s in streams])
        state = StreamState(self._h[:, slots], self._c[:, slots], self._ctx[slots])
        z, new = self._model.advance(chunk, state)  # checked by AudioFeed
        self._h[:, slots], self._c[:, slots], self._ctx[slots] = new.h, new.c, new.context
        for s in streams:  # only once the call has run
            s.queue.popleft()
        return push_many([s.detector for s in streams], softmax_trusted(z))
