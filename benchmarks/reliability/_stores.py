"""Does every store in a data dir open? Checked with the servers stopped.

Every LMDB environment under the data dir (any directory holding ``data.mdb``) is opened
read-only and every record of every database is read; every JSON file in the data dir
must parse; the secret key file must be a valid key ring. The layout is found, not
assumed, so a store that moves (API keys into LMDB, say) is still checked.
"""

from __future__ import annotations

import json
from pathlib import Path

import lmdb

from corral._connections.crypto import KeyRing

from ._tally import Tally

SECRET_KEY_FILE = "secret.key"


def unreadable_stores(data_dir: Path) -> list[str]:
    """A line for each store under ``data_dir`` that does not open whole."""
    problems = []
    for mdb in sorted(data_dir.rglob("data.mdb")):
        problem = _lmdb_problem(mdb.parent)
        if problem:
            problems.append(f"{mdb.parent.relative_to(data_dir)}: {problem}")
    for path in sorted(data_dir.glob("*.json")):
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            problems.append(f"{path.name}: {type(exc).__name__}: {str(exc)[:100]}")
    key_file = data_dir / SECRET_KEY_FILE
    if key_file.exists():
        try:
            KeyRing.from_file(key_file)
        except Exception as exc:  # any failure to read the ring is the finding
            problems.append(f"{SECRET_KEY_FILE}: {str(exc)[:120]}")
    return problems


def _lmdb_problem(path: Path) -> str:
    try:
        env = lmdb.open(str(path), readonly=True, lock=False, max_dbs=32, subdir=True)
    except lmdb.Error as exc:
        return f"does not open: {exc}"
    try:
        with env.begin() as txn:
            names = [bytes(k) for k, _ in txn.cursor()]
        for name in names:
            try:
                db = env.open_db(name, create=False)
            except lmdb.Error:
                continue  # a plain key of the main database, not a named one
            with env.begin(db=db) as txn:
                for _ in txn.cursor():
                    pass
    except lmdb.Error as exc:
        return f"cannot be read: {exc}"
    finally:
        env.close()
    return ""


def check_stores(data_dir: Path, tally: Tally) -> None:
    for problem in unreadable_stores(data_dir):
        tally.broke("unreadable", problem)
