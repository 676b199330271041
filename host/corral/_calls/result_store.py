"""What the scheduler and the service need of a result cache, whichever holds it: the
node's own LMDB (:class:`~corral._calls.result_cache.ResultCache`) or the Redis that
nodes share (:class:`~corral._calls.redis_results.RedisResultCache`)."""

from __future__ import annotations

from typing import Any, Callable, Protocol

from .._calls.result_cache import CachedValue, CacheStats


class ResultStore(Protocol):
    @property
    def closed(self) -> bool: ...

    def get(self, key: bytes) -> CachedValue | None:
        """The live entry, or None; never raises for a store that cannot be read."""

    def put(self, key: bytes, value: Any, ttl_s: float) -> bool:
        """Store for ``ttl_s`` seconds; False (never an error) if not stored."""

    def evict(self) -> int:
        """Make room; the number of entries dropped."""

    def stats(self) -> CacheStats: ...

    def run_once(self, key: bytes, produce: Callable[[], Any], *,
                 deadline: float | None) -> Any:
        """``produce()`` (which stores its result under ``key``), or the result another
        node's identical call in flight stores."""

    def close(self) -> None: ...
