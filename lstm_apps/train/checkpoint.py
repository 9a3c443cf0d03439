"""Checkpoints: weights in safetensors, the config as JSON, written atomically. No pickle.

A checkpoint is a directory:

    model.safetensors   the module's state dict (the JSON config is in its header too)
    config.json         {"kind": ..., "config": {...}, "extra": {...}}
    state.safetensors   optional flat tensors for resuming (optimizer state, ...)

`load_checkpoint` rebuilds the model from these files alone: the kind names a class in a
fixed registry (never an import path read from the file), and the class's `config_class`
rebuilds the frozen config.
"""

from __future__ import annotations

import importlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from lstm_apps.runtime.errors import CheckpointError
from lstm_apps.runtime.files import atomic_dir

# kind -> "module:Class"; the class has a `config_class` with from_dict / to_dict.
MODEL_KINDS: dict[str, str] = {
    "lstm_decoder": "lstm_apps.nn.decoder:LSTMDecoder",
    "speech": "lstm_apps.nn.speech:SpeechClassifierNet",
    "caption": "lstm_apps.nn.caption:CaptionModel",
}


@dataclass
class Checkpoint:
    model: nn.Module
    config: Any
    kind: str
    extra: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Tensor] = field(default_factory=dict)


def _model_class(kind: str) -> type[nn.Module]:
    if kind not in MODEL_KINDS:
        raise CheckpointError(f"unknown model kind {kind!r}; known: {sorted(MODEL_KINDS)}")
    module, name = MODEL_KINDS[kind].split(":")
    cls: type[nn.Module] = getattr(importlib.import_module(module), name)
    return cls


def save_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    *,
    kind: str,
    extra: dict[str, Any] | None = None,
    state: dict[str, Tensor] | None = None,
) -> Path:
    """Write the checkpoint directory at `path` atomically (replacing an old one)."""
    _model_class(kind)  # fail before writing anything
    config = model.config  # type: ignore[attr-defined]
    header = {"kind": kind, "config": config.to_dict(), "extra": extra or {}}
    text = json.dumps(header, indent=2, sort_keys=True)
    weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_dir(path, replaces="config.json") as tmp:
        save_file(weights, str(tmp / "model.safetensors"), metadata={"lstm_apps": text})
        (tmp / "config.json").write_text(text + "\n", encoding="utf-8")
        if state:
            flat = {k: v.detach().cpu().contiguous() for k, v in state.items()}
            save_file(flat, str(tmp / "state.safetensors"))
    return Path(path)


def load_checkpoint(path: str | os.PathLike[str], *, with_state: bool = False) -> Checkpoint:
    """Rebuild the model from a checkpoint directory (on CPU, in eval mode)."""
    path = Path(path)
    cfg_file, weights_file = path / "config.json", path / "model.safetensors"
    for f in (cfg_file, weights_file):
        if not f.is_file():
            raise CheckpointError(f"checkpoint {path} is missing {f.name}")
    try:
        header = json.loads(cfg_file.read_text(encoding="utf-8"))
        kind, config_dict = header["kind"], header["config"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise CheckpointError(f"{cfg_file} is not a checkpoint config: {e}") from e
    cls = _model_class(kind)
    try:
        config = cls.config_class.from_dict(config_dict)  # type: ignore[attr-defined]
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{cfg_file}: config does not fit {cls.__name__}: {e}") from e
    model = cls(config)  # type: ignore[call-arg]
    try:
        weights = load_file(str(weights_file))
        model.load_state_dict(weights)
    except (SafetensorError, RuntimeError) as e:
        raise CheckpointError(f"{weights_file} does not match its config: {e}") from e
    state: dict[str, Tensor] = {}
    state_file = path / "state.safetensors"
    if with_state and state_file.is_file():
        state = load_file(str(state_file))
    return Checkpoint(model.eval(), config, kind, header.get("extra", {}), state)
