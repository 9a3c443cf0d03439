"""Caption data sets in their real formats, and the word vocabulary.

Reads the Karpathy split files (`dataset_coco.json`, `dataset_flickr8k.json`,
`dataset_flickr30k.json`, and the `dataset_shapes.json` that `lstm_apps.data.shapes`
writes) and COCO `captions_*.json` annotation files, unchanged. Torch-free: stdlib only.

    ds = load_karpathy("data/dataset_coco.json", image_root="data/coco")
    vocab = Vocab.build([c for item in ds.split("train") for c in item.captions], min_count=5)
    vocab.save("vocab.json")
"""

from __future__ import annotations

import json
import os
import string
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lstm_apps.runtime.errors import DataFormatError

__all__ = [
    "SPLITS",
    "CaptionDataset",
    "CaptionItem",
    "Vocab",
    "load_coco_captions",
    "load_karpathy",
    "tokenize",
]

SPLITS: tuple[str, ...] = ("train", "val", "test")
# Karpathy's "restval" images (COCO val2014 images outside his val/test) are training data.
_SPLIT_ALIASES = {"train": "train", "val": "val", "test": "test", "restval": "train"}
_PUNCT_TABLE = str.maketrans("", "", string.punctuation)


def tokenize(text: str) -> list[str]:
    """Karpathy-style tokens: lower case, punctuation deleted, split on whitespace.

    Punctuation is deleted rather than replaced, as in the Karpathy files
    ("T-shirt" -> "tshirt", "man's" -> "mans"), so tokens of raw captions agree with them.
    """
    return text.lower().translate(_PUNCT_TABLE).split()


@dataclass(frozen=True)
class CaptionItem:
    """One image and its reference captions."""

    image_path: Path
    image_id: int
    split: str  # "train" | "val" | "test" ("restval" is loaded as "train")
    captions: list[list[str]]  # token lists, one per reference
    raw: list[str]  # the raw reference sentences, same order as `captions`


