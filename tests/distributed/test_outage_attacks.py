"""What an outsider learns when PostgreSQL or Redis is down: nothing about the
infrastructure. Every route answers 503 problem+json with ``Retry-After`` (or works),
never a bare 500; no answer names the store's URL, its password, its host or port, SQL or
the driver; and the node's log never holds the passwords of ``store_url``/``cache_url``.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from corral._connections.crypto import encode_key

from ..conftest import PACKS, built
from ..pgfixture import running_postgres
from ..redis_services import PrivateRedis
from .cluster import ADMIN, Cluster
from .test_attacks import with_password
from .test_three_nodes import eventually, make_key, upload

PG_PASSWORD = "pg-OUTAGE-pw-51c0e2"
REDIS_PASSWORD = "redis-OUTAGE-pw-7ab93d"
TELLTALES = ("SELECT", "INSERT", "corral_kv", "psycopg", "redis.exceptions", "Traceback",
             "postgresql://", "redis://", "OperationalError", "ConnectionError")


def probes(key: str) -> list[tuple[str, str, dict[str, object] | None, dict[str, str]]]:
    user = {"Authorization": f"Bearer {key}"}
    return [
        ("GET", "/readyz", None, {}),
        ("GET", "/v1/packs", None, user),
        ("GET", "/v1/connections", None, user),
        ("POST", "/v1/connections", {"pack": "hello", "secret": {"token": "t-0123456789"}}, user),
        ("POST", "/v1/packs/hello/formulas/Greet", {"args": ["Ada"]}, user),
        ("POST", "/v1/evaluate", {"formula": '=hello.Greet("Ada")'}, user),
        ("GET", "/v1/keys", None, ADMIN),
        ("POST", "/v1/keys", {"name": "late"}, ADMIN),
        ("POST", "/v1/console/session", {"key": key}, {}),
        ("GET", "/v1/console/session", None, {"Cookie": "corral_session=abcdefgh"}),
        ("GET", "/v1/packs/hello", None, {"Authorization": "Bearer corral_00000000_nope"}),
    ]


def assert_discreet(answer: httpx.Response, what: str, infra: list[str]) -> None:
    assert answer.status_code != 500, f"{what}: a bare 500: {answer.text}"
    assert answer.status_code < 500 or answer.status_code == 503, f"{what}: {answer.text}"
    if answer.status_code == 503:
        assert answer.headers.get("retry-after"), f"{what}: 503 without Retry-After"
        assert answer.headers["content-type"].startswith("application/problem+json"), what
    seen = answer.text + "".join(f"{k}: {v}" for k, v in answer.headers.items())
    for telltale in [*TELLTALES, *infra]:
        assert telltale not in seen, f"{what} reveals {telltale!r}: {answer.text}"


@pytest.mark.timeout(300)
def test_store_and_cache_outages_reveal_nothing_about_them(tmp_path: Path) -> None:
    with running_postgres() as pg:
        cache = PrivateRedis().start()
        try:
            store_url = with_password(pg.url, "postgres", PG_PASSWORD)
            cache_url = with_password(cache.url, "default", REDIS_PASSWORD)
            infra = [PG_PASSWORD, REDIS_PASSWORD, f":{pg.port}", f":{cache.port}",
                     "127.0.0.1"]
            with Cluster(tmp_path / "nodes", store_url=store_url, cache_url=cache_url,
                         count=1, secret_key=encode_key(os.urandom(32)),
                         extra_env={"CORRAL_RATE_LIMIT_STRICT": "1"}) as cluster:
                node = cluster.nodes[0]
                with node.client() as admin:
                    upload(admin, built(PACKS / "hello").read_bytes())
                    _, key = make_key(admin, "ada")
                for outage in ("postgresql", "redis", "both"):
                    if outage in ("postgresql", "both"):
                        pg.stop(mode="immediate")
                    if outage in ("redis", "both"):
                        cache.stop()
                    statuses = []
                    for method, path, body, headers in probes(key):
                        answer = httpx.request(method, f"{node.url}{path}", json=body,
                                               headers=headers, timeout=30)
                        assert_discreet(answer, f"{method} {path} ({outage} down)", infra)
                        statuses.append(answer.status_code)
                    assert 503 in statuses, (outage, statuses)
                    if outage != "redis":
                        pg.start()
                    if outage != "postgresql":
                        cache.start()
                    eventually(lambda: httpx.get(f"{node.url}/readyz").status_code == 200,
                               f"ready again after the {outage} outage")
                log = node.log()
                for secret in (PG_PASSWORD, REDIS_PASSWORD, key):
                    assert secret not in log, f"{secret!r} in the node's log"
                assert urlsplit(store_url).password not in log
        finally:
            cache.close()
