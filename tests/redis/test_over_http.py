"""Over HTTP, two services on their own data dirs and one Redis: a result one caches is
a hit on the other (the upstream counts one request), and a caller's rate limit holds
across both."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from fastapi.testclient import TestClient

from corral import Host
from corral._server.apikeys import ApiKeyStore
from corral._server.app import create_app

from ..redis_services import RedisSpace
from .hosts import API, hosts, upstream


@contextmanager
def services(tmp_path: Path, cache_url: str, port: int,
             **extra: object) -> Iterator[list[tuple[TestClient, str, Host]]]:
    with hosts(tmp_path, cache_url, port, **extra) as made, ExitStack() as stack:
        clients = []
        for host in made:
            key = ApiKeyStore.for_settings(host.settings).create("linus")[1]
            client = stack.enter_context(TestClient(create_app(host),
                                                    raise_server_exceptions=False))
            clients.append((client, key, host))
        yield clients


def call(client: TestClient, key: str, *args: object) -> tuple[int, object]:
    answer = client.post("/v1/packs/fetcher/formulas/Summary", json={"args": list(args)},
                         headers={"Authorization": f"Bearer {key}"})
    return answer.status_code, answer.json()


def test_a_result_cached_through_one_service_is_a_hit_on_the_other(
        tmp_path: Path, redis_space: RedisSpace) -> None:
    with upstream() as server, services(tmp_path, redis_space.url, server.port) as (a, b):
        first = call(*a[:2], f"http://{API}/data")
        second = call(*b[:2], f"http://{API}/data")
        assert first == second and first[0] == 200, (first, second)
        assert server.hits("/data") == 1
        stats = b[2].scheduler.stats()
        assert stats.started == 0 and stats.cache_hits == 0, "B answered on its event loop"


def test_a_callers_rate_limit_holds_across_two_services(
        tmp_path: Path, redis_space: RedisSpace) -> None:
    with upstream() as server, services(tmp_path, redis_space.url, server.port,
                                        rate_limit_per_s=0.001, rate_limit_burst=4) as (a, b):
        statuses = [call(*(a if i % 2 else b)[:2], f"http://{API}/data")[0] for i in range(6)]
        assert statuses == [200] * 4 + [429] * 2, statuses
