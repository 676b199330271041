"""Admission control for the HTTP service: a gate for pack calls that is fair per
principal, and a token bucket per caller (or client address). Both refuse with
:class:`Overloaded` (429 with ``Retry-After``) rather than letting a queue grow without
bound.

The gate has ``capacity`` running slots and room for ``max_queue`` waiters in all; each
principal may hold at most ``share`` of the slots and ``share_queue`` of the waiting
places. A freed slot goes to the waiting principal running the fewest calls (round
robin among equals), so a caller that floods the service waits behind its own calls,
not others' behind it. When
the waiting room is full, a newcomer with fewer waiters than the caller with the most
takes the latest place of that caller, who is told 429 instead.

A call that may be answered at once (a result-cache hit, a formula-memo answer) passes a
``probe``: when it would have to wait, the probe is asked first, and a found answer
never waits behind the gate or is refused by it.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import OrderedDict, deque
from concurrent.futures import Future
from functools import partial
from typing import Any, Callable, Protocol, TypeVar

import anyio
import anyio.to_thread

from .._errors import Overloaded

T = TypeVar("T")

#: ``() -> (found, value)``: an answer available without running anything.
Probe = Callable[[], "tuple[bool, Any]"]


class SharedCounter(Protocol):
    """Each principal's running calls counted across the nodes (``redis_admission``)."""

    async def take(self, who: str) -> str | None:
        """A slot id; "" when ``who`` holds its share; None when the count is unreachable."""

    async def give_back(self, who: str, slot: str | None) -> None: ...


class CallGate:
    """Runs blocking calls on worker threads, or awaits submitted ones, with running and
    waiting slots counted per principal (see the module docstring).

    Slots are counted on the event loop's thread: taking a free one does not yield to
    the loop, and a freed slot passes straight to a waiter (no barging)."""

    def __init__(self, capacity: int, max_queue: int, *, share: int | None = None,
                 share_queue: int | None = None, shared: SharedCounter | None = None) -> None:
        #: With several nodes, ``share`` also holds across them (a slot taken there too).
        self._shared = shared
        self._capacity = max(1, capacity)
        self._threads = anyio.CapacityLimiter(self._capacity)
        self._max_queue = max(0, max_queue)
        self._share = max(1, min(share or self._capacity, self._capacity))
        self._share_queue = max(0, self._max_queue if share_queue is None else share_queue)
        self._running_by: dict[str, int] = {}
        self._queues: OrderedDict[str, deque[asyncio.Future[None]]] = OrderedDict()
        self.running = 0

    @property
    def waiting(self) -> int:
        return sum(len(queue) for queue in self._queues.values())

    def running_for(self, who: str) -> int:
        return self._running_by.get(who, 0)

    def waiting_for(self, who: str) -> int:
        return len(self._queues.get(who, ()))

    async def run(self, who: str, fn: Callable[..., T], *args: Any,
                  probe: Probe | None = None) -> T:
        """Run blocking ``fn(*args)`` on a worker thread, once ``who`` has a slot."""
        found, value = await self._enter(who, probe)
        if found:
            return value  # type: ignore[no-any-return]
        slot = await self._take_shared(who)
        try:
            return await anyio.to_thread.run_sync(partial(fn, *args), limiter=self._threads)
        finally:
            self._release(who)
            await self._give_back_shared(who, slot)

    async def await_future(self, who: str, submit: Callable[[], Future[T]], *,
                           probe: Probe | None = None) -> T:
        """Like ``run`` for work that is already asynchronous: ``submit`` starts it (on the
        event loop; it must not block) and the loop awaits its future without a thread."""
        found, value = await self._enter(who, probe)
        if found:
            return value  # type: ignore[no-any-return]
        slot = await self._take_shared(who)
        try:
            future = submit()
            if future.done():  # answered at once (cache, inline): no trip through the loop
                return future.result()
            return await asyncio.wrap_future(future)
        finally:
            self._release(who)
            await self._give_back_shared(who, slot)

    async def _take_shared(self, who: str) -> str | None:
        """A slot in the count across the nodes (None without one); refused past the
        share there, after giving this node's slot back."""
        if self._shared is None:
            return None
        try:
            slot = await self._shared.take(who)
        except BaseException:
            self._release(who)
            raise
        if slot == "":
            self._release(who)
            raise self._refusal(who)
        return slot

    async def _give_back_shared(self, who: str, slot: str | None) -> None:
        if self._shared is not None and slot:
            await self._shared.give_back(who, slot)

    async def _enter(self, who: str, probe: Probe | None) -> tuple[bool, Any]:
        """Take a slot for ``who`` (``(False, None)``), or return the probe's answer."""
        if self._may_start(who) and who not in self._queues:
            self._take(who)
            return False, None
        if probe is not None:
            found, value = probe()
            if found:
                return True, value
        await self._wait_turn(who)
        return False, None

    def _may_start(self, who: str) -> bool:
        return self.running < self._capacity and self._running_by.get(who, 0) < self._share

    def _take(self, who: str) -> None:
        self.running += 1
        self._running_by[who] = self._running_by.get(who, 0) + 1

    async def _wait_turn(self, who: str) -> None:
        self._make_room(who)
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queues.setdefault(who, deque()).append(turn)
        try:
            await turn  # _dispatch hands a slot over by resolving this
        except BaseException:
            if turn.done() and not turn.cancelled() and turn.exception() is None:
                self._release(who)  # handed a slot while being cancelled: pass it on
            else:
                self._forget(who, turn)
            raise

    def _make_room(self, who: str) -> None:
        """Refuse ``who`` if its share of the waiting room is used, or the room is full
        and ``who`` already has as many waiters as anyone; else push out the latest
        waiter of the principal with the most."""
        mine = self.waiting_for(who)
        if mine >= self._share_queue:
            raise self._refusal(who)
        if self.waiting < self._max_queue:
            return
        heaviest = max(self._queues, key=lambda p: len(self._queues[p]), default=None)
        if heaviest is None or len(self._queues[heaviest]) <= mine + 1:
            raise self._refusal(who)
        victim = self._queues[heaviest].pop()
        if not self._queues[heaviest]:
            del self._queues[heaviest]
        victim.set_exception(self._refusal(heaviest))

    def _refusal(self, who: str) -> Overloaded:
        return Overloaded(f"at capacity for this caller ({self.running_for(who)} calls "
                          f"running, {self.waiting_for(who)} waiting); retry shortly",
                          retry_after_s=1.0)

    def _forget(self, who: str, turn: asyncio.Future[None]) -> None:
        queue = self._queues.get(who)
        if queue is not None and turn in queue:
            queue.remove(turn)
            if not queue:
                del self._queues[who]

    def _release(self, who: str) -> None:
        self.running -= 1
        left = self._running_by[who] - 1
        if left:
            self._running_by[who] = left
        else:
            del self._running_by[who]
        self._dispatch()

    def _dispatch(self) -> None:
        """Hand free slots to waiting principals in turn, each within its share."""
        while self.running < self._capacity:
            eligible = [p for p in self._queues if self._running_by.get(p, 0) < self._share]
            if not eligible:
                return
            # The caller running the fewest calls first; among equals, the longest waiting.
            chosen = min(eligible, key=lambda p: self._running_by.get(p, 0))
            queue = self._queues[chosen]
            turn = queue.popleft()
            if queue:
                self._queues.move_to_end(chosen)  # the next free slot goes to someone else
            else:
                del self._queues[chosen]
            if turn.done():
                continue  # cancelled, its task not yet resumed to leave the line
            self._take(chosen)
            turn.set_result(None)


