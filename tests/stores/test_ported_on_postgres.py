"""The connection store, API keys, console sessions and blobs on PostgreSQL: two store
objects with data dirs of their own on one database act as two nodes, and each sees what
the other did; the quotas hold across them; and no table row holds a secret in clear."""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import psycopg
import pytest

from corral import ConnectionExpired, ConnectionStore, KeyRing, NotFoundError, QuotaExceeded
from corral._connections.pending import token_route
from corral._connections.crypto import encode_key
from corral._connections.quota import Quotas
from corral._errors import AuthFlowError, BlobQuotaExceeded, Unauthenticated
from corral._server.apikeys import ADMIN, ApiKeyStore
from corral._server.sessions import SessionStore
from corral._stores.blobs import BlobStore

from ..oauth_server import OAuthServer, call_with, pack_with_auth, token_client

REDIRECT = "https://corral.example.test/oauth/callback"
BEARER = pack_with_auth({"kind": "bearer"})
BASIC = pack_with_auth({"kind": "basic"}, name="Basic")


@pytest.fixture
def key() -> bytes:
    return os.urandom(32)


@pytest.fixture
def nodes(postgres_url: str, tmp_path: Path,
          key: bytes) -> Iterator[Callable[..., ConnectionStore]]:
    """Opens a connection store as node ``name`` would: a data dir of its own, the shared
    database, a ring holding the shared key."""
    opened: list[ConnectionStore] = []

    def node(name: str, *, quotas: Quotas = Quotas()) -> ConnectionStore:
        store = ConnectionStore(tmp_path / name / "connections", KeyRing([key]),
                                http=token_client(), quotas=quotas, store_url=postgres_url)
        opened.append(store)
        return store

    yield node
    for store in opened:
        store.close()


@pytest.fixture
def server() -> Iterator[OAuthServer]:
    with OAuthServer() as srv:
        yield srv


def oauth_pack(server: OAuthServer) -> Any:
    return pack_with_auth({"kind": "oauth2_code", "authorize_url": server.authorize_url,
                           "token_url": server.token_url},
                          domains=("api.example.test", server.token_domain))


def applied(store: ConnectionStore, principal: str, connection_id: str,
            pack: Any) -> dict[str, str]:
    headers: dict[str, str] = {}
    store.credentials(principal, connection_id, pack).apply(headers, [])
    return headers


# -- connections ----------------------------------------------------------------------------


def test_a_connection_made_on_one_node_is_listed_used_renamed_and_deleted_on_another(
        nodes: Callable[..., ConnectionStore], tmp_path: Path) -> None:
    a, b = nodes("a"), nodes("b")
    made = a.create(principal="alice", pack=BEARER, name="Work", secret={"token": "tok-1"})
    assert b.list("alice") == [made] and b.list("bob") == []
    assert b.get("alice", made.id) == made
    assert applied(b, "alice", made.id, BEARER) == {"Authorization": "Bearer tok-1"}
    renamed = b.rename("alice", made.id, "Home")
    assert a.get("alice", made.id) == renamed and renamed.name == "Home"
    b.update_secret(principal="alice", connection_id=made.id, pack=BEARER,
                    secret={"token": "tok-2"})
    assert applied(a, "alice", made.id, BEARER) == {"Authorization": "Bearer tok-2"}
    a.delete("alice", made.id)
    with pytest.raises(NotFoundError):
        b.get("alice", made.id)
    assert b.list("alice") == []
    assert not (tmp_path / "a" / "connections").exists()  # nothing went to LMDB


def test_an_oauth_flow_started_on_one_node_completes_on_another_once(
        nodes: Callable[..., ConnectionStore], server: OAuthServer) -> None:
    a, b = nodes("a"), nodes("b")
    pack = oauth_pack(server)
    url, state = a.start_authorization(pack=pack, principal="alice",
                                       client_id=server.client_id, redirect_uri=REDIRECT,
                                       client_secret=server.client_secret)
    with httpx.Client(trust_env=False) as http:
        code = parse_qs(urlsplit(http.get(url).headers["location"]).query)["code"][0]
    info = b.complete_authorization(state, code)
    assert a.get("alice", info.id).kind == "oauth2_code"
    with pytest.raises(AuthFlowError, match="already used"):
        a.complete_authorization(state, code)
    assert call_with(a.credentials("alice", info.id, pack), server.base_url + "/api/oauth") == 200
    server.expire_access_tokens()  # b renews the token; a then uses the renewed one
    assert call_with(b.credentials("alice", info.id, pack), server.base_url + "/api/oauth") == 200
    assert call_with(a.credentials("alice", info.id, pack), server.base_url + "/api/oauth") == 200
    assert len(server.issued_access) == 2


