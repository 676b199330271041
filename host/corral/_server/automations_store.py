"""Automations, stored durably (LMDB in the data dir, or PostgreSQL via ``store_url``),
with the state that decides when each runs next.

A record is the owner's definition plus its state: ``status`` (ok, failing, disabled),
consecutive ``failures``, ``next_run_at``, the last run and error, and a ``lease_until``
while a run holds it. A due run is *claimed* in a write transaction that checks no lease
is held and takes one, so with several nodes or workers on one store, each due run
executes once. A failing automation waits ``backoff_s`` doubled per failure (capped at
``backoff_max_s``) and after ``max_failures`` in a row is disabled: never retried forever.

A webhook's secret is stored only as its SHA-256 (the ``hooks`` database maps it to
the automation); the secret itself is shown once, when it is made.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from typing import Any, Callable

from .._closing import Closeable
from .._errors import NotFoundError, QuotaExceeded
from .._settings import Settings
from .._stores.kv import KvStore
from .._stores.opening import open_kv
from .automations_model import next_run

_DB_AUTOMATIONS = b"automations"
_DB_HOOKS = b"hooks"
_DB_SEEN = b"seen"
#: How long a claimed run holds its automation before another node may take it over
#: (a node that died mid-run).
LEASE_S = 600.0
#: Row ids a rows trigger remembers (the newest); older ones are forgotten.
MAX_SEEN = 10_000


def hook_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class AutomationStore(Closeable):
    closeable_name = "automation store"

    def __init__(self, store: KvStore, *, max_per_principal: int = 100,
                 max_failures: int = 5, backoff_s: float = 30.0,
                 backoff_max_s: float = 3600.0,
                 clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._db = store.open_db(_DB_AUTOMATIONS)
        self._hooks = store.open_db(_DB_HOOKS)
        self._seen = store.open_db(_DB_SEEN)
        self.max_per_principal = max_per_principal
        self.max_failures = max(1, max_failures)
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.clock = clock

    @classmethod
    def for_settings(cls, settings: Settings, *,
                     clock: Callable[[], float] = time.time) -> AutomationStore:
        store = open_kv(settings.store_url, "automations",
                        lmdb_dir=settings.data_dir / "automations", map_size=16 * 1024 * 1024,
                        max_dbs=4, max_map_size=1024 * 1024 * 1024, name="automation store",
                        mode=0o600)
        return cls(store, max_per_principal=settings.automations_max_per_principal,
                   max_failures=settings.automations_max_failures,
                   backoff_s=settings.automations_backoff_s,
                   backoff_max_s=settings.automations_backoff_max_s, clock=clock)

    def _close(self) -> None:
        self._store.close()

    # -- the owner's view -------------------------------------------------------------

    def create(self, owner: str, definition: dict[str, Any]) -> tuple[dict[str, Any],
                                                                      str | None]:
        """Store a new automation; returns it and, for a webhook, its secret (only now)."""
        now = self.clock()
        record: dict[str, Any] = {"id": "au_" + secrets.token_hex(8), "owner": owner,
                                  "definition": definition, "created_at": now,
                                  "failures": 0, "last_run_at": None, "last_error": None,
                                  "lease_until": None, "hook_hash": None}
        secret = self._set_schedule(record, now)

        def write(txn: Any) -> None:
            if len(self._owned(txn, owner)) >= self.max_per_principal:
                raise QuotaExceeded(f"{owner} has {self.max_per_principal} automations, the "
                                    "limit (automations_max_per_principal)",
                                    quota="automations")
            self._put(txn, record)

        self._store.write(write)
        return record, secret

    def replace(self, owner: str, automation_id: str,
                definition: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """A new definition; its state starts over (an edit is a fresh start)."""
        now = self.clock()
        made: list[str | None] = [None]

        def write(txn: Any) -> dict[str, Any]:
            record = self._owned_one(txn, owner, automation_id)
            old_type = record["definition"]["trigger"]["type"]
            record.update(definition=definition, failures=0, last_error=None,
                          lease_until=None)
            keep_hook = old_type == "webhook" and definition["trigger"]["type"] == "webhook"
            if not keep_hook and record.get("hook_hash"):
                txn.delete(record["hook_hash"].encode(), db=self._hooks)
                record["hook_hash"] = None
            made[0] = self._set_schedule(record, now, keep_hook=keep_hook)
            if not keep_hook:
                txn.delete(automation_id.encode(), db=self._seen)
            self._put(txn, record)
            return record

        return self._store.write(write), made[0]

    def delete(self, owner: str, automation_id: str) -> None:
        def write(txn: Any) -> None:
            record = self._owned_one(txn, owner, automation_id)
            if record.get("hook_hash"):
                txn.delete(record["hook_hash"].encode(), db=self._hooks)
            txn.delete(automation_id.encode(), db=self._seen)
            txn.delete(automation_id.encode(), db=self._db)

        self._store.write(write)

    def get(self, owner: str, automation_id: str) -> dict[str, Any]:
        return self._store.read(lambda txn: self._owned_one(txn, owner, automation_id))

    def owned_by(self, owner: str) -> list[dict[str, Any]]:
        found = self._store.read(lambda txn: self._owned(txn, owner))
        return sorted(found, key=lambda r: r["created_at"])

    # -- the scheduler's view ---------------------------------------------------------

    def by_hook(self, secret: str) -> dict[str, Any] | None:
        def read(txn: Any) -> dict[str, Any] | None:
            found = txn.get(hook_hash(secret).encode(), db=self._hooks)
            return None if found is None else self._record(txn, bytes(found).decode())

        return self._store.read(read)

    def due(self, now: float) -> list[dict[str, Any]]:
        """Scheduled automations whose time has come and which no run holds."""
        return [r for r in self._store.read(self._all) if _is_due(r, now)]

    def claim(self, automation_id: str, now: float, *, webhook: bool = False,
              at_once: bool = False) -> dict[str, Any] | None:
        """Take the automation's next run (compare-and-set on its lease), or None when
        it is not due, is disabled or backing off, or another run holds it. A webhook
        run is due whenever it is not backing off, and several may run at once;
        ``at_once`` (its owner asked) takes a scheduled run before its time."""
        def write(txn: Any) -> dict[str, Any] | None:
            record = self._record(txn, automation_id)
            if record is None or record["status"] == "disabled":
                return None
            if webhook:
                waiting = record["status"] == "failing" and (record["next_run_at"] or 0) > now
                return None if waiting else record
            if (record.get("lease_until") or 0) > now or not (at_once or _is_due(record, now)):
                return None
            record["lease_until"] = now + LEASE_S
            self._put(txn, record)
            return record

        return self._store.write(write)

    def finish(self, automation_id: str, now: float,
               error: dict[str, str] | None) -> dict[str, Any] | None:
        """Record a run's outcome: the next run, or a backoff, or disabling it."""
        def write(txn: Any) -> dict[str, Any] | None:
            record = self._record(txn, automation_id)
            if record is None:
                return None  # deleted while it ran
            record.update(lease_until=None, last_run_at=now)
            if error is None:
                record.update(failures=0, last_error=None, status="ok",
                              next_run_at=next_run(record["definition"]["trigger"], now))
            else:
                self._failed(record, now, error)
            self._put(txn, record)
            return record

        return self._store.write(write)

    def _failed(self, record: dict[str, Any], now: float, error: dict[str, str]) -> None:
        failures = int(record["failures"]) + 1
        record.update(failures=failures, last_error=error)
        if failures >= self.max_failures:
            record["definition"]["enabled"] = False
            record.update(status="disabled", next_run_at=None)
            return
        wait = min(self.backoff_s * 2 ** (failures - 1), self.backoff_max_s)
        record.update(status="failing", next_run_at=now + wait)

    def seen_rows(self, automation_id: str) -> set[str] | None:
        """The row ids a rows trigger has seen, or None before its first look."""
        raw = self._store.read(lambda txn: txn.get(automation_id.encode(), db=self._seen))
        return None if raw is None else set(json.loads(bytes(raw)))

    def remember_rows(self, automation_id: str, ids: list[str]) -> None:
        body = json.dumps(ids[-MAX_SEEN:]).encode()
        self._store.write(lambda txn: txn.put(automation_id.encode(), body, db=self._seen))

    # -- records ----------------------------------------------------------------------

    def _set_schedule(self, record: dict[str, Any], now: float, *,
                      keep_hook: bool = False) -> str | None:
        definition = record["definition"]
        enabled = bool(definition.get("enabled", True))
        record["status"] = "ok" if enabled else "disabled"
        record["next_run_at"] = next_run(definition["trigger"], now) if enabled else None
        record["updated_at"] = now
        if definition["trigger"]["type"] != "webhook" or keep_hook:
            return None
        secret = "wh_" + secrets.token_urlsafe(32)
        record["hook_hash"] = hook_hash(secret)
        return secret

    def _put(self, txn: Any, record: dict[str, Any]) -> None:
        txn.put(record["id"].encode(), json.dumps(record).encode(), db=self._db)
        if record.get("hook_hash"):
            txn.put(record["hook_hash"].encode(), record["id"].encode(), db=self._hooks)

    def _record(self, txn: Any, automation_id: str) -> dict[str, Any] | None:
        raw = txn.get(automation_id.encode(), db=self._db)
        return None if raw is None else dict(json.loads(bytes(raw)))

    def _all(self, txn: Any) -> list[dict[str, Any]]:
        return [dict(json.loads(bytes(v))) for _, v in txn.cursor(db=self._db)]

    def _owned(self, txn: Any, owner: str) -> list[dict[str, Any]]:
        return [r for r in self._all(txn) if r["owner"] == owner]

    def _owned_one(self, txn: Any, owner: str, automation_id: str) -> dict[str, Any]:
        record = self._record(txn, automation_id)
        if record is None or record["owner"] != owner:
            raise NotFoundError(f"you have no automation {automation_id!r}")
        return record


def _is_due(record: dict[str, Any], now: float) -> bool:
    if record["definition"]["trigger"]["type"] == "webhook":
        return False  # runs when called; its next_run_at is the end of a backoff
    if record["status"] == "disabled" or record["next_run_at"] is None:
        return False
    if (record.get("lease_until") or 0) > now:
        return False
    return bool(record["next_run_at"] <= now)
