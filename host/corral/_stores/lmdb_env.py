"""LMDB environments shared within a process, whose maps grow until a ceiling.

LMDB allows one open environment per file per process, and any number of processes on
the same file. Every part of Corral that keeps state in a data dir opens its environment
through :func:`open_shared`, so two ``Host`` objects (or a server and an in-process CLI
command) on one data dir share one handle instead of failing, and the handle closes when
the last user lets go.

Every transaction goes through the :class:`SharedEnv` (:meth:`~SharedEnv.read`,
:meth:`~SharedEnv.write`, :meth:`~SharedEnv.txn`), because the map may be resized
under it. The map doubles, up to the ceiling its opener set, once more than half of it
is used, and a write that finds it full anyway (``MapFullError``) grows it and runs
again; past the ceiling, or when the disk itself is full, a write raises
:class:`~corral._errors.StorageFull` (the HTTP service answers 507), never an LMDB
error. A write that frees space may use a reserve past the ceiling, so a full store can
always shrink. Resizing keeps LMDB's rules (``mdb_env_set_mapsize``): no
transaction of this process may be open on the environment while its map is replaced,
so transactions pass a gate together and a resize passes it alone; a size another
process grew the map to is adopted with ``set_mapsize(0)`` when ``begin`` reports
``MapResizedError``; a new size reaches other processes with this process's next commit.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import logging
import mmap
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import lmdb

from .._errors import StorageFull
from .disk import DISK_FULL_ERRNOS, disk_full, means_disk_full

log = logging.getLogger("corral.storage")

T = TypeVar("T")

GROWTH_FACTOR = 2
#: A write grows the map first when more than this share of it is used.
_GROW_AHEAD_ABOVE = 0.5
#: LMDB reports a short write as EIO; with less free disk than this, it means a full disk.
_BEGIN_ATTEMPTS = 3
_RESIZE_POLL_S = 0.0005
_MIN_RESERVE_PAGES = 64

#: py-lmdb's default, and the size of one reader slot in LMDB's lock file.
_DEFAULT_MAX_READERS = 126
_READER_SLOT_BYTES = 64
_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_LIBC.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]

_lock = threading.Lock()
_open: dict[Path, tuple[lmdb.Environment, _Gate, int]] = {}


class _Gate:
    """Transactions pass it together; a map resize passes it alone, once all have left.

    Passing costs a thread-local count, not a lock (resizes are rare and may wait): a
    thread counts itself in, then looks whether a resize is on; a resize says it is on,
    then waits until every thread's count is zero. Under the GIL one of the two always
    sees the other. A thread already inside passes again without waiting (a nested
    transaction must not wait for a resize that waits for it).
    """

    def __init__(self) -> None:
        self._resizing = False
        self._one_resize = threading.Lock()
        self._resized = threading.Condition(threading.Lock())
        self._counts: dict[int, list[int]] = {}
        self._mine = threading.local()

    def _count(self) -> list[int]:
        count: list[int] | None = getattr(self._mine, "count", None)
        if count is None:
            count = self._mine.count = [0]
            self._counts[threading.get_ident()] = count
        return count

    def enter(self) -> None:
        count = self._count()
        while True:
            count[0] += 1
            if count[0] > 1 or not self._resizing:
                return
            count[0] -= 1
            with self._resized:
                while self._resizing:
                    self._resized.wait()

    def leave(self) -> None:
        self._mine.count[0] -= 1

    def held_here(self) -> bool:
        return bool(self._count()[0])

    @contextmanager
    def alone(self) -> Iterator[None]:
        with self._one_resize:
            self._resizing = True
            try:
                while any(count[0] for count in list(self._counts.values())):
                    time.sleep(_RESIZE_POLL_S)
                yield
            finally:
                with self._resized:
                    self._resizing = False
                    self._resized.notify_all()


class SharedEnv:
    """One user's reference to a shared environment; :meth:`close` releases it.

    ``name`` says what the store is in a :class:`StorageFull` message ("the connection
    store"), ``setting`` which setting raises its ceiling."""

    def __init__(self, path: Path, env: lmdb.Environment, gate: _Gate, *, ceiling: int,
                 name: str, setting: str | None) -> None:
        self.path = path
        self.env = env
        self.ceiling = ceiling
        #: How far past the ceiling a write that frees space may grow the map.
        self.reserve = max(_whole_pages(ceiling // 8), _MIN_RESERVE_PAGES * mmap.PAGESIZE)
        self.name = name
        self.setting = setting
        self._gate = gate
        self._released = False

    def close(self) -> None:
        with _lock:
            if self._released:
                return
            self._released = True
            env, gate, users = _open[self.path]
            if users > 1:
                _open[self.path] = (env, gate, users - 1)
                return
            del _open[self.path]
        env.close()

    def open_db(self, name: bytes) -> Any:
        """The named sub-database ``name`` (made if missing)."""
        return self.env.open_db(name)

    # -- transactions -----------------------------------------------------------------------

    def read(self, fn: Callable[[lmdb.Transaction], T]) -> T:
        """``fn`` run in a read transaction."""
        txn = self._begin(write=False)
        try:
            with txn:
                return fn(txn)
        finally:
            self._gate.leave()

    def write(self, fn: Callable[[lmdb.Transaction], T], *, frees: bool = False) -> T:
        """``fn`` run in a write transaction and committed. The map grows ahead, once
        more than half of it is used; if it fills up anyway, it grows and ``fn`` runs
        again in a new transaction (so ``fn`` must only act through ``txn``). StorageFull
        past the ceiling or on a full disk.

        A write that ``frees`` space (a delete, a revocation) may grow the map past the
        ceiling by a reserve: LMDB copies pages to change them, so even a delete needs
        room, and a full store must still be able to shrink."""
        limit = self.ceiling + (self.reserve if frees else 0)
        while True:
            seen = self._grow_ahead()
            txn = self._begin(write=True)
            try:
                with txn:
                    return fn(txn)
            except lmdb.MapFullError:
                pass
            except lmdb.Error as exc:
                self._raise_if_disk_full(exc)
                raise
            finally:
                self._gate.leave()
            if not self._grow(seen, limit):
                raise self._full() from None

    @contextmanager
    def txn(self, *, write: bool = False) -> Iterator[lmdb.Transaction]:
        """A transaction for a ``with`` block, committed when the block ends.

        The map grows ahead, as for :meth:`write`, but a block cannot run twice: one that
        still fills the map grows it for the next write and raises StorageFull."""
        seen = self._grow_ahead() if write else self.map_size()
        txn = self._begin(write=write)
        inside = True
        try:
            with txn:
                yield txn
        except lmdb.MapFullError:
            self._gate.leave()
            inside = False
            grown = self._grow(seen, self.ceiling)
            log.warning("one write filled the %s (%d bytes); %s", self.name, seen,
                        "the map has grown" if grown else "it is at its ceiling")
            raise self._full() from None
        except lmdb.Error as exc:
            self._raise_if_disk_full(exc)
            raise
        finally:
            if inside:
                self._gate.leave()

    def sync(self) -> None:
        """Flush what was committed to disk (for environments opened with ``sync=False``)."""
        self._gate.enter()
        try:
            self.env.sync(True)
        finally:
            self._gate.leave()

    # -- sizes ------------------------------------------------------------------------------

    def map_size(self) -> int:
        """The map size this process uses now."""
        return int(self.info()["map_size"])

    def info(self) -> dict[str, Any]:
        """``env.info()``, which reads the map, so it waits for a resize too."""
        self._gate.enter()
        try:
            return dict(self.env.info())
        finally:
            self._gate.leave()

    def stat(self) -> dict[str, Any]:
        """``env.stat()`` (page size and page counts of the main database)."""
        self._gate.enter()
        try:
            return dict(self.env.stat())
        finally:
            self._gate.leave()

    def used_bytes(self) -> int:
        """How far into the map the file has been written (its high-water mark)."""
        self._gate.enter()
        try:
            return (int(self.env.info()["last_pgno"]) + 1) * int(self.env.stat()["psize"])
        finally:
            self._gate.leave()

    # -- internals --------------------------------------------------------------------------

    def _begin(self, *, write: bool) -> lmdb.Transaction:
        """A new transaction, with the gate entered (the caller leaves it)."""
        for _ in range(_BEGIN_ATTEMPTS):
            self._gate.enter()
            try:
                return self.env.begin(write=write)
            except lmdb.MapResizedError:
                self._gate.leave()
                self._adopt()
            except lmdb.Error as exc:
                self._gate.leave()
                self._raise_if_disk_full(exc)
                raise
            except BaseException:
                self._gate.leave()
                raise
        raise lmdb.MapResizedError(f"{self.name}: the map kept changing size")

    def _adopt(self) -> None:
        """Take up the size another process grew the map to."""
        with self._gate.alone():
            self.env.set_mapsize(0)

    def _grow(self, seen: int, limit: int) -> bool:
        """Make the map larger than ``seen`` bytes, up to ``limit``; False if it is there."""
        if self._gate.held_here():  # a resize would wait for this very thread
            return False
        with self._gate.alone():
            if self.env.info()["map_size"] > seen:
                return True  # another thread grew it meanwhile
            self.env.set_mapsize(0)  # or another process did
            if self.env.info()["map_size"] > seen:
                return True
            target = min(limit, _whole_pages(seen * GROWTH_FACTOR))
            self.env.set_mapsize(max(target, seen))
        if target > seen:
            log.info("the %s's map grew from %d to %d bytes (ceiling %d)", self.name, seen,
                     target, limit)
            return True
        log.error("the %s is full: its map is at its ceiling of %d bytes%s", self.name,
                  self.ceiling, f" (raise {self.setting})" if self.setting else "")
        return False

    def _grow_ahead(self) -> int:
        """Grow the map while it is more than half used (and below its ceiling); the map
        size then. A write that fills the map costs more than growing early: py-lmdb then
        aborts the write, which can wait seconds for readers busy in other threads."""
        seen = self.map_size()
        if seen < self.ceiling and self.used_bytes() > seen * _GROW_AHEAD_ABOVE:
            self._grow(seen, self.ceiling)
            seen = self.map_size()
        return seen

    def _full(self) -> StorageFull:
        return StorageFull(f"no room to store this: the {self.name} has reached its size "
                           "limit", store=self.name, setting=self.setting)

    def _raise_if_disk_full(self, exc: lmdb.Error) -> None:
        if is_disk_full(exc, self.path):
            log.error("the disk holding the %s (%s) is full: %s", self.name, self.path, exc)
            raise disk_full(self.name) from exc


def open_shared(path: Path, *, map_size: int, max_dbs: int, max_map_size: int | None = None,
                name: str = "store", setting: str | None = None,
                **flags: Any) -> SharedEnv:
    """The environment at ``path`` (a directory, made if missing), opened once per process.

    ``map_size`` is the map's first size, ``max_map_size`` (default: the same) the ceiling
    it may grow to. ``flags`` go to ``lmdb.open`` for the first opener only."""
    ceiling = max(map_size, max_map_size or map_size)
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = path.resolve()
        with _lock:
            found = _open.get(key)
            if found is None:
                reserve_lock_file(key, flags.get("max_readers", _DEFAULT_MAX_READERS))
                env = lmdb.open(str(key), map_size=_whole_pages(map_size), max_dbs=max_dbs,
                                subdir=True, **flags)
                found = (env, _Gate(), 0)
            _open[key] = (found[0], found[1], found[2] + 1)
    except OSError as exc:
        if exc.errno in DISK_FULL_ERRNOS:
            raise disk_full(name) from exc
        raise
    except lmdb.Error as exc:
        if is_disk_full(exc, path):
            raise disk_full(name) from exc
        raise
    return SharedEnv(key, found[0], found[1], ceiling=_whole_pages(ceiling), name=name,
                     setting=setting)


def reserve_lock_file(env_dir: Path, max_readers: int = _DEFAULT_MAX_READERS) -> None:
    """Give every page of the environment's lock file its room on disk, before LMDB
    maps it.

    LMDB maps ``lock.mdb`` shared and keeps its reader table there. It makes the file
    sparse (``ftruncate``) and writes into the mapping, at open and whenever a thread
    first takes a reader slot on a page never touched before; each such write makes the
    kernel find room for the page, and on a full disk (a full tmpfs above all) that page
    fault is SIGBUS, which kills the process in the middle of a request. Made here (at
    least as large as LMDB would make it, so it keeps the file as it is) and allocated
    with fallocate(2), the file either has all its pages or the open fails with ENOSPC,
    which callers report as a full store. An existing lock file keeps its size (other
    processes map it); filesystems without fallocate(2) are left as they are (glibc's
    emulation would write into a file other processes use).
    """
    fd = os.open(env_dir / "lock.mdb", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        _fallocate(fd, size or _lock_file_bytes(max_readers))
    finally:
        os.close(fd)


def _lock_file_bytes(max_readers: int) -> int:
    # LMDB's table: a few cache lines of header, then one 64-byte line per reader slot.
    return _whole_pages(max_readers * _READER_SLOT_BYTES + mmap.PAGESIZE)


def _fallocate(fd: int, length: int) -> None:
    if length <= 0:
        return
    result = _LIBC.fallocate(fd, 0, ctypes.c_long(0), ctypes.c_long(length))
    if result != 0:
        code = ctypes.get_errno()
        if code not in (errno.EOPNOTSUPP, errno.ENOSYS):
            raise OSError(code, os.strerror(code))


def is_disk_full(exc: BaseException, path: Path) -> bool:
    """Whether an LMDB or OS error means the disk (or a quota) is full."""
    if isinstance(exc, lmdb.DiskError):
        return True
    code = getattr(exc, "code", None) if isinstance(exc, lmdb.Error) else getattr(
        exc, "errno", None)
    return means_disk_full(code, path)


def _whole_pages(size: int) -> int:
    return -(-size // mmap.PAGESIZE) * mmap.PAGESIZE
