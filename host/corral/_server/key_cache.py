"""Key lookups remembered between requests, for an API key store other nodes share.

On PostgreSQL checking a key costs a round trip, on every request. Nodes announce each
committed change of the ``api-keys`` space (LISTEN/NOTIFY, :func:`corral._stores.opening.watched`),
so a node may answer from what it read before until word of any change comes, then
forgets everything: a key revoked on one node is refused by every other once the
notification arrives (well within a second). While word of changes cannot reach the node
(the listener lost its connection), nothing is remembered or answered from memory.

Only keys found are kept (a guessed key costs its round trip, as before), at most
``MAX_ENTRIES``; a lookup that began before a change is not kept after it.
"""

from __future__ import annotations

import threading
from typing import Callable

from .._stores.opening import WatchedKv

MAX_ENTRIES = 4096


class KeyCache:
    """digest -> the stored record, valid until the store says something changed."""

    def __init__(self, store: WatchedKv) -> None:
        self._store = store
        self._entries: dict[bytes, bytes] = {}
        self._generation = 0
        self._lock = threading.Lock()
        store.on_change(self.forget)

    def forget(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()

    def lookup(self, digest: bytes, read: Callable[[], bytes | None]) -> bytes | None:
        """The record of ``digest``: remembered, or ``read()`` (and remembered)."""
        if not self._store.listening:
            return read()
        with self._lock:
            found = self._entries.get(digest)
            generation = self._generation
        if found is not None:
            return found
        raw = read()
        if raw is not None:
            with self._lock:
                if generation == self._generation and self._store.listening:
                    if len(self._entries) >= MAX_ENTRIES:
                        self._entries.clear()
                    self._entries[digest] = raw
        return raw
