"""Per-connection endpoints and custom placeholders through a real pack: the guest reads
its connection's endpoint (and the custom placeholder token) in ctx, never a secret; its
fetches to that endpoint carry the credentials, and to the rest of the declared domain
they do not."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral import MANIFEST_SECTION, Host, Settings, read_manifest, set_custom_section

from ..conftest import TEST_PACKS, built
from ..oauth_server import OAuthServer

TOKEN = "endpoint-SECRET-token-31"


@pytest.fixture
def oauth() -> Iterator[OAuthServer]:
    with OAuthServer() as server:
        yield server


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    names = ("acme.example.test", "other.example.test")
    with Host(Settings(data_dir=tmp_path / "d", allow_http=True,
                       host_map={n: "127.0.0.1" for n in names})) as h:
        yield h


def register(host: Host, port: int, auth: dict[str, object]) -> None:
    wasm = built(TEST_PACKS / "authed").read_bytes()
    manifest = read_manifest(wasm).to_dict()
    manifest["pack"]["network_domains"] = [f"example.test:{port}"]
    manifest["auth"] = auth
    host.register_bytes(set_custom_section(wasm, MANIFEST_SECTION, json.dumps(manifest).encode()),
                        approved_domains=[f"example.test:{port}"])


def test_the_guest_learns_its_endpoint_and_only_it_gets_the_token(host: Host,
                                                                  oauth: OAuthServer) -> None:
    port = int(oauth.base_url.rsplit(":", 1)[1])
    register(host, port, {"kind": "bearer", "requires_endpoint_url": True})
    conn = host.create_connection(principal="ada", pack="authed", name="Acme", secret={
        "token": TOKEN, "endpoint": f"http://acme.example.test:{port}"})
    seen = host.call("authed", "Seen", connection=conn.id, principal="ada")
    assert seen["ctx"]["connection"] == {"id": conn.id,
                                        "endpoint": f"http://acme.example.test:{port}"}
    assert TOKEN not in json.dumps(seen)
    oauth.expect_headers = {"Authorization": f"Bearer {TOKEN}"}
    own = host.call("authed", "Get", f"http://acme.example.test:{port}/api/static",
                    connection=conn.id, principal="ada")
    other = host.call("authed", "Get", f"http://other.example.test:{port}/api/static",
                      connection=conn.id, principal="ada")
    assert (own["status"], other["status"]) == (200, 401)


def test_a_custom_pack_sees_the_placeholder_token_not_the_secret(host: Host,
                                                                 oauth: OAuthServer) -> None:
    port = int(oauth.base_url.rsplit(":", 1)[1])
    register(host, port, {"kind": "custom", "params": [{"name": "apiKey"}]})
    conn = host.create_connection(principal="ada", pack="authed", name="C",
                                  secret={"values": {"apiKey": TOKEN}})
    first = host.call("authed", "Seen", connection=conn.id, principal="ada")
    second = host.call("authed", "Seen", connection=conn.id, principal="ada")
    token = first["ctx"]["connection"]["placeholder_token"]
    assert len(token) == 24 and token != second["ctx"]["connection"]["placeholder_token"]
    assert TOKEN not in json.dumps([first, second])
