"""Atomic writes: a file or a directory appears whole at its path, or not at all.

A directory that already exists (a bundle, a checkpoint) is replaced so that its path never
goes missing, even if the process is killed at any instant:
- on Linux, by one `renameat2(RENAME_EXCHANGE)` call, which swaps the new folder and the
  old one in a single step; the old one is then deleted from its temporary name;
- elsewhere, by two renames (old aside to `.NAME.PID.XXXX.old/x`, new into place). A kill
  between them leaves the old folder aside; the next `atomic_dir` on the same path (the
  rerun) puts it back before it starts, so the old folder is never lost.
Temporary folders carry the writer's process id; `atomic_dir` removes those of writers that
are no longer running, so a killed export or training leaves nothing behind for long.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _umask_mode(mode: int) -> int:
    """`mode` less the process umask: what a plain open() or mkdir() would have given."""
    mask = os.umask(0)
    os.umask(mask)
    return mode & ~mask


@contextmanager
def atomic_file(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is renamed onto `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, _umask_mode(0o666))  # mkstemp makes 0600; publish like open() would
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one step (Linux renameat2); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):  # a libc without renameat2 (glibc < 2.28, musl < 1.2.?)
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False  # the kernel or the file system cannot exchange: fall back
    raise OSError(err, f"cannot swap {a} and {b}: {os.strerror(err)}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def _leftovers(path: Path) -> list[tuple[Path, int]]:
    """The temporary folders of writers of `path`: (folder, writer pid)."""
    out = []
    for p in path.parent.glob(f".{path.name}.*"):
        parts = p.name[len(path.name) + 2 :].split(".")  # PID.XXXX.tmp / PID.XXXX.old
        if len(parts) == 3 and parts[0].isdigit() and parts[2] in ("tmp", "old") and p.is_dir():
            out.append((p, int(parts[0])))
    return out


def recover_dir(path: str | os.PathLike[str]) -> None:
    """Finish what a killed `atomic_dir` on `path` left: put an old folder that was set
    aside back if `path` is missing, and remove the temporary folders of dead writers."""
    path = Path(path)
    dead = [(p, pid) for p, pid in _leftovers(path) if pid != os.getpid() and not _alive(pid)]
    for p, _ in sorted(dead, key=lambda t: t[0].stat().st_mtime, reverse=True):
        if p.suffix == ".old" and (p / "x").is_dir() and not path.exists():
            os.rename(p / "x", path)  # the newest old folder of a swap that never finished
    for p, _ in dead:
        shutil.rmtree(p, ignore_errors=True)


@contextmanager
def atomic_dir(path: str | os.PathLike[str], *, replace: bool = True) -> Iterator[Path]:
    """Yield a temporary directory beside `path`; on success it takes `path`'s place.

    With `replace`, an existing directory at `path` is swapped out and removed only after
    the new one is in place; otherwise an existing `path` raises FileExistsError.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    recover_dir(path)
    if path.exists() and not replace:
        raise FileExistsError(f"{path} already exists")
    prefix = f".{path.name}.{os.getpid()}."
    tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, _umask_mode(0o777))  # mkdtemp makes 0700
        for f in tmp.rglob("*"):
            if f.is_file():
                os.chmod(f, _umask_mode(0o666))
        if path.exists() and _exchange(tmp, path):
            shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the old folder
        elif path.exists():
            old = Path(tempfile.mkdtemp(prefix=prefix, suffix=".old", dir=path.parent))
            os.rename(path, old / "x")
            os.rename(tmp, path)  # a kill before this line: recover_dir puts old/x back
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
