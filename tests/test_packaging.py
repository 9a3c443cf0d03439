"""`pip install .` alone (no torch) ships the bundles and runs the demo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from setuptools import find_namespace_packages

if sys.version_info >= (3, 11):
    import tomllib
else:  # the dev extra installs tomli on 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def _pyproject() -> dict:  # type: ignore[type-arg]
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_package_list_names_every_package_and_the_bundles() -> None:
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    code = {p for p in find_namespace_packages(str(ROOT), include=["lstm_apps*"])}
    code = {p for p in code if "__pycache__" not in p}
    assert code <= listed, f"packages missing from pyproject.toml: {sorted(code - listed)}"
    bundles = {f"lstm_apps.models.{p.name}" for p in (ROOT / "export").iterdir() if p.is_dir()}
    assert bundles <= listed, f"bundles not shipped: {sorted(bundles - listed)}"
    for name in listed:  # a listed folder that is missing breaks `pip install .`
        folder = _source_folder(name)
        assert folder.is_dir(), f"pyproject.toml lists {name}, but {folder} does not exist"


def _source_folder(package: str) -> Path:
    """Where a package's files come from (pyproject maps lstm_apps.models to export/)."""
    if package.split(".")[:2] == ["lstm_apps", "models"]:
        return ROOT / "export" / "/".join(package.split(".")[2:])
    return ROOT / package.replace(".", "/")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(out)],
        check=True,
        capture_output=True,
    )
    (path,) = out.glob("lstm_apps-*.whl")
    return path


@pytest.mark.slow
def test_wheel_holds_every_bundle_file(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for bundle in ("speech", "caption"):
        for f in sorted((ROOT / "export" / bundle).rglob("*")):
            if f.is_file():
                rel = f.relative_to(ROOT / "export").as_posix()
                assert f"lstm_apps/models/{rel}" in names, f"{rel} is not in the wheel"
    assert "lstm_apps/models/README.md" in names


@pytest.mark.slow
def test_base_install_runs_the_demo_without_torch(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    pip = subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)],
        capture_output=True,
        text=True,
    )
    assert pip.returncode == 0, pip.stderr[-2000:]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    no_torch = subprocess.run([str(py), "-c", "import torch"], capture_output=True, env=env)
    assert no_torch.returncode != 0, "the base install must not bring torch"

    where = subprocess.run(
        [str(py), "-c", "from lstm_apps.runtime.session import default_bundle as d; "
         "print(d('speech')); print(d('caption'))"],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert where.returncode == 0, where.stderr
    site = str(venv)
    assert all(line.startswith(site) for line in where.stdout.split()), where.stdout

    demo = subprocess.run(
        [str(venv / "bin" / "lstm-apps"), "demo", "--samples", str(ROOT / "samples"),
         "--out", str(tmp_path / "out")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    out = demo.stdout
    assert "could not run" not in out, out
    assert "skipped: torch is not installed" in out, out
    attention = sorted((tmp_path / "out" / "attention").glob("*.png"))
    truth = json.loads((ROOT / "samples" / "images" / "truth.json").read_text())
    assert [p.stem for p in attention] == sorted(Path(name).stem for name in truth)
    assert "commands detected" in out and "faster than real time" in out, out