def test_a_refresh_refused_because_another_node_renewed_first_marks_nothing_expired(
        nodes: Callable[..., ConnectionStore], server: OAuthServer) -> None:
    a, b = nodes("a"), nodes("b")
    pack = oauth_pack(server)
    url, state = a.start_authorization(pack=pack, principal="alice",
                                       client_id=server.client_id, redirect_uri=REDIRECT,
                                       client_secret=server.client_secret)
    with httpx.Client(trust_env=False) as http:
        code = parse_qs(urlsplit(http.get(url).headers["location"]).query)["code"][0]
    info = a.complete_authorization(state, code)
    seen_by_b = (b._record(info.id), b._load_secret(info.id).values)  # b is about to renew
    server.expire_access_tokens()
    assert call_with(a.credentials("alice", info.id, pack), server.base_url + "/api/oauth") == 200
    with pytest.raises(ConnectionExpired):  # b's refresh token was used up by a's renewal
        b._new_tokens(seen_by_b[0], pack.auth, token_route(pack), seen_by_b[1])
    assert b.get("alice", info.id).status == "active"
    assert call_with(b.credentials("alice", info.id, pack), server.base_url + "/api/oauth") == 200


def test_quotas_hold_across_nodes(nodes: Callable[..., ConnectionStore]) -> None:
    quotas = Quotas(max_connections=2, max_bytes=4000)
    a, b = nodes("a", quotas=quotas), nodes("b", quotas=quotas)
    a.create(principal="alice", pack=BEARER, name="one", secret={"token": "t"})
    second = b.create(principal="alice", pack=BEARER, name="two", secret={"token": "t"})
    with pytest.raises(QuotaExceeded) as count:
        a.create(principal="alice", pack=BEARER, name="three", secret={"token": "t"})
    assert count.value.details["quota"] == "connections"
    bob = b.create(principal="bob", pack=BEARER, name="one", secret={"token": "t"})
    assert bob.name == "one"  # another principal's quota is its own
    with pytest.raises(QuotaExceeded) as size:
        b.update_secret(principal="alice", connection_id=second.id, pack=BEARER,
                        secret={"token": "x" * 5000})
    assert size.value.details["quota"] == "secret_bytes"
    a.delete("alice", second.id)
    assert b.create(principal="alice", pack=BEARER, name="again", secret={"token": "t"})


# -- API keys and console sessions ----------------------------------------------------------


def test_an_api_key_made_on_one_node_works_on_another_until_revoked_there(
        postgres_url: str, tmp_path: Path) -> None:
    with ApiKeyStore(tmp_path / "a" / "api-keys", store_url=postgres_url) as a, \
            ApiKeyStore(tmp_path / "b" / "api-keys", store_url=postgres_url) as b:
        info, key = a.create("alice")
        assert b.authenticate(key).name == "alice"
        assert a.authenticate(key).name == "alice"  # both nodes may remember it now
        assert [k.id for k in b.list_keys()] == [info.id]
        assert b.principal_for_id(info.id) is not None
        made = [a.ensure_admin(), b.ensure_admin()]
        assert sum(k is not None for k in made) == 1  # one admin key between the nodes
        b.revoke(info.id)
        with pytest.raises(Unauthenticated):
            b.authenticate(key)
        assert refused_soon(a, key), "a key revoked on b is still accepted by a"
        assert a.principal_for_id(info.id) is None
        with pytest.raises(NotFoundError):
            a.revoke(info.id)
        assert [k.role for k in a.list_keys()] == [ADMIN]
    assert not (tmp_path / "a" / "api-keys").exists()


