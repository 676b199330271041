"""A Redis outage, on a private redis-server this test stops and starts: calls still run
(uncached, one warning line for the whole outage), a strict rate limit refuses with
StoreUnavailable (503 with Retry-After over HTTP), and when Redis returns, caching and
the shared limits resume by themselves, on the same objects."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from corral import Host
from corral._errors import Overloaded, StoreUnavailable
from corral._server.apikeys import ApiKeyStore
from corral._server.app import create_app
from corral._server.redis_admission import SharedRateLimiter
from corral._stores.redis_link import RedisLink

from ..redis_services import PrivateRedis, open_space
from .hosts import API, hosts, settings, upstream

RECOVERY_DEADLINE_S = 30.0


def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + RECOVERY_DEADLINE_S
    while not check():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


def test_an_outage_runs_calls_uncached_and_caching_resumes_by_itself(
        tmp_path: Path, private_redis: PrivateRedis, caplog: pytest.LogCaptureFixture) -> None:
    space = open_space(private_redis.url)
    url = f"http://{API}/data"
    with upstream() as server, hosts(tmp_path, space.url, server.port, count=1) as (a,):
        a.call("fetcher", "Summary", url)
        a.call("fetcher", "Summary", url)
        assert server.hits("/data") == 1, "cached while Redis runs"
        private_redis.stop()
        with caplog.at_level(logging.WARNING, logger="corral.redis"):
            for _ in range(5):
                assert a.call("fetcher", "Summary", url) == "/data is ok"
        assert server.hits("/data") == 6, "each call ran, uncached"
        outage_lines = [r for r in caplog.records if "unreachable" in r.getMessage()]
        assert len(outage_lines) == 1, [r.getMessage() for r in caplog.records]
        assert a.redis_link is not None and not a.redis_link.ping()
        private_redis.start()

        def cached_again() -> bool:
            a.call("fetcher", "Summary", url)
            before = server.hits("/data")
            a.call("fetcher", "Summary", url)
            return server.hits("/data") == before

        eventually(cached_again, "caching resumed without recreating the host")
        assert a.redis_link.ping()


def test_a_strict_rate_limit_refuses_during_an_outage_and_a_lax_one_falls_back(
        private_redis: PrivateRedis) -> None:
    space = open_space(private_redis.url)
    strict_link, lax_link = RedisLink(space.url), RedisLink(space.url)
    strict = SharedRateLimiter(strict_link, 0.001, 2, scope="key", strict=True)
    lax = SharedRateLimiter(lax_link, 0.001, 2, scope="key")
    strict.check("linus")
    private_redis.stop()
    with pytest.raises(StoreUnavailable) as refused:
        strict.check("linus")
    assert refused.value.details["store"] == "redis" and refused.value.retry_after_s > 0
    assert "Redis" in str(refused.value) and "127.0.0.1" not in str(refused.value)
    lax.check("linus")  # this node's own bucket: burst 2
    lax.check("linus")
    with pytest.raises(Overloaded):
        lax.check("linus")
    private_redis.start()
    eventually(lambda: _admits(strict, "ada"), "the strict limit answers again")
    strict_link.close()
    lax_link.close()


def _admits(limiter: SharedRateLimiter, who: str) -> bool:
    try:
        limiter.check(who)
    except StoreUnavailable:
        return False
    return True


def test_over_http_a_strict_limit_answers_503_with_retry_after_and_a_lax_one_serves(
        tmp_path: Path, private_redis: PrivateRedis) -> None:
    space = open_space(private_redis.url)
    with upstream() as server:
        for strict in (True, False):
            options = settings(tmp_path / f"strict-{strict}", space.url, server.port,
                               rate_limit_strict=strict)
            with Host(options) as host:
                key = ApiKeyStore.for_settings(options).create("linus")[1]
                with TestClient(create_app(host, options),
                                raise_server_exceptions=False) as client:
                    private_redis.stop()
                    try:
                        answer = client.get("/v1/packs",
                                            headers={"Authorization": f"Bearer {key}"})
                    finally:
                        private_redis.start()
                if strict:
                    assert answer.status_code == 503, answer.text
                    assert answer.json()["store"] == "redis", answer.json()
                    assert answer.headers["content-type"].startswith("application/problem+json")
                    assert int(answer.headers["retry-after"]) >= 1
                else:
                    assert answer.status_code == 200, answer.text


def test_the_password_in_cache_url_never_reaches_an_error_or_a_log(
        caplog: pytest.LogCaptureFixture) -> None:
    port = PrivateRedis.unused_port()
    link = RedisLink(f"redis://user:hunter2-secret@127.0.0.1:{port}/0")
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(StoreUnavailable) as refused:
            link.call(lambda r: r.get("x"))
        assert not link.ping()
    assert f"127.0.0.1:{port}" not in str(refused.value)  # the log says where; a caller not
    assert f"127.0.0.1:{port}" in caplog.text
    assert "hunter2" not in str(refused.value) and "hunter2" not in caplog.text
    assert "user" not in str(refused.value)
    link.close()
