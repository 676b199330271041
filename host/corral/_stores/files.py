"""Files written whole or not at all, and a full disk told as such."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from .lmdb_env import disk_full, is_disk_full


def write_file_atomically(path: Path, data: bytes, *, store: str = "data directory") -> None:
    """``data`` at ``path``, whole or not at all: a unique temporary file beside it, flushed
    to disk, renamed over, and the directory entry flushed too. A full disk raises
    StorageFull naming ``store``."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        try:
            with open(tmp, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except OSError as exc:
        if is_disk_full(exc, path.parent):
            raise disk_full(store) from exc
        raise
