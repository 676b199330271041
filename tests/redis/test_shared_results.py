"""Two hosts with their own data dirs and one ``cache_url``: what one caches (a pack
call's result, a GET) is a hit on the other, and nothing secret lies in Redis."""

from __future__ import annotations

import asyncio
from pathlib import Path

from corral._calls.redis_results import RedisResultCache
from corral._fetch.redis_cache import RedisFetchCache

from ..redis_services import RedisSpace
from .hosts import API, AUTH, TOKEN, hosts, upstream


def test_a_result_cached_by_one_host_is_a_hit_on_the_other(
        tmp_path: Path, redis_space: RedisSpace) -> None:
    with upstream() as server, hosts(tmp_path, redis_space.url, server.port) as (a, b):
        assert isinstance(a.result_cache, RedisResultCache)
        first = a.call("fetcher", "Summary", f"http://{API}/data")
        second = b.call("fetcher", "Summary", f"http://{API}/data")
        assert first == second == "/data is ok"
        assert server.hits("/data") == 1
        assert b.scheduler.stats().cache_hits == 1
        assert all(key.startswith(redis_space.prefix.encode()) for key in redis_space.keys())


def test_a_get_cached_by_one_host_is_a_hit_on_the_other(
        tmp_path: Path, redis_space: RedisSpace) -> None:
    with upstream() as server, hosts(tmp_path, redis_space.url, server.port) as (a, b):
        url = f"http://{API}/data"
        first = a.call("fetcher", "Cached", url, 600)
        assert isinstance(b.fetch_client._cache, RedisFetchCache)
        second = b.call("fetcher", "Cached", url, 600)  # Cached has no result TTL: the GET
        assert first == second
        assert server.hits("/data") == 1


def test_no_secret_lies_in_redis_keys_or_values(tmp_path: Path, redis_space: RedisSpace) -> None:
    with upstream() as server, hosts(tmp_path, redis_space.url, server.port) as (a, b):
        manifest = a.registry.get("authed").manifest
        conn = a.connections.create(principal="p", pack=manifest, name="c",
                                    secret={"token": TOKEN})
        connections_b = b.connections  # its own LMDB: the same connection made there too
        conn_b = connections_b.create(principal="p", pack=manifest, name="c",
                                      secret={"token": TOKEN})
        answer = a.call("authed", "Get", f"http://{AUTH}/echo", connection=conn.id,
                        principal="p")
        assert server.requests[-1].headers["authorization"] == f"Bearer {TOKEN}", "it was sent"
        assert TOKEN not in str(answer)
        b.call("authed", "Get", f"http://{AUTH}/echo", connection=conn_b.id, principal="p")
        a.call("fetcher", "Cached", f"http://{API}/data?t={TOKEN[:4]}", 600)
        keys = redis_space.keys()
        assert len(keys) >= 3, keys
        for key in keys:
            value = redis_space.client.get(key) or b""
            assert TOKEN.encode() not in key and TOKEN.encode() not in value, key
            assert conn.id.encode() not in key


def test_entries_carry_their_ttl_as_a_redis_expiry(tmp_path: Path, redis_space: RedisSpace) -> None:
    with upstream() as server, hosts(tmp_path, redis_space.url, server.port, count=1) as (a,):
        a.call("fetcher", "Cached", f"http://{API}/data", 1)
        ttls = [redis_space.client.pttl(key) for key in redis_space.keys()
                if b":f:" in key]
        assert ttls and all(0 < ttl <= 1000 for ttl in ttls), ttls


def test_the_event_loop_reads_the_same_entries(tmp_path: Path, redis_space: RedisSpace) -> None:
    with upstream() as server, hosts(tmp_path, redis_space.url, server.port) as (a, b):
        cache = b.result_cache
        assert isinstance(cache, RedisResultCache)
        a.result_cache.put(b"k" * 32, {"rows": [1, 2]}, 60)
        hit = asyncio.run(cache.aget(b"k" * 32))
        assert hit is not None and hit.value == {"rows": [1, 2]}
        assert asyncio.run(cache.aget(b"m" * 32)) is None
