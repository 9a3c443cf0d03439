"""The runtime's speed paths give the same answers as the checked paths they short-cut."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lstm_apps.data.captions import Vocab
from lstm_apps.nn.caption import CaptionConfig, CaptionModel
from lstm_apps.nn.frontend import FrontendConfig, LogMel
from lstm_apps.onnx.caption import export_caption
from lstm_apps.runtime.caption import Captioner
from lstm_apps.runtime.detect import Detector, DetectorConfig, softmax
from lstm_apps.runtime.errors import InputDTypeError

SPIN = "session.intra_op.allow_spinning"


@pytest.fixture(scope="module")
def caption_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = CaptionConfig(vocab_size=11, image_size=32, feature_dim=8, embed_dim=6,
                        hidden_size=10, attention_dim=7)  # fmt: skip
    vocab = Vocab((*Vocab.SPECIALS, *(f"w{i}" for i in range(7))))
    out = tmp_path_factory.mktemp("caption") / "bundle"
    images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    export_caption(CaptionModel(cfg).eval(), vocab, out, images)
    return out


def _spin(model: object) -> str | None:
    opts = model.session.get_session_options()  # type: ignore[attr-defined]
    try:
        return str(opts.get_session_config_entry(SPIN))
    except RuntimeError:  # not set: onnxruntime's default (spin)
        return None


def test_caption_encoder_workers_sleep_between_captions(caption_bundle: Path) -> None:
    two = Captioner.from_dir(caption_bundle, intra_op_threads=2)
    assert _spin(two.encoder) == "0" and _spin(two.decoder) is None
    one = Captioner.from_dir(caption_bundle, intra_op_threads=1)
    assert _spin(one.encoder) is None  # one thread: no pool, nothing to change
    import onnxruntime

    mine = onnxruntime.SessionOptions()
    mine.add_session_config_entry(SPIN, "1")
    given = Captioner.from_dir(caption_bundle, intra_op_threads=2, session_options=mine)
    assert _spin(given.encoder) == "1"  # the caller's options are theirs
    img = np.random.default_rng(1).integers(0, 256, (3, 40, 48, 3), dtype=np.uint8)
    a = [c.tokens for c in two.caption(list(img), beam_size=3)]
    b = [c.tokens for c in one.caption(list(img), beam_size=3)]
    assert a == b


def test_unchecked_run_and_trusted_push_match_the_checked_ones(caption_bundle: Path) -> None:
    dec = Captioner.from_dir(caption_bundle, intra_op_threads=1).decoder
    rng = np.random.default_rng(0)
    feeds = {"tokens": np.array([1, 5]), "h": rng.standard_normal((1, 2, 10), np.float32),
             "c": rng.standard_normal((1, 2, 10), np.float32),
             "features": rng.standard_normal((2, 16, 8), np.float32),
             "keys": np.random.default_rng(1).standard_normal((2, 16, 7), np.float32)}  # fmt: skip
    checked, unchecked = dec.run(feeds), dec.run(feeds, check=False)
    assert all(np.array_equal(checked[k], unchecked[k]) for k in checked)
    with pytest.raises(InputDTypeError):
        dec.run({**feeds, "tokens": feeds["tokens"].astype(np.int32)})

    labels = ("yes", "no", "up", "_silence_", "_unknown_")
    probs = softmax(rng.standard_normal((300, 5)).astype(np.float32) * 4)
    cfg = DetectorConfig(frame_seconds=0.02, threshold=0.5, min_frames=2)
    a, b = Detector(labels, cfg), Detector(labels, cfg)
    got_a = [d for i in range(0, 300, 7) for d in a.push(probs[i : i + 7])] + a.flush()
    got_b = [d for i in range(0, 300, 5) for d in b.push_trusted(probs[i : i + 5])] + b.flush()
    assert got_a == got_b and len(got_a) > 0


@pytest.mark.parametrize("n_fft, hop", [(640, 320), (512, 128), (400, 160)])
def test_frontend_mel_paths_agree(n_fft: int, hop: int) -> None:
    """The factored DFT (mel over the used bins only) equals power() @ mel_fb and the FFT."""
    fe = LogMel(FrontendConfig(n_fft=n_fft, hop=hop))
    x = torch.randn(2, 8000 + fe.config.context) * 0.3
    want = fe.power(x, fast=True) @ fe.mel_fb
    for got in (fe.mel(x), fe.power(x) @ fe.mel_fb):
        big = want > 1e-3 * want.max()
        assert got.shape == want.shape == (2, 8000 // hop, 40)
        assert ((got - want).abs() / want)[big].max() < 1e-4
    assert fe.factored == (n_fft % hop == 0)
