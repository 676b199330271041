"""Per-principal quotas on the connection store, and the headroom that keeps it usable.

Each principal may hold at most ``max_connections`` connections and ``max_bytes`` of
stored records and sealed secrets, so one caller cannot fill the store for everyone.
Usage is read from the per-principal index of :mod:`.usage`, kept in the same
transaction as every write, so checking a quota never scans the records. Both backends
enforce the quotas alike.

On LMDB there is also a headroom check (:func:`lmdb_headroom`). LMDB needs free pages
even to delete, so the map is never filled: new data is refused while less than
``reserve`` of the map is free, updates of existing connections (a token refresh) while
less than half of it is, and deletes always go through. PostgreSQL has no map to fill
(a row is deleted without room for a copy), so there the book has no headroom function
and only the per-principal quotas apply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from .._errors import QuotaExceeded
from .._stores.kv import KvTxn
from .usage import Usage, UsageIndex

DEFAULT_MAX_CONNECTIONS = 100
DEFAULT_MAX_BYTES = 1024 * 1024
DEFAULT_PENDING_FLOWS = 16

#: (free, total) bytes of the store as a transaction sees it.
Headroom = Callable[[KvTxn], tuple[int, int]]


@dataclass(frozen=True)
class Quotas:
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    max_bytes: int = DEFAULT_MAX_BYTES
    #: OAuth2 flows a principal may have open; starting one more drops its oldest.
    max_pending_flows: int = DEFAULT_PENDING_FLOWS
    #: Fraction of the map kept free for refreshes and deletes.
    reserve_fraction: float = 0.1


class UsageBook:
    """Checks and records per-principal usage inside the store's write transactions."""

    def __init__(self, quotas: Quotas, index: UsageIndex, *,
                 headroom: Headroom | None = None) -> None:
        self.quotas = quotas
        self.index = index
        self._headroom = headroom  # None: the backend has no map to keep room in

    def usage(self, txn: KvTxn, principal: str) -> Usage:
        return self.index.get(txn, principal)

    def charge(self, txn: KvTxn, principal: str, *, count: int, size: int,
               enforce: bool = True) -> None:
        """Record a write of ``count`` more connections and ``size`` more bytes (either
        may be negative), refusing one that grows past the principal's quota unless
        ``enforce`` is off (a write the store makes on its own: expiry, key rotation)."""
        before = self.usage(txn, principal)
        after = Usage(max(0, before.count + count), max(0, before.bytes + size))
        if enforce:
            self._check(after, count=count, size=size)
            if count > 0 or size > 0:
                self.check_headroom(txn, new=count > 0)
        self.index.put(txn, principal, after)

    def _check(self, after: Usage, *, count: int, size: int) -> None:
        if count > 0 and after.count > self.quotas.max_connections:
            raise QuotaExceeded(f"at most {self.quotas.max_connections} connections per "
                                "caller; delete one first", quota="connections",
                                limit=self.quotas.max_connections)
        if size > 0 and after.bytes > self.quotas.max_bytes:
            raise QuotaExceeded(f"the caller's connections would take {after.bytes} bytes; "
                                f"at most {self.quotas.max_bytes} are allowed per caller",
                                quota="secret_bytes", limit=self.quotas.max_bytes)

    def check_headroom(self, txn: KvTxn, *, new: bool) -> None:
        """Refuse a growing write when the map is nearly full (see the module docstring)."""
        if self._headroom is None:
            return
        free, total = self._headroom(txn)
        reserve = total * self.quotas.reserve_fraction * (1.0 if new else 0.5)
        if free < reserve:
            raise QuotaExceeded("the connection store is nearly full and keeps its last "
                                "space for refreshes and deletes; delete connections or "
                                "raise connections_map_bytes", quota="store")


def stored_size(txn: KvTxn, key: bytes, records_db: Any, secrets_db: Any) -> int:
    """The bytes one connection takes: its record and its sealed secret."""
    record = txn.get(key, db=records_db)
    blob = txn.get(key, db=secrets_db)
    return (len(record) if record is not None else 0) + (len(blob) if blob is not None else 0)


def lmdb_headroom(env: Any, dbs: Sequence[Any]) -> Headroom:
    """The headroom of the LMDB environment ``env`` (an ``lmdb.Environment``) holding
    the databases ``dbs``."""
    return lambda txn: free_bytes(txn, env, dbs)


def free_bytes(txn: Any, env: Any, dbs: Sequence[Any]) -> tuple[int, int]:
    """(free, total) bytes of an LMDB map: pages not held by any database's tree (freed
    pages count as free; LMDB reuses them). ``txn`` is an ``lmdb.Transaction``: its
    ``stat`` gives page counts."""
    main = txn.stat()
    used = _pages(main) + sum(_pages(txn.stat(db)) for db in dbs)
    total = int(env.info()["map_size"])
    return total - used * int(main["psize"]), total


def _pages(stat: Mapping[str, Any]) -> int:
    return int(stat["branch_pages"]) + int(stat["leaf_pages"]) + int(stat["overflow_pages"])
