"""Faults in a cluster: a node killed with ``kill -9`` mid-call loses only its own calls;
PostgreSQL or Redis going away makes requests fail fast (503 with ``Retry-After``, or,
for Redis, calls running uncached) and the nodes recover by themselves when it returns.

The services here are private servers started from the binaries on PATH, so stopping
them touches nothing else on the machine."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from corral._connections.crypto import encode_key

from ..conftest import PACKS, TEST_PACKS, built
from .cluster import Cluster
from .test_three_nodes import call, eventually, make_key, upload

RECOVERY_DEADLINE_S = 30.0


def start_cluster(tmp_path: Path, store_url: str, cache_url: str, count: int = 3) -> Cluster:
    return Cluster(tmp_path, store_url=store_url, cache_url=cache_url,
                   secret_key=encode_key(os.urandom(32)), count=count,
                   extra_env={"CORRAL_RATE_LIMIT_PER_S": "1000000",
                              "CORRAL_RATE_LIMIT_BURST": "1000000",
                              "CORRAL_MAX_CONNECTIONS_PER_PRINCIPAL": "100000"})


def hello_everywhere(cluster: Cluster) -> str:
    with cluster.nodes[0].client() as admin:
        upload(admin, built(PACKS / "hello").read_bytes())
        upload(admin, built(TEST_PACKS / "authed").read_bytes())
        _, key = make_key(admin, "load")
    for node in cluster.nodes:
        eventually(lambda: call(node.url, key, "hello", "Greet", "x").status_code == 200,
                   f"hello on {node.name}")
    return key


@pytest.mark.timeout(300)
def test_a_node_killed_mid_call_loses_nothing_acknowledged(
        tmp_path: Path, postgres_url: str, redis_cache_url: str) -> None:
    with start_cluster(tmp_path, postgres_url, redis_cache_url) as cluster:
        key = hello_everywhere(cluster)
        victim, survivors = cluster["B"], [cluster["A"], cluster["C"]]
        acknowledged: list[str] = []
        lock = threading.Lock()
        stop = threading.Event()

        def write_connections(node_index: int) -> None:
            node = cluster.nodes[node_index]
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    answer = httpx.post(f"{node.url}/v1/connections", json={
                        "pack": "authed", "name": f"c{node.name}{n}",
                        "secret": {"token": f"tok-{node.name}-{n}"}},
                        headers={"Authorization": f"Bearer {key}"}, timeout=10)
                except httpx.TransportError:
                    continue  # the killed node: never acknowledged
                if answer.status_code == 201:
                    with lock:
                        acknowledged.append(answer.json()["id"])

        with ThreadPoolExecutor(3) as pool:
            writers = [pool.submit(write_connections, i) for i in range(3)]
            eventually(lambda: len(acknowledged) >= 30, "30 acknowledged writes")
            victim.kill()
            during = [call(node.url, key, "hello", "Greet", "after").status_code
                      for node in survivors for _ in range(5)]
            eventually(lambda: len(acknowledged) >= 60, "more writes after the kill")
            stop.set()
            for writer in writers:
                writer.result()
        assert during == [200] * len(during)
        for node in survivors:
            listed = httpx.get(f"{node.url}/v1/connections",
                               headers={"Authorization": f"Bearer {key}"}, timeout=30)
            assert listed.status_code == 200
            assert set(acknowledged) <= {item["id"] for item in listed.json()}
        victim.start()
        victim.wait_ready()
        listed = httpx.get(f"{victim.url}/v1/connections",
                           headers={"Authorization": f"Bearer {key}"}, timeout=30)
        assert set(acknowledged) <= {item["id"] for item in listed.json()}


def outage_answers(node_url: str, key: str) -> list[httpx.Response]:
    return [call(node_url, key, "hello", "Greet", f"outage {i}") for i in range(5)]


@pytest.mark.timeout(300)
def test_postgres_restarting_under_load_answers_503_then_recovers(
        tmp_path: Path, private_postgres: object, redis_cache_url: str) -> None:
    server = private_postgres
    with start_cluster(tmp_path, server.url, redis_cache_url, count=2) as cluster:  # type: ignore[attr-defined]
        key = hello_everywhere(cluster)
        server.stop()  # type: ignore[attr-defined]
        try:
            for node in cluster.nodes:
                started = time.monotonic()
                answers = outage_answers(node.url, key)
                assert all(r.status_code == 503 for r in answers), [r.text for r in answers]
                assert all(r.headers.get("retry-after", "").isdigit() for r in answers)
                assert all(r.headers["content-type"].startswith("application/problem+json")
                           for r in answers)
                assert answers[0].json()["kind"] == "store_unavailable"
                ready = httpx.get(f"{node.url}/readyz", timeout=10)
                assert ready.status_code == 503, ready.text
                assert time.monotonic() - started < 60  # failing fast, not hanging
        finally:
            server.start()  # type: ignore[attr-defined]
        for node in cluster.nodes:
            eventually(lambda: call(node.url, key, "hello", "Greet", "back").status_code
                       == 200, f"{node.name} serving again without a restart")
            assert httpx.get(f"{node.url}/readyz", timeout=10).status_code == 200


@pytest.mark.timeout(300)
def test_redis_restarting_under_load_runs_calls_uncached_then_recovers(
        tmp_path: Path, postgres_url: str, private_redis: object) -> None:
    server = private_redis
    with start_cluster(tmp_path, postgres_url, server.url, count=2) as cluster:  # type: ignore[attr-defined]
        key = hello_everywhere(cluster)
        server.stop()  # type: ignore[attr-defined]
        try:
            for node in cluster.nodes:
                answers = outage_answers(node.url, key)
                assert [r.status_code for r in answers] == [200] * 5, [r.text for r in answers]
                assert httpx.get(f"{node.url}/readyz", timeout=10).status_code == 503
        finally:
            server.start()  # type: ignore[attr-defined]
        for node in cluster.nodes:
            eventually(lambda: httpx.get(f"{node.url}/readyz", timeout=10).status_code == 200,
                       f"{node.name} ready again without a restart")
