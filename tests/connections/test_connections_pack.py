"""Connections proven through a real pack: each auth kind injected by the host, OAuth2
refresh, ownership, and no secret anywhere the guest, logs, errors or disk could show it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from corral import (MANIFEST_SECTION, CredentialError, Host, NotFoundError, Pack, Settings,
                    read_manifest, set_custom_section)

from ..conftest import TEST_PACKS, built
from ..fetch_servers import ApiServer
from ..oauth_server import OAuthServer

AUTH_HOST = "auth.example.test"
OTHER_HOST = "other.example.test"
TOKEN = "tok-SECRET-4f1c2e9a"


@pytest.fixture(scope="module")
def oauth() -> Iterator[OAuthServer]:
    with OAuthServer() as server:
        yield server


@pytest.fixture(scope="module")
def other() -> Iterator[ApiServer]:
    with ApiServer() as server:
        yield server


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    settings = Settings(data_dir=tmp_path / "data", allow_http=True,
                        host_map={AUTH_HOST: "127.0.0.1", OTHER_HOST: "127.0.0.1"})
    with Host(settings) as h:
        yield h


def port_of(server: OAuthServer) -> int:
    return int(server.base_url.rsplit(":", 1)[1])


def authed_pack(host: Host, oauth: OAuthServer, other: ApiServer, auth: dict[str, Any],
                auth_domains: tuple[str, ...] = (AUTH_HOST,),
                approved: tuple[str, ...] | None = None) -> Pack:
    """The authed test pack, re-embedded with this auth and the servers' ports, with the
    operator's ``approved`` domains."""
    wasm = built(TEST_PACKS / "authed").read_bytes()
    manifest = read_manifest(wasm).to_dict()
    manifest["pack"]["network_domains"] = [f"{AUTH_HOST}:{port_of(oauth)}",
                                           f"{OTHER_HOST}:{other.port}"]
    manifest["auth"] = {**auth, "domains": list(auth_domains)}
    return host.register_bytes(set_custom_section(wasm, MANIFEST_SECTION,
                                                  json.dumps(manifest).encode()),
                               approved_domains=approved)


def api(oauth: OAuthServer, path: str) -> str:
    return f"http://{AUTH_HOST}:{port_of(oauth)}{path}"


STATIC_KINDS = [
    ({"kind": "bearer"}, {"token": TOKEN}, {"Authorization": f"Bearer {TOKEN}"}, {}),
    ({"kind": "header", "name": "X-Api-Key"}, {"value": TOKEN}, {"X-Api-Key": TOKEN}, {}),
    ({"kind": "header", "name": "Authorization", "prefix": "Token"}, {"value": TOKEN},
     {"Authorization": f"Token {TOKEN}"}, {}),
    ({"kind": "headers", "headers": [{"name": "X-Key"}, {"name": "X-Org", "prefix": "org"}]},
     {"values": {"X-Key": TOKEN, "X-Org": "42"}}, {"X-Key": TOKEN, "X-Org": "org 42"}, {}),
    ({"kind": "query", "param": "api_key"}, {"value": TOKEN}, {}, {"api_key": TOKEN}),
    ({"kind": "queries", "params": ["key", "sig"]}, {"values": {"key": TOKEN, "sig": "s1"}}, {},
     {"key": TOKEN, "sig": "s1"}),
    ({"kind": "basic"}, {"username": "ada", "password": TOKEN},
     {"Authorization": "Basic " + __import__("base64").b64encode(f"ada:{TOKEN}".encode()).decode()},
     {}),
]


@pytest.mark.parametrize("auth, secret, headers, params", STATIC_KINDS,
                         ids=[k[0]["kind"] + str(i) for i, k in enumerate(STATIC_KINDS)])
def test_each_static_auth_kind_reaches_the_api(host: Host, oauth: OAuthServer, other: ApiServer,
                                               auth: dict[str, Any], secret: dict[str, Any],
                                               headers: dict[str, str],
                                               params: dict[str, str]) -> None:
    pack = authed_pack(host, oauth, other, auth)
    oauth.expect_headers, oauth.expect_params = headers, params
    try:
        conn = host.connections.create(principal="ada", pack=pack.manifest, name="c",
                                       secret=secret)
        result = host.call("authed", "Get", api(oauth, "/api/static"), connection=conn.id,
                           principal="ada")
        assert result["status"] == 200
        oauth.expect_headers = {k: v + "-wrong" for k, v in headers.items()}
        oauth.expect_params = {k: v + "-wrong" for k, v in params.items()}
        assert host.call("authed", "Get", api(oauth, "/api/static"), connection=conn.id,
                         principal="ada")["status"] == 401, "the API really checks"
    finally:
        oauth.expect_headers, oauth.expect_params = {}, {}


def test_credentials_go_only_to_the_auth_domains(host: Host, oauth: OAuthServer,
                                                 other: ApiServer) -> None:
    pack = authed_pack(host, oauth, other, {"kind": "bearer"},
                       approved=(f"{OTHER_HOST}:{other.port}",))
    conn = host.connections.create(principal="ada", pack=pack.manifest, name="c",
                                   secret={"token": TOKEN})
    echoed = host.call("authed", "Get", f"http://{OTHER_HOST}:{other.port}/echo",
                       connection=conn.id, principal="ada")
    assert echoed["status"] == 200
    assert TOKEN not in echoed["body"]
    assert "authorization" not in json.loads(echoed["body"])["headers"]


def oauth_code_connection(host: Host, oauth: OAuthServer, pack: Pack) -> str:
    url, state = host.connections.start_authorization(
        pack=pack.manifest, principal="ada", client_id=oauth.client_id,
        client_secret=oauth.client_secret, redirect_uri="http://127.0.0.1/callback")
    with httpx.Client(trust_env=False) as client:
        redirect = client.get(url.replace(f"{AUTH_HOST}", "127.0.0.1"))
    query = dict(httpx.URL(redirect.headers["location"]).params)
    assert query["state"] == state
    info = host.connections.complete_authorization(state, query["code"], principal="ada")
    return str(info.id)


