"""No response crosses calls: an upstream that sends a response nobody asked for never has it
read as the answer to a later request, and kept-alive connections are never shared between
callers. Against real upstreams on 127.0.0.1 (a raw one that pipelines extra responses)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from corral._fetch.client import FetchClient, FetchConfig, PinnedTransport
from corral._fetch.pool import THREAD_POOLS
from corral.testing import CountingConnector, FixtureRequest, RawServer, raw_response
from tests.fetch_servers import TEST_HOST, ApiServer, make_tls_files

from .bearer import Bearer

PACK_HASH = "0" * 64


ALICE = Bearer("alice-SECRET-token", "conn-alice")
BOB = Bearer("bob-token", "conn-bob")


def first_then_extra(request: FixtureRequest) -> list[bytes]:
    """The real answer and, in the same write, an answer nobody asked for: it reflects the
    request's credentials, as a hostile or merely echoing upstream would."""
    reflected = request.headers.get("authorization", "none").encode()
    return [raw_response(b"first") + raw_response(b"STALE " + reflected)]


def second(request: FixtureRequest) -> list[bytes]:
    return [raw_response(b"second")]


@pytest.fixture
def upstream() -> Iterator[RawServer]:
    with RawServer({"/first": first_then_extra, "/second": second}) as server:
        yield server


def client_for(connector: CountingConnector | None = None, **settings: Any) -> FetchClient:
    settings.setdefault("allow_http", True)
    config = FetchConfig(host_map={TEST_HOST: "127.0.0.1"}, **settings)
    return FetchClient(config, transport=PinnedTransport(config, connector=connector))


def get(client: FetchClient, port: int, path: str, *, principal: str = "",
        credentials: Any = None, pack_hash: str = PACK_HASH, scheme: str = "http"
        ) -> dict[str, Any]:
    return client.fetch({"url": f"{scheme}://{TEST_HOST}:{port}{path}"}, pack="Test",
                        pack_hash=pack_hash, principal=principal,
                        domains=[f"example.test:{port}"], credentials=credentials)


def test_an_unrequested_response_is_never_read_as_the_next_answer(upstream: RawServer) -> None:
    connector = CountingConnector()
    with client_for(connector) as client:
        assert get(client, upstream.port, "/first", principal="ada")["body"] == "first"
        assert get(client, upstream.port, "/second", principal="ada")["body"] == "second"
    assert connector.connections == 2, "the connection holding the extra bytes was closed"
    assert upstream.hits("/second") == 1, "the second request really went out"


@pytest.mark.parametrize("writes", [1, 2])
def test_over_tls_an_unrequested_response_is_never_read_either(tmp_path: Path,
                                                              writes: int) -> None:
    """One TLS record holding both responses, or one record each (the second may wait in
    the socket or in the TLS layer: neither is read as the next answer)."""
    ca, cert, key = make_tls_files(tmp_path, [TEST_HOST])

    def extra(request: FixtureRequest) -> list[bytes]:
        parts = [raw_response(b"first"), raw_response(b"STALE")]
        return [b"".join(parts)] if writes == 1 else parts

    connector = CountingConnector()
    with RawServer({"/first": extra, "/second": second}, tls=(cert, key)) as server, \
            client_for(connector, allow_http=False, ca_file=str(ca)) as client:
        assert get(client, server.port, "/first", scheme="https")["body"] == "first"
        assert get(client, server.port, "/second", scheme="https")["body"] == "second"
    assert connector.connections == 2


def test_another_principal_never_receives_an_unrequested_response(upstream: RawServer) -> None:
    with client_for() as client:
        assert get(client, upstream.port, "/first", principal="alice",
                   credentials=ALICE)["body"] == "first"
        answer = get(client, upstream.port, "/second", principal="bob", credentials=BOB)
    assert answer["body"] == "second"
    assert ALICE.token not in repr(answer)


def test_an_unrequested_response_that_arrives_later_is_never_read(upstream: RawServer) -> None:
    sent = threading.Event()
    go = threading.Event()

    def late_extra(request: FixtureRequest) -> Iterator[bytes]:
        yield raw_response(b"first")
        go.wait(10)
        yield raw_response(b"STALE")
        sent.set()

    with RawServer({"/first": late_extra, "/second": second}) as server, client_for() as client:
        assert get(client, server.port, "/first")["body"] == "first"
        go.set()
        assert sent.wait(10)
        assert get(client, server.port, "/second")["body"] == "second"


@pytest.fixture
def api() -> Iterator[ApiServer]:
    with ApiServer() as server:
        yield server


def ports(api: ApiServer, client: FetchClient, **caller: Any) -> int:
    get(client, api.port, "/json", **caller)
    return api.requests[-1].peer_port


def test_kept_alive_connections_are_per_caller(api: ApiServer) -> None:
    with client_for() as client:
        ada = ports(api, client, principal="ada")
        assert ports(api, client, principal="ada") == ada, "a caller keeps its connection"
        bob = ports(api, client, principal="bob")
        assert bob != ada, "another principal gets its own"
        assert ports(api, client, principal="ada", credentials=ALICE) not in (ada, bob), \
            "so does another connection of the same principal"
        assert ports(api, client, principal="ada", pack_hash="1" * 64) not in (ada, bob), \
            "and another pack (or version)"
        assert ports(api, client, principal="ada") == ada, "the first is still kept alive"


def test_a_thread_keeps_the_pools_of_its_most_recent_callers(api: ApiServer) -> None:
    with client_for() as client:
        first = {i: ports(api, client, principal=f"p{i}") for i in range(THREAD_POOLS + 1)}
        assert ports(api, client, principal=f"p{THREAD_POOLS}") == first[THREAD_POOLS]
        assert ports(api, client, principal="p0") != first[0], \
            "the least recently used caller's pool was closed to make room"


def test_a_request_without_a_caller_key_shares_no_connection(api: ApiServer) -> None:
    config = FetchConfig(allow_http=True, host_map={TEST_HOST: "127.0.0.1"})
    with httpx.Client(transport=PinnedTransport(config)) as http:
        seen = [http.get(api.url("/json")).status_code for _ in range(2)]
    assert seen == [200, 200]
    assert api.requests[0].peer_port != api.requests[1].peer_port
