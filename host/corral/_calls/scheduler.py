"""Runs pack calls: cache first, one flight per identical call, bounded parallelism, retries.

``Scheduler.submit`` never blocks for long. A call is answered from the result cache,
joined to an identical call already in flight, or queued; queued calls start on the
thread pool as soon as both the global and the pack's concurrency limit have room.

With an inline budget (``inline_budget_s``), a call that has room and nothing queued
ahead of it is first attempted on the submitting thread: most formulas finish in tens of
microseconds, far less than two hops across threads. The attempt runs with a deadline of
the budget and without network (the first fetch abandons it, before any I/O, and its
logs are held back), so abandoning it has no effect outside the sandbox; the call then
runs on the pool as if never tried, and its formula skips the inline attempt for a
while: half a second after the first abandoned attempt, doubling with each one after it
up to ``inline_cooldown_s``, and forgotten at the first attempt that finishes (so one slow
call, such as a cold start on a busy machine, costs half a second of pool runs, not
a minute). The first overrun of the budget after an attempt that finished pauses
nothing (a thread descheduled mid-call on a busy machine overruns too); a second in a
row pauses as above. The limits are
counted slots rather than semaphores held by pool threads, so a pool thread never sits
waiting for a slot while a call of another pack could run. A retryable failure frees
its slot and the call is queued again after an exponential backoff with jitter (or the
upstream's ``Retry-After``, when the failure carries a longer one), unless that would
cross the deadline or the call is a non-idempotent action; then the caller gets the last
failure, with its upstream status and ``Retry-After``.

Futures are always completed outside the scheduler's lock: their callbacks (the
evaluator's) may submit further calls.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from .._closing import Closeable
from .._errors import (CacheError, Closed, CorralError, DeadlineExceeded, GuestError,
                      InlineAbandoned, InvocationError, Overloaded)
from .._pack.manifest import FormulaDef
from .._calls.result_cache import result_key
from .._calls.result_store import ResultStore
from .._settings import Settings
from .._types import CallRequest

log = logging.getLogger("corral.scheduler")


@dataclass(frozen=True)
class ResolvedFormula:
    """What a catalog resolved a call to. ``loaded`` is the catalog's own handle on the
    exact version resolved (a loaded Pack for Corral's catalog); it comes back to the
    catalog's ``invoke``, so the call runs the version its cache key names."""

    pack: str          # canonical pack name
    pack_hash: str     # sha256 hex of the pack's wasm (part of the cache key)
    formula: FormulaDef
    loaded: object = field(default=None, compare=False, repr=False)


class PackCatalog(Protocol):
    def resolve(self, pack: str, formula: str) -> ResolvedFormula:
        """Exact names first, then a unique case-insensitive match; NotFoundError otherwise."""

    def invoke(self, call: CallRequest, resolved: ResolvedFormula, *,
               deadline: float | None) -> Any:
        """Run one call (blocking) as ``resolved``; ``deadline`` is an absolute
        ``time.monotonic()`` value."""


class InlineCatalog(PackCatalog, Protocol):
    def invoke_inline(self, call: CallRequest, resolved: ResolvedFormula, *,
                      deadline: float | None, budget_s: float) -> Any:
        """Like ``invoke`` within ``budget_s``, but raise ``InlineAbandoned`` if the call
        needs more time or the network (before any I/O), holding its logs back."""


@dataclass(frozen=True)
class SchedulerConfig:
    """The scheduler's limits; the defaults are the host settings' (defined once there)."""

    max_workers: int = Settings.max_workers
    global_concurrency: int = Settings.global_concurrency
    per_pack_concurrency: int = Settings.per_pack_concurrency
    max_retries: int = 2
    backoff_base_s: float = 0.05
    backoff_max_s: float = 2.0
    default_deadline_s: float = Settings.evaluate_deadline_s
    #: How long an inline attempt may run on the submitting thread; 0 turns it off.
    inline_budget_s: float = 0.0
    #: The longest a formula skips inline attempts after they keep being abandoned.
    inline_cooldown_s: float = 60.0
    #: How long it skips them after its first abandoned attempt (doubling after each).
    inline_first_cooldown_s: float = 0.5


@dataclass(frozen=True)
class SchedulerStats:
    started: int     # invocations handed to the runtime, retries included
    retried: int
    joined: int      # submissions answered by a call already in flight
    cache_hits: int
    inline: int = 0     # calls answered by an inline attempt
    abandoned: int = 0  # inline attempts handed over to the pool


@dataclass(eq=False)
class _Task:
    call: CallRequest
    resolved: ResolvedFormula
    deadline: float | None
    future: Future[Any]
    key: bytes | None  # single-flight key; None for actions, which always run
    attempt: int = 0
    stored: bool = False  # its result is in the cache already


class Scheduler(Closeable):
    """Schedules pack calls for any number of concurrent evaluations."""

    closeable_name = "scheduler"

    def __init__(self, catalog: PackCatalog, cache: ResultStore | None = None,
                 config: SchedulerConfig = SchedulerConfig(), *,
                 monotonic: Callable[[], float] = time.monotonic,
                 on_cache_lookup: Callable[[bool], None] | None = None) -> None:
        self.catalog = catalog
        self._on_cache_lookup = on_cache_lookup
        self.cache = cache
        self.config = config
        self._monotonic = monotonic
        self._pool = ThreadPoolExecutor(max_workers=config.max_workers,
                                        thread_name_prefix="corral-call")
        self._lock = threading.Lock()
        self._queue: deque[_Task] = deque()
        self._running = 0
        self._running_by_pack: dict[str, int] = {}
        #: (pack, principal) -> calls running: who holds a pack's slots.
        self._running_by_caller: dict[tuple[str, str], int] = {}
        self._inflight: dict[bytes, Future[Any]] = {}
        self._timers: dict[int, tuple[threading.Timer, _Task]] = {}
        self._random = random.Random()
        self._started = self._retried = self._joined = self._cache_hits = 0
        self._inline = self._abandoned = 0
        self._can_inline = config.inline_budget_s > 0 and hasattr(catalog, "invoke_inline")
        #: (pack hash, formula) -> (monotonic time until which calls skip the inline
        #: attempt, abandoned attempts in a row)
        self._pool_only: dict[tuple[str, str], tuple[float, int]] = {}

    # -- public ---------------------------------------------------------------------------

    def submit(self, call: CallRequest, resolved: ResolvedFormula,
               deadline: float | None = None, *, key: bytes | None = None,
               look_up: bool = True) -> Future[Any]:
        """A future of the call's result; never blocks on the call itself.

        ``key`` is the call's :func:`result_key` when the caller has it already;
        ``look_up=False`` when the caller found it in no cache a moment ago.
        """
        self._check_open()
        formula = resolved.formula
        if formula.is_action:
            key = None
        elif key is None:
            key = result_key(resolved.pack, resolved.pack_hash, formula.name, call.args,
                             call.connection_id, call.principal,
                             call.invocation.cache_scope())
        if look_up and key is not None and formula.cacheable and self.cache is not None:
            cached = self._cache_get(key)
            if cached is not None:
                return self._if_connection_holds(call, cached)
        future: Future[Any] = Future()
        future.set_running_or_notify_cancel()  # callers may not cancel a shared call
        with self._lock:
            if key is not None and key in self._inflight:
                self._joined += 1
                return self._inflight[key]
            if key is not None:
                self._inflight[key] = future
            task = _Task(call, resolved, deadline, future, key)
            inline = self._may_run_inline_locked(task)
            if inline:
                self._take_slot_locked(task)
            else:
                self._queue.append(task)
        if inline:
            self._run_inline(task)
        else:
            self._pump()
        return future

    def stats(self) -> SchedulerStats:
        with self._lock:
            return SchedulerStats(started=self._started, retried=self._retried,
                                  joined=self._joined, cache_hits=self._cache_hits,
                                  inline=self._inline, abandoned=self._abandoned)

    def _close(self) -> None:
        """Fail what has not started, wait for what runs."""
        with self._lock:
            abandoned = list(self._queue)
            self._queue.clear()
            timers, self._timers = self._timers, {}
        for timer, task in timers.values():
            timer.cancel()
            abandoned.append(task)
        for task in abandoned:
            self._finish(task, error=_shut_down(task))
        self._pool.shutdown(wait=True)

    # -- the queue ------------------------------------------------------------------------

    def _pump(self) -> None:
        """Start every queued call that has room; fail those whose deadline passed."""
        expired: list[_Task] = []
        with self._lock:
            if self._closed:
                return
            now = self._monotonic()
            waiting: deque[_Task] = deque()
            while self._queue:
                task = self._queue.popleft()
                if task.deadline is not None and now >= task.deadline:
                    expired.append(task)
                elif self._has_room(task):
                    self._start_locked(task)
                else:
                    waiting.append(task)
            self._queue = waiting
        for task in expired:
            self._finish(task, error=DeadlineExceeded(
                "the deadline passed before the call could start", limit="deadline",
                pack=task.resolved.pack, formula=task.resolved.formula.name))

    def _has_room(self, task: _Task) -> bool:
        if self._running >= self.config.global_concurrency:
            return False
        pack = task.resolved.pack
        running = self._running_by_pack.get(pack, 0)
        limit = self.config.per_pack_concurrency
        if running < limit:
            return True
        # A caller with nothing running on the pack may go past its limit by a small
        # reserve: one caller's flood of slow calls never makes another wait for them.
        mine = self._running_by_caller.get((pack, task.call.principal or ""), 0)
        return mine == 0 and running < limit + max(1, limit // 2)

    def _start_locked(self, task: _Task) -> None:
        self._take_slot_locked(task)
        self._pool.submit(self._run, task)

    def _take_slot_locked(self, task: _Task) -> None:
        pack = task.resolved.pack
        caller = (pack, task.call.principal or "")
        self._running += 1
        self._running_by_pack[pack] = self._running_by_pack.get(pack, 0) + 1
        self._running_by_caller[caller] = self._running_by_caller.get(caller, 0) + 1
        self._started += 1

    def _release(self, task: _Task) -> None:
        pack = task.resolved.pack
        with self._lock:
            self._running -= 1
            _decrement(self._running_by_pack, pack)
            _decrement(self._running_by_caller, (pack, task.call.principal or ""))

    # -- one attempt ----------------------------------------------------------------------

    def _run(self, task: _Task) -> None:
        value: Any = None
        error: CorralError | None = None
        try:
            value = self._invoke(task)
        except CorralError as exc:
            error = exc
        except Exception as exc:  # a runtime bug must still complete the future
            error = _runtime_bug(task, exc)
        finally:
            self._release(task)
        self._complete(task, value, error)

    def _invoke(self, task: _Task) -> Any:
        """Run the call; a cacheable one through the cache's ``run_once``, so identical
        calls on other nodes sharing the cache run once."""
        cache, formula = self.cache, task.resolved.formula
        if cache is None or task.key is None or not formula.cacheable:
            return self.catalog.invoke(task.call, task.resolved, deadline=task.deadline)

        def produce() -> Any:
            value = self.catalog.invoke(task.call, task.resolved, deadline=task.deadline)
            self._cache_put(task, value)
            return value

        value = cache.run_once(task.key, produce, deadline=task.deadline)
        task.stored = True  # by this call or by the one it waited for
        return value

    def _complete(self, task: _Task, value: Any, error: CorralError | None) -> None:
        if error is None:
            self._cache_put(task, value)
            if self._queue:  # a call queued after this check is pumped by its submitter
                self._pump()
            self._finish(task, value=value)
            return
        delay = self._retry_delay(task, error)
        if delay is None:
            self._pump()
            self._finish(task, error=error)
        else:
            self._schedule_retry(task, delay)
            self._pump()

    # -- inline attempts ------------------------------------------------------------------

    def _may_run_inline_locked(self, task: _Task) -> bool:
        if not self._can_inline or self._queue:
            return False
        skipped = self._pool_only.get((task.resolved.pack_hash, task.resolved.formula.name))
        if skipped is not None and skipped[0] > self._monotonic():
            return False
        return self._has_room(task)

    def _run_inline(self, task: _Task) -> None:
        catalog: InlineCatalog = self.catalog  # type: ignore[assignment]
        value: Any = None
        error: CorralError | None = None
        abandoned = outran = False
        try:
            value = catalog.invoke_inline(task.call, task.resolved, deadline=task.deadline,
                                          budget_s=self.config.inline_budget_s)
        except InlineAbandoned as exc:
            abandoned = True
            outran = isinstance(exc.__cause__, DeadlineExceeded)  # not the network
        except CorralError as exc:
            error = exc
        except Exception as exc:
            error = _runtime_bug(task, exc)
        finally:
            self._release(task)
        if abandoned:
            self._hand_to_pool(task, outran=outran)
            return
        with self._lock:
            self._inline += 1
            self._pool_only.pop((task.resolved.pack_hash, task.resolved.formula.name), None)
        self._complete(task, value, error)

    def _hand_to_pool(self, task: _Task, *, outran: bool = False) -> None:
        """Queue an abandoned attempt for the pool; pause its formula's attempts."""
        with self._lock:
            self._abandoned += 1
            self._started -= 1  # the attempt had no effect; the pool run is the start
            self._pause_inline_locked(task.resolved, outran=outran)
            self._queue.append(task)
        self._pump()

    def _pause_inline_locked(self, resolved: ResolvedFormula, *, outran: bool) -> None:
        if len(self._pool_only) > 4096:
            self._pool_only.clear()
        key = (resolved.pack_hash, resolved.formula.name)
        if outran and key not in self._pool_only:
            self._pool_only[key] = (0.0, 0)  # forgiven once; a finished attempt forgets it
            return
        strikes = self._pool_only.get(key, (0.0, 0))[1] + 1
        pause = min(self.config.inline_cooldown_s,
                    self.config.inline_first_cooldown_s * 2 ** min(strikes - 1, 30))
        self._pool_only[key] = (self._monotonic() + pause, strikes)

    def _retry_delay(self, task: _Task, error: CorralError) -> float | None:
        formula = task.resolved.formula
        if task.attempt >= self.config.max_retries or not _is_retryable(error):
            return None
        if formula.is_action and not formula.idempotent:
            return None
        ceiling = min(self.config.backoff_max_s, self.config.backoff_base_s * 2.0 ** task.attempt)
        delay = ceiling / 2 + self._random.uniform(0, ceiling / 2)
        retry_after = getattr(error, "retry_after_s", None)
        if isinstance(retry_after, (int, float)) and retry_after > delay:
            delay = float(retry_after)
        # A wait past the deadline ends the retries now: the caller gets the Retry-After.
        # A call without a deadline still never waits longer than the default one.
        now = self._monotonic()
        deadline = task.deadline if task.deadline is not None else (
            now + self.config.default_deadline_s)
        if now + delay >= deadline:
            return None
        return delay

    def _schedule_retry(self, task: _Task, delay: float) -> None:
        task.attempt += 1
        timer = threading.Timer(delay, self._requeue, args=(task,))
        timer.daemon = True
        with self._lock:
            closed = self._closed
            if not closed:
                self._retried += 1
                self._timers[id(task)] = (timer, task)
        if closed:
            self._finish(task, error=_shut_down(task))
        else:
            timer.start()

    def _requeue(self, task: _Task) -> None:
        with self._lock:
            if self._timers.pop(id(task), None) is None:
                return  # close() took it and fails it
            self._queue.append(task)
        self._pump()

    def _finish(self, task: _Task, *, value: Any = None, error: BaseException | None = None) -> None:
        if error is None:
            task.future.set_result(value)
        else:
            task.future.set_exception(error)
        if task.key is not None:
            with self._lock:
                if self._inflight.get(task.key) is task.future:
                    del self._inflight[task.key]

    # -- the result cache -----------------------------------------------------------------

    def _cache_get(self, key: bytes) -> Future[Any] | None:
        assert self.cache is not None
        try:
            hit = self.cache.get(key)
        except (CacheError, Closed) as exc:
            log.warning("result cache unavailable: %s", exc)
            return None
        if self._on_cache_lookup is not None:
            self._on_cache_lookup(hit is not None)
        if hit is None:
            return None
        with self._lock:
            self._cache_hits += 1
        future: Future[Any] = Future()
        future.set_running_or_notify_cancel()
        future.set_result(hit.value)
        return future

    def _if_connection_holds(self, call: CallRequest, cached: Future[Any]) -> Future[Any]:
        """A cached answer, if the call's connection still exists and is the caller's: a
        deleted connection (on any node) must stop answering, cached or not."""
        check = getattr(self.catalog, "check_connection", None)
        if call.connection_id is None or check is None:
            return cached
        try:
            check(call.principal, call.connection_id)
        except CorralError as exc:
            refused: Future[Any] = Future()
            refused.set_running_or_notify_cancel()
            refused.set_exception(exc)
            return refused
        return cached

    def _cache_put(self, task: _Task, value: Any) -> None:
        formula = task.resolved.formula
        if self.cache is None or task.key is None or not formula.cacheable or task.stored:
            return
        try:
            self.cache.put(task.key, value, formula.cache_ttl_s)
        except (CacheError, Closed) as exc:
            log.warning("result cache unavailable: %s", exc)


#: Upstream statuses a pack may report that say "try again": rate limited, or a gateway or
#: service that is briefly unavailable. A 500 or 501 is the upstream's own bug: not retried.
RETRYABLE_UPSTREAM_STATUSES = frozenset({429, 502, 503, 504})


def _decrement(counts: dict[Any, int], key: Any) -> None:
    left = counts[key] - 1
    if left:
        counts[key] = left
    else:
        del counts[key]


def _is_retryable(error: CorralError) -> bool:
    if error.retryable:
        return True
    if isinstance(error, GuestError) and error.status is not None:
        return error.status in RETRYABLE_UPSTREAM_STATUSES
    return False


def _runtime_bug(task: _Task, exc: Exception) -> InvocationError:
    log.exception("pack runtime raised an unexpected error", exc_info=exc)
    error = InvocationError(f"the runtime failed unexpectedly ({type(exc).__name__})",
                            pack=task.resolved.pack, formula=task.resolved.formula.name)
    error.__cause__ = exc
    return error


def _shut_down(task: _Task) -> Overloaded:
    return Overloaded("the scheduler shut down before the call could run",
                      pack=task.resolved.pack, formula=task.resolved.formula.name)
