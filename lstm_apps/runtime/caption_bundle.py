"""The caption bundle's settings, read once: `CaptionBundle`.

The exporter (`lstm_apps.onnx.caption`) builds one `CaptionBundle` from the model's config
and its `Vocab` and writes `to_metadata()` into every ONNX file's metadata_props and into
config.json; the runtime (`lstm_apps.runtime.caption`) reads it back only through
`from_metadata()`, which checks every key it uses once, at load time, and raises a
`ModelFileError` naming the file and the key path. One source of truth: nothing is
written twice (the special ids live in the vocab, the grid in the config).

Metadata layout (format 2, see export/README.md):

    format_version  2
    kind            "caption_encoder" | "caption_decoder" | "caption_greedy" (per file)
    config          the model's config (CaptionConfig.to_dict()): vocab_size, backbone, cut,
                    image_size, grid, feature_dim, embed_dim, hidden_size, attention_dim,
                    num_layers, dropout, cell, max_len, mean, std, weights_path,
                    train_backbone, position
    vocab           Vocab.to_json(): type, version, pad_id, start_id, end_id, unk_id, itos
    preprocessing   input, inside_graph: what the encoder graph does, in words

Format 1 had no attention keys (decoder.onnx projected the features itself at every
step) and wrote copies (`special_tokens`, `decoding`); this runtime refuses it.

    spec = CaptionBundle.from_metadata(OnnxModel("decoder.onnx").metadata, "decoder.onnx")
    spec.grid, spec.vocab.end_id, spec.max_len
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from lstm_apps.runtime.errors import DataFormatError, ModelFileError
from lstm_apps.runtime.spec import MetadataReader
from lstm_apps.runtime.vocab import Vocab

_IO = dict[str, tuple[type[np.generic], tuple[int | None, ...]]]  # name -> dtype, shape
FORMAT_VERSION = 2  # 2: encoder.onnx emits `keys`, decoder.onnx takes them; no copies
KINDS = ("caption_encoder", "caption_decoder", "caption_greedy")


@dataclass(frozen=True, eq=False)
class CaptionBundle:
    """What a host needs to run a caption bundle, validated."""

    vocab: Vocab  # words by id and the special ids (<pad>, <start>, <end>, <unk>)
    config: Mapping[str, Any]  # the model's config as exported; the fields below come from it
    image_size: int  # side the encoder resizes every image to, px
    grid: int  # attention grid side; K = grid ** 2 cells
    feature_dim: int  # D, features per cell
    attention_dim: int  # A, width of the attention keys
    hidden_size: int  # LSTM width (h and c are (num_layers, N, hidden_size))
    num_layers: int  # stacked LSTM layers
    max_len: int  # most tokens per caption, <end> included
    mean: tuple[float, float, float]  # per-channel pixel mean (pixels in [0, 1])
    std: tuple[float, float, float]  # per-channel pixel std
    format_version: int = FORMAT_VERSION

    @property
    def num_cells(self) -> int:
        """K, the attention cells per image."""
        return self.grid * self.grid

    @classmethod
    def create(
        cls, config: Mapping[str, Any], vocab: Vocab, where: str = "export"
    ) -> CaptionBundle:
        """The spec of a model about to be exported (the same checks as at load time)."""
        return cls.from_metadata(
            {"format_version": FORMAT_VERSION, "config": dict(config), "vocab": vocab.to_json()},
            where,
        )

    @classmethod
    def from_metadata(cls, meta: Mapping[str, Any], where: str) -> CaptionBundle:
        """Validate a caption file's metadata (or config.json); where : the file, for errors."""
        r = MetadataReader(meta, where)
        version = r.integer("format_version", min=1)
        if version != FORMAT_VERSION:
            raise ModelFileError(
                f"{where}: caption bundle format {version}; this lstm-apps reads only format "
                f"{FORMAT_VERSION} (format 1 has no attention keys): re-export it with "
                "`lstm-apps export caption RUN OUT`"
            )
        c = r.section("config")
        v = r.section("vocab")
        itos = v.texts("itos", min_len=len(Vocab.SPECIALS), unique=True)
        try:
            vocab = Vocab.from_json(v.meta)
        except DataFormatError as exc:
            raise ModelFileError(f"{where}: metadata 'vocab': {exc}") from exc
        for key in ("pad_id", "start_id", "end_id", "unk_id"):
            if v.integer(key, min=0) != getattr(vocab, key):  # a reader in C trusts these
                raise v.fail(key, f"{getattr(vocab, key)} (lstm_apps.Vocab)", v.value(key))
        if c.integer("vocab_size", min=len(Vocab.SPECIALS)) != len(itos):
            raise c.fail(
                "vocab_size", f"{len(itos)} (the words in 'vocab.itos')", c.value("vocab_size")
            )
        mean, std = c.numbers("mean", length=3), c.numbers("std", length=3)
        if min(std) <= 0:
            raise c.fail("std", "3 numbers > 0", list(std))
        c.text("cell", choices=("lstm", "gru"))
        return cls(
            vocab=vocab,
            config=dict(c.meta),
            image_size=c.integer("image_size", min=1),
            grid=c.integer("grid", min=1),
            feature_dim=c.integer("feature_dim", min=1),
            attention_dim=c.integer("attention_dim", min=1),
            hidden_size=c.integer("hidden_size", min=1),
            num_layers=c.integer("num_layers", min=1),
            max_len=c.integer("max_len", min=1),
            mean=(mean[0], mean[1], mean[2]),
            std=(std[0], std[1], std[2]),
            format_version=version,
        )

    def _tensors(self) -> dict[str, tuple[type[np.generic], tuple[int | None, ...]]]:
        f, k = np.float32, self.num_cells
        state = (f, (self.num_layers, None, self.hidden_size))
        return {
            "features": (f, (None, k, self.feature_dim)),
            "keys": (f, (None, k, self.attention_dim)),
            "state": state,
        }

    def encoder_io(self) -> tuple[_IO, _IO]:
        """encoder.onnx: images uint8 (N, H, W, 3) -> features (N, K, D), keys (N, K, A),
        h0 and c0 (layers, N, hidden)."""
        t = self._tensors()
        outputs = {"features": t["features"], "keys": t["keys"], "h0": t["state"], "c0": t["state"]}
        return {"images": (np.uint8, (None, None, None, 3))}, outputs

    def decoder_io(self) -> tuple[_IO, _IO]:
        """decoder.onnx: tokens int64 (N,), h, c, features, keys -> logprobs (N, V), h_out,
        c_out, alpha (N, K)."""
        t = self._tensors()
        inputs = {"tokens": (np.int64, (None,)), "h": t["state"], "c": t["state"],
                  "features": t["features"], "keys": t["keys"]}  # fmt: skip
        outputs = {"logprobs": (np.float32, (None, len(self.vocab))), "h_out": t["state"],
                   "c_out": t["state"], "alpha": (np.float32, (None, self.num_cells))}  # fmt: skip
        return inputs, outputs

    def to_metadata(self) -> dict[str, Any]:
        """The metadata every file of the bundle carries (without `kind`), and config.json."""
        size = self.image_size
        return {
            "format_version": self.format_version,
            "config": dict(self.config),
            "vocab": self.vocab.to_json(),
            "preprocessing": {
                "input": "uint8 RGB, (batch, H, W, 3), any H and W",
                "inside_graph": f"bilinear resize to {size}x{size} (half-pixel centres, no "
                "antialias), /255, minus config.mean, over config.std",
            },
        }
