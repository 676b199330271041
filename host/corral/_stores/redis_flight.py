"""Single-flight across nodes: of all the nodes asked the same uncached thing at once, one
(the leader) produces it and the others wait for its result to appear in the cache.

The leader holds a lock, ``SET key token NX PX lease``, for as long as it produces; a
single renewer thread keeps the leases of this node's flights alive (every third of a
lease), so a leader that dies stops renewing and its lease runs out within ``lease_s``:
a follower then takes the lock and produces itself. The leader, done (stored or failed),
deletes its lock (only if still its own) and publishes on the flight's channel; followers
subscribe before they look again, so no wake-up is lost, and sleep in the socket read,
not in a poll. A follower that wakes without a result (the leader failed) tries to lead.

Redis unreachable at any step: the caller produces by itself (the node's own
single-flight still holds), never fails for it.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Callable, TypeVar

from .._errors import StoreUnavailable
from .redis_link import REDIS_ERRORS, RedisLink

T = TypeVar("T")

#: ``() -> (found, value)``: the cache's answer, if there is one now.
Lookup = Callable[[], "tuple[bool, T]"]

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('del', KEYS[1]) end
redis.call('publish', KEYS[2], '1')
return 1
"""
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""


class SharedFlight:
    """Leader election and wake-up for one kind of flight (``kind`` names its keys)."""

    def __init__(self, link: RedisLink, kind: str, *, lease_s: float = 5.0) -> None:
        self._link = link
        self._kind = kind
        self._lease_ms = max(100, int(lease_s * 1000))
        self._held: dict[str, str] = {}  # lock key -> our token
        self._held_lock = threading.Lock()
        self._renewer: threading.Thread | None = None
        self._release = link.sync.register_script(_RELEASE)
        self._renew = link.sync.register_script(_RENEW)

    def run_once(self, digest: bytes, produce: Callable[[], T], lookup: Lookup[T], *,
                 deadline: float | None, timed_out: Callable[[], Exception]) -> T:
        """``lookup``'s answer once some node produced it, or ``produce()`` if this node
        leads. ``produce`` must store its result where ``lookup`` finds it. ``deadline`` is
        a ``time.monotonic()`` instant; a follower past it raises ``timed_out()``."""
        lock = self._link.key(f"lock:{self._kind}", digest)
        channel = self._link.key(f"done:{self._kind}", digest)
        while True:
            token = self._try_lead(lock)
            if token is None:
                return produce()  # Redis is unreachable: this node answers alone
            if token:
                return self._lead(lock, channel, token, produce)
            try:
                found, value = self._follow(lock, channel, lookup, deadline)
            except StoreUnavailable:
                return produce()
            if found:
                return value  # type: ignore[return-value]  # found: a T
            if deadline is not None and time.monotonic() >= deadline:
                raise timed_out()

    # -- leading ------------------------------------------------------------------------

    def _try_lead(self, lock: str) -> str | None:
        """Our token if we took the lock, "" if another node holds it, None on an outage."""
        if not self._link.available:
            return None
        token = uuid.uuid4().hex
        try:
            taken = self._link.call(lambda r: r.set(lock, token, nx=True, px=self._lease_ms))
        except StoreUnavailable:
            return None
        return token if taken else ""

    def _lead(self, lock: str, channel: str, token: str, produce: Callable[[], T]) -> T:
        self._hold(lock, token)
        try:
            return produce()
        finally:
            self._let_go(lock)
            try:
                self._link.call(lambda r: self._release(keys=[lock, channel], args=[token],
                                                        client=r))
            except StoreUnavailable:
                pass  # the lease runs out by itself

    def _hold(self, lock: str, token: str) -> None:
        with self._held_lock:
            self._held[lock] = token
            if self._renewer is None or not self._renewer.is_alive():
                self._renewer = threading.Thread(target=self._renew_leases, daemon=True,
                                                 name="corral-flight-lease")
                self._renewer.start()

    def _let_go(self, lock: str) -> None:
        with self._held_lock:
            self._held.pop(lock, None)

    def _renew_leases(self) -> None:
        """Extend this node's leases until it holds none (then the thread ends)."""
        while True:
            time.sleep(self._lease_ms / 3000)
            with self._held_lock:
                held = dict(self._held)
                if not held:
                    self._renewer = None
                    return
            for lock, token in held.items():
                try:
                    self._link.call(lambda r: self._renew(keys=[lock],
                                                          args=[token, self._lease_ms], client=r))
                except StoreUnavailable:
                    break

    # -- following ----------------------------------------------------------------------

    def _follow(self, lock: str, channel: str, lookup: Lookup[T],
                deadline: float | None) -> tuple[bool, T | None]:
        """Wait for the leader's wake-up (or its lease to run out); the cache's answer."""
        pubsub = self._link.call(
            lambda r: r.pubsub(ignore_subscribe_messages=True))  # type: ignore[no-untyped-call]
        try:
            try:
                pubsub.subscribe(channel)
            except REDIS_ERRORS as exc:
                raise self._link.failed(exc) from None
            found, value = lookup()  # the leader may have finished before we subscribed
            if found:
                return True, value
            left_ms = self._link.call(lambda r: r.pttl(lock))
            if left_ms <= 0:
                return False, None  # the leader is done or gone: try to lead
            wait_s = left_ms / 1000
            if deadline is not None:
                wait_s = min(wait_s, max(0.0, deadline - time.monotonic()))
            self._wait(pubsub, wait_s)
            return lookup()
        finally:
            pubsub.close()

    def _wait(self, pubsub: object, wait_s: float) -> None:
        """Block in the socket read until a message or ``wait_s`` (a lease renewal keeps
        the lock alive past it: we then look and wait again)."""
        stop = time.monotonic() + wait_s
        while True:
            left = stop - time.monotonic()
            if left <= 0:
                return
            try:
                message = pubsub.get_message(timeout=left)  # type: ignore[attr-defined]
            except REDIS_ERRORS as exc:
                raise self._link.failed(exc) from None
            if message is not None:
                return
