"""How many sealed records a connection store holds, read without opening the store.

Before a key file is made, the host asks whether anything is sealed already: a new key
would open none of it, so a missing key file beside sealed records is a refusal, not a
fresh start. Only read transactions are used; the store's own code stays the writer.
"""

from __future__ import annotations

from pathlib import Path

import lmdb

from .._errors import SecretKeyError
from .._stores.kv import KvTxn
from .._stores.lmdb_env import open_shared
from .._stores.opening import open_kv
from .space import SPACE

#: The store's databases whose values are sealed: connection secrets, pending OAuth2 states.
SEALED_DATABASES = (b"secrets", b"oauth_states")


def count_sealed(store_dir: Path, *, map_size: int, store_url: str | None = None) -> int:
    """Sealed records in the connection store at ``store_dir`` (or, with ``store_url``,
    in PostgreSQL's); 0 if there is no store.

    Fails closed: a store that cannot be read raises SecretKeyError (StoreUnavailable
    for a PostgreSQL that cannot be reached), since "none" would let the caller make a
    new key over secrets it cannot see.
    """
    if store_url:
        return _count_shared(store_url, store_dir, map_size)
    if not (store_dir / "data.mdb").is_file():
        return 0
    try:
        shared = open_shared(store_dir, map_size=map_size, max_dbs=6)
    except (lmdb.Error, OSError) as exc:
        raise SecretKeyError(f"cannot read the connection store at {store_dir} to count its "
                             f"sealed secrets: {type(exc).__name__}") from exc
    try:
        # An LMDB branch: opened without create, a database never made counts 0.
        with shared.env.begin() as txn:
            return sum(_entries(shared.env, txn, name) for name in SEALED_DATABASES)
    except lmdb.Error as exc:
        raise SecretKeyError(f"cannot read the connection store at {store_dir} to count its "
                             f"sealed secrets: {type(exc).__name__}") from exc
    finally:
        shared.close()


def _count_shared(store_url: str, store_dir: Path, map_size: int) -> int:
    kv = open_kv(store_url, SPACE, lmdb_dir=store_dir, map_size=map_size, max_dbs=6,
                 name="connection store")
    try:
        dbs = [kv.open_db(name) for name in SEALED_DATABASES]

        def count(txn: KvTxn) -> int:
            return sum(int(txn.stat(db)["entries"]) for db in dbs)

        return kv.read(count)
    finally:
        kv.close()


def _entries(env: lmdb.Environment, txn: lmdb.Transaction, name: bytes) -> int:
    try:
        db = env.open_db(name, txn=txn, create=False)
    except lmdb.NotFoundError:
        return 0
    entries: int = txn.stat(db)["entries"]
    return entries
