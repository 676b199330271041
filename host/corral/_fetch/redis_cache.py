"""The GET cache in the Redis nodes share (``cache_url``), with single-flight across
nodes for identical GETs.

Entries are what the LMDB :class:`~corral._fetch.cache.FetchCache` stores (the response
as the guest sees it, after redaction: never the raw exchange, so an echoed credential
is not in Redis either), under ``<prefix>f:<hex of FetchCache.key>`` with a Redis expiry
of their TTL. Within a node, identical GETs share one flight (:class:`LocalFlights`);
its leader joins the flight across nodes (:class:`SharedFlight`), so of all the nodes
asked one GET at once, one reaches the upstream.

Redis unreachable: a read is a miss, a write is skipped, the fetch runs (the link logs
the outage once) and the cache is used again once Redis answers.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Mapping

from .._errors import FetchTimeout, StoreUnavailable
from .._stores.redis_flight import SharedFlight
from .._stores.redis_link import RedisLink, as_bytes
from .cache import FetchCache, decode_entry, encode_entry
from .flights import GuestResponse, LocalFlights, cacheable

_KIND = "f"


class RedisFetchCache(LocalFlights):
    """A GET cache in Redis; thread-safe; ``close()`` leaves the link to its owner."""

    closeable_name = "fetch cache"
    key = staticmethod(FetchCache.key)

    def __init__(self, link: RedisLink, *, max_entry_bytes: int = 1 << 20,
                 clock: Callable[[], float] = time.time, lease_s: float = 5.0) -> None:
        self._link = link
        self._max_entry_bytes = max_entry_bytes
        self._clock = clock
        self._lock = threading.Lock()
        self._flights = {}
        self._flight = SharedFlight(link, _KIND, lease_s=lease_s)

    def get(self, key: bytes) -> GuestResponse | None:
        self._check_open()
        if not self._link.available:
            return None
        name = self._link.key(_KIND, key)
        try:
            raw = as_bytes(self._link.call(lambda r: r.get(name)))
        except StoreUnavailable:
            return None
        entry = decode_entry(raw) if raw is not None else None
        if entry is None or entry[0] <= self._clock():
            return None
        return entry[1]

    def put(self, key: bytes, response: Mapping[str, Any], ttl_s: float) -> bool:
        self._check_open()
        if not cacheable(response) or ttl_s <= 0 or not self._link.available:
            return False
        value = encode_entry(self._clock() + ttl_s, response)
        if value is None or len(value) > self._max_entry_bytes:
            return False
        return self._link.put_expiring(_KIND, key, value, ttl_s)

    def purge_expired(self) -> int:
        """Nothing to do: Redis drops expired entries itself."""
        return 0

    def _produce_once(self, key: bytes, ttl_s: float, produce: Callable[[], GuestResponse],
                      deadline: float | None) -> GuestResponse:
        def lead() -> GuestResponse:
            result = produce()
            self._store(key, result, ttl_s)
            return result

        def lookup() -> tuple[bool, GuestResponse]:
            hit = self._cached(key)
            return (True, hit) if hit is not None else (False, {})

        result: GuestResponse = self._flight.run_once(key, lead, lookup, deadline=deadline,
                                                      timed_out=_waited_too_long)
        return result


def _waited_too_long() -> FetchTimeout:
    return FetchTimeout("timed out waiting for an identical fetch in flight on another node",
                        rule="total_timeout")
