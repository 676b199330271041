"""The PostgreSQL backend of the key-value seam (:mod:`corral._stores.kv`).

A space is one store ("registry", "connections", ...) among the rows of ``corral_kv``
(:mod:`~corral._stores.pg_schema`); a sub-database is a column of the key. Every
process shares one pool per URL (:mod:`~corral._stores.pg_backend`).

**Isolation.** Writers of a space take its transaction-level advisory lock first, so
they run one at a time on every node, as LMDB's writers do; each statement of a
read-committed transaction then sees every write committed before the lock was granted,
which makes them serializable without conflicts to retry, and lets a ``with
txn(write=True)`` block (which cannot be re-run) work. Readers use a read-only
repeatable-read snapshot, which sees a prefix of that order of writes. A deadlock (two
nested writes on two spaces taken in opposite orders) aborts one transaction, and
:meth:`PgKv.write` runs its function again.

Each write that changed something notifies the space's listeners on every node
(:mod:`~corral._stores.pg_notify`) as it commits. Statements go in pipeline mode: a
write that only puts costs one round trip, a read one round trip per value it needs
plus its commit.
"""

from __future__ import annotations

import hashlib
import random
import re
import threading
import time
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Callable, Iterator, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg.pq import TransactionStatus

from .._errors import Closed, CorralError
from .disk import disk_full
from .pg_backend import UNREACHABLE, Backend, Connection, acquire, is_outage, release
from .pg_notify import CHANNEL

T = TypeVar("T")

_SPACE = re.compile(r"[a-z][a-z0-9_.-]{0,62}")
_CONFLICT_RETRIES = 12
_CONFLICT_BACKOFF_S = 0.002
_CONFLICT_BACKOFF_MAX_S = 0.2
_PAGE = 500

_BEGIN_READ = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
_BEGIN_WRITE = "BEGIN ISOLATION LEVEL READ COMMITTED"
_LOCK = "SELECT pg_advisory_xact_lock(%s)"
_NOTIFY = "SELECT pg_notify(%s, %s)"
_GET = "SELECT value FROM corral_kv WHERE space = %s AND db = %s AND key = %s"
_UPSERT = ("INSERT INTO corral_kv (space, db, key, value) VALUES (%s, %s, %s, %s) "
           "ON CONFLICT (space, db, key) DO UPDATE SET value = EXCLUDED.value")
_INSERT = ("INSERT INTO corral_kv (space, db, key, value) VALUES (%s, %s, %s, %s) "
           "ON CONFLICT (space, db, key) DO NOTHING RETURNING 1")
_DELETE = "DELETE FROM corral_kv WHERE space = %s AND db = %s AND key = %s RETURNING 1"
_POP = "DELETE FROM corral_kv WHERE space = %s AND db = %s AND key = %s RETURNING value"
_DROP = ("WITH gone AS (DELETE FROM corral_kv WHERE space = %s AND db = %s RETURNING 1) "
         "SELECT 1 FROM gone LIMIT 1")
_COUNT = "SELECT count(*) FROM corral_kv WHERE space = %s AND db = %s"
_PAGE_FROM = ("SELECT key, value FROM corral_kv WHERE space = %s AND db = %s AND key >= %s "
              "ORDER BY key LIMIT %s")
_PAGE_AFTER = ("SELECT key, value FROM corral_kv WHERE space = %s AND db = %s AND key > %s "
               "ORDER BY key LIMIT %s")

_writing = threading.local()


def _db_name(db: Any) -> str:
    if db is None:
        return ""
    return db.decode() if isinstance(db, (bytes, bytearray)) else str(db)


class PgCursor:
    """A sub-database's items in key order, read a page at a time.

    Iterating starts at the first key, or where :meth:`set_range` put it (as an LMDB
    cursor does); :meth:`first` says whether there is any item."""

    def __init__(self, txn: PgTxn, db: str) -> None:
        self._txn = txn
        self._db = db
        self._start = b""

    def first(self) -> bool:
        self._start = b""
        return bool(self._page(b"", inclusive=True, limit=1))

    def set_range(self, key: bytes) -> bool:
        """Start at the first key >= ``key``; False if there is none."""
        self._start = bytes(key)
        return bool(self._page(self._start, inclusive=True, limit=1))

    def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
        rows = self._page(self._start, inclusive=True, limit=_PAGE)
        while rows:
            yield from rows
            if len(rows) < _PAGE:
                return
            rows = self._page(rows[-1][0], inclusive=False, limit=_PAGE)

    def _page(self, start: bytes, *, inclusive: bool, limit: int) -> list[tuple[bytes, bytes]]:
        query = _PAGE_FROM if inclusive else _PAGE_AFTER
        return [(bytes(k), bytes(v)) for k, v in
                self._txn.fetch(query, (self._db, start, limit)).fetchall()]


