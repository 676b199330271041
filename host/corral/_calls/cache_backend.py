"""Which store holds a host's fast state: the node's own LMDB files and memory, or, with
``cache_url``, the Redis the nodes share. The one place that chooses."""

from __future__ import annotations

from typing import Callable

from .._calls.result_store import ResultStore
from .._fetch.flights import LocalFlights
from .._settings import Settings
from .._stores.redis_link import RedisLink


def open_redis_link(settings: Settings) -> RedisLink | None:
    """The link to ``cache_url``, or None when the fast state is local."""
    if not settings.cache_url:
        return None
    return RedisLink(settings.cache_url, prefix=settings.cache_prefix)


def open_result_cache(settings: Settings, link: RedisLink | None, *,
                      clock: Callable[[], float]) -> ResultStore:
    if link is not None:
        from .._calls.redis_results import RedisResultCache

        return RedisResultCache(link, clock=clock,
                                lease_s=_lease_s(settings))
    from .._calls.result_cache import ResultCache

    return ResultCache(settings.data_dir / "result-cache", map_size=settings.result_cache_bytes,
                       max_map_size=settings.result_cache_max_bytes, clock=clock)


def open_fetch_cache(settings: Settings, link: RedisLink | None) -> LocalFlights:
    if link is not None:
        from .._fetch.redis_cache import RedisFetchCache

        return RedisFetchCache(link, lease_s=_lease_s(settings))
    from .._fetch.cache import FetchCache

    return FetchCache(settings.data_dir / "fetch-cache", map_size=settings.fetch_cache_bytes)


def _lease_s(settings: Settings) -> float:
    """A flight leader's lease: renewed while it lives, so short is fine; a dead leader's
    followers take over after at most this."""
    return min(5.0, max(1.0, settings.evaluate_deadline_s / 6))
