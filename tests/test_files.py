"""atomic_dir: a folder's path never goes missing, and a killed writer leaves nothing behind."""

from __future__ import annotations

import os
import shutil
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


def test_a_live_writers_folder_is_left_alone_and_a_dead_ones_is_not(tmp_path: Path) -> None:
    target = tmp_path / "bundle"
    code = textwrap.dedent(
        """
        import sys, time
        from pathlib import Path
        from lstm_apps.runtime.files import atomic_dir
        with atomic_dir(Path(sys.argv[1])) as tmp:
            (tmp / "model.txt").write_text("slow")
            print("ready", flush=True)
            time.sleep(60)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE)
    assert child.stdout is not None and child.stdout.readline().strip() == b"ready"
    live = [n for n in _siblings(target) if n.endswith(".tmp")]
    assert len(live) == 1
    recover_dir(target)  # another process, another pid namespace for all it knows
    assert [n for n in _siblings(target) if n.endswith(".tmp")] == live  # held: kept
    child.kill()
    child.wait()
    recover_dir(target)
    assert _siblings(target) == []  # nobody holds it now: removed


def test_an_unlocked_leftover_with_our_own_pid_is_reaped(tmp_path: Path) -> None:
    # a restarted container's entrypoint is pid 1 again: the pid in a name proves nothing
    target = tmp_path / "bundle"
    _write(target, "old")
    stale = tmp_path / f".bundle.{os.getpid()}.abcd.old"
    (stale / "x").mkdir(parents=True)
    shutil.rmtree(target)  # as if killed between the two renames of a swap
    (stale / "x" / "model.txt").write_text("old")
    recover_dir(target)
    assert (target / "model.txt").read_text() == "old"
    assert _siblings(target) == ["bundle"]


def test_names_are_matched_exactly_not_as_patterns(tmp_path: Path) -> None:
    other = tmp_path / ".ab.999934.zzzz.old"  # another path's old folder
    (other / "x").mkdir(parents=True)
    (other / "x" / "data").write_text("precious")
    recover_dir(tmp_path / "a[b]")
    assert (other / "x" / "data").read_text() == "precious"
    assert not (tmp_path / "a[b]").exists()


def test_a_failed_second_rename_puts_the_old_folder_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "bundle"
    _write(target, "old")
    monkeypatch.setattr(files, "_exchange", lambda a, b: False)
    real = os.rename
    failed: list[object] = []

    def rename(src: object, dst: object) -> None:
        if Path(str(dst)) == target and str(src).endswith(".tmp") and not failed:
            failed.append(src)  # the new folder's move into place: fails once
            raise OSError(28, "No space left on device")
        real(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(files.os, "rename", rename)
    with pytest.raises(OSError, match="No space"):
        _write(target, "new")
    monkeypatch.setattr(files.os, "rename", real)
    assert (target / "model.txt").read_text() == "old"


def test_replaces_refuses_a_folder_that_is_not_a_bundle(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    (runs / "speech").mkdir(parents=True)
    (runs / "speech" / "metrics.json").write_text("{}")
    with (
        pytest.raises(FileExistsError, match=r"has no config\.json"),
        atomic_dir(runs, replaces="config.json") as tmp,
    ):
        (tmp / "config.json").write_text("{}")
    assert (runs / "speech" / "metrics.json").is_file()  # the user's runs are untouched
    (tmp_path / "empty").mkdir()
    with atomic_dir(tmp_path / "empty", replaces="config.json") as tmp:
        (tmp / "config.json").write_text("{}")
    assert (tmp_path / "empty" / "config.json").is_file()
