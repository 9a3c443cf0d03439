"""Atomic writes: a file or a directory appears whole at its path, or not at all.

A directory that already exists (a bundle, a checkpoint) is replaced so that its path never
goes missing, even if the process is killed at any instant:
- on Linux, by one `renameat2(RENAME_EXCHANGE)` call, which swaps the new folder and the
  old one in a single step; the old one is then deleted from its temporary name;
- elsewhere, by two renames (old aside to `.NAME.PID.XXXX.old/x`, new into place). A kill
  between them leaves the old folder aside; the next `atomic_dir` on the same path (the
  rerun) puts it back before it starts, so the old folder is never lost.
Each writer holds an flock on its temporary folders while it runs; `atomic_dir` (and
`recover_dir`) removes the folders nobody holds, so a killed export or training leaves
nothing behind once the path is written again. The lock, not the process id in the name,
decides: it works across containers sharing a volume and after a restart reuses a pid.
Without flock (Windows) nothing is reaped or recovered automatically. Nothing is fsynced:
the guarantee is against a killed process, not against power loss.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock, so nothing is ever reaped
    fcntl = None  # type: ignore[assignment]

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


def _lock(folder: Path) -> int | None:
    """Hold an exclusive flock on `folder` itself for as long as the fd stays open: how
    other processes (other containers on the host, other NFS clients) tell a live writer
    from a killed one. None where there is no flock (Windows): nothing is ever reaped."""
    if fcntl is None:
        return None
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise
    return fd


def _abandoned(folder: Path) -> bool:
    """True when no process holds `folder`'s lock: its writer was killed or crashed."""
    if fcntl is None:
        return False  # cannot tell: keep it
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return False  # gone already, or not ours to open
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # held: a live writer
    finally:
        os.close(fd)  # also releases the probe's lock
    return True


def _locked_tempdir(path: Path, suffix: str, held: list[int]) -> Path:
    """A new `.NAME.PID.XXXX<suffix>` beside `path`, locked before it gets a name that
    `recover_dir` looks at (it is made as `.new` and renamed: the lock follows the inode)."""
    made = Path(tempfile.mkdtemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".new",
                                 dir=path.parent))  # fmt: skip
    fd = _lock(made)
    if fd is not None:
        held.append(fd)
    final = made.with_name(made.name[: -len(".new")] + suffix)
    os.rename(made, final)
    return final


def _leftovers(path: Path) -> list[Path]:
    """The temporary folders (`.NAME.PID.XXXX.tmp` / `.old`) of writers of `path`."""
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.[0-9]+\.[^.]+\.(tmp|old)$")
    try:
        entries = list(os.scandir(path.parent))
    except FileNotFoundError:
        return []
    return [
        Path(e.path) for e in entries if pattern.match(e.name) and e.is_dir(follow_symlinks=False)
    ]


def recover_dir(path: str | os.PathLike[str]) -> None:
    """Finish what a killed `atomic_dir` on `path` left: put an old folder that was set
    aside back if `path` is missing, and remove the temporary folders of writers that are
    gone (no process holds their lock)."""
    path = Path(path)
    dead = [p for p in _leftovers(path) if _abandoned(p)]

    def mtime(p: Path) -> float:
        try:
            return p.stat().st_mtime
        except FileNotFoundError:  # another process recovered it meanwhile
            return 0.0

    for p in sorted(dead, key=mtime, reverse=True):
        if p.suffix == ".old" and (p / "x").is_dir() and not path.exists():
            with contextlib.suppress(FileNotFoundError):  # another process was first
                os.rename(p / "x", path)  # the newest old folder of a swap that never finished
    for p in dead:
        shutil.rmtree(p, ignore_errors=True)


@contextmanager
def atomic_dir(
    path: str | os.PathLike[str], *, replace: bool = True, replaces: str | None = None
) -> Iterator[Path]:
    """Yield a temporary directory beside `path`; on success it takes `path`'s place.

    With `replace`, an existing directory at `path` is swapped out and removed only after
    the new one is in place; otherwise an existing `path` raises FileExistsError.
    replaces: a file name the existing folder must hold to be replaced (e.g. "config.json"
    for a bundle): anything else at `path` (a run folder, a home directory given as OUT
    by mistake) raises FileExistsError instead of being deleted.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    recover_dir(path)
    if path.exists() and not replace:
        raise FileExistsError(f"{path} already exists")
    usable = not path.exists() or (
        path.is_dir()
        and (replaces is None or (path / replaces).is_file() or not any(path.iterdir()))
    )
    if not usable:
        raise FileExistsError(
            f"{path} exists and is not what this writes (it has no {replaces}): refusing "
            "to replace it; pass a new or empty folder"
        )
    held: list[int] = []
    tmp = _locked_tempdir(path, ".tmp", held)
    try:
        yield tmp
        os.chmod(tmp, _umask_mode(0o777))  # mkdtemp makes 0700
        for f in tmp.rglob("*"):
            if f.is_file():
                os.chmod(f, _umask_mode(0o666))
        if path.exists() and _exchange(tmp, path):
            shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the old folder
        elif path.exists():
            old = _locked_tempdir(path, ".old", held)
            os.rename(path, old / "x")
            try:
                os.rename(tmp, path)  # a kill before this line: recover_dir puts old/x back
            except OSError:
                os.rename(old / "x", path)  # a full disk, a racing writer: undo at once
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        for fd in held:
            os.close(fd)
