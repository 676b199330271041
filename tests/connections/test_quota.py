"""Per-principal quotas on the real LMDB connection store: one caller cannot fill it for
everyone, a store near full refuses new data but always deletes, open OAuth2 flows are
bounded per caller, and usage is kept across reopening."""

from __future__ import annotations

from pathlib import Path
import lmdb
import pytest

from corral._connections.crypto import KeyRing
from corral._connections.quota import Quotas
from corral._connections.store import ConnectionStore
from corral._errors import AuthFlowError, QuotaExceeded

from ..oauth_server import pack_with_auth

BEARER = pack_with_auth({"kind": "bearer"})
REDIRECT = "https://corral.example.test/v1/oauth2/callback"


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing.generate()


def open_store(path: Path, ring: KeyRing, **quotas: int) -> ConnectionStore:
    return ConnectionStore(path, ring, quotas=Quotas(**quotas))  # type: ignore[arg-type]


def make(store: ConnectionStore, who: str, size: int = 16, name: str = "c") -> str:
    return store.create(principal=who, pack=BEARER, name=name,
                        secret={"token": "t" * size}).id


def test_the_connection_count_is_capped_per_principal(tmp_path: Path, ring: KeyRing) -> None:
    with open_store(tmp_path / "db", ring, max_connections=3) as store:
        mine = [make(store, "mallory") for _ in range(3)]
        with pytest.raises(QuotaExceeded) as info:
            make(store, "mallory")
        assert info.value.details["quota"] == "connections"
        assert make(store, "alice"), "another caller is not affected"
        store.delete("mallory", mine[0])
        assert make(store, "mallory"), "a delete gives the place back"


def test_secret_bytes_are_capped_per_principal(tmp_path: Path, ring: KeyRing) -> None:
    with open_store(tmp_path / "db", ring, max_bytes=8 * 1024) as store:
        with pytest.raises(QuotaExceeded) as info:
            make(store, "mallory", size=16 * 1024)  # one secret over the whole quota
        assert info.value.details["quota"] == "secret_bytes"
        kept = [make(store, "mallory", size=2000) for _ in range(3)]
        with pytest.raises(QuotaExceeded):
            make(store, "mallory", size=2000)
        with pytest.raises(QuotaExceeded):  # growing a secret in place counts too
            store.update_secret(principal="mallory", connection_id=kept[0], pack=BEARER,
                                secret={"token": "u" * 6000})
        make(store, "alice", size=6000)
        store.delete("mallory", kept[1])
        make(store, "mallory", size=2000)


def test_usage_survives_reopening_and_is_counted_for_an_older_store(tmp_path: Path,
                                                                    ring: KeyRing) -> None:
    with open_store(tmp_path / "db", ring, max_connections=2) as store:
        make(store, "mallory")
        make(store, "mallory")
    with lmdb.open(str(tmp_path / "db"), max_dbs=5) as env:  # as if made before quotas
        usage = env.open_db(b"usage")
        with env.begin(write=True) as txn:
            txn.drop(usage, delete=False)
    with open_store(tmp_path / "db", ring, max_connections=2) as store:
        with pytest.raises(QuotaExceeded):
            make(store, "mallory")


def test_a_nearly_full_store_refuses_new_data_but_always_deletes(tmp_path: Path,
                                                                 ring: KeyRing) -> None:
    made: list[tuple[str, str]] = []
    with ConnectionStore(tmp_path / "db", ring, map_size=1024 * 1024, max_map_size=1024 * 1024,
                         quotas=Quotas(max_connections=10_000, max_bytes=10**9)) as store:
        with pytest.raises(QuotaExceeded) as info:
            for i in range(10_000):  # many callers, each within its quota
                who = f"caller-{i}"
                made.append((who, make(store, who, size=3000)))
        assert info.value.details["quota"] == "store"
        assert 100 < len(made) < 10_000
        for who, conn_id in made:  # the map never filled: every delete goes through
            store.delete(who, conn_id)
        assert store.list("caller-0") == []
        assert make(store, "caller-0", size=3000), "the space came back"


def test_open_oauth_flows_are_bounded_per_principal(tmp_path: Path, ring: KeyRing) -> None:
    pack = pack_with_auth({"kind": "oauth2_code", "authorize_url": "https://idp.test/a",
                           "token_url": "https://idp.test/t"}, domains=("idp.test",))
    with open_store(tmp_path / "db", ring, max_pending_flows=2) as store:
        states = [store.start_authorization(pack=pack, principal="mallory", client_id="c",
                                            redirect_uri=REDIRECT)[1] for _ in range(3)]
        _, alices = store.start_authorization(pack=pack, principal="alice", client_id="c",
                                              redirect_uri=REDIRECT)
        with pytest.raises(AuthFlowError, match="unknown or already used"):
            store.complete_authorization(states[0], "code")  # the oldest was dropped
        for state in (states[1], states[2], alices):  # still open (they fail later, at
            with pytest.raises(AuthFlowError) as info:  # the token request: no client)
                store.complete_authorization(state, "code")
            assert "no token client" in str(info.value)
        with pytest.raises(Exception) as huge:
            store.start_authorization(pack=pack, principal="alice", client_id="c",
                                      client_secret="s" * 100_000, redirect_uri=REDIRECT)
        assert "over" in str(huge.value)
