"""Three ``corral serve`` nodes with their own data dirs on one PostgreSQL database and
one Redis: any node answers any request.

A pack uploaded on A runs on B; a connection made on A is listed and used on C; a key
made on A works on B and, revoked on C, fails on A and B; a result cached by A is a hit
on B (the upstream counts one request); one uncached call sent to A and B at once
reaches the upstream once; a caller's rate limit holds across the nodes. Changes reach
the other nodes through PostgreSQL's NOTIFY; each check waits for them with a generous
deadline, so no verdict depends on the machine's speed.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from corral._connections.crypto import encode_key
from corral.testing import FixtureRequest, RawServer, raw_response

from ..conftest import PACKS, TEST_PACKS, built
from ..redis_services import base_url, open_space
from ..server.test_server import with_manifest
from ..services import fresh_database
from .cluster import ADMIN, ADMIN_KEY, Cluster

TOKEN = "tok-cluster-bearer-5f3a9c0e1d2b"
CHANGE_DEADLINE_S = 10.0


def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + CHANGE_DEADLINE_S
    while not check():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def upstream() -> Iterator[RawServer]:
    slow = threading.Event()

    def answer(request: FixtureRequest) -> list[bytes]:
        if "slow" in request.path:
            slow.wait(1.0)  # holds the first caller so a second one arrives meanwhile
        body = f'{{"path": "{request.path}", "ok": true}}'.encode()
        return [raw_response(body, headers=[("Content-Type", "application/json")])]

    with RawServer({"/data": answer, "/slow": answer, "/seen": answer}) as server:
        yield server


def upstream_env(upstream: RawServer, **extra: str) -> dict[str, str]:
    port = upstream.port
    return {"CORRAL_ALLOW_HTTP": "1",
            "CORRAL_HOST_MAP": f"api.example.test=127.0.0.1:{port},"
                               f"auth.example.test=127.0.0.1:{port}", **extra}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, postgres_server_url: str,
            upstream: RawServer) -> Iterator[Cluster]:
    """One cluster for the module's tests: each uses its own packs, keys and paths."""
    with fresh_database(postgres_server_url) as store_url, module_redis() as cache_url, \
            Cluster(tmp_path_factory.mktemp("cluster"), store_url=store_url,
                    cache_url=cache_url, secret_key=encode_key(os.urandom(32)),
                    extra_env=upstream_env(upstream)) as nodes:
        yield nodes


@contextmanager
def module_redis() -> Iterator[str]:
    space = open_space(base_url())
    try:
        yield space.url
    finally:
        space.clear()
        space.client.close()


def fetcher_wasm() -> bytes:
    def cache_summary(manifest: dict[str, Any]) -> None:
        for formula in manifest["formulas"]:
            if formula["name"] == "Summary":
                formula["cache_ttl_s"] = 600

    return with_manifest(built(TEST_PACKS / "fetcher").read_bytes(), cache_summary)


def upload(client: httpx.Client, wasm: bytes) -> None:
    answer = client.post("/v1/packs", content=wasm,
                         headers={"Content-Type": "application/wasm"})
    assert answer.status_code == 201, answer.text


def make_key(client: httpx.Client, owner: str) -> tuple[str, str]:
    answer = client.post("/v1/keys", json={"name": owner})
    assert answer.status_code == 201, answer.text
    return answer.json()["id"], answer.json()["key"]


def call(node_url: str, key: str, pack: str, formula: str, *args: Any,
         connection: str | None = None) -> httpx.Response:
    return httpx.post(f"{node_url}/v1/packs/{pack}/formulas/{formula}",
                      json={"args": list(args), "connection": connection},
                      headers={"Authorization": f"Bearer {key}"}, timeout=30)


@pytest.mark.timeout(300)
def test_a_pack_uploaded_on_a_runs_on_b(cluster: Cluster) -> None:
    a, b = cluster["A"], cluster["B"]
    with a.client() as admin:
        upload(admin, built(PACKS / "hello").read_bytes())

    def runs_on_b() -> bool:
        return call(b.url, ADMIN_KEY, "hello", "Greet", "Ada").status_code == 200

    eventually(runs_on_b, "the pack uploaded on A answering on B")
    assert call(b.url, ADMIN_KEY, "hello", "Greet", "Ada").json()["result"] \
        .startswith("Hello")


@pytest.mark.timeout(300)
def test_a_key_made_on_a_works_on_b_and_revoked_on_c_fails_everywhere(
        cluster: Cluster) -> None:
    a, b, c = cluster["A"], cluster["B"], cluster["C"]
    with a.client() as admin:
        upload(admin, built(PACKS / "hello").read_bytes())
        key_id, key = make_key(admin, "ada")
    eventually(lambda: call(b.url, key, "hello", "Greet", "x").status_code == 200,
               "a key made on A working on B")
    with c.client() as admin:
        assert admin.delete(f"/v1/keys/{key_id}").status_code == 204
    for node in (a, b):
        eventually(lambda: call(node.url, key, "hello", "Greet", "x").status_code == 401,
                   f"the key revoked on C failing on {node.name}")


