"""Storage errors over real HTTP: a full store or a full disk answers 507 with a problem
document that names the store and not LMDB, and any 5xx leaves the kept-alive connection
usable (or says ``Connection: close``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from corral import Host, Settings, create_app

from ..conftest import PACKS, REPO, built
from ..small_disk import fill, seen_by, spawn_on_tmpfs
from .test_server import with_manifest
from .test_server_e2e import RunningServer, free_port, wait_until_up

ADMIN_KEY = "admin-key-for-the-storage-tests-0123"
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
LMDB_WORDS = ("mdb", "lmdb", "map_full", "mapfull", "no space", "errno", "environment")


def bearer_pack() -> bytes:
    return with_manifest(built(PACKS / "hello").read_bytes(), lambda m: m.update(
        pack={**m["pack"], "name": "bearerdemo", "network_domains": ["api.demo.test"]},
        auth={"kind": "bearer"}))


def socket_of(response: httpx.Response) -> Any:
    """The client end of the TCP connection a response came over."""
    return response.extensions["network_stream"].get_extra_info("client_addr")


def assert_connection_usable_after(client: httpx.Client, failed: httpx.Response) -> None:
    """A 5xx either says ``Connection: close`` or leaves the connection usable."""
    assert failed.status_code >= 500
    if failed.headers.get("connection", "").lower() == "close":
        return
    after = client.get("/healthz")
    assert after.status_code == 200
    assert socket_of(after) == socket_of(failed), "the connection was dropped silently"


def assert_honest_507(response: httpx.Response, store: str) -> None:
    assert response.status_code == 507, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert (body["kind"], body["status"], body["store"]) == ("storage_full", 507, store)
    assert body["type"] == "urn:corral:problem:storage_full"
    assert body["title"] == "Storage full"
    assert not any(word in response.text.lower() for word in LMDB_WORDS), response.text


@pytest.fixture
def small_store_server(tmp_path: Path) -> Iterator[RunningServer]:
    settings = Settings(data_dir=tmp_path, admin_key=ADMIN_KEY,
                        connections_map_bytes=64 * 1024, connections_map_max_bytes=256 * 1024)
    with Host(settings) as host:
        host.register_bytes(bearer_pack())
        app = create_app(host, settings)
        app.state.corral.keys.import_key(ADMIN_KEY, "admin", "admin")

        async def broken() -> None:
            raise RuntimeError("a fault of the host itself")

        app.add_api_route("/v1/broken", broken)
        server = RunningServer(app).start()
        try:
            yield server
        finally:
            server.stop()


def test_an_unexpected_500_keeps_the_connection_usable(
        small_store_server: RunningServer) -> None:
    with httpx.Client(base_url=small_store_server.url, timeout=30, headers=AUTH) as client:
        first = client.get("/healthz")
        for _ in range(3):
            failed = client.get("/v1/broken")
            assert failed.status_code == 500 and failed.json()["kind"] == "internal"
            assert "a fault of the host" not in failed.text
            assert_connection_usable_after(client, failed)
        assert socket_of(client.get("/healthz")) == socket_of(first)
        metrics = client.get("/metrics").text
        assert 'route="/v1/broken",status="500"} 3' in metrics


def test_a_full_connection_store_grows_then_answers_507_and_keeps_the_connection(
        small_store_server: RunningServer) -> None:
    with httpx.Client(base_url=small_store_server.url, timeout=30, headers=AUTH) as client:
        made: list[str] = []
        for i in range(500):
            answer = client.post("/v1/connections", json={
                "pack": "bearerdemo", "name": f"c{i}", "secret": {"token": "t" * 2000}})
            if answer.status_code != 201:
                break
            made.append(answer.json()["id"])
        # 64 KiB cannot hold 33 tokens of 2000 bytes, so more than 32 means the map grew
        assert len(made) > 32, f"the map did not grow past its first 64 KiB: {len(made)}"
        assert_honest_507(answer, "connection store")
        assert answer.json()["setting"] == "connections_map_max_bytes"
        assert_connection_usable_after(client, answer)
        listed = client.get("/v1/connections")
        assert listed.status_code == 200 and {c["id"] for c in listed.json()} == set(made)


@pytest.mark.timeout(180)
def test_a_full_disk_answers_507_then_recovers_when_space_comes_back(tmp_path: Path) -> None:
    pack = tmp_path / "bearerdemo.wasm"
    pack.write_bytes(bearer_pack())
    data_dir, port = tmp_path / "data", free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    env.update(CORRAL_ADMIN_KEY=ADMIN_KEY, CORRAL_PACKS=str(pack))
    server = spawn_on_tmpfs(data_dir, 8 << 20, [
        sys.executable, "-m", "corral", "serve", "--data-dir", str(data_dir), "--port",
        str(port)], env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/healthz", server)  # type: ignore[arg-type]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30,
                          headers=AUTH) as client:
            def connect(name: str) -> httpx.Response:
                return client.post("/v1/connections", json={
                    "pack": "bearerdemo", "name": name, "secret": {"token": "t" * 20_000}})

            assert connect("before").status_code == 201
            filler = seen_by(server.pid, data_dir / "filler")
            assert fill(filler) > 0
            answers = [connect(f"full-{i}") for i in range(20)]
            refused = [a for a in answers if a.status_code != 201]
            assert refused, "some write must meet the full disk"
            for answer in refused:
                assert_honest_507(answer, "connection store")
                assert "disk" in answer.json()["detail"]
            assert_connection_usable_after(client, refused[0])
            filler.unlink()  # space comes back: no restart needed
            assert connect("after").status_code == 201
            names = {c["name"] for c in client.get("/v1/connections").json()}
            assert {"before", "after"} <= names
            assert names - {"before", "after"} == {
                f"full-{i}" for i, a in enumerate(answers) if a.status_code == 201}
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
