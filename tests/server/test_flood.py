"""One caller's flood through the real service (uvicorn, the fetcher pack, an upstream on
127.0.0.1 that holds every request until the test lets go): the flood gets its share of
slots and queue and 429 beyond it; another caller's calls still run, and its cache hits
and memoised formulas are answered even when its own share is used up. Counted, never
timed: the test waits for the gate to show the expected counts."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable

import httpx
import pytest

from corral._host import Host
from corral._runtime.pack import read_manifest
from corral._server.admission import CallGate
from corral._server.apikeys import ApiKeyStore
from corral._server.app import create_app
from corral._settings import Settings
from corral._pack.wasm import MANIFEST_SECTION, set_custom_section

from ..conftest import PACKS, TEST_PACKS, built
from ..fetch_servers import TEST_HOST, ApiServer
from .test_server_e2e import RunningServer


class Flood:
    def __init__(self, server: RunningServer, api: ApiServer, keys: dict[str, str]) -> None:
        self.server = server
        self.api = api
        self.keys = keys
        self.gate: CallGate = server.app.state.corral.gate
        self.pool = ThreadPoolExecutor(max_workers=16)

    def post(self, who: str, path: str, body: dict[str, Any]) -> httpx.Response:
        with httpx.Client(base_url=self.server.url, timeout=60,
                          headers={"Authorization": f"Bearer {self.keys[who]}"}) as client:
            return client.post(path, json=body)

    def held_fetch(self, who: str, i: int) -> Future[httpx.Response]:
        url = self.api.url(f"/json?caller={who}&n={i}")  # distinct: no single flight
        return self.pool.submit(self.post, who, "/v1/packs/fetcher/formulas/Fetch",
                                {"args": [url]})

    def greet(self, who: str, name: str) -> httpx.Response:
        return self.post(who, "/v1/packs/hello/formulas/Greet", {"args": [name]})


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30  # a guard against hanging, not a measurement
    while not condition():
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.005)


def fetcher_for(port: int) -> bytes:
    wasm = built(TEST_PACKS / "fetcher").read_bytes()
    manifest = read_manifest(wasm).to_dict()
    manifest["pack"]["network_domains"] = [f"{TEST_HOST}:{port}"]
    manifest["limits"]["timeout_ms"] = 60_000  # held calls must not time out first
    return set_custom_section(wasm, MANIFEST_SECTION, json.dumps(manifest).encode())


@pytest.fixture(scope="module")
def flood(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flood]:
    data = tmp_path_factory.mktemp("flood")
    settings = Settings(data_dir=data, allow_http=True, host_map={TEST_HOST: "127.0.0.1"},
                        global_concurrency=8, max_queue=16, principal_concurrency=2,
                        principal_queue=2, max_workers=8, per_pack_concurrency=4,
                        evaluate_deadline_s=60)
    with ApiServer() as api, Host(settings) as host:
        host.register_file(built(PACKS / "hello"))
        host.register_bytes(fetcher_for(api.port))
        store = ApiKeyStore(data / "api-keys.json")
        keys = {who: store.create(who)[1] for who in ("mallory", "alice")}
        server = RunningServer(create_app(host, settings, keys=store)).start()
        flood = Flood(server, api, keys)
        try:
            yield flood
        finally:
            flood.pool.shutdown(wait=False, cancel_futures=True)
            server.stop()


def test_a_flood_waits_behind_itself_and_another_callers_answers_do_not(flood: Flood) -> None:
    release = flood.api.hold_responses()
    gate = flood.gate
    assert flood.greet("alice", "warm").status_code == 200  # now in the result cache
    flooded = [flood.held_fetch("mallory", i) for i in range(6)]
    wait_for(lambda: sum(f.done() for f in flooded) == 2, "two of the flood refused")
    wait_for(lambda: (gate.running_for("mallory"), gate.waiting_for("mallory")) == (2, 2),
             "the flood holding its share")
    refused = [f.result() for f in flooded if f.done()]
    assert [r.status_code for r in refused] == [429, 429]
    assert all(r.json()["kind"] == "overloaded" for r in refused)

    fresh = flood.greet("alice", "fresh")  # alice's own share is free
    assert fresh.status_code == 200 and fresh.json()["result"] == "Hello, fresh!"

    memo = {"formula": '=hello.Greet("memo") & "!"'}
    assert flood.post("alice", "/v1/evaluate", memo).status_code == 200
    alices = [flood.held_fetch("alice", i) for i in range(4)]  # her share and queue, held
    wait_for(lambda: (gate.running_for("alice"), gate.waiting_for("alice")) == (2, 2),
             "alice's share in use")
    hit = flood.greet("alice", "warm")
    assert hit.status_code == 200 and hit.json()["result"] == "Hello, warm!"
    memoised = flood.post("alice", "/v1/evaluate", memo)
    assert memoised.status_code == 200 and memoised.json()["result"] == "Hello, memo!!"
    assert flood.greet("alice", "uncached").status_code == 429, "a miss does wait its turn"

    release.set()
    assert [f.result().status_code for f in alices] == [200] * 4
    assert [f.result().status_code for f in flooded if f.result() not in refused] == [200] * 4
    wait_for(lambda: gate.running == 0, "every slot given back")