class PgTxn:
    """A transaction on one space (see :class:`corral._stores.kv.KvTxn`)."""

    def __init__(self, conn: Connection, space: str, *, write: bool) -> None:
        self._conn = conn
        self._space = space
        self.write = write
        #: Whether a statement that may change something was sent (so the commit notifies).
        self.dirty = False
        #: Whether COMMIT was sent: past it, a lost connection leaves the outcome unknown.
        self.committing = False

    def fetch(self, query: str, params: tuple[Any, ...]) -> psycopg.Cursor[Any]:
        return self._conn.execute(query, (self._space, *params),
                                  binary=True)

    def _change(self, query: str, params: tuple[Any, ...]) -> psycopg.Cursor[Any]:
        if not self.write:
            raise CorralError(f"a write in a read transaction of store {self._space!r}")
        return self.fetch(query, params)

    def _changed(self, outcome: object) -> bool:
        """Note that a statement changed a row (if ``outcome`` says so); whether it did."""
        if outcome is not None:
            self.dirty = True
        return outcome is not None

    def get(self, key: bytes, default: Any = None, db: Any = None) -> Any:
        row = self.fetch(_GET, (_db_name(db), key)).fetchone()
        return default if row is None else bytes(row[0])

    def put(self, key: bytes, value: bytes, *, db: Any = None, overwrite: bool = True) -> bool:
        if overwrite:  # nothing to wait for: stays in the pipeline
            self._changed(self._change(_UPSERT, (_db_name(db), key, value)))
            return True
        return self._changed(self._change(_INSERT, (_db_name(db), key, value)).fetchone())

    def delete(self, key: bytes, *, db: Any = None) -> bool:
        return self._changed(self._change(_DELETE, (_db_name(db), key)).fetchone())

    def pop(self, key: bytes, *, db: Any = None) -> Any:
        row = self._change(_POP, (_db_name(db), key)).fetchone()
        self._changed(row)
        return None if row is None else bytes(row[0])

    def drop(self, db: Any, delete: bool = True) -> None:
        """Empty ``db`` (py-lmdb's ``drop``; a sub-database has no existence apart from
        its keys here, so ``delete`` changes nothing)."""
        self._changed(self._change(_DROP, (_db_name(db),)).fetchone())

    def cursor(self, db: Any = None) -> PgCursor:
        return PgCursor(self, _db_name(db))

    def stat(self, db: Any = None) -> dict[str, Any]:
        row = self.fetch(_COUNT, (_db_name(db),)).fetchone()
        return {"entries": int(row[0]) if row else 0}