@pytest.mark.timeout(300)
def test_a_connection_made_on_a_is_listed_and_used_on_c(
        cluster: Cluster, upstream: RawServer) -> None:
    a, c = cluster["A"], cluster["C"]
    authed = built(TEST_PACKS / "authed").read_bytes()
    with a.client() as admin:
        upload(admin, authed)
        _, key = make_key(admin, "grace")
    eventually(lambda: httpx.get(f"{c.url}/v1/packs/authed", headers=ADMIN).status_code == 200,
               "the authed pack on C")
    made = httpx.post(f"{a.url}/v1/connections", json={
        "pack": "authed", "name": "mine", "secret": {"token": TOKEN}},
        headers={"Authorization": f"Bearer {key}"})
    assert made.status_code == 201, made.text
    connection = made.json()["id"]
    listed = httpx.get(f"{c.url}/v1/connections", headers={"Authorization": f"Bearer {key}"})
    assert [item["id"] for item in listed.json()] == [connection]
    answer = call(c.url, key, "authed", "Get", "http://auth.example.test/seen",
                  connection=connection)
    assert answer.status_code == 200, answer.text
    seen = [r for r in upstream.requests if r.path == "/seen"]
    assert seen and seen[-1].headers.get("authorization") == f"Bearer {TOKEN}"
    assert TOKEN not in answer.text


@pytest.mark.timeout(300)
def test_a_result_cached_by_a_is_a_hit_on_b(cluster: Cluster, upstream: RawServer) -> None:
    a, b = cluster["A"], cluster["B"]
    with a.client() as admin:
        upload(admin, fetcher_wasm())
    token = ADMIN_KEY
    eventually(lambda: httpx.get(f"{b.url}/v1/packs/fetcher", headers=ADMIN).status_code
               == 200, "the fetcher pack on B")
    url = "http://api.example.test/data"
    first = call(a.url, token, "fetcher", "Summary", url)
    assert first.status_code == 200, first.text
    second = call(b.url, token, "fetcher", "Summary", url)
    assert second.status_code == 200 and second.json() == first.json()
    assert upstream.hits("/data") == 1


@pytest.mark.timeout(300)
def test_one_uncached_call_sent_to_a_and_b_at_once_reaches_the_upstream_once(
        cluster: Cluster, upstream: RawServer) -> None:
    a, b = cluster["A"], cluster["B"]
    with a.client() as admin:
        upload(admin, fetcher_wasm())
    token = ADMIN_KEY
    eventually(lambda: httpx.get(f"{b.url}/v1/packs/fetcher", headers=ADMIN).status_code
               == 200, "the fetcher pack on B")
    url = "http://api.example.test/slow"
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda node: call(node.url, token, "fetcher", "Summary", url),
                                (a, b)))
    assert [r.status_code for r in answers] == [200, 200], [r.text for r in answers]
    assert answers[0].json() == answers[1].json()
    assert upstream.hits("/slow") == 1


RATE_BURST = 60


@pytest.mark.timeout(300)
def test_a_callers_rate_limit_holds_across_nodes(
        tmp_path: Path, postgres_url: str, redis_cache_url: str, upstream: RawServer) -> None:
    """The burst is shared: 60 in the cluster, whichever node a call reaches, and the
    refill (one call per 1000 s) cannot add one during the test."""
    env = upstream_env(upstream, CORRAL_RATE_LIMIT_PER_S="0.001",
                       CORRAL_RATE_LIMIT_BURST=str(RATE_BURST))
    with Cluster(tmp_path, store_url=postgres_url, cache_url=redis_cache_url, count=2,
                 secret_key=encode_key(os.urandom(32)), extra_env=env) as nodes:
        a, b = nodes.nodes
        with a.client() as admin:
            upload(admin, built(PACKS / "hello").read_bytes())
            _, key = make_key(admin, "linus")
        deadline = time.monotonic() + CHANGE_DEADLINE_S
        while httpx.get(f"{b.url}/v1/packs/hello", headers=ADMIN).status_code != 200:
            assert time.monotonic() < deadline, "hello never reached B"
            time.sleep(0.5)  # the admin's own burst is 60 too
        with ThreadPoolExecutor(4) as pool:
            jobs = [pool.submit(call, nodes.nodes[i % 2].url, key, "hello", "Greet", str(i))
                    for i in range(RATE_BURST + 10)]
            statuses = [job.result().status_code for job in jobs]
    assert statuses.count(200) <= RATE_BURST
    assert statuses.count(429) >= 10
    assert set(statuses) <= {200, 429}


@pytest.mark.timeout(300)
def test_an_automation_made_on_a_fires_by_webhook_on_b_and_its_run_is_listed_on_c(
        cluster: Cluster) -> None:
    """Automations and the execution log live in the shared store: the hook's secret
    URL works on any node, and the run it records is read back from any other."""
    a, b, c = cluster["A"], cluster["B"], cluster["C"]
    with a.client() as admin:
        upload(admin, built(PACKS / "hello").read_bytes())
        _, key = make_key(admin, "hopper")
    with a.client(key) as hopper:
        made = hopper.post("/v1/automations", json={
            "name": "greet on hook", "trigger": {"type": "webhook"},
            "actions": [{"pack": "hello", "name": "Greet",
                         "args": ["=$$[variable:payload].who"]}]})
        assert made.status_code == 201, made.text
    hook_path = made.json()["webhook_url"].split("/v1/hooks/", 1)[1]
    eventually(lambda: call(b.url, key, "hello", "Greet", "x").status_code == 200,
               "hello and the key on B")
    fired = httpx.post(f"{b.url}/v1/hooks/{hook_path}", json={"who": "Grace"}, timeout=30)
    assert fired.status_code == 200, fired.text
    assert fired.json()["outcome"] == "ok"

    def listed_on_c() -> bool:
        runs = httpx.get(f"{c.url}/v1/runs", params={"automation": made.json()["id"]},
                         headers={"Authorization": f"Bearer {key}"}, timeout=30)
        return [r["id"] for r in runs.json()["runs"]] == [fired.json()["run"]]

    eventually(listed_on_c, "the automation's run listed on C")
