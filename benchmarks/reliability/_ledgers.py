"""What the client knows the server acknowledged, and the checks against what it finds.

Each ledger keeps the writes acknowledged (a 2xx read in full) and the ones in flight when
a process was killed, which may have happened or not: the next check settles those from
what it sees. A check counts an acknowledged write it cannot find (or an acknowledged
revocation or deletion undone) as *lost*, once, and a secret that does not open as
*unreadable*. Between kills only the writes since the last check and a sample of older
ones are used (authenticated, tested); the last check uses every one.
"""

from __future__ import annotations

import random
import threading
from typing import Any

from ._api import Api, Answer, eventually
from ._tally import Tally

SAMPLE = 5


def _sample(rng: random.Random, recent: set[str], everything: list[str], final: bool) -> list[str]:
    if final:
        return everything
    older = [i for i in everything if i not in recent]
    return [i for i in everything if i in recent] + rng.sample(older, min(SAMPLE, len(older)))


class KeyLedger:
    """API keys created and revoked; safe to share between threads."""

    def __init__(self) -> None:
        self.live: dict[str, str] = {}
        self.revoked: dict[str, str] = {}
        self.pending: dict[str, str] = {}
        self.recent: set[str] = set()
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            for book in (self.live, self.revoked, self.pending):
                book.clear()
            self.recent.clear()

    def created(self, key_id: str, key: str) -> None:
        with self._lock:
            self.live[key_id] = key
            self.recent.add(key_id)

    def take_for_revoking(self, rng: random.Random) -> tuple[str, str] | None:
        """A live key, moved to pending until its revocation is acknowledged."""
        with self._lock:
            if not self.live:
                return None
            key_id = rng.choice(sorted(self.live))
            self.pending[key_id] = self.live.pop(key_id)
            return key_id, self.pending[key_id]

    def revoke_done(self, key_id: str, acknowledged: bool) -> None:
        with self._lock:
            key = self.pending.pop(key_id)
            if acknowledged:
                self.revoked[key_id] = key
                self.recent.add(key_id)
            else:
                self.pending[key_id] = key  # settled by the next check

    def verify(self, api: Api, tally: Tally, rng: random.Random, *, final: bool,
               eventual: bool = False, where: str = "") -> None:
        with self._lock:
            self._settle_pending(api, tally)
            self._check_listing(api, tally, eventual, where)
            live = _sample(rng, self.recent, sorted(self.live), final)
            revoked = _sample(rng, self.recent, sorted(self.revoked), final)
            for key_id in live:
                self._check_auth(api, tally, key_id, self.live, 200, eventual, where)
            for key_id in revoked:
                self._check_auth(api, tally, key_id, self.revoked, 401, eventual, where)
            self.recent.clear()

    def _settle_pending(self, api: Api, tally: Tally) -> None:
        for key_id, key in list(self.pending.items()):
            answer = api.authenticates(key)
            if answer.status in (200, 401):
                del self.pending[key_id]
                (self.live if answer.ok else self.revoked)[key_id] = key
            else:
                tally.broke("errors", answer.describe("checking a key"))

    def _check_listing(self, api: Api, tally: Tally, eventual: bool, where: str) -> None:
        def listing() -> Answer:
            ids = api.key_ids()
            return ids if isinstance(ids, Answer) else Answer(200, ids)

        def complete(answer: Answer) -> bool:
            ids = answer.body if answer.ok else set()
            return set(self.live) <= ids and not set(self.revoked) & ids

        answer = eventually(listing, complete, within_s=4.0 if eventual else 0.0)
        if not answer.ok:
            tally.broke("errors", answer.describe("GET /v1/keys"))
            return
        for key_id in sorted(set(self.live) - answer.body):
            tally.broke("lost", f"{where}acknowledged key {key_id} is not listed")
            del self.live[key_id]
        for key_id in sorted(set(self.revoked) & answer.body):
            tally.broke("lost", f"{where}revoked key {key_id} is listed again")
            del self.revoked[key_id]

    def _check_auth(self, api: Api, tally: Tally, key_id: str, book: dict[str, str],
                    want: int, eventual: bool, where: str) -> None:
        answer = eventually(lambda: api.authenticates(book[key_id]),
                            lambda a: a.status == want, within_s=4.0 if eventual else 0.0)
        if answer.status == want:
            return
        if answer.status in (200, 401):
            state = "acknowledged key no longer authenticates" if want == 200 else \
                "revoked key authenticates again"
            tally.broke("lost", f"{where}{state} ({key_id})")
            del book[key_id]
        else:
            tally.broke("errors", answer.describe(f"{where}authenticating key {key_id}"))


