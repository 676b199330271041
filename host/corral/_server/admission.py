"""Admission control for the HTTP service: a bounded gate for pack calls and a token
bucket per caller. Both refuse with :class:`Overloaded` (429 with ``Retry-After``) rather
than letting a queue grow without bound."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from concurrent.futures import Future
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, Callable, TypeVar

import anyio
import anyio.to_thread

from .._errors import Overloaded

T = TypeVar("T")


class CallGate:
    """Runs blocking calls on worker threads with a bounded number running and waiting.

    Slots are counted on the event loop's thread: taking a free one does not yield to
    the loop, and a freed slot passes straight to the longest waiter (no barging)."""

    def __init__(self, capacity: int, max_queue: int) -> None:
        self._capacity = max(1, capacity)
        self._threads = anyio.CapacityLimiter(self._capacity)
        self._max_queue = max(0, max_queue)
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.waiting = 0
        self.running = 0

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking ``fn(*args)`` on a worker thread, once a slot is free."""
        async with self._slot():
            return await anyio.to_thread.run_sync(partial(fn, *args), limiter=self._threads)

    async def await_future(self, submit: Callable[[], Future[T]]) -> T:
        """Like ``run`` for work that is already asynchronous: ``submit`` starts it (on the
        event loop; it must not block) and the loop awaits its future without a thread."""
        await self._acquire()  # not `async with self._slot()`: this is the hot path
        try:
            future = submit()
            if future.done():  # answered at once (cache, inline): no trip through the loop
                return future.result()
            return await asyncio.wrap_future(future)
        finally:
            self._release()

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        """Hold one of the running slots; refuse at once when the waiting line is full."""
        await self._acquire()
        try:
            yield
        finally:
            self._release()

    async def _acquire(self) -> None:
        if self.running < self._capacity and not self._waiters:
            self.running += 1
            return
        if self.waiting >= self._max_queue:
            raise Overloaded(f"the service is at capacity ({self.running} calls running, "
                             f"{self.waiting} waiting); retry shortly", retry_after_s=1.0)
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(turn)
        self.waiting += 1
        try:
            await turn  # _release hands its slot over by resolving this
        except BaseException:
            if turn.done() and not turn.cancelled():
                self._release()  # handed a slot while being cancelled: pass it on
            else:
                self._waiters.remove(turn)
            raise
        finally:
            self.waiting -= 1

    def _release(self) -> None:
        while self._waiters:
            turn = self._waiters.popleft()
            if not turn.done():
                turn.set_result(None)  # the slot moves to the waiter; running is unchanged
                return
        self.running -= 1


class RateLimiter:
    """A token bucket per principal: ``burst`` requests at once, refilled at ``rate_per_s``."""

    def __init__(self, rate_per_s: float, burst: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate_per_s
        self._burst = float(max(1, burst))
        self._clock = clock
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
            self._buckets[who] = (tokens - 1.0, now)
