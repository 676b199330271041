"""Confined responses proven through a real pack (the `fetcher` test pack, Zig) and the Host:
content codings the host did not offer, unrequested responses between principals, the GET
cache across versions and the secret at rest."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from corral import FetchDenied, FetchNetworkError
from corral._host import Host
from corral._pack.wasm import MANIFEST_SECTION, set_custom_section
from corral._runtime.pack import read_manifest
from corral._settings import Settings
from corral.testing import RawServer, raw_response

from ..conftest import TEST_PACKS, built
from ..fetch_servers import TEST_HOST, ApiServer
from .test_encoding import gzipped
from .test_no_response_crosses import first_then_extra, second

TOKEN = "tok-SECRET-77ab3e"


@pytest.fixture(scope="module")
def api() -> Iterator[ApiServer]:
    with ApiServer() as server:
        yield server


@pytest.fixture(scope="module")
def wire() -> Iterator[RawServer]:
    twice = raw_response(gzipped(gzipped(b'{"a": 1}')), headers=[("Content-Encoding", "gzip"),
                                                              ("Content-Encoding", "gzip")])
    routes = {"/first": first_then_extra, "/second": second,
              "/stacked": lambda request: [twice]}
    with RawServer(routes) as server:
        yield server


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    settings = Settings(data_dir=tmp_path / "data", allow_http=True,
                        host_map={TEST_HOST: "127.0.0.1"})
    with Host(settings) as opened:
        yield opened


def fetcher(host: Host, api: ApiServer, wire: RawServer, *, version: str = "0.1.0",
            auth: dict[str, Any] | None = None) -> None:
    wasm = built(TEST_PACKS / "fetcher").read_bytes()
    manifest = read_manifest(wasm).to_dict()
    manifest["pack"]["network_domains"] = [f"{TEST_HOST}:{api.port}", f"{TEST_HOST}:{wire.port}"]
    manifest["pack"]["version"] = version
    if auth is not None:
        manifest["auth"] = auth
    host.register_bytes(set_custom_section(wasm, MANIFEST_SECTION, json.dumps(manifest).encode()))


def test_a_coding_the_host_did_not_offer_never_reaches_the_guest(
        host: Host, api: ApiServer, wire: RawServer) -> None:
    fetcher(host, api, wire)
    with pytest.raises(FetchNetworkError) as info:
        host.call("fetcher", "Fetch", wire.url("/stacked", TEST_HOST))
    assert info.value.rule == "content_encoding"
    assert host.call("fetcher", "Status", wire.url("/stacked", TEST_HOST)) == "error:network", \
        "the guest sees a failed fetch, not the raw bytes"
    with pytest.raises(FetchDenied) as refused:
        host.call("fetcher", "FetchWithHeader", api.url("/echo"), "Accept-Encoding", "br")
    assert refused.value.rule == "header"


def test_one_principal_never_receives_anothers_unrequested_response(
        host: Host, api: ApiServer, wire: RawServer) -> None:
    fetcher(host, api, wire, auth={"kind": "bearer", "domains": [TEST_HOST]})
    manifest = host.pack("fetcher").manifest
    alice = host.connections.create(principal="alice", pack=manifest, name="a",
                                    secret={"token": TOKEN})
    bob = host.connections.create(principal="bob", pack=manifest, name="b",
                                  secret={"token": "bob-token"})
    for _ in range(3):
        first = host.call("fetcher", "Fetch", wire.url("/first", TEST_HOST), connection=alice.id,
                          principal="alice")
        answer = host.call("fetcher", "Fetch", wire.url("/second", TEST_HOST), connection=bob.id,
                           principal="bob")
        assert first["body"] == "first"
        assert answer["body"] == "second"
        assert TOKEN not in json.dumps(answer)


def test_a_new_version_is_never_answered_from_the_old_versions_cache(
        host: Host, api: ApiServer, wire: RawServer) -> None:
    url = api.url("/json?versioned=1")
    fetcher(host, api, wire, version="0.1.0")
    assert host.call("fetcher", "Cached", url, 600)["status"] == 200
    assert host.call("fetcher", "Cached", url, 600)["status"] == 200
    before = api.hits("/json")
    fetcher(host, api, wire, version="0.2.0")
    assert host.pack("fetcher").version == "0.2.0"
    assert host.call("fetcher", "Cached", url, 600)["status"] == 200
    assert api.hits("/json") == before + 1, "0.2.0 fetched for itself"


def test_a_reflected_token_never_lies_in_the_cache_file(
        host: Host, api: ApiServer, wire: RawServer) -> None:
    fetcher(host, api, wire, auth={"kind": "bearer", "domains": [TEST_HOST]})
    conn = host.connections.create(principal="ada", pack=host.pack("fetcher").manifest,
                                   name="c", secret={"token": TOKEN})
    url = api.url(f"/echo?reflect={TOKEN}")
    answers = [host.call("fetcher", "Cached", url, 600, connection=conn.id, principal="ada")
               for _ in range(2)]
    assert answers[0] == answers[1] and api.hits("/echo") == 1
    assert api.requests[-1].headers["authorization"] == f"Bearer {TOKEN}", "it was sent"
    assert TOKEN not in json.dumps(answers)
    store = host.settings.data_dir / "fetch-cache" / "data.mdb"
    assert store.stat().st_size > 0
    assert TOKEN.encode() not in store.read_bytes()
