"""Paths checked before use, and files written so that no save loses data.

The convention is the engine's (csrc/params/safe_file.h): a file is written to
a temporary beside it, ``<file>.tmp-XXXXXXXX`` (unique, as ``mkstemp`` makes
it), which the writer holds locked (``flock``) from creation until it has been
renamed into place. Concurrent writers never share a temporary, and the only
unlocked temporaries are those of killed writers: the next save to the same
file removes them.
"""
from __future__ import annotations

import fcntl
import os
import re
import tempfile

TEMP_MARK = ".tmp-"


def check_path(func: str, arg: str, path) -> str:
    """``path`` as a str, or a ValueError/TypeError naming ``func`` and ``arg``."""
    try:
        path = os.fspath(path)
    except TypeError:
        raise TypeError(f"{func}: {arg} must be a path (str or os.PathLike), got {type(path).__name__}") from None
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if "\0" in path:
        raise ValueError(f"{func}: {arg} contains a NUL character at position {path.index(chr(0))} "
                         f"({path!r}); file names cannot hold NUL")
    if not path:
        raise ValueError(f"{func}: {arg} is empty (a file name is needed)")
    return path


def file_mode() -> int:
    """The mode ``open`` would give a new file (0666 less the umask), read without changing the umask."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    return 0o644


def _same_file(fd: int, path: str) -> bool:
    try:
        a, b = os.fstat(fd), os.lstat(path)
    except OSError:
        return False
    return (a.st_ino, a.st_dev) == (b.st_ino, b.st_dev)


def create_locked_temp(target: str) -> tuple[int, str]:
    """A new temporary beside ``target``, open (fd) and locked by this writer."""
    folder, name = os.path.split(os.path.abspath(target))
    for _ in range(100):
        fd, tmp = tempfile.mkstemp(prefix=name + TEMP_MARK, dir=folder)
        fcntl.flock(fd, fcntl.LOCK_EX)
        if _same_file(fd, tmp):  # else a concurrent save took it for a dead writer's: take another
            os.fchmod(fd, file_mode())
            return fd, tmp
        os.close(fd)
    raise OSError(f"{target}: cannot create a temporary file beside it (removed by another process each time)")


def _remove_if_unlocked(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)  # locked: a live writer's
        return
    try:
        if _same_file(fd, path):
            os.unlink(path)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_temporaries(target: str) -> None:
    """Removes the temporaries ``<target>.tmp-XXXXXX`` of writers that died."""
    folder, name = os.path.split(os.path.abspath(target))
    pattern = re.compile(re.escape(name + TEMP_MARK) + r"[A-Za-z0-9_]{6,8}")
    try:
        names = os.listdir(folder)
    except OSError:
        return  # the write that follows reports the folder's problem
    for entry in names:
        if pattern.fullmatch(entry):
            _remove_if_unlocked(os.path.join(folder, entry))


def fsync_folder(path: str) -> None:
    """Makes the renames inside ``path``'s folder durable (where the system allows)."""
    try:
        fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
