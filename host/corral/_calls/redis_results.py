"""The result cache in the Redis nodes share (``cache_url``).

Entries are the LMDB cache's (:func:`~corral._calls.result_cache.encode_entry`), under
``<prefix>r:<hex of the result_key digest>`` with a Redis expiry of their TTL, so Redis
drops them by itself (give it a ``maxmemory`` with ``volatile-lru`` to bound it). A
value is what the pack returned, as LMDB holds it: a connection's secret is injected by
the host after the guest asked, and never part of a key or a result.

The cache never fails a call: Redis unreachable reads as a miss and a skipped write (the
link logs the outage once), and the next command after its retry pause tries again, so
caching resumes by itself. :meth:`run_once` makes identical uncached calls on several
nodes run once (:class:`~corral._stores.redis_flight.SharedFlight`).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from .._closing import Closeable
from .._errors import DeadlineExceeded, StoreUnavailable
from .._calls.result_cache import CachedValue, CacheStats, decode_entry, encode_entry
from .._stores.redis_flight import SharedFlight
from .._stores.redis_link import RedisLink, as_bytes

log = logging.getLogger("corral.cache")

_KIND = "r"


class RedisResultCache(Closeable):
    """Results with a TTL each in Redis; thread-safe; ``close()`` leaves the link open
    (its owner closes it)."""

    closeable_name = "result cache"

    def __init__(self, link: RedisLink, *, max_entry_bytes: int = 8 << 20,
                 clock: Callable[[], float] = time.time, lease_s: float = 5.0) -> None:
        self._link = link
        self._clock = clock
        self._max_entry_bytes = max_entry_bytes
        self._flight = SharedFlight(link, _KIND, lease_s=lease_s)
        self._lock = threading.Lock()
        self._hits = self._misses = 0
        self._warned: set[str] = set()

    def get(self, key: bytes) -> CachedValue | None:
        self._check_open()
        return self._entry(self._read(key))

    async def aget(self, key: bytes) -> CachedValue | None:
        """``get`` on the event loop (redis-py's asyncio client): for a server path that
        looks the cache up before it hands the call to a thread."""
        self._check_open()
        raw = None
        if self._link.available:
            name = self._link.key(_KIND, key)
            try:
                raw = as_bytes(await self._link.acall(lambda r: r.get(name)))
            except StoreUnavailable:
                raw = None
        return self._entry(raw)

    def put(self, key: bytes, value: Any, ttl_s: float) -> bool:
        self._check_open()
        if ttl_s <= 0 or not self._link.available:
            return False
        try:
            blob = encode_entry(self._clock(), ttl_s, value)
        except (TypeError, ValueError, OverflowError) as exc:
            self._warn_once("encode", "a result MessagePack cannot hold was not cached: %s", exc)
            return False
        if len(blob) > self._max_entry_bytes:
            self._warn_once("large", "a result too large for the cache was not cached")
            return False
        return self._link.put_expiring(_KIND, key, blob, ttl_s)

    def evict(self) -> int:
        """Nothing to do: Redis expires entries, and its ``maxmemory`` policy makes room."""
        return 0

    def stats(self) -> CacheStats:
        with self._lock:
            hits, misses = self._hits, self._misses
        return CacheStats(hits=hits, misses=misses, evictions=0, entries=self._entries())

    def run_once(self, key: bytes, produce: Callable[[], Any], *,
                 deadline: float | None) -> Any:
        def lookup() -> tuple[bool, Any]:
            hit = self.get(key) if not self.closed else None
            return (True, hit.value) if hit is not None else (False, None)

        return self._flight.run_once(key, produce, lookup, deadline=deadline,
                                     timed_out=_waited_too_long)

    def healthy(self) -> bool:
        return self._link.healthy()

    def ping(self) -> bool:
        return self._link.ping()

    # -- internals ------------------------------------------------------------------------

    def _entry(self, raw: bytes | None) -> CachedValue | None:
        entry = decode_entry(raw) if raw is not None else None
        if entry is None or entry[0] <= self._clock():
            self._count(hit=False)
            return None
        self._count(hit=True)
        return CachedValue(value=entry[2], expires_at=entry[0])

    def _read(self, key: bytes) -> bytes | None:
        if not self._link.available:
            return None
        name = self._link.key(_KIND, key)
        try:
            raw = as_bytes(self._link.call(lambda r: r.get(name)))
        except StoreUnavailable:
            return None
        return raw

    def _entries(self) -> int:
        pattern = self._link.name(_KIND, "*")
        try:
            return self._link.call(lambda r: sum(1 for _ in r.scan_iter(pattern, count=1000)))
        except StoreUnavailable:
            return 0

    def _count(self, *, hit: bool) -> None:
        with self._lock:
            if hit:
                self._hits += 1
            else:
                self._misses += 1

    def _warn_once(self, what: str, message: str, *args: Any) -> None:
        if what not in self._warned:
            self._warned.add(what)
            log.warning(message, *args)


def _waited_too_long() -> DeadlineExceeded:
    return DeadlineExceeded("the deadline passed waiting for the same call on another node",
                            limit="deadline")
