"""`lstm-apps demo` in the source checkout: every part runs and the stream is accounted for."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lstm_apps.cli import main
from lstm_apps.runtime.speech import SpeechClassifier

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_demo_accounts_for_every_command_in_the_stream(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "could not run" not in out, out
    stream = out[out.index("streaming stream.wav") :]
    truth = json.loads((ROOT / "samples" / "speech" / "stream.json").read_text())
    labels = SpeechClassifier.default().labels
    commands = [t for t in truth if t["word"] in labels]
    detected, total = map(int, re.search(r"(\d+) of (\d+) commands detected", stream).groups())
    assert total == len(commands)
    assert detected + stream.count("MISS") == total  # each command either heard or named
    assert len(list((tmp_path / "attention").glob("*.png"))) == 6
    assert (tmp_path / "core").is_dir()


def test_demo_without_samples_says_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--samples", str(tmp_path / "none"), "--out", str(tmp_path)]) == 1
    assert "pass --samples DIR" in capsys.readouterr().err