def refused_soon(store: ApiKeyStore, key: str, within_s: float = 10.0) -> bool:
    """Whether ``store`` refuses ``key`` once word of the change has reached it."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            store.authenticate(key)
        except Unauthenticated:
            return True
        time.sleep(0.01)
    return False


def test_a_console_session_made_on_one_node_is_known_and_ended_on_another(
        postgres_url: str, tmp_path: Path) -> None:
    with ApiKeyStore(tmp_path / "a" / "keys", store_url=postgres_url) as keys, \
            SessionStore(tmp_path / "a" / "s", store_url=postgres_url) as a, \
            SessionStore(tmp_path / "b" / "s", store_url=postgres_url) as b:
        info, _ = keys.create("alice")
        cookie, session = a.create(keys.principal_for_id(info.id))  # type: ignore[arg-type]
        found = b.get(cookie)
        assert found is not None and found.csrf_token == session.csrf_token
        assert len(b) == 1
        b.end(cookie)
        assert a.get(cookie) is None and len(a) == 0


# -- blobs ----------------------------------------------------------------------------------


def test_a_blob_stored_on_one_node_is_served_by_another_and_quotas_hold_across(
        postgres_url: str, tmp_path: Path) -> None:
    now = [1000.0]
    settings: dict[str, Any] = {"ttl_s": 60.0, "quota_bytes": 100, "store_url": postgres_url,
                                "clock": lambda: now[0]}
    with BlobStore(tmp_path / "a" / "blobs", **settings) as a, \
            BlobStore(tmp_path / "b" / "blobs", **settings) as b:
        stored = a.put("alice", b"x" * 60, "text/plain")
        assert b.get(stored.id).data == b"x" * 60 and b.usage("alice") == 60
        with pytest.raises(BlobQuotaExceeded):
            b.put("alice", b"y" * 50, "text/plain")
        now[0] += 61
        assert b.purge() == 1 and a.usage("alice") == 0 and a.count() == 0
        assert a.put("alice", b"y" * 50, "text/plain").size == 50


# -- secrets at rest ------------------------------------------------------------------------


def table_contents(url: str) -> bytes:
    """Every row of every table of the database, as bytes."""
    chunks: list[bytes] = []
    with psycopg.connect(url) as conn:
        tables = [row[0] for row in conn.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'")]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):  # type: ignore[arg-type]
                chunks += [bytes(v) if isinstance(v, (bytes, memoryview)) else str(v).encode()
                           for v in row]
    return b"\n".join(chunks)


def encodings(secret: str) -> list[bytes]:
    raw = secret.encode()
    return [raw, base64.b64encode(raw), base64.urlsafe_b64encode(raw).rstrip(b"=")]


def test_no_table_row_holds_a_secret_in_clear(
        nodes: Callable[..., ConnectionStore], server: OAuthServer, postgres_url: str,
        tmp_path: Path, key: bytes) -> None:
    a, b = nodes("a"), nodes("b")
    a.create(principal="alice", pack=BEARER, name="n", secret={"token": "bearer-SECRET-1"})
    b.create(principal="alice", pack=BASIC, name="n",
             secret={"username": "user-2", "password": "password-SECRET-2"})
    pack = oauth_pack(server)
    url, state = a.start_authorization(pack=pack, principal="alice",
                                       client_id=server.client_id, redirect_uri=REDIRECT,
                                       client_secret=server.client_secret)
    with httpx.Client(trust_env=False) as http:
        code = parse_qs(urlsplit(http.get(url).headers["location"]).query)["code"][0]
    b.complete_authorization(state, code)
    pending_url, pending_state = a.start_authorization(  # left pending: sealed at rest
        pack=pack, principal="alice", client_id=server.client_id, redirect_uri=REDIRECT,
        client_secret=server.client_secret)
    with ApiKeyStore(tmp_path / "keys", store_url=postgres_url) as keys, \
            SessionStore(tmp_path / "s", store_url=postgres_url) as sessions:
        info, api_key = keys.create("alice")
        cookie, session = sessions.create(keys.authenticate(api_key))

    contents = table_contents(postgres_url)
    secrets_used = ["bearer-SECRET-1", "password-SECRET-2", server.client_secret,
                    *server.issued_access, *server.issued_refresh, state, pending_state,
                    api_key, cookie, session.csrf_token, encode_key(key)]
    assert len(server.issued_refresh) == 1
    assert contents.count(b'"principal": "alice"') >= 3  # the scan did read the records
    for secret in secrets_used:
        for form in encodings(secret):
            assert form not in contents, f"a secret ({len(secret)} chars) is stored in clear"
    assert key not in contents
    assert KeyRing([key]).current_key_id.encode() in contents  # the key's id, not the key
    assert pending_url.startswith(server.authorize_url)
