"""The execution log: every call made over HTTP (formulas, evaluate, actions, syncs and
automation runs), recorded per principal, off the call's path.

A route opens a :class:`PendingRun` before the call (its :class:`~corral._types.CallTally`
rides on the call's :class:`~corral._types.Invocation`, so the pack calls it makes add
their fuel, fetches and log lines to it on whatever thread they run) and finishes it
after. Finishing builds a small dict and puts it on a bounded queue; one background
thread writes the queue in batches (``runs_store.py``). A full queue or a store that
cannot write drops runs, counted in ``corral_runs_dropped_total``: the log never fails
or slows a call.

What a run holds is never a secret: a call names its connection by id, and the
arguments are the caller's own values, capped in size.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import msgpack

from .._closing import Closeable
from .._errors import CorralError, Overloaded
from .._metrics import Metrics
from .._types import CallTally, Invocation
from .runs_store import RunStore, jsonable, new_run_id

log = logging.getLogger("corral.runs")

KINDS = ("formula", "action", "sync", "automation")
#: Arguments longer than this (as JSON) are kept as a truncated text preview.
MAX_ARGS_CHARS = 4000
MAX_ERROR_CHARS = 500
_BATCH = 256
#: How long the writer waits for more runs after the first of a batch.
_LINGER_S = 0.05
_STOP = object()


@dataclass
class PendingRun:
    """A run being made; :meth:`ExecutionLog.finish` records it."""

    principal: str
    kind: str
    pack: str | None
    formula: str | None
    args: Any
    automation: str | None = None
    at: float = field(default_factory=time.time)
    started: float = field(default_factory=time.perf_counter)
    tally: CallTally = field(default_factory=CallTally)

    def invocation(self, invocation: Invocation) -> Invocation:
        """``invocation`` with this run's tally on it."""
        return Invocation(invocation.timezone, invocation.protocol_and_host,
                          invocation.doc_id, self.tally)

    def record(self, error: BaseException | None) -> dict[str, Any]:
        tally = self.tally
        first = tally.first or (None, None)
        return {
            "id": new_run_id(self.at), "at": self.at,
            "pack": self.pack or first[0], "formula": self.formula or first[1],
            "kind": self.kind, "args": self.args,  # capped by the writer, off the call path
            "outcome": "ok" if error is None else "error",
            "error": None if error is None else describe_error(error),
            "duration_ms": round((time.perf_counter() - self.started) * 1000, 3),
            "fuel": tally.fuel, "fetches": tally.fetches,
            "cache_hit": error is None and self.kind == "formula" and tally.calls == 0,
            "logs": list(tally.logs), "automation": self.automation,
        }


def capped_args(args: Any) -> Any:
    """``args`` if they are short (measured as the store encodes them), else a truncated
    JSON preview."""
    try:
        size = len(msgpack.packb(args, default=jsonable, use_bin_type=True))
        if size <= MAX_ARGS_CHARS:
            return args
        text = json.dumps(args, ensure_ascii=False, default=jsonable)
    except (TypeError, ValueError, OverflowError):
        return {"unrepresentable": type(args).__name__}
    return {"truncated": text[:MAX_ARGS_CHARS]}


def describe_error(error: BaseException) -> dict[str, str]:
    """What the log says of a failure: the error's kind and message (never a traceback)."""
    if isinstance(error, CorralError):
        return {"kind": error.kind, "message": error.message[:MAX_ERROR_CHARS]}
    errors = getattr(error, "errors", None)
    if callable(errors):  # a request body that did not validate
        return {"kind": "bad_request", "message": "the request body is not valid"}
    return {"kind": "internal", "message": "an internal error (see the server log)"}


