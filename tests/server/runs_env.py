"""A real server for the execution-log and automation tests: uvicorn on loopback with the
hello and github packs, the github pack talking to a fake GitHub, a clock the tests move,
and keys for alice, bob and the admin."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

import httpx

from corral import Host, Settings, create_app
from corral._server.apikeys import ApiKeyStore
from corral._server.service import Service
from corral.testing import LoopbackRouter

from ..conftest import PACKS, built
from ..fake_github import TOKEN, FakeGitHub
from .test_server_e2e import RunningServer

REPO_NAME = "octo/demo"


class Clock:
    """Wall-clock seconds that move only when a test says so."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


class RunsEnv:
    def __init__(self, server: RunningServer, host: Host, service: Service, api: FakeGitHub,
                 keys: dict[str, str], clock: Clock, data_dir: Path) -> None:
        self.server = server
        self.host = host
        self.service = service
        self.api = api
        self.keys = keys
        self.clock = clock
        self.data_dir = data_dir

    def client(self, who: str) -> httpx.Client:
        return httpx.Client(base_url=self.server.url, timeout=60,
                            headers={"Authorization": f"Bearer {self.keys[who]}"})

    def runs(self, who: str, **query: Any) -> dict[str, Any]:
        """The caller's runs, once every run queued so far is written."""
        assert self.service.runs.flush(), "the execution log did not drain"
        with self.client(who) as client:
            answer = client.get("/v1/runs", params=query)
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    def connect_github(self, who: str) -> str:
        with self.client(who) as client:
            made = client.post("/v1/connections", json={"pack": "github", "name": "gh",
                                                        "secret": {"token": TOKEN}})
        assert made.status_code == 201, made.text
        connection: str = made.json()["id"]
        return connection


@contextmanager
def runs_env(data: Path, **overrides: Any) -> Iterator[RunsEnv]:
    settings = Settings(data_dir=data, **{"automations_tick_s": 3600.0, **overrides})
    clock = Clock()
    with FakeGitHub() as api:
        api.add_repo(REPO_NAME, issues=3)
        router = LoopbackRouter({"api.github.test": api.port})
        with Host(settings, fetch_transport=router, clock=clock) as host:
            host.register_file(built(PACKS / "hello"))
            host.register_file(built(PACKS / "github"))
            keys_store = ApiKeyStore.for_settings(settings)
            admin = keys_store.ensure_admin()
            assert admin is not None
            keys = {"admin": admin}
            for name in ("alice", "bob", "dave"):
                keys[name] = keys_store.create(name, "caller")[1]
            app = create_app(host, settings, keys=keys_store)
            server = RunningServer(app).start()
            try:
                yield RunsEnv(server, host, app.state.corral, api, keys, clock, data)
            finally:
                server.stop()
                keys_store.close()


def poll(check: Callable[[], Any], *, deadline_s: float = 60.0) -> Any:
    """``check()``'s first truthy answer, asked until a generous deadline."""
    end = time.monotonic() + deadline_s
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < end, "gave up waiting"
        time.sleep(0.05)


def stored_bytes(directory: Path) -> bytes:
    """Every byte of every file under ``directory``."""
    return b"".join(p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file())
