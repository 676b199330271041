"""The LMDB GET cache on its own: keys, TTLs, what is never cached, damage, single-flight."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import lmdb
import pytest

from corral import CacheError, Closed, FetchCache, FetchTimeout
from corral._fetch.cache import GuestResponse

OK: GuestResponse = {"status": 200, "headers": {"content-type": "application/json"},
                     "body": "", "json": {"a": [1, 2.5, None, True, "x"]}}


def response(status: int, body: str | bytes = b"", **headers: str) -> GuestResponse:
    return {"status": status, "headers": headers, "body": body}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(tmp_path: Path, clock: Clock) -> Iterator[FetchCache]:
    with FetchCache(tmp_path / "cache", clock=clock) as opened:
        yield opened


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def key(**changes: object) -> bytes:
    parts: dict[str, object] = dict(pack="P", pack_hash="a" * 64, principal="alice",
                                    identity="conn-1", method="GET",
                                    url="https://api.example.com/x?q=1",
                                    headers=[("Accept", "application/json")], view="text:json")
    parts.update(changes)
    return FetchCache.key(**parts)  # type: ignore[arg-type]


def test_keys_separate_pack_version_caller_method_url_headers_and_view() -> None:
    base = key()
    assert key() == base
    changes: list[dict[str, object]] = [
        dict(pack="Q"), dict(pack_hash="b" * 64), dict(principal="bob"), dict(principal=""),
        dict(identity="conn-2"), dict(identity=""), dict(method="HEAD"),
        dict(url="https://api.example.com/x?q=2"), dict(headers=[("Accept", "text/plain")]),
        dict(headers=[]), dict(view="text:"), dict(view="bytes:")]
    for change in changes:
        assert key(**change) != base, change


def test_keys_ignore_header_order_and_name_case() -> None:
    one = key(headers=[("Accept", "a"), ("X-B", "b")])
    assert key(headers=[("x-b", "b"), ("ACCEPT", "a")]) == one


def test_what_is_stored_reads_back_as_it_was(cache: FetchCache) -> None:
    for i, entry in enumerate([OK, response(200, b"\x00\xffbytes"), response(204, "text")]):
        assert cache.put(key(url=f"https://api.example.com/{i}"), entry, ttl_s=60)
        assert cache.get(key(url=f"https://api.example.com/{i}")) == entry


def test_a_stored_response_lives_for_its_ttl(cache: FetchCache, clock: Clock) -> None:
    assert cache.get(key()) is None
    assert cache.put(key(), OK, ttl_s=60)
    assert cache.get(key()) == OK
    clock.now += 59
    assert cache.get(key()) == OK
    clock.now += 2
    assert cache.get(key()) is None


@pytest.mark.parametrize("entry, ttl_s", [
    (response(404, b"missing"), 60),
    (response(500, "boom"), 60),
    (response(302, location="/x"), 60),
    ({"headers": {}, "body": ""}, 60),
    (OK, 0),
    (response(200, b"x" * 2048), 60),
    ({**OK, "json": {"n": 2 ** 70}}, 60),  # MessagePack carries 64-bit integers at most
    ({**OK, "json": _nested(5000)}, 60),  # nor nesting past its limit
])
def test_what_is_never_stored(tmp_path: Path, entry: GuestResponse, ttl_s: float) -> None:
    with FetchCache(tmp_path / "c", max_entry_bytes=1024) as cache:
        assert not cache.put(key(), entry, ttl_s)
        assert cache.get(key()) is None


def test_a_corrupt_entry_reads_as_a_miss_and_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "cache"
    with FetchCache(path) as cache:
        cache.put(key(), OK, ttl_s=60)
    env = lmdb.open(str(path), subdir=True)
    with env.begin(write=True) as txn:
        txn.put(key(), b"\xc1 not msgpack")
        txn.put(key(url="https://api.example.com/other"), b"\x93\x01\x02\x03")
        txn.put(key(url="https://api.example.com/v1"),  # an entry of the first format
                b"\x85\xa1v\x01\xa7expires\xcb\x7f\xef\xff\xff\xff\xff\xff\xff"
                b"\xa6status\xcc\xc8\xa7headers\x90\xa4body\xc4\x00")
    env.close()
    with FetchCache(path) as cache:
        assert cache.get(key()) is None
        assert cache.get(key(url="https://api.example.com/other")) is None
        assert cache.get(key(url="https://api.example.com/v1")) is None
        produced = cache.fetch_once(key(), 60, lambda: OK)
        assert produced == OK and cache.get(key()) == OK


def test_a_full_map_never_fails_and_expired_entries_make_room(tmp_path: Path,
                                                              clock: Clock) -> None:
    big = response(200, b"z" * 200_000)
    with FetchCache(tmp_path / "c", map_size=512 * 1024, max_entry_bytes=1 << 20,
                    clock=clock) as cache:
        stored = [cache.put(key(url=f"https://a.example.com/{i}"), big, ttl_s=10)
                  for i in range(6)]
        assert stored[0] and not all(stored)  # the map filled up, quietly
        assert cache.fetch_once(key(url="https://a.example.com/new"), 10, lambda: big) == big
        clock.now += 11
        assert cache.put(key(url="https://a.example.com/later"), big, ttl_s=10)
        assert cache.get(key(url="https://a.example.com/later")) == big
        assert cache.get(key(url="https://a.example.com/0")) is None


def test_a_closed_cache_is_bypassed_by_fetch_once(tmp_path: Path) -> None:
    cache = FetchCache(tmp_path / "c")
    cache.close()
    cache.close()
    calls: list[int] = []

    def produce() -> GuestResponse:
        calls.append(1)
        return OK

    for _ in range(2):
        assert cache.fetch_once(key(), 60, produce) == OK
    assert len(calls) == 2
    with pytest.raises(Closed, match="fetch cache is closed"):
        cache.get(key())


def test_an_unopenable_path_is_a_cache_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(CacheError, match="cannot open"):
        FetchCache(blocker / "cache")


# -- single-flight -------------------------------------------------------------------------


def _blocking_producer(release: threading.Event, calls: list[int],
                       result: GuestResponse = OK) -> Callable[[], GuestResponse]:
    def produce() -> GuestResponse:
        calls.append(1)
        release.wait(10)
        return result
    return produce


def _wait_for(condition: Callable[[], bool]) -> None:
    stop = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < stop, "condition never became true"
        time.sleep(0.005)


def _run(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.start()


@pytest.mark.parametrize("status", [200, 503])
def test_identical_requests_in_flight_run_once(cache: FetchCache, status: int) -> None:
    release, calls = threading.Event(), list[int]()
    shared = response(status, b"shared")
    produce = _blocking_producer(release, calls, shared)
    results: list[GuestResponse] = []
    threads = [threading.Thread(target=lambda: results.append(cache.fetch_once(key(), 60, produce)))
               for _ in range(4)]
    _run(threads)
    _wait_for(lambda: cache.followers_waiting() == 3)
    release.set()
    for thread in threads:
        thread.join(10)
    assert results == [shared] * 4
    assert len(calls) == 1
    assert (cache.get(key()) is not None) is (status == 200)


def test_a_failed_leader_fails_alone_and_a_follower_takes_over(cache: FetchCache) -> None:
    release, calls = threading.Event(), list[int]()
    errors: list[BaseException] = []

    def produce() -> GuestResponse:
        calls.append(1)
        if len(calls) == 1:
            release.wait(10)
            raise FetchTimeout("the leader ran out of time")
        return OK

    def call() -> None:
        try:
            results.append(cache.fetch_once(key(), 60, produce))
        except FetchTimeout as exc:
            errors.append(exc)

    results: list[GuestResponse] = []
    leader = threading.Thread(target=call)
    leader.start()
    _wait_for(lambda: len(calls) == 1)
    followers = [threading.Thread(target=call) for _ in range(3)]
    _run(followers)
    _wait_for(lambda: cache.followers_waiting() == 3)
    release.set()
    for thread in [leader, *followers]:
        thread.join(10)
    assert len(errors) == 1 and results == [OK] * 3
    assert len(calls) == 2


def test_a_follower_waits_no_longer_than_its_deadline(cache: FetchCache) -> None:
    release, calls = threading.Event(), list[int]()
    leader = threading.Thread(target=cache.fetch_once,
                              args=(key(), 60, _blocking_producer(release, calls)))
    leader.start()
    _wait_for(lambda: len(calls) == 1)
    try:
        with pytest.raises(FetchTimeout, match="in flight"):
            cache.fetch_once(key(), 60, lambda: OK, deadline=time.monotonic() + 0.05)
    finally:
        release.set()
        leader.join(10)
    assert cache.get(key()) == OK


def test_a_full_cache_evicts_the_least_recently_used_and_warns_once_a_minute(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    body = "x" * 3000
    with FetchCache(tmp_path / "small", map_size=256 * 1024) as cache:
        keep = b"k" * 32
        assert cache.put(keep, {"status": 200, "headers": {}, "body": body}, ttl_s=3600)
        stored = 0
        with caplog.at_level("WARNING", logger="corral.fetch"):
            for i in range(400):  # far more than the map holds; none has expired
                key = i.to_bytes(32, "big")
                stored += cache.put(key, {"status": 200, "headers": {}, "body": body},
                                    ttl_s=3600)
                assert cache.get(keep) is not None  # used all along, so never evicted
        assert stored == 400  # each new response made room for itself
        assert cache.get((399).to_bytes(32, "big")) is not None
        assert cache.get((0).to_bytes(32, "big")) is None  # the least recently used went
        full = [r for r in caplog.records if "full" in r.getMessage()]
        assert len(full) <= 1
