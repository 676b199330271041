"""The door of the HTTP service, tried from outside: the key is checked and the body
capped before a byte of the body is read (raw sockets against a real uvicorn that would
otherwise wait for the rest of a body nobody sends), and routes without a key are rate
limited per client address at the configured rate (an injected clock: no sleeping)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from corral._host import Host
from corral._server.apikeys import ApiKeyStore
from corral._server.app import create_app
from corral._settings import Settings

from ..conftest import PACKS, built
from .test_server_e2e import RunningServer

CAP = 64 * 1024


class Door:
    def __init__(self, host: Host, keys: ApiKeyStore, key: str, server: RunningServer) -> None:
        self.host = host
        self.keys = keys
        self.key = key
        self.server = server

    def raw(self, head: str, body: bytes = b"") -> bytes:
        """Send a request head (and maybe the start of a body, never the rest); return
        what the service answers before it would have to read more."""
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=10) as sock:
            sock.sendall(head.encode("latin-1") + body)
            answer = b""
            while b"\r\n\r\n" not in answer:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
            return answer


@pytest.fixture(scope="module")
def door(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Door]:
    data = tmp_path_factory.mktemp("door")
    settings = Settings(data_dir=data, max_body_bytes=CAP, max_upload_bytes=2 * CAP)
    with Host(settings) as host:
        host.register_file(built(PACKS / "hello"))
        keys = ApiKeyStore(data / "api-keys.json")
        key = keys.create("alice")[1]
        server = RunningServer(create_app(host, settings, keys=keys)).start()
        try:
            yield Door(host, keys, key, server)
        finally:
            server.stop()


def head(path: str, length: int, key: str | None = None, *, chunked: bool = False) -> str:
    lines = [f"POST {path} HTTP/1.1", "Host: corral.test", "Content-Type: application/json"]
    lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {length}")
    if key is not None:
        lines.append(f"Authorization: Bearer {key}")
    return "\r\n".join(lines) + "\r\n\r\n"


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def test_an_unauthenticated_96_mib_body_is_refused_401_unread(door: Door) -> None:
    answer = door.raw(head("/v1/evaluate", 96 * 1024 * 1024), b'{"formula": "=1')
    assert status_of(answer) == 401
    assert b"www-authenticate: bearer" in answer.lower()


def test_a_wrong_key_with_a_body_is_401_not_a_validation_error(door: Door) -> None:
    answer = door.raw(head("/v1/evaluate", 5, key="corral_nope_nope"), b"nope!")
    assert status_of(answer) == 401


def test_an_authenticated_body_declared_over_the_cap_is_413_unread(door: Door) -> None:
    answer = door.raw(head("/v1/evaluate", 96 * 1024 * 1024, door.key), b'{"formula": "=1')
    assert status_of(answer) == 413
    assert status_of(door.raw(head("/v1/packs/hello/formulas/Greet", CAP + 1, door.key))) == 413


def test_a_streamed_body_over_the_cap_is_413_before_it_is_parsed(door: Door) -> None:
    chunk = b'{"formula": "' + b"1" * CAP  # never a complete JSON document
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    answer = door.raw(head("/v1/evaluate", 0, door.key, chunked=True), framed)
    assert status_of(answer) == 413, answer[:200]


def test_bodies_under_the_cap_still_work(door: Door) -> None:
    body = b'{"formula": "=hello.Greet(\\"Ada\\")"}'
    answer = door.raw(head("/v1/evaluate", len(body), door.key), body)
    assert status_of(answer) == 200


def test_uploads_have_their_own_cap(door: Door) -> None:
    admin = door.keys.ensure_admin() or ""
    lines = ["POST /v1/packs HTTP/1.1", "Host: corral.test", f"Content-Length: {3 * CAP}",
             f"Authorization: Bearer {admin}"]
    assert status_of(door.raw("\r\n".join(lines) + "\r\n\r\n")) == 413


# -- routes without a key: a bucket per client address -------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limited_app(host: Host, tmp_path: Path, clock: Clock,
                held_back: list[float] | None = None) -> TestClient:
    settings = Settings(data_dir=host.settings.data_dir, public_rate_limit_per_s=2.0,
                        public_rate_limit_burst=3)
    app = create_app(host, settings, keys=ApiKeyStore(tmp_path / "keys.json"), clock=clock)
    waits = held_back if held_back is not None else []

    async def no_sleep(seconds: float) -> None:  # record the hold-back instead of waiting
        waits.append(seconds)

    app.state.corral.sleep = no_sleep
    return TestClient(app, client=("198.51.100.7", 40000))


def test_the_public_rate_limit_engages_at_its_configured_rate(door: Door,
                                                               tmp_path: Path) -> None:
    clock, held_back = Clock(), []

    def callback(client: TestClient) -> int:
        return client.get("/v1/oauth2/callback", params={"state": "s", "code": "c"}).status_code

    with limited_app(door.host, tmp_path, clock, held_back) as client:
        assert [callback(client) for _ in range(4)] == [400, 400, 400, 429]
        assert held_back == [0.5], "a refusal is held back for its Retry-After, at most 1 s"
        limited = client.get("/v1/oauth2/callback", params={"state": "s", "code": "c"})
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
        # the console's page and files spend no budget (a page load fetches many); probes do
        assert [client.get(path).status_code for path in ("/", "/console/app.js", "/docs",
                                                          "/healthz")] == [200, 200, 200, 429]
        clock.now += 0.5  # 2 per second: one token back
        assert [callback(client) for _ in range(2)] == [400, 429]
        clock.now += 100  # refilled to the burst, not beyond it
        assert [callback(client) for _ in range(4)] == [400, 400, 400, 429]
        assert 'corral_rejected_total{reason="public_rate_limit"}' in door.host.metrics.render()
    with limited_app(door.host, tmp_path, clock) as client:
        other = TestClient(client.app, client=("203.0.113.9", 40000))
        assert callback(other) == 400, "a bucket per address"


def test_the_oauth_callback_and_failed_keys_spend_the_address_budget(door: Door,
                                                                     tmp_path: Path) -> None:
    clock = Clock()
    with limited_app(door.host, tmp_path, clock) as client:
        statuses = [client.get("/v1/oauth2/callback", params={"state": "s", "code": "c"}
                               ).status_code for _ in range(2)]
        statuses.append(client.get("/v1/packs", headers={"Authorization": "Bearer guess"}
                                   ).status_code)
        statuses.append(client.get("/v1/packs", headers={"Authorization": "Bearer guess2"}
                                   ).status_code)
        statuses.append(client.get("/v1/oauth2/callback", params={"state": "s", "code": "c"}
                                   ).status_code)
        assert statuses == [400, 400, 401, 429, 429]
        assert client.get("/healthz").status_code == 429
