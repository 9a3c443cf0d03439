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


def test_stream_refuses_a_chunk_out_of_range(capsys: pytest.CaptureFixture[str]) -> None:
    for bad in ("0", "-5", "inf", "nan", "1e12"):
        assert main(["stream", str(SPEECH / "stream.wav"), "--chunk-ms", bad]) == 2
        line = _one_clean_line(capsys.readouterr().err)
        assert f"--chunk-ms must be from 0 to 600000 ms, got {float(bad):g}" in line


def test_classify_points_long_recordings_to_stream(capsys: pytest.CaptureFixture[str]) -> None:
    short = SPEECH / "yes_f5ff9db1.wav"
    assert main(["classify", str(short)]) == 0
    assert "lstm-apps stream" not in capsys.readouterr().out
    assert main(["classify", str(SPEECH / "stream.wav"), str(short)]) == 0
    out = capsys.readouterr().out
    assert "stream.wav: longer than a clip" in out and "`lstm-apps stream`" in out


def test_caption_names_the_bad_option(capsys: pytest.CaptureFixture[str]) -> None:
    image = str(ROOT / "samples" / "images" / "scene1.png")
    for flag, value, message in (
        ("--beam", "0", "beam_size must be an int from 1 to 32, got 0"),
        ("--beam", "1000000000", "beam_size must be an int from 1 to 32, got 1000000000"),
        ("--attention-png", "/proc/forbidden", "cannot write the attention picture"),
    ):
        assert main(["caption", image, flag, value]) == 2
        assert message in _one_clean_line(capsys.readouterr().err)


def _one_clean_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lstm-apps: error: "), err
    assert "Traceback" not in err
    return lines[0]


def test_a_bad_caption_setting_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "R"
    code = main(["train", "caption", "--data", str(tmp_path / "D"), "--out", str(out),
                 "--image-size", "8"])  # fmt: skip
    assert code == 2
    assert "image_size must be >= 16, got 8" in _one_clean_line(capsys.readouterr().err)
    assert not out.exists()  # refused before anything was written


def test_a_bad_speech_setting_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["train", "speech", "--data", str(tmp_path / "D"), "--out", str(tmp_path / "R")]
    assert main([*args, "--dropout", "1.5"]) == 2
    assert "dropout must be in [0, 1), got 1.5" in _one_clean_line(capsys.readouterr().err)
    assert main([*args, "--epochs", "0"]) == 2
    line = _one_clean_line(capsys.readouterr().err)
    assert "SpeechTrainConfig.epochs must be > 0, got 0" in line


def test_config_errors_are_value_errors_that_name_the_setting() -> None:
    from lstm_apps.nn.speech import SpeechConfig
    from lstm_apps.runtime.errors import ConfigError
    from lstm_apps.train.speech import SpeechTrainConfig
    from lstm_apps.train.speech_augment import AugmentConfig

    with pytest.raises(ConfigError, match="noise_prob must be in \\[0, 1\\], got 2"):
        AugmentConfig(noise_prob=2)
    with pytest.raises(ValueError, match="hidden_size must be positive"):
        SpeechTrainConfig(model=SpeechConfig(hidden_size=0))
    off = AugmentConfig.off()
    assert off.noise_prob == off.babble_prob == off.prefix_prob == 0
    assert off.speed == off.warp == (1.0, 1.0) and off.time_masks == off.freq_masks == 0


class _Called(Exception):
    """Raised by a stand-in library function once it has recorded its arguments."""


_RELEASE_CALLS = [
    ("lstm_apps.data.speech_synth", "generate_speech_commands"),
    ("lstm_apps.data.flite", "generate_flite"),
    ("lstm_apps.data.shapes", "generate_shapes"),
    ("lstm_apps.train.speech", "train_speech"),
    ("lstm_apps.train.caption", "train_caption"),
    ("lstm_apps.eval.tune", "tune_detector"),
    ("lstm_apps.eval.prior", "tune_prior"),
    ("lstm_apps.eval.speech", "evaluate_speech"),
    ("lstm_apps.eval.stream", "evaluate_stream"),
    ("lstm_apps.onnx.runs", "export_speech_run"),
    ("lstm_apps.onnx.runs", "export_caption_run"),
    ("lstm_apps.eval.caption", "evaluate_caption"),
    ("lstm_apps.onnx.caption_int8", "add_int8_captions"),
    ("lstm_apps.onnx.caption_confidence", "calibrate_caption"),
]


@pytest.mark.parametrize("kind", ["speech", "caption"])
@pytest.mark.parametrize("quick", [True, False])
def test_each_release_step_makes_the_call_its_command_makes(
    kind: str, quick: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """release calls the library itself but quotes (and compares) an `lstm-apps` command:
    the CLI given that command must make the same call, settings and provenance alike."""
    import importlib
    import inspect
    import os

    from lstm_apps.release import plan

    calls: list[tuple[str, dict[str, object]]] = []
    for module_name, name in _RELEASE_CALLS:
        module = importlib.import_module(module_name)
        real = getattr(module, name)

        def record(*args: object, _real: object = real, **kwargs: object) -> None:
            bound = inspect.signature(_real).bind(*args, **kwargs)  # type: ignore[arg-type]
            bound.apply_defaults()
            plain = {
                k: os.fspath(v) if isinstance(v, Path) else v for k, v in bound.arguments.items()
            }
            calls.append((_real.__qualname__, plain))  # type: ignore[attr-defined]
            raise _Called

        monkeypatch.setattr(module, name, record)
    steps = plan(kind, tmp_path / "work", tmp_path / "out", quick=quick)
    assert len(steps) == (10 if kind == "speech" else 8)
    for step in steps:
        with pytest.raises(_Called):
            main(step.argv)
        with pytest.raises(_Called):
            step.run()
        (cli_func, cli_args), (release_func, release_args) = calls[-2:]
        assert (release_func, release_args) == (cli_func, cli_args), step.command
        assert release_args["command"] == step.command, step.name
