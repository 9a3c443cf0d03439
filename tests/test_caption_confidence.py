"""Caption confidence (runtime/confidence.py, onnx/caption_confidence.py), the out-of-domain
images, and `eval caption`'s breakdown (eval/caption.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lstm_apps.cli import main
from lstm_apps.data.shapes import generate_shapes
from lstm_apps.data.shapes_ood import OOD_KINDS, ood_image, ood_images
from lstm_apps.eval.caption import background_spread, caption_breakdown, evaluate_caption
from lstm_apps.onnx.caption_confidence import auroc, calibrate_caption, fit_logistic
from lstm_apps.runtime.caption import Captioner
from lstm_apps.runtime.confidence import CONFIDENCE_JSON, CaptionCalibration
from lstm_apps.runtime.errors import InputError, ModelFileError
from lstm_apps.runtime.search import SearchOptions, beam_search, greedy_search

ROOT = Path(__file__).resolve().parent.parent
CAPTION = ROOT / "export" / "caption"


def test_auroc_is_the_pairwise_win_rate_with_ties_half() -> None:
    rng = np.random.default_rng(0)
    pos, neg = rng.integers(0, 5, 40).astype(float), rng.integers(0, 4, 30).astype(float)
    pairs = (pos[:, None] > neg[None]).mean() + 0.5 * (pos[:, None] == neg[None]).mean()
    assert auroc(pos, neg) == pytest.approx(pairs)
    assert auroc([1.0, 2.0], [0.0]) == 1.0 and auroc([0.0], [1.0, 2.0]) == 0.0
    assert np.isnan(auroc([], [1.0]))


def test_fit_logistic_finds_the_separating_direction() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 3))
    y = (x[:, 0] - 0.5 * x[:, 2] + 0.3 * rng.normal(size=400) > 0).astype(float)
    w, b = fit_logistic(x, y)
    assert w[0] > 0 and w[2] < 0 and abs(w[1]) < 0.3 * w[0]
    p = 1 / (1 + np.exp(-(x @ w + b)))
    assert ((p > 0.5) == (y > 0.5)).mean() > 0.9


def _calibration(dim: int = 4) -> CaptionCalibration:
    return CaptionCalibration(
        mean=np.zeros(dim), whiten=np.eye(dim), center=np.zeros(3), scale=np.ones(3),
        weights=np.array([1.0, 1.0, -1.0]), bias=0.5, info={"made": "test"},
    )  # fmt: skip


def test_calibration_round_trip_and_formula() -> None:
    """The contract's formula (export/README.md), written out with a non-symmetric whitening
    and non-trivial centring: z = whiten @ (mean over cells - mean)."""
    rng = np.random.default_rng(3)
    dim = 4
    cal = CaptionCalibration(
        mean=rng.normal(size=dim), whiten=np.triu(rng.normal(size=(dim, dim))) + 2 * np.eye(dim),
        center=np.array([-1.0, -0.5, 0.2]), scale=np.array([2.0, 0.5, 1.5]),
        weights=np.array([0.7, 1.3, -0.9]), bias=0.25, info={"made": "test"},
    )  # fmt: skip
    again = CaptionCalibration.from_json(json.loads(json.dumps(cal.to_json())))
    feats = rng.normal(size=(6, dim))
    lps = np.log([0.9, 0.8, 0.95])
    got = again.confidence(lps, True, feats)
    f = feats.mean(0) - cal.mean
    z = np.array([sum(cal.whiten[i, d] * f[d] for d in range(dim)) for i in range(dim)])
    x = np.array([lps.sum(), lps.min(), np.log(np.mean(z * z) + 1e-12)])
    u = float(np.sum(cal.weights * (x - cal.center) / cal.scale) + cal.bias)
    assert got == pytest.approx(1 / (1 + np.exp(-u)), rel=1e-12)
    assert again.confidence(lps, False, feats) == 0.0  # never reached <end>
    plain = _calibration()
    near = plain.confidence(lps, True, feats)
    far = plain.confidence(lps, True, feats * 100)  # further from the training mean
    assert 0 <= far < near <= 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "other"}, "format"),
        ({"features": ["logprob"]}, "features"),
        ({"whiten": [[1.0, 0.0]]}, "whiten"),
        ({"scale": [1.0, 0.0, 1.0]}, "scale"),
        ({"weights": [1.0, float("nan"), 1.0]}, "weights"),
        ({"bias": "high"}, "bias"),
        ({"bias": True}, "bias"),
        ({"features": 5}, "features"),
        ({"mean": 5}, "mean"),
        ({"info": "ab"}, "info"),
    ],
)
def test_calibration_refuses_bad_files(change: dict[str, object], message: str) -> None:
    obj = {**_calibration().to_json(), **change}
    with pytest.raises(ModelFileError, match=message):
        CaptionCalibration.from_json(obj)


def _toy_step(tokens: np.ndarray, state: object) -> tuple[np.ndarray, object, np.ndarray]:
    """A 5-word model whose next-word distribution depends on the previous word."""
    table = np.log(np.array([
        [0.1, 0.1, 0.2, 0.3, 0.3], [0.05, 0.05, 0.1, 0.5, 0.3], [0.2, 0.2, 0.2, 0.2, 0.2],
        [0.05, 0.05, 0.6, 0.2, 0.1], [0.1, 0.1, 0.3, 0.2, 0.3],
    ]))  # fmt: skip
    return table[tokens].astype(np.float32), state, np.full((len(tokens), 2), 0.5, np.float32)


def test_hypotheses_carry_each_tokens_logprob() -> None:
    from lstm_apps.runtime.search import ArrayState

    table = _toy_step(np.arange(5), None)[0].astype(np.float64)  # row: previous word
    state = ArrayState((np.zeros((1, 3, 2), np.float32),), (np.zeros((3, 2, 2), np.float32),), (1,))
    for max_len in (6, 1):  # 1: unfinished captions (greedy: none reaches <end>)
        opts = SearchOptions(beam_size=3, max_len=max_len, start_id=1, end_id=2)
        found = [[[h] for h in greedy_search(_toy_step, state, opts)],
                 beam_search(_toy_step, state, opts)]  # fmt: skip
        for h in (h for hyps in found for per_image in hyps for h in per_image):
            said = [*h.tokens, *([2] if h.finished else [])]
            want = [table[prev, tok] for prev, tok in zip([1, *said], said, strict=False)]
            np.testing.assert_allclose(h.token_logprobs, want, rtol=0, atol=1e-12)
            assert h.token_logprobs.sum() == pytest.approx(h.logprob, abs=1e-9)
        assert max_len == 6 or not any(h.finished for p in found[0] for h in p)


def test_out_of_domain_images_are_deterministic_and_cover_every_kind() -> None:
    images, kinds = ood_images(2 * len(OOD_KINDS), seed=5)
    assert images.shape == (14, 128, 128, 3) and images.dtype == np.uint8
    assert set(kinds) == set(OOD_KINDS)
    again, kind = ood_image(5, 3)
    assert kind == kinds[3] and np.array_equal(again, images[3])
    assert not np.array_equal(ood_image(6, 3)[0], images[3])


def test_background_spread_reads_the_border() -> None:
    img = np.zeros((128, 128, 3), np.uint8)
    img[:] = (80, 20, 50)
    img[10:100, 10:100] = (255, 255, 255)  # an object inside the margin does not count
    assert background_spread(img) == pytest.approx(60.0)


def test_caption_breakdown_counts_confusions_and_errors() -> None:
    refs = [
        "a small red circle",
        "a small red circle to the left of a large blue star",
        "a large green square",
        "a small white triangle above a small red star",
    ]
    hyps = ["a large red circle", "a large blue star to the right of a small red circle",
            "a large green square to the left of a small red star",
            "a small white star below a small red star"]  # fmt: skip
    images = np.zeros((4, 128, 128, 3), np.uint8)
    images[0] = (90, 10, 10)  # spread 80
    r = caption_breakdown([h.split() for h in hyps], [x.split() for x in refs], images)
    assert r["content_accuracy"] == 0.25
    assert r["by_spread"][">= 60"] == {"n": 1, "accuracy": 0.0}
    assert r["by_spread"]["< 30"] == {"n": 3, "accuracy": pytest.approx(1 / 3)}
    assert r["errors"]["size small -> large"] == 1
    assert r["errors"]["1 object(s) -> 2"] == 1
    assert r["errors"]["relation"] == 1 and r["errors"]["shape triangle -> star"] == 1
    size = np.array(r["confusion"]["size"]["counts"])
    assert size.sum() == 5 and size[0, 1] == 1  # five matched objects, one small called large
    assert r["object_counts"] == [[1, 1], [0, 2]]


# ------------------------------------------------------------- the shipped bundle


@pytest.fixture(scope="module")
def cap() -> Captioner:
    return Captioner.from_dir(CAPTION, intra_op_threads=1)


def test_shipped_bundle_is_calibrated_and_doubts_what_it_never_saw(cap: Captioner) -> None:
    assert cap.calibration is not None
    info = cap.calibration.info
    assert info["test"]["auroc_in_vs_out"] >= 0.95  # the target, as recorded by the fit
    scenes = sorted((ROOT / "samples" / "images").glob("scene*"))
    inside = [c.confidence for c in cap.caption(scenes)]
    blank = [np.full((128, 128, 3), v, np.uint8) for v in (0, 255)]
    noise = np.random.default_rng(0).integers(0, 256, (128, 128, 3)).astype(np.uint8)
    outside = [c.confidence for c in cap.caption([*blank, noise, ood_image(9, 3)[0]])]
    assert all(c is not None and 0 <= c <= 1 for c in inside + outside)
    assert np.median(inside) > 0.5 and max(outside) < 0.5  # type: ignore[type-var]
    marked = cap.caption([scenes[0], blank[1]], min_confidence=0.5)
    assert [c.rejected for c in marked] == [marked[0].confidence < 0.5, True]  # type: ignore[operator]


def test_min_confidence_is_checked(cap: Captioner, tmp_path: Path) -> None:
    image = np.zeros((64, 64, 3), np.uint8)
    for bad in (-0.1, 1.5, "high", True, float("nan")):
        with pytest.raises(InputError, match="min_confidence"):
            cap.caption(image, min_confidence=bad)  # type: ignore[arg-type]
    plain = tmp_path / "plain"
    shutil.copytree(CAPTION, plain)
    (plain / CONFIDENCE_JSON).unlink()
    from lstm_apps.runtime.manifest import read_config, write_config

    write_config(plain, {k: v for k, v in read_config(plain).items() if k != "files"})
    uncal = Captioner.from_dir(plain, intra_op_threads=1)
    assert uncal.calibration is None and uncal.caption(image)[0].confidence is None
    with pytest.raises(InputError, match="calibrated bundle"):
        uncal.caption(image, min_confidence=0.5)


def test_a_confidence_json_not_listed_or_broken_is_refused(tmp_path: Path) -> None:
    from lstm_apps.runtime.manifest import read_config

    broken = tmp_path / "b"
    shutil.copytree(CAPTION, broken)
    (broken / CONFIDENCE_JSON).write_text("{}")
    with pytest.raises(ModelFileError, match=r"sha256|differs|digest"):
        Captioner.from_dir(broken)
    with pytest.raises(ModelFileError, match="confidence"):
        Captioner.from_dir(broken, verify=False)
    slipped = tmp_path / "s"  # a confidence.json put beside a bundle that does not list it
    shutil.copytree(CAPTION, slipped)
    config = read_config(slipped)
    del config["files"][CONFIDENCE_JSON]
    (slipped / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match=r"confidence\.json"):
        Captioner.from_dir(slipped, verify=False)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("shapes")
    generate_shapes(root / "spec", count=60, seed=4, progress=False)
    held = ["data", "shapes", str(root / "held"), "--count", "12", "--splits", "0,0,1",
            "--seed", "5", "--style", "holdout", "--quiet"]  # fmt: skip
    assert main(held) == 0
    return root / "spec", root / "held"


def test_calibrate_writes_a_valid_bundle_card_and_golden(
    tiny_data: tuple[Path, Path], tmp_path: Path
) -> None:
    bundle = tmp_path / "caption"
    shutil.copytree(CAPTION, bundle)
    r = calibrate_caption(bundle, tiny_data[0], holdout=tiny_data[1], limit=12,
                          train_images=40, ood_count=14, out_dir=tmp_path / "plot")  # fmt: skip
    assert r["fit"] == {"val": 6, "ood": 14, "val_accuracy": r["fit"]["val_accuracy"],
                        "ood_seed": 0}  # fmt: skip
    assert 0 <= r["test"]["auroc_in_vs_out"] <= 1 and r["holdout"]["n"] == 12
    strict = json.loads(
        (bundle / CONFIDENCE_JSON).read_text(),
        parse_constant=lambda c: pytest.fail(f"confidence.json holds {c}: not strict JSON"),
    )
    assert strict["info"]["test"]["n"] == 6 and strict["info"]["holdout"]["n"] == 12
    assert (tmp_path / "plot" / "confidence.png").stat().st_size > 10_000
    cap = Captioner.from_dir(bundle)  # digests re-sealed
    assert cap.calibration is not None and cap.calibration.info["train_images"] == 40
    card = (bundle / "MODEL_CARD.md").read_text()
    assert card.count("## Confidence (confidence.json)") == 1
    manifest = json.loads((bundle / "golden" / "manifest.json").read_text())
    c = cap.caption(bundle / "golden" / "image.png", beam_size=3)[0]
    assert manifest["expect"]["png_beam3"]["confidence"] == pytest.approx(c.confidence, abs=1e-9)
    calibrate_caption(bundle, tiny_data[0], limit=12, train_images=40, ood_count=7)
    assert (bundle / "MODEL_CARD.md").read_text().count("## Confidence") == 1  # replaced


def test_eval_caption_cli_on_a_bundle_writes_report_and_plot(
    tiny_data: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ev"
    assert main(["eval", "caption", str(CAPTION), "--data", str(tiny_data[1]), "--out",
                 str(out), "--beam", "1"]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "by background spread" in printed and "shape (rows true" in printed
    report = json.loads((out / "caption_eval.json").read_text())
    assert report["n"] == 12 and report["beam"] == 1 and "confidence" in report
    assert "--style holdout" in report["data_command"]
    assert (out / "caption_confusion.png").stat().st_size > 10_000
    with pytest.raises(InputError, match="pass --data"):
        evaluate_caption(CAPTION)
    with pytest.raises(InputError, match="neither a caption bundle"):
        evaluate_caption(tmp_path, tiny_data[1])
    with pytest.raises(InputError, match="limit"):
        evaluate_caption(CAPTION, tiny_data[1], limit=0)


def test_calibrate_refuses_bad_arguments(tiny_data: tuple[Path, Path], tmp_path: Path) -> None:
    from lstm_apps.runtime.errors import ConfigError

    for bad in ({"beam": 2.5}, {"beam": True}, {"beam": 40}, {"ood_count": 0},
                {"train_images": 1}, {"limit": 0}):  # fmt: skip
        with pytest.raises(ConfigError, match=next(iter(bad))):
            calibrate_caption(CAPTION, tiny_data[0], **bad)  # type: ignore[arg-type]
