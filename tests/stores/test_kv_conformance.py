"""One behaviour for both backends of the key-value seam: every assertion here runs on
LMDB (the embedded default) and on PostgreSQL (``store_url``)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

from corral._stores.kv import KvStore
from corral._stores.opening import open_kv

BACKENDS = ["lmdb", "postgresql"]


@pytest.fixture(params=BACKENDS)
def kv(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KvStore]:
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    store = open_kv(url, "conformance", lmdb_dir=tmp_path / "env", map_size=1 << 20,
                    max_dbs=4, max_map_size=1 << 24, name="test store")
    yield store
    store.close()


def test_get_put_and_the_default(kv: KvStore) -> None:
    db = kv.open_db(b"things")
    assert kv.read(lambda txn: txn.get(b"missing", db=db)) is None
    assert kv.read(lambda txn: txn.get(b"missing", b"fallback", db=db)) == b"fallback"
    assert kv.write(lambda txn: txn.put(b"k", b"v1", db=db)) is True
    assert kv.read(lambda txn: txn.get(b"k", db=db)) == b"v1"
    assert kv.write(lambda txn: txn.put(b"k", b"v2", db=db)) is True  # overwrites
    assert kv.read(lambda txn: txn.get(b"k", db=db)) == b"v2"


def test_put_without_overwrite_keeps_the_first_value(kv: KvStore) -> None:
    db = kv.open_db(b"things")
    assert kv.write(lambda txn: txn.put(b"k", b"first", db=db, overwrite=False)) is True
    assert kv.write(lambda txn: txn.put(b"k", b"second", db=db, overwrite=False)) is False
    assert kv.read(lambda txn: txn.get(b"k", db=db)) == b"first"


def test_delete_and_pop_say_whether_the_key_was_there(kv: KvStore) -> None:
    db = kv.open_db(b"things")
    kv.write(lambda txn: (txn.put(b"a", b"1", db=db), txn.put(b"b", b"2", db=db)))
    assert kv.write(lambda txn: txn.delete(b"a", db=db)) is True
    assert kv.write(lambda txn: txn.delete(b"a", db=db)) is False
    assert kv.write(lambda txn: txn.pop(b"b", db=db)) == b"2"
    assert kv.write(lambda txn: txn.pop(b"b", db=db)) is None
    assert kv.read(lambda txn: txn.stat(db)["entries"]) == 0


def test_sub_databases_and_the_main_one_are_apart(kv: KvStore) -> None:
    one, two = kv.open_db(b"one"), kv.open_db(b"two")
    kv.write(lambda txn: (txn.put(b"k", b"in one", db=one), txn.put(b"k", b"in two", db=two),
                          txn.put(b"k", b"in main")))
    assert kv.read(lambda txn: (txn.get(b"k", db=one), txn.get(b"k", db=two),
                                txn.get(b"k"))) == (b"in one", b"in two", b"in main")
    assert kv.read(lambda txn: [txn.stat(one)["entries"], txn.stat(two)["entries"]]) == [1, 1]


def test_a_cursor_yields_bytes_in_bytewise_key_order(kv: KvStore) -> None:
    db = kv.open_db(b"ordered")
    keys = [b"b", b"a", b"\xff", b"\x00", b"ab", b"B", b"a\x00", b"\x7f\x80"]

    def fill(txn: Any) -> None:
        for key in keys:
            txn.put(key, b"v" + key, db=db)

    kv.write(fill)
    items = kv.read(lambda txn: [(bytes(k), bytes(v)) for k, v in txn.cursor(db=db)])
    assert items == [(key, b"v" + key) for key in sorted(keys)]
    assert kv.read(lambda txn: txn.stat(db))["entries"] == len(keys)


def test_a_long_cursor_passes_every_item_once(kv: KvStore) -> None:
    db = kv.open_db(b"many")
    count = 1234

    def fill(txn: Any) -> None:
        for i in range(count):
            txn.put(b"%06d" % i, b"x" * (i % 7), db=db)

    kv.write(fill)
    keys = kv.read(lambda txn: [bytes(k) for k, _ in txn.cursor(db=db)])
    assert keys == [b"%06d" % i for i in range(count)]


def test_a_cursor_starts_at_a_range(kv: KvStore) -> None:
    db = kv.open_db(b"ranged")
    kv.write(lambda txn: [txn.put(k, b"", db=db) for k in (b"a1", b"b1", b"b2", b"c1")])

    def from_b(txn: Any) -> list[bytes]:
        cursor = txn.cursor(db=db)
        assert cursor.set_range(b"b")
        return [bytes(k) for k, _ in cursor]

    assert kv.read(from_b) == [b"b1", b"b2", b"c1"]
    empty = kv.open_db(b"empty")
    assert kv.read(lambda txn: txn.cursor(db=empty).first()) is False
    assert kv.read(lambda txn: txn.cursor(db=db).first()) is True


def test_a_failing_write_changes_nothing(kv: KvStore) -> None:
    db = kv.open_db(b"things")
    kv.write(lambda txn: txn.put(b"kept", b"old", db=db))

    def fail(txn: Any) -> None:
        txn.put(b"kept", b"new", db=db)
        txn.put(b"other", b"new", db=db)
        raise KeyError("the function's own error")

    with pytest.raises(KeyError):
        kv.write(fail)
    assert kv.read(lambda txn: (txn.get(b"kept", db=db), txn.get(b"other", db=db))) == (
        b"old", None)


def test_a_write_sees_its_own_changes(kv: KvStore) -> None:
    db = kv.open_db(b"things")

    def write(txn: Any) -> tuple[Any, ...]:
        txn.put(b"k", b"mine", db=db)
        seen = txn.get(b"k", db=db)
        txn.delete(b"k", db=db)
        return seen, txn.get(b"k", db=db), [bytes(k) for k, _ in txn.cursor(db=db)]

    assert kv.write(write) == (b"mine", None, [])


def test_a_with_block_commits_at_its_end_and_rolls_back_on_error(kv: KvStore) -> None:
    db = kv.open_db(b"things")
    with kv.txn(write=True) as txn:
        txn.put(b"block", b"1", db=db)
    with kv.txn() as txn:
        assert txn.get(b"block", db=db) == b"1"
    with pytest.raises(RuntimeError):
        with kv.txn(write=True) as txn:
            txn.put(b"block", b"2", db=db)
            raise RuntimeError("abandon")
    assert kv.read(lambda txn: txn.get(b"block", db=db)) == b"1"


def test_a_read_sees_one_moment(kv: KvStore) -> None:
    db = kv.open_db(b"pair")
    kv.write(lambda txn: (txn.put(b"a", b"0", db=db), txn.put(b"b", b"0", db=db)))
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            value = str(i).encode()
            kv.write(lambda txn: (txn.put(b"a", value, db=db), txn.put(b"b", value, db=db)))

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        pairs = [kv.read(lambda txn: (txn.get(b"a", db=db), txn.get(b"b", db=db)))
                 for _ in range(200)]
    finally:
        stop.set()
        thread.join()
    assert all(a == b for a, b in pairs), [p for p in pairs if p[0] != p[1]][:3]


def test_concurrent_increments_are_never_lost(kv: KvStore) -> None:
    db = kv.open_db(b"counter")
    rounds = 150

    def increment(txn: Any) -> None:
        current = int(txn.get(b"n", b"0", db=db))
        txn.put(b"n", str(current + 1).encode(), db=db)

    def worker() -> None:
        for _ in range(rounds):
            kv.write(increment)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert kv.read(lambda txn: txn.get(b"n", db=db)) == str(2 * rounds).encode()


def test_drop_empties_a_sub_database(kv: KvStore) -> None:
    kept, emptied = kv.open_db(b"kept"), kv.open_db(b"emptied")
    kv.write(lambda txn: [txn.put(b"%d" % i, b"v", db=db) for i in range(5)
                          for db in (kept, emptied)])
    kv.write(lambda txn: txn.drop(emptied, delete=False))
    assert kv.read(lambda txn: (txn.stat(kept)["entries"], txn.stat(emptied)["entries"])) == (
        5, 0)
    kv.write(lambda txn: txn.put(b"again", b"v", db=emptied))  # the handle still works
    assert kv.read(lambda txn: txn.get(b"again", db=emptied)) == b"v"
