"""atomic_dir: a folder's path never goes missing, and a killed writer leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lstm_apps.runtime import files
from lstm_apps.runtime.files import atomic_dir, recover_dir


def _write(path: Path, text: str) -> None:
    with atomic_dir(path) as tmp:
        (tmp / "model.txt").write_text(text)


def _siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir())


def test_replace_swaps_in_one_step_and_cleans_up(tmp_path: Path) -> None:
    target = tmp_path / "bundle"
    _write(target, "old")
    _write(target, "new")
    assert (target / "model.txt").read_text() == "new"
    assert _siblings(target) == ["bundle"]


def test_fallback_without_exchange_gives_the_same_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "_exchange", lambda a, b: False)
    target = tmp_path / "bundle"
    _write(target, "old")
    _write(target, "new")
    assert (target / "model.txt").read_text() == "new"
    assert _siblings(target) == ["bundle"]


_KILLED_BETWEEN_RENAMES = """
import os, signal, sys
from pathlib import Path
from lstm_apps.runtime import files
files._exchange = lambda a, b: False   # the two-rename path, as on a system without it
real = os.rename
def rename(src, dst):
    real(src, dst)
    if str(dst).endswith("/x"):         # the old folder is aside, the new not yet in place
        os.kill(os.getpid(), signal.SIGKILL)
files.os.rename = rename
with files.atomic_dir(Path(sys.argv[1])) as tmp:
    (tmp / "model.txt").write_text("new")
"""


def test_a_kill_between_the_renames_loses_nothing(tmp_path: Path) -> None:
    target = tmp_path / "bundle"
    _write(target, "old")
    r = subprocess.run([sys.executable, "-c", _KILLED_BETWEEN_RENAMES, str(target)], check=False)
    assert r.returncode == -signal.SIGKILL
    assert not target.exists()  # the crash window the exchange closes on Linux
    assert any(n.endswith(".old") for n in _siblings(target))
    recover_dir(target)  # what the next atomic_dir on the path does first
    assert (target / "model.txt").read_text() == "old"
    assert _siblings(target) == ["bundle"]


def test_a_killed_writer_leaves_no_temporary_folder_for_long(tmp_path: Path) -> None:
    target = tmp_path / "bundle"
    _write(target, "old")
    code = textwrap.dedent(
        """
        import os, signal, sys
        from pathlib import Path
        from lstm_apps.runtime.files import atomic_dir
        with atomic_dir(Path(sys.argv[1])) as tmp:
            (tmp / "half.bin").write_bytes(b"x" * 1000)
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    r = subprocess.run([sys.executable, "-c", code, str(target)], check=False)
    assert r.returncode == -signal.SIGKILL
    assert len(_siblings(target)) == 2  # the bundle and the killed writer's .tmp
    _write(target, "new")  # the rerun
    assert _siblings(target) == ["bundle"]
    assert (target / "model.txt").read_text() == "new"


def test_a_live_writers_folder_is_left_alone(tmp_path: Path) -> None:
    target = tmp_path / "bundle"
    mine = tmp_path / f".bundle.{os.getpid()}.abcd.tmp"
    mine.mkdir()
    other = tmp_path / ".bundle.notapid.abcd.tmp"  # not ours: not a writer's name
    other.mkdir()
    recover_dir(target)
    assert mine.exists() and other.exists()
