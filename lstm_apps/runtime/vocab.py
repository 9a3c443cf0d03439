"""The caption word table, `Vocab`: word <-> id, and the one definition of the special ids.

Torch-free (stdlib only) and in the runtime layer, because both sides need it: the trainer
builds and saves it, the exporter writes it into the bundle (`to_json`), and the runtime
reads it back from there (`runtime.caption_bundle`). `lstm_apps.data.captions` re-exports
it.

    vocab = Vocab.build(token_lists, min_count=5); vocab.save("vocab.json")
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from lstm_apps.runtime.errors import DataFormatError

__all__ = ["Vocab"]


class Vocab:
    """Word <-> id table with fixed special ids: <pad>=0, <start>=1, <end>=2, <unk>=3.

    Stored as JSON (`{"type", "version", "itos", ...ids}`), never pickle, so that apps in
    any language can read it beside the ONNX file.
    """

    PAD, START, END, UNK = "<pad>", "<start>", "<end>", "<unk>"
    SPECIALS: tuple[str, ...] = (PAD, START, END, UNK)
    # The one definition of the special ids: the torch model, the exporter and the runtime
    # read them from here (or from the exported vocab, which `to_json` writes from here).
    PAD_ID, START_ID, END_ID, UNK_ID = 0, 1, 2, 3  # positions in SPECIALS
    _TYPE = "lstm_apps.Vocab"
    _VERSION = 1

    def __init__(self, itos: Sequence[str]) -> None:
        """`itos`: every token by id, the four specials first."""
        itos = tuple(itos)
        if itos[: len(self.SPECIALS)] != self.SPECIALS:
            raise ValueError(f"a vocabulary must start with {list(self.SPECIALS)}, got {itos[:4]}")
        if not all(isinstance(t, str) and t for t in itos):
            raise ValueError("vocabulary tokens must be non-empty strings")
        if len(set(itos)) != len(itos):
            dup = sorted(t for t, n in Counter(itos).items() if n > 1)
            raise ValueError(f"vocabulary has duplicate tokens: {dup[:10]}")
        self._itos = itos
        self._stoi = {t: i for i, t in enumerate(itos)}

    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]], min_count: int = 1) -> Vocab:
        """Words seen at least `min_count` times, by count (descending) then alphabetically."""
        if min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {min_count}")
        counts = Counter(t for tokens in token_lists for t in tokens if t not in cls.SPECIALS)
        words = sorted(
            (w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w)
        )
        return cls((*cls.SPECIALS, *words))

    @property
    def pad_id(self) -> int:
        return self.PAD_ID

    @property
    def start_id(self) -> int:
        return self.START_ID

    @property
    def end_id(self) -> int:
        return self.END_ID

    @property
    def unk_id(self) -> int:
        return self.UNK_ID

    @property
    def itos(self) -> tuple[str, ...]:
        """Every token by id."""
        return self._itos

    def __len__(self) -> int:
        return len(self._itos)

    def __contains__(self, token: object) -> bool:
        return token in self._stoi

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self._itos == other._itos

    def __hash__(self) -> int:
        return hash(self._itos)

    def __repr__(self) -> str:
        return f"Vocab({len(self)} tokens)"

    def token_id(self, token: str) -> int:
        """Id of one token (`unk_id` when unknown)."""
        return self._stoi.get(token, self.unk_id)

    def encode(self, tokens: Sequence[str], add_start_end: bool = True) -> list[int]:
        """Token ids; unknown words map to `unk_id`; optionally wrapped in <start> ... <end>."""
        ids = [self._stoi.get(t, self.unk_id) for t in tokens]
        return [self.start_id, *ids, self.end_id] if add_start_end else ids

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens up to the first <end>; <start> and <pad> are dropped, <unk> is kept."""
        out: list[str] = []
        for raw_id in ids:
            i = int(raw_id)
            if not 0 <= i < len(self._itos):
                raise ValueError(f"token id {i} out of range for a vocabulary of {len(self)}")
            if i == self.end_id:
                break
            if i not in (self.start_id, self.pad_id):
                out.append(self._itos[i])
        return out

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (use `json.dumps` for text)."""
        return {
            "type": self._TYPE,
            "version": self._VERSION,
            "pad_id": self.pad_id,
            "start_id": self.start_id,
            "end_id": self.end_id,
            "unk_id": self.unk_id,
            "itos": list(self._itos),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str) -> Vocab:
        """Inverse of `to_json`; accepts the dict or its JSON text."""
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except json.JSONDecodeError as exc:
                raise DataFormatError(f"vocabulary: not valid JSON ({exc})") from exc
        if not isinstance(data, Mapping) or data.get("type") != cls._TYPE:
            raise DataFormatError(f'vocabulary: expected an object with "type": "{cls._TYPE}"')
        if data.get("version") != cls._VERSION:
            raise DataFormatError(f"vocabulary: unsupported version {data.get('version')!r}")
        itos = data.get("itos")
        if not isinstance(itos, list) or not all(isinstance(t, str) for t in itos):
            raise DataFormatError('vocabulary: "itos" must be a list of strings')
        try:
            return cls(itos)
        except ValueError as exc:
            raise DataFormatError(f"vocabulary: {exc}") from exc

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write JSON atomically (temp file in the same folder, then `os.replace`)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(self.to_json(), fh, ensure_ascii=False, indent=1)
                fh.write("\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; a vocabulary is not secret
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Vocab:
        """Read a vocabulary written by `save`; `DataFormatError` names the file on failure."""
        p = Path(path)
        if not p.is_file():
            raise DataFormatError(f"{p}: file not found")
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataFormatError(f"{p}: not valid JSON ({exc})") from exc
        try:
            return cls.from_json(data)
        except DataFormatError as exc:
            raise DataFormatError(f"{p}: {exc}") from exc
