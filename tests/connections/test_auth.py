"""Auth kinds: secret shapes, what each kind injects (checked by a real local API), and
which hosts receive credentials."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any, Iterator

import pytest

from corral._connections.auth import credential_domains, render, validate_secret
from corral import ArgumentError, ConnectionStore, Credentials, KeyRing, ManifestError

from ..oauth_server import OAuthServer, call_with, pack_with_auth


@pytest.fixture
def server() -> Iterator[OAuthServer]:
    with OAuthServer() as srv:
        yield srv


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ConnectionStore]:
    with ConnectionStore(tmp_path / "db", KeyRing.generate()) as s:
        yield s


STATIC_KINDS: list[tuple[dict[str, Any], dict[str, Any], dict[str, str], dict[str, str]]] = [
    # (auth table, secret, headers the API expects, query params the API expects)
    ({"kind": "bearer"}, {"token": "tok-1"}, {"Authorization": "Bearer tok-1"}, {}),
    ({"kind": "bearer", "prefix": "token"}, {"token": "tok-2"},
     {"Authorization": "token tok-2"}, {}),
    ({"kind": "header", "name": "X-Api-Key"}, {"value": "key-3"}, {"X-Api-Key": "key-3"}, {}),
    ({"kind": "header", "name": "X-Api-Key", "prefix": "Key"}, {"value": "key-4"},
     {"X-Api-Key": "Key key-4"}, {}),
    ({"kind": "headers", "headers": [{"name": "X-App-Id"},
                                     {"name": "X-App-Key", "prefix": "K"}]},
     {"values": {"x-app-id": "app-5", "X-App-Key": "key-5"}},
     {"X-App-Id": "app-5", "X-App-Key": "K key-5"}, {}),
    ({"kind": "query", "param": "api_key"}, {"value": "key-6"}, {}, {"api_key": "key-6"}),
    ({"kind": "queries", "params": ["app_id", "app_key"]},
     {"values": {"app_id": "app-7", "app_key": "key-7"}}, {},
     {"app_id": "app-7", "app_key": "key-7"}),
    ({"kind": "basic"}, {"username": "ann", "password": "pw:8"},
     {"Authorization": "Basic " + base64.b64encode(b"ann:pw:8").decode()}, {}),
]


@pytest.mark.parametrize("auth,secret,want_headers,want_params", STATIC_KINDS,
                         ids=[f"{i}-{case[0]['kind']}" for i, case in enumerate(STATIC_KINDS)])
def test_each_static_kind_is_accepted_by_the_api(
        server: OAuthServer, store: ConnectionStore, auth: dict[str, Any],
        secret: dict[str, Any], want_headers: dict[str, str],
        want_params: dict[str, str]) -> None:
    pack = pack_with_auth(auth)
    info = store.create(principal="alice", pack=pack, name="mine", secret=secret)
    creds = store.credentials("alice", info.id, pack)
    url = server.base_url + "/api/static"
    server.expect_headers, server.expect_params = want_headers, want_params
    assert call_with(creds, url) == 200
    assert creds.header_names == {n.lower() for n in want_headers}
    assert creds.param_names == set(want_params)
    server.expect_headers = {**want_headers, "X-Unrelated": "needed"}
    server.expect_params = {**want_params}
    assert call_with(creds, url) == 401  # the API really checks what it is sent
    assert creds.refresh() is False  # nothing to refresh for a static secret


def test_apply_replaces_auth_a_guest_tried_to_set(store: ConnectionStore) -> None:
    pack = pack_with_auth({"kind": "query", "param": "key"})
    info = store.create(principal="a", pack=pack, name="n", secret={"value": "real"})
    params = [("key", "forged"), ("q", "1")]
    store.credentials("a", info.id, pack).apply({}, params)
    assert params == [("q", "1"), ("key", "real")]
    bearer = pack_with_auth({"kind": "bearer"})
    info = store.create(principal="a", pack=bearer, name="n", secret={"token": "real"})
    headers = {"authorization": "Bearer forged", "Accept": "x"}
    store.credentials("a", info.id, bearer).apply(headers, [])
    assert headers == {"Accept": "x", "Authorization": "Bearer real"}


@pytest.mark.parametrize("auth,secret,message", [
    ({"kind": "bearer"}, {}, "'token' is required"),
    ({"kind": "bearer"}, {"token": ""}, "'token' must be a non-empty string"),
    ({"kind": "bearer"}, {"token": 5}, "'token' must be a non-empty string"),
    ({"kind": "bearer"}, {"token": "t", "extra": "x"}, "'extra' is not used"),
    ({"kind": "header", "name": "X-K"}, {"value": "a\r\nInjected: 1"}, "line breaks"),
    ({"kind": "headers", "headers": [{"name": "X-A"}]}, {"values": {}}, "'X-A' is required"),
    ({"kind": "headers", "headers": [{"name": "X-A"}]},
     {"values": {"X-A": "1", "X-B": "2"}}, "'x-b' is not declared"),
    ({"kind": "queries", "params": ["a"]}, {"values": "a=1"}, "must map each of a"),
    ({"kind": "basic"}, {"password": "p"}, "'username' is required"),
    ({"kind": "oauth2_code", "authorize_url": "https://a.example.test/a",
      "token_url": "https://a.example.test/t"},
     {"client_id": "c", "access_token": "t", "expires_at": "soon"}, "'expires_at'"),
    ({"kind": "oauth2_client_credentials", "token_url": "https://a.example.test/t"},
     {"client_id": "c"}, "'client_secret' is required"),
])
def test_bad_secrets_name_the_field_never_the_value(auth: dict[str, Any],
                                                    secret: dict[str, Any],
                                                    message: str) -> None:
    with pytest.raises(ArgumentError) as info:
        validate_secret(pack_with_auth(auth).auth, secret)
    assert message in str(info.value)
    for value in ("a\r\nInjected: 1", "soon", "a=1"):
        if value in map(str, secret.values()):
            assert value not in str(info.value)


def test_basic_allows_an_empty_password() -> None:
    spec = pack_with_auth({"kind": "basic"}).auth
    values = validate_secret(spec, {"username": "api-key-as-user"})
    headers, _ = render(spec, values)
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"api-key-as-user:").decode()


def test_a_malformed_header_declaration_is_a_manifest_error() -> None:
    spec = pack_with_auth({"kind": "header", "name": "Bad Header: x"}).auth
    with pytest.raises(ManifestError) as info:
        render(spec, {"value": "v"})
    assert info.value.field == "auth.name"


DOMAINS = ("example.test", "api.other.test:8443")


@pytest.mark.parametrize("host,port,expected", [
    ("example.test", 443, True),
    ("API.Example.Test.", 443, True),       # case and trailing dot are normalised
    ("deep.api.example.test", None, True),  # subdomains count
    ("badexample.test", 443, False),        # a suffix is not a subdomain
    ("example.test.evil.test", 443, False),
    ("api.other.test", 8443, True),
    ("api.other.test", 443, False),         # a declared port is enforced
    ("other.test", 8443, False),
])
def test_credentials_go_only_to_the_packs_domains(store: ConnectionStore, host: str,
                                                  port: int | None, expected: bool) -> None:
    pack = pack_with_auth({"kind": "bearer"}, domains=DOMAINS)
    info = store.create(principal="a", pack=pack, name="n", secret={"token": "t"})
    assert store.credentials("a", info.id, pack).applies_to(host, port) is expected


def test_auth_domains_narrow_where_credentials_go(store: ConnectionStore) -> None:
    pack = pack_with_auth({"kind": "bearer", "domains": ["api.example.test"]},
                          domains=("example.test",))
    info = store.create(principal="a", pack=pack, name="n", secret={"token": "t"})
    creds = store.credentials("a", info.id, pack)
    assert creds.applies_to("api.example.test")
    assert creds.applies_to("v2.api.example.test")
    assert not creds.applies_to("example.test")
    assert not creds.applies_to("cdn.example.test")


@pytest.mark.parametrize("host, port, scheme, expected", [
    ("example.test", 443, "https", True),
    ("example.test", None, "https", True),    # no port: the scheme's default
    ("example.test", 80, "http", True),
    ("example.test", 8443, "https", False),   # a bare domain is not "any port"
    ("example.test", 80, "https", False),     # nor the other scheme's default
    ("example.test", 443, "http", False),
    ("example.test", 443, "ftp", False),      # no other scheme
    ("api.other.test", 8443, "https", True),
    ("api.other.test", 8443, "http", True),   # a declared port is that port, either scheme
])
def test_a_bare_domain_admits_only_the_schemes_default_port(store: ConnectionStore, host: str,
                                                            port: int | None, scheme: str,
                                                            expected: bool) -> None:
    pack = pack_with_auth({"kind": "bearer"}, domains=DOMAINS)
    info = store.create(principal="a", pack=pack, name="n", secret={"token": "t"})
    assert store.credentials("a", info.id, pack).applies_to(host, port, scheme) is expected


def test_a_bare_auth_domain_takes_the_port_of_its_network_domain(store: ConnectionStore
                                                                 ) -> None:
    pack = pack_with_auth({"kind": "bearer", "domains": ["api.example.test", "example.org"]},
                          domains=("example.test:8443", "example.test:9443", "example.org"))
    assert [str(d) for d in credential_domains(pack.auth, pack.network_domains)] == [
        "api.example.test:8443", "api.example.test:9443", "example.org"]
    info = store.create(principal="a", pack=pack, name="n", secret={"token": "t"})
    creds = store.credentials("a", info.id, pack)
    assert creds.applies_to("api.example.test", 8443) and creds.applies_to("api.example.test", 9443)
    assert not creds.applies_to("api.example.test", 443)
    assert not creds.applies_to("api.example.test", 8080)
    assert creds.applies_to("example.org", 443) and not creds.applies_to("example.org", 8443)


def test_identity_is_the_connection_id_and_repr_holds_no_secret(store: ConnectionStore) -> None:
    pack = pack_with_auth({"kind": "bearer"})
    info = store.create(principal="a", pack=pack, name="n", secret={"token": "sekrit-token"})
    creds: Credentials = store.credentials("a", info.id, pack)  # mypy checks the protocol
    assert creds.identity == info.id
    assert info.id in repr(creds) and "sekrit-token" not in repr(creds)
