"""Files written whole or not at all.

A file is written to a unique temporary name beside its target, flushed to disk, then
renamed over the target (or linked to it, when an existing file must never be replaced),
and the directory entry is flushed too. A reader sees the old file, the new file or no
file, never half of one; two writers never share a temporary name. A full disk raises
StorageFull naming the store.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from .disk import disk_full, means_disk_full


def write_file_atomically(path: Path, data: bytes, *, mode: int = 0o644,
                          replace: bool = True, store: str = "data directory") -> None:
    """``data`` at ``path``, whole or not at all, with permission bits ``mode``.

    With ``replace=False`` an existing file is left alone and FileExistsError raised:
    of two processes creating the same file at once, exactly one wins. A full disk
    raises StorageFull naming ``store``.
    """
    try:
        _write_atomically(path, data, mode, replace)
    except OSError as exc:
        if means_disk_full(exc.errno, path.parent):
            raise disk_full(store) from exc
        raise


def _write_atomically(path: Path, data: bytes, mode: int, replace: bool) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            os.fchmod(fd, mode)  # the umask must not widen or narrow what was asked
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_directory(path.parent)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
