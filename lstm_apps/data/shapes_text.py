"""The words of the shapes data set: captions, paraphrases, parsing and content accuracy.

A scene is described as `a {size} {color} {shape}` or
`a {size} {color} {shape} {relation} a {size} {color} {shape}` (the first object relative
to the second). `parse_caption` reads any of the reference forms back, and
`content_correct` is the DESIGN's content accuracy: objects (size, colour, shape) and
relation match the scene, with either object first and the matching relation.

Works on any scene-like object (`.objects` with `.size/.color/.shape`, and `.relation`),
so it does not import the drawing code; `lstm_apps.data.shapes` re-exports the API.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from lstm_apps.data.captions import tokenize

__all__ = [
    "COLOR_NAMES",
    "INVERSE_RELATION",
    "RELATIONS",
    "SHAPE_NAMES",
    "SIZE_NAMES",
    "ObjectDesc",
    "ParsedCaption",
    "canonical_caption",
    "content_accuracy",
    "content_correct",
    "content_correct_from_reference",
    "describe",
    "parse_caption",
    "references",
]

SIZE_NAMES: tuple[str, ...] = ("small", "large")
COLOR_NAMES: tuple[str, ...] = ("red", "green", "blue", "yellow", "purple", "orange", "white")
SHAPE_NAMES: tuple[str, ...] = ("circle", "square", "triangle", "star")
RELATIONS: tuple[str, ...] = ("to the left of", "to the right of", "above", "below")
INVERSE_RELATION: dict[str, str] = {
    "to the left of": "to the right of",
    "to the right of": "to the left of",
    "above": "below",
    "below": "above",
}
N_REFERENCES = 5

# Paraphrase templates; {a}/{b} are "size color shape", {rel} relates a to b.
_ONE_OBJECT = (
    "there is a {a}",
    "a {a} in the picture",
    "the picture shows a {a}",
    "a single {a}",
    "a {a} on a dark background",
)
_TWO_OBJECTS = (
    "there is a {a} {rel} a {b}",
    "there is a {b} {inv} a {a}",
    "the {a} is {rel} the {b}",
    "the {b} is {inv} the {a}",
)

_NP = r"(?:a single|a|the) ({}) ({}) ({})".format(
    "|".join(SIZE_NAMES), "|".join(COLOR_NAMES), "|".join(SHAPE_NAMES)
)
_REL = r"(?:is )?({})".format("|".join(RELATIONS))
_PREFIX = r"(?:there is |the picture shows )?"
_SUFFIX = r"(?: in the picture| on a dark background)?"
_GRAMMAR = re.compile(rf"{_PREFIX}{_NP}(?: {_REL} {_NP})?{_SUFFIX}")
_SPECIAL_TOKENS = frozenset({"<start>", "<end>", "<pad>"})


class _ObjectLike(Protocol):
    @property
    def size(self) -> str: ...

    @property
    def color(self) -> str: ...

    @property
    def shape(self) -> str: ...


class _SceneLike(Protocol):
    @property
    def objects(self) -> Sequence[_ObjectLike]: ...

    @property
    def relation(self) -> str | None: ...


@dataclass(frozen=True)
class ObjectDesc:
    """What a caption says about one object."""

    size: str
    color: str
    shape: str

    @property
    def text(self) -> str:
        return f"{self.size} {self.color} {self.shape}"


@dataclass(frozen=True)
class ParsedCaption:
    """A caption's content: one or two objects and, for two, the relation of the first."""

    objects: tuple[ObjectDesc, ...]
    relation: str | None = None

    def __post_init__(self) -> None:
        if len(self.objects) not in (1, 2):
            raise ValueError(f"a caption describes 1 or 2 objects, got {len(self.objects)}")
        if (len(self.objects) == 2) != (self.relation is not None):
            raise ValueError("a relation is given exactly when there are two objects")
        if self.relation is not None and self.relation not in RELATIONS:
            raise ValueError(f"unknown relation {self.relation!r}; expected one of {RELATIONS}")

    def matches(self, truth: ParsedCaption) -> bool:
        """True when this describes `truth`, in either object order with the matching relation."""
        if len(self.objects) != len(truth.objects):
            return False
        if len(truth.objects) == 1:
            return self.objects == truth.objects
        assert truth.relation is not None  # guaranteed by __post_init__
        a, b = truth.objects
        return (self.objects, self.relation) in (
            ((a, b), truth.relation),
            ((b, a), INVERSE_RELATION[truth.relation]),
        )


