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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lstm_apps.runtime.errors import DataFormatError
from lstm_apps.runtime.vocab import Vocab

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
