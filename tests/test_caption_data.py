"""Caption data: Karpathy and COCO loaders, the vocabulary, and the shapes generator."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lstm_apps.data import shapes as S
from lstm_apps.data import shapes_scene
from lstm_apps.data.captions import (
    CaptionDataset,
    Vocab,
    load_coco_captions,
    load_karpathy,
    tokenize,
)
from lstm_apps.runtime.errors import DataFormatError

# ---------------------------------------------------------------- Karpathy and COCO loaders


def _sent(raw: str, **extra: object) -> dict[str, object]:
    return {"raw": raw, "tokens": tokenize(raw), **extra}


def _karpathy_coco() -> dict[str, object]:
    """A small file in the layout of the real dataset_coco.json."""
    return {
        "dataset": "coco",
        "images": [
            {
                "filepath": "train2014",
                "filename": "COCO_train2014_000000000009.jpg",
                "imgid": 0,
                "split": "train",
                "cocoid": 9,
                "sentids": [0, 1],
                "sentences": [
                    _sent("A plate of food, on a table.", imgid=0, sentid=0),
                    _sent("Broccoli and rice in a bowl. ", imgid=0, sentid=1),
                ],
            },
            {
                "filepath": "val2014",
                "filename": "COCO_val2014_000000000042.jpg",
                "imgid": 1,
                "split": "restval",
                "sentences": [{"tokens": ["a", "dog", "runs"]}],
            },
            {
                "filepath": "val2014",
                "filename": "COCO_val2014_000000000073.jpg",
                "imgid": 2,
                "split": "val",
                "sentences": [{"raw": "A man's T-shirt is RED!"}],
            },
            {
                "filepath": "val2014",
                "filename": "COCO_val2014_000000000074.jpg",
                "imgid": 3,
                "split": "test",
                "sentences": [_sent("two cats"), _sent("cats on a sofa")],
            },
        ],
    }


def _write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data) if not isinstance(data, str) else data, encoding="utf-8")
    return path


def test_tokenize_matches_karpathy_convention() -> None:
    assert tokenize("A man's T-shirt,  is RED!\n") == ["a", "mans", "tshirt", "is", "red"]
    assert tokenize("   ") == []


def test_load_karpathy_coco_layout(tmp_path: Path) -> None:
    path = _write(tmp_path / "dataset_coco.json", _karpathy_coco())
    ds = load_karpathy(path)
    assert isinstance(ds, CaptionDataset)
    assert ds.name == "coco" and ds.image_root == tmp_path and len(ds) == 4
    first = ds.items[0]
    assert first.image_path == tmp_path / "train2014" / "COCO_train2014_000000000009.jpg"
    assert first.image_id == 0 and first.split == "train"
    assert first.captions == [
        ["a", "plate", "of", "food", "on", "a", "table"],
        tokenize("Broccoli and rice in a bowl."),
    ]
    assert first.raw[0] == "A plate of food, on a table."
    # restval is training data; tokens-only and raw-only sentences are completed
    assert [i.image_id for i in ds.split("train")] == [0, 1]
    assert ds.items[1].raw == ["a dog runs"]
    assert ds.items[2].captions == [["a", "mans", "tshirt", "is", "red"]]
    assert [i.image_id for i in ds.split("val")] == [2]
    assert [i.image_id for i in ds.split("test")] == [3]
    assert ds.split("restval") == ds.split("train")
    with pytest.raises(ValueError, match="bogus"):
        ds.split("bogus")
    other = load_karpathy(path, image_root=tmp_path / "imgs")
    assert (
        other.items[3].image_path == tmp_path / "imgs" / "val2014" / "COCO_val2014_000000000074.jpg"
    )


def test_load_karpathy_flickr_layout_without_filepath_or_name(tmp_path: Path) -> None:
    data = {
        "images": [
            {"filename": "1000.jpg", "imgid": 7, "split": "test", "sentences": [_sent("a kid")]}
        ]
    }
    ds = load_karpathy(_write(tmp_path / "dataset_flickr8k.json", data), image_root="/imgs")
    assert ds.name == "flickr8k"
    assert ds.items[0].image_path == Path("/imgs/1000.jpg") and ds.items[0].image_id == 7


def _coco_captions() -> dict[str, object]:
    return {
        "info": {},
        "images": [{"id": 42, "file_name": "a.jpg", "width": 640}, {"id": 7, "file_name": "b.jpg"}],
        "annotations": [
            {"id": 1, "image_id": 7, "caption": "A cat on a mat."},
            {"id": 2, "image_id": 42, "caption": "Two dogs, playing"},
            {"id": 3, "image_id": 7, "caption": "a CAT sleeping "},
        ],
    }


def test_load_coco_captions(tmp_path: Path) -> None:
    path = _write(tmp_path / "captions_val2014.json", _coco_captions())
    ds = load_coco_captions(path, tmp_path / "val2014", split="val")
    assert ds.name == "coco" and [i.image_id for i in ds.items] == [42, 7]
    cat = ds.items[1]
    assert cat.image_path == tmp_path / "val2014" / "b.jpg" and cat.split == "val"
    assert cat.captions == [["a", "cat", "on", "a", "mat"], ["a", "cat", "sleeping"]]
    assert cat.raw == ["A cat on a mat.", "a CAT sleeping"]
    assert len(ds.split("val")) == 2 and ds.split("train") == []
    with pytest.raises(ValueError, match="restval"):
        load_coco_captions(path, tmp_path, split="restval")


def _karpathy_broken(kind: str) -> object:
    data = _karpathy_coco()
    img = data["images"][0]  # type: ignore[index]
    if kind == "top_list":
        return [1, 2]
    if kind == "no_images":
        return {"dataset": "coco"}
    if kind == "images_not_list":
        return {"images": {"a": 1}}
    if kind == "no_filename":
        del img["filename"]
    elif kind == "imgid_str":
        img["imgid"] = "0"
    elif kind == "dup_imgid":
        data["images"][1]["imgid"] = 0  # type: ignore[index]
    elif kind == "bad_split":
        img["split"] = "training"
    elif kind == "no_sentences":
        img["sentences"] = []
    elif kind == "empty_sentences":
        img["sentences"] = [{"raw": " . ", "tokens": []}]
    elif kind == "sentence_fields":
        img["sentences"] = [{"sentid": 3}]
    elif kind == "tokens_not_strings":
        img["sentences"] = [{"tokens": ["a", 3]}]
    return data


KARPATHY_ERRORS = {
    "top_list": "JSON object",
    "no_images": '"images"',
    "images_not_list": "must be a list",
    "no_filename": '"filename"',
    "imgid_str": '"imgid"',
    "dup_imgid": "repeats imgid 0",
    "bad_split": "unknown split 'training'",
    "no_sentences": "no sentences",
    "empty_sentences": "no sentences",
    "sentence_fields": 'neither "raw" nor "tokens"',
    "tokens_not_strings": "list of strings",
}


@pytest.mark.parametrize("kind", sorted(KARPATHY_ERRORS))
def test_load_karpathy_errors_name_file_and_problem(tmp_path: Path, kind: str) -> None:
    path = _write(tmp_path / "dataset_bad.json", _karpathy_broken(kind))
    with pytest.raises(DataFormatError) as info:
        load_karpathy(path)
    assert str(path) in str(info.value)
    assert KARPATHY_ERRORS[kind] in str(info.value)
    assert isinstance(info.value, ValueError)


def test_load_karpathy_missing_and_not_json(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(DataFormatError, match=re.escape(f"{missing}: file not found")):
        load_karpathy(missing)
    bad = _write(tmp_path / "dataset_x.json", '{"images": [')
    with pytest.raises(DataFormatError, match=re.escape(f"{bad}: not valid JSON")):
        load_karpathy(bad)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("no_annotations", '"annotations"'),
        ("unknown_image", "unknown image_id 99"),
        ("no_captions", "image 42 (a.jpg) has no captions"),
        ("caption_not_str", '"caption" must be a string'),
        ("no_file_name", '"file_name"'),
        ("dup_id", "repeats image id 42"),
    ],
)
def test_load_coco_captions_errors(tmp_path: Path, kind: str, message: str) -> None:
    data = _coco_captions()
    anns, images = data["annotations"], data["images"]
    if kind == "no_annotations":
        del data["annotations"]
    elif kind == "unknown_image":
        anns.append({"image_id": 99, "caption": "x"})  # type: ignore[attr-defined]
    elif kind == "no_captions":
        anns.pop(1)  # type: ignore[attr-defined]
    elif kind == "caption_not_str":
        anns[0]["caption"] = None  # type: ignore[index]
    elif kind == "no_file_name":
        del images[0]["file_name"]  # type: ignore[index]
    elif kind == "dup_id":
        images[1]["id"] = 42  # type: ignore[index]
    path = _write(tmp_path / "captions_bad.json", data)
    with pytest.raises(DataFormatError) as info:
        load_coco_captions(path, tmp_path)
    assert str(path) in str(info.value) and message in str(info.value)


# ---------------------------------------------------------------- vocabulary


def test_vocab_build_order_min_count_and_specials() -> None:
    lists = [["b", "a", "c"], ["a", "b", "d"], ["a", "<end>"]]
    vocab = Vocab.build(lists)
    assert vocab.itos == ("<pad>", "<start>", "<end>", "<unk>", "a", "b", "c", "d")
    assert (vocab.pad_id, vocab.start_id, vocab.end_id, vocab.unk_id) == (0, 1, 2, 3)
    assert len(vocab) == 8
    assert Vocab.build(lists, min_count=2).itos[4:] == ("a", "b")
    assert Vocab.build(reversed(lists)) == vocab  # order of input does not matter
    with pytest.raises(ValueError, match="min_count"):
        Vocab.build(lists, min_count=0)


def test_vocab_encode_decode() -> None:
    vocab = Vocab.build([["a", "red", "circle"]])
    ids = vocab.encode(["a", "blue", "circle"])
    assert ids == [1, vocab.token_id("a"), 3, vocab.token_id("circle"), 2]
    assert vocab.encode(["a"], add_start_end=False) == [vocab.token_id("a")]
    assert vocab.decode(ids) == ["a", "<unk>", "circle"]
    red = vocab.token_id("red")
    assert vocab.decode(np.array([1, red, 0, red, 2, red, red])) == ["red", "red"]
    with pytest.raises(ValueError, match="out of range"):
        vocab.decode([len(vocab)])


def test_vocab_json_round_trip_and_atomic_save(tmp_path: Path) -> None:
    vocab = Vocab.build([["x", "y", "y"]])
    assert Vocab.from_json(vocab.to_json()) == vocab
    assert Vocab.from_json(json.dumps(vocab.to_json())) == vocab
    path = tmp_path / "sub" / "vocab.json"
    vocab.save(path)
    assert json.loads(path.read_text())["itos"] == ["<pad>", "<start>", "<end>", "<unk>", "y", "x"]
    assert Vocab.load(path) == vocab
    assert [p.name for p in path.parent.iterdir()] == ["vocab.json"]  # no temp file left


def test_vocab_bad_files(tmp_path: Path) -> None:
    bad = _write(tmp_path / "v.json", "not json")
    with pytest.raises(DataFormatError, match=re.escape(str(bad))):
        Vocab.load(bad)
    wrong = _write(tmp_path / "w.json", {"type": "lstm_apps.Vocab", "version": 1, "itos": ["a"]})
    with pytest.raises(DataFormatError, match=re.escape(str(wrong))):
        Vocab.load(wrong)
    with pytest.raises(DataFormatError, match="type"):
        Vocab.from_json({"itos": ["<pad>"]})


# ---------------------------------------------------------------- shapes: scenes and drawing


@pytest.fixture(scope="module")
def scenes() -> list[S.Scene]:
    return [S.sample_scene(np.random.default_rng([123, i])) for i in range(300)]


def test_scene_attributes_follow_the_spec(scenes: list[S.Scene]) -> None:
    counts = {n: 0 for n in (1, 2)}
    for scene in scenes:
        counts[len(scene.objects)] += 1
        for obj in scene.objects:
            lo, hi = {"small": (14, 24), "large": (34, 50)}[obj.size]
            assert lo <= obj.size_px <= hi
            assert abs(obj.rotation) <= 15 and (obj.rotation == 0) == (obj.shape == "circle")
            nominal = np.array(S.PALETTE[obj.color])
            assert np.abs(np.array(obj.fill) - nominal).max() <= 20
            x0, y0, x1, y1 = S.object_extent(obj)
            assert x0 >= 4 and y0 >= 4 and x1 <= 124 and y1 <= 124
    assert counts[1] > 50 and counts[2] > 150
    seen = [{getattr(o, k) for s in scenes for o in s.objects} for k in ("shape", "color", "size")]
    assert seen == [set(S.SHAPE_NAMES), set(S.COLOR_NAMES), set(S.SIZE_NAMES)]
    assert {s.relation for s in scenes if s.relation} == set(S.RELATIONS)
    assert max(abs(o.rotation) for s in scenes for o in s.objects) > 12


def test_two_objects_apart_and_in_a_clear_relation(scenes: list[S.Scene]) -> None:
    for scene in (s for s in scenes if len(s.objects) == 2):
        a, b = scene.objects
        dx, dy = a.x - b.x, a.y - b.y
        expected = {
            "to the left of": dx < 0 and abs(dx) >= 2 * abs(dy),
            "to the right of": dx > 0 and abs(dx) >= 2 * abs(dy),
            "above": dy < 0 and abs(dy) >= 2 * abs(dx),
            "below": dy > 0 and abs(dy) >= 2 * abs(dx),
        }
        assert expected[scene.relation]  # type: ignore[index]
        ca, cb = S.object_coverage(a), S.object_coverage(b)
        assert not np.any((ca > 0) & (cb > 0)), "drawn objects touch"


def test_drawn_objects_stay_inside_margin_and_measure_their_size(scenes: list[S.Scene]) -> None:
    for obj in (o for s in scenes[:100] for o in s.objects):
        cov = S.object_coverage(obj)
        outside = cov.copy()
        outside[4:124, 4:124] = 0
        assert outside.max() <= 0.25 + 1e-6  # at most one 4x sub-pixel of edge bleed
        cols, rows = np.nonzero(cov.sum(0) > 0.5)[0], np.nonzero(cov.sum(1) > 0.5)[0]
        x0, y0, x1, y1 = S.object_extent(obj)
        assert abs((cols[-1] + 1 - cols[0]) - (x1 - x0)) <= 2.0
        assert abs((rows[-1] + 1 - rows[0]) - (y1 - y0)) <= 2.0
    for shape in S.SHAPE_NAMES:  # unrotated, the wider side of the box is size_px
        obj = S.ShapeObject(shape, "red", "large", 64.0, 64.0, 40.0)
        x0, y0, x1, y1 = S.object_extent(obj)
        assert max(x1 - x0, y1 - y0) == pytest.approx(40.0)


def test_rendered_colours_background_and_noise(scenes: list[S.Scene]) -> None:
    residual_stds = []
    for i, scene in enumerate(scenes[:120]):
        img = np.asarray(S.render_scene(scene, np.random.default_rng(i)), dtype=np.float64)
        assert img.shape == (128, 128, 3)
        for obj in scene.objects:
            if obj.size == "large":
                cx, cy = round(obj.x - 0.5), round(obj.y - 0.5)
                patch = img[cy - 2 : cy + 3, cx - 2 : cx + 3].reshape(-1, 3).mean(0)
                assert np.abs(patch - obj.fill).max() <= 8  # 4 sigma of a 25-pixel mean
                assert np.abs(patch - S.PALETTE[obj.color]).max() <= 28
        covered = sum(S.object_coverage(o) for o in scene.objects)
        bg = np.asarray(covered) == 0
        yy, xx = np.nonzero(bg)
        design = np.stack([np.ones_like(xx), xx, yy], axis=1).astype(np.float64)
        for ch in range(3):
            v = img[..., ch][bg]
            coef, *_ = np.linalg.lstsq(design, v, rcond=None)
            assert 0 - 3 <= np.median(v) <= 100 + 3  # dark background
            residual_stds.append(float(np.std(v - design @ coef)))
    # noise sigma <= 10, plus the mild texture (std about TEXTURE_MAX at most)
    assert max(residual_stds) <= float(np.hypot(10.5, 1.5 * shapes_scene.TEXTURE_MAX))
    assert min(residual_stds) < 2 and max(residual_stds) > 6  # noise varies per image


def test_background_covers_the_spec_dark_any_colour_flat_gradient_textured() -> None:
    """The spec allows channels anywhere in 0-100: near-grey and strongly coloured
    backgrounds, flat and gradient, some textured; the holdout style differs."""
    spreads, flat, textured = [], 0, 0
    for i in range(200):
        bg = shapes_scene._background(np.random.default_rng(i))
        assert bg.dtype == np.float32 and bg.min() >= 0 and bg.max() <= 100
        mean = bg.reshape(-1, 3).mean(0)
        spreads.append(float(mean.max() - mean.min()))
        flat += bool(np.ptp(bg, axis=(0, 1)).max() == 0)
        textured += bool(np.abs(np.diff(bg[..., 0], 2, axis=0)).max() > 0.05)  # not linear
    spreads_a = np.array(spreads)
    assert (spreads_a < 30).mean() > 0.25 and (spreads_a >= 60).mean() > 0.1
    assert 40 < flat < 100 and textured > 50
    held = shapes_scene._background(np.random.default_rng(0), "holdout")
    assert held.min() >= 0 and held.max() <= 100
    with pytest.raises(ValueError, match="style"):
        shapes_scene._background(np.random.default_rng(0), "other")


def test_edges_hard_antialiased_and_blurred() -> None:
    obj = S.ShapeObject("star", "red", "large", 64.0, 64.0, 40.0, rotation=7.0)
    soft = S.object_coverage(obj)
    hard = S.object_coverage(obj, "hard")
    blurred = S.object_coverage(obj, blur=1.0)
    assert set(np.unique(hard)) == {0.0, 1.0}
    assert ((soft > 0) & (soft < 1)).sum() > 50
    assert ((blurred > 0.02) & (blurred < 0.98)).sum() > ((soft > 0.02) & (soft < 0.98)).sum()
    assert abs(hard.sum() - soft.sum()) < 0.05 * soft.sum()  # same area, other edges
    with pytest.raises(ValueError, match="edge"):
        S.object_coverage(obj, "jagged")


def test_holdout_style_writes_png_and_jpeg_read_by_the_loader(tmp_path: Path) -> None:
    r = S.generate_shapes(tmp_path / "h", count=24, splits=(0, 0, 1), seed=3, style="holdout",
                          progress=False)  # fmt: skip
    names = [im["filename"] for im in json.loads(r.json_path.read_text())["images"]]
    assert {Path(n).suffix for n in names} == {".png", ".jpg"}
    data = load_karpathy(r.json_path)
    assert len(data) == 24
    assert json.loads((tmp_path / "h" / "generator.json").read_text())["settings"]["style"] == (
        "holdout"
    )
    from lstm_apps.runtime.errors import ConfigError

    with pytest.raises(ConfigError, match="style"):
        S.generate_shapes(tmp_path / "x", count=2, style="fancy", progress=False)


def test_scene_validation() -> None:
    a = S.ShapeObject("circle", "red", "small", 20.0, 64.0, 20.0)
    b = S.ShapeObject("square", "blue", "large", 90.0, 64.0, 40.0, rotation=5.0)
    assert S.Scene((a, b), "to the left of").relation == "to the left of"
    with pytest.raises(ValueError, match="does not hold"):
        S.Scene((a, b), "above")
    with pytest.raises(ValueError, match="size_px"):
        S.ShapeObject("circle", "red", "small", 20.0, 64.0, 30.0)
    with pytest.raises(ValueError, match="rotation"):
        S.ShapeObject("circle", "red", "small", 20.0, 64.0, 20.0, rotation=3.0)
    with pytest.raises(ValueError, match="colour"):
        S.ShapeObject("circle", "pink", "small", 20.0, 64.0, 20.0)


# ---------------------------------------------------------------- shapes: captions


def test_references_parse_and_are_content_correct(scenes: list[S.Scene]) -> None:
    obj = r"a (small|large) (\w+) (circle|square|triangle|star)"
    canonical = re.compile(rf"{obj}( (to the left of|to the right of|above|below) {obj})?")
    words: set[str] = set()
    for i, scene in enumerate(scenes):
        refs = S.references(scene, np.random.default_rng(i))
        assert len(refs) == 5 and len(set(refs)) == 5
        assert refs[0] == S.canonical_caption(scene) and canonical.fullmatch(refs[0])
        for ref in refs:
            assert S.parse_caption(ref) is not None, ref
            assert S.content_correct(ref, scene), ref
            assert S.content_correct_from_reference(ref, refs[0]), ref
            words.update(ref.split())
        if len(scene.objects) == 2:
            a, b = scene.objects
            inverse = S.INVERSE_RELATION[scene.relation]  # type: ignore[index]
            assert (
                refs[1]
                == f"a {b.size} {b.color} {b.shape} {inverse} a {a.size} {a.color} {a.shape}"
            )
    assert len(words) == 30


def test_content_correct_rejects_wrong_captions() -> None:
    a = S.ShapeObject("circle", "red", "small", 64.0, 20.0, 20.0)
    b = S.ShapeObject("star", "blue", "large", 64.0, 90.0, 40.0)
    scene = S.Scene((a, b), "above")
    assert S.canonical_caption(scene) == "a small red circle above a large blue star"
    good = [
        "a small red circle above a large blue star",
        "A large blue star below a small red circle.",
        [
            "<start>",
            "the",
            "large",
            "blue",
            "star",
            "is",
            "below",
            "the",
            "small",
            "red",
            "circle",
            "<end>",
        ],
    ]
    bad = [
        "a small green circle above a large blue star",  # colour
        "a small red square above a large blue star",  # shape
        "a large red circle above a large blue star",  # size
        "a small red circle below a large blue star",  # relation
        "a small red circle to the left of a large blue star",  # relation
        "a large blue star above a small red circle",  # swapped, relation not inverted
        "a small red circle",  # one object for a two-object scene
        "a small red circle above a large blue star star",  # not a sentence
        "a small red circle above",
        "",
    ]
    for caption in good:
        assert S.content_correct(caption, scene), caption
    for caption in bad:
        assert not S.content_correct(caption, scene), caption
        assert not S.content_correct_from_reference(caption, S.canonical_caption(scene)), caption
    single = S.Scene((a,))
    assert S.content_correct("there is a small red circle", single)
    assert not S.content_correct("a small red circle above a large blue star", single)
    assert (
        S.content_accuracy(["a small red circle", "a small red star"], ["a small red circle"] * 2)
        == 0.5
    )
    with pytest.raises(ValueError, match="not a shapes caption"):
        S.content_correct_from_reference("a small red circle", "a dog")


# ---------------------------------------------------------------- shapes: the generator


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_generator_writes_karpathy_layout_read_back_by_loader(tmp_path: Path) -> None:
    out = tmp_path / "shapes"
    report = S.generate_shapes(out, count=20, seed=5, progress=False, workers=1)
    assert report.split_counts == {"train": 16, "val": 2, "test": 2} and report.count == 20
    data = json.loads((out / "dataset_shapes.json").read_text())
    assert data["dataset"] == "shapes" and len(data["images"]) == 20
    for i, img in enumerate(data["images"]):
        assert set(img) == {"filename", "imgid", "split", "sentences", "sentids", "filepath"}
        assert img["imgid"] == i and img["filepath"] == "images"
        assert img["sentids"] == list(range(5 * i, 5 * i + 5))
        sent = img["sentences"]
        assert [s["sentid"] for s in sent] == img["sentids"] and {s["imgid"] for s in sent} == {i}
        assert all(s["tokens"] == s["raw"].split() for s in sent)
        scene = S.sample_scene(np.random.default_rng([5, i]))
        assert sent[0]["raw"] == S.canonical_caption(scene)  # canonical first, seeded per image
        with Image.open(out / "images" / img["filename"]) as im:
            assert im.size == (128, 128) and im.mode == "RGB"
    ds = load_karpathy(out / "dataset_shapes.json")
    assert ds.name == "shapes" and len(ds.split("train")) == 16 and len(ds.split("test")) == 2
    assert all(item.image_path.is_file() for item in ds.items)
    glue = "a the to left right of above below there is in picture shows single on dark background"
    assert set(report.words) == {*S.SIZE_NAMES, *S.COLOR_NAMES, *S.SHAPE_NAMES, *glue.split(" ")}


def test_generator_is_deterministic_and_independent_of_workers(tmp_path: Path) -> None:
    runs = [
        S.generate_shapes(tmp_path / name, count=24, seed=1, progress=False, workers=workers)
        for name, workers in (("a", 1), ("b", 1), ("c", 2))
    ]
    trees = [_tree(r.out_dir) for r in runs]
    assert len(trees[0]) == 26 and trees[0] == trees[1] == trees[2]  # + two JSON files
    other = S.generate_shapes(tmp_path / "d", count=24, seed=2, progress=False, workers=1)
    assert _tree(other.out_dir) != trees[0]


def test_generator_refuses_existing_output_and_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("x")
    with pytest.raises(S.OutputExistsError, match="not an empty folder"):
        S.generate_shapes(full, count=2, progress=False)
    assert [p.name for p in full.iterdir()] == ["keep.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    S.generate_shapes(empty, count=2, progress=False, image_format="jpg")
    assert sorted(p.name for p in (empty / "images").iterdir()) == [
        "shapes_000000.jpg",
        "shapes_000001.jpg",
    ]

    def boom(task: tuple[int, int, str, str]) -> list[str]:
        if task[1] == 3:
            raise RuntimeError("disk on fire")
        return real(task)

    real = S._make_image
    monkeypatch.setattr(S, "_make_image", boom)
    with pytest.raises(RuntimeError, match="disk on fire"):
        S.generate_shapes(tmp_path / "broken", count=6, progress=False, workers=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "full"]  # no partial output


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"count": 0}, "count"),
        ({"splits": (0.5, 0.6, 0.1)}, "splits"),
        ({"image_format": "gif"}, "gif"),
    ],
)
def test_generator_argument_errors(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        S.generate_shapes(tmp_path / "x", progress=False, **kwargs)  # type: ignore[arg-type]
    assert not (tmp_path / "x").exists()