def describe(scene: _SceneLike) -> ParsedCaption:
    """The content of a scene, in the form `parse_caption` returns."""
    objects = tuple(ObjectDesc(o.size, o.color, o.shape) for o in scene.objects)
    return ParsedCaption(objects, scene.relation)


def _caption(content: ParsedCaption) -> str:
    if content.relation is None:
        return f"a {content.objects[0].text}"
    a, b = content.objects
    return f"a {a.text} {content.relation} a {b.text}"


def canonical_caption(scene: _SceneLike) -> str:
    """`a {size} {color} {shape}` [`{relation} a {size} {color} {shape}`]."""
    return _caption(describe(scene))


def references(scene: _SceneLike, rng: np.random.Generator) -> list[str]:
    """Five true descriptions, the canonical caption first.

    Two objects: the canonical, the inverse seen from the second object, and three of four
    paraphrases. One object: the canonical and four of five paraphrases. `rng` picks.
    """
    content = describe(scene)
    refs = [_caption(content)]
    if content.relation is None:
        pool = [t.format(a=content.objects[0].text) for t in _ONE_OBJECT]
    else:
        a, b = content.objects
        inv = INVERSE_RELATION[content.relation]
        refs.append(_caption(ParsedCaption((b, a), inv)))
        pool = [t.format(a=a.text, b=b.text, rel=content.relation, inv=inv) for t in _TWO_OBJECTS]
    picked = rng.choice(len(pool), size=N_REFERENCES - len(refs), replace=False)
    refs.extend(pool[i] for i in sorted(int(i) for i in picked))
    return refs


def _words(tokens_or_text: str | Iterable[str]) -> list[str]:
    if isinstance(tokens_or_text, str):
        return tokenize(tokens_or_text)
    return [str(t).lower() for t in tokens_or_text if t not in _SPECIAL_TOKENS]


def parse_caption(tokens_or_text: str | Iterable[str]) -> ParsedCaption | None:
    """Content of a caption in the shapes grammar, or None when it is not one.

    Accepts text (tokenised with `lstm_apps.data.captions.tokenize`) or tokens (<start>,
    <end> and <pad> are ignored). The grammar covers every reference form: an optional
    "there is" / "the picture shows", one noun phrase ("a", "the" or "a single" + size,
    colour, shape), optionally "[is] {relation}" and a second noun phrase, and an optional
    "in the picture" / "on a dark background". Anything else (unknown or repeated words,
    a missing part) is None.
    """
    m = _GRAMMAR.fullmatch(" ".join(_words(tokens_or_text)))
    if m is None:
        return None
    g = m.groups()
    first = ObjectDesc(g[0], g[1], g[2])
    if g[3] is None:
        return ParsedCaption((first,))
    return ParsedCaption((first, ObjectDesc(g[4], g[5], g[6])), g[3])


def content_correct(caption: str | Iterable[str], scene: _SceneLike) -> bool:
    """DESIGN content accuracy for one caption: objects and relation match the scene.

    Either object may come first (with the relation seen from it); a one-object caption
    is only correct for a one-object scene; an unparsable caption is wrong.
    """
    parsed = parse_caption(caption)
    return parsed is not None and parsed.matches(describe(scene))


def content_correct_from_reference(
    caption: str | Iterable[str], canonical_reference: str | Iterable[str]
) -> bool:
    """`content_correct`, with the scene read back from its canonical (or any) reference.

    Lets accuracy be computed from `dataset_shapes.json` alone. Raises `ValueError` when
    the reference itself is not in the shapes grammar.
    """
    truth = parse_caption(canonical_reference)
    if truth is None:
        raise ValueError(f"reference is not a shapes caption: {canonical_reference!r}")
    parsed = parse_caption(caption)
    return parsed is not None and parsed.matches(truth)


def content_accuracy(
    captions: Sequence[str | Sequence[str]], canonical_references: Sequence[str | Sequence[str]]
) -> float:
    """Fraction of `captions` that are content-correct for their references (same order)."""
    if len(captions) != len(canonical_references):
        raise ValueError(f"{len(captions)} captions but {len(canonical_references)} references")
    if not captions:
        raise ValueError("no captions to score")
    hits = sum(
        content_correct_from_reference(c, r)
        for c, r in zip(captions, canonical_references, strict=True)
    )
    return hits / len(captions)
