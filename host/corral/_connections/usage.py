"""The per-principal usage index: how many connections and bytes each principal holds.

It lives in the store's ``usage`` database (principal -> ``{"count", "bytes"}``) and is
written in the same transaction as every record and secret it accounts for, so it is
exact and a crash (even ``kill -9``) keeps or loses both together. A principal without an
entry holds nothing, so reading anyone's usage is one lookup, never a scan of the records.

A version marker in the same database (its key is not UTF-8, so no principal's) says the
index is complete. A store without it (made before the index existed, or by a version whose
entries could drift) is counted from its records once, in one write transaction, when it
opens; a store with it is left alone, so the migration runs once and may run again safely.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Callable

from .._stores.kv import KvStore, KvTxn

log = logging.getLogger("corral.connections")

#: The index format this code keeps; a store holding an older one (or none) is recounted.
INDEX_VERSION = 1
_VERSION_KEY = b"\xff\x00usage-index-version"  # \xff never occurs in UTF-8


@dataclass(frozen=True)
class Usage:
    count: int = 0
    bytes: int = 0


class UsageIndex:
    """Reads and writes the usage entries; counts them afresh from the records."""

    def __init__(self, *, usage_db: Any, records_db: Any, secrets_db: Any,
                 owner_of: Callable[[bytes], str]) -> None:
        self._usage_db = usage_db
        self._records_db = records_db
        self._secrets_db = secrets_db
        self._owner_of = owner_of  # raw record -> the principal that owns it

    def get(self, txn: KvTxn, principal: str) -> Usage:
        raw = txn.get(principal.encode(), db=self._usage_db)
        return Usage() if raw is None else _decoded(bytes(raw))

    def put(self, txn: KvTxn, principal: str, usage: Usage) -> None:
        """Store ``usage``; a principal left holding nothing loses its entry."""
        key = principal.encode()
        if usage == Usage():
            txn.delete(key, db=self._usage_db)
        else:
            txn.put(key, json.dumps({"count": usage.count, "bytes": usage.bytes}).encode(),
                    db=self._usage_db)

    def entries(self, txn: KvTxn) -> dict[str, Usage]:
        """Every principal's entry, as the index holds it."""
        return {bytes(key).decode(): _decoded(bytes(raw))
                for key, raw in txn.cursor(db=self._usage_db) if bytes(key) != _VERSION_KEY}

    def counted(self, txn: KvTxn) -> dict[str, Usage]:
        """Every principal's usage counted from the records and secrets (one pass)."""
        totals: dict[str, Usage] = {}
        for key, raw in txn.cursor(db=self._records_db):
            principal = self._owner_of(bytes(raw))
            blob = txn.get(bytes(key), db=self._secrets_db)
            size = len(raw) + (len(blob) if blob is not None else 0)
            before = totals.get(principal, Usage())
            totals[principal] = Usage(before.count + 1, before.bytes + size)
        return totals

    def is_current(self, txn: KvTxn) -> bool:
        raw = txn.get(_VERSION_KEY, db=self._usage_db)
        return raw is not None and int(bytes(raw)) >= INDEX_VERSION

    def rebuild(self, txn: KvTxn) -> int:
        """Replace every entry by a fresh count and mark the index current; returns how
        many principals hold something."""
        for key in [bytes(key) for key, _ in txn.cursor(db=self._usage_db)]:
            txn.delete(key, db=self._usage_db)
        totals = self.counted(txn)
        for principal, usage in totals.items():
            self.put(txn, principal, usage)
        txn.put(_VERSION_KEY, str(INDEX_VERSION).encode(), db=self._usage_db)
        return len(totals)

    def migrate(self, shared: KvStore) -> bool:
        """Build the index if the store lacks a current one; whether it had to."""
        if shared.read(self.is_current):
            return False

        def build(txn: KvTxn) -> bool:
            if self.is_current(txn):  # another opener built it meanwhile
                return False
            principals = self.rebuild(txn)
            log.info("counted the usage of %d principals into the connection store's index",
                     principals)
            return True

        return shared.write(build)


def _decoded(raw: bytes) -> Usage:
    data = json.loads(raw)
    return Usage(int(data["count"]), int(data["bytes"]))