class ConnectionLedger:
    """Connections created and deleted (all the admin's)."""

    def __init__(self) -> None:
        self.live: dict[str, str] = {}
        self.deleted: set[str] = set()
        self.pending: set[str] = set()
        self.recent: set[str] = set()

    def reset(self) -> None:
        self.live.clear()
        for ids in (self.deleted, self.pending, self.recent):
            ids.clear()

    def created(self, connection_id: str, pack: str) -> None:
        self.live[connection_id] = pack
        self.recent.add(connection_id)

    def take_for_deleting(self, rng: random.Random) -> str | None:
        if not self.live:
            return None
        connection_id = rng.choice(sorted(self.live))
        self.pending.add(connection_id)
        del self.live[connection_id]
        return connection_id

    def delete_done(self, connection_id: str) -> None:
        """The deletion was acknowledged (one that was not stays pending until checked)."""
        self.pending.discard(connection_id)
        self.deleted.add(connection_id)

    def verify(self, api: Api, tally: Tally, rng: random.Random, *, final: bool,
               eventual: bool = False, where: str = "") -> None:
        def listing() -> Answer:
            ids = api.connection_ids()
            return ids if isinstance(ids, Answer) else Answer(200, ids)

        def complete(answer: Answer) -> bool:
            ids = answer.body if answer.ok else set()
            return set(self.live) <= ids and not self.deleted & ids

        answer = eventually(listing, complete, within_s=4.0 if eventual else 0.0)
        if not answer.ok:
            tally.broke("errors", answer.describe("GET /v1/connections"))
            return
        listed: set[str] = answer.body
        for connection_id in sorted(self.pending):  # killed mid-delete: either is fine
            if connection_id in listed:
                self.live[connection_id] = "conn"
            else:
                self.deleted.add(connection_id)
        self.pending.clear()
        for connection_id in sorted(set(self.live) - listed):
            tally.broke("lost", f"{where}acknowledged connection {connection_id} is gone")
            del self.live[connection_id]
        for connection_id in sorted(self.deleted & listed):
            tally.broke("lost", f"{where}deleted connection {connection_id} is back")
            self.deleted.discard(connection_id)
        for connection_id in _sample(rng, self.recent, sorted(self.live), final):
            if check_connection(api, tally, connection_id, where) == "unreadable":
                del self.live[connection_id]  # broken for good: counted once
        self.recent.clear()


def check_connection(api: Api, tally: Tally, connection_id: str, where: str = "") -> str:
    """``POST /v1/connections/{id}/test``: its secret must open. ``ok``, ``unreadable``
    (counted) or ``error`` (counted)."""
    answer = api.test_connection(connection_id)
    if answer.ok:
        return "ok"
    if answer.status == 500 or "secret" in answer.detail.lower():
        tally.broke("unreadable", answer.describe(f"{where}secret of {connection_id}"))
        return "unreadable"
    tally.broke("errors", answer.describe(f"{where}testing {connection_id}"))
    return "error"


PackState = dict[str, tuple[str, set[str]]]
"""Packs present: name -> (active version, every stored version)."""


class PackLedger:
    """Pack versions uploaded (and packs deleted), one writer at a time."""

    def __init__(self) -> None:
        self.versions: dict[str, list[str]] = {}
        self.gone: set[str] = set()
        self.pending: tuple[str, str, str] | None = None  # (op, name, version)

    def reset(self) -> None:
        self.versions.clear()
        self.gone.clear()
        self.pending = None

    def uploaded(self, name: str, version: str) -> None:
        self.versions.setdefault(name, []).append(version)
        self.gone.discard(name)

    def deleted(self, name: str) -> None:
        self.versions.pop(name, None)
        self.gone.add(name)

    def names(self) -> list[str]:
        return sorted({*self.versions, *self.gone,
                       *([self.pending[1]] if self.pending else [])})

    def verify(self, seen: PackState, tally: Tally, where: str = "") -> None:
        pending, self.pending = self.pending, None
        if pending is not None:
            self._settle(pending, seen)
        for name in sorted(self.gone & set(seen)):
            tally.broke("lost", f"{where}deleted pack {name} is back ({seen[name][0]})")
            self.gone.discard(name)
            self.versions[name] = sorted(seen[name][1])
        for name, versions in sorted(self.versions.items()):
            if name not in seen:
                tally.broke("lost", f"{where}pack {name} is gone with its {len(versions)} "
                                    "acknowledged versions", len(versions))
                self.versions[name] = []
                continue
            active, stored = seen[name]
            missing = [v for v in versions if v not in stored]
            if missing:
                tally.broke("lost", f"{where}{name} lost acknowledged versions "
                                    f"{', '.join(missing[:4])}", len(missing))
                self.versions[name] = [v for v in versions if v in stored]
            if versions and active != versions[-1]:
                tally.broke("lost", f"{where}{name} is at {active}, not the last acknowledged "
                                    f"{versions[-1]}")
                self.versions[name] = [v for v in self.versions[name] if v != active] + [active]

    def _settle(self, pending: tuple[str, str, str], seen: PackState) -> None:
        op, name, version = pending
        if op == "upload" and name in seen and version in seen[name][1]:
            if seen[name][0] == version or name not in self.versions:
                self.uploaded(name, version)
            else:
                self.versions[name].insert(0, version)
        elif op == "delete" and name not in seen:
            self.deleted(name)


def observe_packs(api: Api, names: list[str], tally: Tally) -> PackState:
    """What the server says of each named pack; errors are counted, not fatal."""
    seen: PackState = {}
    for name in names:
        answer = api.pack(name)
        if answer.status == 404:
            continue
        if not answer.ok or not isinstance(answer.body, dict):
            tally.broke("errors", answer.describe(f"GET /v1/packs/{name}"))
            continue
        body: dict[str, Any] = answer.body
        seen[name] = (str(body["version"]), {str(v["version"]) for v in body["versions"]})
    return seen