@dataclass(frozen=True)
class CaptionDataset:
    """A caption data set: a name, the image folder, and items in file order."""

    name: str
    image_root: Path
    items: list[CaptionItem] = field(default_factory=list)

    def split(self, name: str) -> list[CaptionItem]:
        """Items of one split ("train" includes Karpathy's "restval")."""
        key = _SPLIT_ALIASES.get(name)
        if key is None:
            raise ValueError(f"unknown split {name!r}; expected one of {list(_SPLIT_ALIASES)}")
        return [item for item in self.items if item.split == key]

    def __len__(self) -> int:
        return len(self.items)


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise DataFormatError(f"{path}: file not found")
    try:
        with path.open("r", encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"{path}: not valid JSON ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"{path}: not UTF-8 text ({exc})") from exc


def _list_field(path: Path, obj: Any, key: str, where: str) -> list[Any]:
    if not isinstance(obj, Mapping) or key not in obj:
        raise DataFormatError(f'{path}: {where} has no "{key}" field')
    value = obj[key]
    if not isinstance(value, list):
        raise DataFormatError(f'{path}: {where} "{key}" must be a list, got {type(value).__name__}')
    return value


def _int_field(path: Path, obj: Mapping[str, Any], key: str, where: str) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise DataFormatError(f'{path}: {where} "{key}" must be an integer, got {value!r}')
    return value


def _str_field(path: Path, obj: Mapping[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise DataFormatError(f'{path}: {where} "{key}" must be a non-empty string, got {value!r}')
    return value


def _karpathy_sentence(path: Path, sent: Any, where: str) -> tuple[list[str], str] | None:
    """(tokens, raw) of one Karpathy sentence; None when it holds no words."""
    if not isinstance(sent, Mapping):
        raise DataFormatError(f"{path}: {where} is not an object")
    raw, tokens = sent.get("raw"), sent.get("tokens")
    if raw is None and tokens is None:
        raise DataFormatError(f'{path}: {where} has neither "raw" nor "tokens"')
    if raw is not None and not isinstance(raw, str):
        raise DataFormatError(f'{path}: {where} "raw" must be a string')
    if tokens is not None and (
        not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens)
    ):
        raise DataFormatError(f'{path}: {where} "tokens" must be a list of strings')
    words = list(tokens) if tokens else tokenize(raw or "")
    if not words:
        return None
    return words, raw if raw is not None else " ".join(words)


def load_karpathy(
    json_path: str | os.PathLike[str], image_root: str | os.PathLike[str] | None = None
) -> CaptionDataset:
    """Read a Karpathy split file (`dataset_coco.json`, `dataset_flickr8k.json`, ...).

    Image paths are `image_root / filepath / filename` (`filepath` is present in the COCO
    file: "train2014" or "val2014"); `image_root` defaults to the JSON file's folder. The
    images themselves are not opened. Raises `DataFormatError` naming the file and the
    first problem found.
    """
    path = Path(json_path)
    data = _read_json(path)
    if not isinstance(data, Mapping):
        raise DataFormatError(f"{path}: top level must be a JSON object, got {type(data).__name__}")
    images = _list_field(path, data, "images", "the top level")
    name = data.get("dataset")
    if not isinstance(name, str) or not name:
        name = path.stem.removeprefix("dataset_")
    root = Path(image_root) if image_root is not None else path.parent

    items: list[CaptionItem] = []
    seen: set[int] = set()
    for i, img in enumerate(images):
        where = f"images[{i}]"
        if not isinstance(img, Mapping):
            raise DataFormatError(f"{path}: {where} is not an object")
        filename = _str_field(path, img, "filename", where)
        imgid = _int_field(path, img, "imgid", where)
        if imgid in seen:
            raise DataFormatError(f"{path}: {where} repeats imgid {imgid}")
        seen.add(imgid)
        split = img.get("split")
        if split not in _SPLIT_ALIASES:
            raise DataFormatError(
                f"{path}: {where} ({filename}) has unknown split {split!r}; "
                f"expected one of {list(_SPLIT_ALIASES)}"
            )
        sentences = _list_field(path, img, "sentences", f"{where} ({filename})")
        pairs = [
            s
            for j, sent in enumerate(sentences)
            if (s := _karpathy_sentence(path, sent, f"{where}.sentences[{j}]")) is not None
        ]
        if not pairs:
            raise DataFormatError(f"{path}: {where} ({filename}) has no sentences")
        filepath = img.get("filepath")
        if filepath is not None and not isinstance(filepath, str):
            raise DataFormatError(f'{path}: {where} "filepath" must be a string')
        image_path = root / filepath / filename if filepath else root / filename
        items.append(
            CaptionItem(
                image_path=image_path,
                image_id=imgid,
                split=_SPLIT_ALIASES[split],
                captions=[p[0] for p in pairs],
                raw=[p[1] for p in pairs],
            )
        )
    return CaptionDataset(name=name, image_root=root, items=items)


def load_coco_captions(
    annotations_json: str | os.PathLike[str],
    image_root: str | os.PathLike[str],
    split: str = "train",
) -> CaptionDataset:
    """Read a COCO captions file (`captions_train2014.json` layout).

    Uses `images: [{id, file_name}]` and `annotations: [{image_id, caption}]`; captions are
    tokenised with `tokenize`, kept in annotation order, and every item gets `split`.
    Raises `DataFormatError` naming the file and the first problem found.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {list(SPLITS)}")
    path = Path(annotations_json)
    data = _read_json(path)
    if not isinstance(data, Mapping):
        raise DataFormatError(f"{path}: top level must be a JSON object, got {type(data).__name__}")
    images = _list_field(path, data, "images", "the top level")
    annotations = _list_field(path, data, "annotations", "the top level")
    root = Path(image_root)

    files: dict[int, str] = {}
    for i, img in enumerate(images):
        where = f"images[{i}]"
        if not isinstance(img, Mapping):
            raise DataFormatError(f"{path}: {where} is not an object")
        image_id = _int_field(path, img, "id", where)
        if image_id in files:
            raise DataFormatError(f"{path}: {where} repeats image id {image_id}")
        files[image_id] = _str_field(path, img, "file_name", where)

    raw: dict[int, list[str]] = {image_id: [] for image_id in files}
    for i, ann in enumerate(annotations):
        where = f"annotations[{i}]"
        if not isinstance(ann, Mapping):
            raise DataFormatError(f"{path}: {where} is not an object")
        image_id = _int_field(path, ann, "image_id", where)
        if image_id not in raw:
            raise DataFormatError(f"{path}: {where} refers to unknown image_id {image_id}")
        caption = ann.get("caption")
        if not isinstance(caption, str):
            raise DataFormatError(f'{path}: {where} "caption" must be a string, got {caption!r}')
        if tokenize(caption):
            raw[image_id].append(caption)

    items: list[CaptionItem] = []
    for image_id, file_name in files.items():
        if not raw[image_id]:
            raise DataFormatError(f"{path}: image {image_id} ({file_name}) has no captions")
        items.append(
            CaptionItem(
                image_path=root / file_name,
                image_id=image_id,
                split=split,
                captions=[tokenize(c) for c in raw[image_id]],
                raw=[c.strip() for c in raw[image_id]],
            )
        )
    return CaptionDataset(name="coco", image_root=root, items=items)


class Vocab:
    """Word <-> id table with fixed special ids: <pad>=0, <start>=1, <end>=2, <unk>=3.

    Stored as JSON (`{"type", "version", "itos", ...ids}`), never pickle, so that apps in
    any language can read it beside the ONNX file.
    """

    PAD, START, END, UNK = "<pad>", "<start>", "<end>", "<unk>"
    SPECIALS: tuple[str, ...] = (PAD, START, END, UNK)
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
        return 0

    @property
    def start_id(self) -> int:
        return 1

    @property
    def end_id(self) -> int:
        return 2

    @property
    def unk_id(self) -> int:
        return 3

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
        data = _read_json(p)
        try:
            return cls.from_json(data)
        except DataFormatError as exc:
            raise DataFormatError(f"{p}: {exc}") from exc
