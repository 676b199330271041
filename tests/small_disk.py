"""A full disk for tests: a process that runs with a small tmpfs mounted at a directory.

The tmpfs is mounted in a private mount namespace of the child (``unshare --mount``, and
a user namespace too when the tests do not run as root), so nothing outside the child
sees it, and it is gone when the child exits: there is nothing to clean up. From outside,
the child's view of the directory is ``/proc/<pid>/root/<directory>`` (:func:`seen_by`).
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path
from typing import Any


def namespace_argv() -> list[str]:
    if os.geteuid() == 0:
        return ["unshare", "--mount"]
    return ["unshare", "--user", "--map-root-user", "--mount"]


def spawn_on_tmpfs(directory: Path, size_bytes: int, argv: list[str],
                   **popen: Any) -> subprocess.Popen[str]:
    """``argv`` run with a tmpfs of ``size_bytes`` mounted at ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    script = (f"mount -t tmpfs -o size={size_bytes} corral-test-tmpfs "
              f"{shlex.quote(str(directory))} && exec {shlex.join(argv)}")
    return subprocess.Popen([*namespace_argv(), "sh", "-c", script], text=True, **popen)


def run_on_tmpfs(directory: Path, size_bytes: int, argv: list[str],
                 timeout: float = 120) -> subprocess.CompletedProcess[str]:
    process = spawn_on_tmpfs(directory, size_bytes, argv, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    out, err = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def seen_by(pid: int, path: Path) -> Path:
    """``path`` as the process ``pid`` sees it (inside its mount namespace)."""
    return Path(f"/proc/{pid}/root") / path.resolve().relative_to("/")


def fill(path: Path) -> int:
    """Write ``path`` until the disk holding it is full; the bytes written."""
    written = 0
    chunk = b"\0" * 65536
    with open(path, "wb", buffering=0) as out:
        while True:
            try:
                written += out.write(chunk)
            except OSError:
                try:
                    written += out.write(b"\0" * 512)
                except OSError:
                    return written
