"""Opening a store on the backend the settings choose (see :mod:`corral._stores.kv`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Protocol, cast

from .kv import KvStore
from .lmdb_env import open_shared


def open_kv(store_url: str | None, space: str, *, lmdb_dir: Path, map_size: int,
            max_dbs: int, max_map_size: int | None = None, name: str = "store",
            setting: str | None = None, **lmdb_flags: Any) -> KvStore:
    """The store ``space`` ("registry", "connections", "api-keys", ...): in PostgreSQL
    when ``store_url`` is set (every node on that URL shares it), else the LMDB
    environment at ``lmdb_dir``. ``name`` says what it is in errors; the LMDB arguments
    size its map."""
    if store_url:
        from .pg import open_pg_space

        return open_pg_space(store_url, space, name=name)
    return open_shared(lmdb_dir, map_size=map_size, max_dbs=max_dbs,
                       max_map_size=max_map_size, name=name, setting=setting, **lmdb_flags)


class WatchedKv(KvStore, Protocol):
    """A store other nodes share, which says when any of them changed it."""

    @property
    def listening(self) -> bool:
        """Whether word of changes reaches this process now (False in an outage: what it
        cached may be stale without notice)."""
        ...

    def on_change(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` after any node commits a change, and whenever changes may
        have gone unannounced; returns the unsubscribe."""
        ...


def watched(kv: KvStore) -> WatchedKv | None:
    """``kv`` if it is shared by other nodes (their changes are announced), else None
    (an LMDB environment: other processes' changes are seen by reading it)."""
    return cast(WatchedKv, kv) if hasattr(kv, "on_change") else None