class ExecutionLog(Closeable):
    """Queues finished runs and writes them in batches on one background thread."""

    closeable_name = "execution log"

    def __init__(self, open_store: Callable[[], RunStore], metrics: Metrics, *,
                 queue_size: int = 10_000, clock: Callable[[], float] = time.time) -> None:
        self._open_store = open_store
        self._clock = clock
        self._store: RunStore | None = None
        self._metrics = metrics
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, queue_size))
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.dropped = 0
        #: Runs queued and runs handled (written or dropped) so far, for :meth:`settle`.
        self._queued = self._handled = 0
        self._progress = threading.Condition()

    @property
    def store(self) -> RunStore:
        """The store, opened on first use (an app that never logs a run opens nothing)."""
        self._check_open()
        return self._opened()

    def _opened(self) -> RunStore:
        with self._lock:
            if self._store is None:
                self._store = self._open_store()
            return self._store

    def _start_writer(self) -> None:
        with self._lock:
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._drain, name="corral-runs",
                                                daemon=True)
                self._thread.start()

    def begin(self, principal: str, kind: str, pack: str | None, formula: str | None,
              args: Any, *, automation: str | None = None) -> PendingRun:
        return PendingRun(principal, kind, pack, formula, args, automation, at=self._clock())

    def finish(self, run: PendingRun, error: BaseException | None = None) -> dict[str, Any]:
        """Record ``run`` (queued; dropped and counted if the queue is full)."""
        record = run.record(error)
        if isinstance(error, Overloaded):
            return record  # refused before it ran: not a run, and a flood must not fill the log
        if self._closed:
            self._drop(1)
            return record
        if self._thread is None:
            self._start_writer()
        try:
            self._queue.put_nowait((run.principal, record))
            self._queued += 1  # only a read of it in settle() races, and that is harmless
        except queue.Full:
            self._drop(1)
        return record

    def settle(self, timeout_s: float = 0.5) -> None:
        """Wait (at most ``timeout_s``) until the runs queued before now are handled: a
        reader then sees the calls it has just made."""
        target = self._queued
        with self._progress:
            self._progress.wait_for(lambda: self._handled >= target, timeout=timeout_s)

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Wait until every queued run is written (for tests and shutdown)."""
        deadline = time.monotonic() + timeout_s
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.005)
        return not self._queue.unfinished_tasks

    def _drop(self, count: int) -> None:
        self.dropped += count
        self._metrics.inc("corral_runs_dropped_total", count)

    def _drain(self) -> None:
        while True:
            batch = self._next_batch()
            stop = any(item is _STOP for item in batch)
            runs = [item for item in batch if item is not _STOP]
            self._write(runs)
            with self._progress:
                self._handled += len(runs)
                self._progress.notify_all()
            for _ in batch:
                self._queue.task_done()
            if stop:
                return

    def _next_batch(self) -> list[Any]:
        """The runs queued within ``_LINGER_S`` of the first (at most ``_BATCH``): under
        load a write then carries many runs, so the per-write cost (the principal's index,
        the commit) is paid a few times a second, not once per call."""
        batch = [self._queue.get()]
        deadline = time.monotonic() + _LINGER_S
        while len(batch) < _BATCH and batch[-1] is not _STOP:
            remaining = deadline - time.monotonic()
            try:
                batch.append(self._queue.get(timeout=remaining) if remaining > 0
                             else self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _write(self, runs: list[tuple[str, dict[str, Any]]]) -> None:
        if not runs:
            return
        for _, run in runs:
            run["args"] = capped_args(run["args"])
        try:
            self._opened().write_batch(runs)
            self._metrics.inc("corral_runs_recorded_total", len(runs))
        except Exception as exc:  # the log must never take the service down
            log.warning("the execution log could not write %d runs: %s", len(runs), exc)
            self._drop(len(runs))

    def _close(self) -> None:
        with self._lock:
            thread, store = self._thread, self._store
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(timeout=30)
        if store is not None:
            store.close()


def open_execution_log(settings: Any, metrics: Metrics, *,
                       clock: Callable[[], float] = time.time) -> ExecutionLog:
    return ExecutionLog(lambda: RunStore.for_settings(settings, clock=clock), metrics,
                        queue_size=settings.runs_queue_size, clock=clock)
