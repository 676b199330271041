"""The storage seam: a transactional key-value store with named sub-databases.

Every durable store (the pack registry, connections, API keys, console sessions,
blobs, automations) keeps its state through a :class:`KvStore`, so one code path runs
on either backend:

- :class:`~corral._stores.lmdb_env.SharedEnv`: LMDB in the data dir, the embedded
  default (nothing to install);
- ``corral._stores.pg.PgKv``: PostgreSQL, chosen by the ``store_url`` setting, which
  many stateless nodes share.

A transaction is a function of a :class:`KvTxn`: :meth:`KvStore.write` may run it more
than once (the LMDB map grew, PostgreSQL reported a serialization conflict), so it must
act only through the transaction it is given. Keys and values are bytes; a cursor yields
a sub-database's items in key order (bytewise).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Callable, Iterable, Mapping, Protocol, TypeVar

T = TypeVar("T")


class KvTxn(Protocol):
    """What a transaction offers; ``db`` is a handle from :meth:`KvStore.open_db`
    (None: the store's unnamed main database)."""

    def get(self, key: bytes, default: Any = None, db: Any = None) -> Any: ...

    def put(self, key: bytes, value: bytes, *, db: Any = None,
            overwrite: bool = True) -> bool: ...

    def delete(self, key: bytes, *, db: Any = None) -> bool: ...

    def pop(self, key: bytes, *, db: Any = None) -> Any: ...

    def cursor(self, db: Any = None) -> Iterable[tuple[Any, Any]]: ...

    def stat(self, db: Any = None) -> Mapping[str, Any]: ...

    def drop(self, db: Any, delete: bool = True) -> None:
        """Empty ``db`` (``delete=False`` keeps the handle usable, as LMDB needs)."""
        ...


class KvStore(Protocol):
    """A store's handle on its backend."""

    def open_db(self, name: bytes) -> Any: ...

    def read(self, fn: Callable[[Any], T]) -> T: ...

    def write(self, fn: Callable[[Any], T], *, frees: bool = False) -> T: ...

    def txn(self, *, write: bool = False) -> AbstractContextManager[Any]: ...

    def close(self) -> None: ...