class PgKv:
    """One space of a PostgreSQL store (see :class:`corral._stores.kv.KvStore`).

    ``name`` says what the store is in errors ("the connection store")."""

    def __init__(self, backend: Backend, space: str, *, name: str) -> None:
        self.space = space
        self.name = name
        self._backend = backend
        self._lock_key = int.from_bytes(
            hashlib.blake2b(f"corral_kv:{space}".encode(), digest_size=8).digest(),
            "big", signed=True)
        self._unsubscribes: list[Callable[[], None]] = []
        self._closed = False

    @property
    def where(self) -> str:
        """``host:port/dbname`` of the server (never the URL: it may hold a password)."""
        return self._backend.where

    @property
    def listening(self) -> bool:
        """Whether change notifications reach this process now."""
        return self._backend.listener.listening

    def on_change(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` (on the listener thread) when any node commits a change to
        this space, and whenever notifications may have been missed; returns the
        unsubscribe (closing the store unsubscribes too)."""
        unsubscribe = self._backend.listener.subscribe(self.space, callback)
        self._unsubscribes.append(unsubscribe)
        return unsubscribe

    def sync(self) -> None:
        """Nothing: a commit is durable once it returns (LMDB's ``sync`` flushes writes
        of an environment opened without it)."""

    def ping(self) -> None:
        """One round trip to the server (a readiness probe); StoreUnavailable if it is
        away."""
        self.read(lambda txn: None)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for unsubscribe in self._unsubscribes:
            unsubscribe()
        release(self._backend)

    def open_db(self, name: bytes) -> str:
        return _db_name(name)

    def read(self, fn: Callable[[PgTxn], T]) -> T:
        return self._run(fn, write=False)

    def write(self, fn: Callable[[PgTxn], T], *, frees: bool = False) -> T:
        """``fn`` run in a write transaction and committed; run again after a deadlock
        (so it must act only through its transaction). ``frees`` matters to LMDB only."""
        return self._run(fn, write=True)

    def txn(self, *, write: bool = False) -> AbstractContextManager[PgTxn]:
        """A transaction for a ``with`` block, committed when the block ends."""
        return self._block(write)

    # -- internals ----------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise Closed(f"the {self.name} is closed")

    def _run(self, fn: Callable[[PgTxn], T], *, write: bool) -> T:
        conflicts = 0
        reconnected = False
        while True:
            txn: PgTxn | None = None
            try:
                with self._connection(write) as conn:
                    with self._transaction(conn, write) as txn:
                        result = fn(txn)
                    return result
            except (pg_errors.SerializationFailure, pg_errors.DeadlockDetected) as exc:
                conflicts += 1
                if conflicts > _CONFLICT_RETRIES:
                    raise self._failed(exc) from exc
                time.sleep(random.uniform(0, min(_CONFLICT_BACKOFF_MAX_S,
                                                 _CONFLICT_BACKOFF_S * 2 ** conflicts)))
            except psycopg.Error as exc:
                unknown = write and txn is not None and txn.committing  # it may have committed
                if not is_outage(exc) or reconnected or unknown:
                    raise self._translated(exc) from exc
                self._backend.lost(exc)
                reconnected = True  # perhaps only a connection the pool kept went stale

    @contextmanager
    def _block(self, write: bool) -> Iterator[PgTxn]:
        try:
            with self._connection(write) as conn:
                with self._transaction(conn, write) as txn:
                    yield txn
        except psycopg.Error as exc:
            raise self._translated(exc) from exc

    @contextmanager
    def _connection(self, write: bool) -> Iterator[Connection]:
        self._check_open()
        held: set[str] = _writing.__dict__.setdefault("spaces", set())
        if write and self.space in held:
            raise CorralError(f"a write to the {self.name} inside another write to it "
                              "(it would wait for itself)")
        with self._backend.connection() as conn:
            if not write:
                yield conn
                return
            held.add(self.space)
            try:
                yield conn
            finally:
                held.discard(self.space)

    @contextmanager
    def _transaction(self, conn: Connection, write: bool) -> Iterator[PgTxn]:
        txn = PgTxn(conn, self.space, write=write)
        try:
            with conn.pipeline():
                conn.execute(_BEGIN_WRITE if write else _BEGIN_READ)
                if write:
                    conn.execute(_LOCK, (self._lock_key,))
                yield txn
                if txn.dirty:
                    conn.execute(_NOTIFY, (CHANNEL, self.space))
                txn.committing = True
                conn.execute("COMMIT")
        except BaseException:
            _roll_back(conn)
            raise

    def _translated(self, exc: psycopg.Error) -> CorralError:
        """The Corral error for a driver's: StoreUnavailable when the server is away or
        refuses for now (a lock wait timed out), StorageFull when its disk is full."""
        if is_outage(exc):
            self._backend.lost(exc)
        if isinstance(exc, pg_errors.DiskFull):
            return disk_full(self.name)
        if isinstance(exc, UNREACHABLE):
            return self._backend.unavailable(exc, f"using the {self.name} on")
        return self._failed(exc)

    def _failed(self, exc: psycopg.Error) -> CorralError:
        first = (str(exc).strip().splitlines() or [""])[0]
        return CorralError(f"the {self.name} (PostgreSQL at {self.where}) failed: "
                           f"{type(exc).__name__}: {first}", store="postgresql")


def _roll_back(conn: Connection) -> None:
    if conn.closed or conn.info.transaction_status == TransactionStatus.IDLE:
        return
    try:
        conn.execute("ROLLBACK")
    except psycopg.Error:
        pass  # the pool discards a broken connection


def open_pg_space(url: str, space: str, *, name: str = "store") -> PgKv:
    """The space ``space`` of the PostgreSQL store at ``url`` (the pool is shared by
    every space on it). StoreUnavailable if the server cannot be reached."""
    if not _SPACE.fullmatch(space):
        raise CorralError(f"store space {space!r} is not a lowercase name")
    return PgKv(acquire(url), space, name=name)
