"""One PostgreSQL connection pool per URL and process, shared by every space on it.

The first opener of a URL makes the pool, runs the migrations and starts the change
listener; the last one to close it closes them. A process forked after opening makes
its own (a pool's sockets and threads do not survive a fork).

**Outages.** Any failure to reach the server (refused, reset, shut down, a timeout)
becomes :class:`~corral._errors.StoreUnavailable`, fast: once one operation has seen
the server gone, the next ones fail at once, except one probe connection every
:data:`PROBE_EVERY_S`; when a probe connects, the pool drops its dead connections and
the store serves again, with no restart. The pool's own reconnection gives up quickly
(it backs off exponentially), so that growing the pool on demand takes over once the
server returns.

**Secrets.** Errors and logs name the server by host, port and database only, never by
URL: the URL may hold a password.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

import psycopg
from psycopg import conninfo
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

from .._errors import CorralError, StoreUnavailable
from .pg_notify import Listener
from .pg_schema import migrate

log = logging.getLogger("corral.storage")

Connection = psycopg.Connection[tuple[Any, ...]]

CONNECT_TIMEOUT_S = 2
#: How long a request waits for a free pooled connection while the server is up.
POOL_WAIT_S = 5.0
POOL_MIN = 1
#: Per process: three nodes of two workers stay well inside PostgreSQL's default 100.
POOL_MAX = 10
#: While the server is unreachable, at most one request per this interval tries it.
PROBE_EVERY_S = 0.5
RETRY_AFTER_S = 1
#: libpq options: give up on a connect, and on a silent peer, within seconds.
_CONNECT_OPTIONS: dict[str, Any] = {
    "connect_timeout": CONNECT_TIMEOUT_S, "keepalives": 1, "keepalives_idle": 5,
    "keepalives_interval": 2, "keepalives_count": 2, "tcp_user_timeout": 10_000,
    "application_name": "corral",
    # a node that vanished mid-transaction must not hold its space's write lock for long,
    # nor a stalled server a request
    "options": "-c idle_in_transaction_session_timeout=60000 -c lock_timeout=30000 "
               "-c statement_timeout=30000",
}
#: Errors that mean the server cannot serve now (gone, or refusing for the moment).
UNREACHABLE = (psycopg.OperationalError, PoolTimeout, PoolClosed)
#: SQLSTATEs of a lost server: admin or crash shutdown, starting up (and class 08).
_OUTAGE_STATES = frozenset({"57P01", "57P02", "57P03"})


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` means the server went away (not, say, a lock wait timing out)."""
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate
    return state is None or state.startswith("08") or state in _OUTAGE_STATES


def describe(url: str) -> str:
    """``host:port/dbname`` of ``url``: what errors and logs may say about it."""
    try:
        parts = conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "an unparsable URL"
    host = parts.get("host") or "localhost"
    port = parts.get("port") or "5432"
    return f"{host}:{port}/{parts.get('dbname') or parts.get('user') or ''}"


def _connect_options(url: str) -> dict[str, Any]:
    """Our libpq options, after any server options the URL sets itself."""
    try:
        theirs = conninfo.conninfo_to_dict(url).get("options")
    except psycopg.ProgrammingError:
        theirs = None
    ours = str(_CONNECT_OPTIONS["options"])
    return {**_CONNECT_OPTIONS, "options": f"{theirs} {ours}" if theirs else ours}


def scrubbed(text: str, url: str) -> str:
    """``text`` with the URL's password, if any, cut out."""
    try:
        password = conninfo.conninfo_to_dict(url).get("password")
    except psycopg.ProgrammingError:
        password = None
    return text.replace(str(password), "***") if password else text


