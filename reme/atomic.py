"""Crash-safe file and folder replacement.

A file or folder that readers open by name is written under a temporary name beside it, fsynced (its bytes, then
the folder entries), and renamed into place, so that a reader finds either the whole old version or the whole
new one, never a mixture, after a process crash or a power loss. A folder cannot be renamed over a non-empty
folder, so ``replace_dir`` moves the old one aside first; a crash between the two renames leaves the old
version under ``.<name>.old-…`` beside a missing ``<name>``, which ``whole_dir`` finds (readers) and
``replace_dir`` puts back (the next writer).

Temporary names carry the writer's pid and thread id: two writers never share one, and leftovers of dead
processes are removed by the next writer of the same name.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path


def temp_name(path: Path, kind: str = "tmp") -> Path:
    """A hidden sibling of ``path`` private to this process and thread: ``.<name>.<kind>-<pid>-<thread>``."""
    return path.with_name(f".{path.name}.{kind}-{os.getpid()}-{threading.get_ident()}")


def fsync_dir(path: Path) -> None:
    """Make the entries of a folder (files created, renamed or removed in it) durable."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # a platform that cannot open folders (Windows) has no folder fsync to do
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on a folder; their renames are then as durable as they get
    finally:
        os.close(fd)


def fsync_tree(path: Path) -> None:
    """fsync every file and folder under ``path`` (bottom-up) and ``path`` itself."""
    for folder, _, files in os.walk(path, topdown=False):
        for name in files:
            fd = os.open(os.path.join(folder, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(folder))


def _write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` to ``fd`` (``os.write`` may write fewer) and fsync it."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.fsync(fd)


def append_durable(path: Path, data: bytes) -> None:
    """Append ``data`` to ``path`` and fsync it (and its folder when the file is new), so the bytes survive a
    crash once this returns."""
    created = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        _write_all(fd, data)
    finally:
        os.close(fd)
    if created:  # make the new file's directory entry durable too
        fsync_dir(path.parent)


def publish_dir(tmp: Path, target: Path) -> bool:
    """Move the complete folder ``tmp`` to ``target`` (fsynced first: never seen torn), unless ``target`` is already
    there (for folders named by their content: the same name holds the same files), in which case ``tmp`` is
    removed. True when this call placed it."""
    if target.is_dir():
        shutil.rmtree(tmp, ignore_errors=True)
        return False
    fsync_tree(tmp)
    try:
        os.replace(tmp, target)
    except OSError:
        if not target.is_dir():
            raise
        shutil.rmtree(tmp, ignore_errors=True)  # another process placed the same folder meanwhile
        return False
    fsync_dir(target.parent)
    return True


def write_atomic(path: Path, data: bytes) -> None:
    """Replace the file ``path`` by ``data``: written to a temporary sibling, fsynced, renamed over it."""
    tmp = temp_name(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def _dead(name: str) -> bool:
    """Whether a temporary name ``.<name>.<kind>-<pid>-<thread>`` belongs to a process that no longer runs."""
    try:
        pid = int(name.rsplit("-", 2)[-2])
    except (IndexError, ValueError):
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def whole_dir(path: Path, marker: str) -> Path:
    """``path`` if it holds ``marker`` (the file written last), else a moved-aside old version of it that does
    (a writer crashed between its two renames), else ``path``. Never changes anything: safe for readers."""
    if (path / marker).is_file() or not path.parent.is_dir():
        return path
    aside = sorted(
        (p for p in path.parent.glob(f".{glob.escape(path.name)}.old-*") if (p / marker).is_file()),
        key=lambda p: p.stat().st_mtime,
    )
    return aside[-1] if aside else path


def _recover(path: Path, marker: str) -> None:
    """Before writing ``path``: put back an old version moved aside by a crashed writer, and remove the
    leftovers (temporary and moved-aside folders) of dead writers."""
    if not path.exists():
        found = whole_dir(path, marker)
        if found != path:
            with contextlib.suppress(OSError):  # another writer may be doing the same
                os.rename(found, path)
    if path.exists():
        for leftover in path.parent.glob(f".{glob.escape(path.name)}.*-*-*"):
            if _dead(leftover.name) or leftover.name.startswith(f".{path.name}.old-"):
                shutil.rmtree(leftover, ignore_errors=True)


def replace_dir(path: Path, fill: Callable[[Path], None], marker: str) -> None:
    """Replace the folder ``path`` by a new version: ``fill(tmp)`` writes it into an empty temporary folder
    (``marker``, the file a reader checks for, last), then everything is fsynced and swapped into place.

    Raises ``OSError`` when the swap fails (e.g. another writer put its version in place meanwhile); the
    temporary folder is removed and ``path`` is left whole (old or other writer's version)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _recover(path, marker)
    tmp = temp_name(path)
    aside = temp_name(path, "old")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    moved = False
    try:
        fill(tmp)
        if not (tmp / marker).is_file():
            raise OSError(f"{marker} was not written")
        fsync_tree(tmp)
        try:
            os.rename(path, aside)
            moved = True
        except FileNotFoundError:
            pass
        os.rename(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        if moved and not path.exists():
            with contextlib.suppress(OSError):
                os.rename(aside, path)  # put the old version back
                moved = False
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if moved:
            shutil.rmtree(aside, ignore_errors=True)
