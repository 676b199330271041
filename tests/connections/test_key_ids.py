"""The key ids the LMDB connection store keeps: counted once for a store made without
them, kept exact through writes and a rotation, and checked at open only when asked
(on one machine a wrong key shows when a secret is opened, as it always did)."""

from __future__ import annotations

import os
from pathlib import Path

import lmdb
import pytest

from corral import ConnectionStore, KeyRing, SecretKeyError
from corral._connections.key_ids import DB_KEY_IDS, KeyIds

from ..oauth_server import pack_with_auth

BEARER = pack_with_auth({"kind": "bearer"})


def recorded(store: ConnectionStore) -> set[str]:
    ids = KeyIds(ids_db=store._dbs[DB_KEY_IDS], secrets_db=None, states_db=None)
    return store._shared.read(ids.recorded)


def test_ids_are_counted_once_for_an_older_store_and_follow_a_rotation(tmp_path: Path) -> None:
    ring = KeyRing.generate(tmp_path / "key")
    first = ring.current_key_id
    with ConnectionStore(tmp_path / "db", ring) as store:
        store.create(principal="p", pack=BEARER, name="n", secret={"token": "t"})
    with lmdb.open(str(tmp_path / "db"), max_dbs=6) as env:  # as if made before the ids
        with env.begin(write=True) as txn:
            txn.drop(env.open_db(DB_KEY_IDS, txn=txn), delete=True)
    with ConnectionStore(tmp_path / "db", ring) as store:
        assert recorded(store) == {first}
        ring.rotate_to_new_key()
        store.create(principal="p", pack=BEARER, name="m", secret={"token": "u"})
        assert recorded(store) == {first, ring.current_key_id}
        assert store.rotate_keys() == 1
        assert recorded(store) == {ring.current_key_id}


def test_a_wrong_key_fails_at_open_only_when_asked_on_lmdb(tmp_path: Path) -> None:
    ring = KeyRing([os.urandom(32)])
    with ConnectionStore(tmp_path / "db", ring) as store:
        made = store.create(principal="p", pack=BEARER, name="n", secret={"token": "t"})
    wrong = KeyRing([os.urandom(32)])
    with ConnectionStore(tmp_path / "db", wrong) as store:
        assert store.get("p", made.id).name == "n"  # opens as before; using it fails
        with pytest.raises(SecretKeyError, match="not in the key ring"):
            store.test("p", made.id, BEARER)
    with pytest.raises(SecretKeyError, match=ring.current_key_id):
        ConnectionStore(tmp_path / "db", wrong, check_key_ring=True)
    with ConnectionStore(tmp_path / "db", ring, check_key_ring=True) as store:
        assert store.test("p", made.id, BEARER).id == made.id
