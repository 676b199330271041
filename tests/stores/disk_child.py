"""Runs on a small tmpfs (tests/small_disk.py) for test_lmdb_env.py; prints one JSON line.

    python -m tests.stores.disk_child DIRECTORY

Fills an LMDB store whose map could hold far more than the disk, until a write fails,
then checks that every acknowledged write is there, that the store still reads, and
that a whole-file write on the full disk fails the same honest way.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from corral import StorageFull
from corral._stores.files import write_file_atomically
from corral._stores.lmdb_env import open_shared


def main(directory: Path) -> None:
    shared = open_shared(directory / "env", map_size=1 << 20, max_map_size=1 << 30,
                         max_dbs=1, name="test store")
    acknowledged = 0
    failure: StorageFull | None = None
    try:
        for i in range(100_000):
            shared.write(lambda txn: txn.put(b"k%06d" % i, b"v" * 3000))
            acknowledged += 1
    except StorageFull as exc:
        failure = exc
    present = shared.read(lambda txn: sum(
        1 for i in range(acknowledged) if txn.get(b"k%06d" % i) == b"v" * 3000))
    try:
        write_file_atomically(directory / "whole.bin", b"x" * (1 << 20), store="pack store")
        file_failure = ""
    except StorageFull as exc:
        file_failure = str(exc)
    print(json.dumps({
        "acknowledged": acknowledged, "present": present,
        "failure": str(failure) if failure else None,
        "kind": failure.kind if failure else None,
        "store": failure.details.get("store") if failure else None,
        "cause": type(failure.__cause__).__name__ if failure else None,
        "map_size": shared.map_size(), "file_failure": file_failure,
        "leftovers": sorted(p.name for p in directory.iterdir()),
    }))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
