"""The `lstm-apps` command as a user meets it: help, messages, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from lstm_apps.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent
SPEECH = ROOT / "samples" / "speech"


def test_help_shows_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "caption", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: 15)" in text and "(default: 64)" in text
    assert "(default: None)" not in text


def test_stream_refuses_a_non_positive_chunk(capsys: pytest.CaptureFixture[str]) -> None:
    for bad in ("0", "-5"):
        assert main(["stream", str(SPEECH / "stream.wav"), "--chunk-ms", bad]) == 2
        assert "--chunk-ms must be positive" in capsys.readouterr().err


def test_classify_points_long_recordings_to_stream(capsys: pytest.CaptureFixture[str]) -> None:
    short = SPEECH / "yes_f5ff9db1.wav"
    assert main(["classify", str(short)]) == 0
    assert "lstm-apps stream" not in capsys.readouterr().out
    assert main(["classify", str(SPEECH / "stream.wav"), str(short)]) == 0
    out = capsys.readouterr().out
    assert "stream.wav: longer than a clip" in out and "`lstm-apps stream`" in out


def test_caption_names_the_bad_option(capsys: pytest.CaptureFixture[str]) -> None:
    image = str(ROOT / "samples" / "images" / "scene1.png")
    assert main(["caption", image, "--beam", "0"]) == 2
    assert "beam_size must be >= 1, got 0" in capsys.readouterr().err
