"""Image captions on onnxruntime: `Captioner`.

    from lstm_apps import Captioner
    cap = Captioner.from_dir("export/caption")
    for c in cap.caption(["a.png", pil_image, uint8_array], beam_size=3):
        print(c.text, c.score, c.confidence, c.attention.shape)  # attention: (words, grid, grid)

encoder.onnx turns uint8 images of any size into attention features and their attention
keys (resizing and normalising inside the graph, exactly as in training; the keys are the
features' projection for the additive attention, computed once per image rather than per
step); decoder.onnx runs one step of the LSTM decoder; greedy or beam search (`search.py`,
shared with the torch path) drives it. The bundle's settings come from its metadata
through `CaptionBundle`, checked once at load. `encoder_state` and `step` are the one
place that maps the graphs' inputs and outputs (the exporter's parity check calls them).
Images of one size are encoded together; the search runs over the whole batch at once.
A bundle with confidence.json (`lstm-apps calibrate caption`) gives each caption a
calibrated confidence (`confidence.py`); `min_confidence` marks the ones below it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from lstm_apps.runtime.caption_bundle import CaptionBundle
from lstm_apps.runtime.confidence import CONFIDENCE_JSON, CaptionCalibration
from lstm_apps.runtime.errors import ImageInputError, InputDTypeError, InputError, ModelFileError
from lstm_apps.runtime.image import ImageSource, load_image
from lstm_apps.runtime.manifest import (
    check_agrees,
    check_json_file,
    read_config,
    require_listed,
    verify_files,
)
from lstm_apps.runtime.search import ArrayState, SearchOptions, search
from lstm_apps.runtime.session import OnnxModel, default_bundle, import_onnxruntime

MAX_BEAM_SIZE = 32  # beams per image: bounds memory (state is copied per beam)
MAX_CAPTION_TOKENS = 200  # max_len: bounds time (one decoder call per token)
MAX_LENGTH_PENALTY = 10.0
ENCODE_BATCH = 32  # images per encoder call: bounds memory for long lists
ENCODER_OUTPUTS = {"features": 0, "keys": 0, "h0": 1, "c0": 1}  # name -> batch axis


@dataclass(frozen=True, eq=False)
class Caption:
    """The caption of one image."""

    text: str  # the words joined by spaces
    tokens: list[str]  # the words, without <start> / <end>
    score: float  # summed log-probability (length-normalised when length_penalty > 0)
    attention: npt.NDArray[np.float32] = field(repr=False)  # (words, grid, grid): per word
    finished: bool  # False when max_len ran out before <end>
    # In [0, 1]: how likely the content is right and the image from the domain (None when
    # the bundle has no confidence.json).
    confidence: float | None = None
    rejected: bool = False  # True when confidence < the min_confidence asked for


class Captioner:
    """Caption images with an exported caption bundle (encoder.onnx + decoder.onnx).

    providers, intra_op_threads, inter_op_threads, session_options : onnxruntime settings.
    """

    def __init__(
        self,
        encoder_path: str | os.PathLike[str],
        decoder_path: str | os.PathLike[str],
        *,
        providers: Sequence[str] | None = None,
        intra_op_threads: int | None = None,
        inter_op_threads: int | None = None,
        session_options: Any | None = None,
    ) -> None:
        opts: dict[str, Any] = dict(
            providers=providers, intra_op_threads=intra_op_threads,
            inter_op_threads=inter_op_threads, session_options=session_options,
        )  # fmt: skip
        encoder_opts = opts
        if session_options is None and intra_op_threads != 1:
            # The encoder runs once, then the decoder max_len times. With more than one
            # thread each session has its own pool, and the encoder's workers would spin
            # on through the decoder's steps, fighting its workers for the cores: a
            # greedy caption took 2.3x as long on 2 threads (BENCHMARKS.md). So the
            # encoder's workers sleep when done; the decoder's keep spinning between steps.
            ort_opts = import_onnxruntime().SessionOptions()
            ort_opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            encoder_opts = {**opts, "session_options": ort_opts}
        self.encoder = OnnxModel(encoder_path, **encoder_opts)
        self.decoder = OnnxModel(decoder_path, **opts)
        self.spec = CaptionBundle.from_metadata(self.decoder.metadata, str(decoder_path))
        enc_spec = CaptionBundle.from_metadata(self.encoder.metadata, str(encoder_path))
        if enc_spec.to_metadata() != self.spec.to_metadata():
            raise ModelFileError(
                f"{encoder_path} and {decoder_path} are not from one export: their config, "
                "vocab or preprocessing metadata differ"
            )
        self.encoder.expect("caption_encoder", *self.spec.encoder_io())
        self.decoder.expect("caption_decoder", *self.spec.decoder_io())
        vocab = self.spec.vocab
        self.itos: tuple[str, ...] = vocab.itos
        self.max_len = self.spec.max_len
        self._hidden = {vocab.pad_id, vocab.start_id, vocab.end_id}
        # A dynamically quantised graph picks its int8 scales from the whole call: one image
        # (with its beams) per call keeps each caption independent of the other images.
        self.quantized = "quantization" in self.decoder.metadata
        self.calibration: CaptionCalibration | None = None  # from_dir reads confidence.json

    @classmethod
    def from_dir(
        cls, path: str | os.PathLike[str], *, int8: bool = False, verify: bool = True,
        **session: Any,
    ) -> Captioner:  # fmt: skip
        """Load a bundle folder holding encoder.onnx and decoder.onnx; int8 picks
        encoder.int8.onnx and decoder.int8.onnx (`lstm-apps quantize caption`).

        config.json, vocab.json and the graphs' metadata must agree; verify also checks
        every file against the sha256 config.json lists (a few ms per MB)."""
        path = Path(path)
        if not path.is_dir():
            raise ModelFileError(f"caption bundle folder not found: {path}")
        config = read_config(path)
        if verify:
            verify_files(path, config)
        names = (
            ["encoder.int8.onnx", "decoder.int8.onnx"] if int8 else ["encoder.onnx", "decoder.onnx"]
        )
        if int8 and not all((path / n).is_file() for n in names):
            raise ModelFileError(
                f"{path} has no int8 graphs ({', '.join(names)}); add them with "
                f"`lstm-apps quantize caption {path} --data DATA`"
            )
        require_listed(path, config, names)
        cap = cls(path / names[0], path / names[1], **session)
        check_agrees(path, config, cap.decoder.metadata)
        check_json_file(path, "vocab.json", cap.spec.vocab.to_json())
        if (path / CONFIDENCE_JSON).is_file():
            require_listed(path, config, [CONFIDENCE_JSON])
            cap.calibration = read_calibration(path / CONFIDENCE_JSON)
        return cap

    @classmethod
    def default(cls, **session: Any) -> Captioner:
        """The shipped bundle (package data, or export/caption in a source checkout)."""
        return cls.from_dir(default_bundle("caption"), **session)

    @staticmethod
    def encoder_state(out: dict[str, npt.NDArray[Any]]) -> ArrayState:
        """encoder.onnx outputs -> the decoder state the search starts from: (h, c) carried
        per hypothesis (batch on axis 1), features (N, K, D) and keys (N, K, A) per image."""
        return ArrayState((out["h0"], out["c0"]), (out["features"], out["keys"]), (1, 1))

    def step(
        self, tokens: npt.NDArray[np.int64], state: ArrayState
    ) -> tuple[npt.NDArray[np.float32], ArrayState, npt.NDArray[np.float32]]:
        """One decoder.onnx step, a `search.StepFn`: tokens int64 (N,), state from
        `encoder_state` -> logprobs (N, V), the next state, alpha (N, K)."""
        (h, c), (features, keys) = state.carried, state.per_image
        o = self.decoder.run({"tokens": tokens, "h": h, "c": c, "features": features, "keys": keys})
        return o["logprobs"], ArrayState((o["h_out"], o["c_out"]), state.per_image), o["alpha"]

    def encode(self, images: Sequence[npt.NDArray[np.uint8]]) -> ArrayState:
        """RGB uint8 images -> their decoder state (see `encoder_state`), in order; same-size
        images share one encoder call."""
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, img in enumerate(images):
            groups.setdefault(img.shape, []).append(i)
        parts: list[tuple[list[int], dict[str, npt.NDArray[Any]]]] = []
        for same_size in groups.values():
            for k in range(0, len(same_size), ENCODE_BATCH):
                idx = same_size[k : k + ENCODE_BATCH]
                parts.append(
                    (idx, self.encoder.run({"images": np.stack([images[i] for i in idx])}))
                )
        if len(parts) == 1 and parts[0][0] == list(range(len(images))):
            return self.encoder_state(parts[0][1])  # one call in order: nothing to gather
        order = np.argsort(np.concatenate([idx for idx, _ in parts]))
        return self.encoder_state(
            {
                name: np.take(np.concatenate([o[name] for _, o in parts], axis), order, axis)
                for name, axis in ENCODER_OUTPUTS.items()
            }
        )

    def caption(
        self,
        images: ImageSource | Sequence[ImageSource],
        *,
        beam_size: int = 3,
        max_len: int | None = None,
        length_penalty: float = 0.0,
        min_confidence: float | None = None,
    ) -> list[Caption]:
        """One Caption per image (paths, PIL images or arrays); beam_size 1 is greedy.

        beam_size : 1 to MAX_BEAM_SIZE (32). max_len : tokens per caption, 1 to
        MAX_CAPTION_TOKENS (200); default the bundle's (the longest caption it was trained
        for). length_penalty : 0 (summed log-probability) to MAX_LENGTH_PENALTY (10): the
        exponent a of the GNMT penalty ((5 + length) / 6) ** a that divides the score.
        min_confidence : 0 to 1; a caption whose confidence is lower has `rejected` True
        (it needs a bundle with confidence.json). Anything else is an InputError."""
        single = isinstance(images, (str, os.PathLike, np.ndarray, Image.Image))
        if not single and not isinstance(images, Sequence):
            raise InputDTypeError(
                "Captioner.caption: images must be a path, a PIL image, a numpy array or a "
                f"list of them, got {type(images).__name__}"
            )
        items: list[ImageSource] = [images] if single else list(images)  # type: ignore[list-item,arg-type]
        if not items:
            raise ImageInputError("no images given: pass a path, an image, or a list of them")
        max_len = self.max_len if max_len is None else max_len
        for name, value, top in (
            ("beam_size", beam_size, MAX_BEAM_SIZE),
            ("max_len", max_len, MAX_CAPTION_TOKENS),
        ):
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, np.integer))
                or not (1 <= value <= top)
            ):
                raise InputError(
                    f"Captioner.caption: {name} must be an int from 1 to {top}, got {value!r}"
                )
        ok = isinstance(length_penalty, (int, float, np.floating)) and not isinstance(
            length_penalty, bool
        )
        if not ok or not 0 <= length_penalty <= MAX_LENGTH_PENALTY:  # NaN fails too
            raise InputError(
                f"Captioner.caption: length_penalty must be a number from 0 to "
                f"{MAX_LENGTH_PENALTY:g}, got {length_penalty!r}"
            )
        if min_confidence is not None:
            number = isinstance(min_confidence, (int, float, np.integer, np.floating))
            number = number and not isinstance(min_confidence, (bool, np.bool_))
            if not number or not 0 <= min_confidence <= 1:
                raise InputError(
                    f"Captioner.caption: min_confidence must be a number from 0 to 1, got "
                    f"{min_confidence!r}"
                )
            if self.calibration is None:
                raise InputError(
                    "Captioner.caption: min_confidence needs a calibrated bundle (confidence.json, "
                    "made by `lstm-apps calibrate caption`); this one has none"
                )
        beam_size, max_len, length_penalty = int(beam_size), int(max_len), float(length_penalty)
        rgb = [load_image(src, name=_name(src, i)) for i, src in enumerate(items)]
        opts = SearchOptions(
            beam_size=beam_size, max_len=max_len, length_penalty=length_penalty,
            start_id=self.spec.vocab.start_id, end_id=self.spec.vocab.end_id,
        )  # fmt: skip
        grid = self.spec.grid
        out = []
        groups = [[img] for img in rgb] if self.quantized else [rgb]
        for group in groups:
            state = self.encode(group)
            features = state.per_image[0]  # (N, K, D)
            for hyp, feats in zip(search(self.step, state, opts), features, strict=True):
                keep = [t not in self._hidden for t in hyp.tokens]  # words and their attention
                words = [self.itos[t] for t, k in zip(hyp.tokens, keep, strict=True) if k]
                att = hyp.alphas[np.array(keep, bool)].reshape(len(words), grid, grid)
                conf = None
                if self.calibration is not None:
                    conf = self.calibration.confidence(hyp.token_logprobs, hyp.finished, feats)
                rejected = min_confidence is not None and conf is not None and conf < min_confidence
                out.append(
                    Caption(" ".join(words), words, hyp.score, att, hyp.finished, conf, rejected)
                )
        return out


def read_calibration(path: Path) -> CaptionCalibration:
    """A bundle's confidence.json; ModelFileError when it is not readable or not valid."""
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelFileError(f"{path}: not readable JSON ({e})") from e
    return CaptionCalibration.from_json(obj, str(path))


def _name(src: Any, i: int) -> str:
    if isinstance(src, (str, os.PathLike)):
        return os.fspath(src)
    return f"{type(src).__name__} #{i}"
