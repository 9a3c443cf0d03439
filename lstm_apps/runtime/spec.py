"""Reading a bundle's metadata once, into typed values: `MetadataReader`.

Each bundle kind has one frozen spec dataclass (`speech_bundle.SpeechBundle`,
`caption_bundle.CaptionBundle`). The exporter writes metadata_props and config.json from
that dataclass's `to_metadata()`, and the runtime reads them back only through its
`from_metadata()`, which uses this reader: every key is checked once, at load time, and a
missing or malformed one is a `ModelFileError` that names the file and the key path
(`model.onnx: metadata 'stream.context_samples' must be an int >= 0, got -3`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from lstm_apps.runtime.errors import ModelFileError


class MetadataReader:
    """Typed access to one metadata mapping. where : the file it came from (for messages);
    path : the key path of this mapping inside the file's metadata ('' at the top)."""

    def __init__(self, meta: Mapping[str, Any], where: str, path: str = "") -> None:
        self.meta, self.where, self.path = meta, where, path

    def _name(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def fail(self, key: str, want: str, value: Any) -> ModelFileError:
        """The error for `key` holding `value` where `want` was expected."""
        return ModelFileError(
            f"{self.where}: metadata {self._name(key)!r} must be {want}, got {value!r}"
        )

    def has(self, key: str) -> bool:
        return key in self.meta and self.meta[key] is not None

    def value(self, key: str) -> Any:
        """The raw value; a ModelFileError when the key is missing."""
        if key not in self.meta:
            raise ModelFileError(
                f"{self.where} has no {self._name(key)!r} in its metadata "
                f"(has: {sorted(self.meta)}); was it exported by lstm-apps?"
            )
        return self.meta[key]

    def section(self, key: str) -> MetadataReader:
        """A nested mapping, read with the same checks."""
        v = self.value(key)
        if not isinstance(v, Mapping):
            raise self.fail(key, "a JSON object", v)
        return MetadataReader(v, self.where, self._name(key))

    def integer(self, key: str, *, min: int | None = None) -> int:
        v = self.value(key)
        if isinstance(v, bool) or not isinstance(v, int) or (min is not None and v < min):
            raise self.fail(key, "an int" + (f" >= {min}" if min is not None else ""), v)
        return v

    def number(self, key: str, *, min: float | None = None, above: float | None = None) -> float:
        v = self.value(key)
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        ok = ok and (min is None or v >= min) and (above is None or v > above)
        if not ok:
            want = "a finite number"
            want += f" >= {min}" if min is not None else ""
            want += f" > {above}" if above is not None else ""
            raise self.fail(key, want, v)
        return float(v)

    def text(self, key: str, *, choices: tuple[str, ...] | None = None) -> str:
        v = self.value(key)
        if not isinstance(v, str) or (choices is not None and v not in choices):
            raise self.fail(key, f"one of {list(choices)}" if choices else "a string", v)
        return v

    def flag(self, key: str) -> bool:
        v = self.value(key)
        if not isinstance(v, bool):
            raise self.fail(key, "true or false", v)
        return v

    def texts(self, key: str, *, min_len: int = 1, unique: bool = False) -> tuple[str, ...]:
        v = self.value(key)
        ok = isinstance(v, list) and len(v) >= min_len and all(isinstance(s, str) for s in v)
        if not ok or (unique and len(set(v)) != len(v)):
            want = f"a list of >= {min_len} " + ("distinct " if unique else "") + "strings"
            raise self.fail(key, want, v)
        return tuple(v)

    def numbers(self, key: str, *, length: int | None = None) -> tuple[float, ...]:
        v = self.value(key)
        ok = isinstance(v, list) and (length is None or len(v) == length)
        ok = ok and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v
        )
        if not ok:
            raise self.fail(key, f"a list of {length or 'some'} finite numbers", v)
        return tuple(float(x) for x in v)
