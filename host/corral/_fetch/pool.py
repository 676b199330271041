"""Connection pools that carry one caller's exchanges, and nothing left over from any other.

Two rules keep a response from crossing calls:

- :class:`CleanPool` never hands out again a connection that holds bytes past its last
  response. An upstream that pipelines a response nobody asked for would otherwise have
  it read as the answer to the next request on that connection.
- :class:`CallerPools` gives each thread one pool per caller key (principal, connection
  and pack), so even bytes that arrive after the check can only reach the same caller.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import Callable, Hashable

import httpcore

from .._errors import Closed

#: Pools a thread keeps: one per caller it served lately (the least recently used goes).
THREAD_POOLS = 8


class _CleanConnection(httpcore.ConnectionInterface):
    """A pooled connection that expires as soon as it is idle with unread bytes."""

    def __init__(self, inner: httpcore.ConnectionInterface) -> None:
        self._inner = inner

    def handle_request(self, request: httpcore.Request) -> httpcore.Response:
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()

    def info(self) -> str:
        return self._inner.info()

    def can_handle_request(self, origin: httpcore.Origin) -> bool:
        return self._inner.can_handle_request(origin)

    def is_available(self) -> bool:
        return self._inner.is_available()

    def has_expired(self) -> bool:
        # The pool asks this of each connection before it hands one out, and when a
        # response closes (so a connection with leftovers is closed right away).
        return self._inner.has_expired() or (self._inner.is_idle() and holds_unread(self._inner))

    def is_idle(self) -> bool:
        return self._inner.is_idle()

    def is_closed(self) -> bool:
        return self._inner.is_closed()


def holds_unread(connection: httpcore.ConnectionInterface) -> bool:
    """Whether an idle connection's HTTP/1.1 parser holds bytes no request asked for.

    httpcore does not expose its parser, so this looks where httpcore 1.x keeps it
    (``trailing_data`` itself is h11's public API). Where it cannot tell, the answer is
    yes: the connection is closed rather than trusted. (Bytes still in the socket are
    httpcore's own check: an idle readable socket has expired.)"""
    parser = getattr(getattr(connection, "_connection", None), "_h11_state", None)
    trailing = getattr(parser, "trailing_data", None)
    if not isinstance(trailing, tuple) or len(trailing) != 2:
        return True
    data, closed = trailing
    return bool(data) or bool(closed)


class CleanPool(httpcore.ConnectionPool):
    """An httpcore pool whose connections are reused only when nothing is left unread."""

    def create_connection(self, origin: httpcore.Origin) -> httpcore.ConnectionInterface:
        return _CleanConnection(super().create_connection(origin))


class CallerPools:
    """Pools per thread and per caller key; a request without a key gets a pool for itself.

    A fetch blocks its thread, so a pool needs few connections, and httpcore's pool does
    work per connection it holds (under a lock) on every request: one shared pool, with a
    connection per busy thread, made each request pay for all of them. A thread's pools
    close with the thread, when its least recently used pool makes room, or on :meth:`close`.
    """

    def __init__(self, new_pool: Callable[[], httpcore.ConnectionPool]) -> None:
        self._new_pool = new_pool
        self._local = threading.local()
        self._all: set[httpcore.ConnectionPool] = set()
        self._lock = threading.Lock()
        self._closed = False

    def get(self, key: Hashable | None
            ) -> tuple[httpcore.ConnectionPool, Callable[[], None] | None]:
        """The pool for ``key`` on this thread, and what to call once the response is done
        (None for a kept pool; closing a one-request pool otherwise)."""
        if key is None:
            pool = self._add()
            return pool, lambda: self._drop(pool)
        pools = self._thread_pools()
        kept = pools.get(key)
        if kept is not None:
            pools.move_to_end(key)
            return kept, None
        pool = pools[key] = self._add()
        if len(pools) > THREAD_POOLS:
            self._drop(pools.popitem(last=False)[1])
        return pool, None

    def pools_held(self) -> int:
        """How many pools are open, over all threads (for tests)."""
        with self._lock:
            return len(self._all)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pools, self._all = self._all, set()
        for pool in pools:
            pool.close()

    def _thread_pools(self) -> OrderedDict[Hashable, httpcore.ConnectionPool]:
        pools: OrderedDict[Hashable, httpcore.ConnectionPool] | None = getattr(
            self._local, "pools", None)
        if pools is None:
            pools = self._local.pools = OrderedDict()
            weakref.finalize(threading.current_thread(), self._drop_all, pools)
        return pools

    def _add(self) -> httpcore.ConnectionPool:
        pool = self._new_pool()
        with self._lock:
            if self._closed:
                pool.close()
                raise Closed("the fetch transport is closed")
            self._all.add(pool)
        return pool

    def _drop_all(self, pools: OrderedDict[Hashable, httpcore.ConnectionPool]) -> None:
        for pool in list(pools.values()):
            self._drop(pool)
        pools.clear()

    def _drop(self, pool: httpcore.ConnectionPool) -> None:
        with self._lock:
            self._all.discard(pool)
        pool.close()
