"""The execution log's storage: each principal's runs, newest first, within a retention.

A run is a MessagePack record under ``principal \\0 run id`` in the ``runs`` database; each
principal's ``index`` entry lists its run ids oldest first (ids sort by time). Listing
reads the index and then only the records it returns, so a page costs the same on LMDB
and PostgreSQL (no range scans over other principals' runs). Retention
(``runs_max_per_principal``, ``runs_max_age_s``) is enforced as each batch is written;
runs past the age limit are hidden from reads too, before a write removes them.
"""

from __future__ import annotations

import bisect
import itertools
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

import msgpack

from .._closing import Closeable
from .._settings import Settings
from .._stores.kv import KvStore
from .._stores.opening import open_kv

_DB_RUNS = b"runs"
_DB_INDEX = b"index"

#: The longest page a listing returns.
MAX_PAGE = 200


_sequence = itertools.count()
#: This process's part of every run id it makes: ids stay unique across nodes and
#: workers without asking the OS for randomness on each call.
_PROCESS = secrets.token_hex(3)


def new_run_id(at: float) -> str:
    """A run id that sorts by time: milliseconds, then this process's sequence (runs in
    one millisecond keep their order), then the process's own random part."""
    return f"r{int(at * 1000):013x}{next(_sequence) % 0x1000000:06x}{_PROCESS}"


@dataclass(frozen=True)
class RunFilter:
    pack: str | None = None
    formula: str | None = None
    outcome: str | None = None
    automation: str | None = None

    def matches(self, run: Mapping[str, Any]) -> bool:
        return all(want is None or run.get(name) == want for name, want in (
            ("pack", self.pack), ("formula", self.formula), ("outcome", self.outcome),
            ("automation", self.automation)))


class RunStore(Closeable):
    """Durable runs per principal (LMDB in the data dir, or PostgreSQL via ``store_url``)."""

    closeable_name = "execution log"

    def __init__(self, store: KvStore, *, max_per_principal: int, max_age_s: float,
                 clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._runs = store.open_db(_DB_RUNS)
        self._index = store.open_db(_DB_INDEX)
        self.max_per_principal = max(1, max_per_principal)
        self.max_age_s = max_age_s
        self._clock = clock

    @classmethod
    def for_settings(cls, settings: Settings, *,
                     clock: Callable[[], float] = time.time) -> RunStore:
        store = open_kv(settings.store_url, "runs", lmdb_dir=settings.data_dir / "runs",
                        map_size=settings.runs_map_bytes, max_dbs=4,
                        max_map_size=max(settings.runs_map_bytes * 16, settings.runs_map_bytes),
                        name="execution log", setting="runs_map_bytes", mode=0o600)
        return cls(store, max_per_principal=settings.runs_max_per_principal,
                   max_age_s=settings.runs_max_age_s, clock=clock)

    def _close(self) -> None:
        self._store.close()

    # -- writing ----------------------------------------------------------------------

    def write_batch(self, runs: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
        """Store ``(principal, run)`` pairs in one transaction, trimming each principal's
        runs to the retention."""
        by_principal: dict[str, list[Mapping[str, Any]]] = {}
        for principal, run in runs:
            by_principal.setdefault(principal, []).append(run)
        horizon = self._clock() - self.max_age_s

        def write(txn: Any) -> None:
            for principal, batch in by_principal.items():
                self._append(txn, principal, batch, horizon)

        self._store.write(write)

    def _append(self, txn: Any, principal: str, batch: list[Mapping[str, Any]],
                horizon: float) -> None:
        ids = self._ids(txn, principal)
        for run in batch:
            txn.put(_run_key(principal, run["id"]), _encode(run), db=self._runs)
            bisect.insort(ids, run["id"])
        keep_from = max(len(ids) - self.max_per_principal,
                        bisect.bisect_left(ids, _id_floor(horizon)))
        for old in ids[:keep_from]:
            txn.delete(_run_key(principal, old), db=self._runs)
        txn.put(principal.encode(), json.dumps(ids[keep_from:]).encode(), db=self._index)

    # -- reading ----------------------------------------------------------------------

    def page(self, principal: str, *, limit: int = 50, cursor: str | None = None,
             where: RunFilter = RunFilter()) -> tuple[list[dict[str, Any]], str | None]:
        """Runs newest first, after the run ``cursor`` names; and the next cursor."""
        limit = max(1, min(limit, MAX_PAGE))
        floor = _id_floor(self._clock() - self.max_age_s)

        def read(txn: Any) -> tuple[list[dict[str, Any]], str | None]:
            ids = self._ids(txn, principal)
            end = bisect.bisect_left(ids, cursor) if cursor else len(ids)
            found: list[dict[str, Any]] = []
            for position in range(end - 1, -1, -1):
                run_id = ids[position]
                if run_id < floor:
                    break
                raw = txn.get(_run_key(principal, run_id), db=self._runs)
                run = _decode(raw) if raw is not None else None
                if run is None or not where.matches(run):
                    continue
                if len(found) == limit:
                    return found, found[-1]["id"]
                found.append(run)
            return found, None

        return self._store.read(read)

    def count(self, principal: str) -> int:
        return self._store.read(lambda txn: len(self._ids(txn, principal)))

    def _ids(self, txn: Any, principal: str) -> list[str]:
        raw = txn.get(principal.encode(), db=self._index)
        return list(json.loads(bytes(raw))) if raw is not None else []


def _run_key(principal: str, run_id: str) -> bytes:
    return principal.encode() + b"\0" + run_id.encode()


def _id_floor(at: float) -> str:
    """The smallest id a run made at ``at`` can have."""
    return f"r{max(int(at * 1000), 0):013x}"


def _encode(run: Mapping[str, Any]) -> bytes:
    """A run as MessagePack: the writer encodes every call's run, and MessagePack costs a
    fraction of JSON's time (what the API answers is the same JSON-ready value)."""
    packed: bytes = msgpack.packb(run, default=jsonable, use_bin_type=True)
    return packed


def _decode(raw: Any) -> dict[str, Any]:
    run: dict[str, Any] = msgpack.unpackb(bytes(raw), raw=False, strict_map_key=False)
    return run


def jsonable(value: Any) -> Any:
    """What the log keeps of a value JSON cannot hold: the size of bytes, else its text."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$binary_bytes": len(bytes(value))}
    return str(value)
