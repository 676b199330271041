"""Change notifications between the nodes sharing a PostgreSQL store.

Every write transaction that changed a space sends ``pg_notify('corral_kv', space)``
before it commits; PostgreSQL delivers it, at the commit, to every listening session.
Each process keeps one listener thread per URL, blocked on its connection's
notifications (it wakes only when one arrives), which calls the callbacks subscribed to
that space.

When the listener loses its connection it calls every subscriber at once (what they
cached may go stale unseen) and reports :attr:`Listener.listening` False until it is
back; once reconnected it calls every subscriber again, since changes made meanwhile
were never announced. Callbacks run on the listener thread: they should only note that
something changed.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
from typing import Any, Callable

import psycopg

log = logging.getLogger("corral.storage")

CHANNEL = "corral_kv"
_RECONNECT_FIRST_S = 0.1
_RECONNECT_MAX_S = 1.0
#: A wait for notifications ends this often anyway, in case a wake-up notice was lost.
_WAIT_S = 30.0
_READY_WAIT_S = 5.0
_ids = itertools.count(1)

Callback = Callable[[], None]


class Listener:
    """Calls subscribers when their space changes on any node."""

    def __init__(self, connect: Callable[..., psycopg.Connection[Any]], where: str, *,
                 on_lost: Callable[[], None] = lambda: None) -> None:
        self._connect = connect
        self._where = where
        self._on_lost = on_lost
        self._subscribers: dict[str, dict[int, Callback]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._listening = False
        #: A private channel :meth:`stop` notifies to end the wait at once.
        self._wake_channel = f"corral_stop_{os.getpid()}_{next(_ids)}"
        self._thread: threading.Thread | None = None

    @property
    def listening(self) -> bool:
        """Whether notifications reach this process now (False during an outage)."""
        return self._listening

    def start(self) -> None:
        """Start listening; returns once the first LISTEN is in place (or it failed)."""
        self._thread = threading.Thread(target=self._run, name=f"corral-listen-{self._where}",
                                        daemon=True)
        self._thread.start()
        self._ready.wait(_READY_WAIT_S)

    def stop(self) -> None:
        if self._thread is None or self._stopping.is_set():
            return
        self._stopping.set()
        if self._listening:
            try:
                with self._connect(autocommit=True) as conn:
                    conn.execute("SELECT pg_notify(%s, '')", (self._wake_channel,))
            except psycopg.Error:
                pass  # the listener's connection is gone too: its loop sees the stop flag
        self._thread.join(timeout=2.0)

    def subscribe(self, space: str, callback: Callback) -> Callable[[], None]:
        """Call ``callback`` whenever ``space`` changes; returns the unsubscribe."""
        key = next(_ids)
        with self._lock:
            self._subscribers.setdefault(space, {})[key] = callback

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers.get(space, {}).pop(key, None)

        return unsubscribe

    # -- the thread ---------------------------------------------------------------------

    def _run(self) -> None:
        delay = _RECONNECT_FIRST_S
        connected_before = False
        while not self._stopping.is_set():
            try:
                with self._connect(autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    conn.execute(f"LISTEN {self._wake_channel}")
                    self._listening = True
                    self._ready.set()
                    if connected_before:
                        log.info("change notifications from %s resumed", self._where)
                        self._notify_all()
                    connected_before = True
                    delay = _RECONNECT_FIRST_S
                    self._wait(conn)
            except psycopg.Error as exc:
                if self._listening:
                    log.warning("change notifications from %s stopped: %s", self._where,
                                type(exc).__name__)
                    self._listening = False
                    self._on_lost()
                    self._notify_all()
                self._ready.set()  # the opener need not wait: it finds out by itself
                connected_before = True
                if self._stopping.wait(delay):
                    break
                delay = min(delay * 2, _RECONNECT_MAX_S)
        self._listening = False

    def _wait(self, conn: psycopg.Connection[Any]) -> None:
        while not self._stopping.is_set():
            for notice in conn.notifies(timeout=_WAIT_S):
                if notice.channel == CHANNEL:
                    self._notify(notice.payload)
                elif self._stopping.is_set():
                    return

    def _notify(self, space: str) -> None:
        with self._lock:
            callbacks = list(self._subscribers.get(space, {}).values())
        for callback in callbacks:
            self._call(callback)

    def _notify_all(self) -> None:
        with self._lock:
            callbacks = [cb for group in self._subscribers.values() for cb in group.values()]
        for callback in callbacks:
            self._call(callback)

    @staticmethod
    def _call(callback: Callback) -> None:
        try:
            callback()
        except Exception:  # one subscriber's bug must not silence the others
            log.exception("a change subscriber failed")
