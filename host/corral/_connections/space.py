"""Where the connection store keeps its databases: LMDB in the data dir, or the
``connections`` space of PostgreSQL when ``store_url`` is set (every node on that URL
shares it). Opening also brings the usage index and the key ids up to date."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lmdb

from .._errors import CredentialError
from .._stores.kv import KvStore
from .._stores.lmdb_env import SharedEnv
from .._stores.opening import open_kv
from .crypto import KeyRing
from .key_ids import DB_KEY_IDS, KeyIds
from .quota import Quotas, UsageBook, lmdb_headroom
from .records import Record
from .usage import UsageIndex

SPACE = "connections"
DB_CONNECTIONS = b"connections"
DB_SECRETS = b"secrets"
DB_STATES = b"oauth_states"
DB_USAGE = b"usage"
#: Every database of the store (a sixth slot spare for LMDB's ``max_dbs``).
DATABASES = (DB_CONNECTIONS, DB_SECRETS, DB_STATES, DB_USAGE, DB_KEY_IDS)
MAX_DBS = 6


@dataclass
class StoreSpace:
    """The opened store: its backend, database handles, usage book and key ids."""

    kv: KvStore
    dbs: dict[bytes, Any]
    book: UsageBook
    key_ids: KeyIds
    #: Where the store is, for messages ("at /data/connections", "on PostgreSQL at h:p/db").
    where: str
    shared: bool


def open_space(path: Path, store_url: str | None, *, quotas: Quotas, map_size: int,
               max_map_size: int, keyring: KeyRing,
               check_key_ring: bool | None = None) -> StoreSpace:
    """The connection store at ``path`` (LMDB) or in PostgreSQL at ``store_url``; with
    ``check_key_ring`` (by default: on PostgreSQL) SecretKeyError unless ``keyring``
    holds every key its sealed records need."""
    try:
        if not store_url:
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
        kv = open_kv(store_url, SPACE, lmdb_dir=path, map_size=map_size, max_dbs=MAX_DBS,
                     max_map_size=max_map_size, name="connection store",
                     setting="connections_map_max_bytes")
        try:
            space = _prepared(kv, path, quotas)
            if space.shared if check_key_ring is None else check_key_ring:
                space.key_ids.check(kv, keyring, where=space.where)
            return space
        except BaseException:
            kv.close()
            raise
    except (lmdb.Error, OSError) as exc:
        raise CredentialError(f"cannot open the connection store at {path}: "
                              f"{type(exc).__name__}: {exc}") from exc


def _prepared(kv: KvStore, path: Path, quotas: Quotas) -> StoreSpace:
    dbs = {name: kv.open_db(name) for name in DATABASES}
    index = UsageIndex(usage_db=dbs[DB_USAGE], records_db=dbs[DB_CONNECTIONS],
                       secrets_db=dbs[DB_SECRETS],
                       owner_of=lambda raw: Record.from_bytes(raw).principal)
    index.migrate(kv)
    key_ids = KeyIds(ids_db=dbs[DB_KEY_IDS], secrets_db=dbs[DB_SECRETS],
                     states_db=dbs[DB_STATES])
    key_ids.migrate(kv)
    if isinstance(kv, SharedEnv):
        book = UsageBook(quotas, index, headroom=lmdb_headroom(kv.env, list(dbs.values())))
        return StoreSpace(kv, dbs, book, key_ids, where=f"at {path}", shared=False)
    where = getattr(kv, "where", "?")
    return StoreSpace(kv, dbs, UsageBook(quotas, index), key_ids,
                      where=f"on PostgreSQL at {where}", shared=True)
