"""LMDB environments shared within a process.

LMDB allows one open environment per file per process, and any number of processes on
the same file. Every part of Corral that keeps state in a data dir opens its environment
through :func:`open_shared`, so two ``Host`` objects (or a server and an in-process CLI
command) on one data dir share one handle instead of failing, and the handle closes when
the last user lets go.
"""

from __future__ import annotations

import threading
from pathlib import Path

import lmdb

_lock = threading.Lock()
_open: dict[Path, tuple[lmdb.Environment, int]] = {}


class SharedEnv:
    """One user's reference to a shared environment; :meth:`close` releases it."""

    def __init__(self, path: Path, env: lmdb.Environment) -> None:
        self.path = path
        self.env = env
        self._released = False

    def close(self) -> None:
        with _lock:
            if self._released:
                return
            self._released = True
            env, users = _open[self.path]
            if users > 1:
                _open[self.path] = (env, users - 1)
                return
            del _open[self.path]
        env.close()


def open_shared(path: Path, *, map_size: int, max_dbs: int) -> SharedEnv:
    """The environment at ``path`` (a directory, made if missing), opened once per process."""
    path.mkdir(parents=True, exist_ok=True)
    key = path.resolve()
    with _lock:
        found = _open.get(key)
        if found is None:
            env = lmdb.open(str(key), map_size=map_size, max_dbs=max_dbs, subdir=True)
            _open[key] = (env, 1)
        else:
            env = found[0]
            _open[key] = (env, found[1] + 1)
    return SharedEnv(key, env)
