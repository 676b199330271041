"""The shared LMDB environment: a full map grows and the write runs again, up to the
ceiling; past it, or on a full disk, StorageFull without LMDB's words; a map another
process grew is adopted; readers in other threads never see a resize under them."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import lmdb
import pytest

from corral import StorageFull
from corral._stores.lmdb_env import SharedEnv, open_shared

from ..conftest import REPO
from ..small_disk import run_on_tmpfs

KIB = 1024


def put_many(shared: SharedEnv, start: int, count: int, size: int = 1000) -> None:
    for i in range(start, start + count):
        shared.write(lambda txn: txn.put(b"k%06d" % i, bytes([i % 251]) * size))


def count_present(shared: SharedEnv, count: int, size: int = 1000) -> int:
    return shared.read(lambda txn: sum(
        1 for i in range(count) if txn.get(b"k%06d" % i) == bytes([i % 251]) * size))


def test_a_full_map_grows_and_the_write_runs_again_until_the_ceiling(tmp_path: Path) -> None:
    shared = open_shared(tmp_path / "env", map_size=64 * KIB, max_map_size=1024 * KIB,
                         max_dbs=1, name="test store", setting="test_max_bytes", sync=False)
    try:
        put_many(shared, 0, 300)  # ~300 KiB: more than the first map holds
        assert 64 * KIB < shared.map_size() <= 1024 * KIB
        assert count_present(shared, 300) == 300
        written = 300
        with pytest.raises(StorageFull) as full:
            for i in range(300, 5000):
                put_many(shared, i, 1)
                written += 1
        assert shared.map_size() == 1024 * KIB
        assert count_present(shared, written) == written, "every acknowledged write stays"
        text = str(full.value).lower()
        assert "test store" in text and not any(w in text for w in ("mdb", "lmdb", "map"))
        assert full.value.details == {"store": "test store", "setting": "test_max_bytes"}
        for i in range(0, written, 2):  # a full store can still shrink, into its reserve
            shared.write(lambda txn: txn.delete(b"k%06d" % i), frees=True)
        assert shared.map_size() <= 1024 * KIB + shared.reserve
        put_many(shared, 0, 10)  # and what it gave back is used again
        assert count_present(shared, 10) == 10
    finally:
        shared.close()


def test_a_with_block_grows_the_map_ahead_and_says_when_it_cannot(tmp_path: Path) -> None:
    shared = open_shared(tmp_path / "env", map_size=64 * KIB, max_map_size=256 * KIB,
                         max_dbs=1, name="test store", sync=False)
    try:
        for i in range(150):
            with shared.txn(write=True) as txn:
                txn.put(b"k%06d" % i, b"x" * 1000)
        assert shared.map_size() > 64 * KIB, "grown before a block could fill it"
        with shared.txn() as txn:
            assert txn.get(b"k000149") == b"x" * 1000
        with pytest.raises(StorageFull):
            with shared.txn(write=True) as txn:
                for i in range(1000):
                    txn.put(b"big%06d" % i, b"y" * 1000)
        with shared.txn() as txn:
            assert txn.get(b"big000000") is None, "the block that did not fit left nothing"
    finally:
        shared.close()


GROWER = """
import sys
from pathlib import Path
from corral._stores.lmdb_env import open_shared
shared = open_shared(Path(sys.argv[1]), map_size=64 * 1024, max_map_size=8 << 20, max_dbs=1,
                     sync=False)
for i in range(100):
    shared.write(lambda txn: txn.put(b"c%06d" % i, b"z" * 20000))
print(shared.map_size())
"""


def test_a_map_another_process_grew_is_adopted(tmp_path: Path) -> None:
    shared = open_shared(tmp_path / "env", map_size=64 * KIB, max_map_size=64 * KIB,
                         max_dbs=1)
    try:
        shared.write(lambda txn: txn.put(b"mine", b"1"))
        grown = subprocess.run([sys.executable, "-c", GROWER, str(tmp_path / "env")],
                               capture_output=True, text=True, cwd=REPO, timeout=120)
        assert grown.returncode == 0, grown.stderr
        assert int(grown.stdout) > 1024 * KIB
        seen = shared.read(lambda txn: sum(1 for i in range(100)
                                           if txn.get(b"c%06d" % i) == b"z" * 20000))
        assert seen == 100
        assert shared.map_size() >= int(grown.stdout), "adopted, though its own ceiling is less"
        shared.write(lambda txn: txn.put(b"after", b"2"))
        assert shared.read(lambda txn: txn.get(b"mine")) == b"1"
    finally:
        shared.close()


def test_readers_in_other_threads_never_see_the_map_resized_under_them(
        tmp_path: Path) -> None:
    shared = open_shared(tmp_path / "env", map_size=64 * KIB, max_map_size=16 << 20,
                         max_dbs=1, sync=False)
    failures: list[BaseException] = []
    done = threading.Event()

    def read_all() -> None:
        last = 0
        try:
            while not done.is_set():
                entries = shared.read(lambda txn: sum(1 for _ in txn.cursor()))
                assert entries >= last, "a reader went back in time"
                last = entries
        except BaseException as exc:  # noqa: BLE001 -- reported to the test below
            failures.append(exc)

    readers = [threading.Thread(target=read_all) for _ in range(3)]
    for reader in readers:
        reader.start()
    try:
        put_many(shared, 0, 120, size=40_000)  # grows the map several times
    finally:
        done.set()
        for reader in readers:
            reader.join(timeout=60)
    try:
        assert failures == []
        assert shared.map_size() >= 4 << 20
        assert count_present(shared, 120, size=40_000) == 120
    finally:
        shared.close()


def test_two_users_in_one_process_share_one_handle_until_the_last_closes(
        tmp_path: Path) -> None:
    first = open_shared(tmp_path / "env", map_size=64 * KIB, max_dbs=1)
    second = open_shared(tmp_path / "env", map_size=64 * KIB, max_dbs=1)
    assert first.env is second.env
    first.close()
    first.close()  # idempotent
    second.write(lambda txn: txn.put(b"still", b"open"))
    second.close()
    with pytest.raises(lmdb.Error):
        second.env.info()


@pytest.mark.timeout(180)
def test_a_full_disk_is_storage_full_and_loses_no_acknowledged_write(tmp_path: Path) -> None:
    mount = tmp_path / "small"
    done = run_on_tmpfs(mount, 2 * 1024 * KIB, [sys.executable, "-m", "tests.stores.disk_child",
                                               str(mount)])
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["kind"] == "storage_full" and found["store"] == "test store"
    assert "disk" in found["failure"] and "space" not in found["failure"].lower()
    assert found["cause"] in ("DiskError", "Error"), "from LMDB, told as a full disk"
    assert 0 < found["acknowledged"] == found["present"]
    assert found["map_size"] < 1 << 30, "the disk filled up long before the ceiling"
    assert found["file_failure"] == "no room to store this: the disk holding the pack " \
                                    "store is full"
    assert found["leftovers"] == ["env"], "no temporary file left behind"
