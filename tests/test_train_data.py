"""Training on real-looking data: a Karpathy set of photos of every size and mode trains,
evaluates and exports; loaders are deterministic with any number of workers; the resized
cache changes nothing but speed; precision and device options work or fail clearly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lstm_apps.cli import main
from lstm_apps.data.captions import Vocab
from lstm_apps.data.shapes import generate_shapes
from lstm_apps.data.speech_synth import generate_speech_commands
from lstm_apps.data.speech_transform import TransformConfig
from lstm_apps.runtime.caption import Captioner
from lstm_apps.runtime.image import load_image
from lstm_apps.train.caption_data import (
    Augment,
    CaptionTrainSet,
    EpochPlan,
    ImageCache,
    ImageSource,
    fit_image,
    split_items,
)
from lstm_apps.train.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow

CAPTION = ["--epochs", "2", "--batch-size", "8", "--image-size", "32", "--hidden", "32",
           "--cut", "layer1", "--grid", "4", "--threads", "1",
           "--backbone", "resnet18"]  # fmt: skip
SPEECH = ["--epochs", "2", "--batch-size", "16", "--hidden", "16", "--layers", "1",
          "--threads", "1"]  # fmt: skip


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run / "last").model.state_dict()


def _equal(a: Path, b: Path) -> bool:
    wa, wb = _weights(a), _weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def _varied(src: Path, out: Path) -> Path:
    """The shapes set re-saved as photos are: 180x120 to 640x480, JPEG and PNG, grey,
    CMYK, 16-bit grey, palette, and EXIF-rotated; the Karpathy file names the new files."""
    rng = np.random.default_rng(0)
    spec = json.loads((src / "dataset_shapes.json").read_text())
    (out / "images").mkdir(parents=True)
    modes = ["RGB", "L", "CMYK", "I;16", "P", "exif", "RGBA"]
    for k, img in enumerate(spec["images"]):
        path = src / img.get("filepath", "") / img["filename"]
        w, h = int(rng.integers(180, 641)), int(rng.integers(120, 481))
        im = Image.open(path).convert("RGB").resize((w, h))
        mode = modes[k % len(modes)]
        jpeg = mode in ("CMYK", "exif") or (mode in ("RGB", "L") and k % 2 == 0)
        name = f"{k:03d}.{'jpg' if jpeg else 'png'}"
        if mode == "exif":  # stored on its side; the EXIF orientation turns it upright
            exif = Image.Exif()
            exif[0x0112] = 6
            im.transpose(Image.Transpose.ROTATE_90).save(out / "images" / name, exif=exif)
        elif mode == "I;16":
            grey = np.asarray(im.convert("L"), np.uint16) * 257
            Image.fromarray(grey).save(out / "images" / name)
        else:
            im.convert(mode).save(out / "images" / name)
        img["filepath"], img["filename"] = "images", name
    (out / "dataset_shapes.json").write_text(json.dumps(spec))
    return out


@pytest.fixture(scope="module")
def varied(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("varied")
    generate_shapes(root / "shapes", count=40, progress=False, workers=1)
    return _varied(root / "shapes", root / "photos")


def test_images_of_every_size_and_mode_train_evaluate_export(varied: Path, tmp_path: Path) -> None:
    sizes = {Image.open(p).size for p in (varied / "images").iterdir()}
    modes = {Image.open(p).mode for p in (varied / "images").iterdir()}
    assert len(sizes) > 30 and {"L", "CMYK", "I;16", "P", "RGBA"} <= modes
    run, bundle = tmp_path / "run", tmp_path / "bundle"
    assert main(["train", "caption", "--data", str(varied), "--out", str(run), *CAPTION]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n_test"] == len(split_items(varied, "test")) > 0
    assert main(["eval", "caption", str(run), "--beam", "2"]) == 0
    assert main(["export", "caption", str(run), str(bundle), "--parity-images", "4"]) == 0
    cap = Captioner.from_dir(bundle)
    photos = sorted((varied / "images").iterdir())[:6]
    captions = cap.caption([str(p) for p in photos])
    assert len(captions) == 6 and all(isinstance(c.text, str) for c in captions)
    # the loader's resize is the encoder's, so training saw what the runtime will see
    item = split_items(varied, "train")[0]
    fitted = fit_image(load_image(item.image_path), 32)
    assert fitted.shape == (32, 32, 3) and fitted.dtype == np.uint8


def test_exif_rotation_is_applied_before_the_resize(varied: Path) -> None:
    item = next(it for it in split_items(varied, "train") if "exif" not in it.image_path.name)
    rotated = [
        it for it in split_items(varied, "train") + split_items(varied, "val")
        if Image.open(it.image_path).getexif().get(0x0112) == 6
    ]  # fmt: skip
    assert rotated and item
    stored = Image.open(rotated[0].image_path).size
    upright = load_image(rotated[0].image_path).shape
    assert (upright[1], upright[0]) == (stored[1], stored[0])  # width and height swap


def test_caption_workers_and_cache_change_nothing(varied: Path, tmp_path: Path) -> None:
    base = ["train", "caption", "--data", str(varied), *CAPTION, "--dropout", "0"]
    runs = {
        "plain": ["--workers", "0", "--cache", "never"],
        "workers": ["--workers", "2", "--cache", "never"],
        "cache": ["--workers", "0", "--cache", "always"],
    }
    for name, extra in runs.items():
        assert main([*base, "--out", str(tmp_path / name), *extra]) == 0
    assert _equal(tmp_path / "plain", tmp_path / "workers")
    cached = sorted(p.name for p in (tmp_path / "cache" / "cache").iterdir())
    assert cached == ["train-32px.json", "train-32px.u8", "val-32px.json", "val-32px.u8"]
    # the cache serves exactly the examples decoding does, for every plan of an epoch...
    items = split_items(varied, "train")
    store = ImageCache(tmp_path / "cache" / "cache", "train-32px", items, 32)
    assert store.ready()
    vocab = Vocab.load(tmp_path / "plain" / "vocab.json")
    plain, cache = (
        CaptionTrainSet(ImageSource(items, 32, c), vocab, Augment()) for c in (None, store)
    )
    plan = EpochPlan.draw(np.random.default_rng(0), [2] * len(items), 4, 8, Augment(refs="all"))
    for step in plan.steps:
        for p in step:
            (a, ta), (b, tb) = plain[p], cache[p]
            assert ta == tb and np.array_equal(a, b), p
    # ...so the runs agree but for float summation order: the main process does no torch
    # work while loading from the cache, which moves allocations and SIMD alignment
    h1, h2 = (json.loads((tmp_path / r / "history.jsonl").read_text().splitlines()[-1])
              for r in ("plain", "cache"))  # fmt: skip
    assert h1["train_loss"] == pytest.approx(h2["train_loss"], rel=1e-5)
    wa, wb = _weights(tmp_path / "plain"), _weights(tmp_path / "cache")
    assert max(float((wa[k] - wb[k]).abs().max()) for k in wa) < 1e-3
    # a changed image invalidates the cache
    Image.new("RGB", (200, 150), (9, 9, 9)).save(items[0].image_path)
    assert not store.ready()


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("speech") / "data"
    generate_speech_commands(
        out, speakers=16, repeats=1, noise_seconds=2, progress=False, words=("yes", "no"),
        extra_words=("cat",), extra_per_speaker=1, transforms=TransformConfig.off(),
    )  # fmt: skip
    return out


def test_speech_workers_change_nothing(speech: Path, tmp_path: Path) -> None:
    base = ["train", "speech", "--data", str(speech), *SPEECH]
    for workers in ("0", "2"):
        assert main([*base, "--out", str(tmp_path / workers), "--workers", workers]) == 0
    assert _equal(tmp_path / "0", tmp_path / "2")


def test_bf16_trains_and_saves_fp32(speech: Path, tmp_path: Path) -> None:
    run, ref = tmp_path / "run", tmp_path / "fp32"
    argv = ["train", "speech", "--data", str(speech), *SPEECH]
    assert main([*argv, "--out", str(run), "--precision", "bf16"]) == 0
    history = [json.loads(x) for x in (run / "history.jsonl").read_text().splitlines()]
    assert all(np.isfinite(h["train_loss"]) for h in history)
    weights = _weights(run)
    assert all(w.dtype == torch.float32 for w in weights.values() if w.is_floating_point())
    # and differs from fp32: autocast really ran
    assert main([*argv, "--out", str(ref)]) == 0
    assert not _equal(run, ref)


def test_fp16_step_unscales_before_clipping() -> None:
    """The GradScaler path (fp16 on a GPU): the loss is scaled for backward, unscaled
    before clipping, so the step equals the plain fp32 step."""
    from lstm_apps.train.engine import Engine

    torch.manual_seed(0)
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    runs = []
    for scaled in (False, True):
        model = torch.nn.Linear(4, 1)
        model.load_state_dict({"weight": torch.ones(1, 4), "bias": torch.zeros(1)})
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        engine = Engine()
        engine.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**12, enabled=scaled)
        loss = torch.nn.functional.mse_loss(model(x), y)
        engine.step(loss, opt, list(model.parameters()), clip=0.5)
        runs.append(model.weight.detach().clone())
        assert engine.scaler.is_enabled() == scaled
    torch.testing.assert_close(runs[0], runs[1])
    assert not torch.equal(runs[0], torch.ones(1, 4))


def test_missing_device_is_one_line(
    speech: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    argv = ["train", "speech", "--data", str(speech), "--out", str(tmp_path / "r"), *SPEECH]
    assert main([*argv, "--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no CUDA device" in err
    assert main([*argv, "--precision", "fp16"]) == 2
    assert "use bf16 on the CPU" in capsys.readouterr().err
    assert not (tmp_path / "r" / "last").exists()


def test_eval_takes_device_and_precision(
    speech: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    argv = ["train", "speech", "--data", str(speech), "--out", str(run), *SPEECH]
    assert main(argv) == 0
    for precision in ("fp32", "bf16"):
        out = tmp_path / precision
        ev = ["eval", "speech", str(run), "--data", str(speech), "--out", str(out)]
        assert main([*ev, "--precision", precision, "--device", "cpu"]) == 0
    reports = [
        json.loads(next((tmp_path / p).glob("*.json")).read_text()) for p in ("fp32", "bf16")
    ]
    assert reports[0]["n"] == reports[1]["n"] > 0
    assert abs(reports[0]["accuracy"] - reports[1]["accuracy"]) <= 0.1
    # a bundle runs in onnxruntime: a torch device makes no sense for it
    bundle = Path(__file__).resolve().parents[1] / "export" / "speech"
    capsys.readouterr()
    assert main(["eval", "speech", str(bundle), "--data", str(speech), "--device", "cuda"]) == 2
    assert "is a bundle" in capsys.readouterr().err