class RateLimiter:
    """A token bucket per principal: ``burst`` requests at once, refilled at ``rate_per_s``."""

    def __init__(self, rate_per_s: float, burst: int,
                 clock: Callable[[], float] = time.monotonic, *,
                 max_tracked: int = 100_000) -> None:
        self._rate = rate_per_s
        self._burst = float(max(1, burst))
        self._clock = clock
        self._max_tracked = max_tracked
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, who: str) -> None:
        """Take one token for ``who``, or raise Overloaded saying when to come back."""
        if self._rate <= 0:
            return  # rate limiting is off
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(who, (self._burst, now))
            tokens = min(self._burst, tokens + (now - last) * self._rate)
            if tokens < 1.0:
                self._buckets[who] = (tokens, now)
                wait_s = (1.0 - tokens) / self._rate
                raise Overloaded(f"rate limit of {self._rate:g} requests per second exceeded; "
                                 f"retry in {math.ceil(wait_s)} s", retry_after_s=wait_s)
            if who not in self._buckets and len(self._buckets) >= self._max_tracked:
                self._forget_full_buckets(now)
            self._buckets[who] = (tokens - 1.0, now)

    async def acheck(self, who: str) -> None:
        """``check`` for the event loop (a limiter shared by nodes asks Redis there)."""
        self.check(who)

    def _forget_full_buckets(self, now: float) -> None:
        """Drop buckets that have refilled (they hold nothing a new bucket would not), so
        many client addresses cannot grow the table without bound."""
        full = [who for who, (tokens, last) in self._buckets.items()
                if tokens + (now - last) * self._rate >= self._burst]
        for who in full or list(self._buckets)[: len(self._buckets) // 2]:
            del self._buckets[who]
