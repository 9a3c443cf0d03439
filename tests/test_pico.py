"""SVOX Pico from the py-nanotts wheel (data/pico.py) as a third training synthesizer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lstm_apps.data import pico
from lstm_apps.runtime.errors import ConfigError, InputError


def test_synthesize_left() -> None:
    left = pico.synthesize("left", "en-GB")
    assert left.dtype == np.float32 and left.ndim == 1 and np.isfinite(left).all()
    assert 0.3 < len(left) / pico.SAMPLE_RATE < 1.5
    assert 0.05 < np.abs(left).max() < 1.0  # speech, not silence, and not clipped
    fast = pico.synthesize("left", "en-GB", speed=2.0)
    assert len(fast) < 0.7 * len(left)
    high = pico.synthesize("left", "en-GB", pitch=2.0)
    assert not np.array_equal(high[: len(left)], left[: len(high)])


_ORDER = """
import hashlib, sys
import numpy as np
from lstm_apps.data import pico
items = [("left", "en-US", 1.1, 0.9), ("stop!", "en-GB", 0.7, 1.5), ("yes", "en-US", 1.6, 0.6),
         ("on?", "en-GB", 1.0, 1.0), ("down", "en-US", 0.8, 1.3)] * 2
order = np.random.default_rng(int(sys.argv[1])).permutation(len(items))
out = {int(i): hashlib.sha1(pico.synthesize(items[i][0], items[i][1], speed=items[i][2],
       pitch=items[i][3]).tobytes()).hexdigest() for i in order}
print(" ".join(out[i] for i in range(len(items))))
"""


def test_a_clip_does_not_depend_on_what_was_said_before() -> None:
    """The library reads its arena before writing it; without the fixed mmap threshold
    10 of 30 clips changed with the order they were made in."""
    runs = [
        subprocess.run(
            [sys.executable, "-c", _ORDER, str(seed)], capture_output=True, text=True,
            check=True,
        ).stdout.split()
        for seed in (0, 1, 2)
    ]  # fmt: skip
    assert len(runs[0]) == 10 and runs[0] == runs[1] == runs[2]
    assert runs[0][:5] == runs[0][5:]  # said twice in one process: the same bytes


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"text": ""}, "text"),
        ({"text": "hi", "voice": "de-DE"}, "voice"),
        ({"text": "hi", "speed": 0.1}, "speed"),
        ({"text": "hi", "pitch": float("nan")}, "pitch"),
    ],
)
def test_bad_arguments_name_the_value(kwargs: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        pico.synthesize(**kwargs)


def test_pico_speakers_in_a_generated_set(tmp_path: Path) -> None:
    from lstm_apps.data.speech_commands import read_wav
    from lstm_apps.data.speech_synth import generate_speech_commands, pico_speakers

    speakers = pico_speakers(6, seed=0)
    assert len({s.id for s in speakers}) == 6 and all(s.engine == "pico" for s in speakers)
    assert speakers == pico_speakers(6, seed=0) != pico_speakers(6, seed=1)
    for s in speakers:
        pitch, speed = s.pitch_speed
        assert s.voice in pico.VOICES and 0.6 <= pitch <= 1.6 and 0.8 <= speed <= 1.25
    kwargs = dict(
        words=("yes", "go"), repeats=1, noise_seconds=0.5, progress=False, workers=1, seed=3
    )
    r = generate_speech_commands(tmp_path / "p", speakers=0, pico=2, **kwargs)
    assert r.n_speakers == 2 and r.n_files == 4
    both = generate_speech_commands(tmp_path / "b", speakers=1, pico=2, **kwargs)
    assert both.n_speakers == 3
    for clip in (tmp_path / "p").glob("*/*.wav"):  # a Pico clip is the same in either set
        audio = read_wav(clip)
        assert np.abs(audio).max() > 0.02
        np.testing.assert_array_equal(read_wav(tmp_path / "b" / clip.parent.name / clip.name),
                                      audio)  # fmt: skip
    settings = json.loads((tmp_path / "p" / "generator.json").read_text())["settings"]
    assert settings["pico"] == 2 and settings["speakers"] == 0
    assert "2 Pico speakers" in (tmp_path / "p" / "README.md").read_text()
    with pytest.raises(ConfigError, match="nobody would speak"):
        generate_speech_commands(tmp_path / "n", speakers=0, **kwargs)
    with pytest.raises(ConfigError, match="pico"):
        generate_speech_commands(tmp_path / "m", speakers=1, pico=-1, **kwargs)
