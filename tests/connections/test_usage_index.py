"""The per-principal usage index of the real LMDB connection store: exact after every kind of
write and after reopening, built once (and only once) for a store made without it, equal to
a full count of the records for random sequences of writes, and what the quota reads."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import lmdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corral._connections.crypto import KeyRing
from corral._connections.quota import Quotas
from corral._connections.store import ConnectionStore
from corral._connections.usage import INDEX_VERSION, Usage
from corral._errors import QuotaExceeded

from ..oauth_server import pack_with_auth

BEARER = pack_with_auth({"kind": "bearer"})


def indexed(store: ConnectionStore) -> dict[str, Usage]:
    return store._shared.read(store._book.index.entries)


def counted(store: ConnectionStore) -> dict[str, Usage]:
    """The usage a full scan of the records and secrets finds."""
    return store._shared.read(store._book.index.counted)


def assert_exact(store: ConnectionStore) -> None:
    assert indexed(store) == counted(store)


def make(store: ConnectionStore, who: str, size: int = 16, name: str = "c") -> str:
    return store.create(principal=who, pack=BEARER, name=name,
                        secret={"token": "t" * size}).id


def test_usage_is_exact_after_every_kind_of_write_and_after_reopening(tmp_path: Path) -> None:
    ring = KeyRing.generate(tmp_path / "key")
    with ConnectionStore(tmp_path / "db", ring) as store:
        a1, a2 = make(store, "alice"), make(store, "alice", size=300)
        b1 = make(store, "bob", size=40)
        assert indexed(store)["alice"].count == 2 and indexed(store)["bob"].count == 1
        assert_exact(store)
        store.update_secret(principal="alice", connection_id=a2, pack=BEARER,
                            secret={"token": "u" * 900})
        store.rename("bob", b1, "a much longer name than before")
        assert_exact(store)
        store._mark_expired(store._record(a1), "a test")  # written by the store on its own
        assert_exact(store)
        ring.rotate_to_new_key()
        assert store.rotate_keys() == 3
        assert_exact(store)
        store.delete("bob", b1)
        assert "bob" not in indexed(store), "a principal holding nothing has no entry"
        assert_exact(store)
        before = indexed(store)
    with ConnectionStore(tmp_path / "db", ring) as reopened:
        assert indexed(reopened) == before == counted(reopened)
        assert indexed(reopened)["alice"] == Usage(2, before["alice"].bytes)


def drop_index(path: Path, *, whole: bool) -> None:
    """Make the store look older: no usage database at all, or entries without a marker."""
    with lmdb.open(str(path), max_dbs=5) as env:
        usage = env.open_db(b"usage")
        with env.begin(write=True) as txn:
            txn.drop(usage, delete=whole)


def test_a_store_without_the_index_is_counted_once_when_it_opens(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ring = KeyRing.generate()
    with ConnectionStore(tmp_path / "db", ring) as store:
        for i in range(30):
            make(store, f"p{i % 7}", size=10 + i)
        expected = counted(store)
    drop_index(tmp_path / "db", whole=True)
    with caplog.at_level(logging.INFO, "corral.connections"):
        with ConnectionStore(tmp_path / "db", ring) as store:
            assert indexed(store) == expected == counted(store)
        with ConnectionStore(tmp_path / "db", ring) as store:  # already current: left alone
            assert indexed(store) == expected
            assert store._shared.read(store._book.index.is_current)
            assert not store._book.index.migrate(store._shared)
    built = [r for r in caplog.records if "into the connection store's index" in r.message]
    assert [r.getMessage() for r in built] == [
        "counted the usage of 7 principals into the connection store's index"]


def test_drifted_entries_of_an_unversioned_store_are_replaced_by_a_count(tmp_path: Path) -> None:
    ring = KeyRing.generate()
    with ConnectionStore(tmp_path / "db", ring) as store:
        make(store, "alice")
        make(store, "bob")
        expected = counted(store)
    drop_index(tmp_path / "db", whole=False)
    with lmdb.open(str(tmp_path / "db"), max_dbs=5) as env:  # wrong entries, no marker
        usage = env.open_db(b"usage")
        with env.begin(write=True) as txn:
            txn.put(b"alice", json.dumps({"count": 40, "bytes": 5}).encode(), db=usage)
            txn.put(b"ghost", json.dumps({"count": 3, "bytes": 99}).encode(), db=usage)
    with ConnectionStore(tmp_path / "db", ring) as store:
        assert indexed(store) == expected
    assert INDEX_VERSION == 1


def test_the_quota_reads_the_index_and_still_refuses_at_its_limit(tmp_path: Path) -> None:
    ring = KeyRing.generate()
    with ConnectionStore(tmp_path / "db", ring, quotas=Quotas(max_connections=3)) as store:
        for i in range(50):
            make(store, f"other-{i}")
        kept = [make(store, "mallory") for _ in range(3)]
    drop_index(tmp_path / "db", whole=True)
    with ConnectionStore(tmp_path / "db", ring, quotas=Quotas(max_connections=3)) as store:
        with pytest.raises(QuotaExceeded) as info:
            make(store, "mallory")
        assert info.value.details["quota"] == "connections"
        assert make(store, "newcomer"), "a principal the index has never seen starts at 0"
        store.delete("mallory", kept[0])
        make(store, "mallory")
        with pytest.raises(QuotaExceeded):
            make(store, "mallory")
        assert_exact(store)


PRINCIPALS = st.sampled_from(["alice", "bob", "carol"])
ACTIONS = st.lists(st.one_of(
    st.tuples(st.just("create"), PRINCIPALS, st.integers(1, 400)),
    st.tuples(st.just("delete"), PRINCIPALS, st.integers(0, 10)),
    st.tuples(st.just("update"), PRINCIPALS, st.integers(1, 400)),
    st.tuples(st.just("reopen"), PRINCIPALS, st.just(0)),
), max_size=25)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions=ACTIONS)
def test_random_writes_keep_the_index_equal_to_a_model_and_a_full_count(
        actions: list[tuple[str, str, int]]) -> None:
    ring = KeyRing.generate()
    model: dict[str, list[str]] = {}  # principal -> its connection ids
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "db"
        store = ConnectionStore(path, ring, quotas=Quotas(max_connections=6))
        try:
            for action, who, number in actions:
                mine = model.setdefault(who, [])
                if action == "create":
                    try:
                        mine.append(make(store, who, size=number))
                    except QuotaExceeded:
                        assert len(mine) == 6
                elif action == "delete" and mine:
                    store.delete(who, mine.pop(number % len(mine)))
                elif action == "update" and mine:
                    store.update_secret(principal=who, connection_id=mine[0], pack=BEARER,
                                        secret={"token": "u" * number})
                elif action == "reopen":
                    store.close()
                    store = ConnectionStore(path, ring, quotas=Quotas(max_connections=6))
                index = indexed(store)
                assert {p: u.count for p, u in index.items()} == \
                    {p: len(ids) for p, ids in model.items() if ids}
                assert index == counted(store)
        finally:
            store.close()
