"""A bounded in-memory memo of whole-formula results.

A formula whose every pack call is cacheable (a formula with a cache TTL, never an
action) and that reads no clock (``Now``, ``Today``) gives the same answer, for the same
caller, connections, bound variables and timezone, while each pack it calls is still the same wasm and its cached
call results live. Such results are kept here for at most ``max_age_s`` (a few seconds,
and never longer than the shortest TTL), so a burst of identical ``evaluate`` calls skips
the plan, the futures and the LMDB reads. Because a call result may already have been
cached for a while, the short cap bounds how far past its TTL a memoised answer can be
served. Anything else is evaluated as usual.

Values are stored as MessagePack and decoded on every hit, so a caller that mutates a
result cannot change what the next caller gets.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import msgpack

from .._errors import CorralError
from .._formula.parser import Call, Node, walk
from .._formula.variables import memo_part
from .._calls.scheduler import PackCatalog, ResolvedFormula

#: Built-ins whose value changes with time: a formula that uses one is never memoised.
VOLATILE_BUILTINS = frozenset({"now", "today"})

MemoKey = tuple[str, str | None, tuple[tuple[str, str], ...], str, tuple[str, ...]]


@dataclass(frozen=True)
class _Entry:
    packed: bytes
    expires_at: float
    depends_on: tuple[tuple[str, str, str], ...]
    """(pack as written, formula as written, wasm sha256) of every pack call."""


class FormulaMemo:
    """Formula results by (text, principal, connections, variables, context);
    thread-safe; LRU-bounded. The bound variables and the context (time zone, invocation
    location) are in the key because either can change the answer."""

    def __init__(self, catalog: PackCatalog, clock: Callable[[], float],
                 max_entries: int = 1024, max_age_s: float = 5.0) -> None:
        self._catalog = catalog
        self._clock = clock
        self._max = max_entries
        self._max_age_s = max_age_s
        self._entries: OrderedDict[MemoKey, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(text: str, principal: str | None, connections: Mapping[str, str],
            variables: Mapping[str, Any] | None = None,
            context: tuple[str, ...] = ()) -> MemoKey:
        return (text, principal, tuple(sorted(connections.items())),
                memo_part(variables or {}), tuple(context))

    def get(self, key: MemoKey) -> tuple[bool, Any]:
        """``(True, value)`` for a live entry whose packs are unchanged, else ``(False, None)``."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
        if entry is None:
            return False, None
        if (self._clock() >= entry.expires_at or not self._packs_unchanged(entry)
                or not self._connections_live(key)):
            with self._lock:
                self._entries.pop(key, None)
            return False, None
        return True, msgpack.unpackb(entry.packed, raw=False, strict_map_key=False)

    def _packs_unchanged(self, entry: _Entry) -> bool:
        try:
            return all(self._catalog.resolve(pack, formula).pack_hash == digest
                       for pack, formula, digest in entry.depends_on)
        except Exception:  # a pack that is gone or renamed: evaluate again
            return False

    def _connections_live(self, key: MemoKey) -> bool:
        """Whether every connection the caller named still exists and is its own: a
        connection deleted on any node must stop answering, memoised or not."""
        check = getattr(self._catalog, "check_connection", None)
        if check is None:
            return True
        try:
            for _, connection_id in key[2]:
                check(key[1], connection_id)
        except CorralError:
            return False
        return True

    def put(self, key: MemoKey, tree: Node, calls: Iterable[tuple[str, str, ResolvedFormula]],
            value: Any) -> None:
        """Remember ``value`` if the formula is memoisable; otherwise do nothing."""
        calls = list(calls)
        if not memoisable(tree, [resolved for _, _, resolved in calls]):
            return
        try:
            packed = msgpack.packb(value, use_bin_type=True)
        except (TypeError, ValueError, OverflowError):
            return
        ttls = [resolved.formula.cache_ttl_s for _, _, resolved in calls]
        entry = _Entry(packed, self._clock() + min([self._max_age_s, *ttls]),
                       tuple((pack, formula, resolved.pack_hash)
                             for pack, formula, resolved in calls))
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def memoisable(tree: Node, resolved: list[ResolvedFormula]) -> bool:
    if any(not r.formula.cacheable for r in resolved):
        return False
    return not any(isinstance(node, Call) and node.name.lower() in VOLATILE_BUILTINS
                   for node in walk(tree))
