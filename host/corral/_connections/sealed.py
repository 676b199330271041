"""How many sealed records a connection store holds, read without opening the store.

Before a key file is made, the host asks whether anything is sealed already: a new key
would open none of it, so a missing key file beside sealed records is a refusal, not a
fresh start. Only read transactions are used; the store's own code stays the writer.
"""

from __future__ import annotations

from pathlib import Path

import lmdb

from .._errors import SecretKeyError
from .._stores.lmdb_env import open_shared

#: The store's databases whose values are sealed: connection secrets, pending OAuth2 states.
SEALED_DATABASES = (b"secrets", b"oauth_states")


def count_sealed(store_dir: Path, *, map_size: int) -> int:
    """Sealed records in the connection store at ``store_dir``; 0 if there is no store.

    Fails closed: a store that cannot be read raises SecretKeyError, since "none" would
    let the caller make a new key over secrets it cannot see.
    """
    if not (store_dir / "data.mdb").is_file():
        return 0
    try:
        shared = open_shared(store_dir, map_size=map_size, max_dbs=4)
    except (lmdb.Error, OSError) as exc:
        raise SecretKeyError(f"cannot read the connection store at {store_dir} to count its "
                             f"sealed secrets: {type(exc).__name__}") from exc
    try:
        with shared.env.begin() as txn:
            return sum(_entries(shared.env, txn, name) for name in SEALED_DATABASES)
    except lmdb.Error as exc:
        raise SecretKeyError(f"cannot read the connection store at {store_dir} to count its "
                             f"sealed secrets: {type(exc).__name__}") from exc
    finally:
        shared.close()


def _entries(env: lmdb.Environment, txn: lmdb.Transaction, name: bytes) -> int:
    try:
        db = env.open_db(name, txn=txn, create=False)
    except lmdb.NotFoundError:
        return 0
    entries: int = txn.stat(db)["entries"]
    return entries