def oauth_auth(oauth: OAuthServer, kind: str) -> dict[str, Any]:
    auth: dict[str, Any] = {"kind": kind, "token_url": api(oauth, "/token"), "scopes": ["read"]}
    if kind == "oauth2_code":
        auth["authorize_url"] = api(oauth, "/authorize")
    return auth


def test_oauth2_code_with_pkce_and_refresh_on_401(host: Host, oauth: OAuthServer,
                                                  other: ApiServer) -> None:
    pack = authed_pack(host, oauth, other, oauth_auth(oauth, "oauth2_code"))
    conn = oauth_code_connection(host, oauth, pack)
    assert oauth.counts["authorization_code"] >= 1
    assert host.call("authed", "Get", api(oauth, "/api/oauth"), connection=conn,
                     principal="ada")["status"] == 200
    refreshes = oauth.counts["refresh_token"]
    oauth.expire_access_tokens()
    assert host.call("authed", "Get", api(oauth, "/api/oauth"), connection=conn,
                     principal="ada")["status"] == 200
    assert oauth.counts["refresh_token"] == refreshes + 1, "exactly one refresh after the 401"
    assert host.call("authed", "Get", api(oauth, "/api/oauth"), connection=conn,
                     principal="ada")["status"] == 200
    assert oauth.counts["refresh_token"] == refreshes + 1, "the refreshed token was stored"


def test_oauth2_client_credentials(host: Host, oauth: OAuthServer, other: ApiServer) -> None:
    pack = authed_pack(host, oauth, other, oauth_auth(oauth, "oauth2_client_credentials"))
    conn = host.connections.create(principal="ada", pack=pack.manifest, name="cc",
                                   secret={"client_id": oauth.client_id,
                                           "client_secret": oauth.client_secret})
    assert host.call("authed", "Get", api(oauth, "/api/oauth"), connection=conn.id,
                     principal="ada")["status"] == 200
    assert oauth.counts["client_credentials"] >= 1


def test_the_pack_names_a_new_connection_through_the_api(host: Host, oauth: OAuthServer,
                                                         other: ApiServer) -> None:
    authed_pack(host, oauth, other, {"kind": "bearer"})
    info = host.create_connection(principal="ada", pack="authed",
                                  secret={"token": oauth.static_token})
    assert info.name == "ada (authed)"


def test_one_principal_cannot_use_or_see_anothers_connection(host: Host, oauth: OAuthServer,
                                                             other: ApiServer) -> None:
    pack = authed_pack(host, oauth, other, {"kind": "bearer"})
    conn = host.connections.create(principal="ada", pack=pack.manifest, name="mine",
                                   secret={"token": TOKEN})
    with pytest.raises(NotFoundError):
        host.call("authed", "Get", api(oauth, "/api/static"), connection=conn.id,
                  principal="mallory")
    assert host.connections.list("mallory") == []


def test_a_required_connection_must_be_given(host: Host, oauth: OAuthServer,
                                             other: ApiServer) -> None:
    authed_pack(host, oauth, other, {"kind": "bearer"})
    with pytest.raises(CredentialError, match="needs a connection"):
        host.call("authed", "Get", api(oauth, "/api/static"), principal="ada")


def test_no_secret_reaches_the_guest_logs_errors_or_disk(host: Host, oauth: OAuthServer,
                                                         other: ApiServer,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    pack = authed_pack(host, oauth, other, {"kind": "bearer"})
    oauth.expect_headers = {"Authorization": f"Bearer {TOKEN}"}
    try:
        conn = host.connections.create(principal="ada", pack=pack.manifest, name="c",
                                       secret={"token": TOKEN})
        seen = host.call("authed", "Seen", connection=conn.id, principal="ada")
        fetched = host.call("authed", "Get", api(oauth, "/api/static"), connection=conn.id,
                            principal="ada")
        errors = []
        for url in (f"http://undeclared.test:{other.port}/", api(oauth, "/nope")):
            try:
                host.call("authed", "Get", url, connection=conn.id, principal="ada")
            except Exception as exc:  # every failure path, whatever its kind
                errors.append(f"{exc!r} {exc} {getattr(exc, 'details', '')}")
    finally:
        oauth.expect_headers = {}
    assert fetched["status"] == 200
    assert errors, "the failing calls failed"
    visible = json.dumps([seen, fetched], default=str) + "".join(errors) + caplog.text
    assert TOKEN not in visible
    assert host.metrics.render().count(TOKEN) == 0
    for file in host.settings.data_dir.rglob("*"):
        if file.is_file():
            assert TOKEN.encode() not in file.read_bytes(), f"token found in {file}"


def test_an_api_that_echoes_the_token_never_hands_it_to_the_guest(host: Host, oauth: OAuthServer,
                                                                  other: ApiServer) -> None:
    pack = authed_pack(host, oauth, other, {"kind": "bearer"}, auth_domains=(OTHER_HOST,))
    conn = host.connections.create(principal="ada", pack=pack.manifest, name="c",
                                   secret={"token": TOKEN})
    echoed = host.call("authed", "Get", f"http://{OTHER_HOST}:{other.port}/echo?k={TOKEN}",
                       connection=conn.id, principal="ada")
    assert other.requests[-1].headers["authorization"] == f"Bearer {TOKEN}", "it was sent"
    assert TOKEN not in json.dumps(echoed)
    assert json.loads(echoed["body"])["headers"]["authorization"] == "Bearer [redacted by corral]"
