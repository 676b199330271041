"""Single-flight within one node for identical GETs: the first caller of a key (the
leader) fetches, the others wait for its response. A cache that nodes share adds its own
flight across nodes around the leader's fetch (:meth:`LocalFlights._produce_once`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from .._closing import Closeable
from .._errors import CacheError, Closed, FetchTimeout

#: A response as the guest receives it: ``{"status", "headers", "body"}`` and, for a
#: JSON fetch, ``"json"``. Followers of a flight share the leader's object: read-only.
GuestResponse = dict[str, Any]


def cacheable(response: Mapping[str, Any]) -> bool:
    status = response.get("status")
    return isinstance(status, int) and 200 <= status < 300


@dataclass
class _Flight:
    done: threading.Event = field(default_factory=threading.Event)
    result: GuestResponse | None = None
    followers: int = 0


class LocalFlights(Closeable):
    """``fetch_once`` over a subclass's ``get``/``put``; needs ``_lock`` and ``_flights``
    (a dict) set by the subclass's ``__init__``."""

    _lock: threading.Lock
    _flights: dict[bytes, _Flight]

    def get(self, key: bytes) -> GuestResponse | None:
        raise NotImplementedError

    def put(self, key: bytes, response: Mapping[str, Any], ttl_s: float) -> bool:
        raise NotImplementedError

    def fetch_once(self, key: bytes, ttl_s: float, produce: Callable[[], GuestResponse], *,
                   deadline: float | None = None) -> GuestResponse:
        """A cached response, or ``produce()`` run once for all concurrent callers of ``key``.

        A follower waits at most until ``deadline`` (a ``time.monotonic()`` instant). If the
        leader fails, its error is its own: a follower then runs the request itself.
        """
        if self.closed:
            return produce()
        hit = self._cached(key)
        if hit is not None:
            return hit
        while True:
            flight, leader = self._join_flight(key)
            if leader:
                return self._lead(key, flight, ttl_s, produce, deadline)
            try:
                arrived = flight.done.wait(_seconds_until(deadline))
            finally:
                with self._lock:
                    flight.followers -= 1
            if not arrived:
                raise FetchTimeout("timed out waiting for an identical fetch in flight",
                                   rule="total_timeout")
            if flight.result is not None:
                return flight.result

    def followers_waiting(self) -> int:
        """How many callers are waiting on an identical request in flight (for tests, metrics)."""
        with self._lock:
            return sum(flight.followers for flight in self._flights.values())

    def _join_flight(self, key: bytes) -> tuple[_Flight, bool]:
        with self._lock:
            flight = self._flights.get(key)
            if flight is not None:
                flight.followers += 1
                return flight, False
            flight = self._flights[key] = _Flight()
            return flight, True

    def _lead(self, key: bytes, flight: _Flight, ttl_s: float,
              produce: Callable[[], GuestResponse], deadline: float | None) -> GuestResponse:
        try:
            # A flight that ended between our miss and our joining may have filled the cache.
            cached = self._cached(key)
            result = (cached if cached is not None
                      else self._produce_once(key, ttl_s, produce, deadline))
            flight.result = result
            return result
        finally:
            with self._lock:
                del self._flights[key]
            flight.done.set()

    def _produce_once(self, key: bytes, ttl_s: float, produce: Callable[[], GuestResponse],
                      deadline: float | None) -> GuestResponse:
        """The leader's fetch, stored; a cache shared by nodes makes it once across them."""
        result = produce()
        self._store(key, result, ttl_s)
        return result

    def _store(self, key: bytes, result: GuestResponse, ttl_s: float) -> None:
        try:
            self.put(key, result, ttl_s)
        except (CacheError, Closed):
            pass  # a cache that cannot store never fails the fetch itself

    def _cached(self, key: bytes) -> GuestResponse | None:
        try:
            return self.get(key)
        except (CacheError, Closed):
            return None


def _seconds_until(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())
