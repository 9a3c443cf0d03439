"""Captions end to end on tiny data: train (learns), export (3 graphs), runtime, CLI, errors."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lstm_apps.cli import main
from lstm_apps.data.captions import Vocab
from lstm_apps.data.shapes import generate_shapes
from lstm_apps.nn.caption import CaptionConfig, CaptionModel, generate
from lstm_apps.onnx.caption import export_caption
from lstm_apps.runtime import (
    ImageInputError,
    InputDTypeError,
    InputError,
    InputShapeError,
    ModelFileError,
)
from lstm_apps.runtime.caption import Captioner
from lstm_apps.runtime.image import load_image
from lstm_apps.runtime.session import OnnxModel
from lstm_apps.train.caption import CaptionTrainConfig, load_caption_split, train_caption
from lstm_apps.train.caption_data import Augment, CaptionTrainSet, ImageSource
from lstm_apps.train.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow

TINY = CaptionTrainConfig(
    epochs=20,
    batch_size=16,
    lr=3e-3,
    warmup_steps=5,
    refs="first",
    jpeg=0.0,
    alpha_c=0.02,
    threads=1,  # 2 OpenMP threads on a busy 2-core machine spin and crawl
    model=CaptionConfig(
        vocab_size=4, cut="layer1", image_size=32, grid=4, feature_dim=32, embed_dim=16,
        hidden_size=48, attention_dim=32, dropout=0.0,
    ),
)  # fmt: skip


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("shapes") / "data"
    generate_shapes(out, count=160, progress=False, workers=1)
    return out


@pytest.fixture(scope="module")
def run(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("caprun")
    train_caption(data, out, TINY, log=lambda s: None)
    return out


@pytest.fixture(scope="module")
def bundle(run: Path, data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("capbundle") / "caption"
    model = load_checkpoint(run / "best").model
    test = load_caption_split(data, "test")
    metrics = json.loads((run / "metrics.json").read_text())
    export_caption(model, Vocab.load(run / "vocab.json"), out, test.images[:8], metrics=metrics)  # type: ignore[arg-type]
    return out


def test_tiny_training_learns(run: Path) -> None:
    m = json.loads((run / "metrics.json").read_text())
    first, last = m["history"][0], m["history"][-1]
    assert last["train_loss"] < 0.7 * first["train_loss"], m["history"]
    assert last["token_accuracy"] > 0.6
    # 128 training images are too few for content, but the captions are already made of
    # the right words in the right places (an untrained model scores ~0 here)
    assert m["test"]["beam1"]["bleu1"] > 0.3
    assert {"beam1", "beam3"} <= set(m["test"])


def test_mirrors_swap_the_words_that_change(data: Path) -> None:
    train = load_caption_split(data, "train")
    vocab = Vocab.build([c for caps in train.captions for c in caps])
    i = next(k for k, caps in enumerate(train.captions) if "left" in caps[0])
    data = CaptionTrainSet(ImageSource(train.items, 128), vocab, Augment())
    image, ids = data[(i, 0, True, False, 0)]  # (index, reference, hflip, vflip, JPEG)
    assert vocab.decode(ids) == ["right" if w == "left" else w for w in train.captions[i][0]]
    np.testing.assert_array_equal(image, train.images[i][:, ::-1])


def test_bundle_files_and_greedy_graph(bundle: Path, data: Path) -> None:
    names = {p.name for p in bundle.iterdir()}
    assert names == {
        "encoder.onnx", "decoder.onnx", "greedy.onnx", "vocab.json", "config.json",
        "MODEL_CARD.md", "checkpoint", "golden",
    }  # fmt: skip
    g = OnnxModel(bundle / "greedy.onnx")
    assert g.metadata["kind"] == "caption_greedy" and "vocab" in g.metadata
    cap = Captioner.from_dir(bundle)
    test = load_caption_split(data, "test")
    x = test.images[:4]
    out = g.run({"images": x})
    greedy = cap.caption(list(x), beam_size=1)
    for row, c in zip(out["tokens"], greedy, strict=True):
        words = [cap.itos[t] for t in row if t not in (0, cap.spec.vocab.end_id)]
        assert words == c.tokens
    assert out["alphas"].shape[:2] == out["tokens"].shape
    np.testing.assert_allclose(out["alphas"].sum(-1), 1.0, atol=1e-5)


def test_captioner_takes_any_image_form(bundle: Path, data: Path, tmp_path: Path) -> None:
    cap = Captioner.from_dir(bundle, intra_op_threads=1)
    test = load_caption_split(data, "test")
    path = test.items[0].image_path
    rgb = np.asarray(Image.open(path).convert("RGB"))
    pil = Image.fromarray(rgb)
    forms = [str(path), pil, rgb, pil.convert("RGBA"), rgb.astype(np.uint16) * 257,
             rgb.astype(np.float32) / 255.0]  # fmt: skip
    caps = cap.caption(forms, beam_size=3)
    assert len({c.text for c in caps}) == 1, [c.text for c in caps]
    c = caps[0]
    assert c.attention.shape == (len(c.tokens), cap.spec.grid, cap.spec.grid)
    np.testing.assert_allclose(c.attention.sum((1, 2)), 1.0, atol=1e-5)
    # other modes and sizes run and give a caption
    for mode in ("L", "P", "CMYK", "I;16", "LA"):
        im = (
            pil.convert(mode)
            if mode != "I;16"
            else Image.fromarray(rgb[:, :, 0].astype(np.uint16) * 257)
        )
        assert load_image(im).shape == (*rgb.shape[:2], 3)
    mixed = cap.caption([rgb, np.asarray(pil.resize((200, 150))), rgb], beam_size=1)
    assert mixed[0].text == mixed[2].text and mixed[0].text
    # max_len cuts greedy decoding short: the first two words of the full caption,
    # unfinished, scored by those two words alone
    full = cap.caption(rgb, beam_size=1)[0]
    short = cap.caption(rgb, beam_size=1, max_len=2)[0]
    assert full.finished and len(full.tokens) > 2, full
    assert short.tokens == full.tokens[:2] and short.finished is False
    three = cap.caption(rgb, beam_size=1, max_len=3)[0]
    assert three.tokens == full.tokens[:3] and three.score < short.score < 0


def test_bad_images_raise_typed_errors(bundle: Path, tmp_path: Path) -> None:
    cap = Captioner.from_dir(bundle)
    good = tmp_path / "good.png"
    Image.new("RGB", (64, 64), "red").save(good)
    truncated = tmp_path / "trunc.png"
    truncated.write_bytes(good.read_bytes()[:60])
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    text = tmp_path / "notes.png"
    text.write_text("not an image at all")
    bomb = tmp_path / "bomb.png"
    Image.new("1", (9000, 5000)).save(bomb)  # 45 MP, a few kB on disk
    cases = [
        (tmp_path / "missing.png", ImageInputError, "no such file"),
        (empty, ImageInputError, "empty"),
        (truncated, ImageInputError, "cannot decode|not an image"),
        (text, ImageInputError, "not an image"),
        (bomb, ImageInputError, "over the limit"),
        (np.zeros((0, 5, 3), np.uint8), ImageInputError, "no pixels"),
        (np.zeros((4, 4, 3), bool), InputDTypeError, "bool"),
        (np.zeros((2, 4, 4, 3), np.uint8), InputShapeError, "shape"),
        (np.full((4, 4, 3), np.nan, np.float32), ImageInputError, "NaN"),
        (np.full((4, 4, 3), 3.0, np.float32), ImageInputError, r"\[0, 1\]"),
        (["a", "list"], InputDTypeError, "expected a path"),
    ]
    for src, err, match in cases:
        with pytest.raises(err, match=match):
            cap.caption([src])  # type: ignore[list-item]
    with pytest.raises(ImageInputError, match="no images"):
        cap.caption([])
    for bad in ({"beam_size": 0}, {"max_len": 0}, {"length_penalty": -1.0}):
        with pytest.raises(InputError, match=next(iter(bad))):
            cap.caption([good], **bad)  # type: ignore[arg-type]
    with pytest.raises(ModelFileError, match="not found"):
        Captioner.from_dir(tmp_path / "nowhere")


def test_cli_caption_with_attention_png(bundle: Path, data: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    img = str(load_caption_split(data, "test").items[0].image_path)
    assert main(["caption", img, "--model", str(bundle), "--attention-png", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    pngs = list(tmp_path.glob("*_attention.png"))
    assert len(pngs) == 1 and Image.open(pngs[0]).size[0] > 160 and "attention ->" in out
    assert main(["caption", str(tmp_path / "nope.png"), "--model", str(bundle)]) == 2
    assert "nope.png" in capsys.readouterr().err


def test_checkpoint_rebuilds_caption_model(run: Path, bundle: Path, data: Path) -> None:
    """The run's best/ and the bundle's checkpoint/ rebuild the same model: equal logits,
    and the torch greedy tokens are the ones greedy.onnx gives."""
    a, b = (load_checkpoint(p).model.eval() for p in (run / "best", bundle / "checkpoint"))
    assert isinstance(a, CaptionModel) and isinstance(b, CaptionModel)
    assert a.config == b.config
    x = load_caption_split(data, "test").images[:4]
    vocab = Vocab.load(bundle / "vocab.json")
    captions = torch.tensor([vocab.encode(["a", "small", "red", "circle"])] * 4)
    with torch.no_grad():
        la, aa = a(torch.from_numpy(x), captions)
        lb, ab = b(torch.from_numpy(x), captions)
    assert torch.equal(la, lb) and torch.equal(aa, ab) and la.abs().max() > 0
    got = [vocab.decode(h.tokens) for h in generate(b, torch.from_numpy(x))]
    ort = OnnxModel(bundle / "greedy.onnx").run({"images": x})["tokens"]
    assert got == [vocab.decode(row) for row in ort]
    assert all(len(words) >= 2 for words in got)


def test_interrupted_caption_training_resumes_to_the_same_weights(
    data: Path, tmp_path: Path
) -> None:
    cfg = replace(TINY, epochs=3)
    train_caption(data, tmp_path / "whole", cfg, log=lambda s: None)

    def interrupt(line: str) -> None:
        if line.startswith("epoch   2"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_caption(data, tmp_path / "cut", cfg, log=interrupt)
    seen: list[str] = []
    train_caption(data, tmp_path / "cut", cfg, log=seen.append)
    assert any("resuming" in s and "epoch 2" in s for s in seen)
    a = load_checkpoint(tmp_path / "whole" / "last").model.state_dict()
    b = load_checkpoint(tmp_path / "cut" / "last").model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    hist = [json.loads(x) for x in (tmp_path / "cut" / "history.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in hist] == [1, 2, 3]


def test_int8_graphs_are_added_only_when_they_keep_the_accuracy(
    bundle: Path, data: Path, tmp_path: Path
) -> None:
    import shutil

    from lstm_apps.onnx.caption_int8 import INT8_FILES, add_int8_captions
    from lstm_apps.runtime.errors import ModelFileError, ParityError

    copy = tmp_path / "caption"
    shutil.copytree(bundle, copy)
    with pytest.raises(ModelFileError, match=r"no int8 graphs.*quantize caption"):
        Captioner.from_dir(copy, int8=True)
    before = {p.name: p.read_bytes() for p in copy.iterdir() if p.is_file()}
    with pytest.raises(ParityError, match="nothing written"):  # any drop is too much here
        add_int8_captions(copy, data, limit=8, max_drop=-1.0)
    assert {p.name: p.read_bytes() for p in copy.iterdir() if p.is_file()} == before
    r = add_int8_captions(copy, data, limit=8, max_drop=1.0, command="pytest")
    assert r["n"] == 8 and set(r["fp32"]) == set(r["int8"]) == {1, 3}
    cap = Captioner.from_dir(copy, int8=True)  # verified: config.json lists the new files
    assert cap.quantized and not Captioner.from_dir(copy).quantized
    assert all(f in read_config_files(copy) for f in INT8_FILES.values())
    assert "## int8 graphs" in (copy / "MODEL_CARD.md").read_text()
    images = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(
        (data / "images").glob("*.png"))[:3]]  # fmt: skip
    alone = [cap.caption(im)[0].text for im in images]
    assert [c.text for c in cap.caption(images)] == alone  # one image per call: independent


def read_config_files(folder: Path) -> dict[str, str]:
    return json.loads((folder / "config.json").read_text())["files"]
