"""The connection store on real LMDB with a real local OAuth2 server: ownership, sealing
(tamper, swap, wrong key), refresh on expiry and on 401, expiry, rotation, no leaks."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import lmdb
import pytest

from corral import (AccessDenied, ArgumentError, AuthFlowError, Closed, ConnectionExpired,
                    ConnectionInfo, ConnectionStore, CredentialError, KeyRing, Manifest,
                    NotFoundError, SecretKeyError)

from ..oauth_server import TOKEN_HOST, OAuthServer, call_with, pack_with_auth, token_client

REDIRECT = "https://corral.example.test/oauth/callback"
START = 1_000_000.0


class FakeClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server() -> Iterator[OAuthServer]:
    with OAuthServer() as srv:
        yield srv


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False) as client:
        yield client


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ring(tmp_path: Path) -> KeyRing:
    return KeyRing.from_env_or_file(tmp_path / "secret.key", environ={})


@pytest.fixture
def open_store(tmp_path: Path, ring: KeyRing,
               clock: FakeClock) -> Iterator[Callable[..., ConnectionStore]]:
    """Open (or reopen) the store in tmp_path; every store opened is closed at the end."""
    opened: list[ConnectionStore] = []

    def make(keyring: KeyRing | None = None) -> ConnectionStore:
        store = ConnectionStore(tmp_path / "db", keyring or ring, http=token_client(),
                                clock=clock)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: Callable[..., ConnectionStore]) -> ConnectionStore:
    return open_store()


def oauth_pack(server: OAuthServer) -> Manifest:
    return pack_with_auth({"kind": "oauth2_code", "authorize_url": server.authorize_url,
                           "token_url": server.token_url},
                          domains=("api.example.test", server.token_domain))


def client_credentials_pack(token_url: str) -> Manifest:
    domain = urlsplit(token_url).netloc
    return pack_with_auth({"kind": "oauth2_client_credentials", "token_url": token_url},
                          domains=("api.example.test", domain))


def authorize(store: ConnectionStore, server: OAuthServer, http: httpx.Client,
              principal: str = "alice") -> tuple[Manifest, ConnectionInfo]:
    """Run the whole authorization-code flow into a new connection."""
    pack = oauth_pack(server)
    url, state = store.start_authorization(pack=pack, principal=principal,
                                           client_id=server.client_id, redirect_uri=REDIRECT,
                                           client_secret=server.client_secret)
    code = parse_qs(urlsplit(http.get(url).headers["location"]).query)["code"][0]
    return pack, store.complete_authorization(state, code)


def db_items(path: Path, name: bytes) -> dict[bytes, bytes]:
    with lmdb.open(str(path), max_dbs=4) as env:
        db = env.open_db(name)
        with env.begin() as txn:
            return {bytes(k): bytes(v) for k, v in txn.cursor(db=db)}


def db_put(path: Path, name: bytes, key: bytes, value: bytes) -> None:
    with lmdb.open(str(path), max_dbs=4) as env:
        db = env.open_db(name)
        with env.begin(write=True) as txn:
            txn.put(key, value, db=db)


# -- create, list, ownership -----------------------------------------------------------------


def test_listing_shows_only_public_fields(store: ConnectionStore) -> None:
    pack = pack_with_auth({"kind": "bearer"})
    info = store.create(principal="alice", pack=pack, name="Work", secret={"token": "tok-A"})
    assert store.list("alice") == [info]
    assert set(info.to_dict()) == {"id", "pack", "name", "kind", "status", "created_at",
                                   "expires_at", "endpoint"}  # the endpoint is no secret
    assert info.to_dict()["created_at"] == START
    assert (info.pack, info.name, info.kind, info.status) == ("Demo", "Work", "bearer",
                                                              "active")
    assert store.get("alice", info.id) == info
    assert store.list("alice", pack="Other") == []


def test_a_principal_can_neither_see_nor_use_anothers_connection(store: ConnectionStore) -> None:
    pack = pack_with_auth({"kind": "bearer"})
    info = store.create(principal="alice", pack=pack, name="n", secret={"token": "t"})
    assert store.list("bob") == []
    with pytest.raises(NotFoundError) as unknown:
        store.get("bob", "conn_does_not_exist")
    attempts: list[Callable[[], object]] = [
        lambda: store.get("bob", info.id),
        lambda: store.credentials("bob", info.id, pack),
        lambda: store.test("bob", info.id, pack),
        lambda: store.rename("bob", info.id, "mine now"),
        lambda: store.update_secret(principal="bob", connection_id=info.id, pack=pack,
                                    secret={"token": "x"}),
        lambda: store.delete("bob", info.id),
    ]
    for attempt in attempts:
        with pytest.raises(NotFoundError) as denied:
            attempt()
        # the same answer as for an id that does not exist: ids cannot be probed
        assert str(denied.value) == str(unknown.value).replace("conn_does_not_exist", info.id)
    assert store.get("alice", info.id).name == "n"


def test_a_connection_serves_only_its_own_pack(store: ConnectionStore) -> None:
    pack = pack_with_auth({"kind": "bearer"})
    info = store.create(principal="a", pack=pack, name="n", secret={"token": "t"})
    with pytest.raises(AccessDenied, match="belongs to pack 'Demo'"):
        store.credentials("a", info.id, pack_with_auth({"kind": "bearer"}, name="Other"))
    changed = pack_with_auth({"kind": "header", "name": "X-Key"})
    with pytest.raises(CredentialError, match="now declares header; reconnect"):
        store.credentials("a", info.id, changed)


def test_rename_update_and_delete(store: ConnectionStore, tmp_path: Path) -> None:
    pack = pack_with_auth({"kind": "bearer"})
    info = store.create(principal="a", pack=pack, name="old", secret={"token": "t1"})
    assert store.rename("a", info.id, "new").name == "new"
    with pytest.raises(ArgumentError, match="1 to 200"):
        store.rename("a", info.id, "   ")
    store.update_secret(principal="a", connection_id=info.id, pack=pack, secret={"token": "t2"})
    headers: dict[str, str] = {}
    store.credentials("a", info.id, pack).apply(headers, [])
    assert headers == {"Authorization": "Bearer t2"}
    store.delete("a", info.id)
    with pytest.raises(NotFoundError):
        store.get("a", info.id)
    store.close()
    assert db_items(tmp_path / "db", b"secrets") == {}


def test_a_pack_without_auth_needs_no_connection(store: ConnectionStore) -> None:
    with pytest.raises(ArgumentError, match="declares no auth"):
        store.create(principal="a", pack=pack_with_auth({"kind": "none"}), name="n", secret={})


def test_a_closed_store_says_so(store: ConnectionStore) -> None:
    store.close()
    store.close()
    with pytest.raises(Closed, match="connection store is closed"):
        store.list("a")


# -- sealing fails closed -------------------------------------------------------------------


def test_tampered_ciphertext_fails_closed_and_the_record_stays(
        store: ConnectionStore, open_store: Callable[..., ConnectionStore],
        tmp_path: Path) -> None:
    pack = pack_with_auth({"kind": "bearer"})
    info = store.create(principal="a", pack=pack, name="n", secret={"token": "t"})
    store.close()
    blob = bytearray(db_items(tmp_path / "db", b"secrets")[info.id.encode()])
    blob[-5] ^= 0x40
    db_put(tmp_path / "db", b"secrets", info.id.encode(), bytes(blob))
    reopened = open_store()
    with pytest.raises(SecretKeyError, match="tampered"):
        reopened.test("a", info.id, pack)
    assert [c.id for c in reopened.list("a")] == [info.id]


def test_a_blob_moved_to_another_connection_fails_closed(
        store: ConnectionStore, open_store: Callable[..., ConnectionStore],
        tmp_path: Path) -> None:
    pack = pack_with_auth({"kind": "bearer"})
    mine = store.create(principal="a", pack=pack, name="mine", secret={"token": "mine"})
    theirs = store.create(principal="b", pack=pack, name="theirs", secret={"token": "theirs"})
    store.close()
    blobs = db_items(tmp_path / "db", b"secrets")
    db_put(tmp_path / "db", b"secrets", mine.id.encode(), blobs[theirs.id.encode()])
    reopened = open_store()
    with pytest.raises(SecretKeyError):
        reopened.credentials("a", mine.id, pack).apply({}, [])


def test_a_wrong_key_fails_closed_and_the_right_key_still_works(
        store: ConnectionStore, open_store: Callable[..., ConnectionStore],
        ring: KeyRing) -> None:
    pack = pack_with_auth({"kind": "bearer"})
    info = store.create(principal="a", pack=pack, name="n", secret={"token": "t"})
    store.close()
    wrong = open_store(KeyRing.generate())
    with pytest.raises(SecretKeyError, match="not in the key ring"):
        wrong.test("a", info.id, pack)
    assert wrong.get("a", info.id).status == "active"  # nothing is lost or marked
    wrong.close()
    assert open_store(ring).test("a", info.id, pack).id == info.id


# -- refresh --------------------------------------------------------------------------------


def test_expiry_refreshes_once_and_the_new_token_is_stored(
        server: OAuthServer, http: httpx.Client, store: ConnectionStore,
        open_store: Callable[..., ConnectionStore], clock: FakeClock) -> None:
    pack, info = authorize(store, server, http)
    assert info.expires_at == START + server.expires_in
    creds = store.credentials("alice", info.id, pack)
    api = server.base_url + "/api/oauth"
    assert call_with(creds, api) == 200
    assert server.counts["refresh_token"] == 0
    clock.now = START + server.expires_in - 10  # inside the refresh skew
    assert call_with(creds, api) == 200
    assert call_with(creds, api) == 200
    assert server.counts["refresh_token"] == 1
    store.close()
    reopened = open_store()
    assert reopened.get("alice", info.id).expires_at == clock.now + server.expires_in
    assert call_with(reopened.credentials("alice", info.id, pack), api) == 200
    assert server.counts["refresh_token"] == 1


def test_a_401_refreshes_once_and_the_new_token_is_stored(
        server: OAuthServer, http: httpx.Client, store: ConnectionStore,
        open_store: Callable[..., ConnectionStore]) -> None:
    pack, info = authorize(store, server, http)
    api = server.base_url + "/api/oauth"
    server.expire_access_tokens()  # the server revokes early; our clock does not know
    assert call_with(store.credentials("alice", info.id, pack), api) == 200
    assert server.counts["refresh_token"] == 1
    store.close()
    assert call_with(open_store().credentials("alice", info.id, pack), api) == 200
    assert server.counts["refresh_token"] == 1


def test_concurrent_refreshes_make_one_token_request(
        server: OAuthServer, http: httpx.Client, store: ConnectionStore) -> None:
    pack, info = authorize(store, server, http)
    workers = 8
    all_creds = [store.credentials("alice", info.id, pack) for _ in range(workers)]
    for creds in all_creds:
        creds.apply({}, [])  # each has now sent the same (soon rejected) token
    barrier = threading.Barrier(workers)
    results: list[bool] = []

    def on_401(creds: Any) -> None:
        barrier.wait()
        results.append(creds.refresh())

    threads = [threading.Thread(target=on_401, args=(c,)) for c in all_creds]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [True] * workers
    assert server.counts["refresh_token"] == 1


def test_concurrent_expired_applies_make_one_token_request(
        server: OAuthServer, http: httpx.Client, store: ConnectionStore,
        clock: FakeClock) -> None:
    pack, info = authorize(store, server, http)
    clock.now = START + 10 * server.expires_in
    creds = store.credentials("alice", info.id, pack)
    barrier = threading.Barrier(6)
    seen: list[str] = []

    def apply() -> None:
        headers: dict[str, str] = {}
        barrier.wait()
        creds.apply(headers, [])
        seen.append(headers["Authorization"])

    threads = [threading.Thread(target=apply) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert server.counts["refresh_token"] == 1
    assert set(seen) == {"Bearer " + server.issued_access[-1]}


def test_a_refused_refresh_marks_the_connection_expired(
        server: OAuthServer, http: httpx.Client, store: ConnectionStore) -> None:
    pack, info = authorize(store, server, http)
    server.refusing_refresh = True
    server.expire_access_tokens()
    with pytest.raises(ConnectionExpired, match="reconnect it"):
        call_with(store.credentials("alice", info.id, pack), server.base_url + "/api/oauth")
    assert server.counts["refresh_token"] == 1
    assert store.get("alice", info.id).status == "expired"
    with pytest.raises(ConnectionExpired):
        store.credentials("alice", info.id, pack)
    # reconnecting through a new flow brings it back under the same id
    url, state = store.start_authorization(pack=pack, principal="alice",
                                           client_id=server.client_id, redirect_uri=REDIRECT,
                                           client_secret=server.client_secret,
                                           connection_id=info.id)
    code = parse_qs(urlsplit(http.get(url).headers["location"]).query)["code"][0]
    assert store.complete_authorization(state, code).status == "active"
    assert store.test("alice", info.id, pack).status == "active"


def test_an_expired_token_without_refresh_token_expires_the_connection(
        server: OAuthServer, store: ConnectionStore) -> None:
    pack = oauth_pack(server)
    info = store.create(principal="a", pack=pack, name="n",
                        secret={"client_id": "c", "access_token": "old",
                                "expires_at": START - 1})
    with pytest.raises(ConnectionExpired, match="no refresh token"):
        store.test("a", info.id, pack)
    assert store.get("a", info.id).status == "expired"
    assert sum(server.counts.values()) == 0


def test_client_credentials_fetch_once_and_cache_sealed(
        server: OAuthServer, store: ConnectionStore,
        open_store: Callable[..., ConnectionStore]) -> None:
    pack = client_credentials_pack(server.token_url)
    info = store.create(principal="a", pack=pack, name="svc",
                        secret={"client_id": server.client_id,
                                "client_secret": server.client_secret})
    assert info.expires_at is None
    api = server.base_url + "/api/oauth"
    assert call_with(store.credentials("a", info.id, pack), api) == 200
    assert call_with(store.credentials("a", info.id, pack), api) == 200
    assert server.counts["client_credentials"] == 1
    store.close()
    reopened = open_store()
    assert reopened.get("a", info.id).expires_at == START + server.expires_in
    assert call_with(reopened.credentials("a", info.id, pack), api) == 200
    assert server.counts["client_credentials"] == 1
    server.expire_access_tokens()
    assert call_with(reopened.credentials("a", info.id, pack), api) == 200
    assert server.counts["client_credentials"] == 2


def test_an_unreachable_token_endpoint_does_not_expire_the_connection(
        store: ConnectionStore) -> None:
    pack = client_credentials_pack(f"http://{TOKEN_HOST}:9/token")  # nobody listens
    info = store.create(principal="a", pack=pack, name="svc",
                        secret={"client_id": "c", "client_secret": "s"})
    with pytest.raises(AuthFlowError) as error:
        store.test("a", info.id, pack)
    assert error.value.retryable is True
    assert store.get("a", info.id).status == "active"


# -- key rotation ---------------------------------------------------------------------------


def test_rotation_keeps_old_records_open_then_reseals_everything(
        server: OAuthServer, http: httpx.Client, store: ConnectionStore, ring: KeyRing,
        clock: FakeClock, tmp_path: Path) -> None:
    bearer = pack_with_auth({"kind": "bearer"})
    old_ids = [store.create(principal="a", pack=bearer, name=f"c{i}",
                            secret={"token": f"t{i}"}).id for i in range(2)]
    url, state = store.start_authorization(pack=oauth_pack(server), principal="a",
                                           client_id=server.client_id, redirect_uri=REDIRECT)
    old_key = ring.current_key_id
    new_key = ring.rotate_to_new_key()
    for conn_id in old_ids:  # old key still opens
        assert store.test("a", conn_id, bearer).status == "active"
    fresh = store.create(principal="a", pack=bearer, name="new", secret={"token": "t9"})
    assert store.rotate_keys() == 3  # two connections and one pending authorization
    assert store.rotate_keys() == 0
    store.close()
    blobs = db_items(tmp_path / "db", b"secrets")
    assert {ring.key_id_of(b) for b in blobs.values()} == {new_key}
    assert len(blobs) == 3 and fresh.id.encode() in blobs
    ring.retire_old_keys()
    assert old_key not in KeyRing.from_file(tmp_path / "secret.key").key_ids
    with ConnectionStore(tmp_path / "db", ring, http=token_client(), clock=clock) as reopened:
        for conn_id in [*old_ids, fresh.id]:
            assert reopened.test("a", conn_id, bearer).id == conn_id
        # the pending authorization was re-sealed too: it completes with the new key alone
        code = parse_qs(urlsplit(http.get(url).headers["location"]).query)["code"][0]
        assert reopened.complete_authorization(state, code).status == "active"


def test_rotate_keys_is_all_or_nothing(store: ConnectionStore, open_store: Callable[
        ..., ConnectionStore], ring: KeyRing, tmp_path: Path) -> None:
    bearer = pack_with_auth({"kind": "bearer"})
    good = store.create(principal="a", pack=bearer, name="good", secret={"token": "g"})
    bad = store.create(principal="a", pack=bearer, name="bad", secret={"token": "b"})
    store.close()
    blobs = db_items(tmp_path / "db", b"secrets")
    db_put(tmp_path / "db", b"secrets", bad.id.encode(), blobs[good.id.encode()])  # moved
    ring.rotate_to_new_key()
    reopened = open_store()
    with pytest.raises(SecretKeyError):
        reopened.rotate_keys()
    reopened.close()
    after = db_items(tmp_path / "db", b"secrets")
    assert after[good.id.encode()] == blobs[good.id.encode()]  # unchanged: nothing half-done


# -- secrets never leak ---------------------------------------------------------------------


def test_no_secret_in_listings_reprs_errors_logs_or_lmdb_files(
        server: OAuthServer, http: httpx.Client, store: ConnectionStore, clock: FakeClock,
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    static = {"bearer": {"token": "static-bearer-token-123"},
              "basic": {"username": "user-456", "password": "password-789"}}
    infos = [store.create(principal="alice", pack=pack_with_auth({"kind": kind}), name=kind,
                          secret=secret) for kind, secret in static.items()]
    pack, info = authorize(store, server, http)
    creds = store.credentials("alice", info.id, pack)
    clock.now = START + 2 * server.expires_in
    assert call_with(creds, server.base_url + "/api/oauth") == 200  # proactive refresh
    server.expire_access_tokens()
    assert call_with(creds, server.base_url + "/api/oauth") == 200  # refresh after 401
    server.refusing_refresh = True
    server.expire_access_tokens()
    with pytest.raises(ConnectionExpired) as expired:
        call_with(creds, server.base_url + "/api/oauth")
    bearer = pack_with_auth({"kind": "bearer"})
    with ConnectionStore(tmp_path / "other", KeyRing.generate()) as other:
        made = other.create(principal="x", pack=bearer, name="n",
                            secret={"token": "static-bearer-token-123"})
    with pytest.raises(SecretKeyError) as wrong_key:
        with ConnectionStore(tmp_path / "other", KeyRing.generate()) as other:
            other.test("x", made.id, bearer)

    secrets_used = ["static-bearer-token-123", "password-789", server.client_secret,
                    *server.issued_access, *server.issued_refresh]
    assert len(server.issued_access) == 3 and len(server.issued_refresh) == 3
    visible = [repr(store.list("alice")), repr([i.to_dict() for i in infos]), repr(store),
               repr(creds), str(expired.value), repr(expired.value.to_dict()),
               str(wrong_key.value), caplog.text]
    store.close()
    raw_files = b"".join(p.read_bytes() for p in (tmp_path / "db").iterdir())
    assert raw_files  # the scan did read LMDB's files
    for secret in secrets_used:
        for text in visible:
            assert secret not in text
        assert secret.encode() not in raw_files
    assert "renewed the access token" in caplog.text  # the log did record the refreshes


def test_the_first_docs_example_runs(tmp_path: Path, http: httpx.Client) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "connections.md").read_text()
    snippet = doc.split("```python\n", 1)[1].split("```", 1)[0]
    names: dict[str, Any] = {"ConnectionStore": ConnectionStore, "KeyRing": KeyRing,
                             "data_dir": tmp_path, "token_client": token_client(),
                             "manifest": pack_with_auth({"kind": "bearer"})}
    exec(compile(snippet, "docs/connections.md", "exec"), names)
    assert names["store"].list("alice") == []  # the example ends by deleting its connection
    assert names["info"].name == "Work"
    names["store"].close()
