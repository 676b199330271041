"""A full disk, told as such: which OS error codes mean it, and the error a caller sees.

Kept apart from the LMDB code so that writing a plain file (a module artifact, a pack
version) does not import LMDB.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from .._errors import StorageFull

#: Below this much free space, an EIO from a write is taken for a full disk (LMDB reports
#: a short write that way).
LOW_DISK_BYTES = 1 << 20
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def disk_full(name: str) -> StorageFull:
    return StorageFull(f"no room to store this: the disk holding the {name} is full",
                       store=name)


def means_disk_full(code: int | None, path: Path) -> bool:
    """Whether the OS error ``code`` of a write under ``path`` means the disk is full."""
    if code in DISK_FULL_ERRNOS:
        return True
    return code == errno.EIO and free_bytes(path) < LOW_DISK_BYTES


def free_bytes(path: Path) -> int:
    try:
        info = os.statvfs(path)
    except OSError:
        return 1 << 62
    return info.f_bavail * info.f_frsize