class Backend:
    """The pool, the health of the server and the change listener of one URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.where = describe(url)
        self._options = _connect_options(url)
        self.users = 0
        self._healthy = True
        self._outage_logged = False
        self._next_probe = 0.0
        self._probe_lock = threading.Lock()
        self.pool: ConnectionPool[Connection] = ConnectionPool(
            url, min_size=POOL_MIN, max_size=POOL_MAX, timeout=POOL_WAIT_S,
            reconnect_timeout=CONNECT_TIMEOUT_S, kwargs={**self._options, "autocommit": True},
            name=f"corral-{self.where}", open=False)
        self.listener = Listener(self.connect, self.where, on_lost=self.suspect)

    def start(self) -> None:
        """Open the pool, migrate and listen; StoreUnavailable if the server is away."""
        try:
            with self.direct() as conn:
                migrate(conn)
            self.pool.open(wait=False)
            self.listener.start()
        except UNREACHABLE as exc:
            self.close()
            raise self.unavailable(exc, "opening") from exc
        except psycopg.Error as exc:  # no right to create tables, a broken schema, ...
            self.close()
            raise CorralError(f"the PostgreSQL store at {self.where} could not be prepared: "
                              f"{type(exc).__name__}: {self._reason(exc)}",
                              store="postgresql") from exc

    def close(self) -> None:
        self.listener.stop()
        self.pool.close()

    # -- connections --------------------------------------------------------------------

    def connect(self, *, autocommit: bool = False) -> Connection:
        """A new connection outside the pool (the listener's, probes, migrations)."""
        return psycopg.connect(self.url, autocommit=autocommit, **self._options)

    @contextmanager
    def direct(self) -> Iterator[Connection]:
        conn = self.connect()
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A pooled connection, once the server is believed reachable. StoreUnavailable
        when none frees up in time: the server is gone, or every connection is busy."""
        self.ensure_reachable()
        try:
            conn = self.pool.getconn()
        except PoolTimeout as exc:
            raise self._timed_out(exc) from exc
        try:
            yield conn
        finally:
            self.pool.putconn(conn)

    def _timed_out(self, exc: PoolTimeout) -> StoreUnavailable:
        try:
            self.connect().close()
        except UNREACHABLE as probe:
            self.lost(probe)
            return self.unavailable(probe, "reaching")
        log.warning("all %d connections to PostgreSQL at %s stayed busy for %.0f s",
                    POOL_MAX, self.where, POOL_WAIT_S)
        return StoreUnavailable(f"the PostgreSQL store at {self.where} is busy (all "
                                f"{POOL_MAX} connections of this node are in use); retry "
                                "shortly", store="postgresql", retry_after_s=RETRY_AFTER_S)

    def ensure_reachable(self) -> None:
        """Nothing while the server is up; while it is down, StoreUnavailable at once,
        except for the one caller whose turn it is to probe it."""
        if self._healthy:
            return
        if not self._probe_lock.acquire(blocking=False):  # another caller is probing
            raise self.unavailable(None, "reaching")
        try:
            if self._healthy:
                return
            now = time.monotonic()
            if now < self._next_probe:
                raise self.unavailable(None, "reaching")
            self._next_probe = now + PROBE_EVERY_S
            try:
                self.connect().close()
            except UNREACHABLE as exc:
                self._log_outage(exc)
                raise self.unavailable(exc, "reaching") from exc
            self.pool.check()  # drop the connections the outage broke
            self._healthy = True
            if self._outage_logged:
                log.info("PostgreSQL at %s is reachable again", self.where)
                self._outage_logged = False
        finally:
            self._probe_lock.release()

    def lost(self, exc: BaseException) -> None:
        """An operation found the server unreachable."""
        self._log_outage(exc)
        self._healthy = False
        self._next_probe = 0.0  # the next caller probes at once: the pool may just be stale

    def _reason(self, exc: BaseException) -> str:
        """The first line of ``exc``'s message, without the password."""
        return (scrubbed(str(exc), self.url).strip().splitlines() or [type(exc).__name__])[0]

    def _log_outage(self, exc: BaseException) -> None:
        if not self._outage_logged:
            self._outage_logged = True
            log.warning("PostgreSQL at %s is unreachable: %s", self.where, self._reason(exc))

    def suspect(self) -> None:
        """The listener lost its connection: before the next operation, probe the server
        and drop the pooled connections a restart would have broken."""
        self._healthy = False
        self._next_probe = 0.0

    def unavailable(self, exc: BaseException | None, doing: str) -> StoreUnavailable:
        reason = ("it was unreachable a moment ago" if exc is None else self._reason(exc))
        return StoreUnavailable(f"the PostgreSQL store at {self.where} is unavailable "
                                f"({doing} it failed: {reason}); retry shortly",
                                store="postgresql", retry_after_s=RETRY_AFTER_S)


_lock = threading.Lock()
_backends: dict[tuple[str, int], Backend] = {}


def acquire(url: str) -> Backend:
    """The process's backend for ``url``, started if new; :func:`release` it after."""
    key = (url, os.getpid())
    with _lock:
        backend = _backends.get(key)
        if backend is None:
            backend = Backend(url)
            backend.start()
            _backends[key] = backend
        backend.users += 1
        return backend


def release(backend: Backend) -> None:
    with _lock:
        backend.users -= 1
        if backend.users > 0:
            return
        _backends.pop((backend.url, os.getpid()), None)
    backend.close()
