"""The LMDB result cache: keys, TTLs, persistence, corruption, a full map, lifecycle."""

from __future__ import annotations

import logging
from pathlib import Path

import lmdb
import pytest

from corral import ArgumentError, CacheError, Closed, ResultCache
from corral._calls.result_cache import canonical_msgpack, result_key


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def key(*args: object, connection: str | None = None, principal: str | None = None) -> bytes:
    return result_key("Weather", "ab" * 32, "Forecast", list(args), connection, principal)


# -- keys -------------------------------------------------------------------------------


def test_key_is_a_digest_that_never_holds_the_arguments() -> None:
    secretish = "x" * 200 + "token-like-argument"
    k = key(secretish)
    assert len(k) == 32
    assert b"token-like-argument" not in k


def test_key_depends_on_every_part() -> None:
    base = result_key("P", "h1", "F", [1], None)
    variants = [
        result_key("Q", "h1", "F", [1], None),
        result_key("P", "h2", "F", [1], None),
        result_key("P", "h1", "G", [1], None),
        result_key("P", "h1", "F", [2], None),
        result_key("P", "h1", "F", [1], "conn-1"),
        result_key("P", "h1", "F", ["1"], None),
        result_key("P", "h1", "F", [1.5], None),
        result_key("P", "h1", "F", [1], None, context=("Europe/Paris", "", "")),
        result_key("P", "h1", "F", [1], None, context=("UTC", "https://a.example", "")),
        result_key("P", "h1", "F", [1], None, context=("UTC", "", "doc-1")),
    ]
    assert len({base, *variants}) == len(variants) + 1


def test_two_connections_get_two_keys_and_no_connection_a_third() -> None:
    assert len({key(1), key(1, connection="c1"), key(1, connection="c2")}) == 3


def test_principal_scopes_the_key_only_with_a_connection() -> None:
    assert key(1, principal="ann") == key(1, principal="bob")
    assert key(1, connection="c", principal="ann") != key(1, connection="c", principal="bob")


def test_equal_maps_give_equal_keys_whatever_their_order() -> None:
    assert key({"a": 1, "b": [{"y": 2, "x": 1}]}) == key({"b": [{"x": 1, "y": 2}], "a": 1})
    assert canonical_msgpack({"b": 1, "a": 2}) == canonical_msgpack({"a": 2, "b": 1})


def test_arguments_msgpack_cannot_hold_are_an_argument_error() -> None:
    with pytest.raises(ArgumentError, match="MessagePack"):
        key({1, 2})


# -- get and put ------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, True, 0, -7, 2**63 - 1, 3.5, "", "tëxt", b"\x00\xff",
                                   [1, [2, "3"]], {"a": {"b": None}, "list": [1.5]}])
def test_round_trips_every_msgpack_value(tmp_path: Path, value: object) -> None:
    with ResultCache(tmp_path / "c", map_size=1 << 20) as cache:
        assert cache.put(key(1), value, ttl_s=60)
        hit = cache.get(key(1))
    assert hit is not None and hit.value == value and type(hit.value) is type(value)


def test_entry_expires_after_its_ttl(tmp_path: Path) -> None:
    clock = Clock()
    with ResultCache(tmp_path / "c", map_size=1 << 20, clock=clock) as cache:
        cache.put(key(1), "v", ttl_s=10)
        clock.now += 9.9
        assert cache.get(key(1)) is not None
        clock.now += 0.2
        assert cache.get(key(1)) is None
        assert cache.stats().hits == 1 and cache.stats().misses == 1


def test_zero_ttl_is_never_stored(tmp_path: Path) -> None:
    with ResultCache(tmp_path / "c", map_size=1 << 20) as cache:
        assert cache.put(key(1), "v", ttl_s=0) is False
        assert cache.get(key(1)) is None
        assert cache.stats().entries == 0


def test_entries_survive_a_restart(tmp_path: Path) -> None:
    with ResultCache(tmp_path / "c", map_size=1 << 20) as cache:
        cache.put(key("persist"), {"answer": 42}, ttl_s=3600)
    with ResultCache(tmp_path / "c", map_size=1 << 20) as reopened:
        hit = reopened.get(key("persist"))
    assert hit is not None and hit.value == {"answer": 42}


def test_value_msgpack_cannot_hold_is_skipped_and_logged(tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="corral.cache"):
        with ResultCache(tmp_path / "c", map_size=1 << 20) as cache:
            assert cache.put(key(1), {1, 2, 3}, ttl_s=60) is False
            assert cache.put(key(2), object(), ttl_s=60) is False
            assert cache.get(key(1)) is None
    assert len([r for r in caplog.records if r.name == "corral.cache"]) == 1


# -- corruption and a full map ----------------------------------------------------------


def test_corrupt_entry_is_a_miss_logged_once_and_dropped(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "c"
    with ResultCache(path, map_size=1 << 20) as cache:
        cache.put(key("good"), "fine", ttl_s=60)
    env = lmdb.open(str(path), map_size=1 << 20)
    with env.begin(write=True) as txn:
        txn.put(key("bad1"), b"\xc1 not msgpack")
        txn.put(key("bad2"), b"\x93\x01\x02\x03")  # valid msgpack, wrong shape
    env.close()
    with caplog.at_level(logging.WARNING, logger="corral.cache"):
        with ResultCache(path, map_size=1 << 20) as cache:
            assert cache.get(key("bad1")) is None
            assert cache.get(key("bad2")) is None
            assert cache.get(key("good")) is not None
            assert cache.stats().entries == 1  # both corrupt entries were removed
    assert [r.getMessage() for r in caplog.records] == [
        "dropping a corrupt result cache entry"]


def test_full_map_never_fails_a_put_and_evicts_oldest_first(tmp_path: Path) -> None:
    clock = Clock()
    value = "v" * 4000
    with ResultCache(tmp_path / "c", map_size=512 << 10, clock=clock) as cache:
        for i in range(600):  # about 2.4 MB of values into a 512 KiB map
            clock.now += 1
            cache.put(key(i), value, ttl_s=10_000)
        stats = cache.stats()
        newest = cache.get(key(599))
        oldest = cache.get(key(0))
    assert stats.evictions > 0
    assert 0 < stats.entries < 600
    assert newest is not None and newest.value == value
    assert oldest is None


def test_eviction_drops_expired_entries_before_live_ones(tmp_path: Path) -> None:
    clock = Clock()
    with ResultCache(tmp_path / "c", map_size=1 << 20, clock=clock) as cache:
        cache.put(key("old-but-live"), "a", ttl_s=1000)
        cache.put(key("expired"), "b", ttl_s=1)
        clock.now += 5
        removed = cache.evict()
        assert removed == 1
        assert cache.get(key("old-but-live")) is not None
        assert cache.stats().evictions == 1


def test_value_too_large_for_the_map_is_skipped(tmp_path: Path) -> None:
    with ResultCache(tmp_path / "c", map_size=512 << 10) as cache:
        assert cache.put(key(1), b"x" * (200 << 10), ttl_s=60) is False
        assert cache.put(key(2), b"x" * 100, ttl_s=60) is True


# -- lifecycle --------------------------------------------------------------------------


def test_close_is_idempotent_and_use_after_close_is_a_clear_error(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path / "c", map_size=1 << 20)
    cache.close()
    cache.close()
    with pytest.raises(Closed, match="result cache is closed"):
        cache.get(key(1))
    with pytest.raises(Closed, match="result cache is closed"):
        cache.put(key(1), 1, ttl_s=5)


def test_unopenable_path_is_a_cache_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(CacheError, match="cannot"):
        ResultCache(blocker / "c")
